"""Shared click options, parameter parsing and error mapping for every command."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..errors import LogparseError
from ..output import FORMATS
from ..patterns import Patterns, load_patterns
from ..pipeline import RecordFilter, normalize_time_bound
from ..records import LEVELS
from ..sources import LogFile, discover

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(f: F) -> F:
    """Turn ``LogparseError`` into a one-line ``Error: …`` and exit code 1 (no traceback).

    ``LOGPARSE_DEBUG=1`` re-raises, for bug reports.
    """

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except LogparseError as e:
            if os.environ.get("LOGPARSE_DEBUG"):
                raise
            raise click.ClickException(str(e)) from e
        except BrokenPipeError:
            # `logparse parse x | head`: stop quietly, like grep.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def _split_kv(values: tuple[str, ...], opt: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values:
        if "=" not in v:
            raise click.BadParameter(f"expected NAME=VALUE, got {v!r}", param_hint=opt)
        k, _, val = v.partition("=")
        out[k] = val
    return out


def parse_tz(values: tuple[str, ...]) -> dict[str, str] | None:
    """``--tz Europe/Madrid`` (all hosts) and ``--tz kvm01=UTC`` (one host)."""
    if not values:
        return None
    out: dict[str, str] = {}
    for v in values:
        if "=" in v:
            k, _, zone = v.partition("=")
            out[k] = zone
        else:
            out["*"] = v
    return out


def input_options(f: F) -> F:
    """``PATH...`` plus ``--patterns``, ``--host``, ``--tz``, ``--encoding``."""
    f = click.option("--encoding", default="utf-8", show_default=True,
                     help="Input encoding; undecodable bytes are replaced, never fatal.")(f)
    f = click.option("--tz", "tz", multiple=True, metavar="ZONE|HOST=ZONE",
                     help="Convert timestamps to UTC from this zone (all hosts, or one host). Repeatable.")(f)
    f = click.option("--host", "host_map", multiple=True, metavar="NAME=PATH",
                     help="Files under PATH belong to host NAME (default: inferred from the path). Repeatable.")(f)
    f = click.option("--patterns", "pattern_dirs", multiple=True, metavar="DIR",
                     type=click.Path(exists=True, path_type=Path),
                     help="Extra pattern directory, added after the bundled set. Repeatable.")(f)
    f = click.argument("paths", nargs=-1, required=True,
                       type=click.Path(allow_dash=True, path_type=Path))(f)
    return f


def default_jobs() -> int:
    """Worker processes by default: every core this process may run on (results do not depend on it).

    The affinity mask, not ``os.cpu_count()``: under ``taskset -c 0`` or a cpuset-limited
    container, two workers on one core are slower than one.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def jobs_option(f: F) -> F:
    """``-j/--jobs``: worker processes over files and record-aligned byte ranges."""
    return click.option(
        "-j", "--jobs", type=click.IntRange(1, 64), default=default_jobs, show_default="all usable cores",
        help="Worker processes (large plain files are split at record boundaries); "
             "the output does not depend on it.")(f)


def run_analysis(paths: tuple[Path, ...], pattern_dirs: tuple[Path, ...], host_map: tuple[str, ...],
                 tz: tuple[str, ...], encoding: str = "utf-8", jobs: int = 1,
                 since: str | None = None, until: str | None = None) -> tuple[Any, list[LogFile], Patterns]:
    """Load inputs and correlate them: ``(analysis, files, patterns)``; ``since``/``until``
    then restrict it to a window (see ``correlate.window``)."""
    from ..correlate import analyze, window
    from ..records import TimeShift

    patterns, files = load_inputs(paths, pattern_dirs, host_map)
    zones = parse_tz(tz)
    analysis = analyze(files, patterns, timeshift=TimeShift(zones) if zones else None,
                       encoding=encoding, jobs=jobs)
    if since or until:
        analysis = window(analysis, normalize_time_bound(since, "--since") if since else None,
                          normalize_time_bound(until, "--until") if until else None)
    return analysis, files, patterns


