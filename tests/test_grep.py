"""`logparse grep`: time merge, whole records, --follow links, --context, exit codes, redaction."""

# Log lines are kept whole (and with their trailing spaces): they are the fixtures.

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from logparse.cli.grep import grep
from logparse.grep import (
    GrepError,
    GrepQuery,
    GrepStats,
    Matcher,
    iter_grep,
    parse_job,
    parse_logid,
    parse_seq,
    required_literal,
)
from logparse.patterns import Patterns

SEQ = "3-1493630987"

# 2.2.14 cascade of ref §3.4, plus noise: other handler threads, a second KVM host, an HA
# worker, an API call carrying secrets. The 2.2.14 StartCommand prints vncPassword in clear.
MS_22 = f"""\
2012-03-01 14:02:11,102 DEBUG [cloud.async.AsyncJobManagerImpl] (catalina-exec-7:null) submit async job-123, details: AsyncJobVO {{id:123, userId: 2, accountId: 2, sessionKey: null, instanceType: VirtualMachine, instanceId: 5, cmd: com.cloud.api.commands.StartVMCmd}}
2012-03-01 14:02:11,110 DEBUG [cloud.async.AsyncJobManagerImpl] (Job-Executor-4:job-123) Executing com.cloud.api.commands.StartVMCmd for job-123
2012-03-01 14:02:11,131 DEBUG [cloud.vm.VirtualMachineManagerImpl] (Job-Executor-4:job-123) Successfully transitioned to start state for VM[User|i-2-5-VM] reservation id = 8c3f0b2e
2012-03-01 14:02:11,200 INFO  [cloud.ha.HighAvailabilityManagerImpl] (HA-Worker-2:work-17) Processing HAWork[17-HA-9-Running-Investigating]
2012-03-01 14:02:11,301 DEBUG [agent.transport.Request] (Job-Executor-4:job-123) Seq {SEQ}: Sending  {{ Cmd , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 100111, [{{"StartCommand":{{"vm":{{"id":5,"name":"i-2-5-VM","vncPassword":"s3cr3tVNC","disks":[{{"deviceId":0}},{{"deviceId":2}},{{"deviceId":1}}]}},"wait":0}}}}] }}
2012-03-01 14:02:11,360 DEBUG [agent.transport.Request] (AgentManager-Handler-9:null) Seq {SEQ}: Processing:  {{ Ans: , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 110, [{{"Answer":{{"result":false,"details":"java.lang.NullPointerException\\n","wait":0}}}}] }}
2012-03-01 14:02:11,361 DEBUG [agent.transport.Request] (Job-Executor-4:job-123) Seq {SEQ}: Received:  {{ Ans: , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 110, {{ Answer }} }}
2012-03-01 14:02:11,363 ERROR [cloud.vm.VirtualMachineManagerImpl] (Job-Executor-4:job-123) Failed to start instance VM[User|i-2-5-VM]
com.cloud.utils.exception.CloudRuntimeException: Unable to get answer that is of class com.cloud.agent.api.StartAnswer
\tat com.cloud.agent.manager.Commands.getAnswer(Commands.java:81)
\tat com.cloud.vm.VirtualMachineManagerImpl.advanceStart(VirtualMachineManagerImpl.java:765)
2012-03-01 14:02:11,440 DEBUG [cloud.async.AsyncJobManagerImpl] (Job-Executor-4:job-123) Complete async job-123, jobStatus: 2, resultCode: 530, result: com.cloud.api.response.ExceptionResponse@6d4c3a1f
2012-03-01 14:02:12,000 DEBUG [cloud.api.ApiServlet] (catalina-exec-8:null) ===START===  10.1.1.5 -- GET  command=listVirtualMachines&apikey=AbCdEf123&signature=XyZ%2B987&response=json
"""

