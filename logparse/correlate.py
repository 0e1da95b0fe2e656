"""Correlate management-server and agent logs in one streaming pass: start attempts, traces,
version markers.

``analyze(paths)`` reads every record once (file by file, in any order: MS and agent logs
are joined at the end, not by arrival) and builds an :class:`Analysis`:

* one :class:`StartAttempt` per VM start (user VMs, routers, system VMs, HA restarts): the
  StartCommand's disks as the MS sent them (or the agent received them), the outcome and
  the stated reason, the agent's exceptions for that command, versions at the time;
* the stack traces (:class:`~logparse.stacktraces.TraceOccurrence`) and the masks between
  them (an NPE in a failure handler hiding the first exception);
* version markers per host (MS ``DB version = … Code Version = …``, agent
  ``Implementation Version is …``) and the upgrades/rollbacks they imply;
* agent command round trips (:func:`logparse.commands.iter_command_trips`, which pulls
  this very pass), summarised per host and command (bounded memory).

Correlation keys (ref ``cloudstack-log-formats.md`` §2, §4, §7):

* ``Seq h-n`` joins the MS ``Sending`` line, the agent ``Request:Seq`` line and both answers;
  ``h`` is the MS host id, mapped to the agent's host name by the agent's own log (its
  ``Agent [id = 3 : …]`` startup line, or any ``Seq 3-…`` in that agent's file);
* on the agent, the handler thread between ``Request:Seq`` and the answer owns every record
  in between: that is where the ``Exception `` (IndexOutOfBoundsException) and ``Caught: ``
  (NullPointerException) traces are;
* on the MS, the job thread owns the start from the start transition to its end; job ids
  (``job-N``, 4.x ``job-P/job-W`` work jobs) tie the attempt to its async-job result;
* ``logid`` (4.7+) and, as a last resort, host + time window link agent exceptions logged
  without DEBUG (no ``Request:Seq`` line) to the attempt.

What is kept (memory is bounded over a 1 GB input: 182 MB RSS measured): events of the
``vm``, ``job`` (minus monitoring/bus bookkeeping), ``upgrade`` and ``host`` categories,
agent transport events only for StartCommands and their answers, and agent warnings
(``Caught:``, resource exceptions, lost answers); kept messages are cut to
:data:`EVENT_MESSAGE_CHARS`, at most :data:`MAX_EVENTS` are kept. Command round
trips are kept individually only for StartCommands; all others are folded into
:class:`CommandStats` per (host, command) with a bounded latency sample. Every trace
occurrence of a WARN+ record (or of a multi-line record with frames) is kept, their
``StackTrace`` objects shared per distinct trace; the 2.2/3.0 agent.log console copy of a
trace (same thread and millisecond) is counted once.

Versions before a host's first ``DB version``/``Implementation Version`` line are known when
that first line is itself a change (``DB version = 2.2.13 Code Version = 2.2.14`` says the MS
ran 2.2.13 before); an agent whose first logged version equals the release its MS just moved
to, while its log goes back further, is counted as upgraded with it (``Marker.detail`` says
so).
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import random
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .commands import CommandTrip, iter_command_trips
from .models import Event, FileStats, Record
from .patterns import Patterns, load_patterns
from .pipeline import Unit, plan_units
from .records import TimeShift, iter_records
from .sources import LogFile, as_logfiles
from .stacktraces import MaskLink, StackTrace, TraceOccurrence, link_masks, parse_traces

log = logging.getLogger(__name__)

__all__ = [
    "Analysis",
    "CommandStats",
    "CommandTrip",
    "Marker",
    "StartAttempt",
    "VersionPoint",
    "analyze",
    "release_of",
]

#: Kept events have their message cut to this many characters (StartCommand JSON runs KBs).
EVENT_MESSAGE_CHARS = 400
#: Latencies kept per (host, command) for percentiles (reservoir sample beyond this).
LATENCY_SAMPLE = 2048
#: A command sent this close to the end of its log is not called unanswered.
UNANSWERED_GRACE_MS = 120_000
#: Answered command trips kept waiting for late evidence (``iter_command_trips(linger=…)``).
TRIP_LINGER = 50_000
#: Agent exceptions without a Seq context are tied to an attempt on the same host when they
#: fall between its start and this long after its end.
TIME_LINK_MS = 5_000

OUTCOMES = ("succeeded", "failed", "unknown")
FAILURE_KINDS = ("agent_exception", "capacity", "other")
MARKER_KINDS = ("ms_start", "db_upgrade", "upgrade", "rollback", "agent_version", "host_down", "host_up")


# --------------------------------------------------------------------------- data model


@dataclass(slots=True)
class StartAttempt:
    """One start of one VM on one host (one StartCommand), or a start that never got a host.

    ``disks`` are in StartCommand array order (creation order), ISO excluded, each
    ``{"volume_id", "name", "type", "device_id"}``. Disk flags are None when no StartCommand
    was seen. ``disk_order_mismatch`` is True when some disk's device id differs from its
    position in the array, i.e. the array is not ``0, 1, 2, …``: out of order, a gap, or a
    fourth disk at device 4 (3 is the CD-ROM) — exactly the arrays that 2.2.14's
    ``createVbd`` (``vols.add(deviceId, disk)``) rejects (ref §3.3).

    ``outcome`` is ``succeeded``, ``failed`` or ``unknown`` (the log ends first).
    ``failure_kind``: ``agent_exception`` (the agent failed the StartCommand), ``capacity``
    (no host could take the VM: nothing was sent), ``other``; None unless failed.
    ``evidence`` holds ``file:line`` strings in the order the story goes.
    """

    vm: str
    vm_id: int | None = None
    vm_type: str | None = None
    job: int | None = None
    parent_job: int | None = None
    host: str | None = None
    host_id: int | None = None
    seq: str | None = None
    time: str | None = None
    end_time: str | None = None
    outcome: str = "unknown"
    reason: str | None = None
    failure_kind: str | None = None
    disks: list[dict[str, Any]] = field(default_factory=list)
    disk_count: int | None = None
    data_disks: int | None = None
    out_of_order: bool | None = None
    gaps: bool | None = None
    duplicate_device: bool | None = None
    null_device: bool | None = None
    disk_order_mismatch: bool | None = None
    agent_version: str | None = None
    ms_version: str | None = None
    after_upgrade: bool | None = None
    primary_exception: str | None = None
    masking_exception: str | None = None
    fingerprints: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    source: str | None = None  # where the attempt was first seen
    line: int | None = None
    sides: str = "management"  # management | agent | both
    trigger: str | None = None  # api | ha | work | None
    answer: str | None = None  # StartAnswer | Answer | …
    answer_result: bool | None = None
    logid: str | None = None
    # Internal links (not part of the row): trace occurrence indexes tied to this attempt.
    trace_ids: list[int] = field(default_factory=list, repr=False)
    command_line: str | None = field(default=None, repr=False)  # evidence of the StartCommand
    ms_host: str | None = field(default=None, repr=False)

    @property
    def failed(self) -> bool | None:
        """True/False for a known outcome, None when unknown."""
        if self.outcome == "unknown":
            return None
        return self.outcome == "failed"

    def as_dict(self) -> dict[str, Any]:
        """The row of ``logparse diagnose``'s ``start_attempts`` (``ATTEMPT_COLUMNS`` order)."""
        return {c: _plain(getattr(self, c)) for c in ATTEMPT_COLUMNS}


#: Output columns of a start attempt, in order.
ATTEMPT_COLUMNS = (
    "vm",
    "vm_id",
    "vm_type",
    "job",
    "host",
    "host_id",
    "seq",
    "time",
    "end_time",
    "outcome",
    "reason",
    "failure_kind",
    "disks",
    "disk_count",
    "data_disks",
    "out_of_order",
    "gaps",
    "duplicate_device",
    "null_device",
    "disk_order_mismatch",
    "agent_version",
    "ms_version",
    "after_upgrade",
    "primary_exception",
    "masking_exception",
    "fingerprints",
    "evidence",
    "sides",
    "trigger",
)


def _plain(v: Any) -> Any:
    if isinstance(v, list):
        return [dict(x) if isinstance(x, dict) else x for x in v]
    return v


