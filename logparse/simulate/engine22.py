"""A CloudStack 2.2 KVM cluster that writes its management-server, agent and qemu logs.

Layouts (ref §1.1, §1.3): ``%d{ISO8601} %-5p [%c{3}] (%t:%x) %m%n`` for the MS and the agent,
empty NDC printed as ``null``; ``Job-Executor-N:job-N``, ``catalina-exec-N:null``,
``AgentManager-Handler-N:null``, ``HA-Worker-N:work-N`` on the MS; ``agentRequest-Handler-N``
on the agent. In 2.2 the agent's stdout goes to agent.log too (ref §1.5): every INFO+ line
appears a second time as the console copy (``{GMT}``, empty NDC ``:)``), and the runner writes
raw lines such as ``Agent started.  PID: 4242``.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from logparse.simulate.core import DAY_MS, HOUR_MS, MIN_MS, Bundle, from_ms
from logparse.simulate.lines import (
    FLAGS_AGENT_REQ,
    FLAGS_ANS,
    FLAGS_ANS_SEQ,
    FLAGS_CMD,
    FLAGS_CONTROL_ANS,
    FLAGS_START_22,
    LEVEL,
    NPE_TRACE_22,
    agent_unavailable_trace_22,
    dev_label_22,
    domain_xml_22,
    dumps,
    generic_answer,
    ioobe_trace_22,
    ms_start_failure_trace_22,
    no_upgrade_path_trace_22,
    qemu_command_line,
    receiver_flags,
    start_answer_22,
    start_command_22,
    transport,
    vm_to_22,
)
from logparse.simulate.model import (
    Host,
    Pool,
    Vm,
    Volume,
    arraylist_add_failure,
    attach,
    detach,
    disk_cause,
    gib,
)
from logparse.simulate.sim import RunOptions, Simulator

MSID = 90520732674657  # ref §1.7
MS_NAME = "ms1"
MS_IP = "10.1.1.2"
ADMIN_IP = "10.1.10.23"
VLAN = 1024
UNIX_OFFSET_MS = 946_684_800_000  # 2000-01-01 in Unix milliseconds (the servers run in UTC)
STAMPS = {"2.2.13": "2.2.13.20111117191758", "2.2.14": "2.2.14.20120210102939"}

# %c{3} logger names (ref §1.1)
L_JOB = "cloud.async.AsyncJobManagerImpl"
L_VMM = "cloud.vm.VirtualMachineManagerImpl"
L_PLAN = "cloud.deploy.FirstFitPlanner"
L_STOR = "cloud.storage.StorageManagerImpl"
L_REQ = "agent.transport.Request"
L_CAP = "cloud.capacity.CapacityManagerImpl"
L_DISP = "cloud.api.ApiDispatcher"
L_HA = "cloud.ha.HighAvailabilityManagerImpl"
L_AGM = "agent.manager.AgentManagerImpl"
L_MON = "agent.manager.AgentMonitor"
L_UPG = "cloud.upgrade.DatabaseUpgradeChecker"
L_SERVLET = "cloud.api.ApiServlet"
L_ACCESS = "cloud.api.ApiServer"  # "apiserver.com.cloud.api.ApiServer" cut to 3 segments
L_STATS = "cloud.server.StatsCollector"
L_CLUSTER = "cloud.cluster.ClusterManagerImpl"
L_STARTUP = "cloud.servlet.CloudStartupServlet"
L_AGENT = "cloud.agent.Agent"
L_SHELL = "cloud.agent.AgentShell"
L_LIBVIRT = "resource.computing.LibvirtComputingResource"
L_NIO = "utils.nio.NioClient"

PING_MS = 60_000  # AgentManager ping.interval default 60 s
# vm.stats.interval / host.stats.interval: 60 s by default, raised to 30 min on this cluster
# (the stats answers are the least compressible noise; --size multiplies the density anyway)
STATS_MS = 1_800_000
UI_MS = 240_000  # an admin's browser tab polling the UI

_OS = (
    ("CentOS 5.5 (64-bit)", "CentOS 5.5(64-bit) no GUI (KVM)"),
    ("CentOS 6.2 (64-bit)", "CentOS 6.2 x86_64 base (KVM)"),
    ("Ubuntu 10.04 (64-bit)", "Ubuntu 10.04 LTS server (KVM)"),
    ("Debian GNU/Linux 6(64-bit)", "Debian 6.0 squeeze (KVM)"),
)
_RAM = ((512, 5), (1024, 6), (2048, 4), (4096, 2))

# Pre-history profiles: each is a list of ops on the VM's own data volumes d1, d2, …
# ("c", i) create, ("a", i) attach (lowest free device id), ("d", i) detach (ref §6).
PROFILES: dict[str, tuple[tuple[str, int], ...]] = {
    "root": (),
    "one": (("c", 1), ("a", 1)),
    "two": (("c", 1), ("a", 1), ("c", 2), ("a", 2)),
    "order": (("c", 1), ("c", 2), ("a", 2), ("a", 1)),  # ids 0,2,1 (ref §6 example)
    "gap": (("c", 1), ("a", 1), ("c", 2), ("a", 2), ("d", 1)),  # ids 0,2
    "many": (("c", 1), ("a", 1), ("c", 2), ("a", 2), ("c", 3), ("a", 3)),  # 0,1,2,4
    "many_order": (("c", 1), ("c", 2), ("c", 3), ("a", 3), ("a", 1), ("a", 2)),  # 0,2,4,1
}


def profile_mix(n: int) -> list[str]:
    """Profiles for ``n`` VMs: about 8 in 45 with a layout 2.2.14 cannot start."""
    bad_n = max(4, round(n * 8 / 45))
    bad_cycle = ("order", "gap", "many", "order", "many_order", "gap", "many", "order")
    bad = [bad_cycle[i % len(bad_cycle)] for i in range(bad_n)]
    good_n = n - bad_n
    two = max(1, round(good_n * 8 / 37))
    one = max(1, round(good_n * 14 / 37))
    root = good_n - two - one
    return bad + ["two"] * two + ["one"] * one + ["root"] * root


class Cluster22(Simulator):
    """One zone, one pod, one cluster of KVM hosts, one NFS pool, one management server.

    The class attributes below are what differs between the eras in the code both share:
    log paths, the MS id and the logger names of the lines written by the common helpers.
    """

    LOG_ROOT = "var/log/cloud"  # ref §1.4: 2.2.x paths
    API_LOG = "api-server.log"
    msid = MSID
    lg_req = L_REQ
    lg_cap = L_CAP
    lg_plan = L_PLAN
    lg_dest = L_PLAN  # "Returning Deployment Destination"
    lg_vol = L_STOR  # "Checking if we need to prepare … volumes"
    lg_agm = L_AGM
    lg_stats = L_STATS
    conf_dir = "/etc/cloud/agent"

    def __init__(
        self, bundle: Bundle, opts: RunOptions, *, start: int, end: int, version: str, log_root: str | None = None
    ) -> None:
        super().__init__(bundle, opts, start=start, end=end)
        r = self.rng
        hosts = opts.hosts
        log_root = log_root or self.LOG_ROOT
        self.log_root = log_root
        self.msf = bundle.file(f"{MS_NAME}/{log_root}/management/management-server.log")
        self.apif = bundle.file(f"{MS_NAME}/{log_root}/management/{self.API_LOG}")
        self.ms_version = version
        self.db_version = version
        self.ms_up = False
        self.ms_gen = 0
        self.pool = Pool(200, self.uuid(), "primary", "10.1.1.5", "/export/primary")
        self.hosts: list[Host] = []
        for i in range(hosts):
            hid = i + 1
            guid = self.uuid()
            self.hosts.append(
                Host(
                    name=f"kvm{hid:02d}",
                    id=hid,
                    ip=f"10.1.1.{10 + hid}",
                    guid=guid,
                    uuid=guid,
                    ram=0,
                    cpu_mhz=8 * 2400,
                )
            )
        self.host_files = {h.id: bundle.file(f"{h.name}/{log_root}/agent/agent.log") for h in self.hosts}
        self.vms: list[Vm] = []
        self.volumes: list[Volume] = []
        self.spares: list[Volume] = []
        self._next_job = r.randint(1100, 1900)
        self._next_event = r.randint(4000, 6000)
        self._next_work = r.randint(20, 60)
        self._next_vol = 3
        self._tc: dict[str, int] = {}
        self._ntc: dict[str, int] = {}
        self._ping_tpl: dict[int, tuple[str, ...]] = {}
        self._pc = 0
        self._session = self._sessionkey()
        self._populate(opts.vms)
        self.vms_by_id = {v.id: v for v in self.vms}
        total_ram = sum(v.ram for v in self.vms)
        per_host = -(-int(total_ram * 1.35 / max(1, hosts)) // gib(4)) * gib(4)
        for h in self.hosts:
            h.ram = max(gib(16), per_host)
        self._setup_era()

    def _setup_era(self) -> None:
        """What a later era adds once the fleet exists (nothing in 2.2)."""

    # -- identifiers --------------------------------------------------------------------
    def uuid(self) -> str:
        """A random (seeded) version-4 UUID string."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hexid(self, n: int = 8) -> str:
        """``n`` random lowercase hex digits (object hash codes in ``toString``)."""
        return f"{self.rng.getrandbits(4 * n):0{n}x}".lstrip("0") or "1"

    def _sessionkey(self) -> str:
        raw = base64.b64encode(self.rng.getrandbits(160).to_bytes(20, "big")).decode()
        return raw.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")

    def thread(self, pool: str, n: int, key: str = "") -> str:
        """Round-robin thread of a pool for the action stream (``Job-Executor-4``).

        ``key`` keeps separate counters for pools that exist once per process (per agent).
        """
        slot = pool + key
        k = self._tc.get(slot, self.rng.randint(0, n - 1)) % n + 1
        self._tc[slot] = k
        return f"{pool}-{k}"

    def nthread(self, pool: str, n: int, key: str = "") -> str:
        """Round-robin thread of a pool for the noise stream."""
        slot = pool + key
        k = self._ntc.get(slot, 0) % n + 1
        self._ntc[slot] = k
        return f"{pool}-{k}"

    def agent_thread(self, h: Host) -> str:
        """``agentRequest-Handler-N`` of host ``h`` (5 workers; ref §1.3)."""
        return self.thread("agentRequest-Handler", 5, f"@{h.id}")

    # -- fleet (pre-history, not logged) ------------------------------------------------
    def _new_volume(self, name: str, vtype: str, size: int) -> Volume:
        vol = Volume(self._next_vol, self.uuid(), name, vtype, size)
        self._next_vol += self.rng.choice((1, 1, 1, 1, 2))  # system VM volumes take ids too
        self.volumes.append(vol)
        return vol

    def _populate(self, n: int) -> None:
        r = self.rng
        profiles = profile_mix(n)
        r.shuffle(profiles)
        vm_id = 3
        pending: list[tuple[Vm, list[tuple[str, int]], dict[int, Volume]]] = []
        for i, prof in enumerate(profiles):
            vm_id += r.choice((1, 1, 1, 2))  # routers and destroyed VMs use ids too
            account = 2 if i % 3 else r.choice((3, 4))
            os_name, template = r.choice(_OS)
            ram_mb = r.choices([m for m, _ in _RAM], [w for _, w in _RAM])[0]
            if prof.startswith("many"):
                ram_mb = max(ram_mb, 2048)
            mac = f"02:00:{r.randint(0, 255):02x}:{r.randint(0, 255):02x}:00:{(i + 1) % 256:02x}"
            vm = Vm(
                id=vm_id,
                account_id=account,
                name=f"i-{account}-{vm_id}-VM",
                uuid=self.uuid(),
                cpus=1 if ram_mb <= 1024 else 2,
                speed=500 if ram_mb <= 1024 else 1000,
                ram=ram_mb * 1024 * 1024,
                os=os_name,
                template=template,
                ha=r.random() < 0.3,
                vnc_password=f"{r.getrandbits(64):016x}",
                mac=mac,
                ip=f"10.1.2.{20 + i}",
                profile=prof,
            )
            root = self._new_volume(f"ROOT-{vm_id}", "ROOT", gib(r.choice((8, 10, 20))))
            attach(vm, root, 0)
            self.vms.append(vm)
            if PROFILES[prof]:
                pending.append((vm, list(PROFILES[prof]), {}))
        # interleave the data-volume histories: volume ids follow global creation order
        while pending:
            k = r.randrange(len(pending))
            vm, ops, mine = pending[k]
            op, i = ops.pop(0)
            if op == "c":
                mine[i] = self._new_volume(f"DATA-{vm.id}-{i}", "DATADISK", gib(r.choice((10, 20, 50, 100))))
            elif op == "a":
                attach(vm, mine[i])
            else:
                detach(vm, mine[i])
                self.spares.append(mine[i])
            if not ops:
                pending.pop(k)
            if r.random() < 0.06:  # an unattached volume someone created and kept
                self.spares.append(self._new_volume(f"spare-{len(self.spares) + 1}", "DATADISK", gib(20)))
        while sum(1 for v in self.spares if v.name.startswith("spare-")) < 2:
            self.spares.append(self._new_volume(f"spare-{len(self.spares) + 1}", "DATADISK", gib(20)))

    # -- raw writers --------------------------------------------------------------------
    def ms(self, level: str, logger: str, thread: str, msg: str, ndc: str = "null", tail: str = "") -> None:
        """One MS record (``tail``: continuation lines such as a stack trace)."""
        self.msf.write(self.now, f"{self.stamp()} {LEVEL[level]} [{logger}] ({thread}:{ndc}) {msg}\n{tail}")

    def stamp(self) -> str:
        """log4j timestamp of the current time."""
        return self.st.log(self.now)

    def ag(self, host: Host, level: str, logger: str, thread: str, msg: str, tail: str = "") -> None:
        """One agent record; INFO and above also get the ``{GMT}`` console copy (ref §1.5)."""
        ts = self.stamp()
        text = f"{ts} {LEVEL[level]} [{logger}] ({thread}:null) {msg}\n{tail}"
        if level != "DEBUG":
            text += f"{ts}{{GMT}} {LEVEL[level]} [{logger}] ({thread}:) {msg}\n{tail}"
        self.host_files[host.id].write(self.now, text)

    def raw(self, host: Host, text: str) -> None:
        """A raw stdout line of the agent runner (no log4j prefix; ref §1.5)."""
        self.host_files[host.id].write(self.now, text + "\n")

    def qemu(self, host: Host, vm: Vm, text: str) -> None:
        """A libvirt qemu log line (ref §1.6)."""
        f = self.b.file(f"{host.name}/var/log/libvirt/qemu/{vm.name}.log", rotate=False)
        f.write(self.now, text)

    def transition(
        self,
        thread: str,
        ndc: str,
        old: str,
        new: str,
        event: str,
        orig: Host | None,
        newh: Host | None,
        before: Host | None,
    ) -> None:
        """CapacityManagerImpl state-transition line, ``transitted from :`` wording (≤ 4.15; ref §4.2)."""

        def hid(h: Host | None) -> str:
            return "null" if h is None else str(h.id)

        self.ms(
            "DEBUG",
            self.lg_cap,
            thread,
            f"VM state transitted from :{old} to {new} with event: {event}vm's original host id: "
            f"{hid(orig)} new host id: {hid(newh)} host id before state transition: {hid(before)}",
            ndc,
        )

    # -- command round trips (both eras; ``msid``, ``via`` and the loggers are per era) ------
    def via(self, h: Host) -> str:
        """``via:`` of a transport line on the MS side: the host id (4.3+ adds the name)."""
        return str(h.id)

    def _wait(self, lo: int, hi: int, noise: bool) -> None:
        """``step`` on the action stream, or the same on the noise stream."""
        self.now += (self.nrng if noise else self.rng).randint(lo, hi)

    def send_cmd(self, h: Host, seq: int, thread: str, ndc: str, cmd: str, flags: int) -> None:
        """The MS's ``Seq H-S: Sending { Cmd … }``."""
        msg = transport(h.id, seq, "Sending ", "Cmd ", self.msid, self.via(h), flags, cmd)
        self.ms("DEBUG", self.lg_req, thread, msg, ndc)

    def agent_request(
        self,
        h: Host,
        seq: int,
        cmd: str,
        cls: str,
        flags: int,
        wait: tuple[int, int],
        *,
        gap: tuple[int, int] | None = None,
        noise: bool = False,
    ) -> str:
        """The agent's ``Request:`` and ``Processing command:`` lines; returns its worker thread."""
        t = self.nthread("agentRequest-Handler", 5, f"@{h.id}") if noise else self.agent_thread(h)
        self._wait(*wait, noise)
        self.ag(
            h, "DEBUG", L_AGENT, t, "Request:" + transport(h.id, seq, "", "Cmd ", self.msid, str(h.id), flags, cmd)
        )
        if gap is not None:
            self.step(*gap)
        self.ag(h, "DEBUG", L_AGENT, t, f"Processing command: com.cloud.agent.api.{cls}")
        return t

    def agent_answer(self, h: Host, seq: int, t: str, ans: str, flags: int) -> None:
        """The agent's ``Seq H-S:  { Ans: … }`` line."""
        self.ag(h, "DEBUG", L_AGENT, t, transport(h.id, seq, "", "Ans: ", self.msid, str(h.id), flags, ans))

    def ms_answer(
        self,
        h: Host,
        seq: int,
        thread: str,
        ndc: str,
        ans: str,
        name: str,
        flags: int,
        *,
        handler_flags: int | None = None,
        wait: tuple[int, int] | None = (3, 12),
        gap: tuple[int, int] | None = None,
        noise: bool = False,
    ) -> None:
        """The answer on the MS: ``Processing:`` on an AgentManager-Handler, ``Received:`` on ``thread``."""
        if wait is not None:
            self._wait(*wait, noise)
        ht = self.nthread("AgentManager-Handler", 15) if noise else self.thread("AgentManager-Handler", 15)
        hflags = flags if handler_flags is None else handler_flags
        self._handler_line(
            ht, transport(h.id, seq, "Processing: ", "Ans: ", self.msid, self.via(h), hflags, ans)
        )
        if gap is not None:
            self.step(*gap)
        self.ms(
            "DEBUG",
            self.lg_req,
            thread,
            transport(h.id, seq, "Received: ", "Ans: ", self.msid, self.via(h), flags, f"{{ {name} }}"),
            ndc,
        )

    def _handler_line(self, thread: str, msg: str) -> None:
        self.ms("DEBUG", self.lg_req, thread, msg)

    # -- API ------------------------------------------------------------------------------
    def _query(self, command: str, params: str) -> str:
        return f"command={command}&{params}&response=json&sessionkey={self._session}&_={self.epoch_ms()}"

    def epoch_ms(self) -> int:
        """Unix epoch milliseconds of the current time (the UI's cache-buster ``_=``)."""
        return self.now + UNIX_OFFSET_MS

    def api_call(
        self,
        command: str,
        params: str,
        response: str,
        *,
        async_job: dict[str, Any] | None = None,
        noise: bool = False,
    ) -> int | None:
        """``ApiServlet`` ``===START===`` / ``===END===`` around a call, plus the access log."""
        thread = self.nthread("catalina-exec", 25) if noise else self.thread("catalina-exec", 25)
        rnd = self.nrng if noise else self.rng
        q = self._query(command, params)
        req = f" {ADMIN_IP} -- GET  {q}"
        self.ms("DEBUG", L_SERVLET, thread, f"===START=== {req}")
        job = None
        if async_job is not None:
            self.now += rnd.randint(3, 30)
            job = self._next_job
            self._next_job += 1
            self._next_event += 1
            info = dumps(
                {
                    "response": "json",
                    **async_job["info"],
                    "ctxUserId": "2",
                    "ctxAccountId": "2",
                    "ctxStartEventId": str(self._next_event),
                }
            )
            self.ms(
                "DEBUG",
                L_JOB,
                thread,
                f"submit async job-{job}, details: AsyncJobVO {{id:{job}, userId: 2, accountId: 2, "
                f"sessionKey: null, instanceType: {async_job['type']}, instanceId: {async_job['id']}, "
                f"cmd: com.cloud.api.commands.{async_job['cmd']}, cmdOriginator: null, cmdInfo: {info}, "
                "cmdVersion: 0, callbackType: 0, callbackAddress: null, status: 0, processStatus: 0, "
                f"resultCode: 0, result: null, initMsid: {MSID}, completeMsid: null, lastUpdated: null, "
                "lastPolled: null, created: null}",
            )
            response = f'{{ "{command.lower()}response" : {{"jobid":{job}}} }}'
        self.now += rnd.randint(2, 25)
        self.apif.write(
            self.now,
            f"{self.stamp()} {LEVEL['INFO']} [{L_ACCESS}] ({thread}:null) "
            f"(userId=2 accountId=2 sessionId={self._jsession()}) {ADMIN_IP} -- GET "
            f"{q} 200 {response}\n",
        )
        self.ms("DEBUG", L_SERVLET, thread, f"===END=== {req}")
        return job

    def _jsession(self) -> str:
        day = self.now // DAY_MS
        return f"{(day * 2654435761 + self.seed) % (1 << 64):016X}{day % 65521:016X}"

    def poll_job(self, job: int, status: int) -> None:
        """The UI polling ``queryAsyncJobResult`` for ``job``."""
        self.api_call(
            "queryAsyncJobResult",
            f"jobId={job}",
            f'{{ "queryasyncjobresultresponse" : {{"jobid":{job},"jobstatus":{status}}} }}',
        )

    def complete(self, thread: str, job: int, status: int, code: int, result: str) -> None:
        """``Complete async job-N, jobStatus: S, resultCode: C, result: …`` (ref §4.4, 2.2)."""
        self.ms(
            "DEBUG",
            L_JOB,
            thread,
            f"Complete async job-{job}, jobStatus: {status}, resultCode: {code}, "
            f"result: {result}@{self.hexid()}",
            f"job-{job}",
        )

    # -- VM start (ref §1.7, §3.4, §4.1) ------------------------------------------------
    def usable(self, h: Host) -> bool:
        """Is the host a deployment target (machine, agent and connection up)?"""
        return h.machine_up and h.agent_up and h.connected and not h.reinstalled

    def plan(self, vm: Vm, prefer: Host | None) -> Host | None:
        """FirstFitPlanner: last (or preferred) host if it fits, else the emptiest host."""
        fits = [h for h in self.hosts if self.usable(h) and h.ram - h.used_ram >= vm.ram]
        if not fits:
            return None
        for cand in (prefer, vm.last_host):
            if cand is not None and cand in fits:
                return cand
        return max(fits, key=lambda h: (h.ram - h.used_ram, -h.id))

    def start_vm(
        self, vm: Vm, *, prefer: Host | None = None, ha: tuple[str, int] | None = None
    ) -> dict[str, Any]:
        """Start ``vm`` through the API, or as HA work ``ha = (worker thread, work id)``.

        Returns the ground-truth start attempt (also appended to ``self.attempts``).
        """
        if vm.state != "Stopped":
            msg = f"{vm.name} is {vm.state}"
            raise RuntimeError(msg)
        job: int | None = None
        if ha is None:
            job = self.api_call(
                "startVirtualMachine",
                f"id={vm.id}",
                "",
                async_job={
                    "type": "VirtualMachine",
                    "id": vm.id,
                    "cmd": "StartVMCmd",
                    "info": {"id": str(vm.id)},
                },
            )
            assert job is not None
            thread, ndc = self.thread("Job-Executor", 10), f"job-{job}"
            self.step(5, 40)
            self.ms("DEBUG", L_JOB, thread, f"Executing com.cloud.api.commands.StartVMCmd for job-{job}", ndc)
        else:
            thread, ndc = ha[0], f"work-{ha[1]}"
        t_attempt = self.iso()
        self.step(10, 30)
        vm.state = "Starting"
        self.ms(
            "DEBUG",
            L_VMM,
            thread,
            f"Successfully transitioned to start state for VM[User|{vm.name}] reservation id = {self.uuid()}",
            ndc,
        )
        self.step(2, 8)
        self.transition(thread, ndc, "Stopped", "Starting", "StartRequested", vm.last_host, None, None)
        self.step(3, 12)
        self.ms("DEBUG", L_VMM, thread, "Trying to deploy VM, vm has dcId: 1 and podId: 1", ndc)
        self.ms("DEBUG", L_VMM, thread, "Deploy avoids pods: null, clusters: null, hosts: null", ndc)
        self.step(5, 15)
        self.ms("DEBUG", L_PLAN, thread, "In FirstFitPlanner:: plan", ndc)
        self.ms(
            "DEBUG",
            L_PLAN,
            thread,
            f"Trying to allocate a host and storage pools from dc:1, pod:1,cluster:null, "
            f"requested cpu: {vm.cpus * vm.speed}, requested ram: {vm.ram}",
            ndc,
        )
        host = self.plan(vm, prefer)
        self.step(10, 60)
        attempt = self._attempt(vm, job, t_attempt)
        if host is None:
            self._capacity_failure(vm, thread, ndc, job)
            return attempt
        self.ms("DEBUG", L_PLAN, thread, "Is ROOT volume READY (pool already allocated)?: Yes", ndc)
        self._destination(thread, ndc, vm, host)
        self.ms("DEBUG", L_VMM, thread, "VM is being started in podId: 1", ndc)
        self.step(5, 20)
        self._prepare_volumes(thread, ndc, vm)
        self.step(5, 20)
        self.transition(thread, ndc, "Starting", "Starting", "OperationRetry", vm.last_host, host, None)
        host.used_ram += vm.ram
        seq = host.seq
        host.seq += 1
        vmto = vm_to_22(vm, self.pool, VLAN)
        payload = start_command_22(vmto)
        self.step(20, 80)
        self.send_cmd(host, seq, thread, ndc, payload, FLAGS_START_22)
        self._attempt_sent(attempt, vm, host, seq)
        ok = self._agent_start(host, vm, seq, payload, vmto)
        answer = start_answer_22(vmto) if ok else generic_answer(NPE_TRACE_22)
        name = "StartAnswer" if ok else "Answer"
        self.ms_answer(host, seq, thread, ndc, answer, name, FLAGS_ANS_SEQ, gap=(1, 3))
        if ok:
            self.step(10, 60)
            self.transition(thread, ndc, "Starting", "Running", "OperationSucceeded", host, host, host)
            vm.state, vm.host, vm.last_host = "Running", host, host
            host.new_states[vm.name] = "Running"
            self.step(3, 12)
            self.ms("DEBUG", L_VMM, thread, f"Start completed for VM VM[User|{vm.name}]", ndc)
            attempt.update(outcome="succeeded", cause=None)
            if job is not None:
                self.step(20, 80)
                self.complete(thread, job, 1, 0, "com.cloud.api.response.UserVmResponse")
                self.step(300, 2500)
                self.poll_job(job, 1)
            else:
                self.step(5, 20)
                self.ms("INFO", L_HA, thread, f"VM is now restarted: {vm.id} on {host.id}", ndc)
            return attempt
        host.used_ram -= vm.ram
        self.step(1, 4)
        self.ms(
            "ERROR",
            L_VMM,
            thread,
            f"Failed to start instance VM[User|{vm.name}]",
            ndc,
            ms_start_failure_trace_22(ha=job is None),
        )
        self.step(40, 70)
        self.transition(thread, ndc, "Starting", "Stopped", "OperationFailed", vm.last_host, None, host)
        vm.state = "Stopped"
        attempt["cause"] = disk_cause([(v.vtype, v.device_id or 0) for v in vm.volumes])
        if job is not None:
            self.step(5, 15)
            self.ms("WARN", L_DISP, thread, "Exception: ", ndc, agent_unavailable_trace_22(host.id))
            self.step(5, 15)
            self.complete(thread, job, 2, 530, "com.cloud.api.response.ExceptionResponse")
            self.step(300, 2500)
            self.poll_job(job, 2)
        else:
            self._ha_retry(
                thread,
                ndc,
                vm,
                f"Resource [Host:{host.id}] is unreachable: Host {host.id}: Unable to start instance",
            )
        return attempt

    # -- start steps both eras log alike (loggers per era) ---------------------------------
    def _attempt(self, vm: Vm, job: int | None, t_attempt: str) -> dict[str, Any]:
        """A new ground-truth start attempt (a capacity failure until a host is chosen)."""
        attempt: dict[str, Any] = {
            "vm": vm.name,
            "vm_id": vm.id,
            "job": job,
            "host": None,
            "seq": None,
            "time": t_attempt,
            "outcome": "failed",
            "cause": "capacity",
            "agent_version": None,
            "ms_version": self.ms_version,
            "disks": None,
        }
        self.attempts.append(attempt)
        return attempt

    def _attempt_sent(self, attempt: dict[str, Any], vm: Vm, host: Host, seq: int) -> None:
        """The StartCommand went out: host, sequence, agent version and disk array of the attempt."""
        disks = [{"volume_id": v.id, "type": v.vtype, "device_id": v.device_id} for v in vm.volumes]
        attempt.update(host=host.name, seq=f"{host.id}-{seq}", agent_version=host.version, disks=disks)

    def _destination(self, thread: str, ndc: str, vm: Vm, host: Host) -> None:
        """``Returning Deployment Destination: …`` (ref §4.1)."""
        storage = ", ".join(f"Volume({v.id}|{v.vtype}-->Pool({self.pool.id})" for v in vm.volumes)
        self.ms(
            "DEBUG",
            self.lg_dest,
            thread,
            "Returning Deployment Destination: "
            "Dest[Zone(Id)-Pod(Id)-Cluster(Id)-Host(Id)-Storage(Volume(Id|Type-->Pool(Id))] : "
            f"Dest[Zone(1)-Pod(1)-Cluster(1)-Host({host.id})-Storage({storage})]",
            ndc,
        )

    def _prepare_volumes(self, thread: str, ndc: str, vm: Vm) -> None:
        """``Checking if we need to prepare N volumes`` and one ``No need to recreate`` per volume."""
        self.ms(
            "DEBUG",
            self.lg_vol,
            thread,
            f"Checking if we need to prepare {len(vm.volumes)} volumes for VM[User|{vm.name}]",
            ndc,
        )
        for v in vm.volumes:  # same order as the StartCommand array (ref §4.1)
            self.ms(
                "DEBUG",
                self.lg_vol,
                thread,
                f"No need to recreate the volume: Vol[{v.id}|vm={vm.id}|{v.vtype}], "
                f"since it already has a pool assigned: {self.pool.id}, adding disk to VM",
                ndc,
            )

    def _no_destination(self, thread: str, ndc: str, vm: Vm) -> None:
        """The planner finds no host: two planner lines, the VM goes back to Stopped."""
        self.ms("DEBUG", self.lg_plan, thread, "No suitable hosts found under this Cluster: 1", ndc)
        self.ms(
            "DEBUG",
            self.lg_plan,
            thread,
            "Could not find suitable Deployment Destination for this VM under any clusters, returning. ",
            ndc,
        )
        self.step(5, 20)
        self.transition(thread, ndc, "Starting", "Stopped", "OperationFailed", vm.last_host, None, None)
        vm.state = "Stopped"

    def _capacity_failure(self, vm: Vm, thread: str, ndc: str, job: int | None) -> None:
        """No host fits: the planner gives up and no command is sent (ref §4.1)."""
        self._no_destination(thread, ndc, vm)
        if job is not None:
            self.step(3, 10)
            self.ms("INFO", L_DISP, thread, f"Unable to create a deployment for VM[User|{vm.name}]", ndc)
            # ref §4.4: 2.2.14 reports every failed job as 530; 2.2.13 keeps the capacity code.
            code = 530 if self.ms_version == "2.2.14" else 533
            self.step(5, 15)
            self.complete(thread, job, 2, code, "com.cloud.api.response.ExceptionResponse")
            self.step(300, 2500)
            self.poll_job(job, 2)
        else:
            self._ha_retry(thread, ndc, vm, f"Unable to create a deployment for VM[User|{vm.name}]")

    def _ha_retry(self, thread: str, ndc: str, vm: Vm, why: str) -> None:
        self.step(5, 20)
        self.ms("INFO", L_HA, thread, f"Unable to restart VM[User|{vm.name}] due to {why}", ndc)
        retry = from_ms(self.now + 10 * MIN_MS).strftime("%a %b %d %H:%M:%S UTC %Y")
        self.ms(
            "INFO",
            L_HA,
            thread,
            f"Rescheduling HAWork[{ndc[5:]}-HA-{vm.id}-Running-Investigating] to try again at {retry}",
            ndc,
        )

    def _agent_start(self, host: Host, vm: Vm, seq: int, payload: str, vmto: dict[str, Any]) -> bool:
        """The agent side of a StartCommand (ref §3.2); False when 2.2.14's createVbd throws."""
        flags = receiver_flags(FLAGS_START_22, payload)
        t = self.agent_request(host, seq, payload, "StartCommand", flags, (8, 25), gap=(1, 2))
        fail = None
        if host.version == "2.2.14":  # ref §3.3: vols.add(devId, disk) in arrival order
            fail = arraylist_add_failure([v.device_id or 0 for v in vm.volumes])
        if fail is not None:
            self.step(20, 40)
            self.ag(host, "WARN", L_LIBVIRT, t, "Exception ", ioobe_trace_22(*fail))  # ref §3.4
            self.step(1, 3)
            self.ag(host, "WARN", L_AGENT, t, "Caught: ", NPE_TRACE_22)
            self.step(1, 2)
            self.agent_answer(host, seq, t, generic_answer(NPE_TRACE_22), FLAGS_ANS_SEQ)
            return False
        self.step(200, 600)
        xml = domain_xml_22(vm, self.pool, iso_first=host.version == "2.2.14", bridge="cloudbr0")
        self.ag(
            host,
            "DEBUG",
            L_LIBVIRT,
            t,
            f"starting {vm.name}: " + xml[:-1].split("\n", 1)[0],
            xml.split("\n", 1)[1],
        )
        self.step(300, 900)
        vm.vnc_port = 5900 + sum(1 for v in self.vms if v.host is host and v.state == "Running")
        self.qemu_start(host, vm)
        self.step(100, 400)
        self.agent_answer(host, seq, t, start_answer_22(vmto), FLAGS_ANS_SEQ)
        return True

    def qemu_start(self, host: Host, vm: Vm) -> None:
        """libvirt's qemu log of a boot: ``starting up``, the command line, the pty (ref §1.6)."""
        labels = [
            (f"/mnt/{self.pool.uuid}/{v.uuid}", dev_label_22(v.device_id or 0))
            for v in sorted(vm.volumes, key=lambda v: v.device_id or 0)
        ]
        self.qemu(host, vm, f"{self.st.qemu(self.now)}: starting up\n")
        self.qemu(
            host,
            vm,
            qemu_command_line(
                vm,
                self.pool,
                machine="rhel6.2.0",
                emulator="/usr/libexec/qemu-kvm",
                labels=labels,
                vnc_port=vm.vnc_port or 5900,
                tap_fd=23,
            ),
        )
        self.now += self.rng.randint(30, 120)
        self.qemu(host, vm, f"char device redirected to /dev/pts/{self.rng.randint(1, 40)}\n")

    def qemu_history(self, host: Host, vm: Vm) -> None:
        """The qemu log of a VM already running when the logs begin starts with its last boot."""
        saved = self.now
        self.now = self.t0 - self.rng.randint(DAY_MS, 40 * DAY_MS)
        self.qemu_start(host, vm)
        self.now = saved

    # -- VM stop ------------------------------------------------------------------------
    def stop_vm(self, vm: Vm) -> None:
        """``stopVirtualMachine`` through the API: StopCommand round trip, qemu shutdown."""
        host = vm.host
        if vm.state != "Running" or host is None:
            msg = f"{vm.name} is not running"
            raise RuntimeError(msg)
        job = self.api_call(
            "stopVirtualMachine",
            f"id={vm.id}",
            "",
            async_job={"type": "VirtualMachine", "id": vm.id, "cmd": "StopVMCmd", "info": {"id": str(vm.id)}},
        )
        assert job is not None
        thread, ndc = self.thread("Job-Executor", 10), f"job-{job}"
        self.step(5, 40)
        self.ms("DEBUG", L_JOB, thread, f"Executing com.cloud.api.commands.StopVMCmd for job-{job}", ndc)
        self.step(10, 40)
        self.transition(thread, ndc, "Running", "Stopping", "StopRequested", host, host, host)
        seq = host.seq
        host.seq += 1
        cmd = dumps([{"StopCommand": {"isProxy": False, "vmName": vm.name, "wait": 0}}])
        self.step(5, 30)
        self.send_cmd(host, seq, thread, ndc, cmd, FLAGS_START_22)
        t = self.agent_request(host, seq, cmd, "StopCommand", FLAGS_START_22, (5, 20))
        self.step(800, 4000)
        self.qemu(host, vm, f"qemu: terminating on signal 15 from pid {self.rng.randint(1500, 4000)}\n")
        self.now += self.rng.randint(5, 60)
        self.qemu(host, vm, f"{self.st.qemu(self.now)}: shutting down\n")
        ans = dumps(
            [
                {
                    "StopAnswer": {
                        "vncPort": vm.vnc_port or 5900,
                        "bytesSent": self.rng.randint(10**5, 10**9),
                        "bytesReceived": self.rng.randint(10**5, 10**9),
                        "result": True,
                        "details": f"Stop VM {vm.name} Succeed",
                        "wait": 0,
                    }
                }
            ]
        )
        self.step(50, 300)
        self.agent_answer(host, seq, t, ans, FLAGS_ANS_SEQ)
        self.ms_answer(host, seq, thread, ndc, ans, "StopAnswer", FLAGS_ANS_SEQ)
        self.step(10, 40)
        self.transition(thread, ndc, "Stopping", "Stopped", "OperationSucceeded", host, None, host)
        vm.state, vm.host = "Stopped", None
        host.used_ram -= vm.ram
        host.new_states[vm.name] = "Stopped"
        self.step(10, 40)
        self.complete(thread, job, 1, 0, "com.cloud.api.response.UserVmResponse")
        self.step(300, 2500)
        self.poll_job(job, 1)

    # -- volumes ----------------------------------------------------------------------
    def attach_volume(self, vm: Vm, vol: Volume) -> None:
        """``attachVolume``; a running VM gets an AttachVolumeCommand (device id: lowest free)."""
        self._volume_job(vm, vol, attaching=True)

    def detach_volume(self, vm: Vm, vol: Volume) -> None:
        """``detachVolume``: device_id becomes NULL (ref §6)."""
        self._volume_job(vm, vol, attaching=False)

    def _volume_job(self, vm: Vm, vol: Volume, *, attaching: bool) -> None:
        cmd_cls = "AttachVolumeCmd" if attaching else "DetachVolumeCmd"
        command = "attachVolume" if attaching else "detachVolume"
        params = f"id={vol.id}&virtualMachineId={vm.id}" if attaching else f"id={vol.id}"
        info = {"id": str(vol.id), "virtualmachineid": str(vm.id)} if attaching else {"id": str(vol.id)}
        job = self.api_call(
            command, params, "", async_job={"type": "Volume", "id": vol.id, "cmd": cmd_cls, "info": info}
        )
        assert job is not None
        thread, ndc = self.thread("Job-Executor", 10), f"job-{job}"
        self.step(5, 40)
        self.ms("DEBUG", L_JOB, thread, f"Executing com.cloud.api.commands.{cmd_cls} for job-{job}", ndc)
        if attaching:
            dev = attach(vm, vol)
            self.spares.remove(vol)
        else:
            dev = vol.device_id or 0
            detach(vm, vol)
            self.spares.append(vol)
        host = vm.host
        if vm.state == "Running" and host is not None:
            seq = host.seq
            host.seq += 1
            cmd = dumps(
                [
                    {
                        "AttachVolumeCommand": {
                            "attach": attaching,
                            "vmName": vm.name,
                            "pooltype": "NetworkFilesystem",
                            "volumeFolder": self.pool.path,
                            "volumePath": f"/mnt/{self.pool.uuid}/{vol.uuid}",
                            "volumeName": vol.name,
                            "deviceId": dev,
                            "poolUuid": self.pool.uuid,
                            "wait": 0,
                        }
                    }
                ]
            )
            self.step(20, 80)
            self.send_cmd(host, seq, thread, ndc, cmd, FLAGS_START_22)
            t = self.agent_request(host, seq, cmd, "AttachVolumeCommand", FLAGS_START_22, (5, 20))
            ans = dumps([{"AttachVolumeAnswer": {"deviceId": dev, "result": True, "wait": 0}}])
            self.step(200, 1500)
            self.agent_answer(host, seq, t, ans, FLAGS_ANS_SEQ)
            self.ms_answer(host, seq, thread, ndc, ans, "AttachVolumeAnswer", FLAGS_ANS_SEQ)
        self.step(20, 90)
        self.complete(thread, job, 1, 0, "com.cloud.api.response.VolumeResponse")
        self.step(300, 2500)
        self.poll_job(job, 1)

    # -- management server lifecycle (ref §5.2) -----------------------------------------
    def ms_stop(self) -> None:
        """Stop the management server; connected agents lose their connection."""
        self.ms("INFO", L_CLUSTER, "Thread-2", f"Stopping Cluster manager, msid : {MSID}")
        self.step(50, 200)
        self.ms(
            "INFO", L_AGM, "Thread-2", f"Disconnecting agents: {sum(1 for h in self.hosts if h.connected)}"
        )
        self.ms_up = False
        self.step(1000, 5000)
        for h in self.hosts:
            if h.connected:
                h.connected = False
                h.conn_gen += 1
                if h.agent_up and h.machine_up:
                    self.step(5, 40)
                    self.ag(
                        h,
                        "INFO",
                        L_AGENT,
                        self.thread("Agent-Handler", 5),
                        "Lost connection to the server. Dealing with the remaining commands...",
                    )
                    self.schedule("reconnect", h.id, self.now + 5000, h.conn_gen)

    def ms_start(self, code_version: str) -> bool:
        """Start the MS with ``code_version``; returns False when the DB check refuses to start.

        Writes the ``DatabaseUpgradeChecker`` lines (ref §5.2) and upgrades the DB when the code
        is newer. A downgrade has no upgrade path: the MS logs the error and does not start.
        """
        self.ms_version = code_version
        self.event("ms_start", MS_NAME, code_version)
        self.ms(
            "INFO",
            "cloud.utils.LogUtils",
            "main",
            "log4j configuration found at /etc/cloud/management/log4j-cloud.xml",
        )
        self.step(3000, 9000)
        self.ms("INFO", L_UPG, "main", "Grabbing lock to check for database upgrade.")
        self.step(20, 200)
        db = self.db_version
        self.ms("INFO", L_UPG, "main", f"DB version = {db} Code Version = {code_version}")
        if db == code_version:
            self.ms("INFO", L_UPG, "main", "DB version and code version matches so no upgrade needed.")
        elif (db, code_version) == ("2.2.13", "2.2.14"):
            self.ms("INFO", L_UPG, "main", f"Database upgrade must be performed from {db} to {code_version}")
            self.step(20, 100)
            self.ms(
                "INFO",
                L_UPG,
                "main",
                f"Running upgrade Upgrade2213to2214 to upgrade from {db}-{db} to {code_version}",
            )
            self.event("upgrade", MS_NAME, code_version)
            self.ms("INFO", L_UPG, "main", f"Upgrading to version {code_version}...")
            self.step(4000, 20000)
            self.ms("INFO", L_UPG, "main", f"Upgrade completed for version {code_version}")
            self.db_version = code_version
        else:
            self.ms("INFO", L_UPG, "main", f"Database upgrade must be performed from {db} to {code_version}")
            self.step(5, 30)
            self.ms("ERROR", L_UPG, "main", f"There is no upgrade path from {db} to {code_version}")
            self.step(5, 30)
            self.ms(
                "ERROR",
                L_STARTUP,
                "main",
                "Exception starting management server ",
                tail=no_upgrade_path_trace_22(db, code_version),
            )
            return False
        self.step(2000, 6000)
        self.ms("INFO", L_CLUSTER, "main", f"Management server {MSID} is being started")
        self.step(500, 3000)
        self.ms("INFO", L_AGM, "main", "Ping Timeout is 150")
        self.ms("INFO", L_AGM, "main", "Listening on 8250 with 5 workers")
        self.step(5000, 20000)
        self._ms_online()
        return True

    def _ms_online(self) -> None:
        """The MS is up: its periodic noise starts and the agents waiting to reconnect get in."""
        self.ms_up = True
        self.ms_gen += 1
        self.schedule("vmstats", 0, self.now + 20_000, self.ms_gen)
        self.schedule("hoststats", 0, self.now + 35_000, self.ms_gen)
        self.schedule("ui", 0, self.now + 60_000, self.ms_gen)
        for h in self.hosts:  # agents waiting in their reconnect loop get in now
            if h.agent_up and h.machine_up and not h.connected:
                self.step(1000, 8000)
                self.connect(h, reconnect=True)

    def set_db_version(self, version: str) -> None:
        """Restore the database from a dump taken at ``version`` (not logged)."""
        self.db_version = version

    # -- agents -------------------------------------------------------------------------
    def agent_start(self, h: Host, version: str) -> None:
        """Start the cloud-agent process (``Agent started.  PID``, version banner; ref §1.5, §5.2)."""
        h.version, h.stamp = version, STAMPS.get(version, version)
        h.agent_up = True
        h.aseq = 0
        h.pid = self.rng.randint(2000, 32000)
        self.raw(h, f"Agent started.  PID: {h.pid}")
        self.step(300, 1500)
        self.event("agent_restart", h.name, version)  # at the version banner (ref §5.2)
        self._agent_banner(h)
        if self.ms_up:
            self.connect(h, reconnect=False)
        else:
            self.schedule("reconnect", h.id, self.now + 5000, h.conn_gen)

    def _agent_banner(self, h: Host) -> None:
        """AgentShell's version banner and the Agent's id lines of a starting agent (ref §5.2)."""
        self.ag(h, "INFO", L_SHELL, "main", f"Implementation Version is {h.stamp}")
        self.ag(h, "INFO", L_SHELL, "main", f"agent.properties found at {self.conf_dir}/agent.properties")
        self.ag(h, "INFO", L_SHELL, "main", "Defaulting to using properties file for storage")
        self.ag(h, "INFO", L_SHELL, "main", "Defaulting to the constant time backoff algorithm")
        self.step(500, 2000)
        self.ag(h, "INFO", L_AGENT, "main", f"id is {h.id}")
        self.ag(
            h,
            "INFO",
            L_AGENT,
            "main",
            f"Agent [id = {h.id} : type = LibvirtComputingResource : zone = 1 : pod = 1 : workers = 5 : "
            f"host = {MS_IP} : port = 8250",
        )
        self.step(200, 800)

    def agent_stop(self, h: Host) -> None:
        """``service cloud-agent stop``: ShutdownCommand to the MS, which disconnects the host."""
        t = "AgentShutdownThread"
        self.ag(h, "INFO", L_AGENT, t, "Stopping the agent: Reason = sig.kill")
        if h.connected and self.ms_up:
            self.ag(h, "DEBUG", L_AGENT, t, "Sending shutdown to management server")
            self.step(5, 30)
            self.ms(
                "INFO",
                L_AGM,
                self.thread("AgentManager-Handler", 15),
                f"Host {h.id} has informed us that it is shutting down with reason sig.kill and detail null",
            )
            self._disconnect_lines(h, "ShutdownRequested", "Disconnected")
        h.agent_up = False
        h.connected = False
        h.conn_gen += 1
        self.step(1000, 1500)

    def _disconnect_lines(self, h: Host, event: str, nxt: str) -> None:
        thread = self.thread("AgentTaskPool", 10)
        self.step(5, 40)
        self.ms("INFO", L_AGM, thread, f"Host {h.id} is disconnecting with event {event}")
        self.ms("DEBUG", L_AGM, thread, f"The next state is {nxt}, current state is Up")
        self.step(2, 15)
        self.ms("DEBUG", L_AGM, thread, f"Deregistering link for {h.id} with state {nxt}")

    def connect(self, h: Host, *, reconnect: bool) -> None:
        """Agent ↔ MS startup exchange (StartupRoutingCommand, StartupAnswer, ReadyCommand)."""
        t = self.thread("Agent-Handler", 5)
        self.ag(h, "INFO", L_NIO, "Agent-Selector" if not reconnect else t, f"Connecting to {MS_IP}:8250")
        if reconnect:
            self.ag(h, "INFO", L_AGENT, t, "Connected to the server")
        aseq = h.aseq
        h.aseq += 1
        running = {v.name: {"state": "Running"} for v in self.vms if v.host is h and v.state == "Running"}
        startup = dumps(
            [
                {
                    "StartupRoutingCommand": {
                        "cpus": 8,
                        "speed": 2400,
                        "memory": h.ram,
                        "dom0MinMemory": 0,
                        "poolSync": False,
                        "vms": running,
                        "hypervisorType": "KVM",
                        "hostDetails": {
                            "Host.OS": "CentOS",
                            "Host.OS.Version": "6.2",
                            "Host.OS.Kernel.Version": "2.6.32-220.7.1.el6.x86_64",
                        },
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
                        "publicNetmask": "255.255.255.0",
                        "publicMacAddress": f"00:25:90:3a:{h.id:02x}:10",
                        "privateIpAddress": h.ip,
                        "privateMacAddress": f"00:25:90:3a:{h.id:02x}:10",
                        "privateNetmask": "255.255.255.0",
                        "storageIpAddress": h.ip,
                        "storageNetmask": "255.255.255.0",
                        "storageMacAddress": f"00:25:90:3a:{h.id:02x}:10",
                        "wait": 0,
                    }
                }
            ]
        )
        self.step(20, 200)
        self.ag(
            h,
            "DEBUG",
            L_AGENT,
            t,
            "Sending Startup: " + transport(h.id, aseq, "", "Cmd ", -1, str(h.id), FLAGS_AGENT_REQ, startup),
        )
        self.ag(h, "DEBUG", L_AGENT, t, "Startup task created")
        self.step(20, 80)
        mt = self.thread("AgentManager-Handler", 15)
        self.ms(
            "DEBUG",
            L_REQ,
            mt,
            transport(
                h.id, aseq, "Scheduling the first command ", "Cmd ", -1, str(h.id), FLAGS_AGENT_REQ, startup
            ),
        )
        pt = self.thread("AgentTaskPool", 10)
        for listener in (
            "AgentMonitor",
            "StoragePoolMonitor",
            "ComputeCapacityListener",
            "SecurityGroupListener",
        ):
            self.step(2, 20)
            self.ms("DEBUG", L_AGM, pt, f"Sending Connect to listener: {listener}")
        ans = dumps(
            [{"StartupAnswer": {"hostId": h.id, "pingInterval": PING_MS // 1000, "result": True, "wait": 0}}]
        )
        self.step(20, 200)
        self.ms(
            "DEBUG",
            L_AGM,
            pt,
            f"SeqA {h.id}-{aseq}: Sending "
            + transport(h.id, aseq, "", "Ans: ", MSID, str(h.id), FLAGS_CONTROL_ANS, ans),
        )
        self.step(3, 20)
        t2 = self.thread("Agent-Handler", 5)
        self.ag(
            h,
            "DEBUG",
            L_AGENT,
            t2,
            "Received response: "
            + transport(h.id, aseq, "", "Ans: ", MSID, str(h.id), FLAGS_CONTROL_ANS, ans),
        )
        self.ag(h, "DEBUG", L_AGENT, t2, "Startup task cancelled")
        self.ag(h, "INFO", L_AGENT, t2, f"Proccess agent startup answer, agent id = {h.id}")
        self.ag(h, "INFO", L_AGENT, t2, f"Set agent id {h.id}")
        self.ag(h, "INFO", L_AGENT, t2, f"Startup Response Received: agent id = {h.id}")
        # a new attache draws a new base: nextInt(Short.MAX_VALUE) << 48 as an int shift (ref §2.1)
        h.seq = self.rng.randint(1, 32766) << 16
        seq = h.seq
        h.seq += 1
        ready = dumps([{"ReadyCommand": {"dcId": 1, "wait": 0}}])
        self.step(20, 100)
        self.send_cmd(h, seq, pt, "null", ready, FLAGS_START_22)
        ta = self.agent_request(h, seq, ready, "ReadyCommand", FLAGS_START_22, (3, 15))
        rans = dumps([{"ReadyAnswer": {"result": True, "wait": 0}}])
        self.step(5, 40)
        self.agent_answer(h, seq, ta, rans, FLAGS_ANS_SEQ)
        self.ms_answer(h, seq, pt, "null", rans, "ReadyAnswer", FLAGS_ANS_SEQ, wait=(3, 15))
        h.connected = True
        h.conn_gen += 1
        self.schedule("ping", h.id, self.now + self.nrng.randint(5_000, PING_MS), h.conn_gen)

    # -- hosts going down / coming back ------------------------------------------------
    def host_down(self, h: Host, *, reinstall: bool = False) -> list[Vm]:
        """The machine stops (power loss, reboot, reinstall): no more agent lines.

        After the ping timeout the MS investigates, declares the host down and schedules HA
        for its VMs (HA-enabled ones are restarted elsewhere by the caller with the returned
        work list; the others are marked Stopped). Returns the VMs that need HA.
        """
        self.event("host_reinstalled" if reinstall else "host_down", h.name, None)
        was_connected = h.connected and self.ms_up
        h.machine_up = h.agent_up = h.connected = False
        h.reinstalled = reinstall
        h.conn_gen += 1
        victims = [v for v in self.vms if v.host is h and v.state == "Running"]
        if not was_connected:
            for v in victims:
                v.state, v.host = "Stopped", None
            h.used_ram = 0
            return []
        self.advance_to(self.now + 150_000 + self.rng.randint(0, 20_000))  # ping timeout 150 s
        self.ms("INFO", L_MON, "AgentMonitor", f"Found the following agents behind on ping: [{h.id}]")
        self.ms("DEBUG", L_MON, "AgentMonitor", f"Ping timeout for host {h.id}, do invstigation")
        thread = self.thread("AgentTaskPool", 10)
        self.step(5, 40)
        self.ms("INFO", L_AGM, thread, f"Host {h.id} is disconnecting with event PingTimeout")
        self.ms("DEBUG", L_AGM, thread, "The next state is Alert, current state is Up")
        self.ms(
            "INFO", L_AGM, thread, f"Investigating why host {h.id} has disconnected with event PingTimeout"
        )
        self.step(3000, 9000)
        self.ms("INFO", L_AGM, thread, "The state determined is Down")
        self.ms("ERROR", L_AGM, thread, f"Host is down: {h.id}-{h.name}.  Starting HA on the VMs")
        self.ms("DEBUG", L_AGM, thread, f"Deregistering link for {h.id} with state Down")
        ha: list[Vm] = []
        for v in victims:
            self.step(5, 30)
            if v.ha:
                self.ms("INFO", L_HA, thread, f"Schedule vm for HA:  VM[User|{v.name}]")
                ha.append(v)
            else:
                self.ms(
                    "DEBUG",
                    L_HA,
                    thread,
                    f"VM does not require investigation so I'm marking it as Stopped: VM[User|{v.name}]",
                )
                self.transition(thread, "null", "Running", "Stopped", "AgentReportStopped", h, None, h)
            v.state, v.host = "Stopped", None
        h.used_ram = 0
        return ha

    def ha_restart(self, vm: Vm) -> dict[str, Any]:
        """An HA worker restarts a VM of a dead host (``HAWork[…]``, ref §4.2)."""
        work = self._next_work
        self._next_work += 1
        thread = self.thread("HA-Worker", 5)
        ndc = f"work-{work}"
        self.step(500, 5000)
        label = f"HAWork[{work}-HA-{vm.id}-Running-Investigating]"
        self.ms("INFO", L_HA, thread, f"Processing {label}", ndc)
        self.ms("INFO", L_HA, thread, f"HA on VM[User|{vm.name}]", ndc)
        self.step(100, 2000)
        self.ms("INFO", L_HA, thread, "Fencer KVMFencer returned true", ndc)
        attempt = self.start_vm(vm, ha=(thread, work))
        if attempt["outcome"] == "succeeded":
            self.step(5, 30)
            self.ms("INFO", L_HA, thread, f"Completed {label}", ndc)
        return attempt

    def host_poweroff(self, h: Host, *, reinstall: bool = False) -> None:
        """A planned shutdown: the agent says goodbye, then the machine goes dark."""
        if h.agent_up:
            self.agent_stop(h)
        self.step(20_000, 90_000)
        h.machine_up = False
        h.reinstalled = reinstall
        h.conn_gen += 1
        self.event("host_reinstalled" if reinstall else "host_down", h.name, None)
        for v in self.vms:
            if v.host is h:
                v.state, v.host = "Stopped", None
        h.used_ram = 0

    def place_quietly(self, version: str, running: float) -> None:
        """The state before the first logged line: MS and agents up, most VMs running."""
        self.ms_up = True
        self.ms_gen += 1
        for h in self.hosts:
            h.version, h.stamp = version, STAMPS.get(version, version)
            h.agent_up = h.connected = True
            h.conn_gen += 1
            h.seq = self.rng.randint(1, 32766) << 16
            h.aseq = self.rng.randint(500, 9000)
            self.schedule("ping", h.id, self.now + self.nrng.randint(0, PING_MS), h.conn_gen)
        order = list(self.vms)
        self.rng.shuffle(order)
        for v in order:
            if self.rng.random() < running:
                target = self.plan(v, None)
                if target is not None:
                    v.state, v.host, v.last_host = "Running", target, target
                    v.vnc_port = 5900 + sum(1 for x in self.vms if x.host is target and x is not v)
                    target.used_ram += v.ram
                    self.qemu_history(target, v)
            else:
                v.last_host = self.rng.choice(self.hosts)
        self.schedule("vmstats", 0, self.now + self.nrng.randint(0, STATS_MS), self.ms_gen)
        self.schedule("hoststats", 0, self.now + self.nrng.randint(0, STATS_MS), self.ms_gen)
        self.schedule("ui", 0, self.now + self.nrng.randint(0, UI_MS), self.ms_gen)

    def host_boot(self, h: Host, version: str) -> None:
        """The machine is back; the agent starts at boot."""
        h.machine_up = True
        self.event("host_up", h.name, None)
        self.step(60_000, 120_000)
        self.agent_start(h, version)

    def network_flap(self, h: Host, seconds: int) -> None:
        """The agent loses its connection for ``seconds``; the host stays up (VMs keep running)."""
        self.event("host_down", h.name, None)
        h.connected = False
        h.conn_gen += 1
        self.ag(
            h,
            "INFO",
            L_AGENT,
            self.thread("Agent-Handler", 5),
            "Lost connection to the server. Dealing with the remaining commands...",
        )
        self.step(50, 500)
        thread = self.thread("AgentTaskPool", 10)
        self.ms("INFO", L_AGM, thread, f"Host {h.id} is disconnecting with event AgentDisconnected")
        self.ms("DEBUG", L_AGM, thread, "The next state is Alert, current state is Up")
        self.ms(
            "INFO",
            L_AGM,
            thread,
            f"Investigating why host {h.id} has disconnected with event AgentDisconnected",
        )
        self.step(2000, 8000)
        self.ms("INFO", L_AGM, thread, "The state determined is Disconnected")
        self.ms("WARN", L_AGM, thread, f"Agent is disconnected but the host is still up: {h.id}-{h.name}")
        self.ms("DEBUG", L_AGM, thread, f"Deregistering link for {h.id} with state Alert")
        self.advance_to(self.now + seconds * 1000)
        self.event("host_up", h.name, None)
        self.connect(h, reconnect=True)

    # -- noise (nrng only) ------------------------------------------------------------
    def emit_noise(self, kind: str, index: int, gen: int) -> int | None:
        """Pings, stats round trips, agent reconnect attempts and UI polling."""
        if kind == "ping":
            h = self.hosts[index - 1]
            if gen != h.conn_gen or not h.connected:
                return None
            self._noise_ping(h)
            return PING_MS
        if kind == "reconnect":
            h = self.hosts[index - 1]
            if gen != h.conn_gen or not (h.agent_up and h.machine_up) or h.connected:
                return None
            if self.ms_up:
                return None  # ms_start connects the waiting agents
            t = self.nthread("Agent-Handler", 5)
            self.ag(h, "INFO", L_AGENT, t, "Reconnecting...")
            self.ag(h, "INFO", L_NIO, t, f"Connecting to {MS_IP}:8250")
            self.ag(
                h,
                "WARN",
                "utils.nio.NioConnection",
                t,
                "Unable to connect to remote: is there a server running on port 8250",
            )
            return 60_000
        if not self.ms_up or gen != self.ms_gen:
            return None
        if kind == "vmstats":
            self._noise_stats(vm_stats=True)
            return STATS_MS
        if kind == "hoststats":
            self._noise_stats(vm_stats=False)
            return STATS_MS
        if kind == "ui":
            self._noise_ui()
            return UI_MS
        return None

    def _ping_templates(self, h: Host) -> tuple[str, ...]:
        """Constant parts of the three ping lines of host ``h`` (the noise hot path)."""
        tpl = self._ping_tpl.get(h.id)
        if tpl is None:
            body = (
                f'"_gatewayAccessible":true,"_vnetAccessible":true,"hostType":"Routing",'
                f'"hostId":{h.id},"wait":0}}'
            )
            cmd = '[{"PingRoutingCommand":{"newStates":{},' + body + "}]"
            ans = '[{"PingAnswer":{"_command":{"newStates":{},' + body + ',"result":true,"wait":0}}]'
            tpl = (
                f" {LEVEL['DEBUG']} [{L_AGENT}] (UgentTask-",
                f":null) Sending ping: Seq {h.id}-",
                f":  {{ Cmd , MgmtId: -1, via: {h.id}, Ver: v1, Flags: {FLAGS_AGENT_REQ:b}, {cmd} }}\n",
                f" {LEVEL['DEBUG']} [{L_AGM}] (AgentManager-Handler-",
                f":null) Ping from {h.id}\n",
                f" {LEVEL['DEBUG']} [{L_AGENT}] (Agent-Handler-",
                f":null) Received response: Seq {h.id}-",
            )
            tpl2 = (
                f":  {{ Ans: , MgmtId: {MSID}, via: {h.id}, Ver: v1, "
                f"Flags: {FLAGS_CONTROL_ANS:b}, {ans} }}\n",
            )
            self._ping_tpl[h.id] = tpl = tpl + tpl2
        return tpl

    def _noise_ping(self, h: Host) -> None:
        n = self.nrng
        seq = h.aseq
        h.aseq += 1
        if not h.new_states:  # the common case: three lines from precomputed parts
            a1, a2, a3, m1, m2, b1, b2, b3 = self._ping_templates(h)
            rnd = n.random
            fmt = self.st.log
            self._pc = pc = self._pc + 1
            t1 = self.now
            t2 = t1 + 1 + int(rnd() * 6)
            t3 = t2 + 1 + int(rnd() * 6)
            self.now = t3
            first = f"{fmt(t1)}{a1}{pc % 5 + 1}{a2}{seq}{a3}"
            self.msf.write(t2, f"{fmt(t2)}{m1}{pc % 15 + 1}{m2}")
            last = f"{fmt(t3)}{b1}{pc % 5 + 1}{b2}{seq}{b3}"
            f = self.host_files[h.id]
            if t1 // DAY_MS == t3 // DAY_MS:
                f.write(t1, first + last)
            else:
                f.write(t1, first)
                f.write(t3, last)
            return
        states = dumps(h.new_states)
        cmd = (
            '[{"PingRoutingCommand":{"newStates":' + states + ',"_gatewayAccessible":true,'
            f'"_vnetAccessible":true,"hostType":"Routing","hostId":{h.id},"wait":0}}}}]'
        )
        self.ag(
            h,
            "DEBUG",
            L_AGENT,
            self.nthread("UgentTask", 5, f"@{h.id}"),
            "Sending ping: " + transport(h.id, seq, "", "Cmd ", -1, str(h.id), FLAGS_AGENT_REQ, cmd),
        )
        self.now += n.randint(1, 6)
        mt = self.nthread("AgentManager-Handler", 15)
        ans = (
            '[{"PingAnswer":{"_command":{"newStates":' + states + ',"_gatewayAccessible":true,'
            f'"_vnetAccessible":true,"hostType":"Routing","hostId":{h.id},"wait":0}},"result":true,"wait":0}}}}]'
        )
        if h.new_states:  # ref §2.2: pings with new states are logged as SeqA at DEBUG
            self.ms(
                "DEBUG",
                L_AGM,
                mt,
                f"SeqA {h.id}-{seq}: Processing "
                + transport(h.id, seq, "", "Cmd ", -1, str(h.id), FLAGS_AGENT_REQ, cmd),
            )
            self.now += n.randint(1, 4)
            self.ms(
                "DEBUG",
                L_AGM,
                mt,
                f"SeqA {h.id}-{seq}: Sending "
                + transport(h.id, seq, "", "Ans: ", MSID, str(h.id), FLAGS_CONTROL_ANS, ans),
            )
            h.new_states.clear()
        else:
            self.ms("DEBUG", L_AGM, mt, f"Ping from {h.id}")
        self.now += n.randint(1, 6)
        self.ag(
            h,
            "DEBUG",
            L_AGENT,
            self.nthread("Agent-Handler", 5),
            "Received response: "
            + transport(h.id, seq, "", "Ans: ", MSID, str(h.id), FLAGS_CONTROL_ANS, ans),
        )

    def _noise_stats(self, *, vm_stats: bool) -> None:
        n = self.nrng
        st, sndc = self._stats_thread(vm_stats)
        collector = "VmStatsCollector" if vm_stats else "HostStatsCollector"
        self.ms("DEBUG", self.lg_stats, st, f"{collector} is running...", sndc)
        for h in self.hosts:
            if not self.usable(h):
                continue
            self.now += n.randint(2, 30)
            seq = h.seq
            h.seq += 1
            cmd, ans, cls, ans_cls = self._stats_payload(h, vm_stats)
            self.send_cmd(h, seq, st, sndc, cmd, FLAGS_CMD)
            ta = self.agent_request(h, seq, cmd, cls, receiver_flags(FLAGS_CMD, cmd), (2, 12), noise=True)
            self.now += n.randint(20, 300)
            self.agent_answer(h, seq, ta, ans, FLAGS_ANS)
            hflags = receiver_flags(FLAGS_ANS, ans)
            self.ms_answer(h, seq, st, sndc, ans, ans_cls, FLAGS_ANS, handler_flags=hflags, wait=(2, 12), noise=True)

    def _stats_thread(self, vm_stats: bool) -> tuple[str, str]:
        """Thread and NDC of a stats round (one collector thread each, no NDC in 2.2)."""
        return ("StatsCollector-1" if vm_stats else "StatsCollector-2"), "null"

    def _stats_payload(self, h: Host, vm_stats: bool) -> tuple[str, str, str, str]:
        """Command, answer and their class names of one stats round trip (draws ``nrng``)."""
        n = self.nrng
        if vm_stats:
            names = [v.name for v in self.vms if v.host is h and v.state == "Running"]
            cmd = (
                '[{"GetVmStatsCommand":{"vmNames":'
                + dumps(names)
                + f',"hostGuid":"{h.guid}-LibvirtComputingResource","hostName":"{h.name}","wait":0}}}}]'
            )
            entries = ",".join(
                f'"{name}":{{"cpuUtilization":{round(n.random() * 40, 2)},'
                f'"networkReadKBs":{round(n.random() * 9000, 2)},'
                f'"networkWriteKBs":{round(n.random() * 4000, 2)},'
                f'"numCPUs":{1 + n.randint(0, 1)},"entityType":"vm"}}'
                for name in names
            )
            ans = '[{"GetVmStatsAnswer":{"vmStatsMap":{' + entries + '},"result":true,"wait":0}}]'
            cls, ans_cls = "GetVmStatsCommand", "GetVmStatsAnswer"
        else:
            cmd = (
                f'[{{"GetHostStatsCommand":{{"hostGuid":"{h.guid}-LibvirtComputingResource",'
                f'"hostName":"{h.name}","hostId":{h.id},"wait":0}}}}]'
            )
            free = max(0, h.ram - h.used_ram) // 1024
            ans = (
                f'[{{"GetHostStatsAnswer":{{"hostStats":{{"cpuUtilization":{round(n.random() * 60, 2)},'
                f'"networkReadKBs":{round(n.random() * 90000, 2)},'
                f'"networkWriteKBs":{round(n.random() * 40000, 2)},'
                f'"totalMemoryKBs":{h.ram // 1024},"freeMemoryKBs":{free},"entityType":"host"}},'
                '"result":true,"wait":0}}]'
            )
            cls, ans_cls = "GetHostStatsCommand", "GetHostStatsAnswer"
        return cmd, ans, cls, ans_cls

    def _noise_ui(self) -> None:
        """An admin's browser tab polling a few list calls, in office hours."""
        hour = (self.now % DAY_MS) // HOUR_MS
        if not 8 <= hour < 19:
            return
        n = self.nrng
        calls = self._ui_calls()
        for command, params, resp in calls[: n.randint(1, len(calls))]:
            self.now += n.randint(20, 400)
            self.api_call(command, params, resp, noise=True)

    def _ui_calls(self) -> tuple[tuple[str, str, str], ...]:
        """The UI's list calls: command, parameters, response."""
        hosts_listed = sum(1 for h in self.hosts if not h.reinstalled)
        running = sum(1 for v in self.vms if v.state == "Running")
        calls = (
            (
                "listVirtualMachines",
                "listAll=true&page=1&pagesize=20",
                f'{{ "listvirtualmachinesresponse" : {{ "count":{len(self.vms)} }} }}',
            ),
            (
                "listHosts",
                "type=Routing&page=1&pagesize=20",
                f'{{ "listhostsresponse" : {{ "count":{hosts_listed} }} }}',
            ),
            ("listCapacity", "zoneid=1", '{ "listcapacityresponse" : { "count":6 } }'),
            ("listEvents", "page=1&pagesize=6", '{ "listeventsresponse" : { "count":6 } }'),
            ("listAlerts", "page=1&pagesize=6", f'{{ "listalertsresponse" : {{ "count":{running % 7} }} }}'),
        )
        return calls
