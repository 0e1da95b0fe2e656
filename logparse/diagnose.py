"""Ranked findings from an :class:`~logparse.correlate.Analysis`: what failing starts share.

``diagnose(analysis)`` compares failed and successful start attempts feature by feature
(disk layout as the StartCommand carried it, host, agent/MS version, before/after an
upgrade) with 2x2 tables and Fisher's exact test, and adds the findings that need no
statistics: exceptions that masked others, upgrades and rollbacks, mixed versions,
exceptions new since a change, capacity failures, slow or unanswered agent commands.

Rules:

* Failures for lack of capacity (``failure_kind == "capacity"``: no host could take the
  VM, no StartCommand was sent) are left out of every feature table and reported as their
  own ``capacity_failures`` finding, so they are never blamed on disks.
* ``disk_order_mismatch`` is the union of the layouts 2.2.14 rejects (out of order, a gap,
  a disk at device 4 because 3 is the CD-ROM). When it covers every ``agent_exception``
  failure its components are folded into its ``stats["components"]`` instead of being
  listed again.
* A version context that every failure shares (``agent_version=2.2.14``, ``after_upgrade``)
  is also tried in conjunction with each disk feature ("disks not in device-id order *and*
  the agent runs 2.2.14"); the conjunction replaces the plain feature when its p-value is
  lower (``stats["condition"]``, ``stats["unconditioned"]``).
* A feature is reported when it makes failure more likely at ``p < alpha``. For ``≥ N
  disks`` only the best N is reported. A later feature whose failing VMs all carry the
  strongest feature gets ``stats["explained_by"]`` and at most ``warning`` severity (the
  2013 team's first suspect, "more than two disks", stays visible but ranks lower).
* Findings are ranked by severity, then score (``-log10 p`` for feature findings, a fixed
  base plus ``log10`` of the count for the others), then kind.

Output is deterministic: no run time, sorted keys inside ``stats``, stable ordering.

Usage::

    from logparse.correlate import analyze
    from logparse.diagnose import diagnose, render_text
    print(render_text(diagnose(analyze(["sample_logs/upgrade-2.2.14"]))))
"""

from __future__ import annotations

import bisect
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from statistics import median
from typing import Any

from .correlate import Analysis, Marker, StartAttempt, release_str
from .stats import Table2x2, feature_table, format_p

__all__ = [
    "FINDING_KINDS",
    "SCHEMA_VERSION",
    "Diagnosis",
    "Finding",
    "diagnose",
    "render_markdown",
    "render_text",
    "to_json",
]

SCHEMA_VERSION = 1

#: Every ``kind`` a finding can have (the JSON contract).
FINDING_KINDS = (
    "disk_order_mismatch",
    "disk_out_of_order",
    "disk_gap",
    "many_data_disks",
    "null_device",
    "duplicate_device",
    "disk_count",
    "host_feature",
    "version_feature",
    "start_failures",
    "masked_exception",
    "capacity_failures",
    "new_exception_after_change",
    "upgrade",
    "rollback",
    "mixed_versions",
    "slow_commands",
    "unanswered_commands",
)

SEVERITIES = ("critical", "error", "warning", "info")
_SEV_RANK = {s: i for i, s in enumerate(SEVERITIES)}

#: Evidence entries kept per finding in JSON (the total is in ``stats.evidence_total``).
JSON_EVIDENCE = 100
#: How many ``new_exception_after_change`` findings at most (the most frequent first).
MAX_NEW_EXCEPTIONS = 10
#: slow_commands: a host's p95 must exceed this many times the median p95 of the others …
SLOW_FACTOR = 3.0
#: … by at least this many ms, over at least this many answered commands.
SLOW_MIN_GAP_MS = 1000.0
SLOW_MIN_COUNT = 5
#: mixed_versions: shorter mismatches without any start inside are the upgrade rolling through.
MIXED_MIN_MS = 5 * 60_000


@dataclass(slots=True)
class Finding:
    """One ranked finding.

    ``title`` is a plain sentence with the numbers; ``stats`` holds the table (``a``,
    ``b``, ``c``, ``d``), ``p_value``, ``odds_ratio`` and kind-specific values;
    ``evidence`` is ``[{"source": file, "line": n}, …]``.
    """

    kind: str
    title: str
    severity: str
    score: float
    vms: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    table: Table2x2 | None = None
    labels: tuple[str, str] | None = None  # row labels of the 2x2 table

    def as_dict(self, max_evidence: int | None = JSON_EVIDENCE) -> dict[str, Any]:
        """JSON-ready dict (stats keys sorted, evidence capped)."""
        ev = self.evidence if max_evidence is None else self.evidence[:max_evidence]
        stats = dict(self.stats)
        if len(ev) < len(self.evidence):
            stats["evidence_total"] = len(self.evidence)
        return {
            "kind": self.kind,
            "title": self.title,
            "severity": self.severity,
            "score": self.score,
            "vms": list(self.vms),
            "stats": _sorted(stats),
            "evidence": [dict(e) for e in ev],
        }


@dataclass(slots=True)
class Diagnosis:
    """Findings (most important first), the start attempts they were built from, a summary."""

    findings: list[Finding]
    start_attempts: list[StartAttempt]
    summary: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Feature:
    key: str
    kind: str
    phrase: str  # "the StartCommand's disks are not in device-id order"
    labels: tuple[str, str]  # row labels: present, absent
    test: Callable[[StartAttempt], bool | None]
    disk: bool = False  # a disk-layout feature (needs the StartCommand)
    condition: str | None = None  # key of a context feature this one is conjoined with


