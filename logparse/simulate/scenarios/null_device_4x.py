"""Scenario ``null-device-4x``: a 4.15 cluster where volumes with a NULL ``device_id`` cannot start.

Some data volumes were left with ``device_id`` NULL by a storage clean-up (ref §6). Their
``DiskTO`` has no ``diskSeq``, and the agent's disk comparator unboxes the null ``Long``
(ref §3.5): ``Caught:`` + NullPointerException on the agent, a generic ``Answer``,
``Unable to get answer that is of class com.cloud.agent.api.StartAnswer`` on the MS, which
leaves ``orchestrateStart`` through ``VmWorkJobHandlerProxy`` and fails the job with 530.

Timeline (default): 2021-03-10 and 03-11 ordinary days; 03-11 22:00 a storage maintenance
stops every VM, then the MS and the agents are restarted; 03-12 07:30 all VMs are started
(the NULL-device ones fail, an oversized VM fails for capacity) and retried; late on 03-12 an
agent restart and another round of retries that runs past midnight; the bundle is collected
at 00:50 on 03-13. Out-of-order device ids start fine here: 4.x sorts.
"""

from __future__ import annotations

from logparse.simulate.core import DAY_MS, Bundle, SimulationError
from logparse.simulate.engine4x import Cluster4x
from logparse.simulate.scenarios.common import at, day_start, normal_day, stop_many, when
from logparse.simulate.sim import RunOptions

NAME = "null-device-4x"
LOG_ROOT = "var/log/cloudstack"  # ref §1.4: 4.1+ paths
BASE_DAYS = 4
#: noise characters one host adds per simulated day at scale 1 (measured with seed 1;
#: 4.15 pings carry a VM state report); only used to pick how many ordinary days a large ``size`` adds
NOISE_PER_HOST_DAY = 3_500_000
VERSION = "4.15.0.0"


def validate(hosts: int, vms: int) -> None:
    """Needs room for the NULL-device VMs, the oversized one and healthy ones."""
    if hosts < 1:
        msg = f"{NAME} needs at least one host"
        raise SimulationError(msg)
    if vms < 6:
        msg = f"{NAME} needs at least 6 VMs (got {vms})"
        raise SimulationError(msg)


def run(b: Bundle, opts: RunOptions) -> Cluster4x:
    """Write the 4.x scenario into ``b`` and return the simulator."""
    d10 = day_start(2021, 3, 10)
    start = d10 - opts.extra_days * DAY_MS
    end = at(day_start(2021, 3, 13), 0, 50)
    c = Cluster4x(b, opts, start=start, end=end, version=VERSION, log_root=LOG_ROOT)
    r = c.rng
    c.place_quietly(VERSION, running=0.85)
    for d in range(opts.extra_days + 1):
        normal_day(c, start + d * DAY_MS, volumes=False)
    d11 = day_start(2021, 3, 11)
    normal_day(c, d11, until_hour=21, volumes=False)

    c.advance_to(when(c, d11, 22, 0))  # storage maintenance: everything is stopped
    stop_many(c, [v for v in c.vms if v.state == "Running"], 8, 40)
    c.advance_to(when(c, d11, 23, 30))
    c.ms_stop()
    c.advance_to(when(c, d11, 23, 36))
    c.ms_start(VERSION)
    for h in c.hosts:
        c.advance_to(c.now + r.randint(60_000, 180_000))
        c.agent_stop(h)
        c.advance_to(c.now + r.randint(20_000, 60_000))
        c.agent_start(h, VERSION)

    d12 = day_start(2021, 3, 12)
    c.advance_to(when(c, d12, 7, 30))
    order = [v for v in c.vms if v.state == "Stopped"]
    r.shuffle(order)
    for v in order:
        c.advance_to(c.now + r.randint(20_000, 90_000))
        c.start_vm(v)
    c.advance_to(when(c, d12, 10, 0))
    for v in [v for v in c.vms if v.state == "Stopped"]:
        c.advance_to(c.now + r.randint(60_000, 240_000))
        c.start_vm(v)
    normal_day(c, d12, volumes=False, keep=frozenset(v.id for v in c.vms if v.state == "Stopped"))

    restarted = c.hosts[1] if len(c.hosts) > 1 else c.hosts[0]
    c.advance_to(when(c, d12, 22, 40))
    c.agent_stop(restarted)
    c.advance_to(c.now + 30_000)
    c.agent_start(restarted, VERSION)
    c.advance_to(when(c, d12, 23, 50))
    for v in [v for v in c.vms if v.state == "Stopped"]:
        c.advance_to(c.now + r.randint(60_000, 240_000))
        c.start_vm(v)
    c.finish()
    return c
