"""Tests for logparse.stacktraces: trace shapes, fingerprints, templates, masking."""

# Trace lines are copied verbatim from cloudstack-log-formats.md §3.4/§3.5: keep them whole.

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logparse.models import Record
from logparse.stacktraces import (
    MaskLink,
    StackFrame,
    StackTrace,
    TraceOccurrence,
    describe_mask,
    iter_trace_occurrences,
    link_masks,
    message_template,
    parse_traces,
)


def lines(*parts: str) -> str:
    return "\n".join(parts)


# --- texts: §3.4 / §3.5 of cloudstack-log-formats.md, verbatim where the reference gives them

AGENT_IOOBE = lines(
    "2012-03-01 14:02:11,349 WARN  [resource.computing.LibvirtComputingResource] "
    "(agentRequest-Handler-2:null) Exception ",
    "java.lang.IndexOutOfBoundsException: Index: 2, Size: 1",
    "\tat java.util.ArrayList.add(ArrayList.java:367)",
    "\tat com.cloud.agent.resource.computing.LibvirtComputingResource.createVbd(LibvirtComputingResource.java:2364)",
    "\tat com.cloud.agent.resource.computing.LibvirtComputingResource.execute(LibvirtComputingResource.java:2294)",
    "\tat com.cloud.agent.resource.computing.LibvirtComputingResource.executeRequest(LibvirtComputingResource.java:921)",
    "\tat com.cloud.agent.Agent.processRequest(Agent.java:539)",
    "\tat com.cloud.agent.Agent$AgentRequestHandler.doTask(Agent.java:849)",
    "\tat com.cloud.utils.nio.Task.run(Task.java:85)",
    "\tat java.util.concurrent.ThreadPoolExecutor$Worker.runTask(ThreadPoolExecutor.java:886)",
    "\tat java.util.concurrent.ThreadPoolExecutor$Worker.run(ThreadPoolExecutor.java:908)",
    "\tat java.lang.Thread.run(Thread.java:662)",
)

AGENT_NPE = lines(
    "2012-03-01 14:02:11,351 WARN  [cloud.agent.Agent] (agentRequest-Handler-2:null) Caught: ",
    "java.lang.NullPointerException",
    "\tat com.cloud.agent.resource.computing.LibvirtComputingResource.cleanupVMNetworks(LibvirtComputingResource.java:3266)",
    "\tat com.cloud.agent.resource.computing.LibvirtComputingResource.handleVmStartFailure(LibvirtComputingResource.java:2201)",
    "\tat com.cloud.agent.resource.computing.LibvirtComputingResource.execute(LibvirtComputingResource.java:2318)",
    "\tat com.cloud.agent.resource.computing.LibvirtComputingResource.executeRequest(LibvirtComputingResource.java:921)",
    "\tat com.cloud.agent.Agent.processRequest(Agent.java:539)",
    "\t…",
)

AGENT_ANSWER_JSON = (
    "2012-03-01 14:02:11,352 DEBUG [cloud.agent.Agent] (agentRequest-Handler-2:null) "
    "Seq 3-1493630987:  { Ans: , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 110, "
    '[{"Answer":{"result":false,"details":"java.lang.NullPointerException\\n\\tat '
    "com.cloud.agent.resource.computing.LibvirtComputingResource.cleanupVMNetworks"
    '(LibvirtComputingResource.java:3266)\\n\\tat …\\n","wait":0}}] }'
)

MS_FAILED_START = lines(
    "2012-03-01 14:02:11,363 ERROR [cloud.vm.VirtualMachineManagerImpl] (Job-Executor-4:job-123) "
    "Failed to start instance VM[User|i-2-5-VM]",
    "com.cloud.utils.exception.CloudRuntimeException: Unable to get answer that is of class "
    "com.cloud.agent.api.StartAnswer",
    "\tat com.cloud.agent.manager.Commands.getAnswer(Commands.java:81)",
    "\tat com.cloud.vm.VirtualMachineManagerImpl.advanceStart(VirtualMachineManagerImpl.java:765)",
    "\t…",
)

MS_API_DISPATCHER = lines(
    "2012-03-01 14:02:11,431 WARN  [cloud.api.ApiDispatcher] (Job-Executor-4:job-123) Exception: ",
    "com.cloud.exception.AgentUnavailableException: Resource [Host:3] is unreachable: Host 3: "
    "Unable to start instance",
    "\tat com.cloud.vm.VirtualMachineManagerImpl.advanceStart(VirtualMachineManagerImpl.java:827)",
    "\t…",
    "Caused by: com.cloud.utils.exception.CloudRuntimeException: Unable to get answer that is of "
    "class com.cloud.agent.api.StartAnswer",
    "\t…",
)

AGENT_NPE_42 = lines(
    "2019-05-10 11:22:33,444 WARN  [cloud.agent.Agent] (agentRequest-Handler-4:null) "
    "(logid:1a2b3c4d) Caught: ",
    "java.lang.NullPointerException",
    "\tat com.cloud.hypervisor.kvm.resource.LibvirtComputingResource$3.compare(LibvirtComputingResource.java:2331)",
    "\tat com.cloud.hypervisor.kvm.resource.LibvirtComputingResource$3.compare(LibvirtComputingResource.java:2328)",
    "\tat java.util.TimSort.countRunAndMakeAscending(TimSort.java:355)",
    "\tat java.util.TimSort.sort(TimSort.java:220)",
    "\tat java.util.Arrays.sort(Arrays.java:1512)",
    "\tat java.util.Arrays$ArrayList.sort(Arrays.java:3702)",
    "\tat java.util.Collections.sort(Collections.java:175)",
    "\tat com.cloud.hypervisor.kvm.resource.LibvirtComputingResource.createVbd(LibvirtComputingResource.java:2328)",
    "\tat com.cloud.hypervisor.kvm.resource.wrapper.LibvirtStartCommandWrapper.execute(LibvirtStartCommandWrapper.java:83)",
    "\t…",
)