AGENT_22 = f"""\
2012-03-01 14:02:11,000 DEBUG [cloud.agent.Agent] (agentRequest-Handler-1:null) Request:Seq 3-1493630900:  {{ Cmd , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 100011, [{{"GetHostStatsCommand":{{"hostId":3,"wait":0}}}}] }}
2012-03-01 14:02:11,320 DEBUG [cloud.agent.Agent] (agentRequest-Handler-2:null) Request:Seq {SEQ}:  {{ Cmd , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 100111, [{{"StartCommand":{{"vm":{{"id":5,"name":"i-2-5-VM","vncPassword":"s3cr3tVNC"}},"wait":0}}}}] }}
2012-03-01 14:02:11,321 DEBUG [cloud.agent.Agent] (agentRequest-Handler-2:null) Processing command: com.cloud.agent.api.StartCommand
2012-03-01 14:02:11,330 DEBUG [cloud.agent.Agent] (agentRequest-Handler-1:null) Seq 3-1493630900:  {{ Ans: , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 10, [{{"GetHostStatsAnswer":{{"result":true,"wait":0}}}}] }}
2012-03-01 14:02:11,340 WARN  [resource.computing.LibvirtComputingResource] (agentRequest-Handler-3:null) Exception 
java.lang.RuntimeException: unrelated noise on another handler
\tat com.cloud.agent.Agent.processRequest(Agent.java:539)
2012-03-01 14:02:11,349 WARN  [resource.computing.LibvirtComputingResource] (agentRequest-Handler-2:null) Exception 
java.lang.IndexOutOfBoundsException: Index: 2, Size: 1
\tat java.util.ArrayList.add(ArrayList.java:367)
\tat com.cloud.agent.resource.computing.LibvirtComputingResource.createVbd(LibvirtComputingResource.java:2364)
2012-03-01 14:02:11,351 WARN  [cloud.agent.Agent] (agentRequest-Handler-2:null) Caught: 
java.lang.NullPointerException
\tat com.cloud.agent.resource.computing.LibvirtComputingResource.cleanupVMNetworks(LibvirtComputingResource.java:3266)
\tat com.cloud.agent.Agent.processRequest(Agent.java:539)
2012-03-01 14:02:11,352 DEBUG [cloud.agent.Agent] (agentRequest-Handler-2:null) Seq {SEQ}:  {{ Ans: , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 110, [{{"Answer":{{"result":false,"details":"java.lang.NullPointerException\\n","wait":0}}}}] }}
2012-03-01 14:02:13,000 INFO  [cloud.agent.Agent] (agentRequest-Handler-2:null) later work on the same thread, after the answer
"""

AGENT2_22 = """\
2012-03-01 14:02:11,345 WARN  [resource.computing.LibvirtComputingResource] (agentRequest-Handler-2:null) Exception 
java.lang.RuntimeException: noise on another host, same thread name
\tat com.cloud.agent.Agent.processRequest(Agent.java:539)
"""

# 4.7+ layout: the same API call carries logid fc577e10 on the MS and on the agent.
MS_415 = """\
2021-03-13 02:40:01,000 DEBUG [o.a.c.f.j.i.AsyncJobManagerImpl] (API-Job-Executor-7:ctx-35226f21 job-61) (logid:fc577e10) Executing AsyncJobVO {id:61, userId: 2, cmd: org.apache.cloudstack.api.command.user.vm.StartVMCmd}
2021-03-13 02:40:01,100 DEBUG [o.a.c.f.j.i.AsyncJobManagerImpl] (Work-Job-Executor-17:ctx-3d84aa87 job-61/job-62) (logid:fc577e10) Run VM work job: com.cloud.vm.VmWorkStart for VM 6, job origin: 61
2021-03-13 02:40:01,200 DEBUG [c.c.a.t.Request] (Work-Job-Executor-17:ctx-3d84aa87 job-61/job-62 ctx-a49f2c89) (logid:fc577e10) Seq 2-3401343618571567259: Sending  { Cmd , MgmtId: 32985852150888, via: 2(kvm41), Ver: v1, Flags: 100011, [{"com.cloud.agent.api.StartCommand":{"vm":{"id":"6","name":"i-2-6-VM"},"wait":"0"}}] }
2021-03-13 02:40:01,300 DEBUG [c.c.s.StatsCollector] (StatsCollector-1:ctx-11111111) (logid:0badc0de) noise: collecting stats
2021-03-13 02:40:03,117 DEBUG [o.a.c.f.j.i.AsyncJobManagerImpl] (Work-Job-Executor-17:ctx-3d84aa87 job-61/job-62) (logid:fc577e10) Done executing com.cloud.vm.VmWorkStart for job-62
2021-03-13 02:40:03,238 ERROR [c.c.v.UserVmManagerImpl] (API-Job-Executor-7:ctx-35226f21 job-61 ctx-a49f2c89) (logid:fc577e10) VM start failed
"""

