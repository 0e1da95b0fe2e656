"""Line templates for CloudStack 2.2-era logs (MS, KVM agent, libvirt qemu).

Every template cites the section of ``shared/reference/cloudstack-log-formats.md`` it encodes.
JSON payloads are built from dicts in Gson field order (subclass fields first, ``null`` fields
omitted; ref §2.3) and serialised without spaces, as Gson does.
"""

from __future__ import annotations

import json
from typing import Any

from logparse.simulate.model import Host, Pool, Vm, Volume

# ref §1.2: %-5p pads the level to five characters, so "INFO  [" and "WARN  [" have two spaces.
LEVEL = {"TRACE": "TRACE", "DEBUG": "DEBUG", "INFO": "INFO ", "WARN": "WARN ", "ERROR": "ERROR"}

# ref §2.1 Flags (binary of a short): REQUEST 0x1, STOP_ON_ERROR 0x2, IN_SEQUENCE 0x4,
# FROM_SERVER 0x20, COMPRESSED 0x80.
FLAGS_START_22 = 0b100111  # MS -> agent, executeInSequence() (2.2 StartCommand, StopCommand)
FLAGS_CMD = 0b100011  # MS -> agent, not in sequence (stats, 4.x StartCommand)
FLAGS_ANS_SEQ = 0b110  # 2.2 StartAnswer
FLAGS_ANS = 0b10  # answers to non-sequenced commands
FLAGS_CONTROL_ANS = 0b100010  # PingAnswer / StartupAnswer sent by the MS
FLAGS_AGENT_REQ = 0b11  # agent-originated request (ping, startup), MgmtId -1
COMPRESSED = 0x80
COMPRESS_THRESHOLD = 8192  # ref §2.1: payloads >= 8192 bytes are gzip'ed; the receiver sees 0x80


def dumps(obj: Any) -> str:
    """Gson-like compact JSON (no spaces; ``\\n``/``\\t`` escaped; ref §2.3)."""
    return json.dumps(obj, separators=(",", ":"))


def transport(
    agent_id: int, seq: int, msg: str, kind: str, mgmt_id: int, via: str, flags: int, content: str
) -> str:
    """``Request.log`` (ref §2.1).

    ``"Seq " + agentId + "-" + seq + ": " + msg + " { " + type + ", MgmtId: " + mgmtId +
    ", via: " + via + ", Ver: v1, Flags: " + binary(flags) + ", " + content + " }"``.
    ``kind`` is ``"Cmd "`` or ``"Ans: "``; ``msg`` is ``"Sending "``, ``"Received: "``,
    ``"Processing: "`` or ``""`` -- hence ``Sending  {`` and ``Seq 3-1:  {`` with two spaces.
    """
    return (
        f"Seq {agent_id}-{seq}: {msg} {{ {kind}, MgmtId: {mgmt_id}, via: {via}, Ver: v1, "
        f"Flags: {flags:b}, {content} }}"
    )


def receiver_flags(flags: int, payload: str) -> int:
    """Flags as the receiving side logs them: big payloads arrive compressed (ref §2.1)."""
    return flags | COMPRESSED if len(payload) >= COMPRESS_THRESHOLD else flags


# ---------------------------------------------------------------------------------------
# 2.2 StartCommand / answers (ref §2.4: VirtualMachineTO + VolumeTO[], short class keys)
# ---------------------------------------------------------------------------------------


def volume_to_22(vol: Volume, pool: Pool) -> dict[str, Any]:
    """``VolumeTO`` in field order ``id, name, mountPoint, path, size, type, storagePoolType,
    storagePoolUuid, deviceId`` (chainInfo/guestOsType null -> omitted). A NULL device_id is
    sent as 0 (``if (volume.getDeviceId() != null)`` guard; ref §2.4)."""
    return {
        "id": vol.id,
        "name": vol.name,
        "mountPoint": pool.path,
        "path": f"/mnt/{pool.uuid}/{vol.uuid}",
        "size": vol.size,
        "type": vol.vtype,
        "storagePoolType": "NetworkFilesystem",
        "storagePoolUuid": pool.uuid,
        "deviceId": vol.device_id if vol.device_id is not None else 0,
    }


