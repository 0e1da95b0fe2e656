"""Report and timeline commands: files written, determinism, escaping, no-browser path.

Fast: no browser is started here (images use a fake renderer or fail on purpose); the real
Chromium checks are in ``test_report_browser.py``.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace as NS
from typing import Any

import pytest
from click.testing import CliRunner

from logparse.cli import report as report_cli_module
from logparse.cli import timeline as timeline_cli_module
from logparse.cli.report import report as report_cmd
from logparse.cli.timeline import timeline as timeline_cmd
from logparse.correlate import analyze
from logparse.report import (
    NO_BROWSER_MESSAGE,
    ImageExportError,
    ImageRenderer,
    build_report,
    chart_frames,
    read_evidence,
    render_html,
    render_markdown,
    write_report,
)
from logparse.sources import discover
from logparse.timeline import CHARTS
from tests.cascade import write_cascade

SCRIPT = "<script>alert(1)</script>"
PLOTLY_BANNER = re.compile(r"plotly\.js v\d")


@pytest.fixture
def cascade(tmp_path: Path) -> Path:
    root = tmp_path / "logs"
    root.mkdir()
    return write_cascade(root)


class FakeRenderer:
    """Stands in for ImageRenderer: no browser, fixed bytes."""

    instances = 0

    def __init__(self) -> None:
        self.seconds: list[float] = []
        FakeRenderer.instances += 1

    def __enter__(self) -> FakeRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def render(self, fig: Any, fmt: str = "png", *a: Any, **kw: Any) -> bytes:
        self.seconds.append(0.0)
        return b"\x89PNG fake " + fig.layout.title.text.encode()[:20]


class NoBrowser(FakeRenderer):
    def __enter__(self) -> NoBrowser:
        raise ImageExportError(NO_BROWSER_MESSAGE)


class Crashing(FakeRenderer):
    def render(self, fig: Any, fmt: str = "png", *a: Any, **kw: Any) -> bytes:
        raise RuntimeError("disk full")


def _hostile_analysis() -> NS:
    """A duck-typed analysis whose log text tries to inject HTML and leak a secret."""
    disks = [{"volume_id": 5, "type": "ROOT", "device_id": 0},
             {"volume_id": 7, "type": "DATADISK", "device_id": 2},
             {"volume_id": 8, "type": "DATADISK", "device_id": 1}]
    attempt = {"vm": SCRIPT, "job": 1, "host": "kvm<b>03</b>", "time": "2013-08-07T22:50:00.000",
               "end_time": "2013-08-07T22:50:01.000", "outcome": "failed",
               "reason": f"{SCRIPT} apikey=SECRETKEY42", "failure_kind": "agent_exception",
               "disks": disks, "data_disks": 2, "disk_order_mismatch": True,
               "evidence": ["ms.log:3"]}
    ok = dict(attempt, vm="i-2-6-VM", outcome="succeeded", reason=None, failure_kind=None,
              disks=disks[:1], disk_order_mismatch=False, time="2013-08-07T22:51:00.000")
    trace = NS(exception="java.lang.NullPointerException", message=SCRIPT, root_cause="x",
               fingerprint="fp1", first_app_frame=NS(cls="com.cloud.A", method="cleanupVMNetworks"))
    occ = NS(source="kvm03/agent.log", line=16, timestamp="2013-08-07T22:50:00.500",
             host="kvm03", thread="h", seq="3-1", logid=None, trace=trace)
    event = {"timestamp": "2013-08-07T22:50:00.000", "host": "ms1", "category": "vm",
             "event": "vm.start_failed", "source": "ms.log", "line": 3, "message": SCRIPT}
    marker = {"time": "2013-08-07T22:20:00.000", "kind": "upgrade", "host": "ms1",
              "version": SCRIPT, "evidence": "ms.log:1"}
    return NS(events=[event], markers=[marker], attempts=[attempt, ok], traces=[occ], masks=[],
              commands=[], command_stats=[], first_time="2013-08-07T22:00:00.000",
              last_time="2013-08-07T23:00:00.000")


def _hostile_diagnosis(a: NS) -> NS:
    finding = NS(kind="disk_order_mismatch", title=f"`{SCRIPT}` failed <i>x</i>",
                 severity="critical", score=1.0, vms=[SCRIPT], stats={"note": SCRIPT},
                 evidence=[{"source": "ms.log", "line": 3}])
    return NS(findings=[finding], start_attempts=a.attempts, summary={})


def _tree(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- library


def test_chart_frames_from_the_2_2_14_cascade(cascade):
    frames = chart_frames(analyze([cascade]))
    (att,) = frames.attempts.to_dict("records")
    assert att["vm"] == "i-2-5-VM"
    assert att["outcome"] == "failed"
    assert [d["device_id"] for d in att["disks"]] == [0, 2, 1]
    tr = frames.traces.set_index("exception")
    assert bool(tr.loc["java.lang.NullPointerException", "masked"]) is True
    assert bool(tr.loc["java.lang.IndexOutOfBoundsException", "masked"]) is False
    assert tr.loc["java.lang.NullPointerException", "first_app_frame"].endswith(".cleanupVMNetworks")


def test_write_report_writes_every_file(cascade, tmp_path):
    files = discover([str(cascade)])
    rep = build_report(analyze(files), inputs=["logs"], files=files)
    out = tmp_path / "out"
    FakeRenderer.instances = 0
    res = write_report(rep, out, renderer=FakeRenderer)
    assert FakeRenderer.instances == 1  # one browser for all images
    assert res.image_error is None
    names = set(_tree(out))
    assert {"report.html", "report.md"} <= names
    assert {f"images/{c}.png" for c in CHARTS} <= names
    assert {f"data/{t}.csv" for t in ("start_attempts", "findings", "vms", "affected_vms",
                                      "exceptions", "masked_pairs", "events_summary",
                                      "markers")} <= names
    md = (out / "report.md").read_text()
    for c in CHARTS:
        assert f"](images/{c}.png)" in md  # relative links beside report.md
    for section in ("## Summary", "## Timeline", "## Findings", "## Affected VMs",
                    "## Exceptions", "## Raw evidence"):
        assert section in md
    assert "IOOBE@createVbd | NPE@cleanupVMNetworks | 1" in md  # the masked pair
    assert "java.lang.IndexOutOfBoundsException: Index: 2, Size: 1" in md  # raw evidence
    page = (out / "report.html").read_text()
    assert len(PLOTLY_BANNER.findall(page)) == 1  # plotly.js embedded once
    assert page.count("Plotly.newPlot(") == len(CHARTS)
    for c in CHARTS:
        assert f'id="chart-{c}"' in page
    assert "<script src=" not in page  # nothing to fetch: works offline
    rows = list(csv.DictReader(io.StringIO((out / "data/start_attempts.csv").read_text())))
    assert [(r["vm"], r["outcome"]) for r in rows] == [("i-2-5-VM", "failed")]
    assert not list(tmp_path.glob(".out.*"))  # no temporary directory left behind


def test_report_is_byte_identical_across_runs(cascade, tmp_path):
    trees = []
    for n in (1, 2):
        files = discover([str(cascade)])
        rep = build_report(analyze(files), inputs=["logs"], files=files)
        write_report(rep, tmp_path / f"r{n}", images=False)
        trees.append(_tree(tmp_path / f"r{n}"))
    assert trees[0] == trees[1]
    assert "images/timeline.png" not in trees[0]


def test_log_text_is_escaped_and_secrets_masked_in_every_file(tmp_path):
    a = _hostile_analysis()
    rep = build_report(a, _hostile_diagnosis(a), inputs=[SCRIPT])
    write_report(rep, tmp_path / "r", renderer=FakeRenderer)
    for name, data in _tree(tmp_path / "r").items():
        if name.startswith("images/"):
            continue
        text = data.decode()
        assert "SECRETKEY42" not in text, name
        if name.endswith(".md"):
            # Markdown shows code spans and fences literally (no HTML there); elsewhere
            # log text must be entity-escaped.
            text = re.sub(r"(?s)```.*?```|`[^`\n]*`", "", text)
        if name.endswith((".html", ".md")):
            assert "<script>alert" not in text, name
            assert "<i>x</i>" not in text, name
            assert "<b>03</b>" not in text, name
    page = (tmp_path / "r/report.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # diagnose's `code` spans become <code>, their content escaped
    assert "<code>&lt;script&gt;alert(1)&lt;/script&gt;</code> failed &lt;i&gt;x&lt;/i&gt;" in page
    md = (tmp_path / "r/report.md").read_text()
    assert "### 1. `<script>alert(1)</script>` failed &lt;i&gt;x&lt;/i&gt;" in md  # literal in a code span


def test_read_evidence_returns_whole_records_redacted(tmp_path):
    log = tmp_path / "ms1" / "management-server.log"
    log.parent.mkdir()
    log.write_text(
        "2013-08-07 22:50:00,001 DEBUG [agent.transport.Request] (Job-Executor-1:job-9) Seq 3-1:"
        ' Sending  { Cmd , [{"StartCommand":{"vm":{"name":"i-2-5-VM","vncPassword":"s3cr3t"}}}] }\n'
        "2013-08-07 22:50:00,002 ERROR [cloud.vm.VirtualMachineManagerImpl] (Job-Executor-1:job-9)"
        " Failed to start instance VM[User|i-2-5-VM]\n"
        "com.cloud.utils.exception.CloudRuntimeException: Unable to get answer\n"
        "\tat com.cloud.agent.manager.Commands.getAnswer(Commands.java:81)\n")
    files = discover([str(tmp_path / "ms1")])
    src = files[0].source
    got = read_evidence(files, [f"{src}:4", f"{src}:1", "elsewhere.log:3", f"{src}:1"])
    assert [e.location for e in got] == [f"{src}:4", f"{src}:1"]
    assert got[0].text.splitlines()[0].endswith("Failed to start instance VM[User|i-2-5-VM]")
    assert got[0].text.endswith("(Commands.java:81)")
    assert "s3cr3t" not in got[1].text
    assert '"vncPassword":"***"' in got[1].text


def test_no_browser_still_writes_html_and_markdown_linking_the_charts(tmp_path):
    a = _hostile_analysis()
    res = write_report(build_report(a, _hostile_diagnosis(a)), tmp_path / "r", renderer=NoBrowser)
    assert res.image_error == NO_BROWSER_MESSAGE
    names = set(_tree(tmp_path / "r"))
    assert "report.html" in names
    assert "report.md" in names
    assert not any(n.startswith("images/") for n in names)
    md = (tmp_path / "r/report.md").read_text()
    assert "](report.html#chart-disks)" in md
    assert "images/" not in md


def test_output_dir_is_written_whole_or_not_at_all(tmp_path):
    a = _hostile_analysis()
    rep = build_report(a, _hostile_diagnosis(a))
    out = tmp_path / "r"
    with pytest.raises(RuntimeError, match="disk full"):
        write_report(rep, out, renderer=Crashing)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(Exception, match="not empty"):
        write_report(rep, out, images=False)
    assert (out / "keep.txt").exists()
    write_report(rep, out, images=False, force=True)
    assert not (out / "keep.txt").exists()
    assert (out / "report.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_image_renderer_reports_a_missing_browser(monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", "/nonexistent/chromium")
    with pytest.raises(ImageExportError) as e, ImageRenderer():
        pass
    assert str(e.value) == NO_BROWSER_MESSAGE


def test_empty_analysis_gives_a_complete_report(tmp_path):
    from logparse.correlate import Analysis

    rep = build_report(Analysis())
    res = write_report(rep, tmp_path / "r", images=False)
    assert res.files[:2] == ["report.html", "report.md"]
    assert all(fig.layout.annotations[0].text.startswith("no ") for fig in rep.figures.values())
    assert "time span no timestamps" in (tmp_path / "r/report.md").read_text()


def test_render_functions_are_pure_strings():
    a = _hostile_analysis()
    rep = build_report(a, _hostile_diagnosis(a))
    assert render_html(rep) == render_html(rep)
    assert render_markdown(rep, {"disks": "images/disks.png"}).count("images/disks.png") == 1


# --------------------------------------------------------------------------- CLI


def test_report_cli_without_chromium_exits_1_with_one_line(cascade, tmp_path, monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", "/nonexistent/chromium")
    out = tmp_path / "r"
    result = CliRunner().invoke(report_cmd, [str(cascade), "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert result.stderr == NO_BROWSER_MESSAGE + "\n"
    assert (out / "report.html").exists()
    assert (out / "report.md").exists()
    assert "](report.html#chart-timeline)" in (out / "report.md").read_text()


def test_report_cli_no_images_and_force(cascade, tmp_path):
    out = tmp_path / "r"
    runner = CliRunner()
    r1 = runner.invoke(report_cmd, [str(cascade), "-o", str(out), "--no-images"],
                       catch_exceptions=False)
    assert r1.exit_code == 0, r1.output
    assert r1.stderr.startswith(f"wrote {out}: report.html, report.md, 0 images")
    r2 = runner.invoke(report_cmd, [str(cascade), "-o", str(out), "--no-images"])
    assert r2.exit_code == 1
    assert "not empty (use --force" in r2.stderr
    r3 = runner.invoke(report_cmd, [str(cascade), "-o", str(out), "--no-images", "--force", "-q"],
                       catch_exceptions=False)
    assert r3.exit_code == 0
    assert r3.stderr == ""


def test_timeline_cli_html_page(cascade, tmp_path):
    out = tmp_path / "t.html"
    r = CliRunner().invoke(timeline_cmd, [str(cascade), "-o", str(out)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    page = out.read_text()
    assert len(PLOTLY_BANNER.findall(page)) == 1
    assert [m for m in re.findall(r'<div id="(chart-\w+)"', page)] == [f"chart-{c}" for c in CHARTS]
    one = tmp_path / "one.html"
    CliRunner().invoke(timeline_cmd, [str(cascade), "-o", str(one), "--chart", "disks"],
                       catch_exceptions=False)
    assert re.findall(r'<div id="(chart-\w+)"', one.read_text()) == ["chart-disks"]


def test_timeline_cli_html_to_stdout_unless_a_terminal(cascade, monkeypatch):
    r = CliRunner().invoke(timeline_cmd, [str(cascade), "--chart", "starts"],
                           catch_exceptions=False)
    assert r.exit_code == 0
    assert r.stdout.startswith("<!DOCTYPE html>")
    monkeypatch.setattr(timeline_cli_module, "stdout_is_tty", lambda: True)
    r = CliRunner().invoke(timeline_cmd, [str(cascade), "-o", "-"])
    assert r.exit_code == 1
    assert "refusing to write HTML to a terminal; use -o FILE" in r.stderr
    r = CliRunner().invoke(timeline_cmd, [str(cascade), "-f", "png"])
    assert r.exit_code == 1
    assert "refusing to write an image to a terminal" in r.stderr


def test_timeline_cli_png_without_chromium(cascade, tmp_path, monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", "/nonexistent/chromium")
    out = tmp_path / "d.png"
    r = CliRunner().invoke(timeline_cmd, [str(cascade), "-o", str(out)])
    assert r.exit_code == 1
    assert r.stderr == NO_BROWSER_MESSAGE + "\n"
    assert not out.exists()
    assert list(tmp_path.glob(".d.png*")) == []


def test_cli_chart_names_match_the_library():
    assert list(timeline_cli_module.CHART_NAMES) == list(CHARTS)


def test_cli_modules_load_without_plotly():
    code = ("import sys, logparse.cli.report, logparse.cli.timeline;"
            "print(','.join(m for m in ('pandas', 'plotly', 'kaleido') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize(("output", "fmt", "expected"), [
    ("x.html", None, "html"), ("x.PNG", None, "png"), ("x.svg", None, "svg"),
    ("-", None, "html"), ("x.out", None, "html"), ("x.html", "svg", "svg"),
])
def test_timeline_output_format(output, fmt, expected):
    assert timeline_cli_module.output_format(output, fmt) == expected


@pytest.mark.parametrize("cmd", [report_cmd, timeline_cmd], ids=["report", "timeline"])
def test_help_has_summary_and_example(cmd):
    r = CliRunner().invoke(cmd, ["--help"], catch_exceptions=False)
    assert r.exit_code == 0
    assert "Example:" in r.stdout
    assert "sample_logs/upgrade-2.2.14" in r.stdout
    assert cmd.get_short_help_str(100)
    assert report_cli_module.__doc__


def test_masked_pairs_group_by_link_kind_not_per_thread(tmp_path):
    out = tmp_path / "rep"
    result = CliRunner().invoke(report_cmd, ["sample_logs/upgrade-2.2.14", "-o", str(out), "--no-images",
                                             "-q", "--jobs", "1"], catch_exceptions=False)
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO((out / "data" / "masked_pairs.csv").read_text())))
    # 30 failed starts, each an IndexOutOfBoundsException hidden by the NPE on the same
    # agent thread: one row, whatever the thread and the delay of each occurrence
    assert [(r["primary"], r["masked_by"], r["count"]) for r in rows] == [
        ("IOOBE@createVbd", "NPE@cleanupVMNetworks", "30")]
    assert re.fullmatch(r"same thread, \+\d+ to \d+ ms", rows[0]["reason"])


def test_report_and_timeline_window(tmp_path):
    since, until = "2013-08-08T10:00", "2013-08-08T14:00"
    out = tmp_path / "rep"
    CliRunner().invoke(report_cmd, ["sample_logs/upgrade-2.2.14", "-o", str(out), "--no-images", "-q", "--jobs", "1",
                                    "--since", since, "--until", until], catch_exceptions=False)
    starts = list(csv.DictReader(io.StringIO((out / "data" / "start_attempts.csv").read_text())))
    markers = list(csv.DictReader(io.StringIO((out / "data" / "markers.csv").read_text())))
    assert starts and all(since <= r["time"] < until for r in starts)
    assert markers and all(since <= r["time"] < until for r in markers)
    assert "time span 2013-08-08 10:00 → 2013-08-08 14:00" in (out / "report.md").read_text()
    page = tmp_path / "t.html"
    r = CliRunner().invoke(timeline_cmd, ["sample_logs/upgrade-2.2.14", "-o", str(page), "--jobs", "1",
                                          "--since", since, "--until", until], catch_exceptions=False)
    assert r.exit_code == 0 and "2013-08-08 10:00" in page.read_text()


def test_plotlyjs_cdn_gives_small_pages(cascade, tmp_path):
    from logparse.cli.common import PLOTLYJS_CHOICES
    from logparse.report import PLOTLYJS_MODES

    assert PLOTLYJS_CHOICES == PLOTLYJS_MODES
    embed, cdn = tmp_path / "embed.html", tmp_path / "cdn.html"
    for out, mode in ((embed, "embed"), (cdn, "cdn")):
        r = CliRunner().invoke(timeline_cmd, [str(cascade), "-o", str(out), "--plotlyjs", mode, "--jobs", "1"],
                               catch_exceptions=False)
        assert r.exit_code == 0
    page = cdn.read_text()
    script = re.compile(r'<script [^>]*src="https://cdn\.plot\.ly/plotly-[0-9.]+\.min\.js"')
    assert len(script.findall(page)) == 1
    assert cdn.stat().st_size * 5 < embed.stat().st_size
    assert not script.search(embed.read_text())
    rep = tmp_path / "rep"
    r = CliRunner().invoke(report_cmd, [str(cascade), "-o", str(rep), "--no-images", "--plotlyjs", "cdn", "-q",
                                        "--jobs", "1"], catch_exceptions=False)
    assert r.exit_code == 0 and "https://cdn.plot.ly/plotly-" in (rep / "report.html").read_text()


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs /proc")
def test_report_in_a_directory_that_takes_no_files_is_one_error():
    """/proc takes no new directories: an OutputError naming the output (was a traceback)."""
    from logparse.errors import OutputError

    a = _hostile_analysis()
    rep = build_report(a, _hostile_diagnosis(a))
    with pytest.raises(OutputError, match=r"^/proc/logparse-report: cannot write in /proc"):
        write_report(rep, "/proc/logparse-report", images=False)