AGENT_415 = """\
2021-03-13 02:40:01,250 DEBUG [cloud.agent.Agent] (agentRequest-Handler-4:null) (logid:fc577e10) Request:Seq 2-3401343618571567259:  { Cmd , MgmtId: 32985852150888, via: 2, Ver: v1, Flags: 100011, [{"com.cloud.agent.api.StartCommand":{"vm":{"id":"6","name":"i-2-6-VM"},"wait":"0"}}] }
2021-03-13 02:40:01,260 WARN  [resource.wrapper.LibvirtStartCommandWrapper] (agentRequest-Handler-4:null) (logid:fc577e10) LibvirtException 
org.libvirt.LibvirtException: internal error: process exited while connecting to monitor
\tat org.libvirt.ErrorHandler.processError(Unknown Source)
2021-03-13 02:40:01,270 INFO  [kvm.resource.LibvirtConnection] (agentRequest-Handler-5:null) (logid:5eed5eed) noise: No existing libvirtd connection found
"""


def _write(root: Path, rel: str, text: str, *, gz: bool = False) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        p.write_bytes(gzip.compress(text.encode()))
    else:
        p.write_text(text)
    return p


@pytest.fixture
def logs22(tmp_path: Path) -> Path:
    _write(tmp_path, "ms01/management-server.log", MS_22)
    _write(tmp_path, "kvm01/agent.log", AGENT_22)
    _write(tmp_path, "kvm02/agent.log", AGENT2_22)
    return tmp_path


@pytest.fixture
def logs415(tmp_path: Path) -> Path:
    _write(tmp_path, "ms41/management-server.log", MS_415)
    _write(tmp_path, "kvm41/agent.log", AGENT_415)
    return tmp_path


def _run(runner: CliRunner, *args: Any, ok: bool = True) -> Result:
    result = runner.invoke(grep, [str(a) for a in args], catch_exceptions=not ok)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def _jsonl(runner: CliRunner, *args: Any) -> list[dict[str, Any]]:
    result = _run(runner, *args, "-f", "jsonl")
    return [json.loads(line) for line in result.stdout.splitlines()]


def _headers(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("==> ")]


# -- merge ------------------------------------------------------------------------------------
def test_grep_merges_files_in_time_order(runner: CliRunner, logs22: Path) -> None:
    rows = _jsonl(runner, "", logs22 / "ms01", logs22 / "kvm01")
    stamps = [r["timestamp"] for r in rows]
    assert stamps == sorted(stamps)
    assert {r["host"] for r in rows} == {"ms01", "kvm01"}
    # interleaved: agent Request (…11,320) between MS Sending (…11,301) and Processing (…11,360)
    i = next(i for i, r in enumerate(rows) if r["message"].startswith(f"Seq {SEQ}: Sending"))
    assert rows[i + 1]["message"].startswith(f"Request:Seq {SEQ}")
    assert len(rows) == MS_22.count("\n2012") + 1 + AGENT_22.count("\n2012") + 1


def test_grep_merge_is_stable_on_equal_timestamps(runner: CliRunner, tmp_path: Path) -> None:
    line = "2012-03-01 14:02:11,000 INFO  [cloud.agent.Agent] (main:null) {}\n"
    _write(tmp_path, "a/agent.log", line.format("a1") + line.format("a2"))
    _write(tmp_path, "b/agent.log", line.format("b1"))
    rows = _jsonl(runner, "", tmp_path / "b/agent.log", tmp_path / "a/agent.log")
    assert [r["message"] for r in rows] == ["b1", "a1", "a2"]  # input order, then line


def test_grep_tz_shifts_one_host(runner: CliRunner, tmp_path: Path) -> None:
    # The agent host logs local time (Madrid, UTC+1 in March); the MS logs UTC.
    _write(tmp_path, "ms01/management-server.log",
           "2012-03-01 13:30:00,000 INFO  [cloud.api.ApiServlet] (catalina-exec-1:null) ms at 13:30 UTC\n")
    _write(tmp_path, "kvm01/agent.log",
           "2012-03-01 14:00:00,000 INFO  [cloud.agent.Agent] (main:null) agent at 13:00 UTC\n")
    naive = _jsonl(runner, "", tmp_path)
    assert [r["host"] for r in naive] == ["ms01", "kvm01"]
    shifted = _jsonl(runner, "", tmp_path, "--tz", "kvm01=Europe/Madrid", "--tz", "ms01=UTC")
    assert [r["host"] for r in shifted] == ["kvm01", "ms01"]
    assert shifted[0]["timestamp"] == "2012-03-01T13:00:00.000Z"


