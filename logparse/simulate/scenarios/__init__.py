"""Scenario scripts: each module has ``NAME``, ``BASE_DAYS``, ``validate(hosts, vms)`` and ``run(bundle, opts)``."""

from __future__ import annotations

from types import ModuleType

from logparse.simulate.scenarios import baseline, null_device_4x, upgrade_2214

#: scenario name -> module, in the order the CLI lists them
SCENARIOS: dict[str, ModuleType] = {
    upgrade_2214.NAME: upgrade_2214,
    null_device_4x.NAME: null_device_4x,
    baseline.NAME: baseline,
}

__all__ = ["SCENARIOS"]
