"""Apply the event patterns (``patterns/events/*.toml``) to records and emit typed events.

Dispatch is built for the hot path over gigabytes of records:

1. **Prefilters, computed once per (role, logger).** An event is a candidate for a record
   only when its ``roles`` contain the record's role and its ``loggers`` contain the
   logger's class name. Loggers are compared by their last dotted segment (the class
   name), so ``cloud.vm.VirtualMachineManagerImpl`` (``%c{3}``) and
   ``c.c.v.VirtualMachineManagerImpl`` (``%c{1.}``) both match
   ``VirtualMachineManagerImpl``; an inner class ``AsyncJobManagerImpl$5`` matches
   ``AsyncJobManagerImpl``. The candidates of one (role, logger) pair are grouped by
   keyword and cached, so a record costs one dict lookup plus one ``in`` check per
   distinct keyword of its candidates — no regex at all unless a keyword is present.
2. **Keywords.** Each event's ``keywords`` are literal substrings; one of them must be
   ``in`` the message (or the whole record text with ``search_text = true``).
3. **Levels**, then the **regex**: ``re.match`` when the regex is anchored with ``^`` and
   has no top-level alternation (an anchored ``re.search`` still walks a 50 KB payload),
   ``re.search`` otherwise.

An anchored regex that starts with literal text (``^Seq …``, ``^Start completed …``) has
that text as its *lead*: such an event is found through a dict keyed by the first two
characters of the message and a ``startswith`` check, costs O(1) however long the message
is, and its keywords are confirmed only after the regex matched (same result as checking
them first: the keyword rule still holds for every event emitted). Without this, a 50 KB
``Sending`` payload would be scanned once per keyword.

**Several events per record.** A record yields several events only when different
patterns match different parts of it. When two matches overlap (positions in the record
text), the one with the higher ``priority`` wins and the lower one is skipped; with equal
priority both are kept — which ``logparse.patterncheck`` reports as an ambiguity for a
sample (STYLE §2.3 rule 4).

**Fields.** Named groups after their casts (``str``, ``int``, ``float``, ``bool``,
``duration_ms``), then the pattern's ``constants``. A group named ``<field>__<n>`` is an
alternate spelling of ``<field>`` in another branch of the regex (Python ``re`` forbids
duplicate group names): its value fills ``<field>`` when that is empty, with
``<field>``'s cast. A group that did not participate gives ``None``. ``seq``, ``jobs``,
``vms``, ``logid`` and ``thread`` of an :class:`~logparse.models.Event` come from the record.

**Post-processing** (a closed set, keyed by event id, because casts are a closed set):

* ``job.complete``: a numeric ``jobStatus`` of 2.2-4.2 is replaced by its name,
  ``0`` → ``IN_PROGRESS``, ``1`` → ``SUCCEEDED``, ``2`` → ``FAILED`` (ref §4.4); 4.3+
  already prints the enum name. Other values are kept as written.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .models import EVENT_COLUMNS, Event, Record
from .patterns import EventSpec, Patterns

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

__all__ = [
    "JOB_STATUS_NAMES",
    "EventMatcher",
    "cast_value",
    "events_frame",
    "iter_events",
    "logger_class",
]

#: ``jobStatus`` integers of 2.2-4.2 (AsyncJobResult constants, ref §4.4).
JOB_STATUS_NAMES: Mapping[str, str] = {"0": "IN_PROGRESS", "1": "SUCCEEDED", "2": "FAILED"}

_ALT_GROUP = re.compile(r"^(\w+?)__\d+$")
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_DURATION = re.compile(
    r"^\s*(-?\d+(?:\.\d+)?)\s*"
    r"(ms|msec|millis|milliseconds|s|sec|secs|seconds|m|min|mins|minutes|h|hours)?\s*$",
    re.IGNORECASE,
)
_UNIT_MS = {
    None: 1.0, "ms": 1.0, "msec": 1.0, "millis": 1.0, "milliseconds": 1.0,
    "s": 1000.0, "sec": 1000.0, "secs": 1000.0, "seconds": 1000.0,
    "m": 60000.0, "min": 60000.0, "mins": 60000.0, "minutes": 60000.0,
    "h": 3600000.0, "hours": 3600000.0,
}


# --------------------------------------------------------------------------- casts

def _cast_bool(v: str) -> bool:
    low = v.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"not a boolean: {v!r}")


def _cast_duration_ms(v: str) -> int | float:
    m = _DURATION.match(v)
    if m is None:
        raise ValueError(f"not a duration: {v!r}")
    ms = float(m.group(1)) * _UNIT_MS[m.group(2).lower() if m.group(2) else None]
    return int(ms) if ms.is_integer() else ms


_CASTS: dict[str, Callable[[str], Any] | None] = {
    "str": None,
    "int": int,
    "float": float,
    "bool": _cast_bool,
    "duration_ms": _cast_duration_ms,
}


def cast_value(value: str | None, cast: str) -> Any:
    """Apply a named cast (``str``, ``int``, ``float``, ``bool``, ``duration_ms``).

    ``None`` stays ``None``; a value that does not convert gives ``None`` (logged at DEBUG).
    """
    if value is None:
        return None
    fn = _CASTS[cast]
    if fn is None:
        return value
    try:
        return fn(value)
    except ValueError:
        log.debug("cast %s failed for %r", cast, value)
        return None


def logger_class(logger: str | None) -> str | None:
    """Class name of a logger as printed: the last dotted segment, without ``$inner``."""
    if not logger:
        return None
    cls = logger.rsplit(".", 1)[-1]
    i = cls.find("$")
    return cls[:i] if i > 0 else cls


# --------------------------------------------------------------------------- post-processing

def _post_job_complete(fields: dict[str, Any]) -> None:
    status = fields.get("status")
    if isinstance(status, str) and status in JOB_STATUS_NAMES:
        fields["status"] = JOB_STATUS_NAMES[status]


_POST: dict[str, Callable[[dict[str, Any]], None]] = {"job.complete": _post_job_complete}


# --------------------------------------------------------------------------- compiled events

def _anchored(pattern: re.Pattern[str]) -> bool:
    """True when the regex can only match at position 0 (``^`` first, no top-level ``|``)."""
    if pattern.flags & re.MULTILINE:
        return False
    src = pattern.pattern
    verbose = bool(pattern.flags & re.VERBOSE)
    i, n = 0, len(src)
    # skip leading whitespace/comments in verbose mode
    while verbose and i < n and (src[i].isspace() or src[i] == "#"):
        if src[i] == "#":
            while i < n and src[i] != "\n":
                i += 1
        else:
            i += 1
    if i >= n or src[i] != "^":
        return False
    depth = 0
    in_class = False
    while i < n:
        c = src[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
        elif c == "[":
            in_class = True
            if i + 1 < n and src[i + 1] == "]":
                i += 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            return False
        elif verbose and c == "#":
            while i < n and src[i] != "\n":
                i += 1
        i += 1
    return True


try:  # the regex parser (private, stable in 3.11+) gives the literal lead of a pattern
    from re import _constants as _sre_c  # type: ignore[attr-defined]
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python < 3.11 is not supported anyway
    _sre_parse = None


def _literal_lead(pattern: re.Pattern[str]) -> str:
    """The literal text an anchored pattern must start with (``""`` when unknown)."""
    if _sre_parse is None or pattern.flags & (re.IGNORECASE | re.MULTILINE):
        return ""
    try:
        items = list(_sre_parse.parse(pattern.pattern, pattern.flags & ~re.UNICODE))
    except Exception:  # any parser change: no lead, the keyword path is used
        return ""
    if not items or items[0] != (_sre_c.AT, _sre_c.AT_BEGINNING):
        return ""
    chars = []
    for op, av in items[1:]:
        if op is not _sre_c.LITERAL:
            break
        chars.append(chr(av))
    return sys.intern("".join(chars))


_LEAD_KEY = 2  # leads are indexed by the first two characters of the message


@dataclass(slots=True, eq=False)
class _Compiled:
    spec: EventSpec
    order: int
    priority: int
    run: Callable[[str], re.Match[str] | None]
    groups: tuple[tuple[str, int, Callable[[str | None, str], Any] | None, str], ...]
    # (field, index into m.groups(), cast function or None for str, cast name)
    levels: frozenset[str] | None
    search_text: bool
    post: Callable[[dict[str, Any]], None] | None
    lead: str  # literal start of an anchored message regex, "" when none
    keywords: tuple[str, ...]


@dataclass(slots=True)
class _Bucket:
    # first two message characters -> ((lead, events), ...); leads shorter than 2 in short_leads
    leads: dict[str, tuple[tuple[str, tuple[_Compiled, ...]], ...]]
    short_leads: tuple[tuple[str, tuple[_Compiled, ...]], ...]
    msg_kws: tuple[tuple[str, tuple[_Compiled, ...]], ...]
    text_kws: tuple[tuple[str, tuple[_Compiled, ...]], ...]


def _compile(spec: EventSpec, order: int) -> _Compiled:
    rx = spec.regex
    groups = []
    for name, idx in sorted(rx.groupindex.items(), key=lambda kv: kv[1]):
        m = _ALT_GROUP.match(name)
        base = m.group(1) if m else name
        cast = spec.fields.get(base, "str")
        groups.append((base, idx - 1, None if cast == "str" else cast_value, cast))
    anchored = _anchored(rx)
    run = rx.match if anchored else rx.search
    lead = _literal_lead(rx) if anchored and not spec.search_text else ""
    return _Compiled(
        spec=spec,
        order=order,
        priority=spec.priority,
        run=run,
        groups=tuple(groups),
        levels=frozenset(spec.levels) if spec.levels else None,
        search_text=spec.search_text,
        post=_POST.get(spec.id),
        lead=lead,
        keywords=spec.keywords,
    )


class EventMatcher:
    """Compiled dispatch over a :class:`~logparse.patterns.Patterns` set.

    :param patterns: loaded patterns; only ``patterns.events`` is used.

    Example::

        matcher = EventMatcher(load_patterns())
        for rec in records:
            for ev in matcher.match(rec):
                ...
    """

    def __init__(self, patterns: Patterns):
        self.compiled = tuple(_compile(s, i) for i, s in enumerate(patterns.events))
        self._loggers = tuple(
            frozenset(logger_class(lg) or lg for lg in c.spec.loggers) if c.spec.loggers else None
            for c in self.compiled
        )
        self._buckets: dict[str, dict[str | None, _Bucket]] = {}

    # -- dispatch table ------------------------------------------------------------------
    def _bucket(self, role: str, logger: str | None) -> _Bucket:
        cls = logger_class(logger)
        lead_map: dict[str, list[_Compiled]] = {}
        msg_map: dict[str, list[_Compiled]] = {}
        text_map: dict[str, list[_Compiled]] = {}
        for c, loggers in zip(self.compiled, self._loggers, strict=True):
            spec = c.spec
            if spec.roles and role not in spec.roles:
                continue
            if loggers is not None and cls not in loggers:
                continue
            if c.lead:
                lead_map.setdefault(c.lead, []).append(c)
                continue
            target = text_map if c.search_text else msg_map
            for kw in spec.keywords:
                target.setdefault(kw, []).append(c)
        leads: dict[str, list[tuple[str, tuple[_Compiled, ...]]]] = {}
        short: list[tuple[str, tuple[_Compiled, ...]]] = []
        for lead, cands in lead_map.items():
            entry = (lead, tuple(cands))
            if len(lead) >= _LEAD_KEY:
                leads.setdefault(lead[:_LEAD_KEY], []).append(entry)
            else:
                short.append(entry)
        bucket = _Bucket(
            leads={k: tuple(v) for k, v in leads.items()},
            short_leads=tuple(short),
            msg_kws=tuple((k, tuple(v)) for k, v in msg_map.items()),
            text_kws=tuple((k, tuple(v)) for k, v in text_map.items()),
        )
        self._buckets.setdefault(role, {})[logger] = bucket
        return bucket

    # -- matching ------------------------------------------------------------------------
    def match(self, rec: Record) -> list[Event]:
        """Return the events of one record (usually none or one)."""
        by_logger = self._buckets.get(rec.role)
        bucket = by_logger.get(rec.logger) if by_logger is not None else None
        if bucket is None:
            bucket = self._bucket(rec.role, rec.logger)
        msg = rec.message
        hits: list[_Compiled] | None = None
        led = bucket.leads.get(msg[:_LEAD_KEY]) if bucket.leads else None
        if led is not None:
            for lead, cands in led:
                if msg.startswith(lead):
                    if hits is None:
                        hits = list(cands)
                    else:
                        hits.extend(cands)
        for lead, cands in bucket.short_leads:
            if msg.startswith(lead):
                if hits is None:
                    hits = list(cands)
                else:
                    hits.extend(cands)
        for kw, cands in bucket.msg_kws:
            if kw in msg:
                if hits is None:
                    hits = list(cands)
                else:
                    hits.extend(cands)
        if bucket.text_kws:
            text = rec.text
            for kw, cands in bucket.text_kws:
                if kw in text:
                    if hits is None:
                        hits = list(cands)
                    else:
                        hits.extend(cands)
        if hits is None:
            return []
        if len(hits) > 1:
            hits = sorted(dict.fromkeys(hits), key=lambda c: (-c.priority, c.order))
        found: list[tuple[_Compiled, re.Match[str]]] = []
        level = rec.level
        for c in hits:
            if c.levels is not None and level not in c.levels:
                continue
            m = c.run(rec.text if c.search_text else msg)
            if m is not None:
                # a lead-dispatched event confirms its keyword after the (cheap) match
                if c.lead and not any(kw in msg for kw in c.keywords):
                    continue
                found.append((c, m))
        if not found:
            return []
        if len(found) > 1:
            found = _resolve_overlaps(rec, found)
        return [_make_event(rec, c, m) for c, m in found]


def _resolve_overlaps(
    rec: Record, found: list[tuple[_Compiled, re.Match[str]]]
) -> list[tuple[_Compiled, re.Match[str]]]:
    """Drop a match that overlaps a match of higher priority (found is priority-sorted)."""
    text, msg = rec.text, rec.message
    off = text.find(msg) if msg else 0
    if off < 0:
        off = 0
    kept: list[tuple[_Compiled, re.Match[str], int, int]] = []
    for c, m in found:
        base = 0 if c.search_text else off
        s, e = base + m.start(), base + m.end()
        if e == s:
            e = s + 1  # an empty match still occupies its position
        if any(s < ke and ks < e and kc.priority > c.priority for kc, _, ks, ke in kept):
            continue
        kept.append((c, m, s, e))
    kept.sort(key=lambda k: k[2])
    return [(c, m) for c, m, _, _ in kept]


def _make_event(rec: Record, c: _Compiled, m: re.Match[str]) -> Event:
    spec = c.spec
    fields: dict[str, Any] = {}
    values = m.groups()
    for name, idx, fn, cast in c.groups:
        raw = values[idx]
        if raw is None:
            if name not in fields:
                fields[name] = None
            continue
        if fields.get(name) is not None:
            continue
        fields[name] = raw if fn is None else fn(raw, cast)
    if spec.constants:
        fields.update(spec.constants)
    if c.post is not None:
        c.post(fields)
    return Event(
        spec.id,
        spec.category,
        spec.severity,
        rec.source,
        rec.line,
        rec.timestamp,
        rec.host,
        rec.role,
        rec.thread,
        rec.logid,
        rec.seq,
        rec.jobs,
        rec.vms,
        fields,
        rec.message,
    )


_MATCHERS: dict[int, tuple[Patterns, EventMatcher]] = {}


def _matcher_for(patterns: Patterns) -> EventMatcher:
    hit = _MATCHERS.get(id(patterns))
    if hit is not None and hit[0] is patterns:
        return hit[1]
    matcher = EventMatcher(patterns)
    if len(_MATCHERS) >= 8:
        _MATCHERS.pop(next(iter(_MATCHERS)))
    _MATCHERS[id(patterns)] = (patterns, matcher)
    return matcher


def iter_events(records: Iterable[Record], patterns: Patterns) -> Iterator[Event]:
    """Yield the typed events found in ``records``, in record order.

    :param records: records from :func:`logparse.records.iter_records` (or ``parse_text``).
    :param patterns: loaded patterns (:func:`logparse.patterns.load_patterns`).

    Example::

        patterns = load_patterns()
        for ev in iter_events(iter_records(["management-server.log.gz"], patterns), patterns):
            print(ev.event, ev.timestamp, ev.fields)
    """
    match = _matcher_for(patterns).match
    for rec in records:
        evs = match(rec)
        if evs:
            yield from evs


def events_frame(events: Iterable[Event]) -> pd.DataFrame:
    """Return events as a DataFrame: ``EVENT_COLUMNS``, then one column per field name.

    ``fields`` stays as a dict column. A field whose name is also an ``EVENT_COLUMNS``
    column (for example ``host``) is only in ``fields``. Field columns appear in order of
    first appearance; events without a field get ``None``.
    """
    import pandas as pd

    rows = [e.as_dict() for e in events]
    extra: dict[str, None] = {}
    base = set(EVENT_COLUMNS)
    for r in rows:
        for k in r["fields"]:
            if k not in base:
                extra.setdefault(k, None)
    for r in rows:
        f = r["fields"]
        for k in extra:
            r[k] = f.get(k)
    return pd.DataFrame(rows, columns=[*EVENT_COLUMNS, *extra])
