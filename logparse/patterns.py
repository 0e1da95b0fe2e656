"""Load declarative pattern files (TOML): record header formats and typed events.

Rules enforced here (STYLE.md §2.3): unknown keys are errors, duplicate ids are errors,
regexes are compiled once and a compile error names the file and the id, every entry has
at least one sample, fragments ``%{NAME}`` / ``%{NAME:group}`` expand in one strict pass.
Running the samples through the real pipeline is done by :mod:`logparse.patterncheck`.
"""

from __future__ import annotations

import importlib.resources
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import PatternError

SCHEMA_VERSION = 1

SEVERITIES = ("debug", "info", "warning", "error", "critical")
CASTS = ("str", "int", "float", "duration_ms", "bool")
TIMESTAMP_KINDS = ("log4j", "syslog", "iso", "none")

_TOP_KEYS = {"schema_version", "category", "formats", "events", "fragments", "description"}
_FORMAT_KEYS = {
    "id",
    "title",
    "description",
    "roles",
    "regex",
    "verbose",
    "timestamp",
    "level_map",
    "logger",
    "prefix",
    "priority",
    "samples",
    "non_matches",
}
_EVENT_KEYS = {
    "id",
    "title",
    "description",
    "severity",
    "loggers",
    "keywords",
    "levels",
    "roles",
    "regex",
    "verbose",
    "search_text",
    "fields",
    "constants",
    "correlate_on",
    "priority",
    "samples",
    "non_matches",
}
_SAMPLE_KEYS = {"line", "role", "expect", "note"}
_NON_MATCH_KEYS = {"line", "role", "note"}

_FRAGMENT_REF = re.compile(r"%\{(\w+)(?::(\w+))?\}")
_EVENT_ID = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Sample:
    """A real log line (or several) with the field values it must give."""

    line: str
    expect: Mapping[str, Any]
    role: str | None = None


@dataclass(frozen=True, slots=True)
class FormatSpec:
    """A record-header layout.

    ``prefix = true`` marks a line prefix (syslog/journald) that is stripped before the
    other formats are tried; its ``message`` group is the rest of the line.
    """

    id: str
    title: str
    roles: tuple[str, ...]
    regex: re.Pattern[str]
    timestamp: str
    level_map: Mapping[str, str]
    logger: str | None
    prefix: bool
    priority: int
    samples: tuple[Sample, ...]
    non_matches: tuple[Sample, ...]
    file: str


@dataclass(frozen=True, slots=True)
class EventSpec:
    """A typed event found in a record's message (or whole text with ``search_text``)."""

    id: str
    category: str
    title: str
    severity: str
    loggers: tuple[str, ...]
    keywords: tuple[str, ...]
    levels: tuple[str, ...]
    roles: tuple[str, ...]
    regex: re.Pattern[str]
    search_text: bool
    fields: Mapping[str, str]
    constants: Mapping[str, Any]
    correlate_on: tuple[str, ...]
    priority: int
    samples: tuple[Sample, ...]
    non_matches: tuple[Sample, ...]
    file: str


@dataclass(frozen=True, slots=True)
class Patterns:
    """Everything loaded from one or more pattern directories."""

    formats: tuple[FormatSpec, ...]
    events: tuple[EventSpec, ...]
    dirs: tuple[Path, ...] = field(default=())

    def formats_for(self, role: str) -> tuple[FormatSpec, ...]:
        """Header formats that apply to a file of ``role`` (prefix formats excluded)."""
        return tuple(f for f in self.formats if not f.prefix and (not f.roles or role in f.roles))

    def prefixes_for(self, role: str) -> tuple[FormatSpec, ...]:
        """Line-prefix formats (syslog/journald) that apply to ``role``."""
        return tuple(f for f in self.formats if f.prefix and (not f.roles or role in f.roles))


def default_patterns_dir() -> Path:
    """Return the bundled patterns directory (wheel install or source checkout)."""
    bundled = importlib.resources.files("logparse") / "patterns"
    if bundled.is_dir() and (Path(str(bundled)) / "formats.toml").is_file():
        return Path(str(bundled))
    return Path(__file__).resolve().parent.parent / "patterns"


def pattern_dirs(extra: Iterable[str | Path] = ()) -> list[Path]:
    """Bundled dir, then ``LOGPARSE_PATTERNS`` (``os.pathsep``-separated), then ``extra``."""
    dirs = [default_patterns_dir()]
    env = os.environ.get("LOGPARSE_PATTERNS")
    if env:
        dirs.extend(Path(p) for p in env.split(os.pathsep) if p)
    dirs.extend(Path(p) for p in extra)
    return dirs


