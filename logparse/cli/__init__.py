"""The ``logparse`` command line: a click group with one module per command.

Commands are imported under aliases so that ``logparse.cli.<module>`` stays the module
(``from .report import report`` would rebind the package attribute to the command).
"""

from __future__ import annotations

import click

from .. import __version__
from .diagnose import diagnose as _diagnose
from .events import commands as _commands
from .events import events as _events
from .grep import grep as _grep
from .parse import parse as _parse
from .patterns_cmd import patterns_group as _patterns
from .report import report as _report
from .simulate import simulate as _simulate
from .timeline import timeline as _timeline
from .traces import traces as _traces
from .vms import vms as _vms


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="logparse")
def cli() -> None:
    """Turn Apache CloudStack logs into answers for a postmortem.

    Records, stack traces, VM disk layouts, correlated findings, incident grep,
    timelines and a postmortem report — from management-server and agent logs of any
    CloudStack era (2.2 → 4.22), plain or rotated .gz.

    \b
    Start here:
        logparse report sample_logs/upgrade-2.2.14 -o report/
    """


for _cmd in (_report, _diagnose, _grep, _timeline, _vms, _traces, _events, _commands, _parse,
             _simulate, _patterns):
    cli.add_command(_cmd)
