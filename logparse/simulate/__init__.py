"""Realistic CloudStack incident logs of any size, with ground truth (issue #3).

Usage::

    from pathlib import Path
    from logparse.simulate import simulate
    truth = simulate("upgrade-2.2.14", Path("/tmp/bundle"), seed=1)
    failed = [a for a in truth["start_attempts"] if a["outcome"] == "failed"]

The output is a support-bundle-like tree (``ms1/var/log/cloud/management/…``,
``kvm01/var/log/cloud/agent/…``, ``kvm01/var/log/libvirt/qemu/…``) plus ``ground_truth.json``.
The same seed, size and sizes of the cluster give byte-identical files.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from logparse.simulate.core import Bundle, SimulationError
from logparse.simulate.engine22 import MS_NAME
from logparse.simulate.scenarios import SCENARIOS
from logparse.simulate.sim import RunOptions

__all__ = ["SCENARIOS", "SimulationError", "SimulationResult", "generate", "parse_size", "simulate"]

_MAX_SCALE_FOR_DAYS = 12  # beyond ~12x ping/stats density, add ordinary days instead
_MAX_EXTRA_DAYS = 120
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str) -> int:
    """Parse ``500MB``, ``1GB``, ``1.5G``, ``200k``, ``300KiB`` or plain bytes (units are 1024-based).

    :raises SimulationError: when the text is not a size.
    """
    m = _SIZE_RE.match(text)
    if (
        m is None
        or (m.group(3) and m.group(3).lower() not in ("b", "ib"))
        or (m.group(3).lower() == "ib" and not m.group(2))
    ):
        msg = f"not a size: {text!r} (examples: 500MB, 1GB, 200k, 1048576)"
        raise SimulationError(msg)
    value = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if value < 1:
        msg = f"size must be at least 1 byte: {text!r}"
        raise SimulationError(msg)
    return int(value)


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """What :func:`generate` wrote: the ground truth and the byte counts."""

    truth: dict[str, Any]
    files: int  # log files plus ground_truth.json
    uncompressed_bytes: int  # all logs as if no file were gzip'ed, plus ground_truth.json
    disk_bytes: int  # what the tree takes on disk


def simulate(
    scenario: str, outdir: Path, *, seed: int = 1, size: int | None = None, hosts: int = 3, vms: int = 45
) -> dict[str, Any]:
    """Write the logs of ``scenario`` into ``outdir`` and return the ground truth.

    A thin wrapper around :func:`generate` (same parameters), which also reports byte counts.

    :param scenario: ``upgrade-2.2.14``, ``null-device-4x`` or ``baseline``.
    :param outdir: directory to create (it must not exist or be empty).
    :param seed: the only source of randomness; the same seed gives the same bytes.
    :param size: approximate total uncompressed bytes; more noise (ping/stats density and
        extra ordinary days before the incident) is added until the total gets there.
    :param hosts: number of KVM hosts (``kvm01`` …).
    :param vms: number of user VMs.
    :returns: the ground truth, also written to ``outdir/ground_truth.json``.
    :raises SimulationError: unknown scenario, bad numbers, or a non-empty ``outdir``.
    """
    return generate(scenario, outdir, seed=seed, size=size, hosts=hosts, vms=vms).truth


def generate(
    scenario: str, outdir: Path, *, seed: int = 1, size: int | None = None, hosts: int = 3, vms: int = 45
) -> SimulationResult:
    """Like :func:`simulate`, returning a :class:`SimulationResult`."""
    spec = SCENARIOS.get(scenario)
    if spec is None:
        msg = f"unknown scenario {scenario!r} (choose from {', '.join(SCENARIOS)})"
        raise SimulationError(msg)
    if not 1 <= hosts <= 99:
        msg = f"hosts must be between 1 and 99 (got {hosts})"
        raise SimulationError(msg)
    if not 1 <= vms <= 2000:
        msg = f"vms must be between 1 and 2000 (got {vms})"
        raise SimulationError(msg)
    if size is not None and size < 1:
        msg = f"size must be positive (got {size})"
        raise SimulationError(msg)
    spec.validate(hosts, vms)
    outdir = Path(outdir)
    if outdir.exists() and (not outdir.is_dir() or any(outdir.iterdir())):
        msg = f"{outdir} exists and is not an empty directory"
        raise SimulationError(msg)

    extra_days = 0
    curve: list[int] | None = None
    level = 9
    if size is not None:
        level = 1  # rotated days of a big run: fast gzip, in the background thread
        per_day = spec.NOISE_PER_HOST_DAY * hosts
        days_needed = -(-size // (per_day * _MAX_SCALE_FOR_DAYS))
        extra_days = max(0, min(_MAX_EXTRA_DAYS, days_needed - spec.BASE_DAYS))
        dry = Bundle(outdir, dry_run=True)
        sim = spec.run(dry, RunOptions(seed=seed, hosts=hosts, vms=vms, noise=False, extra_days=extra_days))
        dry.close()
        curve = sim.curve_out
    outdir.mkdir(parents=True, exist_ok=True)
    bundle = Bundle(outdir, compress_level=level)
    try:
        opts = RunOptions(
            seed=seed, hosts=hosts, vms=vms, noise=True, target=size, curve=curve, extra_days=extra_days
        )
        sim = spec.run(bundle, opts)
    finally:
        files = bundle.close()
    truth: dict[str, Any] = {
        "schema_version": 1,
        "scenario": scenario,
        "seed": seed,
        "hosts": [{"name": h.name, "host_id": h.id, "ip": h.ip} for h in sim.hosts],
        "management_servers": [{"name": MS_NAME, "msid": sim.msid}],
        "vms": [
            {
                "name": v.name,
                "id": v.id,
                "account_id": v.account_id,
                "disks": [
                    {"volume_id": d.id, "name": d.name, "type": d.vtype, "device_id": d.device_id}
                    for d in v.volumes
                ],
            }
            for v in sim.vms
        ],
        "start_attempts": sim.attempts,
        "events": sim.events,
        "files": files,
    }
    text = json.dumps(truth, indent=1, sort_keys=False) + "\n"
    (outdir / "ground_truth.json").write_text(text, encoding="utf-8")
    disk = sum((outdir / f).stat().st_size for f in files) + len(text)
    return SimulationResult(
        truth=truth, files=len(files) + 1, uncompressed_bytes=bundle.total + len(text), disk_bytes=disk
    )
