"""Render a ground truth in words (Markdown), for ``sample_logs/README.md``.

Every number comes from the ground-truth dict; nothing is typed by hand, and a test checks
that the README still contains what this function renders for the committed samples.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from logparse.simulate.model import disk_cause

_CAUSE_WORDS = {
    "disk_order": "disk array out of device-id order",
    "disk_gap": "gap in the device ids (other than 3)",
    "many_data_disks": "three or more data disks",
    "null_device": "a data disk with a NULL device id (no diskSeq)",
    "capacity": "insufficient capacity (no host fits; no command sent)",
}
_LAYOUT_WORDS = {
    "disk_order": "device ids out of creation order",
    "disk_gap": "a device-id gap (other than 3)",
    "many_data_disks": "three or more data disks in order",
    "null_device": "a NULL device id",
}
_CAUSE_ORDER = ("disk_order", "disk_gap", "many_data_disks", "null_device", "capacity")


def _t(iso: str) -> str:
    return iso.replace("T", " ")


def _layout(vm: dict[str, Any]) -> str | None:
    disks = vm["disks"]
    if any(d["device_id"] is None for d in disks):
        return "null_device"
    return disk_cause([(d["type"], d["device_id"]) for d in disks])


def describe(truth: dict[str, Any]) -> str:
    """Markdown bullet list describing ``truth`` (see the ground-truth schema, issue #3)."""
    vms = truth["vms"]
    attempts = truth["start_attempts"]
    events = truth["events"]
    lines = [
        f"Scenario `{truth['scenario']}`, seed {truth['seed']}: "
        f"{len(truth['hosts'])} KVM hosts ({', '.join(h['name'] for h in truth['hosts'])}), "
        f"{len(vms)} user VMs, {len(truth['files'])} log files.",
        "",
    ]
    with_data = sum(1 for v in vms if any(d["type"] == "DATADISK" for d in v["disks"]))
    layouts = Counter(_layout(v) for v in vms)
    odd = ", ".join(f"{layouts[c]} with {_LAYOUT_WORDS[c]}" for c in _CAUSE_ORDER if layouts.get(c))
    lines.append(
        f"- Disk layouts (final state, volume-id order): {with_data} VMs have data disks"
        + (f"; {odd}." if odd else "; all in device-id order without gaps.")
    )
    ok = sum(1 for a in attempts if a["outcome"] == "succeeded")
    failed = [a for a in attempts if a["outcome"] == "failed"]
    by_cause = Counter(a["cause"] for a in failed)
    causes = "; ".join(f"{by_cause[c]} {_CAUSE_WORDS[c]}" for c in _CAUSE_ORDER if by_cause.get(c))
    lines.append(
        f"- Start attempts: {len(attempts)} ({ok} succeeded, {len(failed)} failed"
        + (f": {causes}" if causes else "")
        + ")."
    )
    if failed:
        per_vm: dict[str, list[dict[str, Any]]] = {}
        for a in failed:
            per_vm.setdefault(a["vm"], []).append(a)
        lines.append(f"- VMs that failed to start at least once: {len(per_vm)}.")
        for name, fails in per_vm.items():
            hosts = sorted({a["host"] for a in fails if a["host"]})
            kinds = sorted({a["cause"] for a in fails}, key=_CAUSE_ORDER.index)
            agents = sorted({a["agent_version"] for a in fails if a["agent_version"]})
            where = f" on {', '.join(hosts)} (agent {', '.join(agents)})" if hosts else ""
            later = [
                a
                for a in attempts
                if a["vm"] == name and a["outcome"] == "succeeded" and a["time"] > fails[-1]["time"]
            ]
            after = (
                f"; started later at {_t(later[0]['time'])} on {later[0]['host']} (agent "
                f"{later[0]['agent_version']})"
                if later
                else "; still stopped at the end"
            )
            lines.append(
                f"  - `{name}`: {len(fails)} failed attempt(s), first {_t(fails[0]['time'])}, "
                f"cause {', '.join(kinds)}{where}{after}."
            )
    else:
        lines.append("- No start failed.")
    event_counts = Counter(e["kind"] for e in events)
    for kind, label in (("upgrade", "Upgrade"), ("rollback", "Rollback")):
        for e in (e for e in events if e["kind"] == kind):
            lines.append(f"- {label}: {_t(e['time'])} on {e['host']} (to {e['version']}).")
    starts = [e for e in events if e["kind"] == "ms_start"]
    if starts:
        lines.append(
            f"- Management-server starts: {len(starts)} ("
            + ", ".join(f"{_t(e['time'])} code {e['version']}" for e in starts)
            + ")."
        )
    restarts = [e for e in events if e["kind"] == "agent_restart"]
    if restarts:
        lines.append(
            f"- Agent (re)starts: {len(restarts)} ("
            + ", ".join(f"{e['host']} {e['version']} at {_t(e['time'])}" for e in restarts)
            + ")."
        )
    for kind, label in (
        ("host_down", "Host disconnects / outages"),
        ("host_reinstalled", "Hosts reinstalled"),
    ):
        sel = [e for e in events if e["kind"] == kind]
        if sel:
            lines.append(
                f"- {label}: {event_counts[kind]} ("
                + ", ".join(f"{e['host']} at {_t(e['time'])}" for e in sel)
                + ")."
            )
    mixed = sorted({(a["agent_version"], a["ms_version"]) for a in attempts if a["agent_version"]})
    if len(mixed) > 1:
        lines.append(
            "- Agent / MS version pairs seen by start attempts: "
            + ", ".join(f"agent {a} with MS {m}" for a, m in mixed)
            + "."
        )
    return "\n".join(lines) + "\n"
