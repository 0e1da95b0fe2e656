"""Rows for ``logparse traces``: one per occurrence, or grouped by fingerprint.

Occurrences come from :func:`logparse.stacktraces.parse_traces` on every record; masked
exceptions are linked with :func:`logparse.stacktraces.link_masks`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .models import Record
from .stacktraces import (
    MaskLink,
    StackTrace,
    TraceOccurrence,
    describe_mask,
    link_masks,
    message_template,
    parse_traces,
)

EACH_COLUMNS = (
    "source", "line", "timestamp", "host", "thread", "exception", "message", "root_cause",
    "root_message", "fingerprint", "where", "origin", "frames", "vms", "jobs", "seq", "logid",
    "masks", "masked_by",
)
GROUP_COLUMNS = (
    "fingerprint", "count", "exception", "root_cause", "where", "role", "first_seen", "last_seen",
    "hosts", "vms", "jobs", "example", "message",
)


@dataclass(slots=True)
class TraceSet:
    """All trace occurrences of an input with the record ids they came with."""

    occurrences: list[TraceOccurrence]
    vms: list[tuple[str, ...]]
    jobs: list[tuple[int, ...]]
    masks: list[MaskLink]

    @property
    def masked_by(self) -> dict[int, int]:
        return {m.primary_index: m.masking_index for m in self.masks}

    @property
    def masking(self) -> dict[int, int]:
        return {m.masking_index: m.primary_index for m in self.masks}


def collect_traces(records: Iterable[Record], window_ms: int = 2000) -> TraceSet:
    """Parse the traces of every record and link masking exceptions."""
    occ: list[TraceOccurrence] = []
    vms: list[tuple[str, ...]] = []
    jobs: list[tuple[int, ...]] = []
    for r in records:
        for t in parse_traces(r.text):
            occ.append(TraceOccurrence(r.source, r.line + t.line_offset, r.timestamp, r.host,
                                       r.thread, r.seq, r.logid, t))
            vms.append(r.vms)
            jobs.append(r.jobs)
    return TraceSet(occ, vms, jobs, link_masks(occ, window_ms))


def where(trace: StackTrace) -> str:
    """``Class.method`` of the first CloudStack frame (or the first frame)."""
    f = trace.first_app_frame
    return f"{f.cls.rsplit('.', 1)[-1]}.{f.method}" if f is not None else ""


def _frame_str(trace: StackTrace) -> list[str]:
    return [
        f"{f.cls}.{f.method}({f.file}:{f.line})" if f.line is not None
        else f"{f.cls}.{f.method}({f.file or 'Unknown Source'})"
        for f in trace.frames
    ]


def each_rows(ts: TraceSet) -> list[dict[str, Any]]:
    """One row per occurrence."""
    mb, mk = ts.masked_by, ts.masking
    rows = []
    for i, o in enumerate(ts.occurrences):
        t = o.trace
        masks = ts.occurrences[mk[i]] if i in mk else None
        masked = ts.occurrences[mb[i]] if i in mb else None
        rows.append({
            "source": o.source, "line": o.line, "timestamp": o.timestamp, "host": o.host,
            "thread": o.thread, "exception": t.exception, "message": t.message,
            "root_cause": t.root_cause, "root_message": t.root_message, "fingerprint": t.fingerprint,
            "where": where(t), "origin": t.origin, "frames": _frame_str(t), "vms": list(ts.vms[i]),
            "jobs": list(ts.jobs[i]), "seq": o.seq, "logid": o.logid,
            "masks": f"{masks.source}:{masks.line}" if masks else None,
            "masked_by": f"{masked.source}:{masked.line}" if masked else None,
        })
    return rows


def group_rows(ts: TraceSet) -> list[dict[str, Any]]:
    """One row per fingerprint, most frequent first (ties: first seen)."""
    mb, mk = ts.masked_by, ts.masking
    groups: dict[str, dict[str, Any]] = {}
    for i, o in enumerate(ts.occurrences):
        t = o.trace
        g = groups.get(t.fingerprint)
        if g is None:
            g = groups[t.fingerprint] = {
                "fingerprint": t.fingerprint, "count": 0, "exception": t.exception,
                "root_cause": t.root_cause, "where": where(t), "roles": set(), "first_seen": o.timestamp,
                "last_seen": o.timestamp, "hosts": {}, "vms": {}, "jobs": {},
                "example": f"{o.source}:{o.line}", "message": message_template(t.message), "_order": i,
                "masks": [],
            }
        g["count"] += 1
        if o.timestamp and (g["first_seen"] is None or o.timestamp < g["first_seen"]):
            g["first_seen"] = o.timestamp
        if o.timestamp and (g["last_seen"] is None or o.timestamp > g["last_seen"]):
            g["last_seen"] = o.timestamp
        g["hosts"][o.host] = None
        for v in ts.vms[i]:
            g["vms"][v] = None
        for j in ts.jobs[i]:
            g["jobs"][j] = None
        if i in mk:
            g["roles"].add("masking")
            g["masks"].append(describe_mask(ts.occurrences[mk[i]], o))
        if i in mb:
            g["roles"].add("primary")
    out = []
    for g in sorted(groups.values(), key=lambda g: (-g["count"], g["_order"])):
        roles = g.pop("roles")
        g.pop("_order")
        masks = g.pop("masks")
        g["role"] = "/".join(sorted(roles)) if roles else ""
        if masks:
            g["role"] += f" ({masks[0]})"
        g["hosts"] = sorted(g["hosts"])
        g["vms"] = sorted(g["vms"])
        g["jobs"] = sorted(g["jobs"])
        out.append(g)
    return out
