
"""Build small 2.2-era CloudStack logs (MS + KVM agents) start by start, for correlate/diagnose tests.

Lines follow ``shared/reference/cloudstack-log-formats.md`` §1.7, §2 and §3.4: a failing
start is the full 2.2.14 cascade (agent ``Exception `` IOOBE, ``Caught: `` NPE, generic
``Answer``; MS ``Failed to start instance`` + CloudRuntimeException, job status 2).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

MGMT = 90520732674657
_T0 = datetime(2013, 8, 2, 9, 0, 0)

_IOOBE = """java.lang.IndexOutOfBoundsException: Index: {index}, Size: {size}
\tat java.util.ArrayList.add(ArrayList.java:367)
\tat com.cloud.agent.resource.computing.LibvirtComputingResource.createVbd(LibvirtComputingResource.java:2364)
\tat com.cloud.agent.resource.computing.LibvirtComputingResource.execute(LibvirtComputingResource.java:2294)
\tat com.cloud.agent.resource.computing.LibvirtComputingResource.executeRequest(LibvirtComputingResource.java:921)
\tat com.cloud.agent.Agent.processRequest(Agent.java:539)
\tat com.cloud.agent.Agent$AgentRequestHandler.doTask(Agent.java:849)
\tat com.cloud.utils.nio.Task.run(Task.java:85)"""
_NPE = """java.lang.NullPointerException
\tat com.cloud.agent.resource.computing.LibvirtComputingResource.cleanupVMNetworks(LibvirtComputingResource.java:3266)
\tat com.cloud.agent.resource.computing.LibvirtComputingResource.handleVmStartFailure(LibvirtComputingResource.java:2201)
\tat com.cloud.agent.resource.computing.LibvirtComputingResource.execute(LibvirtComputingResource.java:2318)
\tat com.cloud.agent.resource.computing.LibvirtComputingResource.executeRequest(LibvirtComputingResource.java:921)
\tat com.cloud.agent.Agent.processRequest(Agent.java:539)"""
_CRE = """com.cloud.utils.exception.CloudRuntimeException: Unable to get answer that is of class com.cloud.agent.api.StartAnswer
\tat com.cloud.agent.manager.Commands.getAnswer(Commands.java:81)
\tat com.cloud.vm.VirtualMachineManagerImpl.advanceStart(VirtualMachineManagerImpl.java:765)
\tat com.cloud.vm.VirtualMachineManagerImpl.start(VirtualMachineManagerImpl.java:472)"""

Disks = list[tuple[int, str, int]]  # (volume id, type, device id), array order


def fails_2214(disks: Disks) -> tuple[int, int] | None:
    """``vols.add(devId, disk)`` of 2.2.14: the (index, size) of the first throw, or None."""
    for size, (_, _, dev) in enumerate(disks):
        if dev > size:
            return dev, size
    return None


def _level(lv: str) -> str:
    return lv.ljust(5)


@dataclass
class LogBuilder:
    """Accumulates MS and per-host agent lines; ``write`` lays them out like a bundle."""

    ms_host: str = "ms1"
    hosts: dict[int, str] = field(default_factory=lambda: {3: "kvm01", 4: "kvm02"})
    t: datetime = _T0
    job: int = 100
    seq: int = 1493630000
    ms: list[str] = field(default_factory=list)
    agents: dict[str, list[str]] = field(default_factory=dict)
    handler: int = 1

    # -- clock --------------------------------------------------------------------------
    def tick(self, ms: int = 10) -> str:
        self.t += timedelta(milliseconds=ms)
        return self.t.strftime("%Y-%m-%d %H:%M:%S,") + f"{self.t.microsecond // 1000:03d}"

    def wait(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)

    def _ms(self, level: str, logger: str, thread: str, msg: str, ms: int = 10) -> None:
        self.ms.append(f"{self.tick(ms)} {_level(level)} [{logger}] ({thread}) {msg}")

    def _ag(self, host: str, level: str, logger: str, thread: str, msg: str, ms: int = 5) -> None:
        self.agents.setdefault(host, []).append(
            f"{self.tick(ms)} {_level(level)} [{logger}] ({thread}) {msg}"
        )

    # -- versions -----------------------------------------------------------------------
    def ms_start(self, db: str, code: str) -> None:
        self._ms(
            "INFO",
            "cloud.upgrade.DatabaseUpgradeChecker",
            "main:null",
            f"DB version = {db} Code Version = {code}",
        )
        if db != code:
            self._ms(
                "INFO",
                "cloud.upgrade.DatabaseUpgradeChecker",
                "main:null",
                f"Database upgrade must be performed from {db} to {code}",
            )

    def agent_start(self, host_id: int, version: str) -> None:
        host = self.hosts[host_id]
        self._ag(host, "INFO", "cloud.agent.AgentShell", "main:null", f"Implementation Version is {version}")
        self._ag(
            host,
            "INFO",
            "cloud.agent.Agent",
            "main:null",
            f"Agent [id = {host_id} : type = LibvirtComputingResource : zone = 1 : pod = 1 : "
            "workers = 5 : host = 10.1.1.2 : port = 8250",
        )

    # -- starts -------------------------------------------------------------------------
    def start(
        self,
        vm_id: int,
        disks: Disks,
        *,
        host_id: int = 3,
        fail: bool | None = None,
        agent_debug: bool = True,
        vm_type: str = "User",
    ) -> str:
        """One start via the API. ``fail`` defaults to the 2.2.14 rule; returns the VM name."""
        vm = f"i-2-{vm_id}-VM" if vm_type == "User" else f"r-{vm_id}-VM"
        host = self.hosts[host_id]
        self.job += 1
        self.seq += 1
        job, seq = self.job, f"{host_id}-{self.seq}"
        thread = f"Job-Executor-{job % 7 + 1}:job-{job}"
        hthread = f"agentRequest-Handler-{self.handler % 5 + 1}:null"
        self.handler += 1
        err = fails_2214(disks)
        failing = (err is not None) if fail is None else fail
        if failing and err is None:
            err = (9, 9)
        payload = json.dumps(
            [
                {
                    "StartCommand": {
                        "vm": {
                            "id": vm_id,
                            "name": vm,
                            "type": vm_type,
                            "disks": [
                                {"id": v, "name": f"vol-{v}", "type": t, "deviceId": d} for v, t, d in disks
                            ]
                            + [{"id": vm_id, "type": "ISO", "deviceId": 3}],
                        },
                        "wait": 0,
                    }
                }
            ],
            separators=(",", ":"),
        )
        self._ms(
            "DEBUG",
            "cloud.async.AsyncJobManagerImpl",
            f"Job-Executor-{job % 7 + 1}:job-{job}",
            f"Executing com.cloud.api.commands.StartVMCmd for job-{job}",
        )
        self._ms(
            "DEBUG",
            "cloud.vm.VirtualMachineManagerImpl",
            thread,
            f"Successfully transitioned to start state for VM[{vm_type}|{vm}] reservation id = r-{job}",
        )
        self._ms(
            "DEBUG",
            "agent.transport.Request",
            thread,
            f"Seq {seq}: Sending  {{ Cmd , MgmtId: {MGMT}, via: {host_id}, Ver: v1, Flags: 100111, {payload} }}",
        )
        if agent_debug:
            self._ag(
                host,
                "DEBUG",
                "cloud.agent.Agent",
                hthread,
                f"Request:Seq {seq}:  {{ Cmd , MgmtId: {MGMT}, via: {host_id}, Ver: v1, Flags: 100111, {payload} }}",
            )
        if failing:
            assert err is not None
            self._ag(
                host,
                "WARN",
                "resource.computing.LibvirtComputingResource",
                hthread,
                "Exception \n" + _IOOBE.format(index=err[0], size=err[1]),
            )
            self._ag(host, "WARN", "cloud.agent.Agent", hthread, "Caught: \n" + _NPE, ms=2)
            answer = json.dumps(
                [{"Answer": {"result": False, "details": _NPE[:60] + "\n", "wait": 0}}], separators=(",", ":")
            )
        else:
            answer = json.dumps(
                [{"StartAnswer": {"vm": {"id": vm_id, "name": vm}, "result": True, "wait": 0}}],
                separators=(",", ":"),
            )
        if agent_debug:
            self._ag(
                host,
                "DEBUG",
                "cloud.agent.Agent",
                hthread,
                f"Seq {seq}:  {{ Ans: , MgmtId: {MGMT}, via: {host_id}, Ver: v1, Flags: 110, {answer} }}",
                ms=1,
            )
        self._ms(
            "DEBUG",
            "agent.transport.Request",
            "AgentManager-Handler-3:null",
            f"Seq {seq}: Processing:  {{ Ans: , MgmtId: {MGMT}, via: {host_id}, Ver: v1, Flags: 110, {answer} }}",
        )
        cls = "Answer" if failing else "StartAnswer"
        self._ms(
            "DEBUG",
            "agent.transport.Request",
            thread,
            f"Seq {seq}: Received:  {{ Ans: , MgmtId: {MGMT}, via: {host_id}, Ver: v1, Flags: 110, {{ {cls} }} }}",
            ms=1,
        )
        if failing:
            self._ms(
                "ERROR",
                "cloud.vm.VirtualMachineManagerImpl",
                thread,
                f"Failed to start instance VM[{vm_type}|{vm}]\n" + _CRE,
            )
            self._ms(
                "DEBUG",
                "cloud.capacity.CapacityManagerImpl",
                thread,
                "VM state transitted from :Starting to Stopped with event: OperationFailedvm's original host "
                f"id: null new host id: null host id before state transition: {host_id}",
            )
            self._ms(
                "DEBUG",
                "cloud.async.AsyncJobManagerImpl",
                thread,
                f"Complete async job-{job}, jobStatus: 2, resultCode: 530, result: "
                "com.cloud.api.response.ExceptionResponse@6d4c3a1f",
            )
        else:
            self._ms(
                "DEBUG",
                "cloud.capacity.CapacityManagerImpl",
                thread,
                "VM state transitted from :Starting to Running with event: OperationSucceededvm's original "
                f"host id: {host_id} new host id: {host_id} host id before state transition: {host_id}",
            )
            self._ms(
                "DEBUG",
                "cloud.vm.VirtualMachineManagerImpl",
                thread,
                f"Start completed for VM VM[{vm_type}|{vm}]",
            )
            self._ms(
                "DEBUG",
                "cloud.async.AsyncJobManagerImpl",
                thread,
                f"Complete async job-{job}, jobStatus: 1, resultCode: 0, result: "
                "com.cloud.api.response.UserVmResponse@5a1c0e3d",
            )
        self.wait(30)
        return vm

    def capacity_failure(self, vm_id: int) -> str:
        """A start the planner cannot place: no StartCommand, ``Unable to create a deployment``."""
        vm = f"i-2-{vm_id}-VM"
        self.job += 1
        job = self.job
        thread = f"Job-Executor-{job % 7 + 1}:job-{job}"
        self._ms(
            "DEBUG",
            "cloud.async.AsyncJobManagerImpl",
            thread,
            f"Executing com.cloud.api.commands.StartVMCmd for job-{job}",
        )
        self._ms(
            "DEBUG",
            "cloud.vm.VirtualMachineManagerImpl",
            thread,
            f"Successfully transitioned to start state for VM[User|{vm}] reservation id = r-{job}",
        )
        self._ms(
            "DEBUG",
            "cloud.deploy.FirstFitPlanner",
            thread,
            "Could not find suitable Deployment Destination for this VM under any clusters, returning. ",
        )
        self._ms(
            "DEBUG",
            "cloud.capacity.CapacityManagerImpl",
            thread,
            "VM state transitted from :Starting to Stopped with event: OperationFailedvm's original host id: "
            "null new host id: null host id before state transition: null",
        )
        self._ms(
            "INFO", "cloud.api.ApiDispatcher", thread, f"Unable to create a deployment for VM[User|{vm}]"
        )
        self._ms(
            "DEBUG",
            "cloud.async.AsyncJobManagerImpl",
            thread,
            f"Complete async job-{job}, jobStatus: 2, resultCode: 530, result: "
            "com.cloud.api.response.ExceptionResponse@1a2b3c4d",
        )
        self.wait(30)
        return vm

    # -- output -------------------------------------------------------------------------
    def write(self, root: Path, *, ms: bool = True, agents: bool = True) -> Path:
        """Write ``<root>/<host>/var/log/cloud/{management,agent}/…``; return ``root``."""
        if ms:
            d = root / self.ms_host / "var" / "log" / "cloud" / "management"
            d.mkdir(parents=True, exist_ok=True)
            (d / "management-server.log").write_text("\n".join(self.ms) + "\n")
        if agents:
            for host, lines in self.agents.items():
                d = root / host / "var" / "log" / "cloud" / "agent"
                d.mkdir(parents=True, exist_ok=True)
                (d / "agent.log").write_text("\n".join(lines) + "\n")
        root.mkdir(parents=True, exist_ok=True)
        return root


#: Layouts (array order): good ones pass 2.2.14's createVbd, bad ones do not.
GOOD: list[Disks] = [
    [(5, "ROOT", 0)],
    [(5, "ROOT", 0), (7, "DATADISK", 1)],
    [(5, "ROOT", 0), (7, "DATADISK", 1), (8, "DATADISK", 2)],
]
OUT_OF_ORDER: Disks = [(5, "ROOT", 0), (7, "DATADISK", 2), (8, "DATADISK", 1)]
GAP: Disks = [(5, "ROOT", 0), (9, "DATADISK", 2)]
MANY: Disks = [(5, "ROOT", 0), (7, "DATADISK", 1), (8, "DATADISK", 2), (9, "DATADISK", 4)]


#: A 4.x start the planner retries on a second host, then gives up (ref §3.4 hedge, §4.1).
RETRY_4X = """\
2016-05-10 08:00:10,000 DEBUG [o.a.c.f.j.i.AsyncJobManagerImpl] (Work-Job-Executor-9:ctx-0a1b2c3d job-301/job-302 ctx-4e5f6a7b) (logid:77aa88bb) Run VM work job: com.cloud.vm.VmWorkStart for VM 5, job origin: 301
2016-05-10 08:00:10,100 DEBUG [c.c.v.VirtualMachineManagerImpl] (Work-Job-Executor-9:ctx-0a1b2c3d job-301/job-302 ctx-4e5f6a7b) (logid:77aa88bb) Successfully transitioned to start state for VM[User|i-2-5-VM] reservation id = 8c3f0b2e
2016-05-10 08:00:11,000 DEBUG [c.c.a.t.Request] (Work-Job-Executor-9:ctx-0a1b2c3d job-301/job-302 ctx-4e5f6a7b) (logid:77aa88bb) Seq 3-100: Sending  { Cmd , MgmtId: 1, via: 3(kvm01), Ver: v1, Flags: 100011, [{"com.cloud.agent.api.StartCommand":{"vm":{"id":5,"name":"i-2-5-VM","type":"User","disks":[{"data":{"org.apache.cloudstack.storage.to.VolumeObjectTO":{"volumeType":"ROOT","id":5,"deviceId":0}},"diskSeq":0,"type":"ROOT"},{"data":{"org.apache.cloudstack.storage.to.VolumeObjectTO":{"volumeType":"DATADISK","id":7,"deviceId":2}},"diskSeq":2,"type":"DATADISK"}]},"wait":0}}] }
2016-05-10 08:00:12,400 INFO  [c.c.v.VirtualMachineManagerImpl] (Work-Job-Executor-9:ctx-0a1b2c3d job-301/job-302 ctx-4e5f6a7b) (logid:77aa88bb) Unable to start VM on Host[-3-Routing] due to Index: 2, Size: 1
2016-05-10 08:00:13,000 DEBUG [c.c.a.t.Request] (Work-Job-Executor-9:ctx-0a1b2c3d job-301/job-302 ctx-4e5f6a7b) (logid:77aa88bb) Seq 4-200: Sending  { Cmd , MgmtId: 1, via: 4(kvm02), Ver: v1, Flags: 100011, [{"com.cloud.agent.api.StartCommand":{"vm":{"id":5,"name":"i-2-5-VM","type":"User","disks":[{"data":{"org.apache.cloudstack.storage.to.VolumeObjectTO":{"volumeType":"ROOT","id":5,"deviceId":0}},"diskSeq":0,"type":"ROOT"},{"data":{"org.apache.cloudstack.storage.to.VolumeObjectTO":{"volumeType":"DATADISK","id":7,"deviceId":2}},"diskSeq":2,"type":"DATADISK"}]},"wait":0}}] }
2016-05-10 08:00:14,400 INFO  [c.c.v.VirtualMachineManagerImpl] (Work-Job-Executor-9:ctx-0a1b2c3d job-301/job-302 ctx-4e5f6a7b) (logid:77aa88bb) Unable to start VM on Host[-4-Routing] due to Index: 2, Size: 1
2016-05-10 08:00:14,500 DEBUG [c.c.v.VirtualMachineManagerImpl] (Work-Job-Executor-9:ctx-0a1b2c3d job-301/job-302 ctx-4e5f6a7b) (logid:77aa88bb) VM state transitted from :Starting to Stopped with event: OperationFailedvm's original host id: null new host id: null host id before state transition: 4
2016-05-10 08:00:14,600 DEBUG [o.a.c.f.j.i.AsyncJobManagerImpl] (Work-Job-Executor-9:ctx-0a1b2c3d job-301/job-302 ctx-4e5f6a7b) (logid:77aa88bb) Complete async job-302, jobStatus: FAILED, resultCode: 533, result: org.apache.cloudstack.api.response.ExceptionResponse/null/{"uuidList":[],"errorcode":533,"errortext":"Unable to create a deployment for VM[User|i-2-5-VM]"}
2016-05-10 08:00:14,700 ERROR [c.c.a.ApiAsyncJobDispatcher] (API-Job-Executor-3:ctx-0c1d2e3f job-301) (logid:77aa88bb) Unexpected exception while executing org.apache.cloudstack.api.command.user.vm.StartVMCmd
com.cloud.exception.InsufficientServerCapacityException: Unable to create a deployment for VM[User|i-2-5-VM]Scope=interface com.cloud.dc.DataCenter; id=1
\tat com.cloud.vm.VirtualMachineManagerImpl.orchestrateStart(VirtualMachineManagerImpl.java:1000)
2016-05-10 08:00:14,800 DEBUG [o.a.c.f.j.i.AsyncJobManagerImpl] (API-Job-Executor-3:ctx-0c1d2e3f job-301) (logid:77aa88bb) Complete async job-301, jobStatus: FAILED, resultCode: 533, result: org.apache.cloudstack.api.response.ExceptionResponse/null/{"uuidList":[],"errorcode":533,"errortext":"Unable to create a deployment for VM[User|i-2-5-VM]"}
"""