# --------------------------------------------------------------------------- helpers


def _sorted(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _sorted(obj[k]) for k in sorted(obj)}
    if isinstance(obj, (list, tuple)):
        return [_sorted(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _evidence(locs: Iterable[str]) -> list[dict[str, Any]]:
    """``file:line`` strings → unique ``{"source", "line"}`` dicts, in first-seen order."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for loc in locs:
        if not loc or loc in seen:
            continue
        seen.add(loc)
        src, _, line = loc.rpartition(":")
        if src and line.isdigit():
            out.append({"source": src, "line": int(line)})
        else:
            out.append({"source": loc, "line": None})
    return out


def _host_label(a: StartAttempt) -> str | None:
    if a.host:
        return a.host
    return f"host-{a.host_id}" if a.host_id is not None else None


def _short_exc(desc: str) -> tuple[str, str | None]:
    """``java.lang.NullPointerException in cleanupVMNetworks`` → (``NullPointerException``,
    ``cleanupVMNetworks``)."""
    exc, _, where = desc.partition(" in ")
    return exc.rsplit(".", 1)[-1], (where or None)


def _exc_md(desc: str) -> str:
    name, where = _short_exc(desc)
    return f"`{name}` in `{where}`" if where else f"`{name}`"


def _fmt_time(ts: str | None) -> str:
    if not ts:
        return "?"
    return ts.replace("T", " ")[:16] + ("Z" if ts.endswith("Z") else "")


def _round(x: float, digits: int = 3) -> float:
    return float(round(x, digits))


def _vm_list(attempts: Iterable[StartAttempt]) -> list[str]:
    return sorted({a.vm for a in attempts})


def _attempt_evidence(attempts: Iterable[StartAttempt]) -> list[dict[str, Any]]:
    return _evidence(loc for a in sorted(attempts, key=_attempt_key) for loc in a.evidence)


def _attempt_key(a: StartAttempt) -> tuple[str, str, str]:
    return (a.time or "", a.vm, a.seq or "")


# --------------------------------------------------------------------------- features


def _disk_features(attempts: Sequence[StartAttempt]) -> list[_Feature]:
    feats = [
        _Feature(
            "disk_order_mismatch",
            "disk_order_mismatch",
            "the StartCommand's disks are not in device-id order",
            ("not in device-id order", "in device-id order"),
            lambda a: a.disk_order_mismatch,
            disk=True,
        ),
        _Feature(
            "out_of_order",
            "disk_out_of_order",
            "the StartCommand lists its disks out of device-id order",
            ("out of order", "in order"),
            lambda a: a.out_of_order,
            disk=True,
        ),
        _Feature(
            "gaps",
            "disk_gap",
            "the StartCommand's device ids have a gap",
            ("gap in device ids", "no gap"),
            lambda a: a.gaps,
            disk=True,
        ),
        _Feature(
            "many_data_disks",
            "many_data_disks",
            "the VM has 3 or more data disks",
            ("≥ 3 data disks", "≤ 2 data disks"),
            lambda a: None if a.data_disks is None else a.data_disks >= 3,
            disk=True,
        ),
        _Feature(
            "null_device",
            "null_device",
            "a disk has no device id (NULL)",
            ("NULL device id", "all device ids set"),
            lambda a: a.null_device,
            disk=True,
        ),
        _Feature(
            "duplicate_device",
            "duplicate_device",
            "two disks share a device id",
            ("duplicate device id", "distinct device ids"),
            lambda a: a.duplicate_device,
            disk=True,
        ),
    ]
    counts = sorted({a.disk_count for a in attempts if a.disk_count})
    for n in counts[1:]:
        feats.append(
            _Feature(
                f"disk_count>={n}",
                "disk_count",
                f"the VM has {n} or more disks",
                (f"≥ {n} disks", f"< {n} disks"),
                (lambda k: lambda a: None if a.disk_count is None else a.disk_count >= k)(n),
                disk=True,
            )
        )
    return feats


def _context_features(attempts: Sequence[StartAttempt], analysis: Analysis) -> list[_Feature]:
    feats: list[_Feature] = []
    hosts = sorted({h for a in attempts if (h := _host_label(a))})
    if len(hosts) > 1:
        for h in hosts:
            feats.append(
                _Feature(
                    f"host={h}",
                    "host_feature",
                    f"the start runs on host {h}",
                    (f"on {h}", "elsewhere"),
                    (lambda name: lambda a: None if _host_label(a) is None else _host_label(a) == name)(h),
                )
            )
    for attr, who in (("agent_version", "the agent"), ("ms_version", "the management server")):
        rels = sorted({r for a in attempts if (r := release_str(getattr(a, attr)))})
        if len(rels) > 1:
            for r in rels:
                feats.append(
                    _Feature(
                        f"{attr}={r}",
                        "version_feature",
                        f"{who} runs {r}",
                        (f"{r}", "other versions"),
                        (
                            lambda at, v: (
                                lambda a: None if getattr(a, at) is None else release_str(getattr(a, at)) == v
                            )
                        )(attr, r),
                    )
                )
    ups = [m for m in analysis.markers if m.kind in ("upgrade", "db_upgrade") and m.time]
    if ups:
        first = min(ups, key=lambda m: m.time or "")
        feats.append(
            _Feature(
                "after_upgrade",
                "version_feature",
                f"the start comes after the upgrade to {release_str(first.to_version)} "
                f"({_fmt_time(first.time)})",
                ("after the upgrade", "before"),
                lambda a: a.after_upgrade,
            )
        )
    return feats


def _failed_or_none(a: StartAttempt) -> bool | None:
    # Capacity failures are someone else's story: out of every feature table.
    if a.outcome == "unknown" or a.failure_kind == "capacity":
        return None
    return a.outcome == "failed"


def _feature_title(phrase: str, t: Table2x2) -> str:
    if t.b == 0 and t.c == 0:
        lead = f"Start failures happen when {phrase}"
    elif t.c == 0:
        lead = f"Start failures happen only when {phrase}"
    else:
        lead = f"Start failures are more frequent when {phrase}"
    return (
        f"{lead}: {t.a} of {t.present} such starts failed, {t.c} of {t.absent} others "
        f"(p = {format_p(t.p_value)})"
    )


def _severity_for(t: Table2x2) -> str:
    p = t.p_value
    rate = t.failure_rate_present or 0.0
    if p < 0.001 and rate >= 0.5:
        return "critical"
    if p < 0.01:
        return "error"
    return "warning"


_Row = tuple[_Feature, Table2x2, list[StartAttempt], list[StartAttempt]]


def _evaluate(feat: _Feature, pool: Sequence[StartAttempt]) -> _Row | None:
    """The feature's table if it makes failure more likely (no significance test yet)."""
    t = feature_table(pool, feat.test, _failed_or_none)
    if t.a == 0 or t.present == 0 or t.absent == 0:
        return None
    rp, ra = t.failure_rate_present, t.failure_rate_absent
    if rp is None or ra is None or rp <= ra:
        return None
    hit_all = [a for a in pool if feat.test(a)]
    hit_failed = [a for a in hit_all if a.outcome == "failed"]
    return feat, t, hit_failed, hit_all


def _conjoin(feat: _Feature, cond: _Feature) -> _Feature:
    def test(a: StartAttempt) -> bool | None:
        f = feat.test(a)
        if f is None or not f:
            return f
        return cond.test(a)

    return _Feature(
        feat.key,
        feat.kind,
        f"{feat.phrase} and {cond.phrase}",
        (f"{feat.labels[0]}, {cond.labels[0]}", "all other starts"),
        test,
        feat.disk,
        cond.key,
    )


def _better(r: _Row, best: _Row | None) -> bool:
    return best is None or (r[1].p_value, -r[1].odds_ratio) < (best[1].p_value, -best[1].odds_ratio)


def _feature_findings(attempts: Sequence[StartAttempt], analysis: Analysis, alpha: float) -> list[Finding]:
    pool = [a for a in attempts if _failed_or_none(a) is not None]
    if not pool:
        return []
    agent_failures = [a for a in pool if a.outcome == "failed" and a.failure_kind == "agent_exception"]
    context: list[_Row] = [
        r for f in _context_features(pool, analysis) if (r := _evaluate(f, pool)) is not None
    ]
    # A version context that every failure shares (an agent or MS version, "after the
    # upgrade"): disk features are also tested in conjunction with it, because the same
    # layout may start fine under other code (2.2.13 agents add disks in arrival order).
    # The conjunction must then beat the plain feature on its own p-value.
    necessary = [r[0] for r in context if r[0].kind == "version_feature" and r[1].c == 0 and r[1].b > 0]
    results: list[_Row] = []
    best_count: _Row | None = None
    for feat in _disk_features(pool):
        best: _Row | None = None
        for variant in (feat, *(_conjoin(feat, cond) for cond in necessary)):
            r = _evaluate(variant, pool)
            if r is not None and _better(r, best):
                best = r
        if best is None or best[1].p_value >= alpha:
            continue
        if feat.kind == "disk_count":
            # Report only the best N of "≥ N disks".
            if _better(best, best_count):
                best_count = best
            continue
        results.append(best)
    if best_count is not None:
        results.append(best_count)
    results += [r for r in context if r[1].p_value < alpha]

    by_key = {r[0].key: r for r in results}
    union = by_key.get("disk_order_mismatch")
    folded: set[str] = set()
    components: dict[str, int] = {}
    explains_all = False
    if union is not None:
        covered = {id(a) for a in union[2]}
        explains_all = bool(agent_failures) and all(id(a) in covered for a in agent_failures)
        for key in ("out_of_order", "gaps", "many_data_disks"):
            if key == "many_data_disks":
                components[key] = sum(1 for a in union[2] if (a.data_disks or 0) >= 3)
            else:
                components[key] = sum(1 for a in union[2] if getattr(a, key))
            r = by_key.get(key)
            same = r is not None and {id(a) for a in r[3]} == {id(a) for a in union[3]}
            if r is not None and (explains_all or same):
                folded.add(key)

    excluded = sum(1 for a in attempts if a.failure_kind == "capacity")
    findings: list[Finding] = []
    for feat, t, hit_failed, _hit_all in results:
        if feat.key in folded:
            continue
        stats: dict[str, Any] = {
            "feature": feat.key,
            **t.as_dict(),
            "failure_rate_present": _round(t.failure_rate_present or 0.0, 4),
            "failure_rate_absent": _round(t.failure_rate_absent or 0.0, 4),
        }
        if feat.condition is not None:
            stats["condition"] = feat.condition
            base = feature_table(pool, _plain_test(feat.key, pool), _failed_or_none)
            stats["unconditioned"] = {
                k: v for k, v in base.as_dict().items() if k in ("a", "b", "c", "d", "p_value")
            }
        if feat.key == "disk_order_mismatch":
            stats["components"] = components
            stats["explains_all_agent_failures"] = explains_all
        if excluded:
            stats["excluded_capacity_failures"] = excluded
        p = t.p_value
        findings.append(
            Finding(
                kind=feat.kind,
                title=_feature_title(feat.phrase, t),
                severity=_severity_for(t),
                score=_round(-math.log10(max(p, 1e-300)), 3),
                vms=_vm_list(hit_failed),
                stats=stats,
                evidence=_attempt_evidence(hit_failed),
                table=t,
                labels=feat.labels,
            )
        )
    findings.sort(
        key=lambda f: (-f.score, -(f.table.odds_ratio if f.table else 0.0), _kind_rank(f.kind), f.title)
    )
    # Confounders: a later finding whose failing VMs all carry the strongest feature.
    # They stay listed (the 2013 team first blamed "more than two disks") but rank lower,
    # unless they are the condition the strongest feature was conjoined with.
    if findings:
        top = findings[0]
        top_failed = set(top.vms)
        for f in findings[1:]:
            if f.vms and set(f.vms) <= top_failed:
                f.stats["explained_by"] = top.stats.get("feature")
                if f.stats.get("feature") != top.stats.get("condition") and f.severity in (
                    "critical",
                    "error",
                ):
                    f.severity = "warning"
    return findings


def _plain_test(key: str, pool: Sequence[StartAttempt]) -> Callable[[StartAttempt], bool | None]:
    for f in _disk_features(pool):
        if f.key == key:
            return f.test
    return lambda a: None


def _kind_rank(kind: str) -> int:
    return FINDING_KINDS.index(kind) if kind in FINDING_KINDS else len(FINDING_KINDS)


def _unexplained_failures(
    attempts: Sequence[StartAttempt], feature_findings: Sequence[Finding]
) -> Finding | None:
    failed = [a for a in attempts if a.outcome == "failed" and a.failure_kind != "capacity"]
    if not failed:
        return None
    explained = {v for f in feature_findings for v in f.vms}
    rest = [a for a in failed if a.vm not in explained]
    if not rest:
        return None
    known = [a for a in attempts if _failed_or_none(a) is not None]
    ok = sum(1 for a in known if a.outcome == "succeeded")
    shared = []
    for attr, phrase in (
        ("disk_order_mismatch", "disks not in device-id order"),
        ("gaps", "a gap in device ids"),
        ("null_device", "a disk without device id"),
        ("duplicate_device", "a duplicate device id"),
    ):
        if all(getattr(a, attr) for a in rest):
            shared.append(phrase)
    if all((a.data_disks or 0) >= 3 for a in rest):
        shared.append("3 or more data disks")
    n = len(rest)
    what = "start attempt" if n == 1 else "start attempts"
    if ok == 0:
        lead = f"All {n} {what} failed" if n == len(known) and n > 1 else f"{n} {what} failed"
        tail = "; there is no successful start to compare with"
    else:
        lead = f"{n} {what} failed"
        tail = " and no logged feature separates them from the successful starts"
    kinds = Counter(a.failure_kind or "other" for a in rest)
    detail = f" ({', '.join(f'{k}: {v}' for k, v in sorted(kinds.items()))})"
    common = f"; every one had {', '.join(shared)}" if shared else ""
    return Finding(
        kind="start_failures",
        title=f"{lead}{detail}{common}{tail}",
        severity="error",
        score=_round(math.log10(1 + n), 3),
        vms=_vm_list(rest),
        stats={
            "failed": n,
            "succeeded": ok,
            "failure_kinds": dict(sorted(kinds.items())),
            "shared": shared,
            "reasons": dict(sorted(Counter(a.reason or "?" for a in rest).items())),
        },
        evidence=_attempt_evidence(rest),
    )


# ------------------------------------------------------------------- other findings


def _masked_findings(analysis: Analysis) -> list[Finding]:
    groups: dict[tuple[str, str], list[StartAttempt]] = defaultdict(list)
    for a in analysis.attempts:
        if a.primary_exception and a.masking_exception:
            groups[(a.masking_exception, a.primary_exception)].append(a)
    # Mask links not tied to a start attempt still count as occurrences.
    occ: Counter[tuple[str, str]] = Counter()
    occ_ev: dict[tuple[str, str], list[str]] = defaultdict(list)
    for p, m in analysis.mask_pairs():
        key = (_exc_desc(m), _exc_desc(p))
        occ[key] += 1
        if len(occ_ev[key]) < 2 * JSON_EVIDENCE:
            occ_ev[key] += [f"{p.source}:{p.line}", f"{m.source}:{m.line}"]
    out = []
    for key in sorted(set(groups) | set(occ)):
        masking, primary = key
        starts = groups.get(key, [])
        n = len(starts)
        if not n and (occ[key] < 2 or "<unknown>" in masking or "<unknown>" in primary):
            continue  # a one-off pair outside any start is not a story
        where = (
            f"on {n} start{'s' if n != 1 else ''}" if n else f"{occ[key]} time{'s' if occ[key] != 1 else ''}"
        )
        title = f"{_exc_md(masking)} masked {_exc_md(primary)} {where}"
        if n:
            failed = sum(1 for a in starts if a.outcome == "failed")
            title += f" ({failed} failed); the first exception is the cause, the second hid it"
        ev_locs: list[str] = []
        for a in sorted(starts, key=_attempt_key):
            ev_locs += _trace_locs(analysis, a)
        ev_locs += occ_ev.get(key, [])
        out.append(
            Finding(
                kind="masked_exception",
                title=title,
                severity="error",
                score=_round(2.0 + math.log10(1 + max(n, occ[key])), 3),
                vms=_vm_list(starts),
                stats={
                    "primary": primary,
                    "masking": masking,
                    "starts": n,
                    "occurrences": occ[key],
                    "failed_starts": sum(1 for a in starts if a.outcome == "failed"),
                },
                evidence=_evidence(ev_locs),
            )
        )
    return out


def _exc_desc(occ: Any) -> str:
    t = occ.trace
    frame = t.first_app_frame
    return f"{t.exception} in {frame.method}" if frame is not None else t.exception


def _trace_locs(analysis: Analysis, a: StartAttempt) -> list[str]:
    return [
        f"{analysis.traces[i].source}:{analysis.traces[i].line}"
        for i in a.trace_ids
        if analysis.traces[i].host != a.ms_host
    ]


def _capacity_finding(attempts: Sequence[StartAttempt]) -> Finding | None:
    cap = [a for a in attempts if a.failure_kind == "capacity"]
    if not cap:
        return None
    reasons = Counter(_reason_template(a.reason) for a in cap)
    top_reason = reasons.most_common(1)[0][0]
    n = len(cap)
    return Finding(
        kind="capacity_failures",
        title=(
            f"{n} start attempt{'s' if n != 1 else ''} failed for lack of capacity "
            f"({top_reason}); not counted against the disk layout"
        ),
        severity="warning",
        score=_round(1.0 + math.log10(1 + n), 3),
        vms=_vm_list(cap),
        stats={"failed": n, "reasons": dict(sorted(reasons.items()))},
        evidence=_attempt_evidence(cap),
    )


def _reason_template(reason: str | None) -> str:
    if not reason:
        return "no reason logged"
    # Drop the VM name so that one reason groups all VMs.
    return re.sub(r"VM\[[^\]]*\]|\b[a-z]-\d+(?:-\d+)?-VM\b", "VM[…]", reason)


def _version_change_findings(analysis: Analysis) -> list[Finding]:
    out = []
    for kinds, kind, word in (
        (("upgrade", "db_upgrade"), "upgrade", "Upgrade"),
        (("rollback",), "rollback", "Rollback"),
    ):
        groups: dict[tuple[str | None, str | None], list[Marker]] = defaultdict(list)
        for m in analysis.markers:
            if m.kind in kinds:
                groups[(release_str(m.from_version), release_str(m.to_version))].append(m)
        for (frm, to), ms in sorted(groups.items(), key=lambda kv: min(m.time or "" for m in kv[1])):
            ms.sort(key=lambda m: (m.time or "", m.host, m.kind))
            hosts: dict[str, str | None] = {}
            for m in ms:
                if m.host not in hosts:
                    hosts[m.host] = m.time
            db = any(m.kind == "db_upgrade" for m in ms)
            parts = []
            for role_name, role in (("management server", "management"), ("agent", "agent")):
                hs = [h for h in hosts if analysis.roles.get(h, _role_of(ms, h)) == role]
                if hs:
                    label = role_name + ("s" if len(hs) > 1 else "")
                    part = f"{label} " + ", ".join(f"{h} at {_fmt_time(hosts[h])}" for h in hs)
                    if role == "management" and db:
                        part += " (database upgraded)"
                    parts.append(part)
            first = ms[0].time
            starts_after = [a for a in analysis.attempts if a.time and first and a.time >= first]
            starts_before = [a for a in analysis.attempts if a.time and first and a.time < first]
            f_after = sum(1 for a in starts_after if a.outcome == "failed")
            f_before = sum(1 for a in starts_before if a.outcome == "failed")
            title = (
                f"{word} {frm or '?'} → {to or '?'}: "
                + "; ".join(parts)
                + f"; start failures {f_before} of {len(starts_before)} before, "
                f"{f_after} of {len(starts_after)} after"
            )
            out.append(
                Finding(
                    kind=kind,
                    title=title,
                    severity="warning" if kind == "rollback" else "info",
                    score=_round(1.0 + (0.5 if kind == "rollback" else 0.0), 3),
                    vms=[],
                    stats={
                        "from_version": frm,
                        "to_version": to,
                        "hosts": dict(sorted(hosts.items())),
                        "first_time": first,
                        "last_time": ms[-1].time,
                        "database_upgrade": db,
                        "starts_before": len(starts_before),
                        "failures_before": f_before,
                        "starts_after": len(starts_after),
                        "failures_after": f_after,
                    },
                    evidence=_evidence(m.evidence or "" for m in ms),
                )
            )
    return out


def _role_of(markers: Sequence[Marker], host: str) -> str:
    for m in markers:
        if m.host == host:
            return m.role
    return "other"


def _mixed_versions(analysis: Analysis) -> Finding | None:
    """Intervals where an agent ran another release than the management server(s).

    Contiguous intervals are merged; a mismatch shorter than ``MIXED_MIN_MS`` with no start
    attempt inside is the upgrade itself rolling through the hosts, not a finding.
    """
    points = sorted(
        (
            (p.time or "", p.host, p.role, release_str(p.version) or p.version, p.evidence)
            for pts in analysis.versions.values()
            for p in pts
        ),
    )
    if not points:
        return None
    current: dict[str, tuple[str, str]] = {}  # host → (role, release)
    raw: list[dict[str, Any]] = []
    i = 0
    while i < len(points):
        t = points[i][0]
        while i < len(points) and points[i][0] == t:
            _, host, role, rel, _ev = points[i]
            current[host] = (role, rel)
            i += 1
        end = points[i][0] if i < len(points) else (analysis.last_time or t)
        ms = {h: r for h, (ro, r) in current.items() if ro == "management"}
        ag = {h: r for h, (ro, r) in current.items() if ro == "agent"}
        odd = {h: r for h, r in ag.items() if r not in set(ms.values())}
        if ms and odd:
            if raw and raw[-1]["end"] == t:
                raw[-1]["end"] = end
                raw[-1]["management"].update(ms)
                raw[-1]["agents"].update(odd)
            else:
                raw.append({"start": t, "end": end, "management": dict(ms), "agents": dict(odd)})
    intervals = []
    for iv in raw:
        inside = [a for a in analysis.attempts if a.time and iv["start"] <= a.time < iv["end"]]
        span = _span_ms(iv["start"], iv["end"])
        if not inside and (span is None or span < MIXED_MIN_MS):
            continue
        iv["starts"] = len(inside)
        iv["failures"] = sum(1 for a in inside if a.outcome == "failed")
        iv["failed_vms"] = sorted({a.vm for a in inside if a.outcome == "failed"})
        iv["management"] = dict(sorted(iv["management"].items()))
        iv["agents"] = dict(sorted(iv["agents"].items()))
        intervals.append(iv)
    if not intervals:
        return None
    first = intervals[0]
    msv = ", ".join(sorted({r for iv in intervals for r in iv["management"].values()}))
    agv = ", ".join(sorted({r for iv in intervals for r in iv["agents"].values()}))
    odd_hosts = ", ".join(sorted({h for iv in intervals for h in iv["agents"]}))
    n_more = len(intervals) - 1
    more = f" (and {n_more} more interval{'s' if n_more > 1 else ''})" if n_more else ""
    total_fail = sum(iv["failures"] for iv in intervals)
    total = sum(iv["starts"] for iv in intervals)
    title = (
        f"Mixed versions from {_fmt_time(first['start'])} to {_fmt_time(first['end'])}{more}: "
        f"the management server ran {msv} while agents ran {agv} ({odd_hosts}); "
        f"{total_fail} of {total} starts in that time failed"
    )
    ev = [p[4] for p in points]
    return Finding(
        kind="mixed_versions",
        title=title,
        severity="warning",
        score=1.2,
        vms=sorted({v for iv in intervals for v in iv["failed_vms"]}),
        stats={
            "intervals": [
                {k: iv[k] for k in ("start", "end", "management", "agents", "starts", "failures")}
                for iv in intervals
            ]
        },
        evidence=_evidence(ev),
    )


def _span_ms(t0: str, t1: str) -> float | None:
    try:
        a = datetime.fromisoformat(t0.rstrip("Z"))
        b = datetime.fromisoformat(t1.rstrip("Z"))
    except ValueError:
        return None
    return (b - a).total_seconds() * 1000.0


def _new_exceptions(analysis: Analysis) -> list[Finding]:
    changes = sorted(
        (m for m in analysis.markers if m.kind in ("upgrade", "db_upgrade", "rollback") and m.time),
        key=lambda m: (m.time or "", m.host),
    )
    if not changes or not analysis.traces:
        return []
    first_change = changes[0].time or ""
    if not analysis.first_time or analysis.first_time >= first_change:
        return []  # no baseline window before the first change
    # Grouped by exception class and the CloudStack method that threw it: the same failure
    # reached through another caller (an HA restart instead of an API start) is not "new".
    stats: dict[tuple[str, str | None], dict[str, Any]] = {}
    for occ in analysis.traces:
        t = occ.trace
        if t.exception == "<unknown>":
            continue
        frame = t.first_app_frame
        key = (t.exception, frame.method if frame is not None else None)
        s = stats.get(key)
        if s is None:
            s = stats[key] = {
                "first": occ.timestamp,
                "count": 0,
                "occ": occ,
                "ev": [],
                "hosts": set(),
                "fps": [],
            }
        s["count"] += 1
        s["hosts"].add(occ.host)
        if t.fingerprint not in s["fps"]:
            s["fps"].append(t.fingerprint)
        if occ.timestamp and (s["first"] is None or occ.timestamp < s["first"]):
            s["first"] = occ.timestamp
            s["occ"] = occ
        if len(s["ev"]) < JSON_EVIDENCE:
            s["ev"].append(f"{occ.source}:{occ.line}")
    out = []
    times = [m.time or "" for m in changes]
    for (exc, where), s in stats.items():
        first = s["first"]
        if not first or first < first_change:
            continue
        change = changes[bisect.bisect_right(times, first) - 1]
        t = s["occ"].trace
        name = exc.rsplit(".", 1)[-1]
        what = f"`{name}`" + (f" in `{where}`" if where else "")
        label = "upgrade" if change.kind in ("upgrade", "db_upgrade") else "rollback"
        n = s["count"]
        title = (
            f"{what} first appeared after the {label} to {release_str(change.to_version)} "
            f"({_fmt_time(change.time)}): {n} occurrence{'s' if n != 1 else ''} on "
            f"{', '.join(sorted(s['hosts']))}, none in the baseline since {_fmt_time(analysis.first_time)}"
        )
        out.append(
            Finding(
                kind="new_exception_after_change",
                title=title,
                severity="warning",
                score=_round(0.8 + math.log10(1 + n) / 10, 3),
                vms=[],
                stats={
                    "fingerprint": s["fps"][0],
                    "fingerprints": sorted(s["fps"]),
                    "exception": exc,
                    "message": t.message,
                    "where": where,
                    "count": n,
                    "first_seen": first,
                    "change": label,
                    "change_time": change.time,
                    "to_version": release_str(change.to_version),
                    "baseline_start": analysis.first_time,
                    "hosts": sorted(s["hosts"]),
                },
                evidence=_evidence(s["ev"]),
            )
        )
    out.sort(key=lambda f: (-f.stats["count"], f.stats["first_seen"] or "", f.stats["fingerprint"]))
    return out[:MAX_NEW_EXCEPTIONS]


def _command_findings(analysis: Analysis) -> list[Finding]:
    out: list[Finding] = []
    by_cmd: dict[str, list[Any]] = defaultdict(list)
    for cs in analysis.command_stats:
        by_cmd[cs.command].append(cs)
    for cmd in sorted(by_cmd):
        rows = [cs for cs in by_cmd[cmd] if cs.seen_latencies >= SLOW_MIN_COUNT]
        if len(rows) >= 2:
            p95 = {cs.host: cs.percentile(95) or 0.0 for cs in rows}
            for cs in sorted(rows, key=lambda c: c.host):
                others = [v for h, v in p95.items() if h != cs.host]
                base = median(others)
                mine = p95[cs.host]
                if mine > SLOW_FACTOR * base and mine - base >= SLOW_MIN_GAP_MS:
                    out.append(
                        Finding(
                            kind="slow_commands",
                            title=(
                                f"{cmd} on {cs.host} is slow: p95 {mine / 1000:.1f} s against "
                                f"{base / 1000:.1f} s on the other hosts (n = {cs.seen_latencies})"
                            ),
                            severity="warning",
                            score=_round(0.5 + math.log10(mine / max(base, 1.0)) / 10, 3),
                            stats={
                                "command": cmd,
                                "host": cs.host,
                                "p95_ms": _round(mine, 1),
                                "p50_ms": _round(cs.percentile(50) or 0.0, 1),
                                "others_p95_median_ms": _round(base, 1),
                                "answered": cs.seen_latencies,
                                "max_ms": _round(cs.max_latency_ms, 1),
                            },
                            evidence=_evidence([cs.max_latency_evidence or ""]),
                        )
                    )
        for cs in sorted(by_cmd[cmd], key=lambda c: c.host):
            if cs.unanswered:
                out.append(
                    Finding(
                        kind="unanswered_commands",
                        title=(
                            f"{cs.unanswered} {cmd}{'s' if cs.unanswered != 1 else ''} sent to {cs.host} "
                            f"never got an answer (of {cs.sent} sent)"
                        ),
                        severity="warning",
                        score=_round(0.6 + math.log10(1 + cs.unanswered) / 10, 3),
                        stats={"command": cmd, "host": cs.host, "sent": cs.sent, "unanswered": cs.unanswered},
                        evidence=_evidence(cs.unanswered_evidence),
                    )
                )
    return out


# --------------------------------------------------------------------------- entry


def diagnose(analysis: Analysis, *, alpha: float = 0.05) -> Diagnosis:
    """Rank what the failing start attempts share, plus the context findings.

    :param analysis: the result of :func:`logparse.correlate.analyze`.
    :param alpha: significance level for feature findings (two-sided Fisher).
    :returns: findings most important first (severity, then score), and the attempts.
    """
    attempts = sorted(analysis.attempts, key=_attempt_key)
    feats = _feature_findings(attempts, analysis, alpha)
    findings: list[Finding] = list(feats)
    extra = _unexplained_failures(attempts, feats)
    if extra is not None:
        findings.append(extra)
    findings += _masked_findings(analysis)
    cap = _capacity_finding(attempts)
    if cap is not None:
        findings.append(cap)
    findings += _version_change_findings(analysis)
    mixed = _mixed_versions(analysis)
    if mixed is not None:
        findings.append(mixed)
    findings += _new_exceptions(analysis)
    findings += _command_findings(analysis)
    order = {id(f): i for i, f in enumerate(findings)}
    findings.sort(key=lambda f: (_SEV_RANK.get(f.severity, 9), -f.score, order[id(f)]))
    known = [a for a in attempts if a.outcome != "unknown"]
    summary = {
        "start_attempts": len(attempts),
        "failed": sum(1 for a in known if a.outcome == "failed"),
        "succeeded": sum(1 for a in known if a.outcome == "succeeded"),
        "unknown": len(attempts) - len(known),
        "vms": len({a.vm for a in attempts}),
        "hosts": sorted({h for a in attempts if (h := _host_label(a))}),
        "files": len(analysis.sources),
        "first_time": analysis.first_time,
        "last_time": analysis.last_time,
    }
    return Diagnosis(findings=findings, start_attempts=attempts, summary=summary)


# --------------------------------------------------------------------------- renderers


def to_json(diagnosis: Diagnosis) -> str:
    """Deterministic JSON: ``{"schema_version": 1, "summary", "findings", "start_attempts"}``."""
    doc = {
        "schema_version": SCHEMA_VERSION,
        "summary": _sorted(diagnosis.summary),
        "findings": [f.as_dict() for f in diagnosis.findings],
        "start_attempts": [_sorted(a.as_dict()) for a in diagnosis.start_attempts],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def _table_lines(f: Finding) -> list[list[str]]:
    t = f.table
    assert t is not None
    present, absent = f.labels or ("with feature", "without")
    return [
        ["", "failed", "succeeded", "total"],
        [present, str(t.a), str(t.b), str(t.present)],
        [absent, str(t.c), str(t.d), str(t.absent)],
    ]


def _stat_line(f: Finding) -> str:
    t = f.table
    assert t is not None
    corr = " (Haldane-corrected)" if t.haldane else ""
    return f"odds ratio {t.odds_ratio:.3g}{corr}; Fisher's exact test, two-sided p = {format_p(t.p_value)}"


def _capped(evidence: Sequence[dict[str, Any]], limit: int) -> tuple[list[str], int]:
    locs = [f"{e['source']}:{e['line']}" if e.get("line") is not None else str(e["source"]) for e in evidence]
    return locs[:limit], max(0, len(locs) - limit)


def _summary_sentence(d: Diagnosis) -> str:
    s = d.summary
    span = f", {_fmt_time(s['first_time'])} → {_fmt_time(s['last_time'])}" if s.get("first_time") else ""
    hosts = len(s["hosts"])
    return (
        f"{s['start_attempts']} start attempts ({s['failed']} failed, {s['succeeded']} succeeded, "
        f"{s['unknown']} unknown) of {s['vms']} VMs on {hosts} host{'s' if hosts != 1 else ''}"
        f", {s['files']} files{span}"
    )


def render_text(diagnosis: Diagnosis, *, max_evidence: int = 10, max_vms: int = 12) -> str:
    """Plain text for a terminal or an e-mail: numbered findings, tables, capped evidence."""
    out = [f"logparse diagnose: {_summary_sentence(diagnosis)}", ""]
    if not diagnosis.findings:
        out.append("No findings.")
    for i, f in enumerate(diagnosis.findings, 1):
        out.append(f"{i}. [{f.severity}] {f.title.replace('`', '')}")
        if f.vms:
            shown = ", ".join(f.vms[:max_vms])
            more = f" … and {len(f.vms) - max_vms} more" if len(f.vms) > max_vms else ""
            out.append(f"   VMs: {shown}{more}")
        if f.stats.get("explained_by"):
            out.append(
                f"   (every failure here also has the first finding's feature: {f.stats['explained_by']})"
            )
        if f.table is not None:
            rows = _table_lines(f)
            w0 = max(len(r[0]) for r in rows)
            for r in rows:
                out.append("     " + r[0].ljust(w0) + "".join(cell.rjust(11) for cell in r[1:]))
            out.append("   " + _stat_line(f))
        if f.evidence:
            locs, n_more = _capped(f.evidence, max_evidence)
            out.append("   Evidence:")
            out.extend(f"     {loc}" for loc in locs)
            if n_more:
                out.append(f"     … and {n_more} more")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def render_markdown(diagnosis: Diagnosis, *, max_evidence: int = 10, max_vms: int = 20) -> str:
    """Markdown to paste into a postmortem: one section per finding, 2x2 tables, evidence."""
    out = ["# Diagnosis", "", _summary_sentence(diagnosis) + ".", ""]
    if not diagnosis.findings:
        out += ["No findings.", ""]
    for i, f in enumerate(diagnosis.findings, 1):
        out += [f"## {i}. {f.title}", "", f"*{f.kind}, {f.severity}*", ""]
        if f.vms:
            shown = ", ".join(f"`{v}`" for v in f.vms[:max_vms])
            more = f" … and {len(f.vms) - max_vms} more" if len(f.vms) > max_vms else ""
            out += [f"VMs: {shown}{more}", ""]
        if f.stats.get("explained_by"):
            out += [
                f"Every failure here also has the first finding's feature (`{f.stats['explained_by']}`).",
                "",
            ]
        if f.table is not None:
            rows = _table_lines(f)
            out.append("| " + " | ".join(rows[0]) + " |")
            out.append("|---|---:|---:|---:|")
            for row in rows[1:]:
                out.append("| " + " | ".join(row) + " |")
            out += ["", _stat_line(f) + ".", ""]
        if f.evidence:
            locs, n_more = _capped(f.evidence, max_evidence)
            out.append("Evidence:")
            out.append("")
            out.extend(f"- `{loc}`" for loc in locs)
            if n_more:
                out.append(f"- … and {n_more} more")
            out.append("")
    return "\n".join(out).rstrip() + "\n"