def test_grep_orphans_sort_with_the_record_before_them(runner: CliRunner, tmp_path: Path) -> None:
    _write(tmp_path, "kvm01/agent.log",
           "2012-03-01 14:00:00,000 INFO  [cloud.agent.Agent] (main:null) first\n"
           "Agent started.  PID: 4242\n"
           "2012-03-01 14:00:02,000 INFO  [cloud.agent.Agent] (main:null) third\n")
    _write(tmp_path, "ms01/management-server.log",
           "2012-03-01 14:00:01,000 INFO  [cloud.api.ApiServlet] (catalina-exec-1:null) second\n")
    result = _run(runner, "", tmp_path)
    heads = _headers(result.stdout)
    assert [h.split()[1] for h in heads] == ["kvm01", "kvm01", "ms01", "kvm01"]
    assert "[2012-03-01T14:00:00.000]" in heads[1]  # inherited timestamp


# -- records ----------------------------------------------------------------------------------
def test_grep_prints_whole_records_with_header(runner: CliRunner, logs22: Path) -> None:
    result = _run(runner, "IndexOutOfBounds", logs22)
    out = result.stdout
    agent = logs22 / "kvm01" / "agent.log"
    assert out.startswith(f"==> kvm01 {agent}:8 [2012-03-01T14:02:11.349] <==\n")
    assert "(agentRequest-Handler-2:null) Exception \njava.lang.IndexOutOfBoundsException: Index: 2, Size: 1\n" in out
    assert "\tat com.cloud.agent.resource.computing.LibvirtComputingResource.createVbd" in out
    assert len(_headers(out)) == 1


def test_grep_matches_in_continuation_lines_and_anchors_per_line(runner: CliRunner, logs22: Path) -> None:
    result = _run(runner, r"^java\.lang\.NullPointerException$", logs22)
    heads = _headers(result.stdout)
    assert len(heads) == 1
    assert ":12 " in heads[0]


def test_grep_blank_line_between_records(runner: CliRunner, logs22: Path) -> None:
    out = _run(runner, "Caught: |Processing command", logs22 / "kvm01").stdout
    blocks = out.split("\n\n")
    assert len(blocks) == 2
    assert all(b.startswith("==> ") for b in blocks)


def test_grep_no_match_exits_1(runner: CliRunner, logs22: Path) -> None:
    result = _run(runner, "no such text anywhere", logs22, ok=False)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_grep_bad_regex_is_a_one_line_error(runner: CliRunner, logs22: Path) -> None:
    result = _run(runner, "Caught: (", logs22, ok=False)
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: invalid regular expression 'Caught: ('")


def test_grep_catastrophic_regex_times_out(runner: CliRunner, tmp_path: Path) -> None:
    _write(tmp_path, "kvm01/agent.log",
           "2012-03-01 14:00:00,000 INFO  [cloud.agent.Agent] (main:null) " + "a" * 5000 + "b\n")
    t0 = time.perf_counter()
    result = _run(runner, "(a+)+$", tmp_path, "--regex-timeout", "0.2", ok=False)
    assert time.perf_counter() - t0 < 10
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "ran longer than 0.2 s" in result.stderr
    assert "backtracks catastrophically" in result.stderr
    assert "agent.log:1" in result.stderr


def test_grep_fixed_strings_and_ignore_case(runner: CliRunner, logs22: Path) -> None:
    assert len(_headers(_run(runner, "caught: ", logs22, "-i").stdout)) == 1
    assert _run(runner, "caught: ", logs22, ok=False).exit_code == 1
    # "(" is a literal with -F, not a regex error
    assert len(_headers(_run(runner, "Agent.java:539)", logs22, "-F").stdout)) == 3


def test_grep_dot_and_empty_match_everything(runner: CliRunner, logs22: Path) -> None:
    a = _headers(_run(runner, ".", logs22).stdout)
    b = _headers(_run(runner, "", logs22).stdout)
    assert a == b
    assert len(a) == 20


