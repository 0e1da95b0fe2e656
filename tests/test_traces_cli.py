"""`logparse traces` on the 2013 cascade (ref §3.4)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from logparse.cli import cli
from tests.cascade import write_cascade


def test_traces_grouped_marks_the_masking_npe(runner: CliRunner, tmp_path: Path) -> None:
    root = write_cascade(tmp_path)
    r = runner.invoke(cli, ["traces", str(root), "-f", "json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    by_exc = {(x["exception"], x["where"]): x for x in rows}
    ioobe = by_exc[("java.lang.IndexOutOfBoundsException", "LibvirtComputingResource.createVbd")]
    npes = [x for x in rows if x["exception"] == "java.lang.NullPointerException"]
    npe = next(x for x in npes if x["role"])
    json_copy = next(x for x in npes if not x["role"])
    assert ioobe["role"] == "primary"
    assert npe["role"].startswith("masking")
    assert "NullPointerException in cleanupVMNetworks masked IndexOutOfBoundsException in createVbd" in npe["role"]
    assert npe["count"] == 1 and npe["hosts"] == ["kvm03"]
    # The one-frame copy escaped in the Answer JSON, seen by the agent and the MS.
    assert json_copy["count"] == 2 and json_copy["hosts"] == ["kvm03", "ms1"]
    assert ioobe["example"].endswith("agent.log:4")


def test_traces_each_has_required_columns(runner: CliRunner, tmp_path: Path) -> None:
    root = write_cascade(tmp_path)
    r = runner.invoke(cli, ["traces", str(root), "--each", "-f", "jsonl"], catch_exceptions=False)
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    for col in ("source", "line", "timestamp", "host", "exception", "message", "root_cause",
                "fingerprint", "frames", "masks", "masked_by"):
        assert col in rows[0]
    ioobe = next(x for x in rows if x["exception"] == "java.lang.IndexOutOfBoundsException")
    npe = next(x for x in rows if x["masks"])
    assert ioobe["masked_by"] == f"{npe['source']}:{npe['line']}"
    assert npe["masks"] == f"{ioobe['source']}:{ioobe['line']}"
    wrapper = next(x for x in rows if x["exception"] == "com.cloud.exception.AgentUnavailableException")
    assert wrapper["root_cause"] == "com.cloud.utils.exception.CloudRuntimeException"
    assert wrapper["masks"] is None and wrapper["masked_by"] is None


def test_traces_table_is_deterministic(runner: CliRunner, tmp_path: Path) -> None:
    root = write_cascade(tmp_path)
    a = runner.invoke(cli, ["traces", str(root)], catch_exceptions=False).stdout
    b = runner.invoke(cli, ["traces", str(root)], catch_exceptions=False).stdout
    assert a == b and "fingerprint" in a.splitlines()[0]