def iso_to_22(vm: Vm) -> dict[str, Any]:
    """The ISO slot appended by ``finalizeVirtualMachineProfile``: id = the VM id, deviceId 3,
    path null when no ISO is attached (ref §2.4)."""
    return {
        "id": vm.id,
        "name": vm.template,
        "size": 0,
        "type": "ISO",
        "storagePoolType": "ISO",
        "deviceId": 3,
    }


def vm_to_22(vm: Vm, pool: Pool, vlan: int) -> dict[str, Any]:
    """``VirtualMachineTO`` (2.2.14 field order; bootloader/hostName/bootupScripts null).
    ``vncPassword`` has no ``@LogLevel`` in 2.2.14 and is printed in clear (ref §2.3)."""
    disks = [volume_to_22(v, pool) for v in vm.volumes]  # creation (volume id) order
    disks.append(iso_to_22(vm))
    return {
        "id": vm.id,
        "name": vm.name,
        "type": "User",
        "cpus": vm.cpus,
        "speed": vm.speed,
        "minRam": vm.ram,
        "maxRam": vm.ram,
        "arch": "x86_64",
        "os": vm.os,
        "bootArgs": "",
        "rebootOnCrash": False,
        "enableHA": vm.ha,
        "limitCpuUse": False,
        "vncPassword": vm.vnc_password,
        "params": {},
        "disks": disks,
        "nics": [
            {
                "deviceId": 0,
                "networkRateMbps": 200,
                "defaultNic": True,
                "ip": vm.ip,
                "netmask": "255.255.255.0",
                "gateway": "10.1.2.1",
                "mac": vm.mac,
                "dns1": "10.1.1.1",
                "broadcastType": "Vlan",
                "type": "Guest",
                "broadcastUri": f"vlan://{vlan}",
                "isolationUri": f"vlan://{vlan}",
                "isSecurityGroupEnabled": False,
            }
        ],
    }


def start_command_22(vmto: dict[str, Any]) -> str:
    """``[{"StartCommand":{"vm":{…},"wait":0}}]`` (ref §2.4)."""
    return dumps([{"StartCommand": {"vm": vmto, "wait": 0}}])


def start_answer_22(vmto: dict[str, Any]) -> str:
    """StartAnswer fields first, then Answer, then Command (ref §2.3)."""
    return dumps([{"StartAnswer": {"vm": vmto, "result": True, "wait": 0}}])


def generic_answer(details: str) -> str:
    """The ``Answer`` built by ``Agent.processRequest`` after ``Caught:`` (ref §3.2 item 6)."""
    return dumps([{"Answer": {"result": False, "details": details, "wait": 0}}])


# ---------------------------------------------------------------------------------------
# Stack traces (log4j 1: exception on the lines after the message; ref §5.1)
# ---------------------------------------------------------------------------------------

