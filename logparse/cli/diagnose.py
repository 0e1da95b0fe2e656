"""``logparse diagnose``: ranked findings with evidence and statistics."""

from __future__ import annotations

import time
from pathlib import Path

import click

from ..diagnose import diagnose as run_diagnose
from ..diagnose import render_markdown, render_text, to_json
from ..output import open_output
from .common import handle_errors, input_options, jobs_option, output_options, run_analysis, window_options

DIAGNOSE_FORMATS = ("text", "markdown", "json")


@click.command(name="diagnose")
@input_options
@window_options
@jobs_option
@output_options(DIAGNOSE_FORMATS, default="text")
@click.option(
    "--alpha",
    type=click.FloatRange(0.0, 1.0, min_open=True),
    default=0.05,
    show_default=True,
    help="Significance level for feature findings (two-sided Fisher's exact test).",
)
@click.option(
    "--max-evidence",
    type=click.IntRange(1),
    default=10,
    show_default=True,
    help="Evidence lines per finding in text/markdown (the rest is counted).",
)
@click.option("-q", "--quiet", is_flag=True, help="No summary on stderr.")
@handle_errors
def diagnose(
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
    alpha: float,
    max_evidence: int,
    quiet: bool,
) -> None:
    """Ranked findings: what failing VM starts share, with counts, p-values and evidence.

    Management-server and agent logs are correlated (Seq, job, thread, VM, host); each
    start attempt carries the disk layout its StartCommand sent. Features (disk order,
    device-id gaps, data disks, host, agent/MS version, before/after an upgrade) are
    tested with Fisher's exact test; capacity failures are reported on their own. Also
    reported: exceptions that masked others, upgrades, rollbacks, mixed versions,
    exceptions new since a change, slow or unanswered agent commands. --since/--until
    keep the starts, events and traces of a window (the whole input is still correlated;
    versions, upgrades and command statistics stay whole as context).

    \b
    Example:
        logparse diagnose sample_logs/upgrade-2.2.14
        logparse diagnose sample_logs/upgrade-2.2.14 -f markdown -o findings.md
        logparse diagnose sample_logs/upgrade-2.2.14 --since 2013-08-08 --until 2013-08-09
    """
    t0 = time.perf_counter()
    analysis, _files, _patterns = run_analysis(paths, pattern_dirs, host_map, tz, encoding, jobs, since, until)
    result = run_diagnose(analysis, alpha=alpha)
    fmt = fmt.lower()
    if fmt == "json":
        text = to_json(result)
    elif fmt == "markdown":
        text = render_markdown(result, max_evidence=max_evidence)
    else:
        text = render_text(result, max_evidence=max_evidence)
    with open_output(output) as out:
        out.write(text)
    if not quiet:
        secs = time.perf_counter() - t0
        mb = analysis.bytes_read / 1e6
        click.echo(
            f"diagnose: {len(analysis.files)} files, {mb:,.1f} MB in {secs:.2f} s; "
            f"{len(analysis.attempts)} start attempts, {len(result.findings)} findings",
            err=True,
        )
