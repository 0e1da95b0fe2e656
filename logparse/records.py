"""Split physical lines into logical records (lnav-style multiline).

A line matching a header format of the file's role starts a record; every other line is
a continuation of the record before it (stack frames, ``Caused by:``, XML dumps, wrapped
text). Lines before the first header of a file are **orphans**: kept as one record of
kind ``orphan`` and counted, never dropped. Raw agent-runner lines that 2.2/3.0 write
into agent.log through stdout (ref §1.5) are orphans too, not continuations.

This is the hot path over gigabytes: one compiled regex per header line (the last format
that matched is tried first), ``in`` checks before any id regex, and no pandas.
"""

from __future__ import annotations

import gc
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from itertools import chain, compress, count, repeat
from operator import add, contains, itemgetter, not_
from pathlib import Path
from typing import Any

from .models import FileStats, Record
from .patterns import FormatSpec, Patterns, load_patterns
from .sources import LogFile, as_logfiles, iter_line_batches

LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
LEVEL_RANK = {lv: i for i, lv in enumerate(LEVELS)}

# Ids inside the NDC / message (ref §7 "Job / context ids", §2.1 Seq).
CTX_RE = re.compile(r"ctx-[0-9a-f]{8}")
# Instance names (i-<account>-<id>-VM, r-/s-/v-<id>-VM), ref §4.3.
VM_RE = re.compile(r"\b(?:i-\d+-\d+|[rsv]-\d+)-VM\b")
# Anchored variants used after a str.find(): a pattern starting with \b or an
# alternation gets no literal-prefix scan in `re`, so findall over a 1 KB JSON line costs
# ~12 µs; finding the literal first and matching there costs ~1 µs (measured).
_JOB_AT = re.compile(r"job-\s?(\d+)")
_ASYNCJOB_AT = re.compile(r"AsyncJobVO:? \{id:\s?(\d+)")
# First `Seq h-n:` / `SeqA h-n:` not preceded by a letter or digit; `[^\W_]` is exactly
# `str.isalnum`. The lookbehind follows the literal so that `re` scans for `Seq` in C
# (0.27 µs against 0.52 µs per message with the lookbehind first, measured).
_SEQ_FIRST = re.compile(r"Seq(?<![^\W_]Seq)A? (\d+--?\d+):")


# Instance names are found by scanning the *reversed* text for the literal `MV-`: `re`
# then jumps between `-VM` occurrences in C, where a forward pattern has to stop at every
# `i`, `r`, `s` and `v` (3.7 µs against 7.5 µs per 900-character stats line, measured).
# The lookbehind after the literal and the lookahead at the end are the two `\b` of
# VM_RE, reversed.
_VM_REVERSED = re.compile(r"MV-(?<!\wMV-)(?:\d+-\d+-i|\d+-[rsv])(?!\w)")


def find_vms(text: str) -> tuple[str, ...]:
    """Instance names in ``text``, first-seen order, without duplicates (as ``VM_RE``)."""
    found = _VM_REVERSED.findall(text[::-1])
    if len(found) == 1:
        return (found[0][::-1],)
    return tuple(dict.fromkeys([name[::-1] for name in reversed(found)]))


def find_jobs(text: str, jobs: list[int]) -> list[int]:
    """Append the job ids of ``text`` (``job-N``, ``job- N``, ``AsyncJobVO {id:N``) to ``jobs``."""
    pos = 0
    while True:
        i = text.find("job-", pos)
        if i < 0:
            break
        if i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_"):
            m = _JOB_AT.match(text, i)
            if m is not None:
                j = int(m.group(1))
                if j not in jobs:
                    jobs.append(j)
        pos = i + 4
    i = text.find("AsyncJobVO")
    if i >= 0:
        m = _ASYNCJOB_AT.match(text, i)
        if m is not None:
            j = int(m.group(1))
            if j not in jobs:
                jobs.append(j)
    return jobs


def find_seq(text: str) -> str | None:
    """The ``h-n`` of the first ``Seq h-n:`` / ``SeqA h-n:`` in ``text``."""
    m = _SEQ_FIRST.search(text)
    return m[1] if m is not None else None

# Raw lines the 2.2/3.0 agent runner writes to agent.log via stdout (ref §1.5).
RUNNER_PREFIXES = (
    "Agent started.",
    "Agent exited with return code",
    "Restarting agent",
    "Starting agent",
    "Stopping agent",
)
_RUNNER_FIRST = frozenset(p[0] for p in RUNNER_PREFIXES)

_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}

_NULL_NDC = frozenset({"null", "", "[]"})


