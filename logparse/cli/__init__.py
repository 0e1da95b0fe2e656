"""The ``logparse`` command line: a click group with one module per command.

Commands are imported when they are run (or listed by ``--help``): ``parse`` then does
not pay for importing ``diagnose`` and ``simulate`` (0.12 s of each run, measured with
``python -X importtime``).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

# NumPy's OpenBLAS starts a thread at import that spins for its first ~0.1 s waiting for
# work, and logparse never calls BLAS: on two cores that thread took CPU from the
# workers of `parse --jobs 2` (0.09 s of CPU in `perf`; 0.94-1.01 s against 1.01-1.08 s
# wall on the 198 MB bench log, measured). Set before NumPy is imported (no command
# imports it before this module); a value the user set is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

#: command name → (module of ``logparse.cli``, attribute)
_COMMANDS = {
    "commands": ("events", "commands"),
    "diagnose": ("diagnose", "diagnose"),
    "events": ("events", "events"),
    "grep": ("grep", "grep"),
    "parse": ("parse", "parse"),
    "patterns": ("patterns_cmd", "patterns_group"),
    "report": ("report", "report"),
    "simulate": ("simulate", "simulate"),
    "timeline": ("timeline", "timeline"),
    "traces": ("traces", "traces"),
    "vms": ("vms", "vms"),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> Any:
        if cmd_name not in _COMMANDS:
            return None
        module, attr = _COMMANDS[cmd_name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="logparse", prog_name="logparse")
def cli() -> None:
    """Turn Apache CloudStack logs into answers for a postmortem.

    Records, stack traces, VM disk layouts, correlated findings, incident grep,
    timelines and a postmortem report — from management-server and agent logs of any
    CloudStack era (2.2 → 4.22), plain or rotated .gz.

    \b
    Start here:
        logparse report sample_logs/upgrade-2.2.14 -o report/
    """


def main() -> None:
    """The ``logparse`` program (console script and ``python -m logparse``): run the
    command, then end the process without tearing the interpreter down.

    Freeing every object and module one by one at exit took about 20 ms of each run (a
    one-line log: 0.191 → 0.171 s, median of 12 alternating runs): the kernel frees the memory at
    once. What an exit must still do is done first: the ``atexit`` functions (logging,
    multiprocessing, Chromium for the charts), then the flush of stdout and stderr. While a
    thread that is not a daemon still runs, or when a command fails with a traceback, the
    usual exit is taken.
    """
    import threading

    code: Any = 0  # click's standalone main always ends in SystemExit; this is a fallback
    try:
        cli.main()
    except SystemExit as e:
        code = e.code
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"): the message, exit status 1
        print(code, file=sys.stderr)
        code = 1
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:  # `logparse … | head`: stop quietly, like the commands do
            code = code or 1
        except (OSError, ValueError):
            code = code or 120  # what Python's own exit gives when stdout cannot be flushed
    os._exit(code)
