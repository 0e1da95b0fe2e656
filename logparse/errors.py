"""Errors raised by the library and the exit codes the CLI maps them to."""

from __future__ import annotations

from enum import IntEnum, unique


@unique
class ExitCode(IntEnum):
    """Process exit codes (after httpie's ``ExitStatus``)."""

    OK = 0  # analysis ran; ERRORs *in the logs* are still success
    ERROR = 1  # unreadable/corrupt input, invalid pattern file, check failed, grep: no match
    USAGE = 2  # click usage errors
    THRESHOLD = 3  # reserved for --fail-on


class LogparseError(Exception):
    """Base class of every error the library raises on purpose."""


class InputError(LogparseError):
    """An input path is missing, unreadable, corrupt or holds no logs."""


class PatternError(LogparseError):
    """A pattern file is invalid (bad key, bad regex, failing sample)."""


class OutputError(LogparseError):
    """An output could not be written."""