@dataclass(frozen=True, slots=True)
class Marker:
    """A point on the version/availability timeline of one host.

    ``kind``: ``ms_start`` (an MS started, ``version`` = its code version), ``db_upgrade``
    (the MS upgraded its database ``from_version`` → ``to_version``), ``upgrade`` /
    ``rollback`` (a host's code version went up / down), ``agent_version`` (an agent
    started with ``version``), ``host_down`` / ``host_up``.
    """

    time: str | None
    kind: str
    host: str
    role: str
    version: str | None = None
    from_version: str | None = None
    to_version: str | None = None
    evidence: str | None = None
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "time": self.time,
            "kind": self.kind,
            "host": self.host,
            "role": self.role,
            "version": self.version,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "evidence": self.evidence,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class VersionPoint:
    """``host`` ran ``version`` from ``time`` on (as logged at ``evidence``)."""

    time: str | None
    host: str
    role: str
    version: str
    evidence: str


@dataclass(slots=True)
class CommandStats:
    """Round trips of one command type on one host: counts and a latency sample (ms)."""

    host: str
    command: str
    sent: int = 0
    answered: int = 0
    failed: int = 0
    unanswered: int = 0
    latencies: list[float] = field(default_factory=list)
    seen_latencies: int = 0
    unanswered_evidence: list[str] = field(default_factory=list)
    max_latency_ms: float = 0.0
    max_latency_evidence: str | None = None

    def add_latency(self, ms: float, rng: random.Random, evidence: str | None) -> None:
        """Add one latency (reservoir sampling keeps memory bounded)."""
        self.seen_latencies += 1
        if ms > self.max_latency_ms:
            self.max_latency_ms = ms
            self.max_latency_evidence = evidence
        if len(self.latencies) < LATENCY_SAMPLE:
            self.latencies.append(ms)
        else:
            j = rng.randrange(self.seen_latencies)
            if j < LATENCY_SAMPLE:
                self.latencies[j] = ms

    def percentile(self, q: float) -> float | None:
        """Nearest-rank percentile of the latency sample (``q`` in 0..100)."""
        if not self.latencies:
            return None
        xs = sorted(self.latencies)
        k = max(0, min(len(xs) - 1, -(-len(xs) * q // 100) - 1))
        return xs[int(k)]


@dataclass(slots=True)
class Analysis:
    """Everything ``diagnose``, ``vms``, timelines and reports need, from one pass.

    ``host_names`` maps MS host ids to agent host names; ``versions`` is the version
    timeline per host (time order); ``commands`` holds StartCommand round trips only,
    ``command_stats`` every command type per host.
    """

    files: list[FileStats] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    traces: list[TraceOccurrence] = field(default_factory=list)
    masks: list[MaskLink] = field(default_factory=list)
    attempts: list[StartAttempt] = field(default_factory=list)
    commands: list[CommandTrip] = field(default_factory=list)
    command_stats: list[CommandStats] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    versions: dict[str, list[VersionPoint]] = field(default_factory=dict)
    host_names: dict[int, str] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)  # host → role
    first_time: str | None = None
    last_time: str | None = None
    bytes_read: int = 0
    #: log files the records came from (a parsed store holds several)
    sources: list[str] = field(default_factory=list)
    events_dropped: int = 0
    #: ``(since, until)`` when ``window`` restricted the analysis (charts then show only
    #: the markers inside it)
    window: tuple[str | None, str | None] = (None, None)

    def mask_pairs(self) -> Iterator[tuple[TraceOccurrence, TraceOccurrence]]:
        """``(primary, masking)`` occurrences of every mask link."""
        for m in self.masks:
            yield self.traces[m.primary_index], self.traces[m.masking_index]


# --------------------------------------------------------------------------- versions

_BUILD_STAMP = re.compile(r"^\d{8,}$")


def release_of(version: str | None) -> tuple[int, ...] | None:
    """Numeric release of a version string, build stamps dropped, trailing zeros trimmed.

    ``2.2.14.20120210102939`` → (2, 2, 14); ``4.11.2.0`` → (4, 11, 2); ``2.2.14-SNAPSHOT``
    → (2, 2, 14); None when there is no number.
    """
    if not version:
        return None
    out: list[int] = []
    for part in re.split(r"[.\-_]", version):
        if not part.isdigit() or _BUILD_STAMP.match(part):
            break
        out.append(int(part))
    while len(out) > 3 and out[-1] == 0:
        out.pop()
    return tuple(out) or None


def release_str(version: str | None) -> str | None:
    """``2.2.14.20120210102939`` → ``2.2.14`` (display and comparison form)."""
    rel = release_of(version)
    return ".".join(map(str, rel)) if rel else version


# --------------------------------------------------------------------------- helpers

_VM_ID_RE = re.compile(r"^(?:[a-z]-\d+-(\d+)-VM|[a-z]-(\d+)-VM)$")
_RESULT_RE = re.compile(r'"result":"?(true|false)"?')
_DETAILS_RE = re.compile(r'"details":"((?:[^"\\]|\\.){0,400})')
_HA_THREADS = ("HA-Worker",)

#: Job/host/version categories whose events are kept whole in ``Analysis.events``.
KEPT_CATEGORIES = frozenset({"vm", "job", "upgrade", "host"})
#: Agent-transport events that are kept even when they are not about a StartCommand.
KEPT_AGENT_EVENTS = frozenset(
    {
        "agent.caught",
        "agent.resource_exception",
        "agent.no_listener",
        "agent.waited_too_long",
        "agent.send_failed",
        "agent.ms_answer_late",
    }
)
#: Job events too frequent to keep (monitoring/bus bookkeeping; they add no story).
DROPPED_JOB_EVENTS = frozenset({"job.published", "job.sync_queued", "job.monitor_add", "job.monitor_remove"})
#: At most this many events are kept (the rest are counted in ``Analysis.events_dropped``).
MAX_EVENTS = 500_000

_TRACE_LEVELS = frozenset({"WARN", "ERROR", "FATAL"})


# Long agent-transport lines (ping/stats JSON, several KB each) are most of the bytes a
# worker would ship, and the correlator reads only their start (command class, vm) and
# their end (`"result":true`). Measured on a 200 MB bundle: the kept records pickled to
# 105 MB; unpickling them cost the parent 2 s per 200 MB.
_SLIM_ABOVE = 2048
_SLIM_HEAD = 1024
_SLIM_TAIL = 512
_SLIM_KEEP = ("StartCommand", "StartAnswer", '"result":false', '"result":"false"')


def slim(rec: Record, evs: list[Event]) -> tuple[Record, list[Event]]:
    """Cut the middle out of a long record the correlator needs only the ends of.

    Records about VM starts, failed answers and traces stay whole. Applied the same way
    with one process or several, so the analysis does not depend on ``jobs``.
    """
    text = rec.text
    if len(text) <= _SLIM_ABOVE or rec.end_line > rec.line or any(k in text for k in _SLIM_KEEP):
        return rec, evs
    cut = text[:_SLIM_HEAD] + " … " + text[-_SLIM_TAIL:]
    return replace(rec, message=cut, text=cut), [replace(e, message=cut) for e in evs]


def is_trace_candidate(rec: Record) -> bool:
    """Traces are looked for in WARN+ records and in multi-line records with frame lines.

    DEBUG lines whose JSON carries an escaped trace (agent answers) are copies of a WARN
    trace, so they are not parsed again.
    """
    return rec.level in _TRACE_LEVELS or (
        rec.end_line > rec.line and ("\tat " in rec.text or "\n    at " in rec.text)
    )
_MS_SEND = "agent.ms_send"
_MS_ANSWERS = frozenset({"agent.ms_answer_processing", "agent.ms_answer_received", "agent.ms_answer_late"})


def vm_id_from_name(name: str | None) -> int | None:
    """``i-2-5-VM`` → 5, ``r-4-VM`` → 4; None for other names."""
    if not name:
        return None
    m = _VM_ID_RE.match(name)
    if m is None:
        return None
    return int(m.group(1) or m.group(2))


def _ms_of(ts: str | None, cache: dict[str, float | None]) -> float | None:
    """ISO timestamp → epoch milliseconds (naive times read as UTC; only differences matter)."""
    if not ts:
        return None
    sec = ts[:19]
    base = cache.get(sec)
    if base is None:
        if sec in cache:
            return None
        try:
            dt = datetime.fromisoformat(sec).replace(tzinfo=UTC)
        except ValueError:
            cache[sec] = None
            return None
        base = cache[sec] = dt.timestamp() * 1000.0
        if len(cache) > 100_000:
            cache.clear()
            cache[sec] = base
    frac = ts[20:23] if len(ts) >= 23 and ts[19] == "." else "0"
    return base + (int(frac) if frac.isdigit() else 0)


def _answer_result(message: str) -> bool | None:
    m = _RESULT_RE.search(message)
    return None if m is None else m.group(1) == "true"


def _answer_details(message: str) -> str | None:
    m = _DETAILS_RE.search(message)
    if m is None:
        return None
    raw = m.group(1)
    first = raw.split("\\n", 1)[0]
    return first.replace('\\"', '"').replace("\\t", " ")


def _field(ev: Event, name: str) -> Any:
    v = ev.fields.get(name)
    return None if v == "" else v


@dataclass(slots=True)
class _Layout:
    """Disks of one StartCommand, ISO excluded, with the flags ``StartAttempt`` carries."""

    vm_name: str | None
    vm_id: int | None
    disks: list[dict[str, Any]]
    data_disks: int
    out_of_order: bool
    gaps: bool
    duplicate_device: bool
    null_device: bool
    disk_order_mismatch: bool


def _layout(message: str) -> _Layout | None:
    from .payload import start_command_disks

    lay = start_command_disks(message)
    if lay is None:
        return None
    kept = [d for d in lay.disks if (d.type or "").upper() != "ISO"]
    disks: list[dict[str, Any]] = [
        {"volume_id": d.volume_id, "name": d.name, "type": d.type, "device_id": d.device_id} for d in kept
    ]
    devs = [d.device_id for d in kept]
    known = [d for d in devs if d is not None]
    present = set(known)
    top = max(known) if known else -1
    return _Layout(
        vm_name=lay.vm_name,
        vm_id=lay.vm_id,
        disks=disks,
        data_disks=sum(1 for d in kept if (d.type or "").upper() == "DATADISK"),
        out_of_order=known != sorted(known),
        gaps=any(i not in present for i in range(top) if i != 3),
        duplicate_device=len(present) < len(known),
        null_device=bool(getattr(lay, "null_device", False)) or len(known) < len(devs),
        disk_order_mismatch=any(dev is not None and dev != i for i, dev in enumerate(devs)),
    )


def _apply_layout(a: StartAttempt, lay: _Layout) -> None:
    a.disks = [dict(d) for d in lay.disks]
    a.disk_count = len(lay.disks)
    a.data_disks = lay.data_disks
    a.out_of_order = lay.out_of_order
    a.gaps = lay.gaps
    a.duplicate_device = lay.duplicate_device
    a.null_device = lay.null_device
    a.disk_order_mismatch = lay.disk_order_mismatch
    if a.vm_id is None and lay.vm_id is not None:
        a.vm_id = lay.vm_id


@dataclass(slots=True)
class _AgentStart:
    """What the agent's own log says about one StartCommand (``Request:Seq`` … answer)."""

    seq: str
    host: str
    host_id: int | None
    source: str
    line: int
    thread: str | None
    time: str | None
    logid: str | None
    layout: _Layout | None
    end_line: int | None = None
    answered_at: str | None = None
    answer: str | None = None
    result: bool | None = None
    details: str | None = None
    answer_loc: str | None = None


@dataclass(slots=True)
class _Flow:
    """The MS side of a VM start in progress (per MS host and VM)."""

    attempt: StartAttempt
    thread: str | None
    source: str
    start_line: int
    closed: bool = False


class _Correlator:
    """State of one ``analyze`` pass. ``feed`` each record, then ``finish``."""

    def __init__(self, matcher: Any) -> None:
        self.match = matcher.match
        self.a = Analysis()
        self.tcache: dict[str, float | None] = {}
        self.rng = random.Random(0)
        # traces
        self.trace_rec_lines: list[int] = []
        self.trace_roles: list[str] = []
        self.trace_levels: list[str | None] = []
        self._interned: dict[tuple[str, str | None, str, int], StackTrace] = {}
        self._recent: dict[tuple[str, str | None, str | None, str, str | None], None] = {}
        # per input file: [first timestamp, last timestamp, host]
        self.spans: dict[str, list[str]] = {}
        self._src: str | None = None
        self._span: list[str] = ["", "", ""]
        # MS start flows
        self.flows: dict[tuple[str, str], _Flow] = {}  # (ms host, vm) → current flow
        self.thread_flows: dict[tuple[str, str | None], list[_Flow]] = {}
        self.ms_intervals: dict[tuple[str, str | None], list[tuple[int, int, StartAttempt]]] = {}
        self.by_seq: dict[str, StartAttempt] = {}
        self.by_job: dict[int, list[StartAttempt]] = {}
        self.jobs: dict[int, tuple[str | None, int | None]] = {}  # job → (cmd, instance id)
        self.fail_records: dict[int, tuple[str, int]] = {}  # id(attempt) → failure record
        self.reason_rank: dict[int, int] = {}
        # host id → name: from the agent's own log (authoritative), else the MS's `via: 3(name)`
        self.agent_names: dict[int, str] = {}
        self.ms_names: dict[int, str] = {}
        # agent side
        self.agent_starts: dict[str, _AgentStart] = {}
        self.agent_windows: dict[tuple[str, str | None], list[_AgentStart]] = {}
        # commands
        self.cstats: dict[tuple[str, int, str], CommandStats] = {}  # (side, host id, command)
        self.start_trips: dict[str, CommandTrip] = {}
        # versions
        self.points: list[tuple[VersionPoint, str | None]] = []  # (point, db version)
        self.raw_markers: list[Marker] = []
        self.events_dropped = 0

    # ------------------------------------------------------------------ per record
    def feed(self, rec: Record) -> list[Event]:
        """Process one record; return its events (the caller feeds agent ones to the trips)."""
        ts = rec.timestamp
        if ts is not None:
            if rec.source is not self._src:
                self._switch(rec)
            span = self._span
            if ts < span[0]:
                span[0] = ts
            if ts > span[1]:
                span[1] = ts
        return self._process(rec, self.match(rec))

    def feed_extracted(self, rec: Record, evs: list[Event], first: str | None, last: str | None) -> list[Event]:
        """Process a record a worker shipped with its events (see :func:`extract_unit`).

        ``first``/``last`` are the extreme timestamps the worker had seen in this file up
        to and including ``rec``: the span ends up as if every record had been fed.
        """
        self.merge_span(rec.source, rec.host, rec.role, first, last)
        return self._process(rec, evs)

    def merge_span(self, source: str, host: str, role: str, first: str | None, last: str | None) -> None:
        """Widen a file's [first, last] timestamp span (records a worker did not ship)."""
        if first is None or last is None:
            return
        span = self.spans.get(source)
        if span is None:
            span = self.spans[source] = [first, last, host]
            if host not in self.a.roles:
                self.a.roles[host] = role
        else:
            if first < span[0]:
                span[0] = first
            if last > span[1]:
                span[1] = last
        self._src = source
        self._span = span

    def _process(self, rec: Record, evs: list[Event]) -> list[Event]:
        if evs and len(rec.text) > _SLIM_ABOVE:
            rec, evs = slim(rec, evs)
        if is_trace_candidate(rec):
            self._traces(rec)
        for ev in evs:
            self._event(ev, rec)
        return evs

    def _switch(self, rec: Record) -> None:
        """A new input file (or back to one): per-file first/last timestamps."""
        self._src = rec.source
        span = self.spans.get(rec.source)
        if span is None:
            ts = rec.timestamp or ""
            span = self.spans[rec.source] = [ts, ts, rec.host]
        self._span = span
        if rec.host not in self.a.roles:
            self.a.roles[rec.host] = rec.role

    def _traces(self, rec: Record) -> None:
        for t in parse_traces(rec.text):
            key = (t.fingerprint, t.message, t.origin, t.line_offset)
            t = self._interned.setdefault(key, t)
            # 2.2/3.0 agent.log holds every INFO+ line twice (the `{GMT}` console copy, ref
            # §1.5): same host, thread, millisecond and trace → counted once.
            dup = (rec.source, rec.thread, rec.timestamp, t.fingerprint, t.message)
            if dup in self._recent:
                continue
            self._recent[dup] = None
            if len(self._recent) > 64:
                self._recent.pop(next(iter(self._recent)))
            self.a.traces.append(
                TraceOccurrence(
                    rec.source,
                    rec.line + t.line_offset,
                    rec.timestamp,
                    rec.host,
                    rec.thread,
                    rec.seq,
                    rec.logid,
                    t,
                )
            )
            self.trace_rec_lines.append(rec.line)
            self.trace_roles.append(rec.role)
            self.trace_levels.append(rec.level)

    def _keep(self, ev: Event, start_related: bool) -> None:
        cat = ev.category
        if ev.event in DROPPED_JOB_EVENTS:
            return
        if cat in KEPT_CATEGORIES or start_related or ev.event in KEPT_AGENT_EVENTS:
            if len(self.a.events) >= MAX_EVENTS:
                self.events_dropped += 1
                return
            if len(ev.message) > EVENT_MESSAGE_CHARS:
                ev = replace(ev, message=ev.message[:EVENT_MESSAGE_CHARS] + "…")
            self.a.events.append(ev)

    def _event(self, ev: Event, rec: Record) -> None:
        eid = ev.event
        handler = _HANDLERS.get(eid)
        start_related = False
        if handler is not None:
            start_related = bool(handler(self, ev, rec))
        elif ev.category == "agent":
            start_related = self._transport(ev, rec)
        self._keep(ev, start_related)

    # ------------------------------------------------------------------ MS start flows
    def _loc(self, rec: Record) -> str:
        return f"{rec.source}:{rec.line}"

    def _open(self, ev: Event, rec: Record, vm: str, vm_type: str | None, vm_id: Any) -> StartAttempt:
        key = (rec.host, vm)
        old = self.flows.get(key)
        if old is not None and not old.closed:
            self._close(old, rec, None)  # superseded: its outcome stays as known so far
        jobs = ev.jobs
        job = jobs[-1] if jobs else None
        thread = rec.thread or ""
        att = StartAttempt(
            vm=vm,
            vm_id=vm_id if isinstance(vm_id, int) else vm_id_from_name(vm),
            vm_type=vm_type,
            job=job,
            parent_job=jobs[0] if len(jobs) > 1 else None,
            time=rec.timestamp,
            source=rec.source,
            line=rec.line,
            trigger="ha" if thread.startswith(_HA_THREADS) else ("api" if job is not None else None),
            logid=rec.logid or None,
            ms_host=rec.host,
        )
        if att.vm_id is None and job is not None:
            info = self.jobs.get(job) or (self.jobs.get(jobs[0]) if jobs else None)
            if info is not None and info[1] is not None:
                att.vm_id = info[1]
        att.evidence.append(self._loc(rec))
        flow = _Flow(att, rec.thread, rec.source, rec.line)
        self.flows[key] = flow
        self.thread_flows.setdefault((rec.source, rec.thread), []).append(flow)
        for j in jobs:
            self.by_job.setdefault(j, []).append(att)
        self.a.attempts.append(att)
        return att

    def _close(self, flow: _Flow, rec: Record | None, outcome: str | None) -> None:
        if flow.closed:
            return
        flow.closed = True
        att = flow.attempt
        if outcome is not None:
            att.outcome = outcome
        end_line = 1 << 62
        if rec is not None:
            att.end_time = rec.timestamp
            end_line = rec.line
        self.ms_intervals.setdefault((flow.source, flow.thread), []).append((flow.start_line, end_line, att))
        tf = self.thread_flows.get((flow.source, flow.thread))
        if tf is not None:
            with contextlib.suppress(ValueError):
                tf.remove(flow)
            if not tf:
                del self.thread_flows[(flow.source, flow.thread)]

    def _flow(self, ev: Event, rec: Record, *, open_only: bool = True, single: bool = False) -> _Flow | None:
        """The flow an MS event belongs to: by VM name, else the thread's innermost open flow."""
        vm = _field(ev, "vm_name")
        if vm:
            f = self.flows.get((rec.host, vm))
            if f is not None and (not open_only or not f.closed):
                return f
            return None
        tf = self.thread_flows.get((rec.source, rec.thread))
        if not tf or (single and len(tf) != 1):
            return None
        return tf[-1]

    def _reason(self, att: StartAttempt, reason: str | None, rank: int) -> None:
        if not reason:
            return
        cur = self.reason_rank.get(id(att))
        if cur is None or rank < cur:
            att.reason = reason.strip()
            self.reason_rank[id(att)] = rank

    def _hint(self, att: StartAttempt, kind: str) -> None:
        if kind == "agent_exception" or att.failure_kind is None:
            att.failure_kind = kind

    def _ms_start_command(self, ev: Event, rec: Record) -> None:
        lay = _layout(rec.message)
        vm = lay.vm_name if lay is not None and lay.vm_name else (rec.vms[0] if rec.vms else None)
        if not vm:
            return
        seq = ev.seq or ""
        key = (rec.host, vm)
        flow = self.flows.get(key)
        prev = flow.attempt if flow is not None else None
        if flow is None or flow.closed or (flow.attempt.seq is not None and flow.attempt.seq != seq):
            if flow is not None and not flow.closed:
                # A second StartCommand in one start: the planner retries on another host.
                self._close(flow, rec, "failed")
                self._hint(flow.attempt, "agent_exception")
            att = self._open(ev, rec, vm, prev.vm_type if prev else None, lay.vm_id if lay else None)
            if prev is not None and (prev.job == att.job or att.job is None):
                att.trigger = prev.trigger
                att.parent_job = att.parent_job or prev.parent_job
            att.evidence.clear()
        else:
            att = flow.attempt
        loc = self._loc(rec)
        att.seq = seq or None
        host_id = _field(ev, "host_id")
        att.host_id = host_id if isinstance(host_id, int) else att.host_id
        att.command_line = loc
        att.evidence.append(loc)
        if att.logid is None and rec.logid:
            att.logid = rec.logid
        if lay is not None:
            _apply_layout(att, lay)
        if seq:
            self.by_seq[seq] = att

    # ------------------------------------------------------------------ transport
    def _transport(self, ev: Event, rec: Record) -> bool:
        """StartCommand sends/answers on both sides; host id ↔ name from the agent's log."""
        eid = ev.event
        seq = ev.seq
        cmd = _field(ev, "command")
        if eid == _MS_SEND:
            host_id = _field(ev, "host_id")
            via_name = _field(ev, "via_name")
            if via_name and isinstance(host_id, int):
                self.ms_names.setdefault(host_id, via_name)
            if cmd == "StartCommand" and rec.role == "management":
                self._ms_start_command(ev, rec)
                return True
            return False
        if eid in _MS_ANSWERS:
            att = self.by_seq.get(seq or "")
            if att is None:
                return False
            if cmd and cmd != "StartCommand":
                att.answer = cmd
            result = _answer_result(rec.message)
            if result is not None:
                att.answer_result = result
            return True
        if rec.role != "agent":
            return False
        if eid == "agent.request":
            host_id = _field(ev, "host_id")
            if isinstance(host_id, int) and host_id >= 0:
                self.agent_names.setdefault(host_id, rec.host)
            if cmd == "StartCommand" and seq:
                st = _AgentStart(
                    seq,
                    rec.host,
                    host_id if isinstance(host_id, int) else None,
                    rec.source,
                    rec.line,
                    rec.thread,
                    rec.timestamp,
                    rec.logid or None,
                    _layout(rec.message),
                )
                self.agent_starts[seq] = st
                self.agent_windows.setdefault((rec.source, rec.thread), []).append(st)
                return True
            return False
        if eid == "agent.answer":
            host_id = _field(ev, "host_id")
            if isinstance(host_id, int) and host_id >= 0:
                self.agent_names.setdefault(host_id, rec.host)
            ans = self.agent_starts.get(seq or "")
            if ans is None or ans.end_line is not None:
                return False
            st = ans
            st.end_line = rec.line
            st.answered_at = rec.timestamp
            st.answer = cmd
            st.result = _answer_result(rec.message)
            st.details = _answer_details(rec.message)
            st.answer_loc = self._loc(rec)
            return True
        return False

    # ------------------------------------------------------------------ command trips
    def trip(self, t: CommandTrip) -> None:
        """Fold one round trip (from :func:`logparse.commands.iter_command_trips`) into stats."""
        side = "ms" if t.sent_evidence else "agent"
        cmd = t.command or "?"
        key = (side, t.host_id if t.host_id is not None else -1, cmd)
        cs = self.cstats.get(key)
        if cs is None:
            cs = self.cstats[key] = CommandStats("", cmd)
        cs.sent += 1
        if t.answered:
            cs.answered += 1
            if t.result is False:
                cs.failed += 1
            if t.latency_ms is not None:
                cs.add_latency(float(t.latency_ms), self.rng, t.answer_evidence or t.sent_evidence)
        else:
            loc = t.sent_evidence or t.agent_evidence
            src = loc.rpartition(":")[0] if loc else None
            t0 = _ms_of(t.sent_at or t.agent_received_at, self.tcache)
            span = self.spans.get(src or "")
            t1 = _ms_of(span[1] if span is not None else None, self.tcache)
            if t0 is not None and t1 is not None and t1 - t0 >= UNANSWERED_GRACE_MS:
                cs.unanswered += 1
                if len(cs.unanswered_evidence) < 20 and loc:
                    cs.unanswered_evidence.append(loc)
        if cmd == "StartCommand":
            old = self.start_trips.get(t.seq)
            self.start_trips[t.seq] = t if old is None else _merge_trips(old, t)


def _merge_trips(a: CommandTrip, b: CommandTrip) -> CommandTrip:
    """One StartCommand seen in two files (MS, then agent): one trip with both sides."""
    first, second = (a, b) if a.sent_evidence else (b, a)
    fill = {
        f: getattr(second, f)
        for f in (
            "agent_received_at",
            "agent_evidence",
            "answered_at",
            "answer_evidence",
            "answer_class",
            "result",
            "details",
            "latency_ms",
            "vm_name",
        )
        if getattr(first, f) is None and getattr(second, f) is not None
    }
    if second.answered and not first.answered:
        fill["answered"] = True
    return replace(first, **fill) if fill else first


# --------------------------------------------------------------------------- handlers


def _on_start_requested(c: _Correlator, ev: Event, rec: Record) -> bool:
    vm = _field(ev, "vm_name")
    if rec.role != "management" or not vm:
        return False
    c._open(ev, rec, vm, _field(ev, "vm_type"), _field(ev, "vm_id"))
    return True


def _on_start_completed(c: _Correlator, ev: Event, rec: Record) -> bool:
    flow = c._flow(ev, rec, open_only=False)
    if flow is None:
        return False
    if not flow.closed:
        flow.attempt.evidence.append(c._loc(rec))
        c._close(flow, rec, "succeeded")
    return True


def _on_start_failed(c: _Correlator, ev: Event, rec: Record) -> bool:
    flow = c._flow(ev, rec, open_only=False)
    if flow is None:
        return False
    att = flow.attempt
    att.evidence.append(c._loc(rec))
    c.fail_records[id(att)] = (rec.source, rec.line)
    if not flow.closed:
        c._close(flow, rec, "failed")
    elif att.outcome == "unknown":
        att.outcome = "failed"
    return True


def _on_failed_on_host(c: _Correlator, ev: Event, rec: Record) -> bool:
    flow = c._flow(ev, rec)
    if flow is None:
        return False
    att = flow.attempt
    c._reason(att, rec.message, 0)
    c._hint(att, "agent_exception")
    att.evidence.append(c._loc(rec))
    c._close(flow, rec, "failed")
    return True


def _on_send_failed(c: _Correlator, ev: Event, rec: Record) -> bool:
    flow = c._flow(ev, rec)
    if flow is None:
        return False
    c._reason(flow.attempt, rec.message, 1)
    c._hint(flow.attempt, "other")
    return True


def _on_no_start_answer(c: _Correlator, ev: Event, rec: Record) -> bool:
    flow = c._flow(ev, rec, open_only=False)
    if flow is None:
        vm = rec.vms[0] if rec.vms else None
        flow = c.flows.get((rec.host, vm)) if vm else None
        if flow is None:
            return False
    cls = _field(ev, "answer_class") or "StartAnswer"
    if "." not in cls:
        cls = "com.cloud.agent.api." + cls
    c._reason(flow.attempt, f"Unable to get answer that is of class {cls}", 1)
    c._hint(flow.attempt, "agent_exception")
    return True


def _on_deploy_failed(c: _Correlator, ev: Event, rec: Record) -> bool:
    flow = c._flow(ev, rec, open_only=False)
    if flow is None:
        return False
    att = flow.attempt
    vm_ref = f"VM[{_field(ev, 'vm_type') or 'User'}|{att.vm}]"
    c._reason(att, f"Unable to create a deployment for {vm_ref}", 2)
    if att.seq is None:
        c._hint(att, "capacity")
    att.evidence.append(c._loc(rec))
    if not flow.closed:
        c._close(flow, rec, "failed")
    elif att.outcome == "unknown":
        att.outcome = "failed"
    return True


def _on_orchestrate_failed(c: _Correlator, ev: Event, rec: Record) -> bool:
    flow = c._flow(ev, rec, open_only=False)
    if flow is None:
        return False
    att = flow.attempt
    c._reason(att, rec.message, 1)
    att.evidence.append(c._loc(rec))
    if not flow.closed:
        c._close(flow, rec, "failed")
    return True


def _on_state_transition(c: _Correlator, ev: Event, rec: Record) -> bool:
    frm, to = _field(ev, "from_state"), _field(ev, "to_state")
    if frm != "Starting" or rec.role != "management":
        return False
    flow = c._flow(ev, rec, single=not _field(ev, "vm_name"))
    if flow is None:
        return False
    att = flow.attempt
    if to == "Running":
        att.outcome = "succeeded"
        hid = _field(ev, "host_id")
        if att.host_id is None and isinstance(hid, int):
            att.host_id = hid
    elif to in ("Stopped", "Error"):
        att.outcome = "failed"
    return True


def _on_job_submitted(c: _Correlator, ev: Event, rec: Record) -> bool:
    job = _field(ev, "job_id")
    if isinstance(job, int):
        iid = _field(ev, "instance_id")
        c.jobs[job] = (_field(ev, "cmd"), iid if isinstance(iid, int) else None)
    return False


def _on_job_complete(c: _Correlator, ev: Event, rec: Record) -> bool:
    job = _field(ev, "job_id")
    if not isinstance(job, int):
        return False
    c.jobs.pop(job, None)
    atts = c.by_job.pop(job, None)
    if not atts:
        return False
    status = str(_field(ev, "status") or "").upper()
    outcome = "succeeded" if status == "SUCCEEDED" else ("failed" if status == "FAILED" else None)
    loc = c._loc(rec)
    for att in atts:
        if loc not in att.evidence:
            att.evidence.append(loc)
        flow = c.flows.get((att.ms_host or rec.host, att.vm))
        if outcome == "failed":
            c._reason(att, _field(ev, "reason"), 3)
        if flow is not None and flow.attempt is att and not flow.closed:
            c._close(flow, rec, outcome if att.outcome == "unknown" else None)
        elif att.outcome == "unknown" and outcome is not None and att is atts[-1]:
            att.outcome = outcome
    return True


def _on_db_version(c: _Correlator, ev: Event, rec: Record) -> bool:
    code, db = _field(ev, "code_version"), _field(ev, "db_version")
    if not code:
        return False
    loc = c._loc(rec)
    c.points.append((VersionPoint(rec.timestamp, rec.host, rec.role, str(code), loc), db))
    c.raw_markers.append(
        Marker(
            rec.timestamp,
            "ms_start",
            rec.host,
            rec.role,
            version=str(code),
            evidence=loc,
            detail=f"DB version {db}" if db else None,
        )
    )
    return False


def _on_upgrade_required(c: _Correlator, ev: Event, rec: Record) -> bool:
    frm, to = _field(ev, "from_version"), _field(ev, "to_version")
    rf, rt = release_of(frm), release_of(to)
    if rf and rt and rf > rt:
        # 2.2 logs "Database upgrade must be performed from 2.2.14 to 2.2.13" when older
        # code starts on a newer database (then: "There is no upgrade path"): a rollback.
        c.raw_markers.append(
            Marker(
                rec.timestamp,
                "rollback",
                rec.host,
                rec.role,
                version=to,
                from_version=frm,
                to_version=to,
                evidence=c._loc(rec),
                detail="the database is newer than the code",
            )
        )
        return False
    c.raw_markers.append(
        Marker(
            rec.timestamp,
            "db_upgrade",
            rec.host,
            rec.role,
            version=to,
            from_version=frm,
            to_version=to,
            evidence=c._loc(rec),
        )
    )
    return False


def _on_agent_version(c: _Correlator, ev: Event, rec: Record) -> bool:
    v = _field(ev, "version")
    if not v or rec.role != "agent":
        return False
    loc = c._loc(rec)
    c.points.append((VersionPoint(rec.timestamp, rec.host, rec.role, str(v), loc), None))
    c.raw_markers.append(
        Marker(rec.timestamp, "agent_version", rec.host, rec.role, version=str(v), evidence=loc)
    )
    return False


def _on_agent_started(c: _Correlator, ev: Event, rec: Record) -> bool:
    hid = _field(ev, "host_id")
    if rec.role != "agent":
        return False
    if isinstance(hid, int):
        c.agent_names[hid] = rec.host
    c.raw_markers.append(
        Marker(rec.timestamp, "host_up", rec.host, rec.role, evidence=c._loc(rec), detail="agent started")
    )
    return False


#: ``Host 3 is disconnecting with event …``: the events that mean the agent went away.
_DOWN_EVENTS = frozenset({"ShutdownRequested", "AgentDisconnected", "PingTimeout", "HostDown"})


def _on_host_disconnecting(c: _Correlator, ev: Event, rec: Record) -> bool:
    hid = _field(ev, "host_id")
    what = _field(ev, "host_event")
    if isinstance(hid, int) and what in _DOWN_EVENTS:
        c.raw_markers.append(
            Marker(
                rec.timestamp,
                "host_down",
                f"#{hid}",
                "agent",
                evidence=c._loc(rec),
                detail=f"disconnecting: {what}",
            )
        )
    return False


def _on_host_down(c: _Correlator, ev: Event, rec: Record) -> bool:
    hid = _field(ev, "host_id")
    name = _field(ev, "host_name")
    c.raw_markers.append(
        Marker(
            rec.timestamp,
            "host_down",
            # "#3|kvm01": id 3, named kvm01 by the MS (used when no agent log names it)
            f"#{hid}|{name or ''}" if isinstance(hid, int) else (name or "?"),
            "agent",
            evidence=c._loc(rec),
            detail="HA starts on its VMs",
        )
    )
    return False


def _on_host_state(c: _Correlator, ev: Event, rec: Record) -> bool:
    hid = _field(ev, "host_id")
    if str(_field(ev, "host_status") or "") == "Up" and isinstance(hid, int):
        c.raw_markers.append(Marker(rec.timestamp, "host_up", f"#{hid}", "agent", evidence=c._loc(rec)))
    return False


_HANDLERS: dict[str, Callable[[_Correlator, Event, Record], bool]] = {
    "vm.start_requested": _on_start_requested,
    "vm.start_completed": _on_start_completed,
    "vm.start_failed": _on_start_failed,
    "vm.start_failed_on_host": _on_failed_on_host,
    "vm.start_send_failed": _on_send_failed,
    "vm.no_start_answer": _on_no_start_answer,
    "vm.deploy_failed": _on_deploy_failed,
    "vm.start_orchestrate_failed": _on_orchestrate_failed,
    "vm.state_transition": _on_state_transition,
    "job.submitted": _on_job_submitted,
    "job.complete": _on_job_complete,
    "upgrade.db_version": _on_db_version,
    "upgrade.required": _on_upgrade_required,
    "upgrade.agent_version": _on_agent_version,
    "upgrade.agent_started": _on_agent_started,
    "host.down": _on_host_down,
    "host.disconnecting": _on_host_disconnecting,
    "host.state_determined": _on_host_state,
}


# --------------------------------------------------------------------------- finish


def _describe(t: StackTrace) -> str:
    frame = t.first_app_frame
    return f"{t.exception} in {frame.method}" if frame is not None else t.exception


def _resolve_host(c: _Correlator, host_id: int | None) -> str | None:
    if host_id is None:
        return None
    return c.agent_names.get(host_id) or c.ms_names.get(host_id)


def _merge_agent_starts(c: _Correlator) -> None:
    for seq, st in c.agent_starts.items():
        att = c.by_seq.get(seq)
        if att is None:
            lay = st.layout
            vm = lay.vm_name if lay is not None and lay.vm_name else None
            if not vm:
                continue
            att = StartAttempt(
                vm=vm,
                vm_id=lay.vm_id if lay else None,
                seq=seq,
                time=st.time,
                end_time=st.answered_at,
                source=st.source,
                line=st.line,
                sides="agent",
                host=st.host,
                host_id=st.host_id,
                logid=st.logid,
            )
            if att.vm_id is None:
                att.vm_id = vm_id_from_name(vm)
            if lay is not None:
                _apply_layout(att, lay)
            att.command_line = f"{st.source}:{st.line}"
            att.evidence.append(att.command_line)
            if st.result is True:
                att.outcome = "succeeded"
            elif st.result is False:
                att.outcome = "failed"
                c._reason(att, st.details or "the agent answered result=false", 4)
                c._hint(att, "agent_exception")
            c.by_seq[seq] = att
            c.a.attempts.append(att)
            if st.answer_loc:
                att.evidence.append(st.answer_loc)
        else:
            att.sides = "both"
            att.host = st.host
            if att.host_id is None:
                att.host_id = st.host_id
            if att.disk_count is None and st.layout is not None:
                _apply_layout(att, st.layout)
            if att.answer is None and st.answer and st.answer != "StartCommand":
                att.answer = st.answer
            if att.answer_result is None:
                att.answer_result = st.result
            if st.result is False:
                c._reason(att, st.details, 4)
            if att.outcome == "unknown" and st.result is False:
                att.outcome = "failed"


def _link_traces(c: _Correlator) -> dict[int, StartAttempt]:
    """Tie every trace to at most one attempt; fill ``seq`` of agent traces for masking."""
    a = c.a
    owner: dict[int, StartAttempt] = {}
    windows = {k: ([w.line for w in ws], ws) for k, ws in c.agent_windows.items()}
    ms_iv = {k: sorted(v, key=lambda t: (t[0], t[1])) for k, v in c.ms_intervals.items()}
    by_logid: dict[str, StartAttempt] = {}
    by_host: dict[str, list[StartAttempt]] = {}
    for x in a.attempts:
        if x.logid and x.seq:
            by_logid.setdefault(x.logid, x)
        if x.host and x.time:
            by_host.setdefault(x.host, []).append(x)
    for lst in by_host.values():
        lst.sort(key=lambda x: x.time or "")
    for i, occ in enumerate(a.traces):
        rec_line = c.trace_rec_lines[i]
        role = c.trace_roles[i]
        att: StartAttempt | None = None
        if role == "agent":
            w = windows.get((occ.source, occ.thread))
            if w is not None:
                lines, ws = w
                k = bisect.bisect_right(lines, rec_line) - 1
                if k >= 0:
                    st = ws[k]
                    if st.end_line is None or rec_line <= st.end_line:
                        att = c.by_seq.get(st.seq)
                        if occ.seq != st.seq:
                            a.traces[i] = replace(occ, seq=st.seq)
            if att is None and occ.logid and occ.logid in by_logid:
                att = by_logid[occ.logid]
            if att is None and occ.timestamp and c.trace_levels[i] in _TRACE_LEVELS:
                att = _by_time(c, by_host.get(occ.host, ()), occ.timestamp)
                if att is not None and att.seq and occ.seq is None:
                    a.traces[i] = replace(occ, seq=att.seq)
        else:
            iv = ms_iv.get((occ.source, occ.thread))
            if iv is not None:
                for lo, hi, cand in reversed(iv):
                    if lo <= rec_line <= hi:
                        att = cand
                        break
        if att is not None:
            owner[i] = att
            att.trace_ids.append(i)
    return owner


def _by_time(c: _Correlator, atts: Sequence[StartAttempt], ts: str) -> StartAttempt | None:
    t = _ms_of(ts, c.tcache)
    if t is None:
        return None
    hits = []
    for att in atts:
        t0 = _ms_of(att.time, c.tcache)
        t1 = _ms_of(att.end_time or att.time, c.tcache)
        if t0 is not None and t1 is not None and t0 - 1000 <= t <= t1 + TIME_LINK_MS:
            hits.append(att)
    return hits[0] if len(hits) == 1 else None


def _apply_masks(c: _Correlator, owner: dict[int, StartAttempt]) -> None:
    a = c.a
    a.masks = link_masks(a.traces)
    for m in a.masks:
        att = owner.get(m.primary_index)
        if att is None or owner.get(m.masking_index) is not att:
            continue
        if att.primary_exception is None:
            att.primary_exception = _describe(a.traces[m.primary_index].trace)
            att.masking_exception = _describe(a.traces[m.masking_index].trace)
    for att in a.attempts:
        # Time order, so that the result does not depend on the order files were given in.
        att.trace_ids.sort(key=lambda i: (a.traces[i].timestamp or "", a.traces[i].source, a.traces[i].line))
        agent_ids = [i for i in att.trace_ids if c.trace_roles[i] == "agent"]
        if att.primary_exception is None and agent_ids:
            att.primary_exception = _describe(a.traces[agent_ids[0]].trace)
        fps: list[str] = []
        for i in att.trace_ids:
            fp = a.traces[i].trace.fingerprint
            if fp not in fps:
                fps.append(fp)
        att.fingerprints = fps


def _finish_attempts(c: _Correlator) -> None:
    a = c.a
    rec_traces: dict[tuple[str, int], list[int]] = {}
    if c.fail_records:
        wanted = set(c.fail_records.values())
        for i, occ in enumerate(a.traces):
            key = (occ.source, c.trace_rec_lines[i])
            if key in wanted:
                rec_traces.setdefault(key, []).append(i)
    for att in a.attempts:
        if att.host is None:
            att.host = _resolve_host(c, att.host_id)
        fr = c.fail_records.get(id(att))
        if fr is not None:
            for i in rec_traces.get(fr, ()):
                t = a.traces[i].trace
                msg = t.root_message or t.message
                if msg:
                    c._reason(att, msg, 1)
                    break
        agent_locs = [
            f"{a.traces[i].source}:{a.traces[i].line}" for i in att.trace_ids if c.trace_roles[i] == "agent"
        ]
        if agent_locs:
            ev = [e for e in att.evidence if e not in agent_locs]
            pos = ev.index(att.command_line) + 1 if att.command_line in ev else min(1, len(ev))
            st = c.agent_starts.get(att.seq or "")
            extra = agent_locs + (
                [st.answer_loc]
                if st is not None and st.answer_loc and att.sides == "agent" and st.answer_loc not in ev
                else []
            )
            att.evidence = ev[:pos] + extra + ev[pos:]
        if att.outcome == "failed":
            if (
                att.answer_result is False
                or (att.answer and att.answer != "StartAnswer")
                or any(c.trace_roles[i] == "agent" for i in att.trace_ids)
            ):
                att.failure_kind = "agent_exception"
            elif att.failure_kind is None:
                att.failure_kind = "other"
            if att.failure_kind == "capacity" and att.seq is not None:
                att.failure_kind = "other"
        else:
            att.failure_kind = None


def _change_marker(p: VersionPoint, kind: str, from_version: str | None, detail: str | None = None) -> Marker:
    """A version change (upgrade, rollback, db_upgrade) of a host at a version point."""
    return Marker(p.time, kind, p.host, p.role, version=p.version, from_version=from_version,
                  to_version=p.version, evidence=p.evidence, detail=detail)


def _finish_versions(c: _Correlator) -> None:
    a = c.a
    points = sorted(c.points, key=lambda p: (p[0].time or "", p[0].host, p[0].evidence))
    markers = list(c.raw_markers)
    last: dict[str, VersionPoint] = {}
    ms_changes = sorted(
        (
            (p.time or "", release_of(db), release_of(p.version), db)
            for p, db in points
            if p.role == "management"
            and db
            and release_of(db)
            and release_of(p.version)
            and release_of(db) != release_of(p.version)
        ),
        key=lambda x: x[0],
    )
    for p, db in points:
        a.versions.setdefault(p.host, []).append(p)
        prev = last.get(p.host)
        new = release_of(p.version)
        dbrel = release_of(db)
        if prev is not None:
            old = release_of(prev.version)
            if old and new and new != old:
                kind = "upgrade" if new > old else "rollback"
                markers.append(_change_marker(p, kind, prev.version))
        elif dbrel and new and dbrel != new:
            # The first start we see already runs other code than the database: the code
            # was changed while this MS was down.
            kind = "upgrade" if new > dbrel else "rollback"
            markers.append(_change_marker(p, kind, db))
        if prev is None and p.role == "agent" and new:
            _infer_agent_change(c, p, new, ms_changes, markers)
        if dbrel and new and dbrel < new:
            markers.append(_change_marker(p, "db_upgrade", db))
        last[p.host] = p
    # host ids of MS-side host events → names
    out: list[Marker] = []
    seen: set[tuple[Any, ...]] = set()
    for m in markers:
        if m.host.startswith("#"):
            num, _, ms_name = m.host[1:].partition("|")
            hid = int(num) if num.isdigit() else None
            m = replace(m, host=_resolve_host(c, hid) or ms_name or f"host-{num}")
        key = (m.kind, m.host, release_str(m.from_version), release_str(m.to_version), (m.time or "")[:16])
        # agent_version too: 2.2/3.0 agent.log repeats INFO lines as the {GMT} console copy.
        if m.kind in ("db_upgrade", "upgrade", "rollback", "host_down", "host_up", "agent_version"):
            if key in seen:
                continue
            seen.add(key)
        out.append(m)
    out.sort(
        key=lambda m: (m.time or "", MARKER_KINDS.index(m.kind) if m.kind in MARKER_KINDS else 99, m.host)
    )
    a.markers = out
    # Versions per attempt. Before a host's first logged version, the version it changed
    # from is known when that first point is a change: the MS's `DB version = X` (the
    # code it ran before), or an agent's inferred change. Used for lookups only.
    before: dict[str, VersionPoint] = {}
    for m in out:
        pts = a.versions.get(m.host)
        if (
            m.kind in ("upgrade", "rollback")
            and m.from_version
            and pts
            and m.host not in before
            and m.evidence == pts[0].evidence
        ):
            before[m.host] = VersionPoint("", m.host, m.role, m.from_version, m.evidence)
    timelines = {
        h: ([""] + [p.time or "" for p in pts], [before[h], *pts])
        if h in before
        else ([p.time or "" for p in pts], pts)
        for h, pts in a.versions.items()
    }
    ms_hosts = [h for h, pts in a.versions.items() if pts and pts[0].role == "management"]
    ups = [m.time for m in out if m.kind in ("upgrade", "db_upgrade") and m.time]
    first_up = min(ups) if ups else None
    for att in a.attempts:
        t = att.time or ""
        if att.host and att.host in timelines:
            att.agent_version = _version_at(timelines[att.host], t)
        ms_host = att.ms_host if att.ms_host in timelines else (ms_hosts[0] if len(ms_hosts) == 1 else None)
        if ms_host is not None:
            att.ms_version = _version_at(timelines[ms_host], t)
        if first_up is not None and att.time:
            att.after_upgrade = att.time >= first_up


def _infer_agent_change(
    c: _Correlator,
    p: VersionPoint,
    new: tuple[int, ...],
    ms_changes: list[tuple[str, Any, Any, str]],
    markers: list[Marker],
) -> None:
    """An agent's first logged version equals the release its MS just moved to, and the
    agent logged before that: it was upgraded (or rolled back) with the MS. Its previous
    version is not in the logs; the MS's previous version is assumed."""
    t = p.time or ""
    first = min((sp[0] for sp in c.spans.values() if sp[2] == p.host), default=None)
    if first is None or first >= t:
        return
    for when, old, to, db in reversed(ms_changes):
        if when <= t and to == new:
            kind = "upgrade" if new > old else "rollback"
            markers.append(_change_marker(p, kind, db,
                detail="the agent's previous version is not logged; the MS's is assumed"))
            return


def _version_at(tl: tuple[list[str], list[VersionPoint]], t: str) -> str | None:
    times, pts = tl
    k = bisect.bisect_right(times, t) - 1
    return pts[k].version if k >= 0 else None


def _finish_commands(c: _Correlator) -> None:
    a = c.a
    ms_ids = {hid for (side, hid, _cmd) in c.cstats if side == "ms"}
    rows = []
    for (side, hid, _cmd), cs in sorted(c.cstats.items()):
        # The MS side measures the whole round trip; the agent side only counts for hosts
        # the MS logs do not cover (agent-only input).
        if side == "agent" and hid in ms_ids:
            continue
        cs.host = _resolve_host(c, hid if hid >= 0 else None) or (f"host-{hid}" if hid >= 0 else "?")
        rows.append(cs)
    a.command_stats = sorted(rows, key=lambda cs: (cs.host, cs.command))
    a.commands = sorted(c.start_trips.values(), key=lambda t: (t.sent_at or t.agent_received_at or "", t.seq))


def _finish(c: _Correlator) -> Analysis:
    if c.spans:
        c.a.first_time = min(sp[0] for sp in c.spans.values())
        c.a.last_time = max(sp[1] for sp in c.spans.values())
    for flow in list(c.flows.values()):
        if not flow.closed:
            c._close(flow, None, None)
    _merge_agent_starts(c)
    for att in c.a.attempts:
        if att.host is None:
            att.host = _resolve_host(c, att.host_id)
    a = c.a
    a.host_names = dict(sorted({**c.ms_names, **c.agent_names}.items()))
    owner = _link_traces(c)
    _apply_masks(c, owner)
    _finish_attempts(c)
    _finish_versions(c)
    _finish_commands(c)
    a.attempts.sort(key=lambda x: (x.time or "", x.vm, x.seq or "", x.line or 0))
    a.events_dropped = c.events_dropped
    a.bytes_read = sum(f.bytes_read for f in a.files)
    a.sources = sorted({*c.spans, *(f.source for f in a.files if f.role != "store")})
    return a


# --------------------------------------------------------------------------- window


def window(analysis: Analysis, since: str | None = None, until: str | None = None) -> Analysis:
    """The analysis restricted to ``[since, until)`` (ISO prefixes, as ``--since/--until``).

    Kept: the start attempts, events, stack-trace occurrences (and the mask links between
    two kept ones) and StartCommand round trips whose time falls inside. Correlation runs
    over the whole input first — a start's Seq, agent side or job can lie outside the window
    — and the context stays whole: version timelines, upgrade/rollback markers, host names
    and per-command latency statistics. Nothing of ``analysis`` is modified.
    """
    if not since and not until:
        return analysis

    def inside(ts: str | None) -> bool:
        return ts is not None and (not since or ts >= since) and (not until or ts < until)

    index: dict[int, int] = {}
    traces: list[TraceOccurrence] = []
    for i, occ in enumerate(analysis.traces):
        if inside(occ.timestamp):
            index[i] = len(traces)
            traces.append(occ)
    masks = [replace(m, primary_index=index[m.primary_index], masking_index=index[m.masking_index])
             for m in analysis.masks if m.primary_index in index and m.masking_index in index]
    attempts = [replace(a, trace_ids=[index[i] for i in a.trace_ids if i in index])
                for a in analysis.attempts if inside(a.time)]
    first, last = analysis.first_time, analysis.last_time
    if since and first is not None and first < since:
        first = since
    if until and last is not None and last >= until:
        last = until
    if first is not None and last is not None and first > last:
        first, last = since or None, until or None  # the logs end before the window (or start after it)
    return replace(
        analysis,
        events=[e for e in analysis.events if inside(e.timestamp)],
        traces=traces,
        masks=masks,
        attempts=attempts,
        commands=[c for c in analysis.commands if inside(c.sent_at or c.agent_received_at)],
        first_time=first,
        last_time=last,
        window=(since or None, until or None),
    )


# --------------------------------------------------------------------------- entry


def analyze(
    paths_or_files: Iterable[str | Path] | Iterable[LogFile],
    patterns: Patterns | None = None,
    *,
    hosts: dict[str, str] | None = None,
    timeshift: TimeShift | None = None,
    encoding: str = "utf-8",
    records: Iterable[Record] | None = None,
    jobs: int = 1,
) -> Analysis:
    """Read every record once and correlate MS and agent logs into an :class:`Analysis`.

    :param paths_or_files: files, directories, ``-``, or discovered ``LogFile``\\ s; MS and
        agent logs in any order (a host's files are told apart by their path).
    :param patterns: loaded patterns (default: the bundled set).
    :param hosts: ``{NAME: PATH}`` host overrides, as ``--host NAME=PATH``.
    :param timeshift: convert local times to UTC per host (``--tz``).
    :param records: already parsed records to use instead of reading ``paths_or_files``
        (tests, filters); ``files`` stays empty then.
    :param jobs: worker processes; > 1 splits the inputs (pipeline.plan_units) and gives
        the same result as one process.
    :raises InputError: a path is missing or unreadable.

    Example::

        a = analyze(["sample_logs/upgrade-2.2.14"])
        failed = [x for x in a.attempts if x.outcome == "failed"]
    """
    from .events import EventMatcher

    pats = patterns or load_patterns()
    c = _Correlator(EventMatcher(pats))
    if records is None and jobs > 1:
        files = as_logfiles(paths_or_files, hosts)
        if all(f.path is not None for f in files):
            return _analyze_parallel(c, files, pats, jobs, timeshift, encoding)
    if records is None:
        records = iter_records(
            paths_or_files, pats, hosts=hosts, timeshift=timeshift, stats=c.a.files, encoding=encoding
        )
    feed = c.feed

    def agent_events() -> Iterator[Event]:
        for rec in records:
            for ev in feed(rec):
                if ev.category == "agent":
                    yield ev

    # The trip pairing pulls the whole pass: records → feed (attempts, traces, versions) →
    # agent events → trips. One pass, and answered trips leave memory after LINGER more.
    for trip in iter_command_trips(agent_events(), linger=TRIP_LINGER):
        c.trip(trip)
    return _finish(c)


# -- parallel extraction ----------------------------------------------------------------------
# Workers parse byte ranges / files (pipeline.plan_units), match events and keep only the
# records that carry an event or may carry a trace (about one record in ten in a DEBUG
# log), with the running timestamp span of their file. The parent feeds those, in input
# order, to the same correlator: the result equals a sequential run.
_X: dict[str, Any] = {}


def _init_extract(patterns: Patterns, tz: dict[str, str] | None, encoding: str) -> None:
    from .events import EventMatcher
    from .pipeline import ignore_interrupts

    ignore_interrupts()
    _X["patterns"] = patterns
    _X["match"] = EventMatcher(_X["patterns"]).match
    _X["timeshift"] = TimeShift(tz) if tz else None
    _X["encoding"] = encoding


_Shipped = tuple[tuple[Any, ...], list[tuple[Any, ...]], str | None, str | None]


def _as_tuple(obj: Record | Event) -> tuple[Any, ...]:
    # Dataclasses pickle through copyreg, 5x slower than plain tuples (measured:
    # 12.7 µs vs 2.5 µs per record + event, dump and load).
    return tuple(getattr(obj, f) for f in obj.__slots__)  # type: ignore[union-attr]


def extract_unit(unit: Unit) -> tuple[int, FileStats, list[_Shipped], str | None, str | None]:
    """Worker: the records of one unit that matter to the correlator, with their events.

    Records and events travel as tuples of their fields (``Record(*t)`` rebuilds them).
    """
    from .records import iter_file_records

    lf = unit.file
    stats = FileStats(lf.source, lf.host, lf.role)
    match = _X["match"]
    kept: list[_Shipped] = []
    first: str | None = None
    last: str | None = None
    for rec in iter_file_records(lf, _X["patterns"], stats, start=unit.start, length=unit.length,
                                 first_line=unit.first_line, timeshift=_X["timeshift"],
                                 encoding=_X["encoding"]):
        ts = rec.timestamp
        if ts is not None:
            if first is None or ts < first:
                first = ts
            if last is None or ts > last:
                last = ts
        evs = match(rec)
        if evs:
            if len(rec.text) > _SLIM_ABOVE:
                rec, evs = slim(rec, evs)
            kept.append((_as_tuple(rec), [_as_tuple(e) for e in evs], first, last))
        elif is_trace_candidate(rec):
            kept.append((_as_tuple(rec), [], first, last))
    return unit.index, stats, kept, first, last


def _analyze_parallel(c: _Correlator, files: list[LogFile], pats: Patterns, jobs: int,
                      timeshift: TimeShift | None,
                      encoding: str) -> Analysis:
    import multiprocessing as mp
    import os

    units = plan_units(files, pats, jobs)
    per_file: dict[str, FileStats] = {}
    for u in units:
        if u.file.source not in per_file:
            per_file[u.file.source] = FileStats(u.file.source, u.file.host, u.file.role)
            c.a.files.append(per_file[u.file.source])
    tz = timeshift.zones if timeshift is not None else None
    ctx = mp.get_context("fork") if hasattr(os, "fork") else mp.get_context()
    with ctx.Pool(jobs, initializer=_init_extract, initargs=(pats, tz, encoding)) as pool:

        def agent_events() -> Iterator[Event]:
            for idx, st, kept, first, last in pool.imap(extract_unit, units, chunksize=1):
                lf = units[idx].file
                per_file[lf.source].add(st)
                for rt, ets, a, b in kept:
                    for ev in c.feed_extracted(Record(*rt), [Event(*et) for et in ets], a, b):
                        if ev.category == "agent":
                            yield ev
                c.merge_span(lf.source, lf.host, lf.role, first, last)

        for trip in iter_command_trips(agent_events(), linger=TRIP_LINGER):
            c.trip(trip)
    return _finish(c)