# log4j 2 (4.20+): the exception starts on the header line (JDK 17 helpful NPE, modules).
AGENT_NPE_LOG4J2 = lines(
    "2025-06-01 10:00:00,101 WARN  [cloud.agent.Agent] (AgentRequest-Handler-3:[]) (logid:5669af63) "
    'Caught: java.lang.NullPointerException: Cannot invoke "java.lang.Long.longValue()" because '
    'the return value of "com.cloud.agent.api.to.DiskTO.getDiskSeq()" is null',
    "\tat com.cloud.hypervisor.kvm.resource.LibvirtComputingResource$5.compare(LibvirtComputingResource.java:3120)",
    "\tat java.base/java.util.TimSort.sort(TimSort.java:220)",
    "\tat java.base/java.util.Arrays.sort(Arrays.java:1307)",
    "\tat java.base/java.util.Collections.sort(Collections.java:179)",
    "\tat com.cloud.hypervisor.kvm.resource.LibvirtComputingResource.createVbd(LibvirtComputingResource.java:3116)",
    "\tat com.cloud.hypervisor.kvm.resource.wrapper.LibvirtStartCommandWrapper.execute(LibvirtStartCommandWrapper.java:94)",
    "\tat java.base/java.lang.Thread.run(Thread.java:840)",
)

MS_LOG4J2_HEADER = lines(
    "2025-06-01 10:00:00,300 ERROR [c.c.v.VirtualMachineManagerImpl] "
    "(Work-Job-Executor-5:[ctx-ae3b8fa7, job-42/job-43, ctx-195eb086]) (logid:be542d17) "
    'Failed to start instance VM instance {"id":4,"instanceName":"i-2-4-VM","type":"User"} '
    "com.cloud.utils.exception.CloudRuntimeException: Unable to get answer that is of class "
    "com.cloud.agent.api.StartAnswer",
    "\tat com.cloud.agent.manager.Commands.getAnswer(Commands.java:85)",
    "\t... suppressed 2 lines",
    "\tat com.cloud.vm.VirtualMachineManagerImpl.orchestrateStart(VirtualMachineManagerImpl.java:1450)",
    "\t... suppressed 3 lines",
    "\tat com.cloud.vm.VmWorkJobHandlerProxy.handleVmWorkJob(VmWorkJobHandlerProxy.java:106)",
)

EIGHT_SPACES = lines(
    "java.lang.IndexOutOfBoundsException: Index: 4, Size: 3",
    "        at java.util.ArrayList.rangeCheckForAdd(ArrayList.java:665)",
    "        at java.util.ArrayList.add(ArrayList.java:477)",
    "        at com.cloud.agent.resource.computing.LibvirtComputingResource.createVbd(LibvirtComputingResource.java:2364)",
    "Caused by: java.lang.IllegalStateException: boom",
    "        at com.cloud.utils.Foo.bar(Foo.java:1)",
    "        ... 2 more",
)

DEEP_CHAIN = lines(
    "2016-01-01 00:00:00,000 ERROR [c.c.a.ApiServer] (catalina-exec-1:ctx-1) (logid:0a1b2c3d) "
    "unhandled exception executing api command: startVirtualMachine",
    "com.cloud.utils.exception.CloudRuntimeException: Failed to start",
    "\tat com.cloud.vm.UserVmManagerImpl.startVirtualMachine(UserVmManagerImpl.java:3500)",
    "\tat com.cloud.api.ApiServer.handleRequest(ApiServer.java:500)",
    "Caused by: com.cloud.exception.AgentUnavailableException: Resource [Host:3] is unreachable",
    "\tat com.cloud.vm.VirtualMachineManagerImpl.orchestrateStart(VirtualMachineManagerImpl.java:1100)",
    "\t... 2 more",
    "Caused by: org.libvirt.LibvirtException: internal error: process exited while connecting to "
    "monitor:",
    "qemu-kvm: -drive file=/mnt/abc/5.qcow2: could not open disk image: Permission denied",
    "\tat org.libvirt.ErrorHandler.processError(Unknown Source)",
    "\tat org.libvirt.Connect.processError(Unknown Source)",
    "\tat org.libvirt.Domain.create(Native Method)",
    "\tat com.cloud.hypervisor.kvm.resource.LibvirtComputingResource.startVM(LibvirtComputingResource.java:1200)",
    "\t... 3 more",
)

# CglibThrowableRenderer: a cause with zero `at` lines, only `... N more`.
CGLIB_ZERO_FRAMES = lines(
    "2012-03-01 14:02:11,440 ERROR [cloud.async.AsyncJobManagerImpl] (Job-Executor-4:job-123) "
    "Unexpected exception while executing com.cloud.api.commands.StartVMCmd",
    "com.cloud.utils.exception.CloudRuntimeException: Unable to start instance",
    "\tat com.cloud.vm.UserVmManagerImpl.startVirtualMachine(UserVmManagerImpl.java:2700)",
    "\tat com.cloud.api.commands.StartVMCmd.execute(StartVMCmd.java:120)",
    "Caused by: com.cloud.exception.AgentUnavailableException: Resource [Host:3] is unreachable",
    "\t... 12 more",
)

SUPPRESSED = lines(
    "java.io.IOException: close failed",
    "\tat com.cloud.utils.ssh.SshHelper.sshExecute(SshHelper.java:150)",
    "\tat com.cloud.agent.Agent.processRequest(Agent.java:539)",
    "\tSuppressed: java.lang.IllegalStateException: channel already closed",
    "\t\tat com.cloud.utils.ssh.SshHelper.close(SshHelper.java:200)",
    "\t\t... 2 more",
    "\tCaused by: java.net.SocketException: Broken pipe",
    "\t\tat java.net.SocketOutputStream.socketWrite0(Native Method)",
    "\t\t... 3 more",
    "\tSuppressed: java.lang.RuntimeException: second",
    "\t\t... 2 more",
    "Caused by: java.net.SocketTimeoutException: Read timed out",
    "\tat java.net.SocketInputStream.socketRead0(Native Method)",
    "\t... 2 more",
)

