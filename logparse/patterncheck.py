"""Run every pattern sample through the real pipeline (STYLE §2.3 rules 3-5).

* **Formats**: ``records.parse_text(sample.line, patterns, role=sample.role or
  "management")`` must give, as its first record, a record of that format id with the
  ``expect`` values; ``non_matches`` must give no record of that format. A ``prefix = true``
  format (syslog/journald prefix) is checked with ``spec.regex.match(line)`` and its groups.
* **Events**: the sample's records through :func:`logparse.events.iter_events` must
  produce **exactly** the sample's own event id. Nothing → ``produced []``; another id as
  well → ambiguity (``is matched by more than one pattern``). ``expect`` values are typed
  and may name event fields or record fields (``logid``, ``seq``, ``vms``, ``jobs``, …);
  ``non_matches`` must not produce the event.

Comparison rules: an expected ``""`` matches ``None``; expected lists match tuples;
otherwise the value *and* its type must be equal (``5`` is not ``"5"``, ``1`` is not ``True``).

Messages name the file, the id and the 1-based sample index, e.g.
``patterns/events/vm.toml: vm.start_failed: sample 1 produced [] (expected vm.start_failed)``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .events import EventMatcher
from .models import Event, Record
from .patterns import EventSpec, FormatSpec, Patterns, Sample
from .records import parse_text

__all__ = ["SampleCase", "check_patterns", "check_sample", "iter_sample_cases"]

_MISSING = object()


@dataclass(frozen=True, slots=True)
class SampleCase:
    """One sample (or non-match) of one format or event entry."""

    entry: FormatSpec | EventSpec
    kind: str  # "format" | "event"
    index: int  # 1-based, within samples or within non_matches
    sample: Sample
    negative: bool  # True for a non_matches line

    @property
    def id(self) -> str:
        """Test id: ``vm.start_failed[1]``, non-matches ``vm.start_failed[non_match_1]``."""
        if self.negative:
            return f"{self.entry.id}[non_match_{self.index}]"
        return f"{self.entry.id}[{self.index}]"


def iter_sample_cases(patterns: Patterns) -> Iterator[SampleCase]:
    """Yield every sample and non-match of every format, then of every event."""
    for f in patterns.formats:
        for i, s in enumerate(f.samples, 1):
            yield SampleCase(f, "format", i, s, False)
        for i, s in enumerate(f.non_matches, 1):
            yield SampleCase(f, "format", i, s, True)
    for e in patterns.events:
        for i, s in enumerate(e.samples, 1):
            yield SampleCase(e, "event", i, s, False)
        for i, s in enumerate(e.non_matches, 1):
            yield SampleCase(e, "event", i, s, True)


def check_patterns(patterns: Patterns) -> list[str]:
    """Check every sample of ``patterns``; return failure messages (empty = OK).

    Example::

        problems = check_patterns(load_patterns(["my_patterns/"], bundled=False))
        if problems:
            raise PatternError("\\n".join(problems))
    """
    matcher = EventMatcher(patterns)
    out: list[str] = []
    for case in iter_sample_cases(patterns):
        out.extend(check_sample(patterns, case, matcher=matcher))
    return out


def check_sample(patterns: Patterns, case: SampleCase, *, matcher: EventMatcher | None = None) -> list[str]:
    """Check one sample case; return failure messages (empty = OK)."""
    if case.kind == "format":
        assert isinstance(case.entry, FormatSpec)
        return _check_format(patterns, case.entry, case)
    assert isinstance(case.entry, EventSpec)
    return _check_event(patterns, case.entry, case, matcher or EventMatcher(patterns))


# --------------------------------------------------------------------------- helpers

def _where(entry: FormatSpec | EventSpec, case: SampleCase) -> str:
    what = "non_match" if case.negative else "sample"
    return f"{_display_path(entry.file)}: {entry.id}: {what} {case.index}"


def _display_path(file: str) -> str:
    try:
        rel = os.path.relpath(file)
    except ValueError:  # another drive (Windows)
        return file
    return file if rel.startswith("..") else Path(rel).as_posix()


def _role(sample: Sample) -> str:
    return sample.role or "management"


def _norm(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_norm(x) for x in v]
    if isinstance(v, list):
        return [_norm(x) for x in v]
    return v


def _same(expected: Any, actual: Any) -> bool:
    if expected == "" and actual is None:
        return True
    expected, actual = _norm(expected), _norm(actual)
    if isinstance(expected, list) or isinstance(actual, list):
        return (
            isinstance(expected, list)
            and isinstance(actual, list)
            and len(expected) == len(actual)
            and all(_same(e, a) for e, a in zip(expected, actual, strict=True))
        )
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return type(expected) is type(actual) and expected == actual
    return type(expected) is type(actual) and expected == actual


def _show(v: Any) -> str:
    return f"{v!r} ({type(v).__name__})"


def _compare(where: str, expect: Mapping[str, Any], lookup: Any) -> list[str]:
    out = []
    for key, exp in expect.items():
        act = lookup(key)
        if act is _MISSING:
            out.append(f"{where}: field {key!r}: expected {_show(exp)}, field missing")
        elif not _same(exp, act):
            out.append(f"{where}: field {key!r}: expected {_show(exp)}, got {_show(_norm(act))}")
    return out


# --------------------------------------------------------------------------- formats

def _check_format(patterns: Patterns, spec: FormatSpec, case: SampleCase) -> list[str]:
    where = _where(spec, case)
    line = case.sample.line
    if spec.prefix:
        m = spec.regex.match(line)
        if case.negative:
            return [f"{where}: line matches the prefix regex"] if m is not None else []
        if m is None:
            return [f"{where}: line does not match the prefix regex"]
        groups = m.groupdict()
        return _compare(where, case.sample.expect, lambda k: groups.get(k, _MISSING))

    records = [r for r in parse_text(line, patterns, role=_role(case.sample)) if r.kind == "record"]
    if case.negative:
        bad = [r for r in records if r.format_id == spec.id]
        return [f"{where}: line produced a record of format {spec.id}"] if bad else []
    if not records:
        return [f"{where}: produced no record (expected format {spec.id})"]
    rec = records[0]
    if rec.format_id != spec.id:
        return [f"{where}: produced a record of format {rec.format_id} (expected {spec.id})"]
    first = line.split("\n", 1)[0]
    m = spec.regex.match(first)
    groups = m.groupdict() if m is not None else {}

    def lookup(key: str) -> Any:
        if key in Record.__dataclass_fields__:
            return getattr(rec, key)
        return groups.get(key, _MISSING) if key in groups else _MISSING

    return _compare(where, case.sample.expect, lookup)


# --------------------------------------------------------------------------- events

def _check_event(
    patterns: Patterns, spec: EventSpec, case: SampleCase, matcher: EventMatcher
) -> list[str]:
    where = _where(spec, case)
    records = parse_text(case.sample.line, patterns, role=_role(case.sample))
    events: list[tuple[Record, Event]] = [(r, e) for r in records for e in matcher.match(r)]
    ids = list(dict.fromkeys(e.event for _, e in events))
    if case.negative:
        return [f"{where}: line produces {spec.id}"] if spec.id in ids else []
    if spec.id not in ids:
        return [f"{where} produced [{', '.join(ids)}] (expected {spec.id})"]
    if len(ids) > 1:
        return [f"{where} is matched by more than one pattern: {', '.join(ids)}"]
    rec, ev = next((r, e) for r, e in events if e.event == spec.id)

    def lookup(key: str) -> Any:
        if key in ev.fields:
            return ev.fields[key]
        if key in Event.__dataclass_fields__ and key != "fields":
            return getattr(ev, key)
        if key in Record.__dataclass_fields__:
            return getattr(rec, key)
        return _MISSING

    return _compare(where, case.sample.expect, lookup)
