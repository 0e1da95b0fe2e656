"""Incident grep: whole records, merged in time order across files and hosts, with links.

``iter_grep`` reads every input as records (a stack trace is never cut), merges the files
in time order with a k-way ``heapq.merge`` (memory stays bounded: one record per stream),
keeps the records that match a regex and/or id selectors, and optionally:

* ``follow``: adds the records linked to the matches through CloudStack ids, to a fixpoint:
  a VM's jobs → the jobs' records (``job-61/job-62`` links both) → their agent commands
  (``Seq h-n``, MS and agent side) → the agent handler thread between ``Request:Seq`` and
  its answer (this is what pulls in the agent's ``Exception ``/``Caught: `` traces, which
  carry no Seq; ref §3.4) → the logids found there (4.7+) and the CallContext ``ctx-`` ids
  (4.3+; the only link of a 4.3/4.4 job executor's records) → their jobs … Two passes: the
  first builds a union-find over ids only (no text), the second streams and emits.
* ``context``: N records before/after each match on the same file and thread.

Example::

    from logparse.grep import GrepQuery, iter_grep

    q = GrepQuery(vms=("i-2-5-VM",))
    for hit in iter_grep(["bundle/"], q, follow=True):
        print(hit.link, hit.record.location, hit.record.message)
"""

from __future__ import annotations

import heapq
import re
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import regex

from .errors import LogparseError
from .models import FileStats, Record
from .patterns import Patterns, load_patterns
from .pipeline import RecordFilter
from .records import LEVEL_RANK, StoreFilter, TimeShift, iter_records
from .sources import LogFile, as_logfiles

#: Why a record is in the output, in priority order (a record gets the first that applies).
LINK_KINDS = ("match", "vm", "job", "seq", "thread", "logid", "ctx", "context")

#: Default per-record time limit of a user regex, in seconds.
DEFAULT_TIMEOUT = 1.0

#: How many records (all files) a record may wait in the output buffer to become the
#: "before" context of a later match on its thread. Bounds memory with ``context > 0``.
CONTEXT_LOOKAHEAD = 5000

_SEQ_ARG = re.compile(r"(?:SeqA? )?(\d+-(?:-)?\d+):?")
_ROTATION = re.compile(r"(?:\.(?:\d{4}-\d{2}-\d{2}|\d+))?(?:\.(?:gz|bz2|xz))?$")


class GrepError(LogparseError):
    """A grep pattern or selector is invalid, or the pattern ran past its time limit."""


@dataclass(frozen=True, slots=True)
class GrepQuery:
    """What to look for.

    ``pattern`` is a regex (``regex`` module, ``MULTILINE``: ``^``/``$`` match at every line
    of a record) searched in the whole record text; ``""`` or ``"."`` match every record.
    Selectors of one kind are ORed (``vms=("a", "b")``), kinds are ANDed with each other
    and with the pattern.
    """

    pattern: str = ""
    ignore_case: bool = False
    fixed_strings: bool = False
    vms: tuple[str, ...] = ()
    jobs: tuple[int, ...] = ()
    logids: tuple[str, ...] = ()
    seqs: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT


@dataclass(slots=True)
class GrepHit:
    """One output record: the record, why it is included, and its sort timestamp.

    ``timestamp`` is the record's own, or for a record without one (orphan lines) the
    timestamp of the record before it in the same file (``None`` at the top of a file).
    """

    record: Record
    link: str
    timestamp: str | None


@dataclass(slots=True)
class GrepStats:
    """Counts filled in while ``iter_grep`` runs (read them after it is exhausted)."""

    files: list[FileStats] = field(default_factory=list)
    records: int = 0  # records read (one pass)
    added: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LINK_KINDS, 0))
    linked_ids: int = 0  # ids in the followed closure
    out_of_order: int = 0  # records read earlier than the one read before them in their stream
    first_out_of_order: str | None = None

    @property
    def matched(self) -> int:
        return self.added["match"]

    @property
    def emitted(self) -> int:
        return sum(self.added.values())


