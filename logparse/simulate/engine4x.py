"""A CloudStack 4.15 KVM cluster (ref §1.1 4.11-4.19 layouts, §1.3 4.5+ threads, §2.3 4.15 JSON).

MS records: ``%d{ISO8601} %-5p [%c{1.}] (%t:%x) (logid:%X{logcontextid}) %m%n`` with
``qtp…-N:ctx-…``, ``API-Job-Executor-N:ctx-… job-N`` and
``Work-Job-Executor-N:ctx-… job-A/job-B ctx-…``; agent records use ``[%c{3}]`` and carry the
logid of the MS context that sent the command. Sequence numbers are 19 digits (long shift),
and the MS writes ``via: 2(kvm02)`` (4.3+). The agent's stdout no longer goes to agent.log.
"""

from __future__ import annotations

import base64
from typing import Any, NamedTuple

from logparse.simulate.core import from_ms
from logparse.simulate.engine22 import ADMIN_IP, MS_IP, PING_MS, VLAN, Cluster22
from logparse.simulate.lines import (
    FLAGS_AGENT_REQ,
    FLAGS_ANS,
    FLAGS_CMD,
    FLAGS_CONTROL_ANS,
    LEVEL,
    dumps,
    receiver_flags,
    transport,
)
from logparse.simulate.lines4x import (
    CRE,
    ISCE,
    NO_START_ANSWER,
    WORK_TRACE_4X,
    abbrev,
    capacity_trace_4x,
    comparator_npe_trace,
    domain_xml_4x,
    generic_answer_4x,
    humanize,
    start_answer_4x,
    start_command_4x,
    timsort_npe_in_binary_sort,
    vm_to_4x,
)
from logparse.simulate.model import Host, Vm, attach, gib

MSID4 = 32985852150888  # a real 4.2x msid shape (ref §2.2, #13027)

# fully qualified logger names; ms() prints them as %c{1.}
F_JOB = "org.apache.cloudstack.framework.jobs.impl.AsyncJobManagerImpl"
F_MON = "org.apache.cloudstack.framework.jobs.impl.AsyncJobMonitor"
F_VMM = "com.cloud.vm.VirtualMachineManagerImpl"
F_DISPATCH = "com.cloud.vm.VmWorkJobDispatcher"
F_PROXY = "com.cloud.vm.VmWorkJobHandlerProxy"
F_CAP = "com.cloud.capacity.CapacityManagerImpl"
F_PLAN = "com.cloud.deploy.FirstFitPlanner"
F_DPM = "com.cloud.deploy.DeploymentPlanningManagerImpl"
F_VOL = "org.apache.cloudstack.engine.orchestration.VolumeOrchestrator"
F_REQ = "com.cloud.agent.transport.Request"
F_AGM = "com.cloud.agent.manager.AgentManagerImpl"
F_SERVLET = "com.cloud.api.ApiServlet"
F_ACCESS = "apiserver.com.cloud.api.ApiServer"
F_APIDISP = "com.cloud.api.ApiAsyncJobDispatcher"
F_STARTCMD = "org.apache.cloudstack.api.command.user.vm.StartVMCmd"
F_STATS = "com.cloud.server.StatsCollector"
F_UPG = "com.cloud.upgrade.DatabaseUpgradeChecker"
F_CLUSTER = "com.cloud.cluster.ClusterManagerImpl"
# agent loggers, %c{3}
A_AGENT = "cloud.agent.Agent"
A_SHELL = "cloud.agent.AgentShell"
A_WRAPPER = "resource.wrapper.LibvirtStartCommandWrapper"
A_STORAGE = "kvm.storage.LibvirtStorageAdaptor"
A_NIO = "utils.nio.NioClient"

START_CMD = "org.apache.cloudstack.api.command.user.vm.StartVMCmd"
STOP_CMD = "org.apache.cloudstack.api.command.user.vm.StopVMCmd"

# pre-history profiles: ("c", i) create, ("a", i) attach, ("n", i) attach with device_id left NULL
PROFILES_4X: dict[str, tuple[tuple[str, int], ...]] = {
    "root": (),
    "one": (("c", 1), ("a", 1)),
    "two": (("c", 1), ("a", 1), ("c", 2), ("a", 2)),
    "order": (("c", 1), ("c", 2), ("a", 2), ("a", 1)),  # out of device order: fine since 4.0 (sorted)
    "null_one": (("c", 1), ("n", 1)),
    "null_two": (("c", 1), ("a", 1), ("c", 2), ("n", 2)),
    "big": (("c", 1), ("a", 1)),
}
_OS4 = ("CentOS 7", "Ubuntu 20.04 LTS", "Debian GNU/Linux 10 (64-bit)", "Rocky Linux 8")


class WorkJob(NamedTuple):
    """A 4.x VM operation: the API job and its VmWork job, with their threads and NDCs."""

    api_t: str
    api_ndc: str
    job: int
    wt: str
    wndc: str
    wndc2: str
    work: int
    work_vo: str


def profile_mix_4x(n: int) -> list[str]:
    """About 6 VMs in 45 with a NULL device id, one oversized VM, the rest healthy."""
    null_n = max(2, round(n * 6 / 45))
    nulls = ["null_one" if i % 2 == 0 else "null_two" for i in range(null_n)]
    rest = n - null_n - 1
    order = max(1, round(rest * 4 / 38))
    two = max(1, round(rest * 7 / 38))
    one = max(1, round(rest * 12 / 38))
    return (
        nulls
        + ["big"]
        + ["order"] * order
        + ["two"] * two
        + ["one"] * one
        + ["root"] * (rest - order - two - one)
    )


