"""correlate.analyze: start attempts, trace links, masks, versions, one side of the logs only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from logparse.correlate import Analysis, StartAttempt, analyze, release_of, release_str, vm_id_from_name
from logparse.patterns import Patterns
from logparse.simulate import simulate
from tests.cascade import write_cascade
from tests.logbuilder import GAP, GOOD, MANY, OUT_OF_ORDER, RETRY_4X, LogBuilder


def _incident(*, upgrade: bool = True) -> LogBuilder:
    """12 good starts on 2.2.13, the upgrade, 10 good and 4 bad starts, one capacity failure."""
    b = LogBuilder()
    b.ms_start("2.2.13", "2.2.13")
    b.agent_start(3, "2.2.13.20111117191758")
    b.agent_start(4, "2.2.13.20111117191758")
    vid = 10
    for i in range(12):
        b.start(vid, GOOD[i % 3], host_id=3 + i % 2, fail=False)
        vid += 1
    b.wait(3600)
    if upgrade:
        b.ms_start("2.2.13", "2.2.14")
        b.agent_start(3, "2.2.14.20120210102939")
        b.agent_start(4, "2.2.14.20120210102939")
    for i in range(10):
        b.start(vid, GOOD[i % 3], host_id=3 + i % 2)
        vid += 1
    for lay in (OUT_OF_ORDER, GAP, MANY, OUT_OF_ORDER):
        b.start(vid, lay, host_id=3 + vid % 2)
        vid += 1
    b.capacity_failure(99)
    return b


def _by_vm(a: Analysis) -> dict[str, StartAttempt]:
    return {x.vm: x for x in a.attempts}


@pytest.fixture(scope="module")
def incident_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _incident().write(tmp_path_factory.mktemp("incident"))


# --------------------------------------------------------------------------- the cascade


def test_analyze_cascade_links_both_sides(tmp_path: Path, patterns: Patterns) -> None:
    root = write_cascade(tmp_path)
    a = analyze([root], patterns)
    assert len(a.attempts) == 1
    att = a.attempts[0]
    assert (att.vm, att.vm_id, att.vm_type, att.job) == ("i-2-5-VM", 5, "User", 123)
    assert (att.host, att.host_id, att.seq) == ("kvm03", 3, "3-1493630987")
    assert att.outcome == "failed"
    assert att.failure_kind == "agent_exception"
    assert att.reason == "Unable to get answer that is of class com.cloud.agent.api.StartAnswer"
    assert att.disks == [
        {"volume_id": 5, "name": None, "type": "ROOT", "device_id": 0},
        {"volume_id": 7, "name": None, "type": "DATADISK", "device_id": 2},
        {"volume_id": 8, "name": None, "type": "DATADISK", "device_id": 1},
    ]
    assert (att.disk_count, att.data_disks) == (3, 2)
    assert att.out_of_order
    assert att.disk_order_mismatch
    assert not att.gaps
    assert not att.null_device
    assert not att.duplicate_device
    assert att.primary_exception == "java.lang.IndexOutOfBoundsException in createVbd"
    assert att.masking_exception == "java.lang.NullPointerException in cleanupVMNetworks"
    assert att.sides == "both"
    ms = "ms1/var/log/cloud/management/management-server.log"
    ag = "kvm03/var/log/cloud/agent/agent.log"
    # start, Sending, agent Exception, agent Caught, Failed to start, job completion
    assert [e.split(str(tmp_path) + "/")[1] for e in att.evidence] == [
        f"{ms}:2",
        f"{ms}:3",
        f"{ag}:4",
        f"{ag}:16",
        f"{ms}:6",
        f"{ms}:17",
    ]
    assert a.host_names == {3: "kvm03"}
    assert len(a.masks) == 1


def test_analyze_is_independent_of_file_order(tmp_path: Path, patterns: Patterns) -> None:
    root = write_cascade(tmp_path)
    ms = root / "ms1/var/log/cloud/management/management-server.log"
    ag = root / "kvm03/var/log/cloud/agent/agent.log"
    one = analyze([ms, ag], patterns).attempts[0].as_dict()
    two = analyze([ag, ms], patterns).attempts[0].as_dict()
    assert one == two


def test_analyze_keeps_start_command_trip(tmp_path: Path, patterns: Patterns) -> None:
    a = analyze([write_cascade(tmp_path)], patterns)
    assert [t.command for t in a.commands] == ["StartCommand"]
    trip = a.commands[0]
    assert trip.answered
    assert trip.result is False
    assert trip.agent_evidence is not None
    assert trip.sent_evidence is not None
    assert [(c.host, c.command, c.sent, c.failed) for c in a.command_stats] == [
        ("kvm03", "StartCommand", 1, 1)
    ]


def test_analyze_keeps_lifecycle_events_and_cuts_messages(tmp_path: Path, patterns: Patterns) -> None:
    a = analyze([write_cascade(tmp_path)], patterns)
    ids = {e.event for e in a.events}
    assert {"vm.start_requested", "vm.start_failed", "job.complete", "agent.ms_send", "agent.request"} <= ids
    assert all(len(e.message) <= 401 for e in a.events)


# --------------------------------------------------------------------------- built logs


def test_analyze_incident_outcomes_and_disks(incident_dir: Path, patterns: Patterns) -> None:
    a = analyze([incident_dir], patterns)
    by = _by_vm(a)
    assert len(a.attempts) == 27
    failed = {v for v, x in by.items() if x.outcome == "failed"}
    assert failed == {"i-2-32-VM", "i-2-33-VM", "i-2-34-VM", "i-2-35-VM", "i-2-99-VM"}
    assert all(x.outcome == "succeeded" for v, x in by.items() if v not in failed)
    assert by["i-2-33-VM"].gaps
    assert not by["i-2-33-VM"].out_of_order
    assert by["i-2-34-VM"].data_disks == 3
    assert not by["i-2-34-VM"].gaps
    assert by["i-2-34-VM"].disk_order_mismatch  # device 4 at position 3: 3 is the CD-ROM
    assert all(by[v].disk_order_mismatch for v in failed - {"i-2-99-VM"})
    assert not any(x.disk_order_mismatch for v, x in by.items() if v not in failed)


def test_analyze_capacity_failure_has_no_command(incident_dir: Path, patterns: Patterns) -> None:
    cap = _by_vm(analyze([incident_dir], patterns))["i-2-99-VM"]
    assert cap.failure_kind == "capacity"
    assert cap.seq is None
    assert cap.disk_count is None
    assert cap.disk_order_mismatch is None
    assert cap.reason == "Unable to create a deployment for VM[User|i-2-99-VM]"


def test_analyze_versions_and_markers(incident_dir: Path, patterns: Patterns) -> None:
    a = analyze([incident_dir], patterns)
    by = _by_vm(a)
    assert by["i-2-10-VM"].agent_version == "2.2.13.20111117191758"
    assert by["i-2-10-VM"].ms_version == "2.2.13"
    assert by["i-2-10-VM"].after_upgrade is False
    assert by["i-2-32-VM"].agent_version == "2.2.14.20120210102939"
    assert by["i-2-32-VM"].ms_version == "2.2.14"
    assert by["i-2-32-VM"].after_upgrade is True
    kinds = [(m.kind, m.host) for m in a.markers]
    assert ("db_upgrade", "ms1") in kinds
    assert {("upgrade", "ms1"), ("upgrade", "kvm01"), ("upgrade", "kvm02")} <= set(kinds)
    assert kinds.count(("agent_version", "kvm01")) == 2
    assert [p.version for p in a.versions["ms1"]] == ["2.2.13", "2.2.14"]
    times = [m.time for m in a.markers]
    assert times == sorted(times)


def test_analyze_ms_only(tmp_path: Path, patterns: Patterns) -> None:
    root = _incident().write(tmp_path, agents=False)
    a = analyze([root], patterns)
    by = _by_vm(a)
    assert len(a.attempts) == 27
    bad = by["i-2-32-VM"]
    assert bad.outcome == "failed"
    assert bad.failure_kind == "agent_exception"
    assert bad.disk_order_mismatch
    assert bad.host is None
    assert bad.host_id in (3, 4)
    assert bad.primary_exception is None
    assert bad.masking_exception is None
    assert bad.answer == "Answer"
    assert all(x.sides == "management" for x in a.attempts)


def test_analyze_agents_only(tmp_path: Path, patterns: Patterns) -> None:
    root = _incident().write(tmp_path, ms=False)
    a = analyze([root], patterns)
    by = _by_vm(a)
    assert len(a.attempts) == 26  # the capacity failure never reached an agent
    bad = by["i-2-32-VM"]
    assert bad.outcome == "failed"
    assert bad.failure_kind == "agent_exception"
    assert bad.sides == "agent"
    assert bad.host in ("kvm01", "kvm02")
    assert bad.primary_exception == "java.lang.IndexOutOfBoundsException in createVbd"
    assert bad.masking_exception == "java.lang.NullPointerException in cleanupVMNetworks"
    assert bad.reason == "java.lang.NullPointerException"
    assert by["i-2-10-VM"].outcome == "succeeded"
    assert by["i-2-10-VM"].agent_version == "2.2.13.20111117191758"


def test_analyze_links_info_agent_traces_by_host_and_time(tmp_path: Path, patterns: Patterns) -> None:
    b = LogBuilder()
    b.agent_start(3, "2.2.14.20120210102939")
    b.start(10, OUT_OF_ORDER, host_id=3, agent_debug=False)
    b.start(11, GOOD[1], host_id=3, agent_debug=False)
    a = analyze([b.write(tmp_path)], patterns)
    bad = _by_vm(a)["i-2-10-VM"]
    assert bad.host == "kvm01"  # from `Agent [id = 3 : …]` in kvm01's own log
    assert bad.primary_exception == "java.lang.IndexOutOfBoundsException in createVbd"
    assert bad.masking_exception == "java.lang.NullPointerException in cleanupVMNetworks"
    assert _by_vm(a)["i-2-11-VM"].fingerprints == []


def test_analyze_router_start_and_missing_start_line(tmp_path: Path, patterns: Patterns) -> None:
    b = LogBuilder()
    b.start(4, GOOD[0], vm_type="DomainRouter", fail=False)
    # A log that begins after the start transition: the Sending line opens the attempt.
    b.start(12, GOOD[1], fail=False)
    b.ms = [ln for ln in b.ms if "i-2-12-VM] reservation" not in ln]
    a = analyze([b.write(tmp_path)], patterns)
    by = _by_vm(a)
    assert by["r-4-VM"].vm_type == "DomainRouter"
    assert by["r-4-VM"].outcome == "succeeded"
    assert by["i-2-12-VM"].outcome == "succeeded"
    assert by["i-2-12-VM"].seq is not None


def test_analyze_planner_retry_is_one_attempt_per_host(tmp_path: Path, patterns: Patterns) -> None:
    f = tmp_path / "management-server.log"
    f.write_text(RETRY_4X)
    a = analyze([f], patterns)
    assert [(x.seq, x.host, x.outcome, x.failure_kind) for x in a.attempts] == [
        ("3-100", "kvm01", "failed", "agent_exception"),
        ("4-200", "kvm02", "failed", "agent_exception"),
    ]
    assert a.attempts[0].reason == "Unable to start VM on Host[-3-Routing] due to Index: 2, Size: 1"
    assert {(x.job, x.parent_job, x.trigger) for x in a.attempts} == {(302, 301, "api")}
    assert all(x.disk_order_mismatch and x.gaps for x in a.attempts)  # 4.x DiskTO payload


def test_analyze_empty_log(tmp_path: Path, patterns: Patterns) -> None:
    f = tmp_path / "management-server.log"
    f.write_text("2013-08-02 09:00:00,000 INFO  [cloud.x.Y] (main:null) hello\n")
    a = analyze([f], patterns)
    assert a.attempts == []
    assert a.markers == []
    assert a.traces == []
    assert a.first_time == a.last_time == "2013-08-02T09:00:00.000"


@pytest.mark.parametrize(
    ("version", "release"),
    [
        ("2.2.14.20120210102939", (2, 2, 14)),
        ("2.2.14", (2, 2, 14)),
        ("4.11.2.0", (4, 11, 2)),
        ("2.2.14-SNAPSHOT", (2, 2, 14)),
        ("4.20.1.0", (4, 20, 1)),
        ("abc", None),
        (None, None),
    ],
)
def test_release_of(version: str | None, release: tuple[int, ...] | None) -> None:
    assert release_of(version) == release


def test_release_str_and_vm_id() -> None:
    assert release_str("2.2.13.20111117191758") == "2.2.13"
    assert vm_id_from_name("i-2-5-VM") == 5
    assert vm_id_from_name("r-4-VM") == 4
    assert vm_id_from_name("web01") is None


# --------------------------------------------------------------------------- simulator


@pytest.fixture(scope="module")
def upgrade_sim(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("sim") / "upgrade"
    truth = simulate("upgrade-2.2.14", out, seed=1)
    return out, truth


def test_analyze_matches_simulated_ground_truth(
    upgrade_sim: tuple[Path, dict[str, Any]], patterns: Patterns
) -> None:
    out, truth = upgrade_sim
    a = analyze([out], patterns)
    mine = {(x.vm, x.seq): x for x in a.attempts}
    gt = {(x["vm"], x["seq"]): x for x in truth["start_attempts"]}
    assert set(mine) == set(gt)
    for key, g in gt.items():
        m = mine[key]
        assert m.outcome == g["outcome"], key
        assert m.host == g["host"], key
        assert m.job == g["job"], key
        if g["ms_version"]:
            assert release_str(m.ms_version) == g["ms_version"], key
        if g["agent_version"] and m.agent_version is not None:
            assert release_str(m.agent_version) == g["agent_version"], key
        if g["disks"]:
            assert [(d["volume_id"], d["type"], d["device_id"]) for d in m.disks] == [
                (d["volume_id"], d["type"], d["device_id"]) for d in g["disks"]
            ], key
        cause = g["cause"]
        if cause == "capacity":
            assert m.failure_kind == "capacity", key
        elif cause is not None:
            assert m.failure_kind == "agent_exception", key
            assert m.disk_order_mismatch, key
            assert m.primary_exception == "java.lang.IndexOutOfBoundsException in createVbd", key
            assert m.masking_exception == "java.lang.NullPointerException in cleanupVMNetworks", key


def test_analyze_simulated_markers(upgrade_sim: tuple[Path, dict[str, Any]], patterns: Patterns) -> None:
    out, truth = upgrade_sim
    a = analyze([out], patterns)
    kinds = {(m.kind, m.host) for m in a.markers}
    for ev in truth["events"]:
        if ev["kind"] in ("upgrade", "rollback") and ev["host"] == "ms1":
            assert (ev["kind"], "ms1") in kinds
    assert any(k == "host_down" for k, _ in kinds)
    json.dumps([m.as_dict() for m in a.markers])  # JSON-ready


def test_parallel_analysis_equals_sequential(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Workers over record-aligned byte ranges give the same diagnosis as one process."""
    import shutil

    import logparse.pipeline as pipeline
    from logparse.diagnose import diagnose, to_json

    root = Path(__file__).resolve().parent.parent / "sample_logs" / "upgrade-2.2.14"
    # Plain copies of the rotated files, so that byte ranges get cut inside them.
    work = tmp_path / "bundle"
    for src in root.rglob("*"):
        if src.is_file() and src.name != "ground_truth.json":
            dst = work / src.relative_to(root)
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.suffix == ".gz":
                import gzip

                dst.with_suffix("").write_bytes(gzip.decompress(src.read_bytes()))
            else:
                shutil.copy(src, dst)
    one = to_json(diagnose(analyze([work], jobs=1)))
    monkeypatch.setattr(pipeline, "UNIT_BYTES", 200_000)
    from logparse.patterns import load_patterns
    from logparse.sources import discover

    units = pipeline.plan_units(discover([work]), load_patterns(), 2)
    assert any(u.start > 0 for u in units)  # files really were cut
    two = to_json(diagnose(analyze([work], jobs=2)))
    assert one == two