# -- selectors --------------------------------------------------------------------------------
def test_grep_id_selectors(runner: CliRunner, logs22: Path) -> None:
    seq_rows = _jsonl(runner, "", logs22, "--seq", SEQ)
    assert [(r["host"], r["thread"]) for r in seq_rows] == [
        ("ms01", "Job-Executor-4"), ("kvm01", "agentRequest-Handler-2"), ("kvm01", "agentRequest-Handler-2"),
        ("ms01", "AgentManager-Handler-9"), ("ms01", "Job-Executor-4")]
    job_rows = _jsonl(runner, "", logs22, "--job", "job-123")
    assert len(job_rows) == 7
    assert all(123 in r["jobs"] for r in job_rows)
    both = _jsonl(runner, "Sending|Received", logs22, "--job", "123", "--seq", SEQ)  # kinds ANDed
    assert [r["message"].split("  {")[0] for r in both] == [f"Seq {SEQ}: Sending", f"Seq {SEQ}: Received:"]
    ored = _jsonl(runner, "", logs22, "--vm", "i-2-5-VM", "--vm", "i-9-9-VM")  # one kind ORed
    assert len(ored) == 4


def test_grep_bad_selector_is_an_error(runner: CliRunner, logs22: Path) -> None:
    result = _run(runner, "", logs22, "--seq", "abc", ok=False)
    assert result.exit_code == 1
    assert "Error: --seq: expected HOST-SEQ" in result.stderr


# -- follow -----------------------------------------------------------------------------------
def test_grep_follow_vm_pulls_jobs_seq_and_agent_thread(runner: CliRunner, logs22: Path) -> None:
    result = _run(runner, "", logs22, "--vm", "i-2-5-VM", "--follow", "-f", "jsonl")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    got = {(r["host"], r["line"]): r["link"] for r in rows}
    ms = {  # every job-123 line, the Seq lines on both MS threads
        ("ms01", 1): "job", ("ms01", 2): "job", ("ms01", 3): "match", ("ms01", 5): "match",
        ("ms01", 6): "seq", ("ms01", 7): "job", ("ms01", 8): "match", ("ms01", 12): "job",
    }
    agent = {  # Request, the handler thread between Request and answer, the answer
        ("kvm01", 2): "match", ("kvm01", 3): "thread", ("kvm01", 8): "thread",
        ("kvm01", 12): "thread", ("kvm01", 16): "seq",
    }
    assert got == {**ms, **agent}
    # the traces are whole
    caught = next(r for r in rows if r["message"] == "Caught: ")
    assert "cleanupVMNetworks(LibvirtComputingResource.java:3266)" in caught["text"]
    # not: HA worker, the API call, handler-1 (other seq), handler-3 and kvm02 noise,
    # handler-2 after the answer
    texts = "\n".join(r["text"] for r in rows)
    for noise in ("HAWork", "listVirtualMachines", "3-1493630900", "unrelated noise",
                  "another host", "after the answer"):
        assert noise not in texts
    stamps = [r["timestamp"] for r in rows]
    assert stamps == sorted(stamps)
    assert result.stderr.strip().splitlines()[-1] == (
        "grep: 4 matched; added vm 0, job 4, seq 2, thread 3, logid 0, ctx 0, context 0"
        " (2 linked ids, 20 records read)"
    )


def test_grep_follow_pattern_and_vm_links_the_vm_records(runner: CliRunner, logs22: Path) -> None:
    result = _run(runner, "Failed to start", logs22, "--vm", "i-2-5-VM", "--follow", "-f", "jsonl")
    links = {(r["host"], r["line"]): r["link"] for r in map(json.loads, result.stdout.splitlines())}
    assert links[("ms01", 8)] == "match"
    assert [k for k, v in links.items() if v == "vm"] == [("ms01", 3), ("ms01", 5), ("kvm01", 2)]
    assert links[("kvm01", 12)] == "thread"
    assert "grep: 1 matched; added vm 3, job 4, seq 2, thread 3," in result.stderr


def test_grep_follow_from_agent_trace_reaches_the_ms_job(runner: CliRunner, logs22: Path) -> None:
    rows = _jsonl(runner, "Caught: ", logs22, "--follow")
    links = {(r["host"], r["line"]): r["link"] for r in rows}
    assert links[("kvm01", 12)] == "match"
    assert links[("kvm01", 2)] == "seq"  # the window's Request:Seq
    assert links[("ms01", 12)] == "job"  # Complete async job-123, via Seq → job
    assert ("ms01", 13) not in links
    assert ("kvm02", 1) not in links


