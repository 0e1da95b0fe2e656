"""``logparse timeline``: the postmortem charts as one HTML page or one image."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..output import open_output
from .common import handle_errors, input_options, jobs_option, plotlyjs_option, run_analysis, window_options

if TYPE_CHECKING:
    pass

# pandas, plotly and kaleido are imported when the command runs, not when the CLI loads
# (``logparse --help`` stays ~0.25 s instead of ~1 s).

#: Chart ids in report order (``logparse.timeline.CHARTS``; a test keeps them equal).
CHART_NAMES = ("timeline", "starts", "exceptions", "disks", "latency")
#: An image holds one chart; ``--chart all`` means this one for .png/.svg.
IMAGE_DEFAULT_CHART = "disks"
_SUFFIX_FORMATS = {".html": "html", ".htm": "html", ".png": "png", ".svg": "svg"}


def stdout_is_tty() -> bool:
    """Whether stdout is a terminal (a function, so tests can pretend it is)."""
    return sys.stdout.isatty()


def output_format(output: str, fmt: str | None) -> str:
    """``-f`` wins; else the suffix of ``-o``; else html."""
    if fmt:
        return fmt.lower()
    return _SUFFIX_FORMATS.get(Path(output).suffix.lower(), "html") if output != "-" else "html"


@click.command(name="timeline")
@input_options
@window_options
@jobs_option
@click.option("-o", "--output", default="-", show_default=True, metavar="FILE",
              help="Write here: .html (all charts; self-contained unless --plotlyjs cdn), .png or .svg (one chart). "
                   "'-' is stdout (refused on a terminal).")
@click.option("--chart", type=click.Choice(["all", *CHART_NAMES]), default="all",
              show_default=True,
              help="Chart to draw. HTML: 'all' puts every chart on one page. An image holds "
                   f"one chart: 'all' means '{IMAGE_DEFAULT_CHART}' for .png/.svg.")
@click.option("-f", "--format", "fmt", type=click.Choice(["html", "png", "svg"],
                                                         case_sensitive=False),
              default=None, help="Output format (default: from the -o suffix, else html).")
@plotlyjs_option
@click.option("--width", type=click.IntRange(300, 8000), default=1200, show_default=True,
              help="Image width in pixels.")
@click.option("--height", type=click.IntRange(200, 8000), default=None,
              help="Image height in pixels (default: the chart's own height).")
@handle_errors
def timeline(paths: tuple[Path, ...], pattern_dirs: tuple[Path, ...], host_map: tuple[str, ...],
             tz: tuple[str, ...], encoding: str, since: str | None, until: str | None, jobs: int,
             output: str, chart: str, fmt: str | None, plotlyjs: str,
             width: int, height: int | None) -> None:
    """Draw the incident charts: timeline, start attempts, exceptions, disk layouts, latency.

    HTML output is one offline page (plotly.js embedded once). An image (.png/.svg, needs
    Chromium) holds one chart; with --chart all it is the disk layout chart, the one that
    explains the 2013 incident. Exit code 1 when an image cannot be made. --since/--until
    draw one window (the whole input is still correlated).

    \b
    Example:
        logparse timeline sample_logs/upgrade-2.2.14 -o timeline.html
        logparse timeline sample_logs/upgrade-2.2.14 -o disks.png
        logparse timeline sample_logs/upgrade-2.2.14 --chart starts -o starts.svg
        logparse timeline sample_logs/upgrade-2.2.14 --since 2013-08-08 -o night.html
    """
    from ..report import ImageExportError, ImageRenderer, chart_frames, charts_page
    from ..timeline import build_figures

    kind = output_format(output, fmt)
    if output == "-" and stdout_is_tty():
        what = "HTML" if kind == "html" else "an image"
        raise click.ClickException(f"refusing to write {what} to a terminal; use -o FILE")
    names = None if chart == "all" else [chart]
    if kind != "html":
        names = [IMAGE_DEFAULT_CHART if chart == "all" else chart]
    analysis, _files, _patterns = run_analysis(paths, pattern_dirs, host_map, tz, encoding, jobs, since, until)
    figures = build_figures(chart_frames(analysis), names)
    if kind == "html":
        first, last = getattr(analysis, "first_time", None), getattr(analysis, "last_time", None)
        sub = "Logs: " + ", ".join(str(p) for p in paths)
        if first or last:
            sub += f"; {str(first or '').replace('T', ' ')[:19]} → {str(last or '').replace('T', ' ')[:19]}"
        page = charts_page(figures, title="logparse timeline", subtitle=sub, plotlyjs=plotlyjs)
        with open_output(output) as out:
            out.write(page)
        return
    (_name, fig), = figures.items()
    try:
        with ImageRenderer() as r:
            data = r.render(fig, kind, width, height)
    except ImageExportError as e:
        click.echo(str(e), err=True)  # one line (NO_BROWSER_MESSAGE…), never a traceback
        sys.exit(1)
    with open_output(output, binary=True) as out:
        out.write(data)