# -- argument parsing helpers (shared with the CLI) -------------------------------------------
def parse_job(value: str) -> int:
    """``123`` or ``job-123`` → 123."""
    v = value.strip().removeprefix("job-")
    if not v.isdigit():
        raise GrepError(f"--job: expected a job id like 123 or job-123, got {value!r}")
    return int(v)


def parse_seq(value: str) -> str:
    """``3-1493630987``, ``Seq 3-1493630987:`` → ``3-1493630987``."""
    m = _SEQ_ARG.fullmatch(value.strip())
    if m is None:
        raise GrepError(f"--seq: expected HOST-SEQ like 3-1493630987, got {value!r}")
    return m.group(1)


def parse_logid(value: str) -> str:
    """``fc577e10`` or ``logid:fc577e10`` → ``fc577e10``."""
    v = value.strip().removeprefix("(").removesuffix(")").removeprefix("logid:").lower()
    if not v or not all(c in "0123456789abcdef" for c in v):
        raise GrepError(f"--logid: expected hex like fc577e10, got {value!r}")
    return v


# -- matching ---------------------------------------------------------------------------------
def required_literal(pattern: str) -> tuple[str, bool] | None:
    """Return the longest literal every match of ``pattern`` must contain, and whether the
    pattern turns on case-insensitivity inline (``(?i)``); None when there is none.

    Used as a cheap ``in`` prefilter before the regex. The pattern is read with the stdlib
    parser: anything it rejects or reads differently from ``regex`` (``\\p{…}``, POSIX
    classes, fuzzy ``{e<=1}``, ``(?V1)``) yields None, which only costs speed.
    """
    try:
        from re import _parser as sre  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - Python < 3.11
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            parsed = sre.parse(pattern)
    except Exception:
        return None
    lit_op, sub_op, at_op = sre.LITERAL, sre.SUBPATTERN, sre.AT
    runs: list[str] = []
    unsafe = False

    def walk(seq: Iterable[tuple[object, object]], cur: list[str]) -> list[str]:
        nonlocal unsafe
        for op, arg in seq:
            if op is lit_op:
                if arg == ord("{"):  # maybe a regex-module fuzzy constraint: don't trust
                    unsafe = True
                cur.append(chr(arg))  # type: ignore[arg-type]
            elif op is at_op:
                continue  # zero-width: ^ $ \b do not break a literal run
            elif op is sub_op and arg[1] == 0 and arg[2] == 0:  # type: ignore[index]
                cur = walk(arg[3], cur)  # type: ignore[index]
            else:
                if cur:
                    runs.append("".join(cur))
                cur = []
        return cur

    last = walk(parsed, [])
    if last:
        runs.append("".join(last))
    if unsafe or not runs:
        return None
    best = max(runs, key=len)
    if len(best) < 2:
        return None
    return best, bool(parsed.state.flags & sre.SRE_FLAG_IGNORECASE)


