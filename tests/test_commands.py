"""Agent command round trips: answered, failed with details, never answered, SeqA excluded."""

from __future__ import annotations

from logparse.commands import COMMAND_COLUMNS, CommandTrip, commands_frame, iter_command_trips
from logparse.events import iter_events
from logparse.models import Event, Record
from logparse.patterns import Patterns
from logparse.records import parse_text

MS_LOG = """\
2012-03-01 14:02:11,301 DEBUG [agent.transport.Request] (Job-Executor-4:job-123) Seq 3-1493630987: Sending  { Cmd , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 100111, [{"StartCommand":{"vm":{"id":5,"name":"i-2-5-VM","type":"User","disks":[{"id":5,"type":"ROOT","deviceId":0},{"id":7,"type":"DATADISK","deviceId":2},{"id":8,"type":"DATADISK","deviceId":1}]},"wait":0}}] }
2012-03-01 14:02:11,360 DEBUG [agent.transport.Request] (AgentManager-Handler-9:null) Seq 3-1493630987: Processing:  { Ans: , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 110, [{"Answer":{"result":false,"details":"java.lang.NullPointerException\\n\\tat com.cloud.agent.resource.computing.LibvirtComputingResource.cleanupVMNetworks(LibvirtComputingResource.java:3266)\\n","wait":0}}] }
2012-03-01 14:02:11,361 DEBUG [agent.transport.Request] (Job-Executor-4:job-123) Seq 3-1493630987: Received:  { Ans: , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 110, { Answer } }
2012-03-01 14:02:11,363 ERROR [cloud.vm.VirtualMachineManagerImpl] (Job-Executor-4:job-123) Failed to start instance VM[User|i-2-5-VM]
2012-03-01 14:02:30,000 DEBUG [agent.manager.AgentManagerImpl] (AgentManager-Handler-3:null) SeqA 3-6270: Processing Seq 3-6270:  { Cmd , MgmtId: -1, via: 3, Ver: v1, Flags: 11, [{"PingRoutingCommand":{"hostType":"Routing","hostId":3,"wait":0}}] }
2012-03-01 14:05:00,100 DEBUG [agent.transport.Request] (Job-Executor-6:job-130) Seq 3-1493630995: Sending  { Cmd , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 100111, [{"StartCommand":{"vm":{"id":6,"name":"i-2-6-VM","type":"User"},"wait":0}}] }
2012-03-01 14:05:01,300 DEBUG [agent.transport.Request] (AgentManager-Handler-2:null) Seq 3-1493630995: Processing:  { Ans: , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 110, [{"StartAnswer":{"vm":{"id":6,"name":"i-2-6-VM"},"result":true,"wait":0}}] }
2012-03-01 14:05:01,302 DEBUG [agent.transport.Request] (Job-Executor-6:job-130) Seq 3-1493630995: Received:  { Ans: , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 110, { StartAnswer } }
2012-03-01 14:06:00,000 DEBUG [agent.transport.Request] (Job-Executor-7:job-131) Seq 3-1493630999: Sending  { Cmd , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 100111, [{"StopCommand":{"isProxy":false,"vmName":"i-2-7-VM","wait":0}}] }
2012-03-01 14:07:00,000 INFO  [agent.manager.AgentAttache] (Job-Executor-7:job-131) Seq 3-1493630999: Waited too long.
"""

