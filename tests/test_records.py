"""Record splitting: every era's header, continuation, orphans, messy input."""

from __future__ import annotations

import bz2
import gzip
import itertools
import lzma
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logparse.models import FileStats
from logparse.patterns import Patterns
from logparse.records import iter_records, parse_line, parse_text

# Header lines of every era (ref §1.7), with the fields they must give.
ERA_LINES = [
    pytest.param(
        "2012-03-01 14:02:11,110 DEBUG [cloud.async.AsyncJobManagerImpl] (Job-Executor-4:job-123) "
        "Executing com.cloud.api.commands.StartVMCmd for job-123",
        {"timestamp": "2012-03-01T14:02:11.110", "level": "DEBUG", "logger": "cloud.async.AsyncJobManagerImpl",
         "thread": "Job-Executor-4", "ndc": "job-123", "jobs": (123,), "logid": None},
        id="2.2-job-executor",
    ),
    pytest.param(
        "2012-03-01 14:02:11,152 DEBUG [cloud.deploy.FirstFitPlanner] (Job-Executor-4:job-123 FirstFitRoutingAllocator) "
        "Trying to allocate a host and storage pools from dc:1, pod:1,cluster:1, requested cpu: 500",
        {"ndc": "job-123 FirstFitRoutingAllocator", "jobs": (123,)},
        id="2.2-allocator-ndc",
    ),
    pytest.param(
        "2012-03-01 14:02:11,361 DEBUG [agent.transport.Request] (Job-Executor-4:job-123) Seq 3-1493630987: "
        "Received:  { Ans: , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 110, { Answer } }",
        {"seq": "3-1493630987", "jobs": (123,)},
        id="2.2-received",
    ),
    pytest.param(
        "2012-03-01 14:02:11,363 ERROR [cloud.vm.VirtualMachineManagerImpl] (Job-Executor-4:job-123) "
        "Failed to start instance VM[User|i-2-5-VM]",
        {"level": "ERROR", "vms": ("i-2-5-VM",), "message": "Failed to start instance VM[User|i-2-5-VM]"},
        id="2.2-failed-start",
    ),
    pytest.param(
        "2013-10-02 09:11:41,880 DEBUG [cloud.async.AsyncJobManagerImpl] (Job-Executor-21:job-1234 = "
        "[ 2e5b41d8-1f7c-4b0e-a7a4-5d2f3c1e9b6a ]) Complete async job-1234 = [ 2e5b41d8-1f7c-4b0e-a7a4-5d2f3c1e9b6a ], "
        "jobStatus: 2, resultCode: 530, result: org.apache.cloudstack.api.response.ExceptionResponse@3c1f8a2b",
        {"ndc": "job-1234 = [ 2e5b41d8-1f7c-4b0e-a7a4-5d2f3c1e9b6a ]", "jobs": (1234,)},
        id="4.2-job-uuid-ndc",
    ),
    pytest.param(
        "2014-01-14 10:20:30,123 DEBUG [c.c.a.ApiServlet] (http-6443-exec-6:ctx-5d5d4f1c) ===START===  10.1.1.5 -- "
        "GET  command=startVirtualMachine&id=3f2c&response=json",
        {"logger": "c.c.a.ApiServlet", "thread": "http-6443-exec-6", "ctx": ("ctx-5d5d4f1c",), "jobs": ()},
        id="4.3-abbreviated-logger",
    ),
    pytest.param(
        "2021-01-20 08:47:35,217 INFO  [o.a.c.f.j.i.AsyncJobMonitor] (API-Job-Executor-1:ctx-796675ae job-150) "
        "(logid:3a652fb3) Add job-150 into job monitoring",
        {"level": "INFO", "thread": "API-Job-Executor-1", "ctx": ("ctx-796675ae",), "jobs": (150,), "logid": "3a652fb3"},
        id="4.7-logid",
    ),
    pytest.param(
        "2021-03-13 02:40:03,238 ERROR [c.c.v.UserVmManagerImpl] (API-Job-Executor-7:ctx-35226f21 job-61 ctx-a49f2c89) "
        "(logid:fc577e10) VM VM[User|i-2-6-VM] unexpectedly went to Stopped state",
        {"ctx": ("ctx-35226f21", "ctx-a49f2c89"), "jobs": (61,), "vms": ("i-2-6-VM",)},
        id="4.15-two-ctx",
    ),
    pytest.param(
        "2026-04-27 08:25:42,491 DEBUG [c.c.a.t.Request] (Work-Job-Executor-5:[ctx-ae3b8fa7, job-42/job-43, ctx-195eb086]) "
        "(logid:be542d17) Seq 2-3401343618571567259: Sending  { Cmd , MgmtId: 32985852150888, via: 2(kvm2), Ver: v1, "
        'Flags: 100011, [{"com.cloud.agent.api.StartCommand":{"vm":{"id":"4","name":"i-2-4-VM"}}}] }',
        {"ctx": ("ctx-ae3b8fa7", "ctx-195eb086"), "jobs": (42, 43), "seq": "2-3401343618571567259",
         "logid": "be542d17", "vms": ("i-2-4-VM",)},
        id="4.20-log4j2-ndc",
    ),
    pytest.param(
        "2025-06-01 10:00:00,001 DEBUG [cloud.agent.Agent] (AgentRequest-Handler-3:[]) (logid:5669af63) "
        "Processing command: com.cloud.agent.api.StartCommand",
        {"thread": "AgentRequest-Handler-3", "ndc": None, "logid": "5669af63"},
        id="4.20.1-agent",
    ),
    pytest.param(
        "2024-03-01T10:00:00,123 INFO  [c.c.s.ManagementServerImpl] (main:[]) (logid:) Startup",
        {"timestamp": "2024-03-01T10:00:00.123", "logid": ""},
        id="4.20-dev-T-timestamp",
    ),
    pytest.param(
        "2012-03-01 14:02:11,350{GMT} WARN  [resource.computing.LibvirtComputingResource] (agentRequest-Handler-2:) Exception ",
        {"timestamp": "2012-03-01T14:02:11.350", "level": "WARN", "ndc": None, "message": "Exception "},
        id="2.2-GMT-console-copy",
    ),
    pytest.param(
        "2012-03-01 13:58:01,450 INFO  [cloud.agent.Agent] (main:null) Agent [id = 3 : type = LibvirtComputingResource "
        ": zone = 1 : pod = 1 : workers = 5 : host = 10.1.1.2 : port = 8250",
        {"thread": "main", "ndc": None, "level": "INFO"},
        id="2.2-agent-startup",
    ),
    pytest.param(
        "2019-11-02 09:12:44,120 DEBUG [c.c.a.m.DirectAgentAttache] (DirectAgent-249:ctx-585f426d 10.2.2.73, "
        "job-29/job-32, cmd: StartCommand) (logid:ab12cd34) Seq 5-1234: Executing request",
        {"jobs": (29, 32), "logid": "ab12cd34", "seq": "5-1234"},
        id="vmware-ndc-with-colon",
    ),
    pytest.param(
        "2012-03-01 14:02:11,101 DEBUG [cloud.async.AsyncJobManagerImpl] (catalina-exec-7:null) submit async job-123, "
        "details: AsyncJobVO {id:123, userId: 2, accountId: 2, sessionKey: null, instanceType: VirtualMachine}",
        {"jobs": (123,), "thread": "catalina-exec-7"},
        id="asyncjobvo",
    ),
    pytest.param(
        "2012-03-01 14:02:11,101 DEBUG [cloud.async.AsyncJobManagerImpl] (Job-Executor-1:job-7) Sync job- 62 execution",
        {"jobs": (7, 62)},
        id="job-space-number",
    ),
    pytest.param(
        "INFO  [cloud.agent.AgentShell] (main:) Implementation Version is 2.2.14.20120210102939",
        {"timestamp": None, "level": "INFO", "logger": "cloud.agent.AgentShell"},
        id="console-no-timestamp",
    ),
]


