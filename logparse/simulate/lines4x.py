"""Line templates for a CloudStack 4.15 KVM cluster (ref §1.1 4.11-4.19, §2.3 4.15+, §3.5).

MS layout ``%d{ISO8601} %-5p [%c{1.}] (%t:%x) (logid:%X{logcontextid}) %m%n``; agent layout the
same with ``[%c{3}]``. Command JSON uses fully qualified class keys (4.2+), ``DiskTO`` with
``diskSeq`` and a ``VolumeObjectTO`` inside, and from 4.15 ``HumanReadableJson`` quotes every
primitive and prints sizes as ``"(20.00 GB) 21474836480"``.
"""

from __future__ import annotations

from typing import Any

from logparse.simulate.lines import dumps, trace
from logparse.simulate.model import Host, Pool, Vm, Volume, human_size

# ref §2.3: keys HumanReadableJson prints with a readable size prefix
_SIZE_KEYS = frozenset(
    {
        "size",
        "minRam",
        "maxRam",
        "volumeSize",
        "newSize",
        "templateSize",
        "capacityBytes",
        "availableBytes",
        "memorykbs",
    }
)
_ABBREV: dict[str, str] = {}


def abbrev(fqcn: str) -> str:
    """log4j ``%c{1.}``: every package segment cut to one character (ref §1.2)."""
    short = _ABBREV.get(fqcn)
    if short is None:
        parts = fqcn.split(".")
        short = ".".join([p[0] for p in parts[:-1]] + [parts[-1]])
        _ABBREV[fqcn] = short
    return short


def humanize(obj: Any, key: str = "") -> Any:
    """4.15+ ``HumanReadableJson``: every primitive becomes a string (ref §2.3)."""
    if isinstance(obj, dict):
        return {k: humanize(v, k) for k, v in obj.items()}
    if isinstance(obj, list):
        return [humanize(v, key) for v in obj]
    if isinstance(obj, bool):
        return "true" if obj else "false"
    if isinstance(obj, int):
        if key in _SIZE_KEYS:
            return f"({human_size(obj)}) {obj}"
        return str(obj)
    if isinstance(obj, str) and key in _SIZE_KEYS and obj.isdigit():
        return f"({human_size(int(obj))}) {obj}"
    return obj


def data_store(pool: Pool) -> dict[str, Any]:
    """``PrimaryDataStoreTO`` wrapped in its FQCN key (ref §2.3, §2.4)."""
    return {
        "org.apache.cloudstack.storage.to.PrimaryDataStoreTO": {
            "uuid": pool.uuid,
            "name": pool.name,
            "id": pool.id,
            "poolType": "NetworkFilesystem",
            "host": pool.host,
            "path": pool.path,
            "port": 2049,
            "url": f"NetworkFilesystem://{pool.host}{pool.path}/?ROLE=Primary&STOREUUID={pool.uuid}",
            "isManaged": False,
        }
    }


def disk_to(vol: Volume, vm: Vm, pool: Pool) -> dict[str, Any]:
    """``DiskTO``: ``data, diskSeq, path, type, _details``; ``diskSeq`` = volumes.device_id and
    is left out (Gson omits null) when the DB value is NULL -- no 0 fallback (ref §2.4)."""
    obj: dict[str, Any] = {
        "uuid": vol.uuid,
        "volumeType": vol.vtype,
        "dataStore": data_store(pool),
        "name": vol.name,
        "size": vol.size,
        "path": vol.uuid,
        "volumeId": vol.id,
        "vmName": vm.name,
        "accountId": vm.account_id,
        "format": "QCOW2",
        "provisioningType": "THIN",
        "id": vol.id,
    }
    if vol.device_id is not None:
        obj["deviceId"] = vol.device_id
    obj["hypervisorType"] = "KVM"
    disk: dict[str, Any] = {"data": {"org.apache.cloudstack.storage.to.VolumeObjectTO": obj}}
    if vol.device_id is not None:
        disk["diskSeq"] = vol.device_id
    disk["path"] = vol.uuid
    disk["type"] = vol.vtype
    disk["_details"] = {
        "managed": "false",
        "storagePort": "2049",
        "storageHost": pool.host,
        "volumeSize": str(vol.size),
    }
    return disk