AGENT_LOG = """\
2012-03-01 14:02:11,320 DEBUG [cloud.agent.Agent] (agentRequest-Handler-2:null) Request:Seq 3-1493630987:  { Cmd , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 100111, [{"StartCommand":{"vm":{"id":5,"name":"i-2-5-VM"},"wait":0}}] }
2012-03-01 14:02:11,321 DEBUG [cloud.agent.Agent] (agentRequest-Handler-2:null) Processing command: com.cloud.agent.api.StartCommand
2012-03-01 14:02:11,351 WARN  [cloud.agent.Agent] (agentRequest-Handler-2:null) Caught: 
java.lang.NullPointerException
\tat com.cloud.agent.resource.computing.LibvirtComputingResource.cleanupVMNetworks(LibvirtComputingResource.java:3266)
2012-03-01 14:02:11,352 DEBUG [cloud.agent.Agent] (agentRequest-Handler-2:null) Seq 3-1493630987:  { Ans: , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 110, [{"Answer":{"result":false,"details":"java.lang.NullPointerException\\n\\tat com.cloud.agent.resource.computing.LibvirtComputingResource.cleanupVMNetworks(LibvirtComputingResource.java:3266)\\n","wait":0}}] }
2012-03-01 14:05:00,120 DEBUG [cloud.agent.Agent] (agentRequest-Handler-3:null) Request:Seq 3-1493630995:  { Cmd , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 100111, [{"StartCommand":{"vm":{"id":6,"name":"i-2-6-VM"},"wait":0}}] }
2012-03-01 14:05:01,290 DEBUG [cloud.agent.Agent] (agentRequest-Handler-3:null) Seq 3-1493630995:  { Ans: , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 110, [{"StartAnswer":{"vm":{"id":6,"name":"i-2-6-VM"},"result":true,"wait":0}}] }
"""


def _records(patterns: Patterns) -> tuple[list[Record], list[Record]]:
    ms = parse_text(MS_LOG, patterns, role="management", source="management-server.log")
    agent = parse_text(AGENT_LOG, patterns, role="agent", source="agent.log")
    return ms, agent


def _merged_events(patterns: Patterns) -> list[Event]:
    ms, agent = _records(patterns)
    evs = list(iter_events(ms, patterns)) + list(iter_events(agent, patterns))
    return sorted(evs, key=lambda e: e.timestamp or "")


def _by_seq(trips: list[CommandTrip]) -> dict[str, CommandTrip]:
    out = {t.seq: t for t in trips}
    assert len(out) == len(trips)
    return out


def test_failed_start_with_details(patterns: Patterns) -> None:
    trips = _by_seq(list(iter_command_trips(_merged_events(patterns))))
    t = trips["3-1493630987"]
    assert t.command == "StartCommand"
    assert t.vm_name == "i-2-5-VM"
    assert t.host_id == 3
    assert (t.sent_at, t.sent_evidence) == ("2012-03-01T14:02:11.301", "management-server.log:1")
    assert (t.agent_received_at, t.agent_evidence) == ("2012-03-01T14:02:11.320", "agent.log:1")
    assert (t.answered_at, t.answer_evidence) == ("2012-03-01T14:02:11.360", "management-server.log:2")
    assert t.answer_class == "Answer"
    assert t.result is False
    assert t.details == "java.lang.NullPointerException"
    assert t.latency_ms == 59
    assert t.answered


def test_answered_start(patterns: Patterns) -> None:
    t = _by_seq(list(iter_command_trips(_merged_events(patterns))))["3-1493630995"]
    assert t.vm_name == "i-2-6-VM"
    assert t.answer_class == "StartAnswer"
    assert t.result is True
    assert t.details is None
    assert t.answered
    assert t.latency_ms == 1200
    assert t.agent_evidence == "agent.log:7"


def test_never_answered(patterns: Patterns) -> None:
    t = _by_seq(list(iter_command_trips(_merged_events(patterns))))["3-1493630999"]
    assert t.command == "StopCommand"
    assert t.vm_name == "i-2-7-VM"
    assert not t.answered
    assert t.answered_at is None
    assert t.answer_evidence is None
    assert t.result is None
    assert t.latency_ms is None


def test_agent_originated_requests_are_not_trips(patterns: Patterns) -> None:
    trips = list(iter_command_trips(_merged_events(patterns)))
    assert {t.seq for t in trips} == {"3-1493630987", "3-1493630995", "3-1493630999"}
    assert [t.seq for t in trips if not t.answered] == ["3-1493630999"]


def test_records_input_gives_the_same_trips(patterns: Patterns) -> None:
    ms, agent = _records(patterns)
    recs = sorted([*ms, *agent], key=lambda r: r.timestamp or "")
    from_records = list(iter_command_trips(recs))
    from_events = list(iter_command_trips(_merged_events(patterns)))
    assert sorted(from_records, key=lambda t: t.seq) == sorted(from_events, key=lambda t: t.seq)