@pytest.mark.parametrize(("line", "expected"), ERA_LINES)
def test_header_lines_of_every_era(patterns: Patterns, line: str, expected: dict[str, object]) -> None:
    rec = parse_line(line, patterns, "management")
    assert rec is not None and rec.kind == "record"
    for key, value in expected.items():
        assert getattr(rec, key) == value, key


def test_continuation_lines_join_the_record_before(patterns: Patterns) -> None:
    text = (
        "2012-03-01 14:02:11,349 WARN  [resource.computing.LibvirtComputingResource] (agentRequest-Handler-2:null) Exception \n"
        "java.lang.IndexOutOfBoundsException: Index: 2, Size: 1\n"
        "\tat java.util.ArrayList.add(ArrayList.java:367)\n"
        "        at com.cloud.agent.Agent.processRequest(Agent.java:539)\n"
        "Caused by: java.lang.RuntimeException: x\n"
        "\t... 12 more\n"
        "2012-03-01 14:02:11,351 WARN  [cloud.agent.Agent] (agentRequest-Handler-2:null) Caught: \n"
        "java.lang.NullPointerException\n"
    )
    recs = parse_text(text, patterns, "agent")
    assert [(r.line, r.end_line) for r in recs] == [(1, 6), (7, 8)]
    assert recs[0].text.endswith("\t... 12 more")
    assert recs[1].text.split("\n")[1] == "java.lang.NullPointerException"