class Matcher:
    """Decide whether a record matches a ``GrepQuery`` (selectors first, then the text).

    :raises GrepError: invalid regex (one line, with the position); ``search`` raises it
        too when the regex exceeds ``query.timeout`` on one record.
    """

    def __init__(self, query: GrepQuery):
        self.query = query
        self.vms = frozenset(query.vms)
        self.jobs = frozenset(query.jobs)
        self.logids = frozenset(query.logids)
        self.seqs = frozenset(query.seqs)
        pat = query.pattern
        self.match_all = pat == "" or (pat == "." and not query.fixed_strings)
        self.has_selectors = bool(self.vms or self.jobs or self.logids or self.seqs)
        self._needle: str | None = None
        self._fold = False
        self._regex: regex.Pattern[str] | None = None
        if self.match_all:
            return
        if query.fixed_strings:
            self._fold = query.ignore_case
            self._needle = pat.casefold() if self._fold else pat
            return
        flags = regex.MULTILINE | (regex.IGNORECASE if query.ignore_case else 0)
        try:
            self._regex = regex.compile(pat, flags)
        except (regex.error, ValueError, OverflowError) as e:
            raise GrepError(f"invalid regular expression {pat!r}: {e}") from e
        lit = required_literal(pat)
        if lit is not None:
            needle, inline_i = lit
            fold = query.ignore_case or inline_i
            if not fold:
                self._needle = needle
            elif needle.isascii():
                # casefold() containment is implied by a case-insensitive match of an
                # ASCII literal (Kelvin sign and long s fold to k and s), so this never
                # drops a real match.
                self._needle, self._fold = needle.casefold(), True

    @property
    def store_filter(self) -> StoreFilter | None:
        """The literal every match contains, as a prefilter for parsed stores (or None)."""
        if self.match_all or self._needle is None:
            return None
        return StoreFilter(self._needle, self._fold)

    def text_matches(self, text: str, rec: Record | None = None) -> bool:
        """True when the pattern occurs in ``text`` (``rec`` names the record in errors)."""
        if self.match_all:
            return True
        needle = self._needle
        if needle is not None and needle not in (text.casefold() if self._fold else text):
            return False
        rx = self._regex
        if rx is None:
            return True  # fixed string: the `in` test was the whole match
        try:
            return rx.search(text, timeout=self.query.timeout) is not None
        except TimeoutError as e:
            at = f" on the record at {rec.location}" if rec is not None else ""
            raise GrepError(
                f"pattern {self.query.pattern!r} ran longer than {self.query.timeout:g} s{at};"
                " it probably backtracks catastrophically (nested quantifiers like (a+)+)."
                " Simplify it, or use --fixed-strings"
            ) from e

    def __call__(self, rec: Record) -> bool:
        if self.has_selectors:
            if self.vms and not names_vm(rec, self.vms):
                return False
            if self.jobs and not any(j in self.jobs for j in rec.jobs):
                return False
            if self.logids and rec.logid not in self.logids:
                return False
            if self.seqs and rec.seq not in self.seqs:
                return False
        return self.text_matches(rec.text, rec)


#: A record naming more VMs than this (stats requests, ping state reports, HA scans) is
#: not about any one of them: ``--vm`` skips it. Otherwise every 30-minute
#: `GetVmStatsCommand` round trip of the host would be part of a VM's story.
MAX_VMS_PER_RECORD = 3


def names_vm(rec: Record, vms: frozenset[str]) -> bool:
    """True when ``rec`` is about one of ``vms`` (names it, and not among many others)."""
    return bool(rec.vms) and len(rec.vms) <= MAX_VMS_PER_RECORD and any(v in vms for v in rec.vms)


# -- time merge -------------------------------------------------------------------------------
def _stream_key(lf: LogFile) -> tuple[str, str, str, str]:
    """Rotated files of one log (``x.log.2013-08-05.gz``, ``x.log.1``, ``x.log``) share a key."""
    if lf.path is None:
        return (lf.host, lf.role, "", lf.source)
    return (lf.host, lf.role, str(lf.path.parent), _ROTATION.sub("", lf.path.name))


def group_streams(files: Sequence[LogFile]) -> list[list[LogFile]]:
    """Group inputs into time-ordered streams: the rotated files of one log are chained
    (``discover`` lists them oldest first), so only one file per log is open at a time."""
    groups: dict[tuple[str, str, str, str], list[LogFile]] = {}
    for lf in files:
        groups.setdefault(_stream_key(lf), []).append(lf)
    return list(groups.values())