def _parse_ndc(ndc: str) -> tuple[str | None, tuple[str, ...], tuple[int, ...]]:
    """Normalise an NDC: ``null``/empty/``[]`` → None; extract ctx and job ids."""
    if ndc in _NULL_NDC:
        return None, (), ()
    ctx = tuple(CTX_RE.findall(ndc)) if "ctx-" in ndc else ()
    jobs: tuple[int, ...] = ()
    if "job-" in ndc:
        jobs = (int(ndc[4:]),) if ndc[:4] == "job-" and ndc[4:].isdigit() else tuple(find_jobs(ndc, []))
    return ndc, ctx, jobs


class _NdcCache(dict[str | None, tuple[str | None, tuple[str, ...], tuple[int, ...]]]):
    """NDC → (ndc, ctx ids, job ids), parsed once per distinct NDC (every record of a job
    carries the same ``job-123``); lookups are ``dict`` lookups in C."""

    def __missing__(self, ndc: str | None) -> tuple[str | None, tuple[str, ...], tuple[int, ...]]:
        v = _parse_ndc(ndc) if ndc is not None else (None, (), ())
        self[ndc] = v
        return v


_TS_TABLE = str.maketrans(" ,", "T.")
_GROUPS = re.Match.groups
_ITEM1 = itemgetter(1)
_NL_JOIN = "\n".join
_NOT_HEADER_LEAD = ("", "\t", " ")


def _parsed(regex: re.Pattern[str]) -> tuple[Any, Any] | None:
    """``(parse tree, sre constants)`` of ``regex`` from ``re``'s own parser, or None when
    that internal module is not there (the callers then take the safe, slower path)."""
    try:
        from re import _constants as c  # type: ignore[attr-defined]
        from re import _parser as sre_parse  # type: ignore[attr-defined]
        return sre_parse.parse(regex.pattern, regex.flags), c
    except Exception:
        return None


def _first_char_ok(regex: re.Pattern[str], item_ok: Callable[[Any, Any, Any], bool]) -> bool:
    """True when every first character ``regex`` can consume passes ``item_ok(c, op, av)``
    (``c``: ``re``'s constants; ``op``/``av``: a LITERAL, RANGE or CATEGORY item of the
    parse tree). False whenever the tree leaves any doubt, and for an empty match."""
    parsed = _parsed(regex)
    if parsed is None:
        return False
    tree, c = parsed

    def first_ok(ops: Any) -> bool:
        for op, av in ops:
            if op is c.AT:  # ^ and \b consume nothing
                continue
            if op is c.SUBPATTERN:
                return first_ok(av[-1])
            if op is c.LITERAL:
                return item_ok(c, op, av)
            if op is c.IN:
                return all(item_ok(c, o, a) for o, a in av)
            if op in (c.MAX_REPEAT, c.MIN_REPEAT):
                return av[0] >= 1 and first_ok(av[2])
            if op is c.BRANCH:
                return all(first_ok(b) for b in av[1])
            return False
        return False

    return first_ok(tree)


def _not_tab_or_space(c: Any, op: Any, av: Any) -> bool:
    if op is c.LITERAL:
        return av not in (9, 32)
    if op is c.RANGE:
        return not (av[0] <= 9 <= av[1] or av[0] <= 32 <= av[1])
    if op is c.CATEGORY:
        return av in (c.CATEGORY_DIGIT, c.CATEGORY_WORD)
    return False


def _not_digit(c: Any, op: Any, av: Any) -> bool:
    if op is c.LITERAL:
        return not 48 <= av <= 57
    if op is c.RANGE:
        return av[1] < 48 or av[0] > 57
    return False


@lru_cache(maxsize=256)
def _lead_safe(regex: re.Pattern[str]) -> bool:
    """True when ``regex`` can match neither an empty line nor one starting with a tab or
    a space, so header matches need no per-line check of the first character."""
    return _first_char_ok(regex, _not_tab_or_space)


@lru_cache(maxsize=256)
def _no_digit_lead(regex: re.Pattern[str]) -> bool:
    """True when ``regex`` cannot match a string that starts with an ASCII digit (a log4j
    header line does): False whenever the parse tree leaves any doubt."""
    return _first_char_ok(regex, _not_digit)


