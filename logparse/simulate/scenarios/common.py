"""Helpers shared by the scenario scripts: wall-clock times and an ordinary working day."""

from __future__ import annotations

from datetime import datetime

from logparse.simulate.core import DAY_MS, HOUR_MS, MIN_MS, to_ms
from logparse.simulate.engine22 import Cluster22
from logparse.simulate.model import Vm, Volume


def day_start(year: int, month: int, day: int) -> int:
    """Simulator time of midnight on a date."""
    return to_ms(datetime(year, month, day))


def at(day0: int, hh: int, mm: int, ss: int = 0) -> int:
    """Simulator time ``hh:mm:ss`` on the day starting at ``day0``."""
    return day0 + (hh * 60 + mm) * MIN_MS + ss * 1000


def when(c: Cluster22, d0: int, hh: int, mm: int) -> int:
    """``hh:mm`` on the day ``d0`` plus up to 45 s: people do not act on the exact minute."""
    return at(d0, hh, mm) + c.rng.randint(0, 45_000)


def normal_day(
    c: Cluster22, d0: int, *, until_hour: int = 24, keep: frozenset[int] = frozenset(), volumes: bool = True
) -> None:
    """An ordinary day of a 2.2 cluster: morning starts, a few volume changes, evening stops.

    VMs whose id is in ``keep`` are left alone (the scenario steers them itself). Volume
    changes only touch VMs without data disks or with one, attaching a spare (lowest free device
    id) or detaching what was attached earlier, so layouts drift the way they do in real life:
    an older spare attached next to a newer disk is out of creation order (ref §6).
    """
    r = c.rng
    plan: list[tuple[int, int, str]] = []
    for i in range(r.randint(1, 4)):
        plan.append((d0 + r.randint(int(7.5 * HOUR_MS), 10 * HOUR_MS), i, "start"))
    for i in range(r.randint(0, 2) if volumes else 0):
        plan.append((d0 + r.randint(10 * HOUR_MS, 17 * HOUR_MS), 10 + i, "volume"))
    for i in range(r.randint(1, 3)):
        plan.append((d0 + r.randint(int(17.5 * HOUR_MS), 21 * HOUR_MS), 20 + i, "stop"))
    plan.sort()
    for t, _, kind in plan:
        if t >= d0 + until_hour * HOUR_MS or t < c.now:
            continue  # outside the window, or the scenario was busy with something else
        c.advance_to(t)
        if kind == "start":
            stopped = [v for v in c.vms if v.state == "Stopped" and v.id not in keep]
            if stopped:
                c.start_vm(r.choice(stopped))
        elif kind == "stop":
            running = [v for v in c.vms if v.state == "Running" and not v.ha and v.id not in keep]
            if running:
                c.stop_vm(r.choice(running))
        else:
            _volume_change(c, keep)


def _volume_change(c: Cluster22, keep: frozenset[int]) -> None:
    r = c.rng
    small = [v for v in c.vms if v.id not in keep and len(v.volumes) <= 2 and v.profile in ("root", "one")]
    if not small:
        return
    vm: Vm = r.choice(small)
    extra = [v for v in vm.volumes if v.vtype == "DATADISK" and v.name.startswith("spare-")]
    if extra:
        c.detach_volume(vm, extra[0])
        return
    spares: list[Volume] = [v for v in c.spares if v.name.startswith("spare-")]
    if spares and len(vm.volumes) < 3:
        c.attach_volume(vm, r.choice(spares))


def stop_many(c: Cluster22, vms: list[Vm], lo_s: int, hi_s: int) -> None:
    """Stop ``vms`` one after another, ``lo_s..hi_s`` seconds apart."""
    for v in vms:
        if v.state == "Running":
            c.advance_to(c.now + c.rng.randint(lo_s * 1000, hi_s * 1000))
            c.stop_vm(v)


def midnight_after(t: int) -> int:
    """The next midnight after ``t``."""
    return (t // DAY_MS + 1) * DAY_MS