def test_files_one_after_the_other_pair_with_linger(patterns: Patterns) -> None:
    ms, agent = _records(patterns)
    evs = list(iter_events(ms, patterns)) + list(iter_events(agent, patterns))  # not time-merged
    t = _by_seq(list(iter_command_trips(evs, linger=None)))["3-1493630987"]
    assert t.agent_evidence == "agent.log:1"
    assert t.sent_evidence == "management-server.log:1"
    assert t.result is False
    assert t.latency_ms == 59


def test_small_linger_emits_early_and_agent_side_alone(patterns: Patterns) -> None:
    ms, agent = _records(patterns)
    evs = list(iter_events(ms, patterns)) + list(iter_events(agent, patterns))
    trips = list(iter_command_trips(evs, linger=0))
    # with no linger, the agent lines of the first start arrive after its trip left: an agent-only trip
    seqs = [t.seq for t in trips]
    assert seqs.count("3-1493630987") == 2
    agent_only = next(t for t in trips if t.seq == "3-1493630987" and t.sent_evidence is None)
    assert agent_only.agent_evidence == "agent.log:1"
    assert agent_only.answered
    assert agent_only.latency_ms == 32  # agent clock: request -> answer


def test_agent_log_alone(patterns: Patterns) -> None:
    agent = parse_text(AGENT_LOG, patterns, role="agent", source="agent.log")
    trips = _by_seq(list(iter_command_trips(iter_events(agent, patterns))))
    t = trips["3-1493630987"]
    assert t.sent_at is None
    assert t.agent_received_at == "2012-03-01T14:02:11.320"
    assert t.answered_at == "2012-03-01T14:02:11.352"
    assert t.answer_evidence == "agent.log:6"
    assert t.result is False
    assert t.details == "java.lang.NullPointerException"
    assert t.latency_ms == 32


def test_quoted_415_result_and_queued_send(patterns: Patterns) -> None:
    log = """\
2021-03-13 02:40:02,000 DEBUG [c.c.a.t.Request] (Work-Job-Executor-17:ctx-3d84aa87 job-61/job-62) (logid:fc577e10) Seq 1-100: Waiting for Seq 99 Scheduling:  { Cmd , MgmtId: 1, via: 1(kvm01), Ver: v1, Flags: 100111, [{"com.cloud.agent.api.StartCommand":{"vm":{"id":"5","name":"i-2-5-VM"},"wait":"0"}}] }
2021-03-13 02:40:02,500 DEBUG [c.c.a.t.Request] (Work-Job-Executor-17:ctx-3d84aa87 job-61/job-62) (logid:fc577e10) Seq 1-100: Sending  { Cmd , MgmtId: 1, via: 1(kvm01), Ver: v1, Flags: 100111, [{"com.cloud.agent.api.StartCommand":{"vm":{"id":"5","name":"i-2-5-VM"},"wait":"0"}}] }
2021-03-13 02:40:02,700 DEBUG [c.c.a.t.Request] (AgentManager-Handler-12:null) (logid:) Seq 1-100: Processing:  { Ans: , MgmtId: 1, via: 1(kvm01), Ver: v1, Flags: 10, [{"com.cloud.agent.api.StartAnswer":{"vm":{"id":"5"},"result":"false","details":"Unable to start VM due to: XML error: target 'vdb' duplicated","wait":"0"}}] }
"""
    recs = parse_text(log, patterns, source="ms.log")
    (t,) = list(iter_command_trips(iter_events(recs, patterns)))
    assert t.sent_evidence == "ms.log:2"
    assert t.latency_ms == 200
    assert t.result is False
    assert t.details == "Unable to start VM due to: XML error: target 'vdb' duplicated"
    assert t.answer_class == "StartAnswer"
    assert t.command == "StartCommand"


def test_commands_frame(patterns: Patterns) -> None:
    df = commands_frame(iter_command_trips(_merged_events(patterns)))
    assert list(df.columns) == list(COMMAND_COLUMNS)
    assert len(df) == 3
    assert df.set_index("seq").loc["3-1493630987", "details"] == "java.lang.NullPointerException"


def test_commands_frame_empty() -> None:
    df = commands_frame([])
    assert list(df.columns) == list(COMMAND_COLUMNS)
    assert len(df) == 0


def test_trip_dict_order(patterns: Patterns) -> None:
    t = next(iter(iter_command_trips(_merged_events(patterns))))
    assert tuple(t.as_dict()) == COMMAND_COLUMNS
