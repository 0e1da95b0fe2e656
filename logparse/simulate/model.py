"""Cluster model shared by the scenarios: pools, hosts, VMs, volumes and the device-id rules.

Everything here is plain data plus the few CloudStack rules the simulator must get right:
how device ids are handed out (ref §6), in which order the StartCommand lists the disks
(ref §2.4) and when the 2.2.14 KVM agent's ``vols.add(devId, disk)`` throws (ref §3.3).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# ref §6: without an explicit deviceId, attach takes the lowest free id of 1..14 minus 3
# (3 is the CD-ROM).
FREE_DEVICE_IDS = tuple(i for i in range(1, 15) if i != 3)

#: Causes of a failed start, in the order the ground truth prefers them (issue #3).
DISK_CAUSES = ("disk_order", "disk_gap", "many_data_disks")


@dataclass(slots=True, eq=False)
class Pool:
    """A primary storage pool (NFS)."""

    id: int
    uuid: str
    name: str
    host: str
    path: str


@dataclass(slots=True, eq=False)
class Volume:
    """A row of ``cloud.volumes``: ``id`` is the creation order (ref §6)."""

    id: int
    uuid: str
    name: str
    vtype: str
    size: int
    vm_id: int | None = None
    device_id: int | None = None


@dataclass(slots=True, eq=False)
class Host:
    """A KVM host with its agent; ``version`` is the running agent's version."""

    name: str
    id: int
    ip: str
    guid: str
    uuid: str
    ram: int
    cpu_mhz: int
    version: str = ""
    stamp: str = ""
    machine_up: bool = True  # the hypervisor is powered on
    agent_up: bool = False  # the cloud-agent process runs
    connected: bool = False  # the agent is connected to the management server
    reinstalled: bool = False
    conn_gen: int = 0  # bumps on every (re)connect; stale noise tasks check it
    seq: int = 0  # next MS -> agent sequence number (ref §2.1)
    aseq: int = 0  # next agent -> MS sequence number (pings, startup)
    pid: int = 0
    used_ram: int = 0
    new_states: dict[str, str] = field(default_factory=dict)  # reported by the next ping


@dataclass(slots=True, eq=False)
class Vm:
    """A user VM. ``volumes`` holds the attached volumes, kept in volume-id order."""

    id: int
    account_id: int
    name: str
    uuid: str
    cpus: int
    speed: int
    ram: int
    os: str
    template: str
    ha: bool
    vnc_password: str
    mac: str
    ip: str
    state: str = "Stopped"
    host: Host | None = None
    last_host: Host | None = None
    vnc_port: int = 0
    nic_uuid: str = ""
    net_uuid: str = ""
    profile: str = ""  # the pre-history that produced the disk layout (for the narrative)
    volumes: list[Volume] = field(default_factory=list)


def lowest_free_device(vm: Vm) -> int:
    """Return the device id attach gives a volume when none is requested (ref §6)."""
    taken = {v.device_id for v in vm.volumes}
    for dev in FREE_DEVICE_IDS:
        if dev not in taken:
            return dev
    msg = f"{vm.name} has no free device id left"
    raise ValueError(msg)


def attach(vm: Vm, vol: Volume, device_id: int | None = None) -> int:
    """Attach ``vol`` to ``vm`` the way ``attachVolumeToVM`` does and return its device id."""
    dev = lowest_free_device(vm) if device_id is None else device_id
    vol.vm_id = vm.id
    vol.device_id = dev
    vm.volumes.append(vol)
    vm.volumes.sort(key=lambda v: v.id)  # findUsableVolumesForInstance: id order (ref §2.4)
    return dev


def detach(vm: Vm, vol: Volume) -> None:
    """Detach: ``instance_id`` and ``device_id`` become NULL (ref §6)."""
    vm.volumes.remove(vol)
    vol.vm_id = None
    vol.device_id = None


def arraylist_add_failure(device_ids: list[int]) -> tuple[int, int] | None:
    """Emulate 2.2.14 ``createVbd``'s ``vols.add(devId, disk)`` (ref §3.3).

    JDK 6 ``ArrayList.add(index, e)`` throws ``IndexOutOfBoundsException("Index: " + index +
    ", Size: " + size)`` when ``index > size``. Returns ``(index, size)`` of the first throw,
    or None when every disk goes in.
    """
    for size, dev in enumerate(device_ids):  # size = disks already in the list
        if dev > size or dev < 0:
            return dev, size
    return None


def disk_cause(disks: list[tuple[str, int]]) -> str | None:
    """Classify a non-ISO disk array ``[(type, device_id), ...]`` (array order).

    Returns the first of ``disk_order``, ``disk_gap``, ``many_data_disks`` that applies, or
    None when the array is in device order without a gap (other than 3) and has at most two
    data disks. For distinct device ids this is exactly "2.2.14 fails" (checked against
    :func:`arraylist_add_failure` in the tests).
    """
    devs = [d for _, d in disks]
    if not devs:
        return None
    if devs != sorted(devs):
        return "disk_order"
    present = set(devs)
    if any(i not in present for i in range(max(devs)) if i != 3):
        return "disk_gap"
    if sum(1 for t, _ in disks if t == "DATADISK") >= 3:
        return "many_data_disks"
    return None


def gib(n: float) -> int:
    """Return ``n`` GiB in bytes."""
    return int(n * 1024**3)


def human_size(n: int) -> str:
    """Format bytes as CloudStack's ``toReadableSize`` does: ``512.00 MB``, ``20.00 GB`` (ref §2.3)."""
    units = ("bytes", "KB", "MB", "GB", "TB")
    value = float(n)
    unit = 0
    while value >= 1024 and unit < len(units) - 1:
        value /= 1024
        unit += 1
    if unit == 0:
        return f"{n} bytes"
    return f"{value:.2f} {units[unit]}"