def test_domain_xml_dump_is_one_record(patterns: Patterns) -> None:
    text = (
        "2012-03-01 14:02:11,690 DEBUG [resource.computing.LibvirtComputingResource] (agentRequest-Handler-2:null) "
        "starting i-2-5-VM: <domain type='kvm'>\n<name>i-2-5-VM</name>\n<devices>\n</devices>\n</domain>\n"
        "2012-03-01 14:02:12,390 DEBUG [cloud.agent.Agent] (agentRequest-Handler-2:null) done\n"
    )
    recs = parse_text(text, patterns, "agent")
    assert len(recs) == 2
    assert recs[0].end_line == 5 and recs[0].vms == ("i-2-5-VM",)


def test_fragment_starting_mid_trace_keeps_orphans(patterns: Patterns) -> None:
    text = (
        "\tat com.cloud.agent.Agent.processRequest(Agent.java:539)\n"
        "\tat com.cloud.utils.nio.Task.run(Task.java:85)\n"
        "2012-03-01 14:02:11,352 DEBUG [cloud.agent.Agent] (agentRequest-Handler-2:null) Seq 3-1:  { Ans: , x }\n"
    )
    recs = parse_text(text, patterns, "agent")
    assert recs[0].kind == "orphan" and (recs[0].line, recs[0].end_line) == (1, 2)
    assert recs[1].kind == "record" and recs[1].seq == "3-1"


def test_hard_wrapped_header_message_is_continuation(patterns: Patterns) -> None:
    text = (
        "2012-03-01 14:02:11,363 ERROR [cloud.vm.VirtualMachineManagerImpl] (Job-Executor-4:job-123) Failed to start\n"
        " instance VM[User|i-2-5-VM]\n"
    )
    recs = parse_text(text, patterns)
    assert len(recs) == 1 and recs[0].vms == ("i-2-5-VM",)


def test_agent_runner_lines_are_orphans_not_continuation(patterns: Patterns) -> None:
    text = (
        "2012-03-01 14:02:11,363 INFO  [cloud.agent.Agent] (main:null) Stopping\n"
        "Agent exited with return code 255\n"
        "Restarting agent...\n"
        "Agent started.  PID: 4242\n"
        "2012-03-01 14:05:00,000 INFO  [cloud.agent.AgentShell] (main:null) Implementation Version is 2.2.14.1\n"
    )
    recs = parse_text(text, patterns, "agent")
    assert [r.kind for r in recs] == ["record", "orphan", "orphan", "orphan", "record"]
    assert recs[0].end_line == 1


def test_embedded_qemu_timestamp_is_not_a_header(patterns: Patterns) -> None:
    text = (
        "2026-06-26 10:16:38,552 WARN  [resource.wrapper.LibvirtStartCommandWrapper] (agentRequest-Handler-5:null) "
        "(logid:bf3225ab) LibvirtException\n"
        "org.libvirt.LibvirtException: internal error: process exited while connecting to monitor:\n"
        "2026-06-26T10:15:36.570956Z qemu-system-x86_64: -drive file=/mnt/x: Could not open\n"
        "\tat org.libvirt.ErrorHandler.processError(Unknown Source)\n"
    )
    recs = parse_text(text, patterns, "agent")
    assert len(recs) == 1 and recs[0].end_line == 4