# log4j 2 %rEx: root cause first, then `Wrapped by:` outward.
WRAPPED_BY = lines(
    "java.lang.NullPointerException: disk seq",
    "\tat com.cloud.hypervisor.kvm.resource.LibvirtComputingResource.createVbd(LibvirtComputingResource.java:3116)",
    "Wrapped by: com.cloud.utils.exception.CloudRuntimeException: Unable to start",
    "\tat com.cloud.hypervisor.kvm.resource.wrapper.LibvirtStartCommandWrapper.execute(LibvirtStartCommandWrapper.java:94)",
    "\tat com.cloud.agent.Agent.processRequest(Agent.java:600)",
)

BARE_NPE = lines(
    "2012-03-01 14:02:11,351 WARN  [cloud.agent.Agent] (agentRequest-Handler-2:null) Caught: ",
    "java.lang.NullPointerException",
)

FRAGMENT = lines(
    "\tat com.cloud.agent.resource.computing.LibvirtComputingResource.createVbd(LibvirtComputingResource.java:2364)",
    "\tat com.cloud.agent.resource.computing.LibvirtComputingResource.execute(LibvirtComputingResource.java:2294)",
    "\t... 7 more",
)

FRAGMENT_CAUSE = lines(
    "Caused by: java.lang.IndexOutOfBoundsException: Index: 2, Size: 1",
    "\tat java.util.ArrayList.add(ArrayList.java:367)",
)

NON_SUFFIX_CLASS = lines(
    "2014-01-14 10:20:30,123 WARN  [c.c.h.x.r.CitrixResourceBase] (DirectAgent-1:ctx-1) Catch exception",
    "com.xensource.xenapi.Types$BadServerResponse: [HOST_IS_SLAVE, 10.1.1.5]",
    "\tat com.xensource.xenapi.Types.checkResponse(Types.java:1936)",
    "\tat com.cloud.hypervisor.xen.resource.CitrixResourceBase.getConnection(CitrixResourceBase.java:400)",
)

TWO_TRACES = lines(
    "2012-03-01 14:02:11,351 INFO  [stdout] (main:null) dump",
    "java.lang.IllegalArgumentException: first",
    "\tat com.cloud.Foo.a(Foo.java:1)",
    "java.lang.IllegalStateException: second",
    "\tat com.cloud.Foo.b(Foo.java:2)",
)

INLINE_LIBVIRT = (
    "2021-05-29 07:07:03,384 WARN  [resource.wrapper.LibvirtStartCommandWrapper] "
    "(agentRequest-Handler-5:null) (logid:bf3225ab) Unable to start VM i-2-5-VM due to "
    "org.libvirt.LibvirtException: internal error: process exited while connecting to monitor"
)

INLINE_PROXY = (
    "2018-09-07 14:19:26,746 ERROR [cloud.vm.VmWorkJobHandlerProxy] "
    "(Work-Job-Executor-73:ctx-f0153f83 job-31342/job-31343 ctx-749d330b) "
    "Invocation exception, caused by: java.lang.ArrayIndexOutOfBoundsException"
)

JSON_4X = (
    "2021-03-13 02:40:02,888 DEBUG [c.c.a.t.Request] (AgentManager-Handler-9:null) (logid:) "
    "Seq 2-3401343618571567259: Processing:  { Ans: , MgmtId: 32985852150888, via: 2, Ver: v1, "
    'Flags: 10, [{"com.cloud.agent.api.Answer":{"result":"false","details":'
    '"com.cloud.utils.exception.CloudRuntimeException: disk \\u003d \\"vdb\\"\\n'
    "\\tat com.cloud.hypervisor.kvm.resource.LibvirtComputingResource.createVbd"
    "(LibvirtComputingResource.java:3116)\\nCaused by: java.lang.NullPointerException\\n"
    '\\t... 1 more\\n","wait":"0"}}] }'
)


