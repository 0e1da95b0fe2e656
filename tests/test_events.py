"""Typed events from records: every era's wording, look-alikes, dispatch rules, frames."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from logparse.events import (
    JOB_STATUS_NAMES,
    EventMatcher,
    cast_value,
    events_frame,
    iter_events,
    logger_class,
)
from logparse.models import EVENT_COLUMNS, Event
from logparse.patterns import Patterns, load_patterns
from logparse.records import parse_text


def events_of(text: str, patterns: Patterns, role: str = "management") -> list[Event]:
    return list(iter_events(parse_text(text, patterns, role=role), patterns))


def one(text: str, patterns: Patterns, role: str = "management") -> Event:
    evs = events_of(text, patterns, role)
    assert len(evs) == 1, [e.event for e in evs]
    return evs[0]


# --------------------------------------------------------------------------- eras

ERA_LINES = [
    # 2.2 (%c{3}, NDC job-N)
    pytest.param(
        "2012-03-01 14:02:11,131 DEBUG [cloud.vm.VirtualMachineManagerImpl] (Job-Executor-4:job-123) "
        "Successfully transitioned to start state for VM[User|i-2-5-VM] reservation id = 8c3f0b2e-6a41-4c1d-9e2f-0d7a5b1c2e3f",
        "vm.start_requested", {"vm_name": "i-2-5-VM", "vm_type": "User"}, id="2.2-start-requested",
    ),
    pytest.param(
        "2012-03-01 14:02:12,402 DEBUG [cloud.capacity.CapacityManagerImpl] (Job-Executor-4:job-123) VM state "
        "transitted from :Starting to Running with event: OperationSucceededvm's original host id: 3 new host id: 3 "
        "host id before state transition: 3",
        "vm.state_transition",
        {"from_state": "Starting", "to_state": "Running", "vm_event": "OperationSucceeded", "host_id": 3},
        id="2.2-transition",
    ),
    pytest.param(
        "2012-03-01 14:02:11,363 ERROR [cloud.vm.VirtualMachineManagerImpl] (Job-Executor-4:job-123) "
        "Failed to start instance VM[User|i-2-5-VM]",
        "vm.start_failed", {"vm_name": "i-2-5-VM", "vm_id": None}, id="2.2-start-failed",
    ),
    pytest.param(
        "2012-03-01 14:02:11,440 DEBUG [cloud.async.AsyncJobManagerImpl] (Job-Executor-4:job-123) "
        "Complete async job-123, jobStatus: 2, resultCode: 530, result: com.cloud.api.response.ExceptionResponse@6d4c3a1f",
        "job.complete", {"job_id": 123, "status": "FAILED", "result_code": 530}, id="2.2-job-complete",
    ),
    pytest.param(
        "2012-03-01 13:55:02,100 INFO  [cloud.upgrade.DatabaseUpgradeChecker] (main:null) DB version = 2.2.13 "
        "Code Version = 2.2.14",
        "upgrade.db_version", {"db_version": "2.2.13", "code_version": "2.2.14"}, id="2.2-db-version",
    ),
    # 4.2 (job-N = [ uuid ] NDC and message)
    pytest.param(
        "2013-10-02 09:11:41,880 DEBUG [cloud.async.AsyncJobManagerImpl] (Job-Executor-21:job-1234 = "
        "[ 2e5b41d8-1f7c-4b0e-a7a4-5d2f3c1e9b6a ]) Complete async job-1234 = [ 2e5b41d8-1f7c-4b0e-a7a4-5d2f3c1e9b6a ], "
        "jobStatus: 2, resultCode: 530, result: org.apache.cloudstack.api.response.ExceptionResponse@3c1f8a2b",
        "job.complete",
        {"job_id": 1234, "job_uuid": "2e5b41d8-1f7c-4b0e-a7a4-5d2f3c1e9b6a", "status": "FAILED"},
        id="4.2-job-complete",
    ),
    pytest.param(
        "2013-10-02 09:11:40,120 DEBUG [cloud.async.AsyncJobManagerImpl] (Job-Executor-21:job-1234 = "
        "[ 2e5b41d8-1f7c-4b0e-a7a4-5d2f3c1e9b6a ]) Executing org.apache.cloudstack.api.command.user.vm.StartVMCmd "
        "for job-1234 = [ 2e5b41d8-1f7c-4b0e-a7a4-5d2f3c1e9b6a ]",
        "job.executing", {"job_id": 1234, "cmd": "org.apache.cloudstack.api.command.user.vm.StartVMCmd"},
        id="4.2-job-executing",
    ),
    # 4.3 – 4.6 (%c{1.}, ctx NDC, via name)
    pytest.param(
        "2014-01-14 10:20:30,420 DEBUG [c.c.a.t.Request] (Job-Executor-3:ctx-8e1d4c2f) Seq 1-7953898358211821626: "
        'Sending  { Cmd , MgmtId: 90520739143127, via: 1(kvm01), Ver: v1, Flags: 100011, [{"com.cloud.agent.api.'
        'StartCommand":{}}] }',
        "agent.ms_send", {"host_id": 1, "via_name": "kvm01", "command": "StartCommand", "flags": "100011"},
        id="4.3-ms-send",
    ),
    pytest.param(
        "2014-01-14 10:20:30,200 DEBUG [o.a.c.f.j.i.AsyncJobManagerImpl] (Job-Executor-3:ctx-8e1d4c2f) Executing "
        "AsyncJobVO {id:150, userId: 2, accountId: 2, instanceType: VirtualMachine, instanceId: 5, cmd: "
        "org.apache.cloudstack.api.command.user.vm.StartVMCmd, cmdInfo: {}, status: IN_PROGRESS}",
        "job.executing", {"job_id": 150, "cmd": "org.apache.cloudstack.api.command.user.vm.StartVMCmd"},
        id="4.3-job-executing-vo",
    ),
    # 4.7 – 4.19 (logid, work jobs, 4.16+ transitions)
    pytest.param(
        "2021-03-13 02:40:01,600 INFO  [c.c.v.VmWorkJobDispatcher] (Work-Job-Executor-17:ctx-3d84aa87 job-61/job-62) "
        "(logid:fc577e10) Run VM work job: com.cloud.vm.VmWorkStart for VM 5, job origin: 61",
        "job.work_run", {"cmd": "com.cloud.vm.VmWorkStart", "vm_id": 5, "parent_job_id": 61}, id="4.7-work-run",
    ),
    pytest.param(
        "2021-11-02 10:00:01,500 DEBUG [c.c.c.CapacityManagerImpl] (Work-Job-Executor-4:ctx-1b2c3d4e job-88/job-89 "
        "ctx-5f6a7b8c) (logid:0a1b2c3d) VM[User|i-2-5-VM] state transited from [Starting] to [Running] with event "
        "[OperationSucceeded]. VM's original host: Host[-3-Routing], new host: Host[-3-Routing], host before state "
        "transition: null",
        "vm.state_transition",
        {"vm_name": "i-2-5-VM", "from_state": "Starting", "to_state": "Running", "host_id": 3, "prev_host_id": None},
        id="4.16-transition",
    ),
    pytest.param(
        "2021-03-13 02:40:03,100 DEBUG [o.a.c.f.j.i.AsyncJobManagerImpl] (Work-Job-Executor-17:ctx-3d84aa87 "
        "job-61/job-62) (logid:fc577e10) Complete async job-62, jobStatus: FAILED, resultCode: 530, result: "
        'org.apache.cloudstack.api.response.ExceptionResponse/null/{"uuidList":[],"errorcode":530,'
        '"errortext":"Unable to start VM instance"}',
        "job.complete", {"job_id": 62, "status": "FAILED", "reason": "Unable to start VM instance"},
        id="4.15-job-complete",
    ),
    # 4.20+ (log4j 2 NDC, VM instance {...} entity form)
    pytest.param(
        '2025-06-01 10:00:03,120 ERROR [c.c.v.ClusteredVirtualMachineManagerImpl] (Work-Job-Executor-3:[ctx-0b1c2d3e, '
        'job-70/job-71, ctx-4f5a6b7c]) (logid:5669af63) Failed to start instance VM instance {"id":5,'
        '"instanceName":"i-2-5-VM","type":"User","uuid":"3f2c1b4a-8e7d-4c6b-9a5f-0e1d2c3b4a59"}',
        "vm.start_failed", {"vm_name": "i-2-5-VM", "vm_id": 5, "vm_type": "User"}, id="4.20-start-failed",
    ),
    pytest.param(
        "2025-02-03 23:19:02,495 DEBUG [o.a.c.f.j.i.AsyncJobManagerImpl] (Work-Job-Executor-148:[ctx-a4d8d11e, "
        "job-1024/job-1173, ctx-61d48ae8]) (logid:795c34a4) Complete async job-1173, jobStatus: SUCCEEDED, "
        "resultCode: 0, result: null",
        "job.complete", {"job_id": 1173, "status": "SUCCEEDED", "result": "null"}, id="4.20-job-complete",
    ),
    pytest.param(
        '2025-02-03 23:19:02,301 DEBUG [c.c.v.ClusteredVirtualMachineManagerImpl] (Work-Job-Executor-147:[ctx-dfcaa17f, '
        'job-1025/job-1172, ctx-c4ff0b9f]) (logid:795c34a4) Start completed for VM VM instance {"id":5,"uuid":"3f2c",'
        '"instanceName":"i-2-5-VM","type":"User","state":"Running"}',
        "vm.start_completed", {"vm_name": "i-2-5-VM", "vm_id": 5}, id="4.20.1-start-completed-key-order",
    ),
]


@pytest.mark.parametrize(("line", "event_id", "fields"), ERA_LINES)
def test_events_per_era(line: str, event_id: str, fields: dict[str, Any], patterns: Patterns) -> None:
    ev = one(line, patterns)
    assert ev.event == event_id
    assert ev.category == event_id.split(".")[0]
    for k, v in fields.items():
        assert ev.fields[k] == v, k
        assert type(ev.fields[k]) is type(v), k


def test_event_carries_record_fields(patterns: Patterns) -> None:
    ev = one(
        "2021-03-13 02:40:03,117 DEBUG [o.a.c.f.j.i.AsyncJobManagerImpl] (Work-Job-Executor-17:ctx-3d84aa87 "
        "job-61/job-62) (logid:fc577e10) Done executing com.cloud.vm.VmWorkStart for job-62",
        patterns,
    )
    assert (ev.source, ev.line, ev.timestamp) == ("<text>", 1, "2021-03-13T02:40:03.117")
    assert (ev.thread, ev.logid, ev.jobs, ev.role, ev.severity) == (
        "Work-Job-Executor-17", "fc577e10", (61, 62), "management", "debug")
    assert ev.as_dict()["event"] == "job.done"
    assert list(ev.as_dict()) == list(EVENT_COLUMNS)


def test_transport_event_seq_comes_from_the_record(patterns: Patterns) -> None:
    ev = one(
        "2012-03-01 14:02:11,320 DEBUG [cloud.agent.Agent] (agentRequest-Handler-2:null) Request:Seq 3-1493630987:  "
        '{ Cmd , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 100111, [{"StartCommand":{"vm":{"id":5,'
        '"name":"i-2-5-VM"}}}] }',
        patterns,
        role="agent",
    )
    assert ev.event == "agent.request"
    assert ev.seq == "3-1493630987"
    assert ev.vms == ("i-2-5-VM",)
    assert ev.fields["direction"] == "ms_to_agent"


# --------------------------------------------------------------------------- look-alikes

LOOKALIKES = [
    pytest.param("2012-03-01 14:02:11,431 WARN  [cloud.api.ApiDispatcher] (Job-Executor-4:job-123) Failed to start a vm",
                 id="failed-to-start-a-vm"),
    pytest.param("2012-03-01 14:02:12,410 DEBUG [cloud.vm.VirtualMachineManagerImpl] (Job-Executor-4:job-123) "
                 "Start completed for VM", id="start-completed-without-vm"),
    pytest.param("2012-03-01 14:02:11,140 DEBUG [cloud.vm.UserVmManagerImpl] (Job-Executor-4:job-123) "
                 "Successfully transitioned to start state for VM[User|i-2-5-VM] reservation id = 1",
                 id="right-text-wrong-logger"),
    pytest.param("2012-03-01 14:02:11,262 DEBUG [cloud.storage.StorageManagerImpl] (Job-Executor-4:job-123) "
                 "No need to recreate the volume: Vol[7|vm=5|DATADISK], since it already has a pool assigned: 200, "
                 "adding disk to VM", id="volume-line"),
    pytest.param("2019-11-02 09:12:44,120 DEBUG [c.c.a.m.DirectAgentAttache] (DirectAgent-249:ctx-585f426d 10.2.2.73, "
                 "job-29/job-32, cmd: StartCommand) (logid:ab12cd34) Seq 5-1234567890123456789: Executing request",
                 id="direct-agent-executing-request"),
    pytest.param("2012-03-01 14:03:40,020 INFO  [cloud.ha.HighAvailabilityManagerImpl] (HA-Worker-2:work-17) "
                 "Processing work for HAWork", id="ha-processing-without-work"),
    pytest.param("2012-03-01 14:02:11,000 DEBUG [agent.transport.Request] (Job-Executor-4:job-123) "
                 "Seq 3-1493630987: Sending the command now", id="sending-without-transport"),
    pytest.param("2021-03-13 02:40:03,100 DEBUG [o.a.c.f.j.i.AsyncJobManagerImpl] (Work-Job-Executor-17:ctx-3d84aa87 "
                 "job-61/job-62) (logid:fc577e10) Wake up jobs related to job-62", id="wake-up-jobs"),
    pytest.param('2019-05-10 11:22:41,020 DEBUG [o.a.c.f.j.i.AsyncJobManagerImpl] (API-Job-Executor-3:ctx-0c1d2e3f '
                 'job-61) (logid:1a2b3c4d) Update db status for job-61', id="update-db-status"),
]


@pytest.mark.parametrize("line", LOOKALIKES)
def test_lookalikes_produce_no_event(line: str, patterns: Patterns) -> None:
    assert events_of(line, patterns) == []


def test_agent_only_event_needs_agent_role(patterns: Patterns) -> None:
    line = ("2012-03-01 14:02:11,690 DEBUG [resource.computing.LibvirtComputingResource] "
            "(agentRequest-Handler-2:null) starting i-2-5-VM: <domain type='kvm'>")
    assert [e.event for e in events_of(line, patterns, role="agent")] == ["vm.agent_domain_starting"]
    assert events_of(line, patterns, role="management") == []


def test_level_prefilter(patterns: Patterns) -> None:
    text = ("2012-03-01 14:02:11,351 {lv} [cloud.agent.Agent] (agentRequest-Handler-2:null) Caught: \n"
            "java.lang.NullPointerException\n\tat x.Y.z(Y.java:1)")
    assert [e.event for e in events_of(text.format(lv="WARN "), patterns, role="agent")] == ["agent.caught"]
    assert events_of(text.format(lv="DEBUG"), patterns, role="agent") == []


# --------------------------------------------------------------------------- job status mapping

@pytest.mark.parametrize(("raw", "name"), [("0", "IN_PROGRESS"), ("1", "SUCCEEDED"), ("2", "FAILED"),
                                           ("FAILED", "FAILED"), ("CANCELLED", "CANCELLED"), ("7", "7")])
def test_job_status_mapping(raw: str, name: str, patterns: Patterns) -> None:
    ev = one(f"2012-03-01 14:02:12,470 DEBUG [cloud.async.AsyncJobManagerImpl] (Job-Executor-4:job-123) "
             f"Complete async job-123, jobStatus: {raw}, resultCode: 0, result: null", patterns)
    assert ev.fields["status"] == name


def test_job_status_names_are_the_reference_ones() -> None:
    assert dict(JOB_STATUS_NAMES) == {"0": "IN_PROGRESS", "1": "SUCCEEDED", "2": "FAILED"}


# --------------------------------------------------------------------------- several events per record

def test_different_parts_of_one_record_give_two_events(patterns: Patterns) -> None:
    text = (
        "2019-05-10 11:22:40,010 ERROR [c.c.a.ApiAsyncJobDispatcher] (API-Job-Executor-3:ctx-0c1d2e3f job-61) "
        "(logid:1a2b3c4d) Unexpected exception while executing org.apache.cloudstack.api.command.admin.vm."
        "StartVMCmdByAdmin\n"
        "com.cloud.exception.InsufficientServerCapacityException: Unable to create a deployment for "
        "VM[User|i-2-9-VM]Scope=interface com.cloud.dc.DataCenter; id=1\n"
        "\tat com.cloud.vm.VirtualMachineManagerImpl.orchestrateStart(VirtualMachineManagerImpl.java:1132)"
    )
    evs = events_of(text, patterns)
    assert [e.event for e in evs] == ["job.exception", "vm.deploy_failed"]
    assert evs[1].fields["vm_name"] == "i-2-9-VM"


def test_start_failed_and_masked_answer_in_one_record(patterns: Patterns) -> None:
    text = (
        "2012-03-01 14:02:11,363 ERROR [cloud.vm.VirtualMachineManagerImpl] (Job-Executor-4:job-123) Failed to start "
        "instance VM[User|i-2-5-VM]\n"
        "com.cloud.utils.exception.CloudRuntimeException: Unable to get answer that is of class "
        "com.cloud.agent.api.StartAnswer\n"
        "\tat com.cloud.agent.manager.Commands.getAnswer(Commands.java:81)"
    )
    evs = events_of(text, patterns)
    assert [e.event for e in evs] == ["vm.start_failed", "vm.no_start_answer"]
    assert evs[1].fields == {"answer_class": "StartAnswer"}


def test_higher_priority_wins_an_overlap(patterns: Patterns) -> None:
    # the errortext quotes vm.no_start_answer's phrase inside job.complete's match
    line = (
        "2021-03-13 02:40:03,100 DEBUG [o.a.c.f.j.i.AsyncJobManagerImpl] (Work-Job-Executor-17:ctx-3d84aa87 "
        "job-61/job-62) (logid:fc577e10) Complete async job-62, jobStatus: FAILED, resultCode: 530, result: "
        'org.apache.cloudstack.api.response.ExceptionResponse/null/{"uuidList":[],"errorcode":530,"errortext":'
        '"Unable to get answer that is of class com.cloud.agent.api.StartAnswer"}'
    )
    assert [e.event for e in events_of(line, patterns)] == ["job.complete"]


def test_equal_priority_overlap_keeps_both(patterns: Patterns) -> None:
    line = (
        '2025-06-01 10:00:03,200 ERROR [c.c.v.ClusteredVirtualMachineManagerImpl] (Work-Job-Executor-3:[ctx-0b1c2d3e, '
        'job-70/job-71, ctx-4f5a6b7c]) (logid:5669af63) Unable to orchestrate start VM instance {"id":5,'
        '"instanceName":"i-2-5-VM","type":"User","uuid":"3f2c"} due to [Unable to get answer that is of class '
        'com.cloud.agent.api.StartAnswer].'
    )
    assert sorted(e.event for e in events_of(line, patterns)) == ["vm.no_start_answer", "vm.start_orchestrate_failed"]


# --------------------------------------------------------------------------- dispatch internals

@pytest.mark.parametrize(("logger", "cls"), [
    ("cloud.vm.VirtualMachineManagerImpl", "VirtualMachineManagerImpl"),
    ("c.c.v.VirtualMachineManagerImpl", "VirtualMachineManagerImpl"),
    ("o.a.c.f.j.i.AsyncJobManagerImpl$5", "AsyncJobManagerImpl"),
    ("Agent", "Agent"),
    (None, None),
])
def test_logger_class(logger: str | None, cls: str | None) -> None:
    assert logger_class(logger) == cls


def test_both_logger_layouts_match(patterns: Patterns) -> None:
    tail = "Start completed for VM VM[User|i-2-5-VM]"
    for logger in ("cloud.vm.VirtualMachineManagerImpl", "c.c.v.VirtualMachineManagerImpl",
                   "com.cloud.vm.VirtualMachineManagerImpl"):
        line = f"2012-03-01 14:02:12,410 DEBUG [{logger}] (Job-Executor-4:job-123) {tail}"
        assert one(line, patterns).event == "vm.start_completed"


def test_record_without_keywords_runs_no_regex(patterns: Patterns) -> None:
    matcher = EventMatcher(patterns)
    calls = 0
    for c in matcher.compiled:
        orig = c.run

        def counting(s: str, _orig: Any = orig) -> Any:
            nonlocal calls
            calls += 1
            return _orig(s)

        c.run = counting
    recs = parse_text(
        "2012-03-01 14:02:11,152 DEBUG [cloud.deploy.FirstFitPlanner] (Job-Executor-4:job-123) Trying to allocate a "
        "host and storage pools from dc:1, pod:1,cluster:1, requested cpu: 500, requested ram: 536870912\n"
        "2012-03-01 14:02:11,262 DEBUG [cloud.storage.StorageManagerImpl] (Job-Executor-4:job-123) No need to "
        "recreate the volume: Vol[7|vm=5|DATADISK], since it already has a pool assigned: 200, adding disk to VM",
        patterns,
    )
    assert [matcher.match(r) for r in recs] == [[], []]
    assert calls == 0


def test_anchored_regexes_use_match(patterns: Patterns) -> None:
    matcher = EventMatcher(patterns)
    by_id = {c.spec.id: c for c in matcher.compiled}
    assert by_id["agent.ms_send"].run == by_id["agent.ms_send"].spec.regex.match
    assert by_id["vm.state_transition"].run == by_id["vm.state_transition"].spec.regex.match
    assert by_id["vm.no_start_answer"].run == by_id["vm.no_start_answer"].spec.regex.search
    assert by_id["vm.deploy_failed"].run == by_id["vm.deploy_failed"].spec.regex.search


def test_fifty_kb_transport_line(patterns: Patterns) -> None:
    disks = ",".join(
        f'{{"id":{i},"name":"data{i}","path":"/mnt/pool/{i:032x}","size":10737418240,"type":"DATADISK",'
        f'"deviceId":{i}}}'
        for i in range(1, 400)
    )
    payload = f'[{{"StartCommand":{{"vm":{{"id":5,"name":"i-2-5-VM","disks":[{disks}]}},"wait":0}}}}]'
    line = ("2012-03-01 14:02:11,301 DEBUG [agent.transport.Request] (Job-Executor-4:job-123) Seq 3-1493630987: "
            f"Sending  {{ Cmd , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 100111, {payload} }}")
    assert len(line) > 50_000
    ev = one(line, patterns)
    assert ev.event == "agent.ms_send"
    assert ev.fields["command"] == "StartCommand"
    assert ev.message is not None
    assert len(ev.message) > 50_000


# --------------------------------------------------------------------------- casts

@pytest.mark.parametrize(("raw", "cast", "value"), [
    ("5", "int", 5), ("x", "int", None), ("1.5", "float", 1.5), ("true", "bool", True), ("False", "bool", False),
    ("maybe", "bool", None), ("250", "duration_ms", 250), ("1.5s", "duration_ms", 1500), ("2 min", "duration_ms", 120000),
    ("0.5 ms", "duration_ms", 0.5), (None, "int", None), ("abc", "str", "abc"),
])
def test_cast_value(raw: str | None, cast: str, value: Any) -> None:
    got = cast_value(raw, cast)
    assert got == value
    assert type(got) is type(value)


def test_alternate_groups_merge_and_take_the_base_cast(tmp_path: Path) -> None:
    f = tmp_path / "alt.toml"
    f.write_text(
        "schema_version = 1\ncategory = \"vm\"\n"
        "[[formats]]\nid = \"mini\"\ntimestamp = \"none\"\nregex = '^(?P<level>[A-Z]+) (?P<message>.*)$'\n"
        "[[formats.samples]]\nline = 'INFO a'\n"
        "[[events]]\nid = \"vm.alt\"\nkeywords = [\"vm \"]\n"
        "regex = '^vm (?:id=(?P<vm_id>\\d+)|#(?P<vm_id__2>\\d+))'\nfields = { vm_id = \"int\" }\n"
        "[[events.samples]]\nline = 'INFO vm #7'\nexpect = { vm_id = 7 }\n"
    )
    pats = load_patterns([f], bundled=False)
    assert one("INFO vm #7", pats).fields == {"vm_id": 7}
    assert one("INFO vm id=3", pats).fields == {"vm_id": 3}


# --------------------------------------------------------------------------- frames and layering

def test_events_frame(patterns: Patterns) -> None:
    text = "\n".join([
        "2012-03-01 14:02:11,110 DEBUG [cloud.async.AsyncJobManagerImpl] (Job-Executor-4:job-123) Executing "
        "com.cloud.api.commands.StartVMCmd for job-123",
        "2012-03-01 14:02:12,410 DEBUG [cloud.vm.VirtualMachineManagerImpl] (Job-Executor-4:job-123) Start completed "
        "for VM VM[User|i-2-5-VM]",
    ])
    df = events_frame(events_of(text, patterns))
    assert list(df.columns[: len(EVENT_COLUMNS)]) == list(EVENT_COLUMNS)
    assert {"job_id", "cmd", "vm_name", "vm_type"} <= set(df.columns)
    assert df["event"].tolist() == ["job.executing", "vm.start_completed"]
    assert df.loc[1, "vm_name"] == "i-2-5-VM"
    assert df.loc[0, "fields"]["job_id"] == 123
    assert df.loc[0, "jobs"] == [123]


def test_events_frame_empty() -> None:
    df = events_frame([])
    assert list(df.columns) == list(EVENT_COLUMNS)
    assert len(df) == 0


def test_streaming_modules_do_not_import_pandas() -> None:
    code = ("import sys, logparse.events, logparse.payload, logparse.commands, logparse.patterncheck; "
            "bad = [m for m in ('pandas', 'click', 'plotly') if m in sys.modules]; print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == ""
