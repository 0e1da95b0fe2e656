"""``logparse simulate``: determinism, size, format fidelity, ground truth vs logs, CLI (issue #3).

The format regexes below are written from ``shared/reference/cloudstack-log-formats.md``
(section numbers in the comments), not from the generator's templates.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from logparse.cli.simulate import simulate as simulate_cmd
from logparse.simulate import SimulationError, generate, parse_size, simulate
from logparse.simulate.model import arraylist_add_failure, disk_cause
from logparse.simulate.summary import describe

SAMPLE_LOGS = Path(__file__).resolve().parent.parent / "sample_logs"

# ref §7 H1: date, optional {GMT} (§1.5), level padded to 5 (§1.2), [logger], (thread:ndc)
HEADER = re.compile(
    r"^(?P<ts>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3})(?P<gmt>\{GMT\})? "
    r"(?P<level>DEBUG|INFO |WARN |ERROR|TRACE|FATAL) \[(?P<logger>[^\]]+)\] "
    r"\((?P<thread>[^:()]*):(?P<ndc>[^)]*)\) (?:\(logid:(?P<logid>[0-9a-f]*)\) )?(?P<msg>.*)$"
)
# ref §2.1: "Seq " + agent + "-" + seq + ": " + msg + " { " + type + ", MgmtId: " … " }"
TRANSPORT = re.compile(
    r"^(?P<prefix>Request:)?Seq (?P<agent>\d+)-(?P<seq>\d+): (?P<msg>Sending |Received: |Processing: |)"
    r" \{ (?P<kind>Cmd |Ans: ), MgmtId: (?P<mgmt>-?\d+), via: (?P<via>\d+)(?:\((?P<name>[^)]*)\))?, "
    r"Ver: v1, Flags: (?P<flags>[01]+), (?P<content>.*) \}$"
)
# ref §4.2 (2.2 → 4.15 wording)
TRANSITION = re.compile(
    r"^VM state transitted from :(\w+) to (\w+) with event: (\w+)vm's original host id: (\S+) "
    r"new host id: (\S+) host id before state transition: (\S+)$"
)
# ref §7 async jobs
COMPLETE = re.compile(r"^Complete async job-(\d+), jobStatus: (\w+|\d), resultCode: (\d+), result: (.*)$")
VOLUME_TO = [
    "id",
    "name",
    "mountPoint",
    "path",
    "size",
    "type",
    "storagePoolType",
    "storagePoolUuid",
    "deviceId",
]
ISO_TO = ["id", "name", "size", "type", "storagePoolType", "deviceId"]
VM_TO_22 = [
    "id",
    "name",
    "type",
    "cpus",
    "speed",
    "minRam",
    "maxRam",
    "arch",
    "os",
    "bootArgs",
    "rebootOnCrash",
    "enableHA",
    "limitCpuUse",
    "vncPassword",
    "params",
    "disks",
    "nics",
]
DISK_TO = ["data", "diskSeq", "path", "type", "_details"]


def read_text(path: Path) -> str:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8")


def log_text(root: Path, pattern: str) -> str:
    """All files matching ``pattern`` (rotated first, in date order, then the current one)."""
    files = sorted(root.glob(pattern), key=lambda p: (not p.name.endswith(".gz"), p.name))
    return "".join(read_text(p) for p in files)


def records(text: str) -> Iterator[dict[str, Any]]:
    """Header lines as dicts, with their continuation lines as ``tail``."""
    cur: dict[str, Any] | None = None
    for line in text.split("\n"):
        m = HEADER.match(line)
        if m:
            if cur is not None:
                yield cur
            cur = {**m.groupdict(), "tail": []}
        elif cur is not None and line:
            cur["tail"].append(line)
    if cur is not None:
        yield cur


@pytest.fixture(scope="module")
def upgrade(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("sim") / "upgrade"
    return out, simulate("upgrade-2.2.14", out, seed=1)


@pytest.fixture(scope="module")
def nulldev(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("sim") / "nulldev"
    return out, simulate("null-device-4x", out, seed=1)


@pytest.fixture(scope="module")
def ms22(upgrade: tuple[Path, dict[str, Any]]) -> list[dict[str, Any]]:
    return list(records(log_text(upgrade[0] / "ms1/var/log/cloud/management", "management-server.log*")))


@pytest.fixture(scope="module")
def ms4x(nulldev: tuple[Path, dict[str, Any]]) -> list[dict[str, Any]]:
    return list(records(log_text(nulldev[0] / "ms1/var/log/cloudstack/management", "management-server.log*")))


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- determinism -----------------------------------------------------------------------


def test_simulate_same_seed_gives_identical_bytes(
    tmp_path: Path, upgrade: tuple[Path, dict[str, Any]]
) -> None:
    simulate("upgrade-2.2.14", tmp_path / "again", seed=1)
    assert tree(tmp_path / "again") == tree(upgrade[0])


def test_simulate_different_seed_differs(tmp_path: Path) -> None:
    a = generate("baseline", tmp_path / "a", seed=1, vms=12, hosts=2)
    b = generate("baseline", tmp_path / "b", seed=2, vms=12, hosts=2)
    ta, tb = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert ta["ground_truth.json"] != tb["ground_truth.json"]
    assert a.truth["vms"] != b.truth["vms"]
    for res in (a, b):  # baseline: healthy noise only
        assert res.truth["start_attempts"]
        assert all(x["outcome"] == "succeeded" for x in res.truth["start_attempts"])
        assert {e["kind"] for e in res.truth["events"]} <= {"ms_start", "agent_restart"}
    assert ta.keys() & tb.keys()
    assert any(ta[k] != tb[k] for k in ta.keys() & tb.keys())


def test_simulate_gzip_headers_carry_no_time_or_name(upgrade: tuple[Path, dict[str, Any]]) -> None:
    gz = sorted(upgrade[0].rglob("*.gz"))
    assert gz, "rotated days must be gzip'ed"
    for p in gz:
        head = p.read_bytes()[:10]
        assert head[:3] == b"\x1f\x8b\x08"
        assert head[3] & 0x08 == 0, f"{p}: FNAME set"
        assert head[4:8] == b"\0\0\0\0", f"{p}: mtime set"


def test_simulate_files_layout_and_line_endings(
    upgrade: tuple[Path, dict[str, Any]], nulldev: tuple[Path, dict[str, Any]]
) -> None:
    for root, truth, base in (
        (upgrade[0], upgrade[1], "var/log/cloud"),
        (nulldev[0], nulldev[1], "var/log/cloudstack"),
    ):
        on_disk = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        assert truth["files"] == [f for f in on_disk if f != "ground_truth.json"]
        assert f"ms1/{base}/management/management-server.log" in truth["files"]
        assert any(
            re.fullmatch(rf"ms1/{base}/management/management-server\.log\.\d{{4}}-\d{{2}}-\d{{2}}\.gz", f)
            for f in truth["files"]
        )
        for h in truth["hosts"]:
            assert f"{h['name']}/{base}/agent/agent.log" in truth["files"]
            assert any(f.startswith(f"{h['name']}/var/log/libvirt/qemu/i-") for f in truth["files"])
        for f in truth["files"]:
            text = read_text(root / f)
            assert "\r" not in text
            assert text.endswith("\n")


# -- size ---------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["upgrade-2.2.14", "null-device-4x"])
def test_simulate_size_reaches_target_within_10_percent(tmp_path: Path, scenario: str) -> None:
    target = 48 * 1024 * 1024
    res = generate(scenario, tmp_path / "big", size=target)
    total = sum(len(read_text(p).encode()) for p in (tmp_path / "big").rglob("*") if p.is_file())
    assert abs(total - target) <= 0.10 * target, total
    assert res.uncompressed_bytes == total


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500MB", 500 * 1024**2),
        ("1GB", 1024**3),
        ("200k", 200 * 1024),
        ("1048576", 1048576),
        ("1.5G", int(1.5 * 1024**3)),
        ("300KiB", 300 * 1024),
        ("2 mb", 2 * 1024**2),
    ],
)
def test_parse_size_accepts_units(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "MB", "12x", "-5MB", "0", "1GiBs"])
def test_parse_size_rejects_garbage(text: str) -> None:
    with pytest.raises(SimulationError):
        parse_size(text)


# -- formats (ref §1, §2, §4) ------------------------------------------------------------


def test_simulate_every_log4j_line_is_a_header_or_continuation(upgrade: tuple[Path, dict[str, Any]]) -> None:
    root = upgrade[0]
    agent = log_text(root / "kvm02/var/log/cloud/agent", "agent.log*")
    ms = log_text(root / "ms1/var/log/cloud/management", "management-server.log*")
    gmt = 0
    for text in (agent, ms):
        for line in text.split("\n"):
            if (
                not line
                or line.startswith(("\t", "<", "Caused by: ", "java.", "com.cloud."))
                or line.startswith("Agent started.  PID: ")
            ):
                continue
            m = HEADER.match(line)
            assert m, line[:200]
            if m["gmt"]:
                gmt += 1
                assert m["ndc"] == ""
                assert m["level"] != "DEBUG"
            else:
                assert m["ndc"] != ""  # EnhancedPatternLayout prints an empty NDC as null
    assert gmt > 0
    assert re.search(r"^Agent started\.  PID: \d+$", agent, re.M)
    assert "INFO  [" in ms
    assert "WARN  [" in ms
    assert "DEBUG [" in ms


def test_simulate_22_transport_lines_and_startcommand_json(ms22: list[dict[str, Any]]) -> None:
    sends = [r for r in ms22 if "Sending  {" in r["msg"]]
    starts = 0
    for r in sends:
        m = TRANSPORT.match(r["msg"])
        assert m, r["msg"][:200]
        assert int(m["seq"]) < 2**31
        assert m["name"] is None
        payload = json.loads(m["content"])
        key = next(iter(payload[0]))
        assert "." not in key or key.startswith(("storage.", "routing.", "check."))  # short keys ≤ 4.1 (§2.3)
        if key == "StartCommand":
            starts += 1
            assert m["flags"] == "100111"
            assert (
                re.fullmatch(r"Job-Executor-\d+", r["thread"]) and re.fullmatch(r"job-\d+", r["ndc"])
            ) or (re.fullmatch(r"HA-Worker-\d+", r["thread"]) and re.fullmatch(r"work-\d+", r["ndc"]))
            cmd = payload[0]["StartCommand"]
            assert list(cmd) == ["vm", "wait"]
            assert list(cmd["vm"]) == VM_TO_22
            assert re.fullmatch(r"[0-9a-f]{16}", cmd["vm"]["vncPassword"])  # in clear in 2.2.14
            *disks, iso = cmd["vm"]["disks"]
            assert [list(d) for d in disks] == [VOLUME_TO] * len(disks)
            assert list(iso) == ISO_TO
            assert iso["deviceId"] == 3
            assert iso["id"] == cmd["vm"]["id"]
            assert disks[0]["type"] == "ROOT" or any(d["type"] == "ROOT" for d in disks)
            assert [d["id"] for d in disks] == sorted(d["id"] for d in disks)  # creation order (§2.4)
    assert starts > 40
    for r in ms22:
        if r["msg"].startswith("SeqA "):
            assert re.match(
                r"^SeqA (\d+)-(\d+): (Processing|Sending) Seq \1-\2:  \{ (Cmd |Ans: ), MgmtId: ", r["msg"]
            )


def test_simulate_22_lifecycle_and_job_lines(ms22: list[dict[str, Any]]) -> None:
    transitions = [r for r in ms22 if r["msg"].startswith("VM state transitted")]
    assert transitions
    assert all(TRANSITION.match(r["msg"]) for r in transitions)
    assert all(r["logger"] == "cloud.capacity.CapacityManagerImpl" for r in transitions)
    completes = [COMPLETE.match(r["msg"]) for r in ms22 if r["msg"].startswith("Complete async job-")]
    assert completes
    assert all(completes)
    statuses = {(m[2], m[3]) for m in completes if m}
    assert ("1", "0") in statuses
    assert ("2", "530") in statuses
    for r in ms22:
        if r["msg"].startswith(("Executing com.cloud.api.commands.", "Complete async job-")):
            assert re.fullmatch(r"Job-Executor-\d+", r["thread"])
            assert r["ndc"] == f"job-{r['msg'].split('job-')[1].split(',')[0].split()[0]}"
        if r["thread"].startswith("catalina-exec-") or r["thread"].startswith("AgentManager-Handler-"):
            assert r["ndc"] == "null"
        if r["thread"].startswith("HA-Worker-"):
            assert re.fullmatch(r"work-\d+", r["ndc"])
        assert "." in r["logger"]
        assert len(r["logger"].split(".")) <= 3
    text = "\n".join(r["msg"] for r in ms22)
    for marker in (
        "DB version = 2.2.13 Code Version = 2.2.14",
        "Database upgrade must be performed from 2.2.13 to 2.2.14",
        "Running upgrade Upgrade2213to2214 ",
        "Upgrade completed for version 2.2.14",
        "DB version = 2.2.14 Code Version = 2.2.13",
        "There is no upgrade path from 2.2.14 to 2.2.13",
        "Start completed for VM VM[User|",
        "Unable to create a deployment for VM[User|",
    ):
        assert marker in text, marker


def test_simulate_4x_formats(ms4x: list[dict[str, Any]], nulldev: tuple[Path, dict[str, Any]]) -> None:
    assert all(r["logid"] is not None for r in ms4x)  # (logid:…) on every 4.7+ line
    assert all(re.fullmatch(r"(?:[a-z]\.)+[A-Z]\w*(?:\$\d+)?", r["logger"]) for r in ms4x)  # %c{1.}
    starts = 0
    for r in ms4x:
        t = r["thread"]
        if t.startswith("API-Job-Executor-"):
            assert re.fullmatch(r"ctx-[0-9a-f]{8} job-\d+(?: ctx-[0-9a-f]{8})?", r["ndc"])
        elif t.startswith("Work-Job-Executor-"):
            assert re.fullmatch(r"ctx-[0-9a-f]{8} job-\d+/job-\d+(?: ctx-[0-9a-f]{8})?", r["ndc"])
        elif t.startswith("qtp"):
            assert re.fullmatch(r"qtp\d+-\d+", t)
            assert re.fullmatch(r"ctx-[0-9a-f]{8}(?: ctx-[0-9a-f]{8})?", r["ndc"])
        m = TRANSPORT.match(r["msg"])
        if m and m["msg"] == "Sending ":
            assert len(m["seq"]) == 19
            assert m["name"] is not None
            payload = json.loads(m["content"])
            key = next(iter(payload[0]))
            assert key.startswith("com.cloud.agent.api.")  # FQCN keys, 4.2+ (§2.3)
            if key == "com.cloud.agent.api.StartCommand":
                starts += 1
                cmd = payload[0][key]
                assert list(cmd)[-3:] == ["executeInSequence", "wait", "bypassHostMaintenance"]
                assert cmd["wait"] == "0"
                assert re.fullmatch(r"\(\d+\.\d\d [KMGT]?B\) \d+", cmd["vm"]["minRam"])
                assert "vncPassword" not in cmd["vm"]  # @LogLevel(Off) in 4.x
                for d in cmd["vm"]["disks"][:-1]:
                    keys = list(d)
                    assert keys == DISK_TO or keys == [k for k in DISK_TO if k != "diskSeq"]
                    vol = d["data"]["org.apache.cloudstack.storage.to.VolumeObjectTO"]
                    assert re.fullmatch(r"\(\d+\.\d\d GB\) \d+", vol["size"])
                    assert ("diskSeq" in d) == ("deviceId" in vol)
                assert cmd["vm"]["disks"][-1]["type"] == "ISO"
                assert cmd["vm"]["disks"][-1]["diskSeq"] == "3"
    assert starts > 30
    completes = [COMPLETE.match(r["msg"]) for r in ms4x if r["msg"].startswith("Complete async job-")]
    assert completes
    assert all(completes)
    assert {m[2] for m in completes if m} >= {"SUCCEEDED", "FAILED"}
    assert all(TRANSITION.match(r["msg"]) for r in ms4x if r["msg"].startswith("VM state transitted"))


# -- ground truth vs logs -------------------------------------------------------------------


def _job(r: dict[str, Any]) -> int | None:
    """The async job of a record (None for HA-Worker threads, which run no job)."""
    m = re.search(r"job-(\d+)", r["ndc"])
    return int(m.group(1)) if m else None


def _vm(msg: str) -> str:
    return re.search(r"VM\[User\|([^\]]+)\]", msg).group(1)  # type: ignore[union-attr]


def test_ground_truth_failed_starts_match_the_22_logs(
    upgrade: tuple[Path, dict[str, Any]], ms22: list[dict[str, Any]]
) -> None:
    root, truth = upgrade
    attempts = truth["start_attempts"]
    # the start attempts marked failed are exactly those with "Failed to start instance" (same
    # job -- or HA work without a job -- and same VM), in the same order
    disk_failed = [
        (a["job"], a["vm"]) for a in attempts if a["outcome"] == "failed" and a["cause"] != "capacity"
    ]
    logged = [
        (_job(r), _vm(r["msg"])) for r in ms22 if r["msg"].startswith("Failed to start instance VM[User|")
    ]
    assert disk_failed == logged
    assert disk_failed
    capacity = [(a["job"], a["vm"]) for a in attempts if a["cause"] == "capacity"]
    assert capacity == [
        (_job(r), _vm(r["msg"])) for r in ms22 if "Unable to create a deployment for VM[User|" in r["msg"]
    ]
    succeeded = [(a["job"], a["vm"]) for a in attempts if a["outcome"] == "succeeded"]
    assert succeeded == [
        (_job(r), _vm(r["msg"])) for r in ms22 if r["msg"].startswith("Start completed for VM ")
    ]
    assert {a["cause"] for a in attempts} >= {None, "disk_order", "disk_gap", "many_data_disks", "capacity"}
    # one capacity confounder has its disks in device order
    vms = {v["name"]: v for v in truth["vms"]}
    assert any(
        disk_cause([(d["type"], d["device_id"]) for d in vms[a["vm"]]["disks"]]) is None
        for a in attempts
        if a["cause"] == "capacity"
    )

    sends = {}
    for r in ms22:
        m = TRANSPORT.match(r["msg"])
        if m and m["msg"] == "Sending " and '"StartCommand"' in m["content"]:
            sends[f"{m['agent']}-{m['seq']}"] = json.loads(m["content"])[0]["StartCommand"]["vm"]["disks"][
                :-1
            ]
    agent_text = "".join(
        log_text(root / f"{h['name']}/var/log/cloud/agent", "agent.log*") for h in truth["hosts"]
    )
    for a in attempts:
        if a["seq"] is None:
            assert a["cause"] == "capacity"
            assert a["disks"] is None
            assert a["host"] is None
            continue
        sent = sends[a["seq"]]
        assert [(d["id"], d["type"], d["deviceId"]) for d in sent] == [
            (d["volume_id"], d["type"], d["device_id"]) for d in a["disks"]
        ]
        devs = [d["deviceId"] for d in sent]
        if a["outcome"] == "failed":
            assert a["agent_version"] == "2.2.14"
            assert a["cause"] == disk_cause([(d["type"], d["deviceId"]) for d in sent])
            if a["cause"] == "disk_order":
                assert devs != sorted(devs)
            index, size = arraylist_add_failure(devs)  # type: ignore[misc]
            block = agent_text.split(f"Request:Seq {a['seq']}:", 1)[1].split("Request:Seq ", 1)[0]
            assert f"java.lang.IndexOutOfBoundsException: Index: {index}, Size: {size}" in block
            assert (
                "Caught: \njava.lang.NullPointerException\n\tat com.cloud.agent.resource.computing."
                "LibvirtComputingResource.cleanupVMNetworks(" in block
            )
            assert '[{"Answer":{"result":false,"details":"java.lang.NullPointerException\\n\\tat ' in block
        elif a["agent_version"] == "2.2.14":
            assert disk_cause([(d["type"], d["deviceId"]) for d in sent]) is None


def test_ground_truth_events_match_the_22_logs(
    upgrade: tuple[Path, dict[str, Any]], ms22: list[dict[str, Any]]
) -> None:
    root, truth = upgrade
    kinds = [e["kind"] for e in truth["events"]]
    assert {
        "ms_start",
        "upgrade",
        "rollback",
        "agent_restart",
        "host_down",
        "host_up",
        "host_reinstalled",
    } <= set(kinds)
    times = [e["time"] for e in truth["events"]]
    assert times == sorted(times)
    upgrade_ev = next(e for e in truth["events"] if e["kind"] == "upgrade")
    line = next(r for r in ms22 if r["msg"].startswith("Running upgrade Upgrade2213to2214"))
    assert line["ts"].replace(" ", "T").replace(",", ".") == upgrade_ev["time"]
    for e in truth["events"]:
        if e["kind"] == "agent_restart":
            agent = log_text(root / f"{e['host']}/var/log/cloud/agent", "agent.log*")
            stamp = e["time"].replace("T", " ").replace(".", ",")[:19]
            assert re.search(
                rf"^{re.escape(stamp)},\d{{3}} INFO  \[cloud\.agent\.AgentShell\] \(main:null\) "
                rf"Implementation Version is {re.escape(e['version'])}\.\d{{14}}$",
                agent,
                re.M,
            )
    # the end: one host left, mixed versions were visible
    reinstalled = {e["host"] for e in truth["events"] if e["kind"] == "host_reinstalled"}
    assert len(reinstalled) == len(truth["hosts"]) - 1
    mixed = {(a["agent_version"], a["ms_version"]) for a in truth["start_attempts"] if a["agent_version"]}
    assert ("2.2.14", "2.2.13") in mixed
    assert ("2.2.14", "2.2.14") in mixed


def test_ground_truth_null_device_matches_the_4x_logs(
    nulldev: tuple[Path, dict[str, Any]], ms4x: list[dict[str, Any]]
) -> None:
    root, truth = nulldev
    attempts = truth["start_attempts"]
    failed = {a["job"] for a in attempts if a["cause"] == "null_device"}
    invocation = {
        _job(r)
        for r in ms4x
        if r["msg"]
        == (
            "Invocation exception, caused by: com.cloud.utils.exception.CloudRuntimeException: "
            "Unable to get answer that is of class com.cloud.agent.api.StartAnswer"
        )
    }
    assert failed
    assert failed == invocation
    api_failed = {
        int(m[1]) for r in ms4x if (m := COMPLETE.match(r["msg"])) and m[2] == "FAILED" and m[3] == "530"
    }
    assert failed == api_failed
    capacity = {a["job"] for a in attempts if a["cause"] == "capacity"}
    logged_533 = {
        int(m[1]) for r in ms4x if (m := COMPLETE.match(r["msg"])) and m[2] == "FAILED" and m[3] == "533"
    }
    assert capacity == logged_533
    for a in attempts:
        if a["cause"] == "null_device":
            assert any(d["device_id"] is None and d["type"] == "DATADISK" for d in a["disks"])
        elif a["outcome"] == "succeeded":
            assert all(d["device_id"] is not None for d in a["disks"])
    agents = "".join(
        log_text(root / f"{h['name']}/var/log/cloudstack/agent", "agent.log*") for h in truth["hosts"]
    )
    assert agents.count(
        ") Caught: \njava.lang.NullPointerException\n\tat com.cloud.hypervisor.kvm.resource."
        "LibvirtComputingResource$3.compare("
    ) == len([a for a in attempts if a["cause"] == "null_device"])
    assert " Exception \n" not in agents  # §3.5: no resource-level "Exception " line in 4.6+
    assert re.search(
        r"^\S+ \S+ DEBUG \[cloud\.agent\.Agent\] \(agentRequest-Handler-\d:null\) \(logid:[0-9a-f]{8}\) "
        r"Request:Seq \d+-\d{19}:  \{ Cmd , MgmtId: \d+, via: \d+, Ver: v1, Flags: 100011, ",
        agents,
        re.M,
    )


@given(st.permutations([0, 1, 2, 4, 5]).flatmap(lambda p: st.integers(1, len(p)).map(lambda k: p[:k])))
def test_disk_cause_is_exactly_when_2214_throws(devs: list[int]) -> None:
    """``disk_cause`` (the ground-truth rule) agrees with the ArrayList emulation (ref §3.3)."""
    disks = [("ROOT" if d == 0 else "DATADISK", d) for d in devs]
    assert (disk_cause(disks) is not None) == (arraylist_add_failure(devs) is not None)


def test_arraylist_emulation_matches_reference_examples() -> None:
    assert arraylist_add_failure([0, 2, 1]) == (2, 1)  # ref §3.4
    assert arraylist_add_failure([0, 1, 2, 4]) == (4, 3)  # ref §3.3: 3+ data disks
    assert arraylist_add_failure([1, 0]) == (1, 0)  # ROOT after a DATADISK
    assert arraylist_add_failure([0, 1, 2]) is None


# -- parser round trip ---------------------------------------------------------------------


def test_generated_logs_parse_without_orphans(
    upgrade: tuple[Path, dict[str, Any]], nulldev: tuple[Path, dict[str, Any]]
) -> None:
    records_mod = pytest.importorskip(
        "logparse.records", reason="logparse.records (issue #2) not available yet"
    )
    orphans_by_tree = []
    for root in (upgrade[0], nulldev[0]):
        recs = list(records_mod.iter_records([root]))
        assert len(recs) > 1000
        assert {r.kind for r in recs} <= {"record", "orphan"}
        orphans = [r for r in recs if r.kind == "orphan"]
        assert all(r.text.startswith("Agent started.  PID: ") for r in orphans), orphans[:3]
        assert {r.role for r in recs} >= {"management", "agent", "libvirt"}
        orphans_by_tree.append(len(orphans))
    assert orphans_by_tree[0] > 0  # 2.2 agents print the runner line at every start (ref §1.5)
    assert orphans_by_tree[1] == 0  # 4.x agent stdout goes elsewhere


# -- CLI -------------------------------------------------------------------------------------


def test_cli_writes_bundle_and_summary(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    result = CliRunner().invoke(
        simulate_cmd, ["baseline", "-o", str(out), "--vms", "10", "--hosts", "2"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert (out / "ground_truth.json").is_file()
    assert re.fullmatch(
        r"simulate: baseline seed 1: \d+ files, [\d.]+ MiB uncompressed \([\d.]+ MiB on disk\) "
        r"in [\d.]+ s, [\d.]+ MiB/s -> .*\n",
        result.stderr,
    )
    assert result.stdout == ""
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]  # no temporary directory left


def test_cli_refuses_non_empty_directory(tmp_path: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine\n")
    result = CliRunner().invoke(simulate_cmd, ["baseline", "-o", str(out)])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("Error: ")
    assert "--force" in result.stderr
    assert (out / "keep.txt").read_text() == "mine\n"
    assert len(list(out.iterdir())) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]


def test_cli_force_replaces_directory(tmp_path: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "old.txt").write_text("x")
    result = CliRunner().invoke(
        simulate_cmd, ["baseline", "-o", str(out), "--force", "--vms", "8", "--hosts", "1"]
    )
    assert result.exit_code == 0, result.output
    assert not (out / "old.txt").exists()
    assert (out / "ground_truth.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["upgrade-2.2.14", "--hosts", "1"], 1, "needs at least 2 hosts"),
        (["baseline", "--size", "lots"], 2, "not a size"),
        (["nope"], 2, "'nope' is not one of 'upgrade-2.2.14', 'null-device-4x', 'baseline'"),
    ],
)
def test_cli_errors_are_one_liners(tmp_path: Path, args: list[str], code: int, fragment: str) -> None:
    result = CliRunner().invoke(simulate_cmd, [*args, "-o", str(tmp_path / "x")])
    assert result.exit_code == code
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()
    assert list(tmp_path.iterdir()) == []


def test_cli_help_has_summary_and_example() -> None:
    result = CliRunner().invoke(simulate_cmd, ["--help"])
    assert result.exit_code == 0
    assert "Write realistic CloudStack logs of a known incident, with ground truth." in result.stdout
    assert (
        "Example:\n    logparse simulate upgrade-2.2.14 -o sample_logs/upgrade-2.2.14 --seed 1 --force"
        in result.stdout
    )


# -- committed samples -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["upgrade-2.2.14", "null-device-4x"])
def test_sample_logs_are_current_and_described(
    name: str, upgrade: tuple[Path, dict[str, Any]], nulldev: tuple[Path, dict[str, Any]]
) -> None:
    """``sample_logs/<scenario>`` is what ``--seed 1`` generates today, and the README says so."""
    sample = SAMPLE_LOGS / name
    if not sample.is_dir():
        pytest.skip(f"{sample} not present")
    fresh = upgrade if name == "upgrade-2.2.14" else nulldev
    assert tree(sample) == tree(fresh[0]), "regenerate: logparse simulate " + name + " -o sample_logs/" + name
    readme = (SAMPLE_LOGS / "README.md").read_text(encoding="utf-8")
    assert describe(fresh[1]) in readme
    assert f"logparse simulate {name} -o sample_logs/{name} --seed 1 --force" in readme


def test_sample_logs_stay_small() -> None:
    files = [p for p in SAMPLE_LOGS.rglob("*") if p.is_file()]
    if not any(p.name == "ground_truth.json" for p in files):
        pytest.skip("no generated samples")
    assert sum(p.stat().st_size for p in files) <= 4_000_000
    assert any(p.name.endswith(".gz") for p in files)
