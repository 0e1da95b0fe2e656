"""``logparse report``: the postmortem report directory (HTML + Markdown + images + CSV)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from .common import handle_errors, input_options, jobs_option, plotlyjs_option, run_analysis, window_options


@click.command(name="report")
@input_options
@window_options
@jobs_option
@click.option("-o", "--output", "outdir", required=True, metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="Report directory (created; written whole or not at all).")
@click.option("--force", is_flag=True, help="Replace DIR when it exists and is not empty.")
@plotlyjs_option
@click.option("--no-images", is_flag=True,
              help="Skip the PNG charts; report.md then links to the charts in report.html.")
@click.option("-q", "--quiet", is_flag=True, help="No summary line on stderr.")
@handle_errors
def report(paths: tuple[Path, ...], pattern_dirs: tuple[Path, ...], host_map: tuple[str, ...],
           tz: tuple[str, ...], encoding: str, since: str | None, until: str | None, jobs: int,
           outdir: Path, force: bool, plotlyjs: str, no_images: bool, quiet: bool) -> None:
    """Write a postmortem report: report.html, report.md, images/*.png, data/*.csv.

    Sections: summary, timeline, findings with file:line evidence, affected VMs and their
    disk layouts, exceptions (fingerprints, masked pairs), raw evidence (secrets masked).
    Same logs, same HTML/Markdown/CSV bytes. Without Chromium the PNGs are skipped, one
    error line is printed, report.md links to the HTML charts, and the exit code is 1.
    --since/--until report one window: its starts, events, traces, markers and charts (the
    whole input is still correlated, and the findings still see upgrades before it).

    \b
    Example:
        logparse report sample_logs/upgrade-2.2.14 -o postmortem
        logparse report sample_logs/upgrade-2.2.14 -o postmortem --force --no-images
    """
    from ..report import NO_BROWSER_MESSAGE, build_report, write_report

    t0 = time.perf_counter()
    analysis, files, patterns = run_analysis(paths, pattern_dirs, host_map, tz, encoding, jobs, since, until)
    rep = build_report(analysis, inputs=[str(p) for p in paths], files=files,
                       patterns=patterns)
    result = write_report(rep, outdir, force=force, images=not no_images, plotlyjs=plotlyjs)
    if result.image_error:
        # One line, no traceback; report.html and report.md are written all the same.
        click.echo(result.image_error or NO_BROWSER_MESSAGE, err=True)
        sys.exit(1)
    if not quiet:
        n_img = len([f for f in result.files if f.startswith("images/")])
        n_csv = len([f for f in result.files if f.startswith("data/")])
        per = (f" ({sum(result.image_seconds) / len(result.image_seconds):.2f} s each)"
               if result.image_seconds else "")
        click.echo(f"wrote {outdir}: report.html, report.md, {n_img} images{per}, "
                   f"{n_csv} tables in {time.perf_counter() - t0:.1f} s", err=True)
