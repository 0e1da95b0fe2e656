"""Scenario ``upgrade-2.2.14``: the August 2013 incident (``shared/reference/incident-2013.md``).

Timeline (default; ``extra_days`` prepends ordinary 2.2.13 days):

* 2013-08-06 and most of 08-07: ordinary 2.2.13 operation (DEBUG MS and agents).
* 08-07 19:30 maintenance window: VMs with data disks and every VM of the RAID host are
  stopped, the RAID host (``kvm02``) is powered off; the RAID work runs late.
* 08-07 22:20 upgrade to 2.2.14: agents stopped, MS restarted with the DB upgrade, agents
  started as 2.2.14; the RAID host comes back at 23:35 with a 2.2.14 agent. The stopped VMs
  are started: those whose StartCommand disk array is out of device order, gappy or holds three
  or more data disks fail with the §3.4 cascade; the admins retry them.
* 08-08 09:40 rollback: the 2.2.13 code refuses the 2.2.14 database (no upgrade path), the DB
  dump is restored, the MS starts as 2.2.13; all agents but the last host's go back to 2.2.13.
  Starts landing on the host left at 2.2.14 keep failing. An afternoon test re-upgrades
  ``kvm01``'s agent for half an hour.
* 08-09 (Friday): experiments on production: two MS restarts, network flaps, an accidental
  reboot of ``kvm01`` (HA restarts), and the reproduction: detaching and re-attaching a failing
  VM's disks in creation order makes it start on the 2.2.14 host.
* 08-09 23:30: the other hosts are emptied and, after midnight, reinstalled; from 00:40 on 08-10
  everything is started on the one host left until capacity runs out (``Unable to create a
  deployment`` confounders). The bundle is collected at 02:15.
"""

from __future__ import annotations

from logparse.simulate.core import DAY_MS, Bundle, SimulationError
from logparse.simulate.engine22 import MS_NAME, Cluster22
from logparse.simulate.model import Vm, disk_cause
from logparse.simulate.scenarios.common import at, day_start, normal_day, stop_many, when
from logparse.simulate.sim import RunOptions

NAME = "upgrade-2.2.14"
LOG_ROOT = "var/log/cloud"  # ref §1.4: 2.2.x paths
BASE_DAYS = 5  # 08-06 .. 08-10
#: noise characters one host adds per simulated day at scale 1 (measured with seed 1;
#: 2.2: pings, stats, UI polling); only used to pick how many ordinary days a large ``size`` adds
NOISE_PER_HOST_DAY = 1_400_000


def validate(hosts: int, vms: int) -> None:
    """The story needs a host that rolls back and one that stays on 2.2.14."""
    if hosts < 2:
        msg = f"{NAME} needs at least 2 hosts (got {hosts})"
        raise SimulationError(msg)
    if vms < 12:
        msg = f"{NAME} needs at least 12 VMs (got {vms})"
        raise SimulationError(msg)


def _bad(v: Vm) -> bool:
    return disk_cause([(x.vtype, x.device_id or 0) for x in v.volumes]) is not None