def _iter_stream(
    index: int,
    files: list[LogFile],
    patterns: Patterns,
    timeshift: TimeShift | None,
    encoding: str,
    stats: GrepStats,
    file_stats: list[FileStats] | None,
    prefilter: StoreFilter | None = None,
) -> Iterator[tuple[str, int, int, Record]]:
    last = ""
    n = 0
    for lf in files:
        for rec in iter_records([lf], patterns, timeshift=timeshift, stats=file_stats, encoding=encoding,
                                prefilter=prefilter):
            ts = rec.timestamp
            if ts is None:
                ts = last
            elif ts < last:
                stats.out_of_order += 1
                if stats.first_out_of_order is None:
                    stats.first_out_of_order = rec.location
                ts = last  # keep the stream sorted for the merge: it follows its file here
            last = ts
            n += 1
            yield ts, index, n, rec


def iter_merged(
    files: Sequence[LogFile],
    patterns: Patterns,
    *,
    timeshift: TimeShift | None = None,
    encoding: str = "utf-8",
    stats: GrepStats | None = None,
    file_stats: list[FileStats] | None = None,
    prefilter: StoreFilter | None = None,
) -> Iterator[tuple[str, Record]]:
    """Yield ``(sort_timestamp, record)`` of all inputs merged in time order.

    ``prefilter`` skips the records that lack its literal (see ``iter_file_records``).

    Stable: ties keep input order (stream order, then position). A record without a
    timestamp sorts with the record before it in its file (``""`` at the top of a file).
    A record whose timestamp goes backwards in its file stays in file order there and is
    counted in ``stats.out_of_order``.
    """
    st = stats if stats is not None else GrepStats()
    streams = [
        _iter_stream(i, g, patterns, timeshift, encoding, st, file_stats, prefilter)
        for i, g in enumerate(group_streams(files))
    ]
    for ts, _i, _n, rec in heapq.merge(*streams):
        yield ts, rec


# -- follow: id closure -----------------------------------------------------------------------
def _ids(rec: Record) -> list[str]:
    out = [f"j{j}" for j in rec.jobs]
    if rec.seq is not None:
        out.append("s" + rec.seq)
    if rec.logid:
        out.append("l" + rec.logid)
    # CallContext ids (4.3+, ref §1.7): one per API request or job run. In 4.3/4.4 a job
    # executor's records carry only `ctx-…` (no job NDC, no logid), so ctx is the link.
    out.extend("c" + c for c in rec.ctx)
    return out


class _Windows:
    """Track the agent handler thread windows: ``Request:Seq h-n`` … answer ``Seq h-n: { Ans:``
    on one host + thread (ref §3.2). ``step`` returns the seq whose window holds a record."""

    __slots__ = ("open",)

    def __init__(self) -> None:
        self.open: dict[str, dict[str, str]] = {}  # host -> thread -> seq

    def step(self, rec: Record) -> str | None:
        th = rec.thread
        if th is None:
            return None
        seq = rec.seq
        if seq is not None and rec.message.startswith("Request:Seq"):
            # A new request also closes a window whose answer was never logged.
            self.open.setdefault(rec.host, {})[th] = seq
            return seq
        threads = self.open.get(rec.host)  # one lookup for hosts without agent windows
        if not threads:
            return None
        cur = threads.get(th)
        if cur is not None and seq == cur and "{ Ans:" in rec.message:
            del threads[th]
        return cur


class _UnionFind:
    __slots__ = ("parent",)

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        parent = self.parent
        root = x
        while True:
            p = parent.get(root)
            if p is None or p == root:
                break
            root = p
        while x != root:  # path compression
            nxt = parent[x]
            parent[x] = root
            x = nxt
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent.setdefault(ra, ra)
            self.parent.setdefault(rb, rb)
            self.parent[rb] = ra


def _passes(rfilter: RecordFilter | None) -> Callable[[str, Record], bool] | None:
    if rfilter is None or not rfilter.active:
        return None
    since, until = rfilter.since, rfilter.until
    minimum = LEVEL_RANK[rfilter.level] if rfilter.level else None

    def ok(ts: str, rec: Record) -> bool:
        if since is not None and (not ts or ts < since):
            return False
        if until is not None and ts and ts >= until:
            return False
        if minimum is not None:
            lv = rec.level
            if lv is None or LEVEL_RANK.get(lv, 0) < minimum:
                return False
        return True

    return ok


