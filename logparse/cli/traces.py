"""``logparse traces``: Java exceptions grouped by fingerprint."""

from __future__ import annotations

from pathlib import Path

import click

from ..output import write_rows
from ..pipeline import RecordFilter
from ..records import TimeShift, iter_records
from ..tracetable import EACH_COLUMNS, GROUP_COLUMNS, collect_traces, each_rows, group_rows
from .common import (
    filter_options,
    handle_errors,
    input_options,
    load_inputs,
    make_filter,
    output_options,
    parse_tz,
)


@click.command(name="traces")
@input_options
@filter_options
@output_options()
@click.option("--each", is_flag=True, help="One row per occurrence instead of one per fingerprint.")
@click.option("--window-ms", default=2000, show_default=True, type=click.IntRange(0),
              help="How soon a second exception on the same thread/seq/logid counts as masking the first.")
@handle_errors
def traces(paths: tuple[Path, ...], pattern_dirs: tuple[Path, ...], host_map: tuple[str, ...],
           tz: tuple[str, ...], encoding: str, since: str | None, until: str | None, level: str | None,
           fmt: str, output: str, each: bool, window_ms: int) -> None:
    """Java stack traces, grouped by fingerprint, with masked exceptions marked.

    A fingerprint groups one failure across hosts and runs (exception chain plus the
    CloudStack frames, no line numbers or messages). ROLE says when an exception was the
    primary one that another (thrown by a failure handler) masked.

    \b
    Example:
        logparse traces sample_logs/upgrade-2.2.14
        logparse traces sample_logs/upgrade-2.2.14 --each -f csv -o traces.csv
    """
    patterns, files = load_inputs(paths, pattern_dirs, host_map)
    zones = parse_tz(tz)
    flt: RecordFilter = make_filter(since, until, level)
    recs = flt.apply(iter_records(files, patterns, timeshift=TimeShift(zones) if zones else None, encoding=encoding))
    ts = collect_traces(recs, window_ms)
    if each:
        write_rows(each_rows(ts), EACH_COLUMNS, fmt.lower(), output)
    else:
        write_rows(group_rows(ts), GROUP_COLUMNS, fmt.lower(), output)