def test_libvirt_qemu_log(patterns: Patterns) -> None:
    text = (
        "2012-03-01 14:02:12.345+0000: starting up\n"
        "LC_ALL=C PATH=/sbin:/usr/sbin:/bin:/usr/bin QEMU_AUDIO_DRV=none /usr/libexec/qemu-kvm -name i-2-5-VM -S\n"
        "char device redirected to /dev/pts/3\n"
        "2019-03-01T12:00:00.123456Z qemu-kvm: -drive file=/mnt/a: Permission denied\n"
        "qemu: terminating on signal 15 from pid 1234\n"
        "2012-03-01 15:00:00.001+0000: shutting down\n"
    )
    recs = parse_text(text, patterns, "libvirt")
    assert [(r.line, r.end_line, r.timestamp) for r in recs] == [
        (1, 3, "2012-03-01T14:02:12.345"),
        (4, 5, "2019-03-01T12:00:00.123"),
        (6, 6, "2012-03-01T15:00:00.001"),
    ]
    assert recs[0].vms == ("i-2-5-VM",)


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


SMALL = (
    "2012-03-01 14:02:11,110 DEBUG [cloud.async.AsyncJobManagerImpl] (Job-Executor-4:job-123) Executing x for job-123\n"
    "2012-03-01 14:02:11,363 ERROR [cloud.vm.VirtualMachineManagerImpl] (Job-Executor-4:job-123) Failed to start instance VM[User|i-2-5-VM]\n"
    "com.cloud.utils.exception.CloudRuntimeException: Unable to get answer that is of class com.cloud.agent.api.StartAnswer\n"
    "\tat com.cloud.agent.manager.Commands.getAnswer(Commands.java:81)\n"
)


def _collect(paths: list[Path | str], patterns: Patterns) -> tuple[list, list[FileStats]]:
    stats: list[FileStats] = []
    recs = list(iter_records(paths, patterns, stats=stats))
    return recs, stats


@pytest.mark.parametrize(
    "compress",
    [pytest.param(lambda b: b, id="plain"), pytest.param(gzip.compress, id="gzip"),
     pytest.param(bz2.compress, id="bzip2"), pytest.param(lzma.compress, id="xz")],
)
def test_compression_is_detected_by_magic_bytes(tmp_path: Path, patterns: Patterns, compress) -> None:
    # A misleading name: the magic bytes decide.
    p = _write(tmp_path / "management-server.log.txt", compress(SMALL.encode()))
    recs, stats = _collect([p], patterns)
    assert [r.line for r in recs] == [1, 2]
    assert stats[0].lines == 4 and stats[0].balanced


def test_crlf_and_latin1_bytes(tmp_path: Path, patterns: Patterns) -> None:
    data = SMALL.replace("\n", "\r\n").encode().replace(b"Executing x", b"Executing caf\xe9 \xff")
    p = _write(tmp_path / "management-server.log", data)
    recs, stats = _collect([p], patterns)
    assert recs[0].message == "Executing caf\ufffd \ufffd for job-123"
    assert not any("\r" in r.text for r in recs)
    assert stats[0].lines == 4 and stats[0].balanced


def test_empty_file_and_no_trailing_newline(tmp_path: Path, patterns: Patterns) -> None:
    empty = _write(tmp_path / "a" / "agent.log", b"")
    tail = _write(tmp_path / "b" / "agent.log", SMALL.rstrip("\n").encode())
    recs, stats = _collect([empty, tail], patterns)
    assert stats[0].lines == 0
    assert stats[1].lines == 4 and recs[-1].end_line == 4


def test_50kb_json_line(tmp_path: Path, patterns: Patterns) -> None:
    disks = ",".join(f'{{"id":{i},"name":"d{i}","path":"/mnt/x/{i}","deviceId":{i}}}' for i in range(900))
    line = (
        "2012-03-01 14:02:11,301 DEBUG [agent.transport.Request] (Job-Executor-4:job-123) Seq 3-149: Sending  "
        '{ Cmd , MgmtId: 1, via: 3, Ver: v1, Flags: 100111, [{"StartCommand":{"vm":{"name":"i-2-5-VM","disks":[' + disks + "]}}}] }"
    )
    assert len(line) > 50_000
    p = _write(tmp_path / "management-server.log", (line + "\n" + SMALL).encode())
    recs, stats = _collect([p], patterns)
    assert recs[0].seq == "3-149" and recs[0].text == line and stats[0].balanced