def test_grep_follow_logid_and_parent_work_jobs(runner: CliRunner, logs415: Path) -> None:
    rows = _jsonl(runner, "", logs415, "--logid", "logid:FC577E10")
    assert {r["host"] for r in rows} == {"ms41", "kvm41"}
    assert len(rows) == 7
    # job-62 (work job) → job-61 (parent) → logid → agent trace on the handler thread
    rows = _jsonl(runner, "Done executing", logs415, "--job", "62", "--follow")
    msgs = [r["message"] for r in rows]
    assert any(m.startswith("Executing AsyncJobVO {id:61") for m in msgs)
    assert any(m.startswith("LibvirtException") for m in msgs)
    assert not any("noise" in r["text"] for r in rows)
    assert {r["link"] for r in rows} >= {"match", "job", "seq"}


def test_grep_follow_links_through_logid_only(runner: CliRunner, tmp_path: Path) -> None:
    _write(tmp_path, "ms41/management-server.log",
           "2021-03-13 02:40:01,000 INFO  [c.c.a.ApiServer] (qtp1-21:ctx-1) (logid:aa11bb22) deployVirtualMachine i-2-7-VM\n"
           "2021-03-13 02:40:01,100 INFO  [c.c.a.ApiServer] (qtp1-21:ctx-1) (logid:aa11bb22) done\n"
           "2021-03-13 02:40:01,200 INFO  [c.c.a.ApiServer] (qtp1-22:ctx-2) (logid:cc33dd44) other call\n")
    rows = _jsonl(runner, "deployVirtualMachine", tmp_path, "--follow")
    assert [(r["message"], r["link"]) for r in rows] == [
        ("deployVirtualMachine i-2-7-VM", "match"), ("done", "logid")]


def test_grep_follow_links_4_3_job_executor_records_through_ctx(runner: CliRunner, tmp_path: Path) -> None:
    # 4.3 (ref §1.7): the job executor's NDC is only `ctx-…` — no job-N, no logid. The
    # failure line names no VM and no Seq; the ctx of the StartCommand record links it.
    _write(tmp_path, "ms43/management-server.log",
           "2014-01-14 10:20:30,123 DEBUG [c.c.a.ApiServlet] (http-6443-exec-6:ctx-5d5d4f1c) ===START===  "
           "10.1.1.5 -- GET  command=startVirtualMachine&id=3f2c&response=json\n"
           "2014-01-14 10:20:30,420 DEBUG [c.c.a.t.Request] (Job-Executor-3:ctx-8e1d4c2f) Seq 1-7953898358211821626: "
           'Sending  { Cmd , MgmtId: 90520739143127, via: 1(kvm01), Ver: v1, Flags: 100011, '
           '[{"com.cloud.agent.api.StartCommand":{"vm":{"name":"i-2-5-VM"}}}] }\n'
           "2014-01-14 10:20:31,000 WARN  [c.c.v.VirtualMachineManagerImpl] (Job-Executor-3:ctx-8e1d4c2f) "
           "Unable to orchestrate start due to insufficient capacity\n"
           "2014-01-14 10:20:31,100 DEBUG [c.c.a.ApiServlet] (http-6443-exec-7:ctx-99999999) unrelated call\n"
           "2014-01-14 10:20:31,200 DEBUG [c.c.v.VirtualMachineManagerImpl] (Job-Executor-4:ctx-77777777) other job\n")
    rows = _jsonl(runner, "", tmp_path, "--vm", "i-2-5-VM", "--follow")
    assert [(r["message"][:30], r["link"]) for r in rows] == [
        ("Seq 1-7953898358211821626: Sen", "match"),
        ("Unable to orchestrate start du", "ctx"),
    ]
    result = runner.invoke(grep, ["", str(tmp_path), "--vm", "i-2-5-VM", "--follow", "-f", "jsonl"])
    assert "ctx 1" in result.stderr


def test_grep_follow_reads_stdin_twice_via_spool(runner: CliRunner) -> None:
    result = runner.invoke(grep, ["Caught: ", "-", "--follow", "-f", "jsonl"], input=AGENT_22,
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["line"] for r in rows] == [2, 3, 8, 12, 16]