class Cluster4x(Cluster22):
    """The 4.15 variant: same model and planner, 4.x wording, threads, JSON and paths."""

    LOG_ROOT = "var/log/cloudstack"  # ref §1.4: 4.1+ paths
    API_LOG = "apilog.log"
    msid = MSID4
    lg_req = F_REQ
    lg_cap = F_CAP
    lg_plan = F_PLAN
    lg_dest = F_DPM
    lg_vol = F_VOL
    lg_agm = F_AGM
    lg_stats = F_STATS
    conf_dir = "/etc/cloudstack/agent"

    def _setup_era(self) -> None:
        """4.x hosts are larger; the ``big`` VM fits none of them; the Jetty pool gets its name."""
        self.logid = ""
        self._ping_json: dict[int, tuple[tuple[str, ...], str, str]] = {}
        self.qtp = f"qtp{self.rng.randint(10**8, 2 * 10**9)}"
        for h in self.hosts:
            h.ram = max(h.ram, gib(32))
        big = [v for v in self.vms if v.profile == "big"]
        for v in big:  # scaled up beyond any host: "Unable to create a deployment" every time
            v.ram = max(h.ram for h in self.hosts) + gib(16)
            v.cpus, v.speed = 8, 2000

    # -- fleet ------------------------------------------------------------------------
    def _populate(self, n: int) -> None:
        r = self.rng
        profiles = profile_mix_4x(n)
        r.shuffle(profiles)
        vm_id = 3
        pending: list[tuple[Vm, list[tuple[str, int]], dict[int, Any]]] = []
        for i, prof in enumerate(profiles):
            vm_id += r.choice((1, 1, 2))
            ram_mb = r.choice((512, 1024, 1024, 2048, 4096))
            vm = Vm(
                id=vm_id,
                account_id=2,
                name=f"i-2-{vm_id}-VM",
                uuid=self.uuid(),
                cpus=1 if ram_mb <= 1024 else 2,
                speed=500 if ram_mb <= 1024 else 1000,
                ram=ram_mb * 1024 * 1024,
                os=r.choice(_OS4),
                template="",
                ha=r.random() < 0.3,
                vnc_password=f"{r.getrandbits(48):012x}",
                mac=f"02:00:{r.randint(0, 255):02x}:{r.randint(0, 255):02x}:00:{(i + 1) % 256:02x}",
                ip=f"10.1.2.{20 + i}",
                nic_uuid=self.uuid(),
                net_uuid=self.uuid(),
                profile=prof,
            )
            attach(vm, self._new_volume(f"ROOT-{vm_id}", "ROOT", gib(r.choice((8, 20, 50)))), 0)
            self.vms.append(vm)
            if PROFILES_4X[prof]:
                pending.append((vm, list(PROFILES_4X[prof]), {}))
        while pending:
            k = r.randrange(len(pending))
            vm, ops, mine = pending[k]
            op, i = ops.pop(0)
            if op == "c":
                mine[i] = self._new_volume(f"DATA-{vm.id}-{i}", "DATADISK", gib(r.choice((20, 50, 100))))
            else:
                attach(vm, mine[i])
                if op == "n":  # left NULL by the storage clean-up (ref §6 NPE hazards)
                    mine[i].device_id = None
            if not ops:
                pending.pop(k)

    # -- writers ----------------------------------------------------------------------
    def ms(self, level: str, logger: str, thread: str, msg: str, ndc: str = "null", tail: str = "") -> None:
        """One 4.15 MS record with ``%c{1.}`` and ``(logid:…)``."""
        self.msf.write(
            self.now,
            f"{self.stamp()} {LEVEL[level]} [{abbrev(logger)}] ({thread}:{ndc}) "
            f"(logid:{self.logid}) {msg}\n{tail}",
        )

    def ag(self, host: Host, level: str, logger: str, thread: str, msg: str, tail: str = "") -> None:
        """One 4.15 agent record (``[%c{3}]``, NDC ``null``, the command's logid)."""
        self.host_files[host.id].write(
            self.now,
            f"{self.stamp()} {LEVEL[level]} [{logger}] ({thread}:null) (logid:{self.logid}) {msg}\n{tail}",
        )

    def ctx(self, noise: bool = False) -> str:
        """A CallContext NDC token ``ctx-<8 hex>``."""
        rnd = self.nrng if noise else self.rng
        return f"ctx-{rnd.getrandbits(32):08x}"

    def new_logid(self, noise: bool = False) -> str:
        """A fresh 8-hex logid (first block of a UUID; ref §1.2)."""
        rnd = self.nrng if noise else self.rng
        self.logid = f"{rnd.getrandbits(32):08x}"
        return self.logid

    def via(self, h: Host) -> str:
        """``via: 2(kvm02)`` on the MS side (4.3+; ref §2.1)."""
        return f"{h.id}({h.name})"

    def _handler_line(self, thread: str, msg: str) -> None:
        """The AgentManager-Handler runs outside the command's context: empty logid."""
        logid = self.logid
        self.logid = ""
        super()._handler_line(thread, msg)
        self.logid = logid

    def _jobvo(self, job: int, itype: str, iid: str, cmd: str, info: str, created: str) -> str:
        return (
            f"AsyncJobVO {{id:{job}, userId: 2, accountId: 2, instanceType: {itype}, instanceId: {iid}, "
            f"cmd: {cmd}, cmdInfo: {info}, cmdVersion: 0, status: IN_PROGRESS, processStatus: 0, "
            f"resultCode: 0, result: null, initMsid: {MSID4}, completeMsid: null, lastUpdated: null, "
            f"lastPolled: null, created: {created}, removed: null}}"
        )

    def _java_date(self) -> str:
        return from_ms(self.now).strftime("%a %b %d %H:%M:%S UTC %Y")

    def _blob(self, n: int) -> str:
        """A serialized Java object as AsyncJobVO prints it (base64 of ``ObjectOutputStream``)."""
        return "rO0ABXNy" + base64.b64encode(self.rng.getrandbits(8 * n).to_bytes(n, "big")).decode()

    # -- API ----------------------------------------------------------------------------
    def api_call(
        self,
        command: str,
        params: str,
        response: str,
        *,
        async_job: dict[str, Any] | None = None,
        noise: bool = False,
    ) -> int | None:
        """``ApiServlet`` START/END on a Jetty thread, the async-job submit, the apilog line."""
        pick = self.nthread if noise else self.thread
        rnd = self.nrng if noise else self.rng
        thread = f"{self.qtp}-{pick('qtp', 40).split('-')[1]}"
        c1 = self.ctx(noise)
        self.new_logid(noise)
        q = self._query(command, params)
        req = f" {ADMIN_IP} -- GET  {q}"
        self.ms("DEBUG", F_SERVLET, thread, f"===START=== {req}", c1)
        ndc = f"{c1} {self.ctx(noise)}"
        job = None
        if async_job is not None:
            self.now += rnd.randint(3, 30)
            job = self._next_job
            self._next_job += 1
            self._next_event += 1
            info = dumps(
                {
                    "response": "json",
                    "ctxUserId": "2",
                    "httpmethod": "GET",
                    "ctxStartEventId": str(self._next_event),
                    **async_job["info"],
                    "ctxAccountId": "2",
                    "cmdEventType": async_job["event"],
                }
            )
            self.last_jobvo = self._jobvo(
                job, "VirtualMachine", str(async_job["id"]), async_job["cmd"], info, "null"
            )
            self.ms("DEBUG", F_JOB, thread, f"submit async job-{job}, details: {self.last_jobvo}", ndc)
            response = (
                f'{{ "{command.lower()}response" : {{"id":"{async_job["uuid"]}","jobid":"{self.uuid()}"}} }}'
            )
        self.now += rnd.randint(2, 25)
        self.apif.write(
            self.now,
            f"{self.stamp()} {LEVEL['INFO']} [{abbrev(F_ACCESS)}] ({thread}:{ndc}) "
            f"(logid:{self.logid}) (userId=2 accountId=2 sessionId=node0{self._jsession().lower()[:20]}) "
            f"{ADMIN_IP} -- GET {q} 200 {response}\n",
        )
        self.ms("DEBUG", F_SERVLET, thread, f"===END=== {req}", c1)
        return job

    def _job_done(
        self, thread: str, ndc: str, job: int, status: str, code: int, result: str, cmd: str
    ) -> None:
        self.ms(
            "DEBUG",
            F_JOB,
            thread,
            f"Complete async job-{job}, jobStatus: {status}, resultCode: {code}, result: {result}",
            ndc,
        )
        self.step(1, 5)
        self.ms("DEBUG", F_JOB, thread, f"Publish async job-{job} complete on message bus", ndc)
        self.ms("DEBUG", F_JOB, thread, f"Wake up jobs related to job-{job}", ndc)
        self.ms("DEBUG", F_JOB, thread, f"Update db status for job-{job}", ndc)
        self.ms(
            "DEBUG",
            F_JOB,
            thread,
            f"Wake up jobs joined with job-{job} and disjoin all subjobs created from job- {job}",
            ndc,
        )
        self.step(1, 8)
        self.ms("DEBUG", F_JOB, thread, f"Done executing {cmd} for job-{job}", ndc)
        self.ms("INFO", F_MON, thread, f"Remove job-{job} from job monitoring", ndc)

    def _vm_api_job(
        self, command: str, vm: Vm, cmd: str, event: str, info: dict[str, str]
    ) -> tuple[int, str, str]:
        """The API call of a VM operation and its API job picked up: job id, thread and NDC."""
        job = self.api_call(
            command,
            f"id={vm.uuid}",
            "",
            async_job={"id": vm.id, "uuid": vm.uuid, "cmd": cmd, "event": event, "info": info},
        )
        assert job is not None
        api_t, api_ndc = self.thread("API-Job-Executor", 20), f"{self.ctx()} job-{job}"
        self.step(5, 40)
        self.ms("INFO", F_MON, api_t, f"Add job-{job} into job monitoring", api_ndc)
        self.ms("DEBUG", F_JOB, api_t, f"Executing {self.last_jobvo}", api_ndc)
        return job, api_t, api_ndc

    # -- VM start (ref §3.5, §4.1, §4.4) ------------------------------------------------
    def start_vm(
        self, vm: Vm, *, prefer: Host | None = None, ha: tuple[str, int] | None = None
    ) -> dict[str, Any]:
        """``startVirtualMachine``: API job → VmWorkStart work job → StartCommand."""
        if vm.state != "Stopped":
            msg = f"{vm.name} is {vm.state}"
            raise RuntimeError(msg)
        job, api_t, api_ndc = self._vm_api_job(
            "startVirtualMachine", vm, START_CMD, "VM.START", {"id": vm.uuid, "uuid": vm.uuid}
        )
        t_attempt = self.iso()
        work = self._next_job
        self._next_job += 1
        self.step(10, 60)
        self.ms(
            "DEBUG",
            F_JOB,
            api_t,
            f"Sync job-{work} execution on object VmWorkJobQueue.{vm.id}",
            f"{api_ndc} {self.ctx()}",
        )
        wt, wndc = self.thread("Work-Job-Executor", 30), f"{self.ctx()} job-{job}/job-{work}"
        work_vo = self._jobvo(
            work, "null", "null", "com.cloud.vm.VmWorkStart", self._blob(60), self._java_date()
        )
        self.step(20, 200)
        self.ms("INFO", F_MON, wt, f"Add job-{work} into job monitoring", wndc)
        self.ms("DEBUG", F_JOB, wt, f"Executing {work_vo}", wndc)
        self.ms(
            "DEBUG",
            F_DISPATCH,
            wt,
            f"Run VM work job: com.cloud.vm.VmWorkStart for VM {vm.id}, job origin: {job}",
            wndc,
        )
        wndc2 = f"{wndc} {self.ctx()}"
        self.step(2, 10)
        self.ms(
            "DEBUG",
            F_PROXY,
            wt,
            'Execute VM work job: com.cloud.vm.VmWorkStart{"dcId":0,"podId":0,"clusterId":0,"hostId":0,'
            '"rawParams":{"VmPassword":"rO0ABXQADnNhdmVkX3Bhc3N3b3Jk"},"userId":2,"accountId":2,'
            f'"vmId":{vm.id},"handlerName":"VirtualMachineManagerImpl"}}',
            wndc2,
        )
        self.step(10, 40)
        vm.state = "Starting"
        self.ms(
            "DEBUG",
            F_VMM,
            wt,
            f"Successfully transitioned to start state for VM[User|{vm.name}] reservation id = {self.uuid()}",
            wndc2,
        )
        self.transition(wt, wndc2, "Stopped", "Starting", "StartRequested", vm.last_host, None, None)
        self.step(3, 12)
        self.ms("DEBUG", F_VMM, wt, "Trying to deploy VM, vm has dcId: 1 and podId: null", wndc2)
        self.ms("DEBUG", F_VMM, wt, "Deploy avoids pods: null, clusters: null, hosts: null", wndc2)
        self.ms("DEBUG", F_DPM, wt, "DeploymentPlanner allocation algorithm: null", wndc2)
        self.ms(
            "DEBUG",
            F_PLAN,
            wt,
            f"Trying to allocate a host and storage pools from dc:1, pod:null,cluster:null, "
            f"requested cpu: {vm.cpus * vm.speed}, requested ram: {vm.ram}",
            wndc2,
        )
        host = self.plan(vm, prefer)
        self.step(20, 120)
        attempt = self._attempt(vm, job, t_attempt)
        if host is None:
            self._capacity_4x(vm, WorkJob(api_t, api_ndc, job, wt, wndc, wndc2, work, work_vo))
            return attempt
        self._destination(wt, wndc2, vm, host)
        self.step(5, 20)
        self._prepare_volumes(wt, wndc2, vm)
        self.transition(wt, wndc2, "Starting", "Starting", "OperationRetry", vm.last_host, host, None)
        host.used_ram += vm.ram
        seq = host.seq
        host.seq += 1
        vmto = vm_to_4x(vm, self.pool, host, VLAN)
        payload = start_command_4x(vmto, host)
        self.step(20, 80)
        self.send_cmd(host, seq, wt, wndc2, payload, FLAGS_CMD)
        self._attempt_sent(attempt, vm, host, seq)
        ok, answer = self._agent_start_4x(host, vm, seq, payload, vmto)
        name = "StartAnswer" if ok else "Answer"
        hflags = receiver_flags(FLAGS_ANS, answer)
        self.ms_answer(host, seq, wt, wndc2, answer, name, FLAGS_ANS, handler_flags=hflags, gap=(1, 3))
        if ok:
            self.step(10, 60)
            self.transition(wt, wndc2, "Starting", "Running", "OperationSucceeded", host, host, host)
            vm.state, vm.host, vm.last_host = "Running", host, host
            self.ms("DEBUG", F_VMM, wt, f"Start completed for VM VM[User|{vm.name}]", wndc2)
            self.step(5, 20)
            self.ms(
                "DEBUG",
                F_DISPATCH,
                wt,
                f"Done with run of VM work job: com.cloud.vm.VmWorkStart for VM {vm.id}, job origin: {job}",
                wndc,
            )
            self._job_done(wt, wndc, work, "SUCCEEDED", 0, "null", "com.cloud.vm.VmWorkStart")
            self.step(20, 100)
            self._job_done(
                api_t,
                api_ndc,
                job,
                "SUCCEEDED",
                0,
                f'org.apache.cloudstack.api.response.UserVmResponse/virtualmachine/{{"id":"{vm.uuid}",'
                f'"name":"{vm.name}","state":"Running","hostname":"{host.name}"}}',
                START_CMD,
            )
            attempt.update(outcome="succeeded", cause=None)
            return attempt
        host.used_ram -= vm.ram
        self.step(30, 80)
        self.transition(wt, wndc2, "Starting", "Stopped", "OperationFailed", vm.last_host, None, host)
        vm.state = "Stopped"
        attempt["cause"] = "null_device"
        w = WorkJob(api_t, api_ndc, job, wt, wndc, wndc2, work, work_vo)
        self._work_failure(vm.id, w, f"{CRE}: {NO_START_ANSWER}", WORK_TRACE_4X, 530, NO_START_ANSWER)
        return attempt

    def _work_failure(self, vm_id: int, w: WorkJob, exc: str, tail: str, code: int, text: str) -> None:
        """ref §3.5: the exception leaves orchestrateStart through VmWorkJobHandlerProxy."""
        api_t, api_ndc, job, wt, wndc, wndc2, work, work_vo = w
        self.step(1, 5)
        self.ms("ERROR", F_PROXY, wt, f"Invocation exception, caused by: {exc}", wndc2)
        self.ms("INFO", F_PROXY, wt, f"Rethrow exception {exc}", wndc2)
        self.ms(
            "DEBUG",
            F_DISPATCH,
            wt,
            f"Done with run of VM work job: com.cloud.vm.VmWorkStart for VM {vm_id}, job origin: {job}",
            wndc,
        )
        self.ms("ERROR", F_DISPATCH, wt, f"Unable to complete {work_vo}, job origin:{job}", wndc, tail)
        self.step(2, 10)
        self._job_done(wt, wndc, work, "FAILED", 0, self._blob(90), "com.cloud.vm.VmWorkStart")
        self.step(20, 100)
        self.ms("ERROR", F_APIDISP, api_t, f"Unexpected exception while executing {START_CMD}", api_ndc, tail)
        self.step(2, 10)
        self._job_done(
            api_t,
            api_ndc,
            job,
            "FAILED",
            code,
            'org.apache.cloudstack.api.response.ExceptionResponse/null/{"uuidList":[],'
            f'"errorcode":{code},"errortext":"{text}"}}',
            START_CMD,
        )

    def _capacity_4x(self, vm: Vm, w: WorkJob) -> None:
        self._no_destination(w.wt, w.wndc2, vm)
        text = f"Unable to create a deployment for VM[User|{vm.name}]"
        self._work_failure(
            vm.id,
            w,
            f"{ISCE}: {text}Scope=interface com.cloud.dc.DataCenter; id=1",
            capacity_trace_4x(vm.name),
            533,
            text,
        )

    def _agent_start_4x(
        self, host: Host, vm: Vm, seq: int, payload: str, vmto: dict[str, Any]
    ) -> tuple[bool, str]:
        t = self.agent_request(host, seq, payload, "StartCommand", receiver_flags(FLAGS_CMD, payload), (8, 25))
        seqs: list[int | None] = [v.device_id for v in vm.volumes] + [3]
        if any(s is None for s in seqs):
            # ref §3.5: the comparator NPE escapes the wrapper -> only "Caught: ", no "Exception "
            npe = comparator_npe_trace(timsort_npe_in_binary_sort(seqs))
            self.step(5, 20)
            self.ag(host, "WARN", A_AGENT, t, "Caught: ", npe)
            answer = generic_answer_4x(npe)
            self.step(1, 3)
            self.agent_answer(host, seq, t, answer, FLAGS_ANS)
            return False, answer
        for _ in vm.volumes:
            self.step(2, 15)
            self.ag(host, "INFO", A_STORAGE, t, f"Trying to fetch storage pool {self.pool.uuid} from libvirt")
        self.step(100, 400)
        vm.host = host
        xml = domain_xml_4x(vm, self.pool)
        self.ag(
            host,
            "DEBUG",
            A_WRAPPER,
            t,
            f"starting {vm.name}: " + xml.split("\n", 1)[0],
            xml.split("\n", 1)[1],
        )
        self.step(300, 900)
        self._qemu_4x(host, vm)
        answer = start_answer_4x(vmto)
        self.step(100, 400)
        self.agent_answer(host, seq, t, answer, FLAGS_ANS)
        return True, answer

    def qemu_start(self, host: Host, vm: Vm) -> None:
        """libvirt 4.5's qemu log of a boot (ref §1.6, newer form)."""
        saved = vm.host
        vm.host = host
        self._qemu_4x(host, vm)
        vm.host = saved

    def _qemu_4x(self, host: Host, vm: Vm) -> None:
        ts = self.st.qemu(self.now)
        self.qemu(
            host,
            vm,
            f"{ts}: starting up libvirt version: 4.5.0, package: 33.el7 (CentOS BuildSystem "
            "<http://bugs.centos.org>, 2020-04-01-15:43:06, x86-01.bsys.centos.org), qemu version: "
            "2.12.0qemu-kvm-ev-2.12.0-44.1.el7_8.1, kernel: 3.10.0-1160.15.2.el7.x86_64, "
            f"hostname: {host.name}\n",
        )
        drives = " ".join(
            f"-drive file=/mnt/{self.pool.uuid}/{v.uuid},format=qcow2,if=none,"
            f"id=drive-virtio-disk{v.device_id},"
            f"cache=none -device virtio-blk-pci,scsi=off,bus=pci.0,addr=0x{5 + i:x},"
            f"drive=drive-virtio-disk{v.device_id},id=virtio-disk{v.device_id}"
            for i, v in enumerate(sorted(vm.volumes, key=lambda x: x.device_id or 0))
        )
        self.qemu(
            host,
            vm,
            f"LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin QEMU_AUDIO_DRV=none "
            f"/usr/libexec/qemu-kvm -name guest={vm.name},debug-threads=on -S -machine "
            "pc-i440fx-rhel7.6.0,accel=kvm,usb=off,dump-guest-core=off -cpu qemu64 "
            f"-m {vm.ram // 1048576} -realtime mlock=off -smp {vm.cpus},sockets={vm.cpus},cores=1,"
            f"threads=1 -uuid {vm.uuid} -no-user-config -nodefaults -rtc base=utc -no-shutdown "
            f"-boot strict=on {drives} -drive if=none,id=drive-ide0-1-0,readonly=on "
            "-device ide-cd,bus=ide.1,unit=0,drive=drive-ide0-1-0,id=ide0-1-0 "
            f"-netdev tap,fd=26,id=hostnet0,vhost=on,vhostfd=28 -device virtio-net-pci,netdev=hostnet0,"
            f"id=net0,mac={vm.mac},bus=pci.0,addr=0x3 -chardev pty,id=charserial0 -device "
            "isa-serial,chardev=charserial0,id=serial0 -device usb-tablet,id=input0,bus=usb.0,port=1 "
            f"-vnc {host.ip}:{self.rng.randint(0, 40)},password -msg timestamp=on\n",
        )
        self.now += self.rng.randint(30, 120)
        iso = self.st.qemu(self.now)[:-5].replace(" ", "T") + f"{self.rng.randint(0, 999):03d}Z"
        self.qemu(
            host,
            vm,
            f"{iso} qemu-kvm: -chardev pty,id=charserial0: char device redirected to "
            f"/dev/pts/{self.rng.randint(1, 40)} (label charserial0)\n",
        )

    # -- VM stop ------------------------------------------------------------------------
    def stop_vm(self, vm: Vm) -> None:
        """``stopVirtualMachine`` (API job → VmWorkStop → StopCommand)."""
        host = vm.host
        if vm.state != "Running" or host is None:
            msg = f"{vm.name} is not running"
            raise RuntimeError(msg)
        job, api_t, api_ndc = self._vm_api_job("stopVirtualMachine", vm, STOP_CMD, "VM.STOP", {"id": vm.uuid})
        work = self._next_job
        self._next_job += 1
        wt, wndc = self.thread("Work-Job-Executor", 30), f"{self.ctx()} job-{job}/job-{work}"
        self.step(20, 200)
        self.ms(
            "DEBUG",
            F_DISPATCH,
            wt,
            f"Run VM work job: com.cloud.vm.VmWorkStop for VM {vm.id}, job origin: {job}",
            wndc,
        )
        wndc2 = f"{wndc} {self.ctx()}"
        self.transition(wt, wndc2, "Running", "Stopping", "StopRequested", host, host, host)
        seq = host.seq
        host.seq += 1
        cmd = dumps(
            [
                {
                    "com.cloud.agent.api.StopCommand": humanize(
                        {
                            "isProxy": False,
                            "checkBeforeCleanup": False,
                            "forceStop": False,
                            "volumesToDisconnect": [],
                            "vmName": vm.name,
                            "executeInSequence": False,
                            "wait": 0,
                            "bypassHostMaintenance": False,
                        }
                    )
                }
            ]
        )
        self.step(5, 30)
        self.send_cmd(host, seq, wt, wndc2, cmd, FLAGS_CMD)
        t = self.agent_request(host, seq, cmd, "StopCommand", FLAGS_CMD, (5, 20))
        self.step(800, 4000)
        qts = self.st.qemu(self.now)[:-5].replace(" ", "T") + f"{self.rng.randint(0, 999):03d}Z"
        self.qemu(
            host,
            vm,
            f"{qts} qemu-kvm: terminating on signal 15 from pid {self.rng.randint(1500, 4000)} "
            "(<unknown process>)\n",
        )
        self.now += self.rng.randint(5, 60)
        self.qemu(host, vm, f"{self.st.qemu(self.now)}: shutting down, reason=destroyed\n")
        ans = dumps(
            [
                {
                    "com.cloud.agent.api.StopAnswer": humanize(
                        {
                            "platform": "",
                            "result": True,
                            "details": f"Stop VM {vm.name} Succeed",
                            "wait": 0,
                            "bypassHostMaintenance": False,
                        }
                    )
                }
            ]
        )
        self.step(50, 300)
        self.agent_answer(host, seq, t, ans, FLAGS_ANS)
        self.ms_answer(host, seq, wt, wndc2, ans, "StopAnswer", FLAGS_ANS, wait=None)
        self.step(10, 40)
        self.transition(wt, wndc2, "Stopping", "Stopped", "OperationSucceeded", host, None, host)
        vm.state, vm.host = "Stopped", None
        host.used_ram -= vm.ram
        self._job_done(wt, wndc, work, "SUCCEEDED", 0, "null", "com.cloud.vm.VmWorkStop")
        self.step(20, 100)
        self._job_done(
            api_t,
            api_ndc,
            job,
            "SUCCEEDED",
            0,
            f'org.apache.cloudstack.api.response.UserVmResponse/virtualmachine/{{"id":"{vm.uuid}",'
            f'"name":"{vm.name}","state":"Stopped"}}',
            STOP_CMD,
        )

    # -- management server and agents -------------------------------------------------
    def ms_stop(self) -> None:
        """Stop the MS; the agents start their reconnect loop."""
        self.logid = ""
        self.ms("INFO", F_CLUSTER, "Thread-1", f"Stopping Cluster manager, msid : {MSID4}")
        self.ms(
            "INFO", F_AGM, "Thread-1", f"Disconnecting agents: {sum(1 for h in self.hosts if h.connected)}"
        )
        self.ms_up = False
        self.step(1000, 5000)
        for h in self.hosts:
            if h.connected:
                h.connected = False
                h.conn_gen += 1
                self.step(5, 40)
                self.ag(
                    h,
                    "INFO",
                    A_AGENT,
                    self.thread("Agent-Handler", 5),
                    "Lost connection to the server. Dealing with the remaining commands...",
                )
                self.schedule("reconnect", h.id, self.now + 5000, h.conn_gen)

    def ms_start(self, code_version: str) -> bool:
        """Start the MS (ref §5.2 markers in 4.x wording); the waiting agents reconnect."""
        self.logid = ""
        self.ms_version = code_version
        self.event("ms_start", "ms1", code_version)
        self.ms("INFO", F_UPG, "main", "Grabbing lock to check for database upgrade.")
        self.step(20, 200)
        self.ms("INFO", F_UPG, "main", f"DB version = {self.db_version} Code Version = {code_version}")
        self.ms("INFO", F_UPG, "main", "DB version and code version matches so no upgrade needed.")
        self.step(3000, 9000)
        self.ms("INFO", F_CLUSTER, "main", f"Management server {MSID4} is being started")
        self.ms("INFO", F_AGM, "main", "Ping Timeout is 150")
        self.step(5000, 15000)
        self._ms_online()
        return True

    def agent_start(self, h: Host, version: str) -> None:
        """Start cloudstack-agent (version banner; no stdout in agent.log since 4.1)."""
        h.version = h.stamp = version
        h.agent_up = True
        h.aseq = 0
        self.event("agent_restart", h.name, version)
        self.logid = ""
        self._agent_banner(h)
        if self.ms_up:
            self.connect(h, reconnect=False)

    def agent_stop(self, h: Host) -> None:
        """``systemctl stop cloudstack-agent``."""
        self.logid = ""
        self.ag(h, "INFO", A_AGENT, "AgentShutdownThread", "Stopping the agent: Reason = sig.kill")
        if h.connected and self.ms_up:
            self.ag(h, "DEBUG", A_AGENT, "AgentShutdownThread", "Sending shutdown to management server")
            self.step(5, 30)
            mt = self.thread("AgentManager-Handler", 15)
            self.ms(
                "INFO",
                F_AGM,
                mt,
                f"Host {h.id} has informed us that it is shutting down with reason sig.kill and detail null",
            )
            self.ms("INFO", F_AGM, mt, f"Host {h.id} is disconnecting with event ShutdownRequested")
            self.ms(
                "DEBUG",
                F_AGM,
                mt,
                "The next status of agent " + f"{h.id}is Disconnected, current status is Up",
            )
            self.ms("DEBUG", F_AGM, mt, f"Deregistering link for {h.id} with state Disconnected")
        h.agent_up = h.connected = False
        h.conn_gen += 1
        self.step(1000, 1500)

    def connect(self, h: Host, *, reconnect: bool) -> None:
        """Startup exchange, 4.x flavour."""
        self.logid = ""
        t = self.thread("Agent-Handler", 5)
        self.ag(h, "INFO", A_NIO, "Agent-Selector" if not reconnect else t, f"Connecting to {MS_IP}:8250")
        if reconnect:
            self.ag(h, "INFO", A_AGENT, t, "Connected to the server")
        aseq = h.aseq
        h.aseq += 1
        startup = dumps(
            [
                {
                    "com.cloud.agent.api.StartupRoutingCommand": humanize(
                        {
                            "cpus": 16,
                            "speed": 2600,
                            "memory": h.ram,
                            "dom0MinMemory": 1073741824,
                            "poolSync": False,
                            "caps": "hvm,snapshot",
                            "pool": "/root",
                            "hypervisorType": "KVM",
                            "hostDetails": {
                                "Host.OS": "CentOS",
                                "Host.OS.Version": "7.9.2009",
                                "secured": "true",
                            },
                            "hypervisorVersion": "2.12.0",
                            "type": "Routing",
                            "dataCenter": "1",
                            "pod": "1",
                            "cluster": "1",
                            "guid": f"{h.guid}-LibvirtComputingResource",
                            "name": h.name,
                            "id": h.id,
                            "version": h.stamp,
                            "iqn": "NoIqn",
                            "publicIpAddress": h.ip,
                            "privateIpAddress": h.ip,
                            "storageIpAddress": h.ip,
                            "wait": 0,
                            "bypassHostMaintenance": False,
                        }
                    )
                }
            ]
        )
        self.step(20, 200)
        self.ag(
            h,
            "DEBUG",
            A_AGENT,
            t,
            "Sending Startup: " + transport(h.id, aseq, "", "Cmd ", -1, str(h.id), FLAGS_AGENT_REQ, startup),
        )
        self.step(20, 80)
        pt = self.thread("AgentConnectTaskPool", 10)
        self.new_logid()
        pndc = self.ctx()
        for listener in (
            "AgentMonitor",
            "StoragePoolMonitor",
            "ComputeCapacityListener",
            "SecurityGroupListener",
        ):
            self.step(2, 20)
            self.ms("DEBUG", F_AGM, pt, f"Sending Connect to listener: {listener}", pndc)
        ans = dumps(
            [
                {
                    "com.cloud.agent.api.StartupAnswer": humanize(
                        {
                            "hostId": h.id,
                            "hostName": h.name,
                            "pingInterval": PING_MS // 1000,
                            "result": True,
                            "wait": 0,
                            "bypassHostMaintenance": False,
                        }
                    )
                }
            ]
        )
        self.step(20, 200)
        self.ms(
            "DEBUG",
            F_AGM,
            pt,
            f"SeqA {h.id}-{aseq}: Sending "
            + transport(h.id, aseq, "", "Ans: ", MSID4, self.via(h), FLAGS_CONTROL_ANS, ans),
            pndc,
        )
        self.logid = ""
        t2 = self.thread("Agent-Handler", 5)
        self.step(3, 20)
        self.ag(
            h,
            "DEBUG",
            A_AGENT,
            t2,
            "Received response: "
            + transport(h.id, aseq, "", "Ans: ", MSID4, str(h.id), FLAGS_CONTROL_ANS, ans),
        )
        self.ag(h, "INFO", A_AGENT, t2, f"Proccess agent startup answer, agent id = {h.id}")
        self.ag(h, "INFO", A_AGENT, t2, f"Set agent id {h.id}")
        self.ag(h, "INFO", A_AGENT, t2, f"Startup Response Received: agent id = {h.id}")
        h.seq = self.rng.randint(3600, 32766) << 48  # long shift: 19 digits (ref §2.1)
        h.connected = True
        h.conn_gen += 1
        self.schedule("ping", h.id, self.now + self.nrng.randint(5_000, PING_MS), h.conn_gen)

    def place_quietly(self, version: str, running: float) -> None:
        """Initial state; 4.x sequence numbers are 19 digits."""
        super().place_quietly(version, running)
        for h in self.hosts:
            h.seq = self.rng.randint(3600, 32766) << 48

    # -- noise ------------------------------------------------------------------------
    def _ping_payloads(self, h: Host) -> tuple[str, str]:
        """Ping command and answer JSON of ``h``; rebuilt only when its VM set changes."""
        names = tuple(v.name for v in self.vms if v.host is h and v.state == "Running")
        cached = self._ping_json.get(h.id)
        if cached is not None and cached[0] == names:
            return cached[1], cached[2]
        report = {name: {"state": "PowerOn", "host": h.name} for name in names}
        body = humanize(
            {
                "newStates": {},
                "_hostVmStateReport": report,
                "_gatewayAccessible": True,
                "_vnetAccessible": True,
                "hostType": "Routing",
                "hostId": h.id,
                "wait": 0,
                "bypassHostMaintenance": False,
            }
        )
        cmd = dumps([{"com.cloud.agent.api.PingRoutingCommand": body}])
        ans = dumps(
            [
                {
                    "com.cloud.agent.api.PingAnswer": {
                        "_command": body,
                        "result": "true",
                        "wait": "0",
                        "bypassHostMaintenance": "false",
                    }
                }
            ]
        )
        self._ping_json[h.id] = (names, cmd, ans)
        return cmd, ans

    def _noise_ping(self, h: Host) -> None:
        rnd = self.nrng.random
        self.logid = ""
        seq = h.aseq
        h.aseq += 1
        cmd, ans = self._ping_payloads(h)
        self.ag(
            h,
            "DEBUG",
            A_AGENT,
            self.nthread("UgentTask", 5, f"@{h.id}"),
            "Sending ping: " + transport(h.id, seq, "", "Cmd ", -1, str(h.id), FLAGS_AGENT_REQ, cmd),
        )
        self.now += 1 + int(rnd() * 6)
        self.ms("DEBUG", F_AGM, self.nthread("AgentManager-Handler", 15), f"Ping from {self.via(h)}")
        self.now += 1 + int(rnd() * 6)
        self.ag(
            h,
            "DEBUG",
            A_AGENT,
            self.nthread("Agent-Handler", 5),
            "Received response: "
            + transport(h.id, seq, "", "Ans: ", MSID4, str(h.id), FLAGS_CONTROL_ANS, ans),
        )

    def _stats_thread(self, vm_stats: bool) -> tuple[str, str]:
        """A pooled collector thread and a fresh context per round."""
        st = self.nthread("StatsCollector", 4)
        sndc = self.ctx(noise=True)
        self.new_logid(noise=True)
        return st, sndc

    def _stats_payload(self, h: Host, vm_stats: bool) -> tuple[str, str, str, str]:
        """Command, answer and their class names of one stats round trip (draws ``nrng``)."""
        n = self.nrng
        if vm_stats:
            names = [v.name for v in self.vms if v.host is h and v.state == "Running"]
            cmd = dumps(
                [
                    {
                        "com.cloud.agent.api.GetVmStatsCommand": {
                            "vmNames": names,
                            "hostGuid": f"{h.guid}-LibvirtComputingResource",
                            "hostName": h.name,
                            "wait": "0",
                            "bypassHostMaintenance": "false",
                        }
                    }
                ]
            )
            entries = ",".join(
                f'"{name}":{{"vmName":"{name}","cpuUtilization":"{round(n.random() * 40, 2)}",'
                f'"networkReadKBs":"{round(n.random() * 9000, 2)}",'
                f'"networkWriteKBs":"{round(n.random() * 4000, 2)}",'
                f'"diskReadIOs":"{n.randint(0, 90000)}.0","diskWriteIOs":"{n.randint(0, 90000)}.0",'
                f'"diskReadKBs":"{n.randint(0, 900000)}.0","diskWriteKBs":"{n.randint(0, 900000)}.0",'
                f'"numCPUs":"{1 + n.randint(0, 1)}","entityType":"vm"}}'
                for name in names
            )
            ans = (
                '[{"com.cloud.agent.api.GetVmStatsAnswer":{"vmStatsMap":{'
                + entries
                + '},"result":"true","details":"","wait":"0","bypassHostMaintenance":"false"}}]'
            )
            cls, ans_cls = "GetVmStatsCommand", "GetVmStatsAnswer"
        else:
            cmd = dumps(
                [
                    {
                        "com.cloud.agent.api.GetHostStatsCommand": {
                            "hostGuid": f"{h.guid}-LibvirtComputingResource",
                            "hostName": h.name,
                            "hostId": str(h.id),
                            "wait": "0",
                            "bypassHostMaintenance": "false",
                        }
                    }
                ]
            )
            free = max(0, h.ram - h.used_ram) // 1024
            ans = (
                '[{"com.cloud.agent.api.GetHostStatsAnswer":{"hostStats":{'
                f'"hostId":"{h.id}","cpuUtilization":"{round(n.random() * 60, 2)}",'
                f'"networkReadKBs":"{round(n.random() * 90000, 2)}",'
                f'"networkWriteKBs":"{round(n.random() * 40000, 2)}",'
                f'"totalMemoryKBs":"{h.ram // 1024}","freeMemoryKBs":"{free}","entityType":"host"}},'
                '"result":"true","details":"","wait":"0","bypassHostMaintenance":"false"}}]'
            )
            cls, ans_cls = "GetHostStatsCommand", "GetHostStatsAnswer"
        return cmd, ans, cls, ans_cls

    def _ui_calls(self) -> tuple[tuple[str, str, str], ...]:
        """The 4.15 UI's list calls."""
        calls = (
            (
                "listVirtualMachines",
                "listall=true&page=1&pagesize=20",
                f'{{ "listvirtualmachinesresponse" : {{ "count":{len(self.vms)} }} }}',
            ),
            (
                "listHosts",
                "type=Routing&page=1&pagesize=20",
                f'{{ "listhostsresponse" : {{ "count":{len(self.hosts)} }} }}',
            ),
            ("listCapacity", "zoneid=1&fetchlatest=true", '{ "listcapacityresponse" : { "count":8 } }'),
            ("listEvents", "page=1&pagesize=6", '{ "listeventsresponse" : { "count":6 } }'),
        )
        return calls