@pytest.mark.parametrize(
    ("text", "exception", "message", "root_cause", "n_frames", "n_causes", "origin"),
    [
        pytest.param(
            AGENT_IOOBE,
            "java.lang.IndexOutOfBoundsException",
            "Index: 2, Size: 1",
            "java.lang.IndexOutOfBoundsException",
            10,
            0,
            "continuation",
            id="log4j1-ioobe-createVbd",
        ),
        pytest.param(
            AGENT_NPE,
            "java.lang.NullPointerException",
            None,
            "java.lang.NullPointerException",
            5,
            0,
            "continuation",
            id="log4j1-npe-cleanupVMNetworks-elided",
        ),
        pytest.param(
            MS_FAILED_START,
            "com.cloud.utils.exception.CloudRuntimeException",
            "Unable to get answer that is of class com.cloud.agent.api.StartAnswer",
            "com.cloud.utils.exception.CloudRuntimeException",
            2,
            0,
            "continuation",
            id="ms-failed-to-start-instance",
        ),
        pytest.param(
            MS_API_DISPATCHER,
            "com.cloud.exception.AgentUnavailableException",
            "Resource [Host:3] is unreachable: Host 3: Unable to start instance",
            "com.cloud.utils.exception.CloudRuntimeException",
            1,
            1,
            "continuation",
            id="ms-api-dispatcher-caused-by",
        ),
        pytest.param(
            AGENT_NPE_42,
            "java.lang.NullPointerException",
            None,
            "java.lang.NullPointerException",
            9,
            0,
            "continuation",
            id="4.2-npe-in-comparator",
        ),
        pytest.param(
            AGENT_NPE_LOG4J2,
            "java.lang.NullPointerException",
            'Cannot invoke "java.lang.Long.longValue()" because the return value of '
            '"com.cloud.agent.api.to.DiskTO.getDiskSeq()" is null',
            "java.lang.NullPointerException",
            7,
            0,
            "header",
            id="log4j2-header-helpful-npe",
        ),
        pytest.param(
            MS_LOG4J2_HEADER,
            "com.cloud.utils.exception.CloudRuntimeException",
            "Unable to get answer that is of class com.cloud.agent.api.StartAnswer",
            "com.cloud.utils.exception.CloudRuntimeException",
            3,
            0,
            "header",
            id="log4j2-header-vm-instance-json-suppressed-lines",
        ),
        pytest.param(
            EIGHT_SPACES,
            "java.lang.IndexOutOfBoundsException",
            "Index: 4, Size: 3",
            "java.lang.IllegalStateException",
            3,
            1,
            "continuation",
            id="eight-space-frames",
        ),
        pytest.param(
            DEEP_CHAIN,
            "com.cloud.utils.exception.CloudRuntimeException",
            "Failed to start",
            "org.libvirt.LibvirtException",
            2,
            2,
            "continuation",
            id="caused-by-depth-2-multiline-message",
        ),
        pytest.param(
            CGLIB_ZERO_FRAMES,
            "com.cloud.utils.exception.CloudRuntimeException",
            "Unable to start instance",
            "com.cloud.exception.AgentUnavailableException",
            2,
            1,
            "continuation",
            id="cglib-cause-without-frames",
        ),
        pytest.param(
            SUPPRESSED,
            "java.io.IOException",
            "close failed",
            "java.net.SocketTimeoutException",
            2,
            1,
            "continuation",
            id="suppressed-not-in-cause-chain",
        ),
        pytest.param(
            WRAPPED_BY,
            "com.cloud.utils.exception.CloudRuntimeException",
            "Unable to start",
            "java.lang.NullPointerException",
            2,
            1,
            "continuation",
            id="wrapped-by-reversed",
        ),
        pytest.param(
            BARE_NPE,
            "java.lang.NullPointerException",
            None,
            "java.lang.NullPointerException",
            0,
            0,
            "continuation",
            id="bare-exception-after-caught",
        ),
        pytest.param(
            FRAGMENT,
            "<unknown>",
            None,
            "<unknown>",
            2,
            0,
            "continuation",
            id="mid-trace-fragment",
        ),
        pytest.param(
            FRAGMENT_CAUSE,
            "<unknown>",
            None,
            "java.lang.IndexOutOfBoundsException",
            0,
            1,
            "continuation",
            id="fragment-starting-with-caused-by",
        ),
        pytest.param(
            NON_SUFFIX_CLASS,
            "com.xensource.xenapi.Types$BadServerResponse",
            "[HOST_IS_SLAVE, 10.1.1.5]",
            "com.xensource.xenapi.Types$BadServerResponse",
            2,
            0,
            "continuation",
            id="class-without-exception-suffix-followed-by-frames",
        ),
        pytest.param(
            AGENT_ANSWER_JSON,
            "java.lang.NullPointerException",
            None,
            "java.lang.NullPointerException",
            1,
            0,
            "json",
            id="json-escaped-answer-details",
        ),
        pytest.param(
            JSON_4X,
            "com.cloud.utils.exception.CloudRuntimeException",
            'disk = "vdb"',
            "java.lang.NullPointerException",
            1,
            1,
            "json",
            id="json-4x-fqcn-unicode-escape-caused-by",
        ),
        pytest.param(
            INLINE_LIBVIRT,
            "org.libvirt.LibvirtException",
            "internal error: process exited while connecting to monitor",
            "org.libvirt.LibvirtException",
            0,
            0,
            "inline",
            id="inline-due-to-libvirt",
        ),
        pytest.param(
            INLINE_PROXY,
            "java.lang.ArrayIndexOutOfBoundsException",
            None,
            "java.lang.ArrayIndexOutOfBoundsException",
            0,
            0,
            "inline",
            id="inline-invocation-exception-caused-by",
        ),
    ],
)
def test_parse_traces_shapes(
    text: str,
    exception: str,
    message: str | None,
    root_cause: str,
    n_frames: int,
    n_causes: int,
    origin: str,
) -> None:
    traces = parse_traces(text)
    assert len(traces) == 1, traces
    t = traces[0]
    assert (t.exception, t.message, t.root_cause, len(t.frames), len(t.causes), t.origin) == (
        exception,
        message,
        root_cause,
        n_frames,
        n_causes,
        origin,
    )
    assert re.fullmatch(r"[0-9a-f]{16}", t.fingerprint)
    assert t.chain[0] == exception
    assert t.chain[-1] == root_cause


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            "2012-03-01 14:02:11,321 DEBUG [cloud.agent.Agent] (agentRequest-Handler-2:null) "
            "Processing command: com.cloud.agent.api.StartCommand",
            id="plain-debug",
        ),
        pytest.param(
            "2012-03-01 14:02:12,470 DEBUG [cloud.async.AsyncJobManagerImpl] (Job-Executor-4:job-123) "
            "Complete async job-123, jobStatus: 2, resultCode: 530, "
            "result: com.cloud.api.response.ExceptionResponse@6d4c3a1f",
            id="exception-response-class-name",
        ),
        pytest.param(
            "2012-03-01 14:02:11,349 WARN  [resource.computing.LibvirtComputingResource] "
            "(agentRequest-Handler-2:null) Exception ",
            id="message-Exception-is-not-a-class",
        ),
        pytest.param(
            "2026-06-26 10:16:38,552 WARN  [resource.wrapper.LibvirtStartCommandWrapper] "
            "(agentRequest-Handler-5:null) (logid:bf3225ab) LibvirtException ",
            id="message-LibvirtException-is-not-a-class",
        ),
        pytest.param(
            lines(
                "2012-03-01 14:02:11,690 DEBUG [resource.computing.LibvirtComputingResource] "
                "(agentRequest-Handler-2:null) starting i-2-5-VM: <domain type='kvm'>",
                "<name>i-2-5-VM</name>",
                "<description>Error handling: java.lang.RuntimeException</description>",
                "<on_crash>destroy</on_crash>",
                "</domain>",
            ),
            id="xml-domain-dump",
        ),
        pytest.param(
            "2012-03-01 14:02:11,320 DEBUG [cloud.agent.Agent] (agentRequest-Handler-2:null) "
            "Request:Seq 3-1493630987:  { Cmd , MgmtId: 90520732674657, via: 3, Ver: v1, "
            'Flags: 100111, [{"StartCommand":{"vm":{"id":5,"name":"i-2-5-VM","disks":'
            '[{"deviceId":0},{"deviceId":2}]},"wait":0}}] }',
            id="json-start-command",
        ),
        pytest.param(
            "2012-03-01 14:02:12,390 DEBUG [cloud.agent.Agent] (agentRequest-Handler-2:null) "
            "Seq 3-1493630987:  { Ans: , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 110, "
            '[{"StartAnswer":{"result":false,"details":"Unable to start i-2-5-VM due to '
            'org.libvirt.LibvirtException: internal error","wait":0}}] }',
            id="json-details-mentioning-exception-is-payload",
        ),
        pytest.param(
            '[{"com.cloud.agent.api.SomeException":{"result":true}}]',
            id="json-key-named-like-exception",
        ),
        pytest.param("Error while talking to host 3", id="word-error-without-class"),
        pytest.param("\tat the end of the day", id="at-line-that-is-not-a-frame"),
        pytest.param("", id="empty"),
    ],
)
def test_parse_traces_finds_nothing(text: str) -> None:
    assert parse_traces(text) == []


