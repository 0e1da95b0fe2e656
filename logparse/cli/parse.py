"""``logparse parse``: one row per record."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click

from ..pipeline import run_parse
from .common import (
    filter_options,
    handle_errors,
    input_options,
    jobs_option,
    load_inputs,
    make_filter,
    output_options,
    parse_tz,
    summary_line,
)


@click.command(name="parse")
@input_options
@filter_options
@output_options(default="table")
@jobs_option
@click.option("-q", "--quiet", is_flag=True, help="No summary on stderr.")
@handle_errors
def parse(paths: tuple[Path, ...], pattern_dirs: tuple[Path, ...], host_map: tuple[str, ...],
          tz: tuple[str, ...], encoding: str, since: str | None, until: str | None,
          level: str | None, fmt: str, output: str, jobs: int, quiet: bool) -> None:
    """Parse logs into records: one row per record, ids extracted.

    Multi-line records (stack traces, XML dumps) are joined; every era's layout is read.
    A summary on stderr accounts for every input line: records + continuation + orphans.

    \b
    Example:
        logparse parse sample_logs/upgrade-2.2.14 --level WARN -f jsonl -o warn.jsonl
    """
    patterns, files = load_inputs(paths, pattern_dirs, host_map)
    t0 = time.perf_counter()
    bar = None
    total_bytes = sum(lf.path.stat().st_size for lf in files if lf.path is not None)
    if not quiet and sys.stderr.isatty() and total_bytes > (64 << 20) and not os.environ.get("CI"):
        bar = click.progressbar(length=total_bytes, label="parsing", file=sys.stderr)
        bar.__enter__()
    try:
        stats, _rows = run_parse(
            files, patterns, fmt=fmt.lower(), output=output, jobs=jobs,
            tz=parse_tz(tz),
            rfilter=make_filter(since, until, level), encoding=encoding,
            progress=(lambda b: bar.update(b)) if bar is not None else None,
        )
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    lines = summary_line(stats, time.perf_counter() - t0)
    for line in lines:
        if not quiet or line.startswith("warning:"):
            click.echo(line, err=True)
    damaged = [w for s in stats for w in s.warnings]
    if damaged:
        # What was readable has been written; the exit code still says the input was damaged.
        raise click.exceptions.Exit(1)