_POOL_TAIL_JDK6 = (
    "java.util.concurrent.ThreadPoolExecutor$Worker.runTask(ThreadPoolExecutor.java:886)",
    "java.util.concurrent.ThreadPoolExecutor$Worker.run(ThreadPoolExecutor.java:908)",
    "java.lang.Thread.run(Thread.java:662)",
)
_AGENT_TAIL_22 = (
    "com.cloud.agent.resource.computing.LibvirtComputingResource.executeRequest(LibvirtComputingResource.java:921)",
    "com.cloud.agent.Agent.processRequest(Agent.java:539)",
    "com.cloud.agent.Agent$AgentRequestHandler.doTask(Agent.java:849)",
    "com.cloud.utils.nio.Task.run(Task.java:85)",
    *_POOL_TAIL_JDK6,
)
# ref §3.4: line numbers from the 2.2.14 source (2364, 2294, 921, 539, 849, 85; 3266, 2201,
# 2318); JDK 6 ArrayList.java:367 is illustrative.
IOOBE_FRAMES_22 = (
    "java.util.ArrayList.add(ArrayList.java:367)",
    "com.cloud.agent.resource.computing.LibvirtComputingResource.createVbd(LibvirtComputingResource.java:2364)",
    "com.cloud.agent.resource.computing.LibvirtComputingResource.execute(LibvirtComputingResource.java:2294)",
    *_AGENT_TAIL_22,
)
NPE_FRAMES_22 = (
    "com.cloud.agent.resource.computing.LibvirtComputingResource.cleanupVMNetworks(LibvirtComputingResource.java:3266)",
    "com.cloud.agent.resource.computing.LibvirtComputingResource.handleVmStartFailure(LibvirtComputingResource.java:2201)",
    "com.cloud.agent.resource.computing.LibvirtComputingResource.execute(LibvirtComputingResource.java:2318)",
    *_AGENT_TAIL_22,
)
# ref §3.4: Commands.java:81 and VirtualMachineManagerImpl.java:765/827 come from the source;
# the rest of the MS frames are illustrative (CglibThrowableRenderer drops <generated> frames).
_MS_START_TAIL_22 = (
    "com.cloud.vm.VirtualMachineManagerImpl.start(VirtualMachineManagerImpl.java:472)",
    "com.cloud.vm.UserVmManagerImpl.startVirtualMachine(UserVmManagerImpl.java:2807)",
    "com.cloud.vm.UserVmManagerImpl.startVirtualMachine(UserVmManagerImpl.java:2745)",
    "com.cloud.api.commands.StartVMCmd.execute(StartVMCmd.java:113)",
    "com.cloud.api.ApiDispatcher.dispatch(ApiDispatcher.java:138)",
    "com.cloud.async.AsyncJobManagerImpl$1.run(AsyncJobManagerImpl.java:432)",
    "java.util.concurrent.Executors$RunnableAdapter.call(Executors.java:441)",
    "java.util.concurrent.FutureTask$Sync.innerRun(FutureTask.java:303)",
    "java.util.concurrent.FutureTask.run(FutureTask.java:138)",
    *_POOL_TAIL_JDK6,
)
_MS_HA_TAIL_22 = (
    "com.cloud.vm.VirtualMachineManagerImpl.start(VirtualMachineManagerImpl.java:472)",
    "com.cloud.ha.HighAvailabilityManagerImpl.restart(HighAvailabilityManagerImpl.java:527)",
    "com.cloud.ha.HighAvailabilityManagerImpl$WorkerThread.run(HighAvailabilityManagerImpl.java:1009)",
)
NO_START_ANSWER = "Unable to get answer that is of class com.cloud.agent.api.StartAnswer"
CRE = "com.cloud.utils.exception.CloudRuntimeException"


def trace(header: str, frames: tuple[str, ...] | list[str]) -> str:
    """Java ``printStackTrace`` text: header line, then ``\\tat frame`` lines."""
    return header + "\n" + "".join(f"\tat {f}\n" for f in frames)


def ioobe_trace_22(index: int, size: int) -> str:
    """The masked first exception (ref §3.4)."""
    return trace(f"java.lang.IndexOutOfBoundsException: Index: {index}, Size: {size}", IOOBE_FRAMES_22)


NPE_TRACE_22 = trace("java.lang.NullPointerException", NPE_FRAMES_22)


def ms_start_failure_trace_22(ha: bool) -> str:
    """``Failed to start instance VM[…]`` + CloudRuntimeException (ref §3.4)."""
    tail = _MS_HA_TAIL_22 if ha else _MS_START_TAIL_22
    frames = (
        "com.cloud.agent.manager.Commands.getAnswer(Commands.java:81)",
        "com.cloud.vm.VirtualMachineManagerImpl.advanceStart(VirtualMachineManagerImpl.java:765)",
        *tail,
    )
    return trace(f"{CRE}: {NO_START_ANSWER}", frames)