def test_parse_traces_log4j1_has_no_header_trace_and_offset() -> None:
    (t,) = parse_traces(AGENT_IOOBE)
    assert t.line_offset == 1
    assert t.first_app_frame is not None
    assert t.first_app_frame.method == "createVbd"
    assert t.frames[0] == StackFrame("java.util.ArrayList", "add", "ArrayList.java", 367, None)


def test_parse_traces_log4j2_suppressed_lines_counted() -> None:
    (t,) = parse_traces(MS_LOG4J2_HEADER)
    assert t.line_offset == 0
    assert t.suppressed_lines == 5
    assert t.frames[-1].method == "handleVmWorkJob"


def test_parse_traces_multiline_message_before_first_frame() -> None:
    (t,) = parse_traces(DEEP_CHAIN)
    root = t.causes[-1]
    assert root.message == (
        "internal error: process exited while connecting to monitor:\n"
        "qemu-kvm: -drive file=/mnt/abc/5.qcow2: could not open disk image: Permission denied"
    )
    assert root.more == 3
    assert t.causes[0].more == 2
    assert t.root_message == root.message
    assert [f.file for f in root.frames] == [None, None, None, "LibvirtComputingResource.java"]


def test_parse_traces_cglib_cause_keeps_more_count() -> None:
    (t,) = parse_traces(CGLIB_ZERO_FRAMES)
    assert t.causes[0].frames == ()
    assert t.causes[0].more == 12


def test_parse_traces_suppressed_blocks_have_own_frames_and_causes() -> None:
    (t,) = parse_traces(SUPPRESSED)
    assert t.chain == ("java.io.IOException", "java.net.SocketTimeoutException")
    first, second = t.suppressed
    assert (first.exception, len(first.frames), first.more) == (
        "java.lang.IllegalStateException",
        1,
        2,
    )
    assert [c.exception for c in first.causes] == ["java.net.SocketException"]
    assert first.causes[0].frames[0].file is None  # Native Method
    assert first.causes[0].more == 3
    assert (second.exception, second.frames, second.more) == ("java.lang.RuntimeException", (), 2)
    assert t.causes[0].more == 2


def test_parse_traces_wrapped_by_chain_is_outermost_first() -> None:
    (t,) = parse_traces(WRAPPED_BY)
    assert t.chain == (
        "com.cloud.utils.exception.CloudRuntimeException",
        "java.lang.NullPointerException",
    )
    assert t.frames[0].method == "execute"
    assert t.causes[0].frames[0].method == "createVbd"


def test_parse_traces_two_traces_in_one_record() -> None:
    traces = parse_traces(TWO_TRACES)
    assert [(t.exception, t.line_offset, len(t.frames)) for t in traces] == [
        ("java.lang.IllegalArgumentException", 1, 1),
        ("java.lang.IllegalStateException", 3, 1),
    ]


def test_parse_traces_json_line_offset_and_frames() -> None:
    text = lines(
        "2012-03-01 14:02:11,352 DEBUG [cloud.agent.Agent] (t:null) header", AGENT_ANSWER_JSON
    )
    (t,) = parse_traces(text)
    assert t.line_offset == 1
    assert t.frames[0].method == "cleanupVMNetworks"
    assert t.frames[0].line == 3266


def test_parse_traces_inline_not_repeated_when_trace_has_it() -> None:
    text = lines(
        "2012-03-01 14:02:11,000 WARN  [c.c.Foo] (t:null) Failed due to "
        "java.lang.IllegalStateException: boom",
        "com.cloud.utils.exception.CloudRuntimeException: wrapper",
        "\tat com.cloud.Foo.a(Foo.java:1)",
        "Caused by: java.lang.IllegalStateException: boom",
        "\t... 1 more",
    )
    (t,) = parse_traces(text)
    assert t.origin == "continuation"


def test_parse_traces_single_line_fragment() -> None:
    (t,) = parse_traces("        at com.cloud.agent.Agent.processRequest(Agent.java:539)")
    assert (t.exception, t.frames[0].method, t.origin) == (
        "<unknown>",
        "processRequest",
        "continuation",
    )