def vm_to_4x(vm: Vm, pool: Pool, host: Host, vlan: int) -> dict[str, Any]:
    """4.15 ``VirtualMachineTO`` (ref §2.4 4.11-style order; ``vncPassword`` is @LogLevel Off)."""
    disks = [disk_to(v, vm, pool) for v in vm.volumes]
    disks.append(
        {
            "data": {
                "org.apache.cloudstack.storage.to.TemplateObjectTO": {
                    "format": "ISO",
                    "accountId": 0,
                    "hvm": False,
                    "id": 0,
                }
            },
            "diskSeq": 3,
            "type": "ISO",
        }
    )
    return {
        "id": vm.id,
        "name": vm.name,
        "bootloader": "HVM",
        "type": "User",
        "cpus": vm.cpus,
        "minSpeed": vm.speed,
        "maxSpeed": vm.speed,
        "minRam": vm.ram,
        "maxRam": vm.ram,
        "arch": "x86_64",
        "os": vm.os,
        "platformEmulator": vm.os,
        "bootArgs": "",
        "enableHA": vm.ha,
        "limitCpuUse": False,
        "enableDynamicallyScaleVm": False,
        "vncAddr": host.ip,
        "params": {},
        "uuid": vm.uuid,
        "disks": disks,
        "nics": [
            {
                "deviceId": 0,
                "networkRateMbps": 200,
                "defaultNic": True,
                "pxeDisable": False,
                "nicUuid": vm.nic_uuid,
                "uuid": vm.net_uuid,
                "ip": vm.ip,
                "netmask": "255.255.255.0",
                "gateway": "10.1.2.1",
                "mac": vm.mac,
                "dns1": "8.8.8.8",
                "broadcastType": "Vlan",
                "type": "Guest",
                "broadcastUri": f"vlan://{vlan}",
                "isolationUri": f"vlan://{vlan}",
                "isSecurityGroupEnabled": False,
                "name": "cloudbr0",
            }
        ],
    }


def start_command_4x(vmto: dict[str, Any], host: Host) -> str:
    """``[{"com.cloud.agent.api.StartCommand":{…}}]``, humanized (ref §2.3, §2.4)."""
    return dumps(
        [
            {
                "com.cloud.agent.api.StartCommand": humanize(
                    {
                        "vm": vmto,
                        "hostIp": host.ip,
                        "executeInSequence": False,
                        "wait": 0,
                        "bypassHostMaintenance": False,
                    }
                )
            }
        ]
    )


def start_answer_4x(vmto: dict[str, Any]) -> str:
    """StartAnswer (subclass fields, then Answer, then Command; ref §2.3)."""
    return dumps(
        [
            {
                "com.cloud.agent.api.StartAnswer": humanize(
                    {"vm": vmto, "result": True, "wait": 0, "bypassHostMaintenance": False}
                )
            }
        ]
    )


def generic_answer_4x(details: str) -> str:
    """The generic ``Answer`` built after ``Caught:`` (ref §3.5)."""
    return dumps(
        [
            {
                "com.cloud.agent.api.Answer": humanize(
                    {"result": False, "details": details, "wait": 0, "bypassHostMaintenance": False}
                )
            }
        ]
    )


_J11_POOL_TAIL = (
    "java.base/java.util.concurrent.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:1128)",
    "java.base/java.util.concurrent.ThreadPoolExecutor$Worker.run(ThreadPoolExecutor.java:628)",
    "java.base/java.lang.Thread.run(Thread.java:829)",
)
_AGENT_TAIL_4X = (
    "com.cloud.hypervisor.kvm.resource.wrapper.LibvirtStartCommandWrapper.execute(LibvirtStartCommandWrapper.java:83)",
    "com.cloud.hypervisor.kvm.resource.wrapper.LibvirtStartCommandWrapper.execute(LibvirtStartCommandWrapper.java:53)",
    "com.cloud.hypervisor.kvm.resource.wrapper.LibvirtRequestWrapper.execute(LibvirtRequestWrapper.java:78)",
    "com.cloud.hypervisor.kvm.resource.LibvirtComputingResource.executeRequest(LibvirtComputingResource.java:1646)",
    "com.cloud.agent.Agent.processRequest(Agent.java:661)",
    "com.cloud.agent.Agent$AgentRequestHandler.doTask(Agent.java:1079)",
    "com.cloud.utils.nio.Task.call(Task.java:83)",
    "com.cloud.utils.nio.Task.call(Task.java:29)",
    "java.base/java.util.concurrent.FutureTask.run(FutureTask.java:264)",
    *_J11_POOL_TAIL,
)