@lru_cache(maxsize=256)
def _ts_translatable(regex: re.Pattern[str]) -> bool:
    """True when every string the ``timestamp`` group of ``regex`` can match is 23 characters
    with ` `/`T` at 10, `,`/`.` at 19 and no other space or comma: ``str.translate`` then
    gives exactly the ISO form that slicing gives (0.08 against 0.18 µs per record)."""
    gid = regex.groupindex.get("timestamp")
    parsed = _parsed(regex) if gid is not None else None
    if parsed is None:
        return False
    tree, c = parsed

    def find(ops: Any) -> Any:
        for op, av in ops:
            if op is c.SUBPATTERN:
                if av[0] == gid:
                    return av[-1]
                inner = find(av[-1])
            elif op is c.BRANCH:
                inner = next((x for x in map(find, av[1]) if x is not None), None)
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT):
                inner = find(av[2])
            else:
                continue
            if inner is not None:
                return inner
        return None

    def positions(ops: Any) -> list[tuple[frozenset[str], bool]] | None:
        """Per character position: (explicit characters, digit class); None if not fixed."""
        out: list[tuple[frozenset[str], bool]] = []
        for op, av in ops:
            if op is c.LITERAL:
                out.append((frozenset(chr(av)), False))
            elif op is c.IN:
                chars: set[str] = set()
                digit = False
                for o, a in av:
                    if o is c.LITERAL:
                        chars.add(chr(a))
                    elif o is c.RANGE and a[1] - a[0] < 256:
                        chars.update(map(chr, range(a[0], a[1] + 1)))
                    elif o is c.CATEGORY and a is c.CATEGORY_DIGIT:
                        digit = True
                    else:
                        return None
                out.append((frozenset(chars), digit))
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT) and av[0] == av[1]:
                sub = positions(av[2])
                if sub is None:
                    return None
                out.extend(sub * av[0])
            elif op is c.SUBPATTERN:
                sub = positions(av[-1])
                if sub is None:
                    return None
                out.extend(sub)
            else:
                return None
        return out

    group = find(tree)
    pos = positions(group) if group is not None else None
    if pos is None or len(pos) != 23:
        return False
    for i, (chars, digit) in enumerate(pos):
        if i == 10:
            ok = not digit and chars <= {" ", "T"}
        elif i == 19:
            ok = not digit and chars <= {",", "."}
        else:
            ok = not (chars & {" ", ","})
        if not ok:
            return False
    return True


def _norm_log4j(ts: str) -> str:
    # 2012-03-01 14:02:11,102 / 2024-03-01T10:00:00,123 / 2012-03-01 14:02:12.345
    return f"{ts[:10]}T{ts[11:19]}.{ts[20:23]}"


@dataclass(slots=True)
class _Compiled:
    spec: FormatSpec
    match: Callable[[str], re.Match[str] | None]
    idx: tuple[int, ...]  # group numbers: timestamp, level, logger, thread, ndc, logid, message (0 = absent)
    lead_safe: bool  # cannot match an empty line or one starting with a tab or space
    ts_translatable: bool  # log4j timestamps that `str.translate` turns into ISO


def _compile_formats(specs: Iterable[FormatSpec]) -> list[_Compiled]:
    out = []
    names = ("timestamp", "level", "logger", "thread", "ndc", "logid", "message")
    for s in specs:
        gi = s.regex.groupindex
        out.append(_Compiled(s, s.regex.match, tuple(gi.get(n, 0) for n in names), _lead_safe(s.regex),
                             s.timestamp == "log4j" and _ts_translatable(s.regex)))
    return out


class TimeShift:
    """Convert naive local timestamps of a host to UTC (``--tz``).

    :param zones: ``{"*": "Europe/Madrid"}`` for every host, ``{"kvm01": "UTC"}`` per host.
    """

    def __init__(self, zones: dict[str, str]):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        from .errors import InputError

        self.zones = dict(zones)
        self._zones = {}
        for host, name in zones.items():
            try:
                self._zones[host] = ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError) as e:
                raise InputError(f"--tz: unknown time zone {name!r}") from e

    def for_host(self, host: str) -> Callable[[str], str] | None:
        zone = self._zones.get(host, self._zones.get("*"))
        if zone is None:
            return None

        def convert(ts: str) -> str:
            dt = datetime.fromisoformat(ts).replace(tzinfo=zone).astimezone(UTC)
            return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"

        return convert


