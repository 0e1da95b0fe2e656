"""vms: one row per VM with the latest StartCommand's disk layout and its start history."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from logparse.cli.vms import vms as vms_cmd
from logparse.correlate import Analysis, StartAttempt, analyze
from logparse.patterns import Patterns
from logparse.vms import VM_COLUMNS, disks_compact, iter_vm_rows, vms_frame
from tests.cascade import write_cascade
from tests.logbuilder import GOOD, OUT_OF_ORDER, LogBuilder


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    b = LogBuilder()
    b.agent_start(3, "2.2.14.20120210102939")
    b.start(10, GOOD[1], host_id=3)
    b.start(11, OUT_OF_ORDER, host_id=3)
    b.start(11, OUT_OF_ORDER, host_id=4)
    b.start(12, GOOD[2], host_id=4)
    b.capacity_failure(13)
    return b.write(tmp_path_factory.mktemp("vms"))


def test_disks_compact() -> None:
    disks = [
        {"volume_id": 5, "type": "ROOT", "device_id": 0},
        {"volume_id": 7, "type": "DATADISK", "device_id": 2},
        {"volume_id": 8, "type": "DATADISK", "device_id": 1},
        {"volume_id": 9, "type": "DATADISK", "device_id": None},
    ]
    assert disks_compact(disks) == "5:ROOT:0 7:DATADISK:2 8:DATADISK:1 9:DATADISK:-"
    assert disks_compact([]) == ""


def test_vm_rows_cascade(tmp_path: Path, patterns: Patterns) -> None:
    rows = list(iter_vm_rows(analyze([write_cascade(tmp_path)], patterns), compact_disks=True))
    assert len(rows) == 1
    r = rows[0]
    assert list(r) == list(VM_COLUMNS)
    assert r["vm"] == "i-2-5-VM"
    assert r["vm_id"] == 5
    assert r["disks"] == "5:ROOT:0 7:DATADISK:2 8:DATADISK:1"
    assert r["out_of_order"] is True
    assert r["gaps"] is False
    assert r["disk_order_mismatch"] is True
    assert (r["starts"], r["failures"], r["first_failure"]) == (1, 1, "2012-03-01T14:02:11.131")
    assert r["hosts"] == ["kvm03"]
    assert len(r["fingerprints"]) == 3
    assert r["source"].endswith("ms1/var/log/cloud/management/management-server.log")
    assert r["line"] == 3  # the Sending line of the latest StartCommand


def test_vm_rows_history(logs: Path, patterns: Patterns) -> None:
    rows = {r["vm"]: r for r in iter_vm_rows(analyze([logs], patterns))}
    assert sorted(rows) == ["i-2-10-VM", "i-2-11-VM", "i-2-12-VM", "i-2-13-VM"]
    bad = rows["i-2-11-VM"]
    assert (bad["starts"], bad["failures"], bad["last_outcome"]) == (2, 2, "failed")
    assert bad["hosts"] == ["kvm01", "kvm02"]
    assert bad["disks"] == [
        {"volume_id": 5, "name": "vol-5", "type": "ROOT", "device_id": 0},
        {"volume_id": 7, "name": "vol-7", "type": "DATADISK", "device_id": 2},
        {"volume_id": 8, "name": "vol-8", "type": "DATADISK", "device_id": 1},
    ]
    good = rows["i-2-10-VM"]
    assert (good["failures"], good["fingerprints"], good["first_failure"]) == (0, [], None)
    cap = rows["i-2-13-VM"]
    assert cap["disks"] == []
    assert cap["disk_count"] is None
    assert cap["failures"] == 1
    assert cap["hosts"] == []


def test_vm_rows_host_without_name() -> None:
    a = Analysis(
        attempts=[StartAttempt(vm="i-2-5-VM", host_id=3, outcome="succeeded", time="2013-01-01T00:00:00.000")]
    )
    (row,) = iter_vm_rows(a)
    assert row["hosts"] == ["host-3"]


def test_vms_frame_dtypes(logs: Path, patterns: Patterns) -> None:
    df = vms_frame(analyze([logs], patterns))
    assert list(df.columns) == list(VM_COLUMNS)
    assert len(df) == 4
    assert str(df["vm_id"].dtype) == "Int64"
    assert str(df["starts"].dtype) == "Int64"
    assert str(df["out_of_order"].dtype) == "boolean"
    assert df["disks"].iloc[1] == "5:ROOT:0 7:DATADISK:2 8:DATADISK:1"
    assert df["disk_count"].isna().iloc[3]


def test_vms_frame_empty() -> None:
    df = vms_frame(Analysis())
    assert list(df.columns) == list(VM_COLUMNS)
    assert len(df) == 0


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "jsonl"])
def test_cli_vms_formats(logs: Path, fmt: str) -> None:
    res = CliRunner().invoke(vms_cmd, [str(logs), "-f", fmt], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    out = res.stdout
    if fmt == "json":
        rows = json.loads(out)
        assert [r["vm"] for r in rows] == ["i-2-10-VM", "i-2-11-VM", "i-2-12-VM", "i-2-13-VM"]
        assert isinstance(rows[1]["disks"], list)
    elif fmt == "jsonl":
        assert len(out.splitlines()) == 4
    elif fmt == "csv":
        assert out.splitlines()[0] == ",".join(VM_COLUMNS)
        assert "5:ROOT:0 7:DATADISK:2 8:DATADISK:1" in out
    else:
        header = out.splitlines()[0].split()
        assert header[0] == "vm"
        assert header[-1] == "disks"
        assert "5:ROOT:0 7:DATADISK:2 8:DATADISK:1" in out  # last column: never cut


def test_cli_vms_failed_only_and_parquet(logs: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(vms_cmd, [str(logs), "--failed", "-f", "jsonl"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert [json.loads(ln)["vm"] for ln in res.stdout.splitlines()] == ["i-2-11-VM", "i-2-13-VM"]
    out = tmp_path / "vms.parquet"
    res = CliRunner().invoke(vms_cmd, [str(logs), "-f", "parquet", "-o", str(out)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    import pyarrow.parquet as pq

    table = pq.read_table(out)
    assert table.num_rows == 4
    assert table.column_names == list(VM_COLUMNS)


def test_cli_vms_help_has_example() -> None:
    res = CliRunner().invoke(vms_cmd, ["--help"])
    assert res.exit_code == 0
    assert "logparse vms sample_logs/upgrade-2.2.14" in res.stdout


def test_vms_cli_window_counts_only_the_starts_inside() -> None:
    runner = CliRunner()
    args = ["sample_logs/upgrade-2.2.14", "-f", "json", "--jobs", "1"]
    whole = {r["vm"]: r for r in json.loads(runner.invoke(vms_cmd, args, catch_exceptions=False).output)}
    inside = json.loads(runner.invoke(vms_cmd, [*args, "--since", "2013-08-08T11:00", "--until", "2013-08-08T12:00"],
                                      catch_exceptions=False).output)
    assert 0 < len(inside) < len(whole)
    assert all(r["starts"] <= whole[r["vm"]]["starts"] for r in inside)
    assert any(r["starts"] < whole[r["vm"]]["starts"] for r in inside)
