"""logparse: turn Apache CloudStack logs into answers for a postmortem."""

from __future__ import annotations

from typing import Any

from .errors import InputError, LogparseError, PatternError
from .models import Event, FileStats, Record
from .patterns import load_patterns
from .records import iter_records


def __getattr__(name: str) -> Any:
    # Looked up on first use: importlib.metadata costs 23 ms of every command's start.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("logparse")
        except PackageNotFoundError:  # running from a source tree without install
            return "0.0.0"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Event",
    "FileStats",
    "InputError",
    "LogparseError",
    "PatternError",
    "Record",
    "__version__",
    "iter_records",
    "load_patterns",
]