class RecordReader:
    """Turn the lines of one file into records. One instance per file (or byte range)."""

    def __init__(
        self,
        lf: LogFile,
        patterns: Patterns,
        stats: FileStats,
        *,
        first_line: int = 1,
        convert_ts: Callable[[str], str] | None = None,
        year_hint: int | None = None,
        prefilter: StoreFilter | None = None,
    ):
        self.lf = lf
        # Records without this literal are not built (``grep``): counted in stats.skipped.
        self._needle = prefilter.needle if prefilter is not None else None
        self._fold = prefilter.fold if prefilter is not None else False
        self.stats = stats
        self.formats = _compile_formats(patterns.formats_for(lf.role))
        self.prefixes = _compile_formats(patterns.prefixes_for(lf.role))
        self.first_line = first_line
        self.convert_ts = convert_ts
        self.year = year_hint
        self._last_month = 0
        self._src = lf.source
        self._host = lf.host
        self._role = lf.role
        self._ndc_cache = _NdcCache()

    # -- header detection ------------------------------------------------------------
    def match(self, line: str) -> tuple[_Compiled, re.Match[str]] | None:
        """Return the format and match when ``line`` is a record header."""
        for cf in self.formats:
            m = cf.match(line)
            if m is not None:
                # Most-recently-used first: a file is nearly always one layout.
                if cf is not self.formats[0]:
                    self.formats.remove(cf)
                    self.formats.insert(0, cf)
                return cf, m
        return None

    def _syslog_ts(self, ts: str) -> str | None:
        if ts[:4].isdigit():  # short-iso: 2013-08-07T14:02:11+0000
            return f"{ts[:10]}T{ts[11:19]}.{ts[20:23] if ts[19:20] == '.' else '000'}"
        mon = _MONTHS.get(ts[:3])
        if mon is None:
            return None
        if self.year is None:
            self.year = _file_year(self.lf)
        if mon < self._last_month and self._last_month == 12:
            self.year += 1
        self._last_month = mon
        day = int(ts[4:6])
        return f"{self.year:04d}-{mon:02d}-{day:02d}T{ts[7:15]}.000"

    # -- the loop ----------------------------------------------------------------------
    def iter_records(self, lines: Iterable[str]) -> Iterator[Record]:
        """Yield the records of ``lines`` (numbered from ``first_line``)."""
        lst = lines if isinstance(lines, list) else list(lines)
        return self.iter_batches((lst,))

    def iter_batches(self, batches: Iterable[list[str]]) -> Iterator[Record]:
        """Yield the records of lines given in batches (lists), numbered from ``first_line``."""
        return chain.from_iterable(self.iter_record_lists(batches))

    def iter_record_lists(self, batches: Iterable[list[str]]) -> Iterator[list[Record]]:
        """Yield the records of each batch of lines as a list (``iter_batches`` flattens them).

        Each batch is split in C-level passes: the header regex is mapped over every line,
        header positions come from ``itertools.compress``, and runs of records between two
        headers are built column by column (``_build_many``). Python-level work per line is
        left only for lines the first format does not match (continuations, other layouts,
        agent-runner lines). A record cut by the batch end stays open into the next batch.
        """
        stats = self.stats
        n0 = self.first_line - 1  # number of the line before the batch
        cur: tuple[_Compiled, re.Match[str], str | None] | None = None
        cur_lines: list[str] = []
        cur_start = 0
        orphan_lines: list[str] = []
        orphan_start = 0
        prefix_mode: _Compiled | None = None
        prefix_checked = False
        for batch in batches:
            if not batch:
                continue
            # Building a batch allocates thousands of objects that cannot form cycles; the
            # cycle collector is paused for that span only (never across a yield): 102 → 121
            # MB/s on agent logs (measured). It is left off if the caller had it off.
            gc_on = gc.isenabled()
            gc.disable()
            out: list[Record] = []
            try:
                if not prefix_checked:
                    for x in batch:
                        if x:
                            prefix_checked = True
                            prefix_mode = self._sniff_prefix(x)
                            break
                pts: list[str | None] | None = None
                if prefix_mode is not None:
                    batch, pts = self._strip_prefix(batch, prefix_mode)
                first = self.formats[0] if self.formats else None
                ms: list[re.Match[str] | None] = (
                    list(map(first.match, batch)) if first is not None else [None] * len(batch)
                )
                if first is not None and not first.lead_safe:
                    for i in compress(count(), ms):
                        if batch[i][:1] in _NOT_HEADER_LEAD:
                            ms[i] = None
                # Lines the first format missed: other layouts, runner lines, continuations.
                other: dict[int, _Compiled] = {}
                runners: list[int] = []
                if not all(ms):
                    for i in compress(count(), map(not_, ms)):
                        line = batch[i]
                        c = line[:1]
                        # Stack frames and indented text (tab, space) are never headers.
                        if not c or c == "\t" or c == " ":
                            continue
                        for cf in self.formats:
                            if cf is first:
                                continue
                            m = cf.match(line)
                            if m is not None:
                                ms[i] = m
                                other[i] = cf
                                # Most-recently-used first: a file is nearly always one layout.
                                self.formats.remove(cf)
                                self.formats.insert(0, cf)
                                break
                        else:
                            if c in _RUNNER_FIRST and line.startswith(RUNNER_PREFIXES):
                                runners.append(i)
                breaks = list(compress(count(), ms))
                if runners:
                    breaks = sorted(breaks + runners)
                size = len(batch)
                stats.records += len(breaks) - len(runners)
                stats.orphans += len(runners)
                head = breaks[0] if breaks else size  # lines before the first break
                if head:
                    lead = batch[:head]
                    if cur is not None:
                        stats.continuation += head
                        cur_lines.extend(lead)
                    else:
                        if not orphan_lines:
                            orphan_start = n0 + 1
                        orphan_lines.extend(lead)
                        stats.orphans += head
                        if stats.first_orphan is None:
                            stats.first_orphan = n0 + 1
                if breaks:
                    if cur is not None:
                        out.append(self._build(cur, cur_lines, cur_start, n0 + head))
                        cur = None
                    elif orphan_lines:
                        out.append(self._orphan(orphan_lines, orphan_start))
                        orphan_lines = []
                    stats.continuation += size - head - len(breaks)
                    special = set(runners).union(other) if pts is None else None
                    if special is not None and not special:
                        if len(breaks) > 1:
                            out.extend(self._build_many(first, batch, ms, breaks, n0))  # type: ignore[arg-type]
                    else:
                        run = -1  # index in breaks where a run of plain headers started
                        for j in range(len(breaks) - 1):
                            a = breaks[j]
                            if special is not None and a not in special:
                                if run < 0:
                                    run = j
                                continue
                            if run >= 0:
                                out.extend(self._build_many(first, batch, ms, breaks[run:j + 1], n0))  # type: ignore[arg-type]
                                run = -1
                            b = breaks[j + 1]
                            if a in runners:
                                out.extend(self._runner(batch, a, b, n0))
                            else:
                                out.append(self._build((other.get(a, first), ms[a], pts[a] if pts else None),  # type: ignore[arg-type]
                                                       batch[a:b], n0 + 1 + a, n0 + b))
                        if run >= 0:
                            out.extend(self._build_many(first, batch, ms, breaks[run:], n0))  # type: ignore[arg-type]
                    last = breaks[-1]
                    if last in runners:
                        out.extend(self._runner(batch, last, last + 1, n0))
                        if last + 1 < size:
                            stats.continuation -= size - last - 1  # lines after a runner line are orphans
                            stats.orphans += size - last - 1
                            orphan_lines = batch[last + 1:]
                            orphan_start = n0 + 2 + last
                    else:
                        cur = (other.get(last, first), ms[last], pts[last] if pts else None)  # type: ignore[assignment]
                        cur_lines = batch[last:]
                        cur_start = n0 + 1 + last
                n0 += size
            finally:
                if gc_on:
                    gc.enable()
            if out:
                yield out
        if cur is not None:
            yield [self._build(cur, cur_lines, cur_start, n0)]
        elif orphan_lines:
            yield [self._orphan(orphan_lines, orphan_start)]

    def _runner(self, batch: list[str], a: int, b: int, n0: int) -> list[Record]:
        """A raw agent-runner line (ref §1.5) at ``a``: its own orphan record, and the lines
        up to the next break ``b`` an orphan record too (they follow no header)."""
        stats = self.stats
        if stats.first_orphan is None:
            stats.first_orphan = n0 + 1 + a
        out = [self._orphan([batch[a]], n0 + 1 + a)]
        if b - a > 1:
            stats.continuation -= b - a - 1
            stats.orphans += b - a - 1
            out.append(self._orphan(batch[a + 1:b], n0 + 2 + a))
        return out

    def _sniff_prefix(self, first: str) -> _Compiled | None:
        for cf in self.prefixes:
            m = cf.match(first)
            if m is not None:
                return cf
        return None

    def _orphan(self, lines: list[str], start: int) -> Record:
        text = "\n".join(lines)
        vms = find_vms(text) if "-VM" in text else ()
        return Record(
            self._src, self._host, self._role, start, start + len(lines) - 1,
            None, None, None, None, None, (), (), None, None, vms, lines[0], text, "orphan",
        )

    def _strip_prefix(self, batch: list[str], prefix: _Compiled) -> tuple[list[str], list[str | None]]:
        """Strip a syslog/journald prefix from each line; return the lines and prefix times."""
        i_ts, i_msg = prefix.idx[0], prefix.idx[6]
        lines: list[str] = []
        pts: list[str | None] = []
        for line in batch:
            pm = prefix.match(line)
            if pm is not None:
                pts.append(pm.group(i_ts) if i_ts else None)
                line = pm.group(i_msg)
            else:
                pts.append(None)
            lines.append(line)
        return lines, pts

    def _build_many(
        self, cf: _Compiled, batch: list[str], ms: list[re.Match[str] | None], breaks: list[int], n0: int,
    ) -> list[Record]:
        """Build the complete records between consecutive ``breaks`` (all headers of ``cf``).

        The same values as ``_build`` record by record, computed column by column: group
        columns by ``zip(*groups)``, ids only on the records whose text holds their literal.
        """
        starts = breaks[:-1]
        ends = breaks[1:]
        k = len(starts)
        if ends[-1] - starts[0] == k:  # no continuation lines: a record is its header line
            texts: list[str] = batch[starts[0]:ends[-1]]
        else:
            texts = list(map(_NL_JOIN, map(batch.__getitem__, map(slice, starts, ends))))
        if self._needle is not None:
            # Only the records holding the literal are built. The last one of the run always
            # is: a record without a timestamp may follow (another layout, an orphan), and
            # grep sorts it by the timestamp of the record before it.
            keep = list(map(contains, map(str.casefold, texts) if self._fold else texts, repeat(self._needle)))
            keep[-1] = True
            if not all(keep):
                starts = list(compress(starts, keep))
                ends = list(compress(ends, keep))
                texts = list(compress(texts, keep))
                self.stats.skipped += k - len(starts)
                k = len(starts)
        cols: list[tuple[Any, ...]] = list(zip(*map(_GROUPS, map(ms.__getitem__, starts)), strict=True))  # type: ignore[arg-type]
        i_ts, i_lv, i_lg, i_th, i_ndc, i_lid, i_msg = cf.idx
        spec = cf.spec
        none = (None,) * k

        def col(i: int) -> tuple[Any, ...]:
            return cols[i - 1] if i else none

        messages: tuple[str, ...] = col(i_msg)
        if None in messages:  # an optional message group that did not take part
            messages = tuple(m or "" for m in messages)
        raw = col(i_ts)
        ts: Sequence[str | None]
        if not i_ts:
            ts = none
        elif cf.ts_translatable and all(raw):
            ts = "\n".join(raw).translate(_TS_TABLE).split("\n")
        else:
            ts = [None] * k
            for j, r in enumerate(raw):
                if r:
                    ts[j] = f"{r[:10]}T{r[11:19]}.{r[20:23]}" if spec.timestamp == "log4j" else self._other_ts(spec, r)
        if self.year is None and i_ts:
            for r in raw:
                if r:
                    if r[:4].isdigit():
                        self.year = int(r[:4])
                    break
        if self.convert_ts is not None:
            conv = self.convert_ts
            ts = [conv(t) if t is not None else None for t in ts]
        levels = col(i_lv)
        if spec.level_map:
            lmap = spec.level_map
            levels = tuple(lmap.get(lv, lv.upper()) if lv is not None else None for lv in levels)
        if i_ndc:
            cache = self._ndc_cache
            info = list(map(cache.__getitem__, cols[i_ndc - 1]))
            if len(cache) > 8192:
                cache.clear()
            ndcs, ctxs, jobs = (list(c) for c in zip(*info, strict=True))
        else:
            ndcs, ctxs, jobs = none, repeat(()), [()] * k  # type: ignore[assignment]
        # `in` over each record in C-level maps: 0.037 s per 60 MB for `-VM`, where one scan
        # of the batch joined into a string (then mapping hits back) took 0.054 s (measured).
        hits = set(compress(count(), map(contains, messages, repeat("job-"))))
        hits.update(compress(count(), map(contains, messages, repeat("AsyncJobVO"))))
        for j in sorted(hits):
            jobs[j] = tuple(find_jobs(messages[j], list(jobs[j])))  # type: ignore[index]
        seq_hits = list(compress(count(), map(contains, messages, repeat("Seq"))))
        seqs: list[str | None]
        if len(seq_hits) == k:  # agent logs: nearly every record is a Seq line
            found = list(map(_SEQ_FIRST.search, messages))
            seqs = (list(map(_ITEM1, found)) if all(found)  # type: ignore[arg-type]
                    else [m[1] if m is not None else None for m in found])
        else:
            seqs = [None] * k
            search = _SEQ_FIRST.search
            for j in seq_hits:
                sm = search(messages[j])
                if sm is not None:
                    seqs[j] = sm[1]
        vms: list[tuple[str, ...]] = [()] * k
        for j in compress(count(), map(contains, texts, repeat("-VM"))):
            vms[j] = find_vms(texts[j])
        base = n0 + 1
        return list(map(
            Record, repeat(self._src), repeat(self._host), repeat(self._role),
            map(add, starts, repeat(base)), map(add, ends, repeat(n0)),
            ts, levels, col(i_lg) if i_lg else repeat(spec.logger), col(i_th), ndcs, ctxs, jobs,
            col(i_lid), seqs, vms, messages, texts, repeat("record"), repeat(spec.id),
        ))

    def _build(
        self,
        cur: tuple[_Compiled, re.Match[str], str | None],
        lines: list[str],
        start: int,
        end: int,
    ) -> Record:
        cf, m, pts = cur
        i_ts, i_lv, i_lg, i_th, i_ndc, i_lid, i_msg = cf.idx
        spec = cf.spec
        g = (None, *m.groups())  # one C call; index 0 = absent group
        message: str = g[i_msg] or ""  # an optional message group that did not take part
        raw = g[i_ts]
        if raw:
            ts: str | None = (
                f"{raw[:10]}T{raw[11:19]}.{raw[20:23]}" if spec.timestamp == "log4j" else self._other_ts(spec, raw)
            )
            if pts is None and self.year is None and raw[:4].isdigit():
                self.year = int(raw[:4])
        else:
            ts = self._syslog_ts(pts) if pts is not None else None
        if ts is not None and self.convert_ts is not None:
            ts = self.convert_ts(ts)
        level = g[i_lv]
        if level is not None and spec.level_map:
            level = spec.level_map.get(level, level.upper())
        ndc = g[i_ndc]
        ctx: tuple[str, ...] = ()
        jobs: list[int] | tuple[int, ...] = ()
        if ndc is not None:
            # NDCs repeat (every record of a job carries `job-123`): parse each once.
            if len(self._ndc_cache) > 8192:
                self._ndc_cache.clear()
            ndc, ctx, jobs = self._ndc_cache[ndc]
        if "job-" in message or "AsyncJobVO" in message:
            jobs = find_jobs(message, list(jobs))
        seq = None
        if "Seq" in message:
            seq = find_seq(message)
        text = lines[0] if len(lines) == 1 else "\n".join(lines)
        vms = find_vms(text) if "-VM" in text else ()
        return Record(
            self._src, self._host, self._role, start, end, ts, level,
            g[i_lg] if i_lg else spec.logger, g[i_th], ndc,
            ctx, tuple(jobs), g[i_lid], seq, vms, message, text, "record", spec.id,
        )

    def _other_ts(self, spec: FormatSpec, raw: str) -> str | None:
        if spec.timestamp == "iso":
            return _norm_log4j(raw) if len(raw) >= 23 else raw
        if spec.timestamp == "syslog":
            return self._syslog_ts(raw)
        return None


