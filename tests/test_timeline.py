"""Chart builders: figure dicts on small frames (never HTML), escaping, determinism."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

from logparse.timeline import (
    CHARTS,
    OKABE_ITO,
    ChartFrames,
    build_figures,
    disk_cells,
    disks_figure,
    empty_figure,
    exceptions_figure,
    fingerprint_label,
    latency_figure,
    starts_figure,
    timeline_figure,
)

SCRIPT = "<script>alert(1)</script>"


def _disks(*ids: int | None) -> list[dict[str, Any]]:
    return [{"volume_id": 100 + i, "type": "ROOT" if i == 0 else "DATADISK", "device_id": d}
            for i, d in enumerate(ids)]


def _attempt(vm: str, time: str, outcome: str, disks: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    row = {"vm": vm, "vm_id": 1, "job": 7, "host": "kvm01", "host_id": 3, "seq": "3-1",
           "time": time, "end_time": None, "outcome": outcome, "reason": None,
           "failure_kind": "agent_exception" if outcome == "failed" else None, "disks": disks,
           "evidence": [f"ms/management-server.log:{len(vm) + 10}"]}
    row.update(kw)
    return row


@pytest.fixture
def attempts() -> pd.DataFrame:
    return pd.DataFrame([
        _attempt("i-2-5-VM", "2013-08-07T10:05:00.000", "failed", _disks(0, 2, 1),
                 end_time="2013-08-07T10:05:02.000", reason="Unable to get answer"),
        _attempt("i-2-5-VM", "2013-08-07T10:20:00.000", "failed", _disks(0, 2, 1)),
        _attempt("i-2-6-VM", "2013-08-07T10:07:00.000", "succeeded", _disks(0, 1)),
        _attempt("i-2-7-VM", "2013-08-07T10:09:00.000", "failed", _disks(0, 1, 2, 4)),
        _attempt("i-2-8-VM", "2013-08-07T10:01:00.000", "succeeded", _disks(0)),
        _attempt("i-2-9-VM", "2013-08-07T10:30:00.000", "failed", _disks(0, 1),
                 failure_kind="capacity"),
    ])


@pytest.fixture
def markers() -> pd.DataFrame:
    return pd.DataFrame([
        {"time": "2013-08-07T10:00:00.000", "kind": "upgrade", "host": "ms1", "version": "2.2.14",
         "evidence": "ms/management-server.log:3"},
        {"time": "2013-08-07T10:02:00.000", "kind": "host_down", "host": "kvm02", "version": None,
         "evidence": "ms/management-server.log:9"},
        {"time": "2013-08-07T10:04:00.000", "kind": "host_up", "host": "kvm02", "version": None,
         "evidence": "ms/management-server.log:12"},
        {"time": "2013-08-07T10:40:00.000", "kind": "rollback", "host": "ms1", "version": "2.2.13",
         "evidence": "ms/management-server.log:99"},
    ])


@pytest.fixture
def events() -> pd.DataFrame:
    rows = []
    for i, (ts, host, cat) in enumerate([
        ("2013-08-07T10:00:10.000", "ms1", "vm"),
        ("2013-08-07T10:00:50.000", "ms1", "vm"),
        ("2013-08-07T10:00:30.000", "ms1", "job"),
        ("2013-08-07T10:03:00.000", "kvm02", "host"),
        ("2013-08-07T10:03:59.999", "ms1", "vm"),
    ]):
        rows.append({"timestamp": ts, "host": host, "category": cat, "event": f"{cat}.x",
                     "severity": "info", "source": f"{host}.log", "line": i + 1, "message": "m"})
    return pd.DataFrame(rows)


@pytest.fixture
def traces() -> pd.DataFrame:
    base = {"source": "kvm03/agent.log", "thread": "h-2", "seq": "3-1", "logid": None}
    return pd.DataFrame([
        {**base, "timestamp": "2013-08-07T10:05:00.100", "host": "kvm03", "line": 3,
         "exception": "java.lang.IndexOutOfBoundsException", "message": "Index: 2, Size: 1",
         "root_cause": "java.lang.IndexOutOfBoundsException", "fingerprint": "f-ioobe",
         "first_app_frame": "com.cloud.agent.resource.computing.LibvirtComputingResource.createVbd",
         "masked": False},
        {**base, "timestamp": "2013-08-07T10:05:00.200", "host": "kvm03", "line": 14,
         "exception": "java.lang.NullPointerException", "message": None,
         "root_cause": "java.lang.NullPointerException", "fingerprint": "f-npe",
         "first_app_frame": "com.cloud.agent.resource.computing.LibvirtComputingResource.cleanupVMNetworks",
         "masked": True},
        {**base, "timestamp": "2013-08-07T10:20:00.200", "host": "kvm01", "line": 40,
         "exception": "java.lang.NullPointerException", "message": None,
         "root_cause": "java.lang.NullPointerException", "fingerprint": "f-npe",
         "first_app_frame": "com.cloud.agent.resource.computing.LibvirtComputingResource.cleanupVMNetworks",
         "masked": True},
    ])


@pytest.fixture
def commands() -> pd.DataFrame:
    return pd.DataFrame([
        {"seq": "3-1", "command": "StartCommand", "vm_name": "i-2-5-VM", "host": "kvm03",
         "sent_at": "2013-08-07T10:05:00.000", "latency_ms": 52.0, "answered": True,
         "result": False},
        {"seq": "3-2", "command": "StartCommand", "vm_name": "i-2-6-VM", "host": "kvm01",
         "sent_at": "2013-08-07T10:07:00.000", "latency_ms": 1500.0, "answered": True,
         "result": True},
        {"seq": "3-3", "command": "StopCommand", "vm_name": "i-2-6-VM", "host": "kvm01",
         "sent_at": "2013-08-07T10:08:00.000", "latency_ms": None, "answered": False,
         "result": None},
    ])


def _data(fig: Any) -> list[dict[str, Any]]:
    return fig.to_dict()["data"]


def _no_raw_tags(fig: Any) -> None:
    text = json.dumps(fig.to_dict(), default=str)
    assert "<script" not in text


# --------------------------------------------------------------------------- timeline


def test_timeline_counts_events_per_minute_by_category_and_host(events, markers):
    fig = timeline_figure(events, markers)
    bars = [t for t in _data(fig) if t["type"] == "bar"]
    got = {(t["name"], t["yaxis"]): (list(t["x"]), list(t["y"])) for t in bars}
    # row 1 is the marker strip, then one row per host in name order: kvm02, ms1
    assert got[("host", "y2")] == (["2013-08-07T10:03:00.000"], [1])
    assert got[("vm", "y3")] == (["2013-08-07T10:00:00.000", "2013-08-07T10:03:00.000"], [2, 1])
    assert got[("job", "y3")] == (["2013-08-07T10:00:00.000"], [1])
    assert fig.layout.barmode == "stack"
    assert "bins of 1 minute" in fig.layout.title.text
    # each category has one legend entry however many hosts it appears on
    assert [t["name"] for t in bars if t.get("showlegend", True)] == ["host", "job", "vm"]


def test_timeline_marks_upgrades_rollbacks_and_shades_outages(events, markers):
    fig = timeline_figure(events, markers)
    strip = {t["name"]: t for t in _data(fig) if t["type"] == "scatter"}
    assert set(strip) == {"upgrade", "rollback", "host down", "host up"}
    assert strip["upgrade"]["text"] == ["2.2.14"]
    assert "ms/management-server.log:3" in strip["upgrade"]["customdata"][0][2]
    shapes = fig.layout.shapes
    lines = [s for s in shapes if s.type == "line"]
    assert sorted(s.x0 for s in lines) == ["2013-08-07T10:00:00.000", "2013-08-07T10:40:00.000"]
    bands = [(s.x0, s.x1, s.yref) for s in shapes if s.type == "rect"]
    # kvm02 has its own row (y2: row 1 is the marker strip), so only that row is shaded
    assert bands == [("2013-08-07T10:02:00.000", "2013-08-07T10:04:00.000", "y2 domain")]
    assert all(ax.type == "date" for ax in (fig.layout.xaxis, fig.layout.xaxis2, fig.layout.xaxis3))


def test_timeline_widens_the_bin_for_long_spans():
    # 3 days: 4320 one-minute bins > 360, so 15-minute bins (288)
    ev = pd.DataFrame([{"timestamp": f"2013-08-0{d}T10:20:00.000", "host": "ms1",
                        "category": "vm"} for d in (5, 6, 7, 8)])
    fig = timeline_figure(ev)
    assert "bins of 15 minutes" in fig.layout.title.text
    (bar,) = _data(fig)
    assert bar["x"] == [f"2013-08-0{d}T10:15:00.000" for d in (5, 6, 7, 8)]


def test_timeline_colours_are_okabe_ito(events):
    fig = timeline_figure(events)
    assert {t["marker"]["color"] for t in _data(fig)} <= set(OKABE_ITO)


# --------------------------------------------------------------------------- starts


def test_starts_swimlanes_put_failed_vms_first_with_evidence(attempts, markers):
    fig = starts_figure(attempts, markers)
    assert list(fig.layout.yaxis.categoryarray) == [
        "i-2-5-VM", "i-2-7-VM", "i-2-9-VM", "i-2-6-VM", "i-2-8-VM"]
    pts = {t["name"]: t for t in _data(fig) if t["mode"] == "markers"}
    assert set(pts) == {"failed: agent exception", "failed: capacity", "succeeded"}
    failed = pts["failed: agent exception"]
    assert failed["y"] == ["i-2-5-VM", "i-2-5-VM", "i-2-7-VM"]
    assert failed["x"][0] == "2013-08-07T10:05:00.000"
    assert "%{customdata[6]}" in failed["hovertemplate"]
    assert failed["customdata"][0][6] == "ms/management-server.log:18"
    assert failed["customdata"][0][5] == "[0, 2, 1]"
    # start → end duration line for the attempt that has an end time
    (seg,) = [t for t in _data(fig) if t["mode"] == "lines" and t["x"] != [None]]
    assert seg["x"] == ["2013-08-07T10:05:00.000", "2013-08-07T10:05:02.000", None]
    assert fig.layout.xaxis.type == "date"
    # upgrade and rollback: a line each, labelled, with a legend entry per line style
    assert [a.text for a in fig.layout.annotations] == ["upgrade 2.2.14", "rollback 2.2.13"]
    assert [t["name"] for t in _data(fig) if t["x"] == [None]] == ["upgrade", "rollback"]


# --------------------------------------------------------------------------- exceptions


@pytest.mark.parametrize(("exc", "frame", "label"), [
    pytest.param("java.lang.NullPointerException",
                 "com.cloud.agent.resource.computing.LibvirtComputingResource.cleanupVMNetworks",
                 "NPE@cleanupVMNetworks", id="npe"),
    pytest.param("java.lang.IndexOutOfBoundsException",
                 "com.cloud.x.LibvirtComputingResource.createVbd(LibvirtComputingResource.java:2364)",
                 "IOOBE@createVbd", id="ioobe-with-file"),
    pytest.param("com.cloud.utils.exception.CloudRuntimeException",
                 {"cls": "com.cloud.agent.manager.Commands", "method": "getAnswer"},
                 "CloudRuntimeException@getAnswer", id="app-exception-keeps-name"),
    pytest.param("java.lang.Error", None, "Error", id="no-frame"),
])
def test_fingerprint_label(exc, frame, label):
    assert fingerprint_label(exc, frame) == label


def test_exceptions_one_row_per_fingerprint_symbol_per_host(traces):
    fig = exceptions_figure(traces)
    groups = [t for t in _data(fig) if t["y"] != [None]]
    assert [(t["name"], t["y"]) for t in groups] == [
        ("IOOBE@createVbd (1)", ["IOOBE@createVbd"]),
        ("NPE@cleanupVMNetworks (2)", ["NPE@cleanupVMNetworks"] * 2),
    ]
    npe = groups[1]
    # kvm01 is the first host (circle), kvm03 the second (square); masking → open symbol
    assert npe["marker"]["symbol"] == ["square-open", "circle-open"]
    assert npe["customdata"][0][3] == "kvm03/agent.log:14"
    hosts = [t["name"] for t in _data(fig) if t["y"] == [None]]
    assert hosts == ["host: kvm01", "host: kvm03"]


# --------------------------------------------------------------------------- disks


@pytest.mark.parametrize(("ids", "states", "throw"), [
    pytest.param((0, 1, 2), ["ok", "ok", "ok"], None, id="in-order"),
    pytest.param((0, 2, 1), ["ok", "out", "out"], (1, 2, 1), id="creation-order-0-2-1"),
    pytest.param((0, 2), ["ok", "out"], (1, 2, 1), id="gap-after-detach"),
    pytest.param((0, 1, 2, 4), ["ok", "ok", "ok", "out"], (3, 4, 3), id="cdrom-slot-3"),
    pytest.param((1, 0), ["out", "out"], (0, 1, 0), id="root-after-datadisk"),
    pytest.param((0, None), ["ok", "null"], None, id="null-device-id"),
])
def test_disk_cells_classify_like_2_2_14_createvbd(ids, states, throw):
    cells = disk_cells(_disks(*ids))
    assert [c["state"] for c in cells] == states
    thrown = [(c["position"], c["device_id"], c["expected"]) for c in cells if c["throws"]]
    assert thrown == ([throw] if throw else [])


def test_disk_cells_iso_is_not_counted():
    cells = disk_cells([*_disks(0, 1), {"volume_id": None, "type": "ISO", "device_id": 3}])
    assert [c["state"] for c in cells] == ["ok", "ok", "iso"]


def test_disks_figure_marks_out_of_order_rows_failed_first(attempts):
    fig = disks_figure(attempts)
    heat = _data(fig)[0]
    assert heat["type"] == "heatmap"
    assert list(heat["y"]) == ["i-2-5-VM", "i-2-7-VM", "i-2-9-VM", "i-2-6-VM", "i-2-8-VM"]
    assert heat["text"][0] == ["0", "2", "1", ""]
    assert heat["text"][1] == ["0", "1", "2", "4"]
    ok, out = 0.5, 1.5  # state codes: ok, out, null, iso
    assert heat["z"][0] == [ok, out, out, None]
    assert heat["z"][1] == [ok, ok, ok, out]
    assert heat["z"][3] == [ok, ok, None, None]
    # a black frame where vols.add() throws: row 0 position 1, row 1 position 3
    frames = [(s.x0, s.y0) for s in fig.layout.shapes if s.type == "rect" and s.xref == "x"]
    assert frames == [(1 - 0.47, 0 - 0.45), (3 - 0.47, 1 - 0.45)]
    # failed VMs get a highlighted tick label and a shaded band over the first 3 rows
    assert fig.layout.yaxis.ticktext[0].startswith("<b><span")
    assert fig.layout.yaxis.ticktext[3] == "i-2-6-VM"
    band = [s for s in fig.layout.shapes if s.type == "rect" and s.xref == "paper"]
    assert (band[0].y0, band[0].y1) == (-0.5, 2.5)
    assert "2 of 3 failed VMs have disks out of device-id order; 0 of 2" in fig.layout.title.text
    legend = [t["name"] for t in _data(fig)[1:] if t.get("x") == [None]]
    assert "where 2.2.14 vols.add() throws IndexOutOfBounds" in legend
    status = _data(fig)[-1]
    assert status["text"][:3] == ["FAILED 2/2", "FAILED 1/1", "FAILED 1/1"]


def test_disks_figure_caps_rows_with_a_note():
    rows = [_attempt(f"vm-{i:03d}", "2013-08-07T10:00:00.000",
                     "failed" if i % 10 == 0 else "succeeded",
                     _disks(0, 2, 1) if i % 10 == 0 else _disks(0, 1)) for i in range(70)]
    fig = disks_figure(pd.DataFrame(rows), max_vms=50)
    heat = _data(fig)[0]
    assert len(heat["y"]) == 50
    assert list(heat["y"][:7]) == [f"vm-{i:03d}" for i in range(0, 70, 10)]
    assert fig.layout.height <= 800
    assert any("20 more VMs not shown (0 of them failed)" in a.text for a in fig.layout.annotations)


# --------------------------------------------------------------------------- latency


def test_latency_box_per_host_log_scale(commands):
    fig = latency_figure(commands)
    boxes = _data(fig)
    assert [(b["type"], b["name"], b["x"], b["y"]) for b in boxes] == [
        ("box", "kvm01", ["StartCommand"], [1500.0]),
        ("box", "kvm03", ["StartCommand"], [52.0]),
    ]
    assert fig.layout.yaxis.type == "log"
    assert "1 never answered" in fig.layout.title.text


# --------------------------------------------------------------------------- all


@pytest.mark.parametrize("name", list(CHARTS))
@pytest.mark.parametrize("frame", [None, pd.DataFrame()], ids=["none", "empty"])
def test_empty_input_gives_a_no_data_figure(name, frame):
    frames = ChartFrames(**{k: frame for k in ("events", "markers", "attempts", "traces",
                                                "commands")})
    fig = build_figures(frames, [name])[name]
    assert _data(fig) == []
    assert fig.layout.annotations[0].text.startswith("no ")


def test_empty_figure_escapes_its_message():
    fig = empty_figure("t", SCRIPT)
    assert fig.layout.annotations[0].text == "&lt;script&gt;alert(1)&lt;/script&gt;"


def test_log_text_is_escaped_and_redacted_everywhere(attempts, traces, markers):
    attempts.loc[0, "vm"] = SCRIPT
    attempts.loc[0, "reason"] = "boom <img src=x onerror=alert(1)> apikey=SECRET123"
    traces.loc[0, "message"] = SCRIPT
    traces.loc[0, "host"] = SCRIPT
    markers.loc[0, "version"] = SCRIPT
    ev = pd.DataFrame([{"timestamp": "2013-08-07T10:00:00.000", "host": SCRIPT,
                        "category": SCRIPT, "source": SCRIPT, "line": 1}])
    frames = ChartFrames(events=ev, markers=markers, attempts=attempts, traces=traces,
                         commands=pd.DataFrame([{"command": SCRIPT, "host": SCRIPT,
                                                 "latency_ms": 3.0, "vm_name": SCRIPT}]))
    for name, fig in build_figures(frames).items():
        _no_raw_tags(fig)
        assert "SECRET123" not in json.dumps(fig.to_dict(), default=str), name
    starts = starts_figure(attempts)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in starts.layout.yaxis.categoryarray
    hover = json.dumps(starts.to_dict()["data"])
    assert "&lt;img src=x onerror=alert(1)&gt;" in hover
    assert "apikey=***" in hover


def test_figures_are_deterministic(events, markers, attempts, traces, commands):
    frames = ChartFrames(events=events, markers=markers, attempts=attempts, traces=traces,
                         commands=commands)
    shuffled = ChartFrames(events=events.iloc[::-1], markers=markers.iloc[::-1],
                           attempts=attempts.iloc[::-1], traces=traces.iloc[::-1],
                           commands=commands.iloc[::-1])
    a, b = build_figures(frames), build_figures(shuffled)
    for name in CHARTS:
        assert a[name].to_dict() == b[name].to_dict(), name
        html1 = a[name].to_html(include_plotlyjs=False, div_id=f"chart-{name}")
        html2 = b[name].to_html(include_plotlyjs=False, div_id=f"chart-{name}")
        assert html1 == html2, name