#: ``logparse.report.PLOTLYJS_MODES`` (not imported here: plotly loads only when drawing).
PLOTLYJS_CHOICES = ("embed", "cdn")


def plotlyjs_option(f: F) -> F:
    """``--plotlyjs embed|cdn`` for the commands that write HTML charts."""
    return click.option(
        "--plotlyjs", type=click.Choice(PLOTLYJS_CHOICES), default="embed", show_default=True,
        help="embed: the HTML works offline (plotly.js inside, ~4.8 MB); cdn: a small file that "
             "loads plotly.js from cdn.plot.ly when opened.")(f)


def window_options(f: F) -> F:
    """``--since`` / ``--until`` for the commands that correlate (the window is applied after
    correlating the whole input)."""
    f = click.option("--until", default=None, metavar="TIME",
                     help="Only start attempts, events and traces before TIME (e.g. 2013-08-08T12:00); "
                          "the whole input is still read and correlated.")(f)
    f = click.option("--since", default=None, metavar="TIME",
                     help="Only start attempts, events and traces at or after TIME (e.g. 2013-08-08).")(f)
    return f


def filter_options(f: F) -> F:
    """``--since``, ``--until``, ``--level``."""
    f = click.option("--level", type=click.Choice(LEVELS, case_sensitive=False), default=None,
                     help="Minimum level (records without a level are dropped when set).")(f)
    f = click.option("--until", default=None, metavar="TIME",
                     help="Only records before TIME (e.g. 2013-08-07T12:00).")(f)
    f = click.option("--since", default=None, metavar="TIME",
                     help="Only records at or after TIME (e.g. 2013-08-07 or 2013-08-07T10:00).")(f)
    return f


def output_options(formats: tuple[str, ...] = FORMATS, default: str = "table") -> Callable[[F], F]:
    """``-f/--format`` and ``-o/--output``."""

    def deco(f: F) -> F:
        f = click.option("-o", "--output", default="-", show_default=True, metavar="FILE",
                         help="Write here instead of stdout (written whole or not at all).")(f)
        f = click.option("-f", "--format", "fmt", type=click.Choice(formats, case_sensitive=False),
                         default=default, show_default=True, help="Output format.")(f)
        return f

    return deco


def make_filter(since: str | None, until: str | None, level: str | None) -> RecordFilter:
    return RecordFilter(
        since=normalize_time_bound(since, "--since") if since else None,
        until=normalize_time_bound(until, "--until") if until else None,
        level=level.upper() if level else None,
    )


def load_inputs(paths: tuple[Path, ...], pattern_dirs: tuple[Path, ...],
                host_map: tuple[str, ...]) -> tuple[Patterns, list[LogFile]]:
    """Load patterns and discover files (raises LogparseError on bad input)."""
    patterns = load_patterns(pattern_dirs)
    files = discover([str(p) for p in paths], _split_kv(host_map, "--host") or None)
    return patterns, files


def summary_line(stats: list[Any], seconds: float) -> list[str]:
    """Per-file accounting lines for stderr: records + continuation + orphans = lines."""
    out = []
    tl = tr = tc = to = tb = 0
    for s in stats:
        mark = "" if s.balanced else "  (UNBALANCED)"
        out.append(
            f"{s.source}: {s.lines:,} lines = {s.records:,} records + {s.continuation:,} continuation"
            f" + {s.orphans:,} orphan{mark}"
        )
        if s.orphans and s.first_orphan is not None:
            out.append(f"warning: {s.orphans:,} lines in {s.source} belong to no record (first: line {s.first_orphan})")
        out.extend(f"warning: {w}" for w in s.warnings)
        tl += s.lines
        tr += s.records
        tc += s.continuation
        to += s.orphans
        tb += s.bytes_read
    mbps = tb / 1e6 / seconds if seconds > 0 else 0.0
    out.append(
        f"total: {len(stats)} files, {tl:,} lines = {tr:,} records + {tc:,} continuation + {to:,} orphan;"
        f" {tb / 1e6:,.1f} MB in {seconds:.2f} s ({mbps:,.0f} MB/s)"
    )
    return out
