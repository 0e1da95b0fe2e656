"""diagnose: ranked findings, 2x2 tables, JSON contract, renderers, CLI, simulated incidents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from logparse.cli.diagnose import diagnose as diagnose_cmd
from logparse.correlate import Analysis, CommandStats, StartAttempt, analyze
from logparse.diagnose import FINDING_KINDS, Diagnosis, diagnose, render_markdown, render_text, to_json
from logparse.patterns import Patterns
from logparse.simulate import simulate
from tests.logbuilder import GAP, GOOD, MANY, OUT_OF_ORDER, LogBuilder

FAILURE_KINDS = {
    "disk_order_mismatch",
    "disk_out_of_order",
    "disk_gap",
    "many_data_disks",
    "null_device",
    "duplicate_device",
    "disk_count",
    "host_feature",
    "version_feature",
    "start_failures",
    "masked_exception",
    "capacity_failures",
}


def _kinds(d: Diagnosis) -> list[str]:
    return [f.kind for f in d.findings]


def _find(d: Diagnosis, kind: str) -> Any:
    hits = [f for f in d.findings if f.kind == kind]
    assert hits, f"no {kind} finding in {_kinds(d)}"
    return hits[0]


def _incident(
    n_good: int = 32,
    bad: tuple[Any, ...] = (OUT_OF_ORDER, OUT_OF_ORDER, OUT_OF_ORDER, GAP, GAP, MANY, OUT_OF_ORDER),
    capacity: bool = True,
) -> LogBuilder:
    b = LogBuilder()
    b.ms_start("2.2.13", "2.2.14")
    b.agent_start(3, "2.2.14.20120210102939")
    b.agent_start(4, "2.2.14.20120210102939")
    vid = 10
    for i in range(n_good):
        b.start(vid, GOOD[i % 3], host_id=3 + i % 2)
        vid += 1
    for lay in bad:
        b.start(vid, lay, host_id=3 + vid % 2)
        vid += 1
    if capacity:
        b.capacity_failure(99)
    return b


@pytest.fixture(scope="module")
def incident(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _incident().write(tmp_path_factory.mktemp("incident"))


# --------------------------------------------------------------------------- findings


def test_diagnose_top_finding_is_disk_order(incident: Path, patterns: Patterns) -> None:
    d = diagnose(analyze([incident], patterns))
    top = d.findings[0]
    assert top.kind == "disk_order_mismatch"
    assert top.title == (
        "Start failures happen when the StartCommand's disks are not in device-id order: "
        "7 of 7 such starts failed, 0 of 32 others (p = 6.5e-08)"
    )
    assert (top.stats["a"], top.stats["b"], top.stats["c"], top.stats["d"]) == (7, 0, 0, 32)
    assert top.stats["p_value"] == pytest.approx(6.5e-08, rel=0.05)
    assert top.stats["components"] == {"out_of_order": 4, "gaps": 2, "many_data_disks": 1}
    assert top.stats["explains_all_agent_failures"] is True
    assert top.stats["excluded_capacity_failures"] == 1
    assert top.vms == [f"i-2-{v}-VM" for v in range(42, 49)]
    assert top.severity == "critical"
    # The components are folded into the union, not listed again.
    assert not {"disk_out_of_order", "disk_gap", "many_data_disks"} & set(_kinds(d))


def test_diagnose_capacity_failure_is_not_blamed_on_disks(incident: Path, patterns: Patterns) -> None:
    d = diagnose(analyze([incident], patterns))
    cap = _find(d, "capacity_failures")
    assert cap.vms == ["i-2-99-VM"]
    assert cap.stats["failed"] == 1
    assert all("i-2-99-VM" not in f.vms for f in d.findings if f.kind != "capacity_failures")


def test_diagnose_masked_exception_counts_starts(incident: Path, patterns: Patterns) -> None:
    d = diagnose(analyze([incident], patterns))
    m = _find(d, "masked_exception")
    assert m.title.startswith(
        "`NullPointerException` in `cleanupVMNetworks` masked "
        "`IndexOutOfBoundsException` in `createVbd` on 7 starts"
    )
    assert m.stats["starts"] == 7
    assert m.stats["failed_starts"] == 7
    assert m.stats["primary"] == "java.lang.IndexOutOfBoundsException in createVbd"
    assert len(m.evidence) == 14  # one Exception and one Caught line per start


def test_diagnose_no_failures_gives_no_failure_findings(tmp_path: Path, patterns: Patterns) -> None:
    b = LogBuilder()
    for i in range(6):
        b.start(10 + i, GOOD[i % 3])
    d = diagnose(analyze([b.write(tmp_path)], patterns))
    assert not FAILURE_KINDS & set(_kinds(d))
    assert d.summary["failed"] == 0
    assert d.summary["succeeded"] == 6


def test_diagnose_all_starts_failing(tmp_path: Path, patterns: Patterns) -> None:
    b = LogBuilder()
    for i, lay in enumerate((OUT_OF_ORDER, GAP, OUT_OF_ORDER)):
        b.start(10 + i, lay)
    d = diagnose(analyze([b.write(tmp_path)], patterns))
    kinds = _kinds(d)
    assert "disk_order_mismatch" not in kinds  # nothing to compare with
    sf = _find(d, "start_failures")
    assert sf.title.startswith("All 3 start attempts failed")
    assert "disks not in device-id order" in sf.title
    assert "no successful start to compare with" in sf.title
    assert _find(d, "masked_exception").stats["starts"] == 3


def test_diagnose_single_vm(tmp_path: Path, patterns: Patterns) -> None:
    b = LogBuilder()
    b.start(10, OUT_OF_ORDER)
    b.start(10, OUT_OF_ORDER)
    d = diagnose(analyze([b.write(tmp_path)], patterns))
    assert d.summary["vms"] == 1
    assert d.summary["start_attempts"] == 2
    assert _find(d, "start_failures").vms == ["i-2-10-VM"]


def test_diagnose_not_significant_is_not_reported(tmp_path: Path, patterns: Patterns) -> None:
    b = LogBuilder()
    b.start(10, OUT_OF_ORDER)
    b.start(11, GOOD[0])
    d = diagnose(analyze([b.write(tmp_path)], patterns))
    assert "disk_order_mismatch" not in _kinds(d)  # 1 of 1 vs 0 of 1: p = 1
    assert _find(d, "start_failures").stats["succeeded"] == 1


def test_diagnose_ms_only_still_finds_the_disks(tmp_path: Path, patterns: Patterns) -> None:
    root = _incident().write(tmp_path, agents=False)
    d = diagnose(analyze([root], patterns))
    assert d.findings[0].kind == "disk_order_mismatch"
    assert "masked_exception" not in _kinds(d)  # the agent's exceptions are not in these logs


def test_diagnose_agents_only(tmp_path: Path, patterns: Patterns) -> None:
    root = _incident().write(tmp_path, ms=False)
    d = diagnose(analyze([root], patterns))
    assert {"disk_order_mismatch", "masked_exception"} <= set(_kinds(d))
    assert "capacity_failures" not in _kinds(d)


def test_diagnose_conjoins_disk_feature_with_agent_version(tmp_path: Path, patterns: Patterns) -> None:
    b = LogBuilder()
    b.ms_start("2.2.13", "2.2.13")
    b.agent_start(3, "2.2.13.20111117191758")
    vid = 10
    for i in range(8):  # 2.2.13 starts out-of-order disks fine
        b.start(vid, OUT_OF_ORDER if i % 2 else GOOD[i % 3], fail=False)
        vid += 1
    b.ms_start("2.2.13", "2.2.14")
    b.agent_start(3, "2.2.14.20120210102939")
    for i in range(12):
        b.start(vid, OUT_OF_ORDER if i % 3 == 0 else GOOD[i % 3])
        vid += 1
    d = diagnose(analyze([b.write(tmp_path)], patterns))
    top = d.findings[0]
    assert top.kind == "disk_order_mismatch"
    assert top.stats["condition"] == "agent_version=2.2.14"
    assert top.title.startswith(
        "Start failures happen when the StartCommand's disks are not in device-id "
        "order and the agent runs 2.2.14: 4 of 4 such starts failed, 0 of 16 others"
    )
    assert top.stats["unconditioned"]["b"] == 4


def test_diagnose_version_and_upgrade_findings(tmp_path: Path, patterns: Patterns) -> None:
    b = LogBuilder()
    b.ms_start("2.2.13", "2.2.13")
    b.agent_start(3, "2.2.13.20111117191758")
    b.start(10, GOOD[1])
    b.wait(600)
    b.ms_start("2.2.13", "2.2.14")
    b.wait(900)
    b.start(11, OUT_OF_ORDER)
    b.agent_start(3, "2.2.14.20120210102939")
    b.start(12, GOOD[1])
    d = diagnose(analyze([b.write(tmp_path)], patterns))
    up = _find(d, "upgrade")
    assert up.title.startswith("Upgrade 2.2.13 → 2.2.14: management server ms1 at 2013-08-02 09:")
    assert "(database upgraded)" in up.title
    assert "agent kvm01 at" in up.title
    assert up.stats["database_upgrade"] is True
    mixed = _find(d, "mixed_versions")
    assert "the management server ran 2.2.14 while agents ran 2.2.13 (kvm01)" in mixed.title
    assert mixed.stats["intervals"][0]["failures"] == 1
    new = [f for f in d.findings if f.kind == "new_exception_after_change"]
    assert any(f.stats["where"] == "createVbd" for f in new)


def test_diagnose_rollback_finding(tmp_path: Path, patterns: Patterns) -> None:
    b = LogBuilder()
    b.ms_start("2.2.13", "2.2.14")
    b.start(10, GOOD[0])
    b.ms_start("2.2.14", "2.2.13")
    b.start(11, GOOD[0])
    d = diagnose(analyze([b.write(tmp_path)], patterns))
    rb = _find(d, "rollback")
    assert rb.title.startswith("Rollback 2.2.14 → 2.2.13: management server ms1")
    assert rb.severity == "warning"


def _synthetic(stats: list[CommandStats]) -> Analysis:
    return Analysis(command_stats=stats)


def test_diagnose_slow_and_unanswered_commands() -> None:
    fast = [
        CommandStats(
            f"kvm0{i}", "StartCommand", sent=20, answered=20, latencies=[800.0] * 20, seen_latencies=20
        )
        for i in (1, 2)
    ]
    slow = CommandStats(
        "kvm03",
        "StartCommand",
        sent=20,
        answered=18,
        unanswered=2,
        latencies=[900.0] * 10 + [9000.0] * 8,
        seen_latencies=18,
        unanswered_evidence=["ms.log:10", "ms.log:20"],
        max_latency_ms=9000.0,
        max_latency_evidence="ms.log:30",
    )
    d = diagnose(_synthetic([*fast, slow]))
    s = _find(d, "slow_commands")
    assert s.title == "StartCommand on kvm03 is slow: p95 9.0 s against 0.8 s on the other hosts (n = 18)"
    assert s.evidence == [{"source": "ms.log", "line": 30}]
    u = _find(d, "unanswered_commands")
    assert u.title == "2 StartCommands sent to kvm03 never got an answer (of 20 sent)"
    assert len(u.evidence) == 2


def test_diagnose_empty_analysis() -> None:
    d = diagnose(Analysis())
    assert d.findings == []
    assert d.start_attempts == []
    assert "No findings." in render_text(d)
    assert json.loads(to_json(d))["findings"] == []


def test_diagnose_ties_are_ordered_deterministically() -> None:
    # Two hosts with identical tables: same score, kind and odds ratio; order by title.
    atts = []
    for i in range(16):
        h = ("kvm01", "kvm02", "kvm03", "kvm04")[i % 4]
        fail = h in ("kvm01", "kvm02") and i < 12
        atts.append(
            StartAttempt(
                vm=f"i-2-{i}-VM",
                host=h,
                time=f"2013-08-02T09:{i:02d}:00.000",
                outcome="failed" if fail else "succeeded",
                failure_kind="agent_exception" if fail else None,
            )
        )
    d1 = diagnose(Analysis(attempts=atts))
    d2 = diagnose(Analysis(attempts=list(reversed(atts))))
    assert to_json(d1) == to_json(d2)


# --------------------------------------------------------------------------- output


def test_to_json_contract(incident: Path, patterns: Patterns) -> None:
    doc = json.loads(to_json(diagnose(analyze([incident], patterns))))
    assert doc["schema_version"] == 1
    assert list(doc) == ["schema_version", "summary", "findings", "start_attempts"]
    for f in doc["findings"]:
        assert {"kind", "title", "vms", "stats", "evidence"} <= set(f)
        assert f["kind"] in FINDING_KINDS
        assert list(f["stats"]) == sorted(f["stats"])
        assert all(set(e) == {"source", "line"} for e in f["evidence"])
    assert len(doc["start_attempts"]) == 40
    att = doc["start_attempts"][0]
    assert {"vm", "outcome", "disks", "evidence", "failure_kind", "disk_order_mismatch"} <= set(att)


def test_to_json_is_byte_identical_across_runs(incident: Path, patterns: Patterns) -> None:
    one = to_json(diagnose(analyze([incident], patterns)))
    two = to_json(diagnose(analyze([incident], patterns)))
    assert one == two


def test_render_text_and_markdown(incident: Path, patterns: Patterns) -> None:
    d = diagnose(analyze([incident], patterns))
    text = render_text(d, max_evidence=3)
    assert text.startswith("logparse diagnose: 40 start attempts (8 failed, 32 succeeded, 0 unknown)")
    assert (
        "1. [critical] Start failures happen when the StartCommand's disks are not in device-id order" in text
    )
    assert "not in device-id order          7          0          7" in text
    assert "… and " in text
    assert " more" in text
    assert "`" not in text
    md = render_markdown(d, max_evidence=3)
    assert md.startswith("# Diagnosis")
    assert "| not in device-id order | 7 | 0 | 7 |" in md
    assert "|---|---:|---:|---:|" in md
    assert "- … and " in md


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_cli_diagnose_formats(incident: Path, fmt: str) -> None:
    res = CliRunner().invoke(diagnose_cmd, [str(incident), "-f", fmt], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "start attempts" in res.stderr
    if fmt == "json":
        assert json.loads(res.stdout)["findings"][0]["kind"] == "disk_order_mismatch"
    else:
        assert "device-id order" in res.stdout


def test_cli_diagnose_output_file(incident: Path, tmp_path: Path) -> None:
    out = tmp_path / "d.md"
    res = CliRunner().invoke(
        diagnose_cmd, [str(incident), "-f", "markdown", "-o", str(out), "-q"], catch_exceptions=False
    )
    assert res.exit_code == 0, res.output
    assert res.stdout == ""
    assert res.stderr == ""
    assert out.read_text().startswith("# Diagnosis")


def test_cli_diagnose_help_has_example() -> None:
    res = CliRunner().invoke(diagnose_cmd, ["--help"])
    assert res.exit_code == 0
    assert "logparse diagnose sample_logs/upgrade-2.2.14" in res.stdout


def test_cli_diagnose_missing_path(tmp_path: Path) -> None:
    res = CliRunner().invoke(diagnose_cmd, [str(tmp_path / "nope")])
    assert res.exit_code == 1
    assert "Error" in res.output


# --------------------------------------------------------------------------- simulator


@pytest.fixture(scope="module")
def sims(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, Any]]]:
    root = tmp_path_factory.mktemp("sims")
    out = {}
    for name in ("upgrade-2.2.14", "null-device-4x", "baseline"):
        truth = simulate(name, root / name, seed=1)
        out[name] = (root / name, truth)
    return out


def test_simulated_upgrade_top_finding(
    sims: dict[str, tuple[Path, dict[str, Any]]], patterns: Patterns
) -> None:
    path, truth = sims["upgrade-2.2.14"]
    d = diagnose(analyze([path], patterns))
    top = d.findings[0]
    assert top.kind in ("disk_order_mismatch", "disk_out_of_order", "disk_gap", "many_data_disks")
    disk_failed = {
        a["vm"]
        for a in truth["start_attempts"]
        if a["outcome"] == "failed" and a["cause"] in ("disk_order", "disk_gap", "many_data_disks")
    }
    assert set(top.vms) == disk_failed
    assert top.stats["c"] == 0
    assert top.stats["b"] == 0
    assert top.stats["p_value"] < 1e-6


def test_simulated_upgrade_masked_and_capacity(
    sims: dict[str, tuple[Path, dict[str, Any]]], patterns: Patterns
) -> None:
    path, truth = sims["upgrade-2.2.14"]
    d = diagnose(analyze([path], patterns))
    n_disk = sum(
        1 for a in truth["start_attempts"] if a["cause"] in ("disk_order", "disk_gap", "many_data_disks")
    )
    masked = _find(d, "masked_exception")
    assert masked.stats["starts"] == n_disk
    assert masked.stats["masking"] == "java.lang.NullPointerException in cleanupVMNetworks"
    cap_vms = {a["vm"] for a in truth["start_attempts"] if a["cause"] == "capacity"}
    cap = _find(d, "capacity_failures")
    assert set(cap.vms) == cap_vms
    assert cap.stats["failed"] == sum(1 for a in truth["start_attempts"] if a["cause"] == "capacity")
    assert {"upgrade", "rollback"} <= set(_kinds(d))


def test_simulated_null_device(sims: dict[str, tuple[Path, dict[str, Any]]], patterns: Patterns) -> None:
    path, truth = sims["null-device-4x"]
    d = diagnose(analyze([path], patterns))
    top = d.findings[0]
    assert top.kind == "null_device"
    assert set(top.vms) == {a["vm"] for a in truth["start_attempts"] if a["cause"] == "null_device"}


def test_simulated_baseline_has_no_failure_findings(
    sims: dict[str, tuple[Path, dict[str, Any]]], patterns: Patterns
) -> None:
    path, _ = sims["baseline"]
    d = diagnose(analyze([path], patterns))
    assert not FAILURE_KINDS & set(_kinds(d))


def test_simulated_json_is_byte_identical(
    sims: dict[str, tuple[Path, dict[str, Any]]], patterns: Patterns
) -> None:
    path, _ = sims["upgrade-2.2.14"]
    assert to_json(diagnose(analyze([path], patterns))) == to_json(diagnose(analyze([path], patterns)))


# --------------------------------------------------------------------------- window


def test_window_keeps_what_falls_inside_and_remaps_traces(patterns: Patterns) -> None:
    from logparse.correlate import window

    full = analyze(["sample_logs/upgrade-2.2.14"], patterns)
    times = sorted(a.time for a in full.attempts if a.time)
    since, until = times[len(times) // 3][:13], times[2 * len(times) // 3][:13]
    w = window(full, since, until)
    assert w.attempts and len(w.attempts) < len(full.attempts)
    assert [a.vm for a in w.attempts] == [a.vm for a in full.attempts if a.time and since <= a.time < until]
    assert all(since <= e.timestamp < until for e in w.events if e.timestamp)
    assert len(w.events) == sum(1 for e in full.events if e.timestamp and since <= e.timestamp < until)
    for a_w, a_f in zip(w.attempts, [a for a in full.attempts if a.time and since <= a.time < until], strict=True):
        # the same trace occurrences, through the new indexes
        assert [w.traces[i] for i in a_w.trace_ids] == [
            full.traces[i] for i in a_f.trace_ids if since <= (full.traces[i].timestamp or "") < until]
    for m in w.masks:
        assert since <= w.traces[m.primary_index].timestamp < until
    assert w.markers == full.markers and w.versions == full.versions  # context stays whole
    assert window(full) is full
    assert full.attempts[0].trace_ids == analyze(["sample_logs/upgrade-2.2.14"], patterns).attempts[0].trace_ids


def test_diagnose_cli_window(tmp_path: Path) -> None:
    runner = CliRunner()
    before = runner.invoke(diagnose_cmd, ["sample_logs/upgrade-2.2.14", "-f", "json", "--until", "2013-08-07T12:00",
                                          "-q", "--jobs", "1"], catch_exceptions=False)
    after = runner.invoke(diagnose_cmd, ["sample_logs/upgrade-2.2.14", "-f", "json", "--since", "2013-08-07T12:00",
                                         "-q", "--jobs", "1"], catch_exceptions=False)
    b, a = json.loads(before.output), json.loads(after.output)
    assert all(s["time"] < "2013-08-07T12:00" for s in b["start_attempts"])
    assert all(s["time"] >= "2013-08-07T12:00" for s in a["start_attempts"])
    whole = json.loads(runner.invoke(diagnose_cmd, ["sample_logs/upgrade-2.2.14", "-f", "json", "-q", "--jobs", "1"],
                                     catch_exceptions=False).output)
    assert len(b["start_attempts"]) + len(a["start_attempts"]) == len(whole["start_attempts"])
    # before the upgrade nothing failed; the upgrade itself stays as context
    assert not any(s["outcome"] == "failed" for s in b["start_attempts"])
    assert "upgrade" in [f["kind"] for f in b["findings"]]
    assert "disk_order_mismatch" not in [f["kind"] for f in b["findings"]]
    assert a["findings"][0]["kind"] == "disk_order_mismatch"


def test_window_outside_the_logs_and_bad_bounds(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(diagnose_cmd, ["sample_logs/upgrade-2.2.14", "-f", "json", "-q", "--jobs", "1",
                                     "--since", "2099-01-01"], catch_exceptions=False)
    d = json.loads(r.output)
    assert d["start_attempts"] == [] and d["summary"]["first_time"] == "2099-01-01" and d["summary"]["last_time"] is None
    for bad in ("garbage", "2013-13-01", "2013-08-07T25:00"):
        r = runner.invoke(diagnose_cmd, ["sample_logs/upgrade-2.2.14", "-q", "--until", bad])
        assert r.exit_code == 1
        assert r.output.strip().splitlines() == [
            f"Error: --until: expected a time like 2013-08-07 or 2013-08-07T10:00, got {bad!r}"]
