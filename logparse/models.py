"""Frozen dataclasses shared by every module, and column-order constants.

Field names are the same everywhere: dataclass field = DataFrame column = JSON key =
CSV header = regex group name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ROLES = ("management", "agent", "libvirt", "other")

#: Output columns of ``logparse parse`` in order (issue #2: exact names).
RECORD_COLUMNS = (
    "source",
    "host",
    "role",
    "line",
    "end_line",
    "timestamp",
    "level",
    "logger",
    "thread",
    "ndc",
    "ctx",
    "jobs",
    "logid",
    "seq",
    "vms",
    "message",
    "text",
    "kind",
)


# Not frozen, on purpose: a frozen slots dataclass takes 1.3 µs to build against 0.15 µs
# for a plain one (measured here, 19 fields), and the parser builds one per record over
# gigabytes. Treat records as immutable all the same.
@dataclass(slots=True)
class Record:
    """One logical log record: a header line plus its continuation lines.

    ``timestamp`` is ISO-8601 with milliseconds (``2012-03-01T14:02:11.102``), naive local
    time as written, or converted to UTC (suffix ``Z``) when a ``--tz`` applies to the host.
    ``kind`` is ``"record"`` for a parsed header, ``"orphan"`` for lines that belong to no
    header (before the first header of a file, or raw agent-runner lines).
    """

    source: str
    host: str
    role: str
    line: int
    end_line: int
    timestamp: str | None
    level: str | None
    logger: str | None
    thread: str | None
    ndc: str | None
    ctx: tuple[str, ...]
    jobs: tuple[int, ...]
    logid: str | None
    seq: str | None
    vms: tuple[str, ...]
    message: str
    text: str
    kind: str = "record"
    format_id: str | None = field(default=None, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """Return the record as a dict in ``RECORD_COLUMNS`` order (lists, not tuples)."""
        return {
            "source": self.source,
            "host": self.host,
            "role": self.role,
            "line": self.line,
            "end_line": self.end_line,
            "timestamp": self.timestamp,
            "level": self.level,
            "logger": self.logger,
            "thread": self.thread,
            "ndc": self.ndc,
            "ctx": list(self.ctx),
            "jobs": list(self.jobs),
            "logid": self.logid,
            "seq": self.seq,
            "vms": list(self.vms),
            "message": self.message,
            "text": self.text,
            "kind": self.kind,
        }

    @property
    def location(self) -> str:
        """``file:line`` evidence string."""
        return f"{self.source}:{self.line}"


@dataclass(slots=True)
class FileStats:
    """Line accounting for one input file: records + continuation + orphans = lines.

    Mutable: the reader fills it in while it streams the file.
    """

    source: str
    host: str
    role: str
    lines: int = 0
    records: int = 0
    continuation: int = 0
    orphans: int = 0
    first_orphan: int | None = None
    bytes_read: int = 0
    warnings: list[str] = field(default_factory=list)
    #: records a prefilter (``grep`` with a literal) left unbuilt: they lack its literal
    skipped: int = 0

    def add(self, other: FileStats) -> None:
        """Add the counts of ``other`` (a byte range of the same file) to this one."""
        self.lines += other.lines
        self.records += other.records
        self.continuation += other.continuation
        self.orphans += other.orphans
        self.bytes_read += other.bytes_read
        self.skipped += other.skipped
        if other.first_orphan is not None and (
            self.first_orphan is None or other.first_orphan < self.first_orphan
        ):
            self.first_orphan = other.first_orphan
        self.warnings.extend(other.warnings)

    @property
    def balanced(self) -> bool:
        """True when every line read is accounted for."""
        return self.records + self.continuation + self.orphans == self.lines


#: Output columns of ``logparse events``.
EVENT_COLUMNS = (
    "source",
    "line",
    "timestamp",
    "host",
    "role",
    "event",
    "category",
    "severity",
    "thread",
    "logid",
    "seq",
    "jobs",
    "vms",
    "fields",
    "message",
)


@dataclass(frozen=True, slots=True)
class Event:
    """A typed event found in one record by an event pattern (``patterns/events/*.toml``).

    ``fields`` holds the pattern's named groups after their casts, plus its constants.
    """

    event: str  # the pattern id, e.g. "vm.start_failed"
    category: str
    severity: str
    source: str
    line: int
    timestamp: str | None
    host: str
    role: str
    thread: str | None
    logid: str | None
    seq: str | None
    jobs: tuple[int, ...]
    vms: tuple[str, ...]
    fields: dict[str, Any]
    message: str

    def as_dict(self) -> dict[str, Any]:
        """Return the event as a dict in ``EVENT_COLUMNS`` order."""
        return {
            "source": self.source,
            "line": self.line,
            "timestamp": self.timestamp,
            "host": self.host,
            "role": self.role,
            "event": self.event,
            "category": self.category,
            "severity": self.severity,
            "thread": self.thread,
            "logid": self.logid,
            "seq": self.seq,
            "jobs": list(self.jobs),
            "vms": list(self.vms),
            "fields": self.fields,
            "message": self.message,
        }

    @property
    def location(self) -> str:
        """``file:line`` evidence string."""
        return f"{self.source}:{self.line}"