def build_links(
    merged: Iterable[tuple[str, Record]],
    matcher: Matcher,
    passes: Callable[[str, Record], bool] | None = None,
) -> set[str]:
    """Pass 1 of ``--follow``: return the closure of ids linked to the matches.

    Keys are ``j<job>``, ``s<seq>``, ``l<logid>``, ``c<ctx>``. Ids met together on one record (or a
    record and the agent command window it lies in) are joined; the closure is every id
    in a component that holds a seed: the ids of a matched record, its window's seq, and
    the jobs and seq of records naming a ``--vm`` VM. Memory is O(distinct ids).
    """
    uf = _UnionFind()
    windows = _Windows()
    seeds: set[str] = set()
    seed_vms = matcher.vms
    for ts, rec in merged:
        ids = _ids(rec) if (rec.jobs or rec.seq is not None or rec.logid or rec.ctx) else []
        w = windows.step(rec)
        if w is not None and rec.seq != w:
            ids.append("s" + w)
        if len(ids) > 1:
            first = ids[0]
            for other in ids[1:]:
                uf.union(first, other)
        if not ids:
            continue
        if seed_vms and names_vm(rec, seed_vms):
            seeds.update(i for i in ids if i[0] in "jsc")
        if (passes is None or passes(ts, rec)) and matcher(rec):
            seeds.update(ids)
    roots = {uf.find(s) for s in seeds}
    linked = set(seeds)
    for k in uf.parent:
        if uf.find(k) in roots:
            linked.add(k)
    return linked


def _follow_link(rec: Record, window: str | None, linked: set[str], seed_vms: frozenset[str]) -> str | None:
    if seed_vms and names_vm(rec, seed_vms):
        return "vm"
    for j in rec.jobs:
        if f"j{j}" in linked:
            return "job"
    if rec.seq is not None and "s" + rec.seq in linked:
        return "seq"
    if window is not None and "s" + window in linked:
        return "thread"
    if rec.logid and "l" + rec.logid in linked:
        return "logid"
    for c in rec.ctx:
        if "c" + c in linked:
            return "ctx"
    return None


# -- context ----------------------------------------------------------------------------------
class _Entry:
    __slots__ = ("link", "live", "rec", "ts")

    def __init__(self, rec: Record, ts: str, link: str | None):
        self.rec = rec
        self.ts = ts
        self.link = link
        self.live = True  # may still become "before" context of a later match


def _with_context(
    items: Iterable[tuple[str, Record, str | None]], n: int
) -> Iterator[tuple[str, Record, str]]:
    """Add ``context`` links: ``n`` records before/after each match on the same file+thread.

    Output stays in merged order: undecided records wait in a buffer of at most
    ``CONTEXT_LOOKAHEAD`` records; one that leaves it (or falls out of its thread's last
    ``n``) without being claimed is dropped.
    """
    buf: deque[_Entry] = deque()
    before: dict[tuple[str, str | None], deque[_Entry]] = {}
    after: dict[tuple[str, str | None], int] = {}
    for ts, rec, link in items:
        key = (rec.source, rec.thread)
        e = _Entry(rec, ts, link)
        if link == "match":
            dq = before.pop(key, None)
            if dq:
                for old in dq:
                    if old.link is None and old.live:
                        old.link = "context"
            after[key] = n
        else:
            left = after.get(key, 0)
            if left:
                if left == 1:
                    del after[key]
                else:
                    after[key] = left - 1
                if e.link is None:
                    e.link = "context"
            dq = before.get(key)
            if dq is None:
                dq = before[key] = deque()
            elif len(dq) >= n:
                dq.popleft().live = False
            dq.append(e)
        buf.append(e)
        while buf:
            head = buf[0]
            if head.link is not None:
                buf.popleft()
                yield head.ts, head.rec, head.link
            elif not head.live:
                buf.popleft()
            elif len(buf) > CONTEXT_LOOKAHEAD:
                head.live = False
                buf.popleft()
            else:
                break
    for e in buf:
        if e.link is not None:
            yield e.ts, e.rec, e.link


