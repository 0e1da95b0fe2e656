"""The rebuilt 2.2.14 failure cascade of ref §3.4, as small log files for tests."""

from __future__ import annotations

from pathlib import Path

AGENT = """\
2012-03-01 14:02:11,320 DEBUG [cloud.agent.Agent] (agentRequest-Handler-2:null) Request:Seq 3-1493630987:  { Cmd , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 100111, [{"StartCommand":{"vm":{"id":5,"name":"i-2-5-VM","disks":[{"id":5,"type":"ROOT","deviceId":0},{"id":7,"type":"DATADISK","deviceId":2},{"id":8,"type":"DATADISK","deviceId":1},{"id":5,"type":"ISO","deviceId":3}]},"wait":0}}] }
2012-03-01 14:02:11,321 DEBUG [cloud.agent.Agent] (agentRequest-Handler-2:null) Processing command: com.cloud.agent.api.StartCommand
2012-03-01 14:02:11,349 WARN  [resource.computing.LibvirtComputingResource] (agentRequest-Handler-2:null) Exception 
java.lang.IndexOutOfBoundsException: Index: 2, Size: 1
\tat java.util.ArrayList.add(ArrayList.java:367)
\tat com.cloud.agent.resource.computing.LibvirtComputingResource.createVbd(LibvirtComputingResource.java:2364)
\tat com.cloud.agent.resource.computing.LibvirtComputingResource.execute(LibvirtComputingResource.java:2294)
\tat com.cloud.agent.resource.computing.LibvirtComputingResource.executeRequest(LibvirtComputingResource.java:921)
\tat com.cloud.agent.Agent.processRequest(Agent.java:539)
\tat com.cloud.agent.Agent$AgentRequestHandler.doTask(Agent.java:849)
\tat com.cloud.utils.nio.Task.run(Task.java:85)
\tat java.util.concurrent.ThreadPoolExecutor$Worker.runTask(ThreadPoolExecutor.java:886)
\tat java.util.concurrent.ThreadPoolExecutor$Worker.run(ThreadPoolExecutor.java:908)
\tat java.lang.Thread.run(Thread.java:662)
2012-03-01 14:02:11,351 WARN  [cloud.agent.Agent] (agentRequest-Handler-2:null) Caught: 
java.lang.NullPointerException
\tat com.cloud.agent.resource.computing.LibvirtComputingResource.cleanupVMNetworks(LibvirtComputingResource.java:3266)
\tat com.cloud.agent.resource.computing.LibvirtComputingResource.handleVmStartFailure(LibvirtComputingResource.java:2201)
\tat com.cloud.agent.resource.computing.LibvirtComputingResource.execute(LibvirtComputingResource.java:2318)
\tat com.cloud.agent.resource.computing.LibvirtComputingResource.executeRequest(LibvirtComputingResource.java:921)
\tat com.cloud.agent.Agent.processRequest(Agent.java:539)
2012-03-01 14:02:11,352 DEBUG [cloud.agent.Agent] (agentRequest-Handler-2:null) Seq 3-1493630987:  { Ans: , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 110, [{"Answer":{"result":false,"details":"java.lang.NullPointerException\\n\\tat com.cloud.agent.resource.computing.LibvirtComputingResource.cleanupVMNetworks(LibvirtComputingResource.java:3266)\\n","wait":0}}] }
2012-03-01 14:02:15,000 DEBUG [cloud.agent.Agent] (agentRequest-Handler-3:null) Processing command: com.cloud.agent.api.GetVmStatsCommand
"""

MS = """\
2012-03-01 14:02:11,110 DEBUG [cloud.async.AsyncJobManagerImpl] (Job-Executor-4:job-123) Executing com.cloud.api.commands.StartVMCmd for job-123
2012-03-01 14:02:11,131 DEBUG [cloud.vm.VirtualMachineManagerImpl] (Job-Executor-4:job-123) Successfully transitioned to start state for VM[User|i-2-5-VM] reservation id = 8c3f0b2e-6a41-4c1d-9e2f-0d7a5b1c2e3f
2012-03-01 14:02:11,301 DEBUG [agent.transport.Request] (Job-Executor-4:job-123) Seq 3-1493630987: Sending  { Cmd , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 100111, [{"StartCommand":{"vm":{"id":5,"name":"i-2-5-VM","disks":[{"id":5,"type":"ROOT","deviceId":0},{"id":7,"type":"DATADISK","deviceId":2},{"id":8,"type":"DATADISK","deviceId":1},{"id":5,"type":"ISO","deviceId":3}]},"wait":0}}] }
2012-03-01 14:02:11,360 DEBUG [agent.transport.Request] (AgentManager-Handler-9:null) Seq 3-1493630987: Processing:  { Ans: , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 110, [{"Answer":{"result":false,"details":"java.lang.NullPointerException\\n\\tat com.cloud.agent.resource.computing.LibvirtComputingResource.cleanupVMNetworks(LibvirtComputingResource.java:3266)\\n","wait":0}}] }
2012-03-01 14:02:11,361 DEBUG [agent.transport.Request] (Job-Executor-4:job-123) Seq 3-1493630987: Received:  { Ans: , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 110, { Answer } }
2012-03-01 14:02:11,363 ERROR [cloud.vm.VirtualMachineManagerImpl] (Job-Executor-4:job-123) Failed to start instance VM[User|i-2-5-VM]
com.cloud.utils.exception.CloudRuntimeException: Unable to get answer that is of class com.cloud.agent.api.StartAnswer
\tat com.cloud.agent.manager.Commands.getAnswer(Commands.java:81)
\tat com.cloud.vm.VirtualMachineManagerImpl.advanceStart(VirtualMachineManagerImpl.java:765)
2012-03-01 14:02:11,420 DEBUG [cloud.capacity.CapacityManagerImpl] (Job-Executor-4:job-123) VM state transitted from :Starting to Stopped with event: OperationFailedvm's original host id: null new host id: null host id before state transition: 3
2012-03-01 14:02:11,431 WARN  [cloud.api.ApiDispatcher] (Job-Executor-4:job-123) Exception: 
com.cloud.exception.AgentUnavailableException: Resource [Host:3] is unreachable: Host 3: Unable to start instance
\tat com.cloud.vm.VirtualMachineManagerImpl.advanceStart(VirtualMachineManagerImpl.java:827)
Caused by: com.cloud.utils.exception.CloudRuntimeException: Unable to get answer that is of class com.cloud.agent.api.StartAnswer
\tat com.cloud.agent.manager.Commands.getAnswer(Commands.java:81)
\t... 3 more
2012-03-01 14:02:11,440 DEBUG [cloud.async.AsyncJobManagerImpl] (Job-Executor-4:job-123) Complete async job-123, jobStatus: 2, resultCode: 530, result: com.cloud.api.response.ExceptionResponse@6d4c3a1f
"""


def write_cascade(root: Path) -> Path:
    """Write the cascade as a support-bundle-like tree under ``root``; return ``root``."""
    ms = root / "ms1" / "var" / "log" / "cloud" / "management"
    ag = root / "kvm03" / "var" / "log" / "cloud" / "agent"
    ms.mkdir(parents=True)
    ag.mkdir(parents=True)
    (ms / "management-server.log").write_text(MS)
    (ag / "agent.log").write_text(AGENT)
    return root