def test_corrupt_gzip_keeps_what_was_readable(tmp_path: Path, patterns: Patterns) -> None:
    body = (SMALL * 2000).encode()
    data = gzip.compress(body)
    p = _write(tmp_path / "management-server.log.2013-08-05.gz", data[: len(data) // 2])
    recs, stats = _collect([p], patterns)
    assert recs and stats[0].lines > 0
    assert any("truncated" in w for w in stats[0].warnings)
    assert str(p) in stats[0].warnings[0]


def test_journald_prefix_is_stripped(tmp_path: Path, patterns: Patterns) -> None:
    text = (
        "Aug  7 14:02:11 kvm01 java[4242]: INFO  [cloud.agent.AgentShell] (main:) Implementation Version is 2.2.14.1\n"
        "Aug  7 14:02:12 kvm01 java[4242]: WARN  [cloud.agent.Agent] (agentRequest-Handler-2:) Caught: \n"
        "Aug  7 14:02:12 kvm01 java[4242]: java.lang.NullPointerException\n"
        "Aug  7 14:02:12 kvm01 java[4242]: \tat com.cloud.agent.Agent.processRequest(Agent.java:539)\n"
        "Aug  7 14:02:13 kvm01 java[4242]: 2013-08-07 14:02:13,001 INFO  [cloud.agent.Agent] (main:null) dated\n"
    )
    p = _write(tmp_path / "kvm01" / "agent.log", text.encode())
    import os

    os.utime(p, (1375884000, 1375884000))  # 2013-08-07: the year of lines without one
    recs, _ = _collect([p], patterns)
    assert [r.timestamp for r in recs] == ["2013-08-07T14:02:11.000", "2013-08-07T14:02:12.000", "2013-08-07T14:02:13.001"]
    assert recs[1].text.split("\n")[1:] == ["java.lang.NullPointerException", "\tat com.cloud.agent.Agent.processRequest(Agent.java:539)"]
    assert recs[0].level == "INFO" and recs[1].thread == "agentRequest-Handler-2"


def test_stdin_dash(monkeypatch: pytest.MonkeyPatch, patterns: Patterns) -> None:
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(gzip.compress(SMALL.encode()))))
    recs, stats = _collect(["-"], patterns)
    assert recs[0].source == "<stdin>" and stats[0].lines == 4


@pytest.mark.parametrize("chunk", [1, 7, 64, 4096])
def test_chunk_boundaries_do_not_change_records(tmp_path: Path, patterns: Patterns, monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    import logparse.sources as sources

    data = (SMALL.replace("\n", "\r\n") + "Agent started.  PID: 1\r\n" + SMALL + "caf\xe9\n").encode("utf-8")
    p = _write(tmp_path / "agent.log", data)
    reference, _ = _collect([p], patterns)
    monkeypatch.setattr(sources, "CHUNK", chunk)
    got, stats = _collect([p], patterns)
    assert [r.as_dict() for r in got] == [r.as_dict() for r in reference]
    assert stats[0].balanced


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=3000), lines=st.lists(st.sampled_from([
    "2012-03-01 14:02:11,110 DEBUG [a.B] (t-1:job-5) Seq 3-1: x i-2-5-VM",
    "\tat a.b.C.d(C.java:1)",
    "Agent started.  PID: 1",
    "INFO  [x] (main:) y",
    "Aug  7 14:02:11 h java[1]: z",
    "2012-03-01 14:02:12.345+0000: starting up",
    "", "\r", "caused",
]), max_size=30))
def test_property_every_line_is_accounted_for(tmp_path_factory: pytest.TempPathFactory, patterns: Patterns, data: bytes, lines: list[str]) -> None:
    d = tmp_path_factory.mktemp("prop")
    blob = "\n".join(lines).encode() + data
    for name in ("agent.log", "qemu/i-1-1-VM.log"):
        p = _write(d / name, blob)
        recs, stats = _collect([p], patterns)
        s = stats[0]
        assert s.balanced
        if not blob.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")):  # else: decompressed lines
            assert s.lines == blob.count(b"\n") + (0 if blob.endswith(b"\n") or not blob else 1)
        covered = sum(r.end_line - r.line + 1 for r in recs)
        assert covered == s.lines


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="irsv-0123456789VMx_[]\" ", max_size=60))
def test_find_vms_agrees_with_the_plain_regex(text: str) -> None:
    from logparse.records import VM_RE, find_vms

    text = text + "-VM" + text[:7]
    assert find_vms(text) == tuple(dict.fromkeys(VM_RE.findall(text)))