def _file_year(lf: LogFile) -> int:
    """Year for syslog lines without one: the file's mtime (deterministic per file)."""
    if lf.path is not None:
        try:
            return datetime.fromtimestamp(os.stat(lf.path).st_mtime, tz=UTC).year
        except OSError:
            pass
    return datetime.now(tz=UTC).year


def iter_file_records(
    lf: LogFile,
    patterns: Patterns,
    stats: FileStats,
    *,
    start: int = 0,
    length: int | None = None,
    first_line: int = 1,
    timeshift: TimeShift | None = None,
    encoding: str = "utf-8",
    prefilter: StoreFilter | None = None,
) -> Iterator[Record]:
    """Yield the records of one file (or of a byte range of it that starts a record).

    ``prefilter``: records lacking its literal are not built (in Arrow for a parsed store;
    for a raw log, all but the last record of a run of one layout); they are counted in
    ``stats.skipped``.
    """
    if lf.role == "store":
        return iter_store_records(lf, stats, prefilter=prefilter)
    reader = RecordReader(
        lf, patterns, stats, first_line=first_line,
        convert_ts=timeshift.for_host(lf.host) if timeshift else None, prefilter=prefilter,
    )
    # Not a generator: records come straight from C-level chains of per-batch lists.
    return reader.iter_batches(iter_line_batches(lf, stats, start=start, length=length, encoding=encoding))


