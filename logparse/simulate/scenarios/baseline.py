"""Scenario ``baseline``: a healthy 2.2.13 cluster, noise only, no failures.

Three ordinary days, a routine MS restart in the night of day two and an agent restart on
``kvm02``. The disk layouts are the same mix as in the incident (some out of device order),
which 2.2.13 starts without complaint: a control group for the analyser.
"""

from __future__ import annotations

from logparse.simulate.core import DAY_MS, Bundle, SimulationError
from logparse.simulate.engine22 import Cluster22
from logparse.simulate.scenarios.common import at, day_start, normal_day, when
from logparse.simulate.sim import RunOptions

NAME = "baseline"
LOG_ROOT = "var/log/cloud"
BASE_DAYS = 3
#: noise characters one host adds per simulated day at scale 1 (measured with seed 1;
#: 2.2: pings, stats, UI polling); only used to pick how many ordinary days a large ``size`` adds
NOISE_PER_HOST_DAY = 1_500_000


def validate(hosts: int, vms: int) -> None:
    """Any cluster with a host and a VM will do."""
    if hosts < 1 or vms < 1:
        msg = f"{NAME} needs at least one host and one VM"
        raise SimulationError(msg)


def run(b: Bundle, opts: RunOptions) -> Cluster22:
    """Write three (plus ``extra_days``) healthy days into ``b``."""
    d5 = day_start(2013, 8, 5)
    start = d5 - opts.extra_days * DAY_MS
    end = at(day_start(2013, 8, 7), 18, 0)
    c = Cluster22(b, opts, start=start, end=end, version="2.2.13", log_root=LOG_ROOT)
    c.place_quietly("2.2.13", running=0.8)
    for d in range(opts.extra_days + 1):
        normal_day(c, start + d * DAY_MS)
    d6 = day_start(2013, 8, 6)
    c.advance_to(when(c, d6, 2, 0))
    c.ms_stop()
    c.advance_to(when(c, d6, 2, 4))
    c.ms_start("2.2.13")
    normal_day(c, d6)
    restarted = c.hosts[1] if len(c.hosts) > 1 else c.hosts[0]
    c.advance_to(when(c, d6, 22, 30))
    c.agent_stop(restarted)
    c.advance_to(c.now + 40_000)
    c.agent_start(restarted, "2.2.13")
    normal_day(c, day_start(2013, 8, 7), until_hour=18)
    c.finish()
    return c
