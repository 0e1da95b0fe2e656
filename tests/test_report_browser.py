"""The report in a real headless Chromium, network off: every chart renders, nothing executes.

Skipped only when ``/usr/bin/chromium`` is absent (Debian: ``apt-get install chromium``).
"""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from logparse.cli.report import report as report_cmd
from logparse.cli.timeline import timeline as timeline_cmd
from logparse.report import ImageRenderer, build_report, write_report
from logparse.timeline import CHARTS
from tests.cascade import write_cascade
from tests.test_report import SCRIPT, _hostile_analysis, _hostile_diagnosis

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs /usr/bin/chromium (apt-get install chromium)"),
]


def dump_dom(page: Path, tmp_path: Path) -> str:
    """Open ``page`` from the file system with networking off; return the rendered DOM."""
    cmd = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--disable-breakpad", "--disable-crash-reporter",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--proxy-server=127.0.0.1:9",  # any network access fails
        "--virtual-time-budget=20000", "--dump-dom", page.resolve().as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, timeout=180, check=True)
    return done.stdout.decode("utf-8", "replace")


def chart_segments(dom: str) -> dict[str, str]:
    """Chart id → the DOM from its div to the next chart div."""
    starts = [(m.group(1), m.start()) for m in re.finditer(r'<div id="chart-(\w+)"', dom)]
    ends = [s for _, s in starts[1:]] + [len(dom)]
    return {name: dom[s:e] for (name, s), e in zip(starts, ends, strict=True)}


def test_report_renders_every_chart_offline(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    write_cascade(logs)
    out = tmp_path / "report"
    r = CliRunner().invoke(report_cmd, [str(logs), "-o", str(out)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    dom = dump_dom(out / "report.html", tmp_path)
    segments = chart_segments(dom)
    assert list(segments) == ["timeline", "starts", "disks", "exceptions", "latency"]
    for name, seg in segments.items():
        assert 'class="main-svg"' in seg, f"chart {name} did not render"
    for c in CHARTS:
        png = (out / "images" / f"{c}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert struct.unpack(">II", png[16:24])[0] == 1200  # IHDR width


def test_log_text_cannot_run_script_in_the_report(tmp_path):
    a = _hostile_analysis()
    write_report(build_report(a, _hostile_diagnosis(a), inputs=[SCRIPT]), tmp_path / "r")
    dom = dump_dom(tmp_path / "r" / "report.html", tmp_path)
    assert "<script>alert" not in dom
    assert "<i>x</i>" not in dom
    assert "<b>03</b>" not in dom
    # the VM name is shown, as text, in the disk chart's SVG
    assert re.search(r"<text[^>]*>[^<]*&lt;script&gt;alert\(1\)&lt;/script&gt;", dom)
    for name, seg in chart_segments(dom).items():
        assert 'class="main-svg"' in seg, f"chart {name} did not render"


def test_png_bytes_are_stable_on_this_machine(tmp_path):
    """Same figure, same Chromium → same PNG bytes (within and across browser sessions).

    This holds for one Chromium build and font set; another machine may differ, which is
    why the report's determinism promise covers HTML, Markdown and CSV only.
    """
    a = _hostile_analysis()
    figs = build_report(a, _hostile_diagnosis(a)).figures
    runs = []
    for _ in range(2):
        with ImageRenderer() as r:
            runs.append([r.render(f) for f in figs.values()])
            runs.append([r.render(f) for f in figs.values()])
    assert all(run == runs[0] for run in runs)


def test_timeline_png_and_svg(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    write_cascade(logs)
    png, svg = tmp_path / "d.png", tmp_path / "s.svg"
    r1 = CliRunner().invoke(timeline_cmd, [str(logs), "-o", str(png)], catch_exceptions=False)
    r2 = CliRunner().invoke(timeline_cmd, [str(logs), "-o", str(svg), "--chart", "starts"],
                            catch_exceptions=False)
    assert r1.exit_code == 0, r1.output
    assert r2.exit_code == 0, r2.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert svg.read_text().lstrip().startswith("<svg")
    assert "VM start attempts" in svg.read_text()