@pytest.mark.parametrize(
    ("text", "method"),
    [
        pytest.param(AGENT_IOOBE, "createVbd", id="skips-jdk-frames"),
        pytest.param(
            lines(
                "java.lang.RuntimeException: x", "\tat java.util.ArrayList.add(ArrayList.java:1)"
            ),
            "add",
            id="falls-back-to-first-frame",
        ),
        pytest.param(
            lines(
                "com.cloud.utils.exception.CloudRuntimeException: x",
                "\tat com.cloud.vm.Foo$$EnhancerByCGLIB$$1a2b.start(<generated>)",
                "Caused by: java.lang.IllegalStateException",
                "\tat org.apache.cloudstack.engine.Bar.run(Bar.java:3)",
            ),
            "run",
            id="proxy-is-not-app-code-looks-into-causes",
        ),
        pytest.param(BARE_NPE, None, id="no-frames"),
    ],
)
def test_first_app_frame(text: str, method: str | None) -> None:
    (t,) = parse_traces(text)
    frame = t.first_app_frame
    assert (frame.method if frame else None) == method


def test_parse_traces_crlf() -> None:
    (t,) = parse_traces(AGENT_IOOBE.replace("\n", "\r\n"))
    assert (t.message, len(t.frames), t.frames[-1].line) == ("Index: 2, Size: 1", 10, 662)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(
            "\tat java.util.ArrayList.add(ArrayList.java:367)",
            StackFrame("java.util.ArrayList", "add", "ArrayList.java", 367, None),
            id="plain",
        ),
        pytest.param(
            "\tat org.libvirt.Domain.create(Native Method)",
            StackFrame("org.libvirt.Domain", "create", None, None, None),
            id="native-method",
        ),
        pytest.param(
            "\tat org.libvirt.ErrorHandler.processError(Unknown Source)",
            StackFrame("org.libvirt.ErrorHandler", "processError", None, None, None),
            id="unknown-source",
        ),
        pytest.param(
            "\tat java.base/java.util.concurrent.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:1128)",
            StackFrame(
                "java.util.concurrent.ThreadPoolExecutor",
                "runWorker",
                "ThreadPoolExecutor.java",
                1128,
                "java.base",
            ),
            id="module-prefix",
        ),
        pytest.param(
            "\tat java.base/jdk.internal.reflect.NativeMethodAccessorImpl.invoke0(Native Method)",
            StackFrame(
                "jdk.internal.reflect.NativeMethodAccessorImpl", "invoke0", None, None, "java.base"
            ),
            id="module-native",
        ),
        pytest.param(
            "\tat app//com.cloud.agent.Agent.processRequest(Agent.java:600)",
            StackFrame("com.cloud.agent.Agent", "processRequest", "Agent.java", 600, None),
            id="app-loader-unnamed-module",
        ),
        pytest.param(
            "\tat com.cloud.Foo$$Lambda$123/0x0000000800c0b440.run(Unknown Source)",
            StackFrame("com.cloud.Foo$$Lambda$123/0x0000000800c0b440", "run", None, None, None),
            id="hidden-lambda-class-is-not-a-module",
        ),
        pytest.param(
            "\tat com.cloud.vm.VirtualMachineManagerImpl.<init>(VirtualMachineManagerImpl.java:12) "
            "~[cloud-server-4.20.0.0.jar:4.20.0.0]",
            StackFrame(
                "com.cloud.vm.VirtualMachineManagerImpl",
                "<init>",
                "VirtualMachineManagerImpl.java",
                12,
                None,
            ),
            id="log4j2-jar-suffix",
        ),
        pytest.param(
            "        at com.cloud.Foo$1.run(<generated>)",
            StackFrame("com.cloud.Foo$1", "run", "<generated>", None, None),
            id="generated-eight-spaces",
        ),
    ],
)
def test_parse_traces_frame_forms(line: str, expected: StackFrame) -> None:
    (t,) = parse_traces(lines("java.lang.RuntimeException: x", line))
    assert t.frames == (expected,)


# ------------------------------------------------------------------------ fingerprints


def fp(text: str) -> str:
    (t,) = parse_traces(text)
    return t.fingerprint


IOOBE_OTHER_RUN = (
    AGENT_IOOBE.replace("(agentRequest-Handler-2:null)", "(agentRequest-Handler-4:null)")
    .replace("Index: 2, Size: 1", "Index: 4, Size: 3")
    .replace("2012-03-01 14:02:11,349", "2012-03-02 09:00:00,001")
    .replace(":2364)", ":2370)")
    .replace(":921)", ":930)")
)
IOOBE_JDK7 = AGENT_IOOBE.replace(
    "\tat java.util.ArrayList.add(ArrayList.java:367)",
    "\tat java.util.ArrayList.rangeCheckForAdd(ArrayList.java:665)\n"
    "\tat java.util.ArrayList.add(ArrayList.java:477)",
)
IOOBE_WITH_PROXY = AGENT_IOOBE.replace(
    "\tat com.cloud.agent.Agent.processRequest(Agent.java:539)",
    "\tat sun.reflect.GeneratedMethodAccessor12.invoke(Unknown Source)\n"
    "\tat com.cloud.agent.Agent$$EnhancerByCGLIB$$1a2b3c.processRequest(<generated>)\n"
    "\tat com.cloud.agent.Agent.processRequest(Agent.java:539)",
)
NPE_42_OTHER_ANON = AGENT_NPE_42.replace("LibvirtComputingResource$3", "LibvirtComputingResource$4")
IOOBE_CAUSE = lines(
    "com.cloud.utils.exception.CloudRuntimeException: Failed to start",
    "\tat com.cloud.vm.VirtualMachineManagerImpl.advanceStart(VirtualMachineManagerImpl.java:765)",
    "Caused by: java.lang.IndexOutOfBoundsException: Index: 2, Size: 1",
    "\tat com.cloud.agent.resource.computing.LibvirtComputingResource.createVbd(LibvirtComputingResource.java:2364)",
)
NPE_CAUSE = IOOBE_CAUSE.replace(
    "java.lang.IndexOutOfBoundsException: Index: 2, Size: 1", "java.lang.NullPointerException"
)
NPE_CAUSE_OTHER_FRAME = IOOBE_CAUSE.replace("createVbd", "createVifs")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param(AGENT_IOOBE, IOOBE_OTHER_RUN, id="lines-message-thread-time"),
        pytest.param(AGENT_IOOBE, IOOBE_JDK7, id="jdk-internal-frames-differ"),
        pytest.param(AGENT_IOOBE, IOOBE_WITH_PROXY, id="reflection-and-cglib-proxy-frames"),
        pytest.param(AGENT_NPE_42, NPE_42_OTHER_ANON, id="anonymous-class-number"),
        pytest.param(
            AGENT_NPE_LOG4J2,
            AGENT_NPE_LOG4J2.replace("\tat java.base/", "\tat ").replace(":3120)", ":2331)"),
            id="module-prefix-and-line",
        ),
        pytest.param(
            CGLIB_ZERO_FRAMES,
            CGLIB_ZERO_FRAMES.replace("Resource [Host:3]", "Resource [Host:7]"),
            id="cause-message",
        ),
    ],
)
def test_fingerprint_equal_for_same_failure(a: str, b: str) -> None:
    assert fp(a) == fp(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param(IOOBE_CAUSE, NPE_CAUSE, id="different-root-cause"),
        pytest.param(IOOBE_CAUSE, NPE_CAUSE_OTHER_FRAME, id="different-root-frame"),
        pytest.param(AGENT_NPE, AGENT_NPE_42, id="npe-cleanup-vs-npe-comparator"),
        pytest.param(AGENT_IOOBE, AGENT_NPE, id="different-exception"),
        pytest.param(
            MS_FAILED_START,
            MS_FAILED_START.replace("Commands.getAnswer", "Commands.getAnswers"),
            id="different-top-frame",
        ),
    ],
)
def test_fingerprint_differs_for_different_failure(a: str, b: str) -> None:
    assert fp(a) != fp(b)