def iter_records(
    paths: Iterable[str | Path] | Iterable[LogFile],
    patterns: Patterns | None = None,
    *,
    hosts: dict[str, str] | None = None,
    timeshift: TimeShift | None = None,
    stats: list[FileStats] | None = None,
    encoding: str = "utf-8",
    prefilter: StoreFilter | None = None,
) -> Iterator[Record]:
    """Yield every record of every input, file by file, rotated files oldest first.

    :param paths: files, directories, ``-`` (stdin), or already discovered ``LogFile``\\ s.
    :param patterns: loaded patterns (default: the bundled set).
    :param hosts: ``{NAME: PATH}`` host overrides (``--host NAME=PATH``).
    :param stats: if given, one ``FileStats`` per file is appended as the file is read.
    :raises InputError: a path is missing (at the call) or a file unreadable (while iterating).

    Example::

        for rec in iter_records(["sample_logs/upgrade-2.2.14"]):
            if rec.level == "ERROR":
                print(rec.location, rec.message)
    """
    pats = patterns or load_patterns()
    files = as_logfiles(paths, hosts)

    def per_file() -> Iterator[Iterator[Record]]:
        for lf in files:
            st = FileStats(lf.source, lf.host, lf.role)
            if stats is not None:
                stats.append(st)
            yield iter_file_records(lf, pats, st, timeshift=timeshift, encoding=encoding, prefilter=prefilter)

    # A C-level chain, not a generator: no Python frame is resumed per record.
    return chain.from_iterable(per_file())


