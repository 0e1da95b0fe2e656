"""``logparse events`` and ``logparse commands``: typed events and agent command round trips."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from ..commands import COMMAND_COLUMNS, iter_command_trips
from ..events import iter_events
from ..grep import iter_merged
from ..models import EVENT_COLUMNS
from ..output import write_rows
from ..records import TimeShift, iter_records
from .common import (
    filter_options,
    handle_errors,
    input_options,
    load_inputs,
    make_filter,
    output_options,
    parse_tz,
)


@click.command(name="events")
@input_options
@filter_options
@output_options()
@click.option("-t", "--type", "types", multiple=True, metavar="GLOB",
              help="Only events whose id matches GLOB (e.g. 'vm.*', 'job.complete'). Repeatable.")
@handle_errors
def events(paths: tuple[Path, ...], pattern_dirs: tuple[Path, ...], host_map: tuple[str, ...],
           tz: tuple[str, ...], encoding: str, since: str | None, until: str | None, level: str | None,
           fmt: str, output: str, types: tuple[str, ...]) -> None:
    """Typed events: VM lifecycle, async jobs, agent commands, upgrades, hosts.

    Events are declared as data in patterns/events/*.toml (see `logparse patterns list`);
    FIELDS holds the values each pattern captures, typed.

    \b
    Example:
        logparse events sample_logs/upgrade-2.2.14 --type 'vm.*' --type job.complete
        logparse events sample_logs/upgrade-2.2.14 --type 'upgrade.*' -f csv
    """
    patterns, files = load_inputs(paths, pattern_dirs, host_map)
    zones = parse_tz(tz)
    recs = make_filter(since, until, level).apply(
        iter_records(files, patterns, timeshift=TimeShift(zones) if zones else None, encoding=encoding))

    def rows() -> Iterator[dict[str, Any]]:
        for e in iter_events(recs, patterns):
            if types and not any(fnmatch.fnmatchcase(e.event, g) for g in types):
                continue
            yield e.as_dict()

    write_rows(rows(), EVENT_COLUMNS, fmt.lower(), output)


@click.command(name="commands")
@input_options
@filter_options
@output_options()
@click.option("--unanswered", is_flag=True, help="Only commands that never got an answer.")
@click.option("--failed", is_flag=True, help="Only commands whose answer says result=false.")
@handle_errors
def commands(paths: tuple[Path, ...], pattern_dirs: tuple[Path, ...], host_map: tuple[str, ...],
             tz: tuple[str, ...], encoding: str, since: str | None, until: str | None, level: str | None,
             fmt: str, output: str, unanswered: bool, failed: bool) -> None:
    """Agent command round trips paired by Seq: latency, result, never answered.

    MS `Sending` opens a trip, the agent's `Request:` marks receipt, the answer closes it.
    Inputs are merged in time order so both sides of a trip meet.

    \b
    Example:
        logparse commands sample_logs/upgrade-2.2.14 --failed
    """
    patterns, files = load_inputs(paths, pattern_dirs, host_map)
    zones = parse_tz(tz)
    merged = (r for _, r in iter_merged(files, patterns, timeshift=TimeShift(zones) if zones else None,
                                        encoding=encoding))
    recs = make_filter(since, until, level).apply(merged)
    agent_events = (e for e in iter_events(recs, patterns) if e.category == "agent")

    def rows() -> Iterator[dict[str, Any]]:
        for t in iter_command_trips(agent_events):
            if unanswered and t.answered:
                continue
            if failed and t.result is not False:
                continue
            yield {c: getattr(t, c) for c in COMMAND_COLUMNS}

    write_rows(rows(), COMMAND_COLUMNS, fmt.lower(), output)
