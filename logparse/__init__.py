"""logparse: turn Apache CloudStack logs into answers for a postmortem."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("logparse")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"

from .errors import InputError, LogparseError, PatternError
from .models import Event, FileStats, Record
from .patterns import load_patterns
from .records import iter_records

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