def test_corrupt_gzip_member_keeps_lines_before_it(tmp_path: Path, patterns: Patterns) -> None:
    good = gzip.compress((SMALL * 300).encode())
    bad = bytearray(gzip.compress((SMALL * 300).encode()))
    bad[len(bad) // 2 : len(bad) // 2 + 64] = b"\xff" * 64  # damage the second member's data
    p = _write(tmp_path / "agent.log.2013-08-05.gz", good + bytes(bad))
    _recs, stats = _collect([p], patterns)
    assert stats[0].lines >= 1200  # the whole first member
    assert stats[0].balanced
    assert any("corrupt gzip data" in w and str(p) in w for w in stats[0].warnings)


# The batch reader builds records column by column; this line-at-a-time reference states
# the rules plainly (header → new record; non-header → continuation, or orphan before the
# first header; agent-runner line → its own orphan record) and reuses `_build`/`_orphan`.
def _reference_records(lines: list[str], patterns: Patterns, role: str) -> list:
    from logparse.records import RUNNER_PREFIXES, RecordReader
    from logparse.sources import LogFile

    lf = LogFile(None, "<ref>", "h", role)
    reader = RecordReader(lf, patterns, FileStats("<ref>", "h", role), year_hint=2000)
    prefix = next((reader._sniff_prefix(x) for x in lines if x), None)
    out: list = []
    cur = None
    body: list[str] = []
    start = 0
    orphans: list[str] = []
    orphan_start = 0
    for n, line in enumerate(lines, 1):
        pts = None
        if prefix is not None and (pm := prefix.match(line)) is not None:
            pts = pm.group(prefix.idx[0]) if prefix.idx[0] else None
            line = pm.group(prefix.idx[6])
        hit = None if line[:1] in ("", "\t", " ") else reader.match(line)
        runner = hit is None and line[:1] not in ("", "\t", " ") and line.startswith(RUNNER_PREFIXES)
        if hit is not None or runner:
            if cur is not None:
                out.append(reader._build(cur, body, start, n - 1))
                cur = None
            elif orphans:
                out.append(reader._orphan(orphans, orphan_start))
                orphans = []
            if runner:
                out.append(reader._orphan([line], n))
            else:
                cur, body, start = (hit[0], hit[1], pts), [line], n
        elif cur is not None:
            body.append(line)
        else:
            if not orphans:
                orphan_start = n
            orphans.append(line)
    if cur is not None:
        out.append(reader._build(cur, body, start, len(lines)))
    elif orphans:
        out.append(reader._orphan(orphans, orphan_start))
    return out


_MIXED_LINES = [
    "2012-03-01 14:02:11,110 DEBUG [a.B] (t-1:job-5) Seq 3-1: x i-2-5-VM",
    "2012-03-01 14:02:11,111 DEBUG [agent.transport.Request] (Job-Executor-4:job-123 = [ 2e5b ]) "
    "Seq 3-1493630987: Sending { Cmd , [{\"StartCommand\":{\"vm\":{\"name\":\"i-2-5-VM\"}}}] } job-124",
    "2021-01-20 08:47:35,217 INFO  [o.a.c.f.j.i.AsyncJobMonitor] (API-Job-Executor-1:ctx-796675ae job-150) "
    "(logid:3a652fb3) Add job-150 into job monitoring AsyncJobVO {id:151, userId: 2}",
    "2024-03-01T10:00:00,123 WARN  [c.c.a.AgentManagerImpl] ([ctx-1a2b3c4d, job-61/job-62]) (logid:9f8e7d6c) xSeq 1-2: no",
    "2012-03-01 14:02:12,000 INFO  [cloud.agent.Agent] (UgentTask-2:null) SeqA 1--5: r-4-VM s-1-VM i-2-5-VM r-4-VM",
    "\tat a.b.C.d(C.java:1)",
    "Caused by: java.lang.NullPointerException",
    "Agent started.  PID: 1",
    "INFO  [cloud.agent.AgentShell] (main:) Implementation Version is 2.2.14",
    "2012-03-01 14:02:11 not a header",
    "  wrapped text i-9-9-VM",
    "", "\r", "caused",
]


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(st.sampled_from(_MIXED_LINES), max_size=40), cuts=st.lists(st.integers(0, 40), max_size=5),
       prefixed=st.booleans())