@pytest.mark.parametrize(
    ("msg", "expected"),
    [
        pytest.param("Index: 2, Size: 1", "Index: <*>, Size: <*>", id="numbers"),
        pytest.param(
            "Unable to start VM i-2-5-VM on 10.1.1.2:8250",
            "Unable to start VM <*> on <*>",
            id="vm-name-ip-port",
        ),
        pytest.param(
            "volume 2e5b41d8-1f7c-4b0e-a7a4-5d2f3c1e9b6a missing",
            "volume <*> missing",
            id="uuid",
        ),
        pytest.param(
            "result: com.cloud.api.response.ExceptionResponse@6d4c3a1f ctx 0x7f3a",
            "result: com.cloud.api.response.ExceptionResponse@<*> ctx <*>",
            id="hex",
        ),
        pytest.param(
            'Cannot invoke "java.lang.Long.longValue()" because x is null',
            "Cannot invoke <*> because x is null",
            id="quoted",
        ),
        pytest.param("can't find host's pool", "can't find host's pool", id="apostrophes-kept"),
        pytest.param(
            "Unable to get answer that is of class com.cloud.agent.api.StartAnswer",
            "Unable to get answer that is of class com.cloud.agent.api.StartAnswer",
            id="class-names-kept",
        ),
        pytest.param(None, "", id="none"),
    ],
)
def test_message_template(msg: str | None, expected: str) -> None:
    assert message_template(msg) == expected


def test_message_template_groups_messages_of_one_failure() -> None:
    assert message_template("Index: 2, Size: 1") == message_template("Index: 4, Size: 3")


# ---------------------------------------------------------------------------- masking


def occ(
    text: str,
    timestamp: str | None,
    *,
    host: str = "kvm01",
    thread: str | None = "agentRequest-Handler-2",
    seq: str | None = None,
    logid: str | None = None,
    line: int = 1,
    index: int = 0,
) -> TraceOccurrence:
    return TraceOccurrence(
        "agent.log", line, timestamp, host, thread, seq, logid, parse_traces(text)[index]
    )


IOOBE_AT = "2012-03-01T14:02:11.349"
NPE_AT = "2012-03-01T14:02:11.351"
CRE_AT = "2012-03-01T14:02:11.363"
AUE_AT = "2012-03-01T14:02:11.431"


def test_link_masks_canonical_2013_incident() -> None:
    occurrences = [
        occ(AGENT_IOOBE, IOOBE_AT, line=3),
        occ(AGENT_NPE, NPE_AT, line=15),
        occ(AGENT_ANSWER_JSON, "2012-03-01T14:02:11.352", seq="3-1493630987", line=22),
    ]
    links = link_masks(occurrences)
    assert [(x.primary_index, x.masking_index) for x in links] == [(0, 1)]
    assert "agentRequest-Handler-2" in links[0].reason
    assert describe_mask(occurrences[0], occurrences[1]) == (
        "NullPointerException in cleanupVMNetworks masked IndexOutOfBoundsException in createVbd"
    )
    assert describe_mask(occurrences[0].trace, occurrences[1].trace) == describe_mask(
        occurrences[0], occurrences[1]
    )


def test_link_masks_input_order_does_not_matter() -> None:
    occurrences = [occ(AGENT_NPE, NPE_AT), occ(AGENT_IOOBE, IOOBE_AT)]
    assert [(x.primary_index, x.masking_index) for x in link_masks(occurrences)] == [(1, 0)]


@pytest.mark.parametrize(
    ("seq", "logid"),
    [
        pytest.param("3-77", None, id="same-seq"),
        pytest.param(None, "1a2b3c4d", id="same-logid"),
    ],
)
def test_link_masks_other_keys(seq: str | None, logid: str | None) -> None:
    occurrences = [
        occ(AGENT_IOOBE, IOOBE_AT, thread="a-1", seq=seq, logid=logid),
        occ(AGENT_NPE, NPE_AT, thread="b-2", seq=seq, logid=logid),
    ]
    assert [(x.primary_index, x.masking_index) for x in link_masks(occurrences)] == [(0, 1)]