def run(b: Bundle, opts: RunOptions) -> Cluster22:
    """Write the incident into ``b`` and return the simulator (it holds the ground truth)."""
    d6 = day_start(2013, 8, 6)
    start = d6 - opts.extra_days * DAY_MS
    end = at(day_start(2013, 8, 10), 2, 15)  # the support bundle is collected that night
    c = Cluster22(b, opts, start=start, end=end, version="2.2.13", log_root=LOG_ROOT)
    r = c.rng
    c.place_quietly("2.2.13", running=0.85)
    survivor, raid, stays14 = c.hosts[0], c.hosts[1], c.hosts[-1]

    for d in range(opts.extra_days + 1):
        normal_day(c, start + d * DAY_MS)

    # -- 08-07: a normal day, then the maintenance window and the upgrade ----------------
    d7 = day_start(2013, 8, 7)
    normal_day(c, d7, until_hour=19)
    c.advance_to(when(c, d7, 19, 30))
    maint = [v for v in c.vms if v.state == "Running" and (v.host is raid or len(v.volumes) > 1)]
    stop_many(c, maint, 15, 70)
    c.advance_to(when(c, d7, 20, 5))
    c.host_poweroff(raid)
    c.advance_to(when(c, d7, 22, 20))
    for h in c.hosts:
        if h.agent_up:
            c.agent_stop(h)
            c.step(20_000, 60_000)
    c.advance_to(c.now + 60_000)
    c.ms_stop()
    c.advance_to(when(c, d7, 22, 41))
    c.ms_start("2.2.14")
    for h in c.hosts:
        if h.machine_up and not h.agent_up:
            c.advance_to(c.now + r.randint(90_000, 240_000))
            c.agent_start(h, "2.2.14")
    c.advance_to(when(c, d7, 23, 35))
    c.host_boot(raid, "2.2.14")

    c.advance_to(when(c, d7, 23, 50))
    order = [v for v in maint if v.state == "Stopped"]
    r.shuffle(order)
    for v in order:
        c.advance_to(c.now + r.randint(25_000, 120_000))
        c.start_vm(v)
    # the admins retry what failed, some on another host
    for _ in range(2):
        for v in [v for v in maint if v.state == "Stopped"]:
            c.advance_to(c.now + r.randint(60_000, 300_000))
            others = [h for h in c.hosts if c.usable(h)]
            c.start_vm(v, prefer=r.choice(others) if r.random() < 0.5 else None)

    # -- 08-08: rollback -------------------------------------------------------------
    d8 = day_start(2013, 8, 8)
    c.advance_to(when(c, d8, 9, 40))
    for h in c.hosts:
        if h.agent_up:
            c.agent_stop(h)
            c.step(10_000, 40_000)
    c.ms_stop()
    c.advance_to(when(c, d8, 10, 2))
    c.event("rollback", MS_NAME, "2.2.13")
    c.ms_start("2.2.13")  # refuses the 2.2.14 database (ref §5.2 "no upgrade path")
    c.advance_to(when(c, d8, 10, 31))
    c.set_db_version("2.2.13")  # the pre-upgrade dump is restored
    c.ms_start("2.2.13")
    for h in c.hosts:
        c.advance_to(c.now + r.randint(60_000, 200_000))
        c.agent_start(h, "2.2.14" if h is stays14 else "2.2.13")  # the last host is forgotten
    c.advance_to(when(c, d8, 10, 55))
    still = [v for v in c.vms if v.state == "Stopped" and _bad(v)]
    for i, v in enumerate(still):
        c.advance_to(c.now + r.randint(40_000, 200_000))
        c.start_vm(v, prefer=stays14 if i % 2 == 0 else None)
    # an afternoon test: kvm01's agent back on 2.2.14 for half an hour
    c.advance_to(when(c, d8, 15, 0))
    c.agent_stop(survivor)
    c.agent_start(survivor, "2.2.14")
    c.advance_to(when(c, d8, 15, 12))
    test = [v for v in c.vms if v.state == "Stopped" and _bad(v)]
    if test:
        c.start_vm(test[0], prefer=survivor)
    c.advance_to(when(c, d8, 15, 45))
    c.agent_stop(survivor)
    c.agent_start(survivor, "2.2.13")
    normal_day(c, d8, until_hour=24, keep=frozenset(v.id for v in test))

    # -- 08-09 (Friday): experiments on production -------------------------------------
    d9 = day_start(2013, 8, 9)
    c.advance_to(when(c, d9, 9, 10))
    c.ms_stop()
    c.advance_to(when(c, d9, 9, 14))
    c.ms_start("2.2.13")
    c.advance_to(when(c, d9, 10, 30))
    c.network_flap(raid, 190)
    c.advance_to(when(c, d9, 11, 15))
    victims = [v for v in c.vms if v.host is survivor and v.state == "Running"]
    for v in c.host_down(survivor):
        c.ha_restart(v)
    c.advance_to(when(c, d9, 11, 27))
    c.host_boot(survivor, "2.2.13")
    c.advance_to(when(c, d9, 12, 0))
    for v in victims:
        if v.state == "Stopped":
            c.advance_to(c.now + r.randint(30_000, 150_000))
            c.start_vm(v)
    c.advance_to(when(c, d9, 14, 0))
    c.ms_stop()
    c.advance_to(when(c, d9, 14, 3))
    c.ms_start("2.2.13")
    # the reproduction: re-attach a failing VM's data disks in creation order
    c.advance_to(when(c, d9, 15, 30))
    for v in [v for v in c.vms if v.state == "Stopped" and _bad(v)][:2]:
        data = [x for x in v.volumes if x.vtype == "DATADISK"]
        for x in data:
            c.advance_to(c.now + r.randint(20_000, 60_000))
            c.detach_volume(v, x)
        for x in data:
            c.advance_to(c.now + r.randint(20_000, 60_000))
            c.attach_volume(v, x)
        c.advance_to(c.now + r.randint(60_000, 180_000))
        c.start_vm(v, prefer=stays14)
    c.advance_to(when(c, d9, 17, 5))
    c.network_flap(stays14, 130)
    normal_day(c, d9, until_hour=21)

    # -- Friday night: the other hosts are reinstalled; one host left --------------------
    c.advance_to(when(c, d9, 23, 30))
    stop_many(c, [v for v in c.vms if v.state == "Running" and v.host is not survivor], 10, 45)
    d10 = day_start(2013, 8, 10)
    c.advance_to(max(c.now, when(c, d10, 0, 5)))
    for h in c.hosts[1:]:
        c.host_poweroff(h, reinstall=True)
        c.advance_to(c.now + r.randint(120_000, 400_000))
    c.advance_to(when(c, d10, 0, 40))
    waiting = [v for v in c.vms if v.state == "Stopped"]
    waiting.sort(key=lambda v: (not v.ha, v.id))
    capacity_failures = 0
    for v in waiting:
        c.advance_to(c.now + r.randint(40_000, 160_000))
        attempt = c.start_vm(v)
        if attempt["cause"] == "capacity":
            capacity_failures += 1
            if capacity_failures >= 3 and any(
                a["cause"] == "capacity" and not _bad(c.vms_by_id[a["vm_id"]]) for a in c.attempts
            ):
                break
    c.finish()
    return c