def comparator_npe_trace(in_binary_sort: bool) -> str:
    """§3.5: the ``diskSeq`` comparator unboxes a null Long inside ``Collections.sort``.

    ``TimSort`` first measures the leading run (``countRunAndMakeAscending``); a null met later
    blows up in ``binarySort``. JDK 11 frames (4.15 runs on Java 11, no helpful NPE message);
    line numbers are illustrative, as in the reference.
    """
    sort_frames = (
        ("java.base/java.util.TimSort.binarySort(TimSort.java:296)",)
        if in_binary_sort
        else ("java.base/java.util.TimSort.countRunAndMakeAscending(TimSort.java:355)",)
    )
    frames = (
        "com.cloud.hypervisor.kvm.resource.LibvirtComputingResource$3.compare(LibvirtComputingResource.java:2331)",
        "com.cloud.hypervisor.kvm.resource.LibvirtComputingResource$3.compare(LibvirtComputingResource.java:2328)",
        *sort_frames,
        "java.base/java.util.TimSort.sort(TimSort.java:239)"
        if in_binary_sort
        else "java.base/java.util.TimSort.sort(TimSort.java:220)",
        "java.base/java.util.Arrays.sort(Arrays.java:1515)",
        "java.base/java.util.Arrays$ArrayList.sort(Arrays.java:4286)",
        "java.base/java.util.Collections.sort(Collections.java:179)",
        "com.cloud.hypervisor.kvm.resource.LibvirtComputingResource.createVbd(LibvirtComputingResource.java:2328)",
        *_AGENT_TAIL_4X,
    )
    return trace("java.lang.NullPointerException", frames)


def timsort_npe_in_binary_sort(seqs: list[int | None]) -> bool:
    """Where TimSort's comparator first meets a null (False: in ``countRunAndMakeAscending``)."""
    if len(seqs) < 2 or seqs[0] is None or seqs[1] is None:
        return False
    descending = seqs[1] < seqs[0]
    i = 2
    while i < len(seqs):
        cur, prev = seqs[i], seqs[i - 1]
        if cur is None or prev is None:
            return False
        if (cur < prev) != descending:
            break
        i += 1
    return True


_MS_WORK_FRAMES = (
    "com.cloud.agent.manager.Commands.getAnswer(Commands.java:79)",
    "com.cloud.vm.VirtualMachineManagerImpl.orchestrateStart(VirtualMachineManagerImpl.java:1186)",
    "com.cloud.vm.VirtualMachineManagerImpl.orchestrateStart(VirtualMachineManagerImpl.java:5282)",
    "java.base/jdk.internal.reflect.NativeMethodAccessorImpl.invoke0(Native Method)",
    "java.base/jdk.internal.reflect.NativeMethodAccessorImpl.invoke(NativeMethodAccessorImpl.java:62)",
    "java.base/jdk.internal.reflect.DelegatingMethodAccessorImpl.invoke(DelegatingMethodAccessorImpl.java:43)",
    "java.base/java.lang.reflect.Method.invoke(Method.java:566)",
    "com.cloud.vm.VmWorkJobHandlerProxy.handleVmWorkJob(VmWorkJobHandlerProxy.java:107)",
    "com.cloud.vm.VirtualMachineManagerImpl.handleVmWorkJob(VirtualMachineManagerImpl.java:5445)",
    "com.cloud.vm.VmWorkJobDispatcher.runJob(VmWorkJobDispatcher.java:102)",
    "org.apache.cloudstack.framework.jobs.impl.AsyncJobManagerImpl$5.runInContext(AsyncJobManagerImpl.java:620)",
    "org.apache.cloudstack.managed.context.ManagedContextRunnable$1.run(ManagedContextRunnable.java:48)",
    "org.apache.cloudstack.managed.context.impl.DefaultManagedContext$1.call(DefaultManagedContext.java:55)",
    "org.apache.cloudstack.managed.context.impl.DefaultManagedContext.callWithContext(DefaultManagedContext.java:102)",
    "org.apache.cloudstack.managed.context.impl.DefaultManagedContext.runWithContext(DefaultManagedContext.java:52)",
    "org.apache.cloudstack.managed.context.ManagedContextRunnable.run(ManagedContextRunnable.java:45)",
    "org.apache.cloudstack.framework.jobs.impl.AsyncJobManagerImpl$5.run(AsyncJobManagerImpl.java:568)",
    "java.base/java.util.concurrent.Executors$RunnableAdapter.call(Executors.java:515)",
    "java.base/java.util.concurrent.FutureTask.run(FutureTask.java:264)",
    *_J11_POOL_TAIL,
)
NO_START_ANSWER = "Unable to get answer that is of class com.cloud.agent.api.StartAnswer"
CRE = "com.cloud.utils.exception.CloudRuntimeException"
ISCE = "com.cloud.exception.InsufficientServerCapacityException"
WORK_TRACE_4X = trace(f"{CRE}: {NO_START_ANSWER}", _MS_WORK_FRAMES)