def test_grep_follow_respects_since_for_output_but_links_through(runner: CliRunner, logs22: Path) -> None:
    rows = _jsonl(runner, "Caught: ", logs22, "--follow", "--since", "2012-03-01 14:02:11,350")
    assert next(r["timestamp"] for r in rows) >= "2012-03-01T14:02:11.350"
    assert any(r["message"].startswith("Complete async job-123") for r in rows)


# -- context ----------------------------------------------------------------------------------
def test_grep_context_same_file_and_thread(runner: CliRunner, logs22: Path) -> None:
    rows = _jsonl(runner, "Caught: ", logs22, "--context", "1")
    assert [(r["host"], r["line"], r["link"]) for r in rows] == [
        ("kvm01", 8, "context"), ("kvm01", 12, "match"), ("kvm01", 16, "context")]
    # kvm02's handler-2 record sits between them in time: not context (other file)
    rows = _jsonl(runner, "Caught: ", logs22, "-C", "2")
    assert [r["line"] for r in rows] == [3, 8, 12, 16, 17]


def test_grep_context_keeps_time_order(runner: CliRunner, logs22: Path) -> None:
    rows = _jsonl(runner, "Exception: |Caught: ", logs22, "-C", "3")
    stamps = [r["timestamp"] for r in rows]
    assert stamps == sorted(stamps)
    assert len({(r["source"], r["line"]) for r in rows}) == len(rows)  # no duplicates


# -- redaction --------------------------------------------------------------------------------
def test_grep_redacts_secrets_unless_no_redact(runner: CliRunner, logs22: Path) -> None:
    out = _run(runner, "vncPassword|apikey", logs22).stdout
    assert '"vncPassword":"***"' in out
    assert "s3cr3tVNC" not in out
    assert "apikey=***&signature=***&response=json" in out
    assert "AbCdEf123" not in out
    rows = _jsonl(runner, "apikey", logs22)
    assert "AbCdEf123" not in rows[0]["text"]
    assert "AbCdEf123" not in rows[0]["message"]
    raw = _run(runner, "vncPassword|apikey", logs22, "--no-redact").stdout
    assert "s3cr3tVNC" in raw
    assert "apikey=AbCdEf123&signature=XyZ%2B987" in raw


def test_grep_jsonl_has_record_fields_and_link(runner: CliRunner, logs22: Path) -> None:
    rows = _jsonl(runner, "Caught: ", logs22)
    assert list(rows[0]) == [
        "source", "host", "role", "line", "end_line", "timestamp", "level", "logger", "thread",
        "ndc", "ctx", "jobs", "logid", "seq", "vms", "message", "text", "kind", "link"]
    assert rows[0]["link"] == "match"
    assert rows[0]["end_line"] == 15


def test_grep_reads_gzip_and_writes_output_file(runner: CliRunner, tmp_path: Path) -> None:
    _write(tmp_path, "kvm01/agent.log.2012-03-01.gz", AGENT_22, gz=True)
    out = tmp_path / "hits.txt"
    result = _run(runner, "Caught: ", tmp_path, "-o", out)
    assert result.stdout == ""
    assert "java.lang.NullPointerException" in out.read_text()


def test_grep_no_colour_when_not_a_tty(runner: CliRunner, logs22: Path) -> None:
    assert "\x1b[" not in _run(runner, "Caught", logs22).stdout


# -- library ----------------------------------------------------------------------------------
def test_iter_grep_library_api(logs22: Path, patterns: Patterns) -> None:
    stats = GrepStats()
    hits = list(iter_grep([logs22], GrepQuery(vms=("i-2-5-VM",)), patterns, follow=True, stats=stats))
    assert hits[0].record.message.startswith("submit async job-123")
    assert stats.matched == 4
    assert stats.emitted == len(hits) == 13
    assert len(stats.files) == 3


def test_iter_grep_follow_rejects_unspooled_stdin(patterns: Patterns) -> None:
    from logparse.sources import LogFile

    with pytest.raises(GrepError, match="stdin"):
        list(iter_grep([LogFile(None, "<stdin>", "h", "agent")], GrepQuery("x"), patterns, follow=True))


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        pytest.param("Caught: ", ("Caught: ", False), id="plain"),
        pytest.param(r"Seq \d+-\d+: Sending", (": Sending", False), id="longest-run"),
        pytest.param(r"^java\.lang\.(\w+)Exception", ("java.lang.", False), id="escaped-dots"),
        pytest.param(r"(?i)caught", ("caught", True), id="inline-i"),
        pytest.param(r"(Index)OutOf", ("IndexOutOf", False), id="group-joins-run"),
        pytest.param(r"foo|barbaz", None, id="alternation"),
        pytest.param(r"(?:fooo){e<=1}", None, id="fuzzy"),
        pytest.param(r"\p{Lu}+Exception", None, id="regex-only-escape"),
        pytest.param(r"[[:alpha:]]+ception", None, id="posix-class"),
        pytest.param(r"a.b", None, id="too-short"),
    ],
)
def test_required_literal(pattern: str, expected: tuple[str, bool] | None) -> None:
    assert required_literal(pattern) == expected