def agent_unavailable_trace_22(host_id: int) -> str:
    """ApiDispatcher ``Exception: `` + AgentUnavailableException with ``Caused by:`` (ref §3.4).

    CglibThrowableRenderer prints ``... N more`` with N = frames of the enclosing throwable
    minus one (ref §5.1).
    """
    outer = (
        "com.cloud.vm.VirtualMachineManagerImpl.advanceStart(VirtualMachineManagerImpl.java:827)",
        *_MS_START_TAIL_22,
    )
    head = (
        f"com.cloud.exception.AgentUnavailableException: Resource [Host:{host_id}] is unreachable: "
        f"Host {host_id}: Unable to start instance"
    )
    return (
        trace(head, outer)
        + f"Caused by: {CRE}: {NO_START_ANSWER}\n"
        + "\tat com.cloud.agent.manager.Commands.getAnswer(Commands.java:81)\n"
        + "\tat com.cloud.vm.VirtualMachineManagerImpl.advanceStart(VirtualMachineManagerImpl.java:765)\n"
        + f"\t... {len(outer) - 1} more\n"
    )


def no_upgrade_path_trace_22(db: str, code: str) -> str:
    """DatabaseUpgradeChecker refusing a downgrade (ref §5.2 ``There is no upgrade path``)."""
    frames = (
        "com.cloud.upgrade.DatabaseUpgradeChecker.upgrade(DatabaseUpgradeChecker.java:161)",
        "com.cloud.upgrade.DatabaseUpgradeChecker.check(DatabaseUpgradeChecker.java:262)",
        "com.cloud.utils.component.ComponentLocator.parse(ComponentLocator.java:259)",
        "com.cloud.utils.component.ComponentLocator.getLocatorInternal(ComponentLocator.java:816)",
        "com.cloud.utils.component.ComponentLocator.getLocator(ComponentLocator.java:848)",
        "com.cloud.servlet.CloudStartupServlet.init(CloudStartupServlet.java:45)",
        "org.apache.catalina.core.StandardWrapper.loadServlet(StandardWrapper.java:1173)",
        "org.apache.catalina.core.StandardWrapper.load(StandardWrapper.java:993)",
        "org.apache.catalina.core.StandardContext.loadOnStartup(StandardContext.java:4187)",
        "org.apache.catalina.core.StandardContext.start(StandardContext.java:4496)",
        "org.apache.catalina.startup.Bootstrap.start(Bootstrap.java:275)",
        "org.apache.catalina.startup.Bootstrap.main(Bootstrap.java:413)",
    )
    return trace(f"{CRE}: There is no upgrade path from {db} to {code}", frames)


# ---------------------------------------------------------------------------------------
# Domain XML (ref §3.2: 2.2.14 LibvirtVMDef.toString, Java 6 HashMap order) and qemu logs
# ---------------------------------------------------------------------------------------


def dev_label_22(device_id: int) -> str:
    """``DiskDef.getDevLabel`` 2.2.x: ``if (devId == 2) devId++;`` then ``vd`` + letter (ref §3.2)."""
    dev = 3 if device_id == 2 else device_id
    return "vd" + chr(ord("a") + dev)


def _disk_xml(path: str, label: str) -> str:
    return (
        "<disk  device='disk' type='file'>\n<driver name='qemu' type='qcow2' cache='none' />\n"
        f"<source file='{path}'/>\n<target dev='{label}' bus='virtio'/>\n</disk>\n"
    )


_CDROM_XML = (
    "<disk  device='cdrom' type='file'>\n<driver name='qemu' type='raw' cache='none' />\n"
    "<source file=''/>\n<target dev='hdc' bus='ide'/>\n</disk>\n"
)


