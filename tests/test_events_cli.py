"""`logparse events` and `logparse commands` on the 2013 cascade (ref §3.4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from logparse.cli import cli
from tests.cascade import write_cascade


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "jsonl"])
def test_events_every_format(runner: CliRunner, tmp_path: Path, fmt: str) -> None:
    root = write_cascade(tmp_path)
    r = runner.invoke(cli, ["events", str(root), "-f", fmt], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "vm.start_failed" in r.stdout and "job.complete" in r.stdout


def test_events_type_glob_and_fields(runner: CliRunner, tmp_path: Path) -> None:
    root = write_cascade(tmp_path)
    r = runner.invoke(cli, ["events", str(root), "-t", "job.complete", "-t", "vm.start_*", "-f", "jsonl"],
                      catch_exceptions=False)
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert {x["event"] for x in rows} == {"job.complete", "vm.start_requested", "vm.start_failed"}
    job = next(x for x in rows if x["event"] == "job.complete")
    assert job["fields"]["status"] == "FAILED" and job["fields"]["result_code"] == 530
    assert job["line"] == 17 and job["host"] == "ms1"


def test_commands_pairs_both_sides(runner: CliRunner, tmp_path: Path) -> None:
    root = write_cascade(tmp_path)
    r = runner.invoke(cli, ["commands", str(root), "-f", "json", "--failed"], catch_exceptions=False)
    rows = json.loads(r.stdout)
    assert len(rows) == 1
    trip = rows[0]
    assert trip["seq"] == "3-1493630987" and trip["command"] == "StartCommand"
    assert trip["vm_name"] == "i-2-5-VM" and trip["answered"] is True and trip["result"] is False
    assert trip["details"].startswith("java.lang.NullPointerException")
    assert trip["latency_ms"] == 59
    assert trip["agent_evidence"].endswith("agent.log:1")
