"""``logparse vms``: per-VM disk layout and start attempts."""

from __future__ import annotations

from pathlib import Path

import click

from ..output import write_rows
from ..vms import VM_COLUMNS, iter_vm_rows
from .common import handle_errors, input_options, jobs_option, output_options, run_analysis, window_options


@click.command(name="vms")
@input_options
@window_options
@jobs_option
@output_options(default="table")
@click.option("--failed", is_flag=True, help="Only VMs with at least one failed start.")
@handle_errors
def vms(
    paths: tuple[Path, ...],
    pattern_dirs: tuple[Path, ...],
    host_map: tuple[str, ...],
    tz: tuple[str, ...],
    encoding: str,
    since: str | None,
    until: str | None,
    jobs: int,
    fmt: str,
    output: str,
    failed: bool,
) -> None:
    """Per-VM disk layout (as the latest StartCommand sent it) and how its starts went.

    DISKS lists volume id, type and device id in the StartCommand's array order
    (``5:ROOT:0 7:DATADISK:2 8:DATADISK:1``: creation order, not device order); JSON
    gives a list of objects. Flags say whether the array is out of device-id order, has
    gaps, duplicate or NULL device ids. --since/--until count only the starts in that
    window (the whole input is still correlated).

    \b
    Example:
        logparse vms sample_logs/upgrade-2.2.14
        logparse vms sample_logs/upgrade-2.2.14 --failed -f csv -o vms.csv
    """
    analysis, _files, _patterns = run_analysis(paths, pattern_dirs, host_map, tz, encoding, jobs, since, until)
    fmt = fmt.lower()
    rows = iter_vm_rows(analysis, compact_disks=fmt in ("table", "csv", "parquet"))
    if failed:
        rows = (r for r in rows if r["failures"])
    # In the fixed-width table only the last column is never cut: put the disks there.
    cols = (*(c for c in VM_COLUMNS if c != "disks"), "disks") if fmt == "table" else VM_COLUMNS
    write_rows(rows, cols, fmt, output)
