"""Pair agent command round trips by sequence number (MS send → agent → answer).

A trip is keyed by ``seq`` (``"3-1493630987"``: agent id and sequence, the same string on
the management server and on the agent, ref §2.1):

* MS ``Sending`` / ``Executing:`` (and ``Waiting for Seq N Scheduling:``) opens it;
* the agent's ``Request:Seq …`` marks the receipt;
* the agent's answer (``Seq h-n:  { Ans: …``) and the MS ``Processing:`` / ``Received:`` /
  ``Received after timeout:`` lines answer it.

``result`` and ``details`` (first line) come from the answer payload
(``"result":false,"details":"java.lang.NullPointerException\\n\\tat …"``): all answers of
the array must succeed for ``result`` to be True, ``details`` is the first failing
answer's. Only failing answers are JSON-parsed (a success needs no parse), so the
pairing stays cheap on big logs.

Agent-originated requests (``SeqA h-n: Processing Seq …``: pings, startup) are never
trips: they are answered on another path and must not count as unanswered.

**Memory.** Open trips are kept until answered. An answered trip lingers in a bounded
FIFO (``linger`` trips) so that late evidence for it — the MS ``Received:`` after the
``Processing:``, agent lines read from another file — still attaches; it is emitted when
it leaves the FIFO. At the end, what remains is emitted (unanswered trips with
``answered=False``), oldest first. Events in time order (one file, or files merged by
time) pair completely; for files read one after the other, pass ``linger=None`` (keep
everything until the end) so the agent file's lines find the MS file's trips.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .models import Event, Record
from .payload import Transport, parse_payload, parse_transport, short_class

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COMMAND_COLUMNS", "CommandTrip", "commands_frame", "iter_command_trips"]

#: Output columns of ``commands_frame`` (= ``CommandTrip`` fields, in order).
COMMAND_COLUMNS = (
    "seq",
    "command",
    "vm_name",
    "sent_at",
    "sent_evidence",
    "agent_received_at",
    "agent_evidence",
    "answered_at",
    "answer_evidence",
    "answer_class",
    "result",
    "details",
    "latency_ms",
    "answered",
    "host_id",
)

_MS_SEND = ("Sending", "Executing:")
_EMITTED_MEMORY = 4096
_MS_ANSWER = ("Processing:", "Received:", "Received after timeout:")


@dataclass(frozen=True, slots=True)
class CommandTrip:
    """One command round trip, with ``source:line`` evidence for each side.

    ``answered_at`` / ``answer_evidence`` are the management server's first answer line when
    present, else the agent's answer line. ``latency_ms`` uses one clock when it can:
    MS send → MS answer, else agent receipt → agent answer, else send → any answer.
    """

    seq: str
    command: str | None
    vm_name: str | None
    sent_at: str | None
    sent_evidence: str | None
    agent_received_at: str | None
    agent_evidence: str | None
    answered_at: str | None
    answer_evidence: str | None
    answer_class: str | None
    result: bool | None
    details: str | None
    latency_ms: int | None
    answered: bool
    host_id: int | None = None  # the agent (host) id of ``Seq h-n``

    def as_dict(self) -> dict[str, Any]:
        """The trip as a dict in ``COMMAND_COLUMNS`` order."""
        return asdict(self)


class _Trip:
    __slots__ = (
        "agent_answer_at",
        "agent_answer_evidence",
        "agent_evidence",
        "agent_received_at",
        "answer_class",
        "command",
        "details",
        "host_id",
        "ms_answer_at",
        "ms_answer_evidence",
        "queued",
        "result",
        "result_known",
        "sent_at",
        "sent_evidence",
        "seq",
        "vm_name",
    )

    def __init__(self, seq: str, host_id: int | None):
        self.seq = seq
        self.host_id = host_id
        self.command: str | None = None
        self.vm_name: str | None = None
        self.sent_at: str | None = None
        self.sent_evidence: str | None = None
        self.queued = False
        self.agent_received_at: str | None = None
        self.agent_evidence: str | None = None
        self.ms_answer_at: str | None = None
        self.ms_answer_evidence: str | None = None
        self.agent_answer_at: str | None = None
        self.agent_answer_evidence: str | None = None
        self.answer_class: str | None = None
        self.result: bool | None = None
        self.details: str | None = None
        self.result_known = False  # result read from a JSON answer (not a class list)

    @property
    def answered(self) -> bool:
        return self.ms_answer_evidence is not None or self.agent_answer_evidence is not None

    def sort_key(self) -> str:
        return self.sent_at or self.agent_received_at or self.ms_answer_at or self.agent_answer_at or ""

    def freeze(self) -> CommandTrip:
        answered_at: str | None
        answer_ev: str | None
        if self.ms_answer_evidence is not None:
            answered_at, answer_ev = self.ms_answer_at, self.ms_answer_evidence
        else:
            answered_at, answer_ev = self.agent_answer_at, self.agent_answer_evidence
        latency = None
        if self.sent_at and self.ms_answer_at:
            latency = _ms_between(self.sent_at, self.ms_answer_at)
        elif self.agent_received_at and self.agent_answer_at:
            latency = _ms_between(self.agent_received_at, self.agent_answer_at)
        elif self.sent_at and answered_at:
            latency = _ms_between(self.sent_at, answered_at)
        return CommandTrip(
            seq=self.seq,
            host_id=self.host_id,
            command=self.command,
            vm_name=self.vm_name,
            sent_at=self.sent_at,
            sent_evidence=self.sent_evidence,
            agent_received_at=self.agent_received_at,
            agent_evidence=self.agent_evidence,
            answered_at=answered_at,
            answer_evidence=answer_ev,
            answer_class=self.answer_class,
            result=self.result,
            details=self.details,
            latency_ms=latency,
            answered=self.answered,
        )


def _ms_between(a: str, b: str) -> int | None:
    try:
        da = datetime.fromisoformat(a)
        db = datetime.fromisoformat(b)
    except ValueError:
        return None
    if (da.tzinfo is None) != (db.tzinfo is None):
        return None
    return round((db - da).total_seconds() * 1000)


def _first_line(s: Any) -> str | None:
    if not isinstance(s, str):
        return None
    return s.split("\n", 1)[0].strip() or None


def _answer_outcome(t: Transport) -> tuple[str | None, bool | None, str | None, bool]:
    """(answer class, result, details first line, result read from JSON)."""
    cls = t.first_class
    if not t.is_json:
        return cls, None, None, False
    c = t.content
    failed = '"result":false' in c or '"result":"false"' in c
    if not failed:
        ok = '"result":true' in c or '"result":"true"' in c
        return cls, (True if ok else None), None, ok
    payload = parse_payload(c)
    result: bool | None = None
    details: str | None = None
    for _key, obj in payload:
        r = obj.get("result")
        if r is False:
            result = False
            if details is None:
                details = _first_line(obj.get("details"))
        elif r is True and result is None:
            result = True
    return cls, result, details, result is not None


def _vm_from(item: Event | Record, t: Transport) -> str | None:
    if item.vms:
        return item.vms[0]
    c = t.content
    for key in ('"vmName":"', '"name":"'):
        i = c.find(key)
        if i >= 0:
            j = c.find('"', i + len(key))
            if j > 0:
                return c[i + len(key): j]
    return None


def _classify(item: Event | Record, t: Transport) -> str | None:
    """``send`` | ``queued`` | ``agent_request`` | ``agent_answer`` | ``ms_answer`` | None."""
    if t.seqa is not None:
        return None  # agent-originated (ping/startup): answered on another path
    if t.kind == "Cmd":
        if t.request:
            return "agent_request"
        if t.prefix in _MS_SEND:
            return "send"
        if t.prefix.startswith("Waiting for Seq"):
            return "queued"
        return None
    if t.prefix in _MS_ANSWER:
        return "ms_answer"
    if t.prefix == "":
        return "agent_answer" if item.role == "agent" else "ms_answer"
    return None


def iter_command_trips(
    items: Iterable[Event] | Iterable[Record],
    *,
    linger: int | None = 50_000,
    max_open: int | None = 200_000,
) -> Iterator[CommandTrip]:
    """Yield agent command round trips from events (or records) in input order.

    :param items: events from :func:`logparse.events.iter_events` (only category ``agent``
        is read), or records (any record whose message is a transport line).
    :param linger: how many answered trips wait for late evidence before being emitted;
        ``None`` keeps them all until the end (files read one after the other).
    :param max_open: cap on unanswered trips; the oldest is emitted unanswered beyond it.

    Example::

        events = iter_events(iter_records(paths, patterns), patterns)
        failed = [t for t in iter_command_trips(events) if t.result is False]
    """
    open_: OrderedDict[str, _Trip] = OrderedDict()
    closed: OrderedDict[str, _Trip] = OrderedDict()
    # Seqs of answered trips already emitted: a late answer line for one of them (the MS
    # `Received:` after `Processing:`) is a duplicate, not a new trip.
    emitted: OrderedDict[str, None] = OrderedDict()
    for item in items:
        if isinstance(item, Event) and item.category != "agent":
            continue
        msg = item.message
        if "Seq " not in msg[:300]:
            continue
        t = parse_transport(msg)
        if t is None:
            continue
        kind = _classify(item, t)
        if kind is None:
            continue
        seq = t.seq
        where = f"{item.source}:{item.line}"
        ts = item.timestamp
        trip = open_.get(seq)
        if trip is None and kind in ("ms_answer", "agent_answer") and seq in emitted and seq not in closed:
            continue
        if trip is None:
            trip = closed.get(seq)
            if trip is not None and kind in ("send", "queued") and trip.sent_evidence is not None:
                # The same seq sent again (a new run of the MS): a new trip.
                del closed[seq]
                yield trip.freeze()
                trip = None
        if trip is None:
            trip = _Trip(seq, t.host_id)
            open_[seq] = trip
            if max_open is not None and len(open_) > max_open:
                _, oldest = open_.popitem(last=False)
                yield oldest.freeze()
        if trip.command is None:
            cls = t.first_class
            if cls is not None and t.kind == "Cmd":
                trip.command = short_class(cls)
        if trip.vm_name is None and t.kind == "Cmd":
            trip.vm_name = _vm_from(item, t)
        if kind in ("send", "queued"):
            if trip.sent_at is None or (trip.queued and kind == "send"):
                trip.sent_at, trip.sent_evidence = ts, where
                trip.queued = kind == "queued"
        elif kind == "agent_request":
            if trip.agent_evidence is None:
                trip.agent_received_at, trip.agent_evidence = ts, where
        else:
            cls, result, details, known = _answer_outcome(t)
            if trip.answer_class is None and cls is not None:
                trip.answer_class = short_class(cls)
            if known and not trip.result_known:
                trip.result, trip.details, trip.result_known = result, details, True
            elif trip.result is None and result is not None:
                trip.result = result
            if kind == "ms_answer":
                if trip.ms_answer_evidence is None:
                    trip.ms_answer_at, trip.ms_answer_evidence = ts, where
            elif trip.agent_answer_evidence is None:
                trip.agent_answer_at, trip.agent_answer_evidence = ts, where
            if seq in open_:
                del open_[seq]
                closed[seq] = trip
                if linger is not None and len(closed) > linger:
                    done_seq, done = closed.popitem(last=False)
                    emitted[done_seq] = None
                    if len(emitted) > _EMITTED_MEMORY:
                        emitted.popitem(last=False)
                    yield done.freeze()
    rest = [*closed.values(), *open_.values()]
    rest.sort(key=_Trip.sort_key)
    for trip in rest:
        yield trip.freeze()


def commands_frame(trips: Iterable[CommandTrip]) -> pd.DataFrame:
    """Return trips as a DataFrame with ``COMMAND_COLUMNS``."""
    import pandas as pd

    return pd.DataFrame([t.as_dict() for t in trips], columns=list(COMMAND_COLUMNS))