def test_batches_build_the_same_records_as_line_at_a_time(lines: list[str], cuts: list[int], prefixed: bool) -> None:
    from logparse.patterns import load_patterns
    from logparse.records import RecordReader
    from logparse.sources import LogFile

    patterns = load_patterns()
    if prefixed:
        lines = [f"Aug  7 14:02:{i % 60:02d} kvm01 java[1]: {x}" for i, x in enumerate(lines)]
    expected = _reference_records(lines, patterns, "agent")
    bounds = sorted({0, len(lines), *(c for c in cuts if c < len(lines))})
    batches = [lines[a:b] for a, b in itertools.pairwise(bounds)]
    stats = FileStats("<ref>", "h", "agent", lines=len(lines))
    reader = RecordReader(LogFile(None, "<ref>", "h", "agent"), patterns, stats, year_hint=2000)
    got = list(reader.iter_batches(batches))
    assert [r.as_dict() | {"f": r.format_id} for r in got] == [r.as_dict() | {"f": r.format_id} for r in expected]
    assert stats.balanced
    assert stats.orphans == sum(r.end_line - r.line + 1 for r in got if r.kind == "orphan")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="SeqA 0123456789-:xé_", max_size=40))
def test_find_seq_is_the_first_seq_not_glued_to_a_word(text: str) -> None:
    import re

    from logparse.records import find_seq

    at = re.compile(r"SeqA? (\d+--?\d+):")
    expected = next((m[1] for i in range(len(text))
                     if (i == 0 or not text[i - 1].isalnum()) and (m := at.match(text, i))), None)
    assert find_seq(text) == expected


def test_lead_safe_formats() -> None:
    import re

    from logparse.records import _lead_safe

    assert _lead_safe(re.compile(r"^(?P<timestamp>[0-9]{4})-"))
    assert _lead_safe(re.compile(r"^(?P<level>TRACE|DEBUG) x"))
    assert not _lead_safe(re.compile(r"^\s*(?P<level>INFO)"))
    assert not _lead_safe(re.compile(r"^(?P<m>.*)$"))
    assert not _lead_safe(re.compile(r"^[^x]+"))
    assert not _lead_safe(re.compile(r"^(?:a|\s)"))


def test_no_digit_lead_formats(patterns: Patterns) -> None:
    import re

    from logparse.records import _no_digit_lead

    assert _no_digit_lead(next(f for f in patterns.formats if f.id == "log4j_console").regex)
    assert not _no_digit_lead(next(f for f in patterns.formats if f.id == "log4j").regex)
    assert _no_digit_lead(re.compile(r"^\b(?:INFO|[A-Z]x)"))
    assert not _no_digit_lead(re.compile(r"^\w"))
    assert not _no_digit_lead(re.compile(r"^[^x]"))
    assert not _no_digit_lead(re.compile(r"^(?:a|5)"))
    assert not _no_digit_lead(re.compile(r"^a?1"))


def test_ts_translatable_only_for_fixed_log4j_shapes() -> None:
    import re

    from logparse.records import _ts_translatable

    assert _ts_translatable(re.compile(r"^(?P<timestamp>\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d[,.]\d{3}) (?P<message>.*)"))
    assert _ts_translatable(re.compile(r"(?P<timestamp>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3})"))
    assert not _ts_translatable(re.compile(r"(?P<timestamp>\d{4}-\d\d-\d\d.\d\d:\d\d:\d\d,\d{3})"))  # any char at 10
    assert not _ts_translatable(re.compile(r"(?P<timestamp>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3,4})"))  # not fixed
    assert not _ts_translatable(re.compile(r"(?P<timestamp>[\d ]{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})"))  # a space
    assert not _ts_translatable(re.compile(r"(?P<message>.*)"))


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress], ids=["gzip", "bzip2", "xz"])
def test_decompressed_output_is_cut_into_chunks(tmp_path: Path, patterns: Patterns, monkeypatch: pytest.MonkeyPatch,
                                                compress) -> None:
    """A small compressed block inflates to many chunks (max_length): same records, and
    two concatenated members/streams still read whole."""
    import logparse.sources as sources

    a, b = (SMALL * 400).encode(), (SMALL * 300 + "Agent started.  PID: 1\n").encode()
    plain = _write(tmp_path / "plain" / "agent.log", a + b)
    packed = _write(tmp_path / "packed" / "agent.log", compress(a) + compress(b))
    reference, _ = _collect([plain], patterns)
    monkeypatch.setattr(sources, "CHUNK", 4096)
    got, stats = _collect([packed], patterns)
    assert [r.as_dict() | {"source": "", "host": ""} for r in got] == [r.as_dict() | {"source": "", "host": ""} for r in reference]
    assert stats[0].balanced and not stats[0].warnings
    assert stats[0].bytes_read == len(a + b)  # decompressed bytes