@pytest.mark.parametrize(
    "occurrences",
    [
        pytest.param(
            [occ(AGENT_IOOBE, IOOBE_AT), occ(AGENT_NPE, NPE_AT, thread="agentRequest-Handler-3")],
            id="different-threads",
        ),
        pytest.param(
            [occ(AGENT_IOOBE, IOOBE_AT), occ(AGENT_NPE, "2012-03-01T14:02:13.350")],
            id="too-far-apart",
        ),
        pytest.param(
            [occ(AGENT_IOOBE, IOOBE_AT), occ(AGENT_NPE, NPE_AT, host="kvm02")],
            id="different-hosts",
        ),
        pytest.param(
            [
                occ(MS_FAILED_START, CRE_AT, thread="Job-Executor-4"),
                occ(MS_API_DISPATCHER, AUE_AT, thread="Job-Executor-4"),
            ],
            id="wrapper-with-cause",
        ),
        pytest.param(
            [
                occ(MS_API_DISPATCHER, CRE_AT, thread="Job-Executor-4"),
                occ(MS_FAILED_START, AUE_AT, thread="Job-Executor-4"),
            ],
            id="cause-relogged-after-wrapper",
        ),
        pytest.param(
            [occ(AGENT_NPE, NPE_AT), occ(AGENT_ANSWER_JSON, "2012-03-01T14:02:11.352")],
            id="same-type-relogged",
        ),
        pytest.param(
            [occ(AGENT_IOOBE, None), occ(AGENT_NPE, NPE_AT)],
            id="missing-timestamp",
        ),
        pytest.param(
            [occ(AGENT_IOOBE, IOOBE_AT, thread=None), occ(AGENT_NPE, NPE_AT, thread=None)],
            id="no-shared-key",
        ),
    ],
)
def test_link_masks_negative(occurrences: list[TraceOccurrence]) -> None:
    assert link_masks(occurrences) == []


def test_link_masks_window_is_inclusive_and_configurable() -> None:
    occurrences = [occ(AGENT_IOOBE, IOOBE_AT), occ(AGENT_NPE, NPE_AT)]
    assert link_masks(occurrences, window_ms=2) == [
        MaskLink(0, 1, link_masks(occurrences)[0].reason)
    ]
    assert link_masks(occurrences, window_ms=1) == []


def test_link_masks_handles_100k_occurrences_on_one_thread() -> None:
    # Quadratic pairing would take ~10^10 steps here; the bounded scan is linear after sorting.
    a, b = parse_traces(AGENT_IOOBE)[0], parse_traces(AGENT_NPE)[0]
    occurrences = [
        TraceOccurrence(
            "agent.log",
            i,
            f"2012-03-01T14:{i // 60000 % 60:02d}:{i // 1000 % 60:02d}.{i % 1000:03d}",
            "kvm01",
            "agentRequest-Handler-2",
            None,
            None,
            a if i % 2 == 0 else b,
        )
        for i in range(100_000)
    ]
    links = link_masks(occurrences)
    assert len(links) == 99_999
    assert links[0] == MaskLink(0, 1, links[0].reason)


def test_iter_trace_occurrences_uses_record_context() -> None:
    record = Record(
        source="agent.log",
        host="kvm01",
        role="agent",
        line=40,
        end_line=51,
        timestamp=IOOBE_AT,
        level="WARN",
        logger="resource.computing.LibvirtComputingResource",
        thread="agentRequest-Handler-2",
        ndc="null",
        ctx=(),
        jobs=(),
        logid=None,
        seq=None,
        vms=(),
        message="Exception ",
        text=AGENT_IOOBE,
    )
    (o,) = iter_trace_occurrences([record])
    assert (o.source, o.line, o.host, o.thread, o.timestamp) == (
        "agent.log",
        41,
        "kvm01",
        "agentRequest-Handler-2",
        IOOBE_AT,
    )
    assert o.trace.exception == "java.lang.IndexOutOfBoundsException"


# --------------------------------------------------------------------------- property

TRACE_LINES = st.sampled_from(
    [
        "java.lang.NullPointerException",
        "com.cloud.utils.exception.CloudRuntimeException: boom",
        "\tat com.cloud.Foo.bar(Foo.java:1)",
        "        at java.base/java.util.X.y(Unknown Source)",
        "\tat app//a.B.c(Native Method)",
        "\tat /.x(",
        "\tat .(",
        "\tat a.b/c.d(e)",
        "\t... 3 more",
        "\t... suppressed 2 lines",
        "\tSuppressed: java.lang.IllegalStateException: s",
        "\t\tat a.B.c(B.java:2)",
        "Caused by: java.io.IOException",
        "Caused by:",
        "Caused by: : x",
        "Wrapped by: x.YError: w",
        "Suppressed:",
        "\t…",
        "...",
        "",
        "2012-03-01 14:02:11,351 WARN  [cloud.agent.Agent] (t:null) Caught: java.lang.RuntimeException",
        '"details":"java.lang.NullPointerException\\n\\tat a.B.c(B.java:1)\\n',
        '{"x":"a.BException\\',
        "due to org.libvirt.LibvirtException: internal error",
        "<domain type='kvm'>",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.lists(st.one_of(TRACE_LINES, st.text(max_size=20)), max_size=25).map("\n".join),
    )
)
def test_parse_traces_never_raises(text: str) -> None:
    traces = parse_traces(text)
    n_lines = text.replace("\r\n", "\n").count("\n") + 1
    for t in traces:
        assert isinstance(t, StackTrace)
        assert t.exception
        assert t.root_cause
        assert re.fullmatch(r"[0-9a-f]{16}", t.fingerprint)
        assert 0 <= t.line_offset < n_lines
        frame_lists = [t.frames, *(c.frames for c in t.causes), *(s.frames for s in t.suppressed)]
        for frames in frame_lists:
            for frame in frames:
                assert frame.cls
                assert frame.method
