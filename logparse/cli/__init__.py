"""The ``logparse`` command line: a click group with one module per command."""

from __future__ import annotations

import click

from .. import __version__
from .events import commands, events
from .grep import grep
from .parse import parse
from .patterns_cmd import patterns_group
from .traces import traces


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="logparse")
def cli() -> None:
    """Turn Apache CloudStack logs into answers for a postmortem.

    Records, stack traces, VM disk layouts, correlated findings, incident grep,
    timelines and a postmortem report — from management-server and agent logs of any
    CloudStack era (2.2 → 4.22), plain or rotated .gz.
    """


cli.add_command(parse)
cli.add_command(grep)
cli.add_command(patterns_group)
cli.add_command(traces)
cli.add_command(events)
cli.add_command(commands)