def capacity_trace_4x(vm_name: str) -> str:
    """``InsufficientServerCapacityException`` thrown by ``orchestrateStart`` (ref §4.1)."""
    frames = (
        "com.cloud.vm.VirtualMachineManagerImpl.orchestrateStart(VirtualMachineManagerImpl.java:1107)",
        *_MS_WORK_FRAMES[2:],
    )
    return trace(
        f"{ISCE}: Unable to create a deployment for VM[User|{vm_name}]Scope=interface "
        "com.cloud.dc.DataCenter; id=1",
        frames,
    )


def domain_xml_4x(vm: Vm, pool: Pool) -> str:
    """A 4.15 domain definition as ``LibvirtStartCommandWrapper`` logs it (4.11+ labels, no skip)."""
    disks = sorted(vm.volumes, key=lambda v: v.device_id if v.device_id is not None else 0)
    disk_xml = "".join(
        "<disk  device='disk' type='file'>\n<driver name='qemu' type='qcow2' cache='none' />\n"
        f"<source file='/mnt/{pool.uuid}/{v.uuid}'/>\n"
        f"<target dev='vd{chr(97 + (v.device_id or 0))}' bus='virtio'/>\n"
        f"<serial>{v.uuid.replace('-', '')[:20]}</serial></disk>\n"
        for v in disks
    )
    mem = vm.ram // 1024
    return (
        f"<domain type='kvm'>\n<name>{vm.name}</name>\n<uuid>{vm.uuid}</uuid>\n"
        f"<description>{vm.os}</description>\n"
        "<sysinfo type='smbios'>\n<system>\n<entry name='manufacturer'>Apache Software Foundation</entry>\n"
        "<entry name='product'>CloudStack KVM Hypervisor</entry>\n"
        f"<entry name='uuid'>{vm.uuid}</entry>\n</system>\n</sysinfo>\n"
        "<os>\n<type  arch='x86_64' machine='pc'>hvm</type>\n<boot dev='cdrom'/>\n<boot dev='hd'/>\n"
        "<smbios mode='sysinfo'/>\n</os>\n"
        f"<cpu></cpu>\n<memory>{mem}</memory>\n<currentMemory>{mem}</currentMemory>\n"
        f"<vcpu>{vm.cpus}</vcpu>\n<features>\n<pae/>\n<apic/>\n<acpi/>\n</features>\n"
        "<clock offset='utc'>\n<timer name='kvmclock' >\n</timer>\n</clock>\n"
        "<devices>\n<memballoon model='virtio'>\n</memballoon>\n<emulator>/usr/libexec/qemu-kvm</emulator>\n"
        f"{disk_xml}"
        "<disk  device='cdrom' type='file'>\n<driver name='qemu' type='raw' cache='none' />\n"
        "<source file=''/>\n<target dev='hdc' bus='ide'/>\n</disk>\n"
        "<serial type='pty'>\n<target port='0'/>\n</serial>\n"
        f"<graphics type='vnc' autoport='yes' listen='{vm.host.ip if vm.host else ''}' passwd='********'/>\n"
        "<channel type='unix'>\n<source mode='bind' path='/var/lib/libvirt/qemu/"
        f"{vm.name}.org.qemu.guest_agent.0'/>\n"
        "<target type='virtio' name='org.qemu.guest_agent.0'/>\n</channel>\n"
        "<console type='pty'>\n<target port='0'/>\n</console>\n<input type='tablet' bus='usb'/>\n"
        f"<interface type='bridge'>\n<source bridge='cloudbr0'/>\n<mac address='{vm.mac}'/>\n"
        "<model type='virtio'/>\n<bandwidth>\n<inbound average='25000' peak='25000'/>\n"
        "<outbound average='25000' peak='25000'/>\n</bandwidth>\n</interface>\n</devices>\n"
        "<on_reboot>restart</on_reboot>\n<on_poweroff>destroy</on_poweroff>\n<on_crash>destroy</on_crash>\n"
        "</domain>\n"
    )