def _toml_files(d: Path) -> list[Path]:
    if d.is_file():
        return [d]
    if not d.is_dir():
        raise PatternError(f"{d}: patterns directory not found")
    files = sorted(d.glob("*.toml")) + sorted(d.glob("events/*.toml"))
    return files


def _check_keys(where: str, table: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise PatternError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")


def _expand(where: str, regex: str, fragments: Mapping[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name, group = m.group(1), m.group(2)
        if name not in fragments:
            raise PatternError(f"{where}: unknown fragment %{{{name}}}")
        body = fragments[name]
        return f"(?P<{group}>{body})" if group else f"(?:{body})"

    return _FRAGMENT_REF.sub(sub, regex)


def _compile(where: str, regex: Any, verbose: bool, fragments: Mapping[str, str]) -> re.Pattern[str]:
    if not isinstance(regex, str) or not regex.strip():
        raise PatternError(f"{where}: 'regex' must be a non-empty string")
    text = _expand(where, regex.strip("\n") if verbose else regex, fragments)
    try:
        return re.compile(text, re.VERBOSE if verbose else 0)
    except re.error as e:
        raise PatternError(f"{where}: invalid regex: {e.msg} at position {e.pos}") from e


def _samples(where: str, items: Any, *, expect_allowed: bool) -> tuple[Sample, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise PatternError(f"{where}: samples must be an array of tables")
    out = []
    for i, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise PatternError(f"{where}: sample {i} must be a table")
        _check_keys(f"{where}: sample {i}", item, _SAMPLE_KEYS if expect_allowed else _NON_MATCH_KEYS)
        line = item.get("line")
        if not isinstance(line, str) or not line:
            raise PatternError(f"{where}: sample {i} has no 'line'")
        out.append(Sample(line=line, expect=dict(item.get("expect", {})), role=item.get("role")))
    return tuple(out)


def _str_tuple(where: str, key: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PatternError(f"{where}: {key!r} must be a string or an array of strings")
    return tuple(value)


def _load_format(file: Path, t: Mapping[str, Any], fragments: Mapping[str, str]) -> FormatSpec:
    fid = t.get("id")
    where = f"{file}: {fid or '<format without id>'}"
    _check_keys(where, t, _FORMAT_KEYS)
    if not isinstance(fid, str):
        raise PatternError(f"{where}: missing 'id'")
    rx = _compile(where, t.get("regex"), bool(t.get("verbose", False)), fragments)
    ts = t.get("timestamp", "log4j")
    if ts not in TIMESTAMP_KINDS:
        raise PatternError(f"{where}: timestamp must be one of {', '.join(TIMESTAMP_KINDS)}")
    prefix = bool(t.get("prefix", False))
    need = {"message"}
    missing = need - set(rx.groupindex)
    if missing:
        raise PatternError(f"{where}: regex lacks the named group(s) {', '.join(sorted(missing))}")
    if ts != "none" and "timestamp" not in rx.groupindex:
        raise PatternError(f"{where}: regex lacks a 'timestamp' group (or set timestamp = \"none\")")
    samples = _samples(where, t.get("samples"), expect_allowed=True)
    if not samples:
        raise PatternError(f"{where}: pattern has no samples (add [[formats.samples]] with a real line)")
    return FormatSpec(
        id=fid,
        title=str(t.get("title", fid)),
        roles=_str_tuple(where, "roles", t.get("roles")),
        regex=rx,
        timestamp=ts,
        level_map=dict(t.get("level_map", {})),
        logger=t.get("logger"),
        prefix=prefix,
        priority=int(t.get("priority", 0)),
        samples=samples,
        non_matches=_samples(where, t.get("non_matches"), expect_allowed=False),
        file=str(file),
    )


def _load_event(
    file: Path, category: str, t: Mapping[str, Any], fragments: Mapping[str, str]
) -> EventSpec:
    eid = t.get("id")
    where = f"{file}: {eid or '<event without id>'}"
    _check_keys(where, t, _EVENT_KEYS)
    if not isinstance(eid, str) or not _EVENT_ID.match(eid):
        raise PatternError(f"{where}: 'id' must look like category.snake_name")
    if eid.split(".", 1)[0] != category:
        raise PatternError(f"{where}: id must start with the file's category {category!r}")
    rx = _compile(where, t.get("regex"), bool(t.get("verbose", False)), fragments)
    severity = t.get("severity", "info")
    if severity not in SEVERITIES:
        raise PatternError(f"{where}: severity must be one of {', '.join(SEVERITIES)}")
    fields = dict(t.get("fields", {}))
    for name, cast in fields.items():
        if cast not in CASTS:
            raise PatternError(f"{where}: field {name!r}: unknown cast {cast!r} (one of {', '.join(CASTS)})")
        if name not in rx.groupindex:
            raise PatternError(f"{where}: field {name!r} is not a named group of the regex")
    keywords = _str_tuple(where, "keywords", t.get("keywords"))
    if not keywords:
        # Cheap dispatch before any regex is a rule (issue #4): every event needs at
        # least one literal that must appear in the text.
        raise PatternError(f"{where}: 'keywords' (literal substrings for the prefilter) is required")
    samples = _samples(where, t.get("samples"), expect_allowed=True)
    if not samples:
        raise PatternError(f"{where}: pattern has no samples (add [[events.samples]] with a real line)")
    return EventSpec(
        id=eid,
        category=category,
        title=str(t.get("title", eid)),
        severity=severity,
        loggers=_str_tuple(where, "loggers", t.get("loggers")),
        keywords=keywords,
        levels=_str_tuple(where, "levels", t.get("levels")),
        roles=_str_tuple(where, "roles", t.get("roles")),
        regex=rx,
        search_text=bool(t.get("search_text", False)),
        fields=fields,
        constants=dict(t.get("constants", {})),
        correlate_on=_str_tuple(where, "correlate_on", t.get("correlate_on")),
        priority=int(t.get("priority", 0)),
        samples=samples,
        non_matches=_samples(where, t.get("non_matches"), expect_allowed=False),
        file=str(file),
    )


def load_pattern_file(file: Path, fragments: dict[str, str]) -> tuple[list[FormatSpec], list[EventSpec]]:
    """Load one TOML file. ``fragments`` is shared and extended across files."""
    try:
        with open(file, "rb") as fp:
            doc = tomllib.load(fp)
    except tomllib.TOMLDecodeError as e:
        raise PatternError(f"{file}: invalid TOML: {e}") from e
    except OSError as e:
        raise PatternError(f"{file}: {e.strerror or e}") from e
    _check_keys(str(file), doc, _TOP_KEYS)
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise PatternError(f"{file}: schema_version must be {SCHEMA_VERSION}")
    frags = doc.get("fragments", {})
    if not isinstance(frags, dict) or not all(isinstance(v, str) for v in frags.values()):
        raise PatternError(f"{file}: [fragments] must map names to regex strings")
    fragments.update(frags)
    formats = [_load_format(file, t, fragments) for t in doc.get("formats", [])]
    events: list[EventSpec] = []
    if doc.get("events"):
        category = doc.get("category")
        if not isinstance(category, str):
            raise PatternError(f"{file}: a file with [[events]] needs a top-level 'category'")
        events = [_load_event(file, category, t, fragments) for t in doc["events"]]
    return formats, events


def load_patterns(extra_dirs: Iterable[str | Path] = (), *, bundled: bool = True) -> Patterns:
    """Load the bundled patterns plus ``LOGPARSE_PATTERNS`` and ``extra_dirs``.

    :param extra_dirs: user pattern directories (``--patterns DIR``), appended in order.
    :param bundled: False loads only ``extra_dirs`` (used by ``patterns check DIR``).
    :raises PatternError: naming the file and the entry on any invalid content.

    Example::

        patterns = load_patterns()
        print(len(patterns.formats), len(patterns.events))
    """
    dirs = pattern_dirs(extra_dirs) if bundled else [Path(p) for p in extra_dirs]
    formats: list[FormatSpec] = []
    events: list[EventSpec] = []
    fragments: dict[str, str] = {}
    seen: dict[str, str] = {}
    for d in dirs:
        for file in _toml_files(d):
            fs, es = load_pattern_file(file, fragments)
            for entry in (*fs, *es):
                if entry.id in seen:
                    raise PatternError(
                        f"{file}: duplicate id {entry.id!r} (first defined in {seen[entry.id]})"
                    )
                seen[entry.id] = str(file)
            formats.extend(fs)
            events.extend(es)
    formats.sort(key=lambda f: -f.priority)  # stable: file order within one priority
    return Patterns(formats=tuple(formats), events=tuple(events), dirs=tuple(dirs))