def test_matcher_prefilter_agrees_with_regex() -> None:
    m = Matcher(GrepQuery(r"Kelvin|Seq", ignore_case=True))
    assert m.text_matches("KELVIN")
    m = Matcher(GrepQuery(r"seq 3-\d+", ignore_case=True))
    assert m.text_matches("SEQ 3-149")
    assert not m.text_matches("Seq x")
    m = Matcher(GrepQuery("(?:Caught){e<=1}: "))  # fuzzy: the literal is not required as typed
    assert m.text_matches("Cought: x")


@pytest.mark.parametrize(
    ("fn", "raw", "value"),
    [(parse_job, "job-123", 123), (parse_job, "7", 7), (parse_seq, "Seq 3-1493630987:", SEQ),
     (parse_seq, "2--42", "2--42"), (parse_logid, "(logid:FC577E10)", "fc577e10")],
)
def test_selector_parsers(fn: Any, raw: str, value: object) -> None:
    assert fn(raw) == value


def test_vm_selector_skips_records_naming_many_vms(tmp_path: Path) -> None:
    """A stats request listing every VM of a host is not part of one VM's story."""
    from click.testing import CliRunner

    from logparse.cli import cli

    log = tmp_path / "ms1" / "management-server.log"
    log.parent.mkdir(parents=True)
    log.write_text(
        "2013-08-06 00:04:40,526 DEBUG [agent.transport.Request] (StatsCollector-1:null) Seq 3-13: Sending  "
        '{ Cmd , MgmtId: 1, via: 3, Ver: v1, Flags: 100011, [{"GetVmStatsCommand":{"vmNames":'
        '["i-2-5-VM","i-2-6-VM","i-2-7-VM","i-2-8-VM"],"wait":0}}] }\n'
        "2013-08-06 00:05:00,000 ERROR [cloud.vm.VirtualMachineManagerImpl] (Job-Executor-4:job-123) "
        "Failed to start instance VM[User|i-2-5-VM]\n"
    )
    r = CliRunner().invoke(cli, ["grep", "", str(tmp_path), "--vm", "i-2-5-VM", "-f", "jsonl"], catch_exceptions=False)
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["line"] for x in lines] == [2]


@pytest.mark.parametrize(("pattern", "fold"), [("NullPointerException", False), ("seq 3-14936309", True),
                                           ("Implementation Version", False), ("Agent started", False)])
def test_literal_prefilter_on_raw_logs_changes_nothing_but_the_work(
        logs22: Path, patterns: Patterns, monkeypatch: pytest.MonkeyPatch, pattern: str, fold: bool) -> None:
    """Records without the pattern's literal are not built; the hits and the count of
    records read are those of building every record."""
    from logparse.grep import GrepStats, Matcher

    (logs22 / "kvm01" / "agent.log").write_text(
        (logs22 / "kvm01" / "agent.log").read_text()
        + "INFO  [cloud.agent.AgentShell] (main:) Implementation Version is 2.2.14.20120210102939\n"
        + "Agent started.  PID: 7\n")

    def hits(prefilter: bool) -> tuple[list[tuple[str, str, str | None]], GrepStats]:
        if not prefilter:
            monkeypatch.setattr(Matcher, "store_filter", property(lambda self: None))
        st = GrepStats()
        out = [(h.link, h.record.location, h.timestamp)
               for h in iter_grep([logs22], GrepQuery(pattern=pattern, ignore_case=fold), patterns=patterns, stats=st)]
        return out, st

    with_pre, st1 = hits(True)
    without, st2 = hits(False)
    assert with_pre and with_pre == without
    assert st1.records == st2.records and sum(f.skipped for f in st1.files) > 0
    assert not any(f.skipped for f in st2.files)