# -- the API ----------------------------------------------------------------------------------
def iter_grep(
    paths: Iterable[str | Path] | Iterable[LogFile],
    query: GrepQuery,
    patterns: Patterns | None = None,
    *,
    hosts: dict[str, str] | None = None,
    timeshift: TimeShift | None = None,
    rfilter: RecordFilter | None = None,
    follow: bool = False,
    context: int = 0,
    encoding: str = "utf-8",
    stats: GrepStats | None = None,
) -> Iterator[GrepHit]:
    """Yield the matching (and, with ``follow``/``context``, linked) records in time order.

    :param paths: files, directories, or discovered ``LogFile``\\ s (any input
        ``iter_records`` reads). ``follow`` reads them twice, so stdin must be spooled first.
    :param query: pattern and id selectors.
    :param rfilter: ``--since``/``--until``/``--level``: applies to what is matched and
        shown; links are followed through every record regardless.
    :param follow: add records linked through job / Seq / agent thread window / logid.
    :param context: records before/after each match on the same file and thread.
    :param stats: filled in with per-link counts and file accounting.
    :raises GrepError: bad pattern or selector, pattern timeout, ``follow`` on stdin.
    :raises InputError: a path is missing or unreadable.
    """
    matcher = Matcher(query)  # compile errors surface before any file is opened
    pats = patterns or load_patterns()
    files = as_logfiles(paths, hosts)
    st = stats if stats is not None else GrepStats()
    passes = _passes(rfilter)
    follow = follow and not (matcher.match_all and not matcher.has_selectors)
    if follow and any(lf.path is None for lf in files):
        raise GrepError("--follow reads the inputs twice and stdin can be read only once: save it to a file")

    linked: set[str] = set()
    if follow:
        merged = iter_merged(files, pats, timeshift=timeshift, encoding=encoding)
        linked = build_links(merged, matcher, passes)
        st.linked_ids = len(linked)

    def decide() -> Iterator[tuple[str, Record, str | None]]:
        windows = _Windows()
        seed_vms = matcher.vms
        # Without links or context, records that lack the pattern's literal are never
        # shown: they are not built (a parsed store drops them inside Arrow).
        pre = matcher.store_filter if not follow and context <= 0 else None
        for ts, rec in iter_merged(files, pats, timeshift=timeshift, encoding=encoding,
                                   stats=st, file_stats=st.files, prefilter=pre):
            st.records += 1
            w = windows.step(rec) if follow else None
            if passes is not None and not passes(ts, rec):
                continue
            if matcher(rec):
                yield ts, rec, "match"
            elif follow:
                yield ts, rec, _follow_link(rec, w, linked, seed_vms)
            else:
                yield ts, rec, None

    if context > 0:
        out: Iterable[tuple[str, Record, str | None]] = _with_context(decide(), context)
    else:
        out = decide()
    added = st.added
    for ts, rec, link in out:
        if link is None:
            continue
        added[link] += 1
        yield GrepHit(rec, link, ts or None)
    # Records the literal prefilter never built were read all the same.
    st.records += sum(f.skipped for f in st.files)


def format_summary(stats: GrepStats) -> str:
    """One line for stderr: how many records each link kind added."""
    parts = ", ".join(f"{k} {stats.added[k]:,}" for k in LINK_KINDS[1:])
    return (
        f"grep: {stats.matched:,} matched; added {parts}"
        f" ({stats.linked_ids:,} linked ids, {stats.records:,} records read)"
    )