_STORE_FIELDS = ("source", "host", "role", "line", "end_line", "timestamp", "level", "logger",
                 "thread", "ndc", "ctx", "jobs", "logid", "seq", "vms", "message", "text", "kind")


def _store_batches_of(pf: Any, source: str, batch_size: int) -> Iterator[Any]:
    """Batches of one log of a store: row groups whose min/max exclude it are skipped.

    A store is written in input order, so a log's rows sit in consecutive row groups.
    (pyarrow.dataset filters the same way but held 327 MB against 155 MB here.)
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from .output import _arrow_column

    col = pf.schema_arrow.get_field_index("source")
    cols = list(_STORE_FIELDS)
    # An array, not a Python scalar: converting a scalar imports pandas (+50 MB).
    wanted = _arrow_column([source], pa.string())
    for i in range(pf.metadata.num_row_groups):
        st = pf.metadata.row_group(i).column(col).statistics
        if st is not None and st.has_min_max and not (st.min <= source <= st.max):
            continue
        # Decoded a batch at a time, not a row group at a time: a store written with
        # --jobs has 32768-row groups (grep on one peaked at 250 MB, 159 MB this way).
        for batch in pf.iter_batches(batch_size=batch_size, row_groups=[i], columns=cols, use_threads=False):
            yield batch.filter(pc.is_in(batch.column("source"), value_set=wanted))


@dataclass(frozen=True, slots=True)
class StoreFilter:
    """A prefilter run inside Arrow on a parsed store, before rows become Python objects.

    ``needle`` must occur in the record text (casefolded when ``fold``); records without it
    are skipped but still counted in the line accounting.
    """

    needle: str
    fold: bool = False


def iter_store_records(lf: LogFile, stats: FileStats, batch_size: int = 2048,
                       prefilter: StoreFilter | None = None) -> Iterator[Record]:
    """Yield the records of a Parquet store written by ``logparse parse -f parquet``.

    Nothing is re-parsed: rows become ``Record`` objects as they were stored. With
    ``prefilter``, rows are first selected by Arrow's substring kernel (C++), so a grep
    over a store skips building the records that cannot match.

    :raises InputError: the file is not a logparse store (missing columns) or is corrupt.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from .errors import InputError
    from .output import release_arrow_memory

    release_arrow_memory()
    assert lf.path is not None
    try:
        pf = pq.ParquetFile(lf.path, pre_buffer=False, buffer_size=1 << 20)
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"{lf.path}: unreadable Parquet store ({e})") from e
    missing = [c for c in _STORE_FIELDS if c not in pf.schema_arrow.names]
    if missing:
        raise InputError(f"{lf.path}: not a logparse store (missing columns: {', '.join(missing)})")
    if lf.store_source is not None:
        batches = _store_batches_of(pf, lf.store_source, batch_size)
    else:
        batches = pf.iter_batches(batch_size=batch_size, columns=list(_STORE_FIELDS), use_threads=False)
    try:
        for batch in batches:
            if prefilter is not None:
                # No Python scalars in the compute calls (one would import pandas, +50 MB):
                # a record spans end_line - line + 1 lines.
                extra = pc.subtract(batch.column(4), batch.column(3))
                orphan = pc.starts_with(batch.column(17), pattern="orphan")  # kind: record | orphan
                n_orph_recs = pc.sum(pc.cast(orphan, pa.int64())).as_py() or 0
                n_lines = (pc.sum(extra).as_py() or 0) + len(batch)
                n_orph = (pc.sum(pc.filter(extra, orphan)).as_py() or 0) + n_orph_recs
                n_recs = len(batch) - n_orph_recs
                stats.lines += n_lines
                stats.orphans += n_orph
                stats.records += n_recs
                stats.continuation += n_lines - n_orph - n_recs
                before = len(batch)
                batch = batch.filter(pc.match_substring(batch.column(16), prefilter.needle,
                                                        ignore_case=prefilter.fold))
                stats.skipped += before - len(batch)
                if not len(batch):
                    continue
            cols = [batch.column(i).to_pylist() for i in range(len(_STORE_FIELDS))]
            for row in zip(*cols, strict=True):
                (source, host, role, line, end_line, ts, level, logger, thread, ndc, ctx, jobs,
                 logid, seq, vms, message, text, kind) = row
                if prefilter is None:
                    n = end_line - line + 1
                    stats.lines += n
                    if kind == "orphan":
                        stats.orphans += n
                    else:
                        stats.records += 1
                        stats.continuation += n - 1
                yield Record(source, host, role, line, end_line, ts, level, logger, thread, ndc,
                             tuple(ctx or ()), tuple(jobs or ()), logid, seq, tuple(vms or ()),
                             message, text, kind, None)
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"{lf.path}: unreadable Parquet store ({e})") from e


def parse_line(line: str, patterns: Patterns, role: str = "management") -> Record | None:
    """Parse a single header line (used by pattern checks and tests)."""
    lf = LogFile(None, "<sample>", "sample", role)
    reader = RecordReader(lf, patterns, FileStats("<sample>", "sample", role), year_hint=2000)
    recs = list(reader.iter_records(line.split("\n")))
    for r in recs:
        if r.kind == "record":
            return r
    return None


def parse_text(text: str, patterns: Patterns, role: str = "management", source: str = "<text>") -> list[Record]:
    """Parse a block of text (several lines) into records."""
    lf = LogFile(None, source, "sample", role)
    stats = FileStats(source, "sample", role)
    reader = RecordReader(lf, patterns, stats, year_hint=2000)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    stats.lines = len(lines)
    return list(reader.iter_records(lines))
