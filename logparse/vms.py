"""Per-VM rows: disk layout as the latest StartCommand carried it, and how its starts went.

One row per VM seen in a start attempt (``logparse vms``). ``disks`` is the array order of
the latest StartCommand (ISO excluded): a compact ``volume_id:TYPE:device_id`` string in
tables and CSV (``5:ROOT:0 7:DATADISK:2 8:DATADISK:1``), a list of dicts in JSON.

Usage::

    from logparse.correlate import analyze
    from logparse.vms import iter_vm_rows
    for row in iter_vm_rows(analyze(["sample_logs/upgrade-2.2.14"])):
        print(row["vm"], row["disks"], row["failures"])
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .correlate import Analysis, StartAttempt

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["VM_COLUMNS", "disks_compact", "iter_vm_rows", "vms_frame"]

#: Output columns of ``logparse vms``, in order.
VM_COLUMNS = (
    "vm",
    "vm_id",
    "vm_type",
    "disks",
    "disk_count",
    "data_disks",
    "out_of_order",
    "gaps",
    "duplicate_device",
    "null_device",
    "disk_order_mismatch",
    "starts",
    "failures",
    "first_failure",
    "last_outcome",
    "hosts",
    "fingerprints",
    "source",
    "line",
)


def disks_compact(disks: list[dict[str, Any]]) -> str:
    """``[{"volume_id": 5, "type": "ROOT", "device_id": 0}, …]`` → ``5:ROOT:0 …`` (NULL → ``-``)."""
    parts = []
    for d in disks:
        dev = d.get("device_id")
        vol = d.get("volume_id")
        parts.append(f"{'?' if vol is None else vol}:{d.get('type') or '?'}:{'-' if dev is None else dev}")
    return " ".join(parts)


def _sort_key(a: StartAttempt) -> tuple[str, int, str]:
    return (a.time or "", a.line or 0, a.seq or "")


def iter_vm_rows(analysis: Analysis, *, compact_disks: bool = False) -> Iterator[dict[str, Any]]:
    """Yield one row per VM (sorted by VM name), with ``VM_COLUMNS`` keys.

    :param compact_disks: ``disks`` as the compact string (tables, CSV) instead of a list.
    """
    by_vm: dict[str, list[StartAttempt]] = {}
    for a in analysis.attempts:
        by_vm.setdefault(a.vm, []).append(a)
    for vm in sorted(by_vm):
        attempts = sorted(by_vm[vm], key=_sort_key)
        with_disks = [a for a in attempts if a.disk_count is not None]
        latest = with_disks[-1] if with_disks else None
        failed = [a for a in attempts if a.outcome == "failed"]
        hosts: list[str] = []
        for a in attempts:
            h = a.host or (f"host-{a.host_id}" if a.host_id is not None else None)
            if h and h not in hosts:
                hosts.append(h)
        fps: list[str] = []
        for a in failed:
            for fp in a.fingerprints:
                if fp not in fps:
                    fps.append(fp)
        vm_id = next((a.vm_id for a in reversed(attempts) if a.vm_id is not None), None)
        vm_type = next((a.vm_type for a in reversed(attempts) if a.vm_type), None)
        disks = [dict(d) for d in latest.disks] if latest is not None else []
        where = latest.command_line if latest is not None and latest.command_line else None
        if where is None and attempts:
            where = f"{attempts[-1].source}:{attempts[-1].line}" if attempts[-1].source else None
        source, line = _split_loc(where)
        yield {
            "vm": vm,
            "vm_id": vm_id,
            "vm_type": vm_type,
            "disks": disks_compact(disks) if compact_disks else disks,
            "disk_count": latest.disk_count if latest else None,
            "data_disks": latest.data_disks if latest else None,
            "out_of_order": latest.out_of_order if latest else None,
            "gaps": latest.gaps if latest else None,
            "duplicate_device": latest.duplicate_device if latest else None,
            "null_device": latest.null_device if latest else None,
            "disk_order_mismatch": latest.disk_order_mismatch if latest else None,
            "starts": len(attempts),
            "failures": len(failed),
            "first_failure": failed[0].time if failed else None,
            "last_outcome": attempts[-1].outcome,
            "hosts": hosts,
            "fingerprints": fps,
            "source": source,
            "line": line,
        }


def _split_loc(loc: str | None) -> tuple[str | None, int | None]:
    if not loc:
        return None, None
    src, _, line = loc.rpartition(":")
    return (src, int(line)) if src and line.isdigit() else (loc, None)


def vms_frame(analysis: Analysis) -> pd.DataFrame:
    """The VM rows as a DataFrame with ``VM_COLUMNS`` (``disks`` as the compact string).

    Nullable dtypes: ``Int64`` counts/ids, ``boolean`` flags, ``str`` text; ``hosts`` and
    ``fingerprints`` hold lists.
    """
    import pandas as pd

    rows = list(iter_vm_rows(analysis, compact_disks=True))
    data: dict[str, Any] = {}
    for c in VM_COLUMNS:
        values = [r[c] for r in rows]
        if c in _INT_COLUMNS:
            data[c] = pd.array(values, dtype="Int64")
        elif c in _BOOL_COLUMNS:
            data[c] = pd.array(values, dtype="boolean")
        elif c in ("hosts", "fingerprints"):
            data[c] = pd.Series(values, dtype="object")
        else:
            data[c] = pd.array(values, dtype="str")
    return pd.DataFrame(data, columns=list(VM_COLUMNS))


_INT_COLUMNS = frozenset({"vm_id", "disk_count", "data_disks", "starts", "failures", "line"})
_BOOL_COLUMNS = frozenset({"out_of_order", "gaps", "duplicate_device", "null_device", "disk_order_mismatch"})