def domain_xml_22(vm: Vm, pool: Pool, *, iso_first: bool, bridge: str) -> str:
    """``starting i-…: <domain …>`` body, continuation lines without timestamp (ref §3.2).

    2.2.13 adds disks in arrival order with the ISO last; 2.2.14 adds the ISO during the loop
    and the data disks after it, in device order (ref §3.3 diff).
    """
    disks = sorted(vm.volumes, key=lambda v: v.device_id or 0) if iso_first else list(vm.volumes)
    disk_xml = "".join(_disk_xml(f"/mnt/{pool.uuid}/{v.uuid}", dev_label_22(v.device_id or 0)) for v in disks)
    disk_xml = _CDROM_XML + disk_xml if iso_first else disk_xml + _CDROM_XML
    mem_kib = vm.ram // 1024
    return (
        f"<domain type='kvm'>\n<name>{vm.name}</name>\n<uuid>{vm.uuid}</uuid>\n"
        f"<description>{vm.os}</description>\n"
        "<clock offset='utc'>\n</clock>\n"
        "<features>\n<pae/>\n<apic/>\n<acpi/>\n</features>\n"
        f"<memory>{mem_kib}</memory>\n<currentMemory>{mem_kib}</currentMemory>\n<vcpu>{vm.cpus}</vcpu>\n"
        "<devices>\n<emulator>/usr/libexec/qemu-kvm</emulator>\n"
        f"<interface type='bridge'>\n<source bridge='{bridge}'/>\n<mac address='{vm.mac}'/>\n"
        "<model type='virtio'/>\n</interface>\n"
        "<input type='tablet' bus='usb'/>\n"
        f"<graphics type='vnc' autoport='yes' listen='' passwd='{vm.vnc_password}'/>\n"
        "<console type='pty'>\n<target port='0'/>\n</console>\n"
        f"{disk_xml}"
        "<serial type='pty'>\n<target port='0'/>\n</serial>\n</devices>\n"
        "<on_reboot>restart</on_reboot>\n<on_poweroff>destroy</on_poweroff>\n<on_crash>destroy</on_crash>\n"
        "<os>\n<type  arch='x86_64' machine='pc'>hvm</type>\n<boot dev='cdrom'/>\n<boot dev='hd'/>\n</os>\n"
        "</domain>\n"
    )


def qemu_command_line(
    vm: Vm,
    pool: Pool,
    *,
    machine: str,
    emulator: str,
    labels: list[tuple[str, str]],
    vnc_port: int,
    tap_fd: int,
) -> str:
    """The one long qemu command line libvirt writes after ``starting up`` (ref §1.6).

    ``drive-virtio-diskN`` follows the target letter (vda→0, vdb→1, vdd→3); the CD-ROM is
    ``drive-ide0-1-0``.
    """
    mem_mib = vm.ram // (1024 * 1024)
    parts = [
        f"LC_ALL=C PATH=/sbin:/usr/sbin:/bin:/usr/bin QEMU_AUDIO_DRV=none {emulator} -S -M {machine} "
        f"-enable-kvm -m {mem_mib} -smp {vm.cpus},sockets={vm.cpus},cores=1,threads=1 -name {vm.name} "
        f"-uuid {vm.uuid} -nodefconfig -nodefaults -chardev socket,id=charmonitor,"
        f"path=/var/lib/libvirt/qemu/{vm.name}.monitor,server,nowait -mon chardev=charmonitor,"
        "id=monitor,mode=control -rtc base=utc -no-shutdown "
        "-device piix3-usb-uhci,id=usb,bus=pci.0,addr=0x1.0x2"
    ]
    slot = 4
    for path, label in labels:
        idx = ord(label[2]) - ord("a")
        parts.append(
            f"-drive file={path},if=none,id=drive-virtio-disk{idx},format=qcow2,cache=none "
            f"-device virtio-blk-pci,bus=pci.0,addr=0x{slot:x},drive=drive-virtio-disk{idx},"
            f"id=virtio-disk{idx}" + (",bootindex=1" if idx == 0 else "")
        )
        slot += 1
    parts.append(
        "-drive if=none,media=cdrom,id=drive-ide0-1-0,readonly=on,format=raw "
        "-device ide-drive,bus=ide.1,unit=0,drive=drive-ide0-1-0,id=ide0-1-0 "
        f"-netdev tap,fd={tap_fd},id=hostnet0,vhost=on,vhostfd={tap_fd + 1} "
        f"-device virtio-net-pci,netdev=hostnet0,id=net0,mac={vm.mac},bus=pci.0,addr=0x3 "
        "-chardev pty,id=charserial0 -device isa-serial,chardev=charserial0,id=serial0 "
        f"-usb -device usb-tablet,id=input0 -vnc 0.0.0.0:{vnc_port - 5900},password -vga cirrus "
        f"-device virtio-balloon-pci,id=balloon0,bus=pci.0,addr=0x{slot:x}"
    )
    return " ".join(parts) + "\n"


def host_label(host: Host) -> str:
    """``Host[-3-Routing]`` (ref §4.3)."""
    return f"Host[-{host.id}-Routing]"
