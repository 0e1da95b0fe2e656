"""Postmortem report: one self-contained HTML page, Markdown with PNG charts, CSV tables.

``build_report(analysis)`` turns an :class:`~logparse.correlate.Analysis` (and its
:func:`~logparse.diagnose.diagnose` findings) into a :class:`Report`; ``write_report``
writes it to a directory, whole or not at all::

    DIR/report.html        every chart, plotly.js embedded once, fixed div ids, offline
    DIR/report.md          the same sections, charts as images/*.png (relative links)
    DIR/images/*.png       one per chart (kaleido + Chromium; one browser for all images)
    DIR/data/*.csv         start_attempts, findings, vms (as ``logparse vms``),
                           affected_vms, exceptions, masked_pairs, events_summary, markers

Same input, same bytes for the HTML, Markdown and CSV files: no generation time (only the
logs' own time span), fixed ids, stable ordering. Every piece of log text is passed through
:func:`logparse.redact.redact` and escaped (:func:`html.escape`) before it reaches HTML.

Usage::

    from logparse.correlate import analyze
    from logparse.report import build_report, write_report
    result = write_report(build_report(analyze(["sample_logs/upgrade-2.2.14"])), "out")
    if result.image_error:
        print(result.image_error)        # report.html/report.md were written all the same
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import html
import json
import math
import os
import re
import shutil
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from .errors import LogparseError, OutputError
from .output import render_rows
from .redact import redact
from .timeline import ChartFrames, build_figures, fingerprint_label

__all__ = [
    "CHART_TITLES",
    "NO_BROWSER_MESSAGE",
    "EvidenceRecord",
    "ImageExportError",
    "ImageRenderer",
    "Report",
    "ReportResult",
    "build_report",
    "chart_frames",
    "charts_page",
    "figure_div",
    "read_evidence",
    "render_html",
    "render_markdown",
    "write_report",
]

#: The one line printed when static images cannot be made.
NO_BROWSER_MESSAGE = ("error: PNG export needs Chromium: apt-get install chromium "
                      "(or: pip install kaleido && kaleido_get_chrome)")

CHART_TITLES = {
    "timeline": "Incident timeline",
    "starts": "VM start attempts",
    "exceptions": "Exceptions by fingerprint",
    "disks": "Disk layout per VM",
    "latency": "Agent command latency",
}
#: Static image size (px); a figure's own layout height wins when it sets one.
IMAGE_WIDTH = 1200
IMAGE_HEIGHT = 800
#: Raw evidence records shown at most, and lines / characters per record.
MAX_EVIDENCE_RECORDS = 60
EVIDENCE_LINES = 40
EVIDENCE_CHARS = 6000
#: Upgrade / rollback lines in the summary at most (all are in data/markers.csv).
MAX_SUMMARY_MARKERS = 8
_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}


class ImageExportError(LogparseError):
    """Static images could not be made (no Chromium, or the browser failed)."""


# --------------------------------------------------------------------------- images


class ImageRenderer:
    """Keep one headless Chromium (kaleido ≥ 1) alive for every image of a run.

    kaleido's own ``start_sync_server()`` hangs forever in ``call_function`` when the
    browser cannot start (its server thread dies and nobody answers the queue), so this
    runs a ``kaleido.Kaleido`` on a private event loop thread instead: a missing browser
    becomes an :class:`ImageExportError` at ``__enter__``. MathJax is off, so nothing is
    fetched from the network.

    Usage::

        with ImageRenderer() as r:
            png = r.render(fig, "png", 1200, 800)
    """

    def __init__(self, *, timeout: float = 90.0, browser_path: str | None = None) -> None:
        self.timeout = timeout
        self.browser_path = browser_path
        self.seconds: list[float] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._kaleido: Any = None

    def _call(self, coro: Any) -> Any:
        assert self._loop is not None
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return fut.result(timeout=self.timeout + 30)
        except concurrent.futures.TimeoutError as e:
            fut.cancel()
            raise ImageExportError(f"{NO_BROWSER_MESSAGE} (browser did not answer)") from e

    async def _open(self) -> Any:
        import kaleido

        kwargs: dict[str, Any] = {"n": 1, "timeout": self.timeout, "mathjax": False}
        if self.browser_path:
            kwargs["path"] = self.browser_path
        k = kaleido.Kaleido(**kwargs)
        await k.open()
        return k

    def __enter__(self) -> ImageRenderer:
        try:
            import kaleido  # noqa: F401
        except ImportError as e:
            raise ImageExportError(NO_BROWSER_MESSAGE) from e
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="logparse-kaleido")
        self._thread.start()
        try:
            self._kaleido = self._call(self._open())
        except Exception as e:
            self._stop_loop()
            if isinstance(e, ImageExportError):
                raise
            raise ImageExportError(NO_BROWSER_MESSAGE) from e
        return self

    def render(self, fig: go.Figure, fmt: str = "png", width: int | None = None,
               height: int | None = None, scale: float = 1.0) -> bytes:
        """Return the image bytes of ``fig`` (``png``/``svg``/``pdf``/``jpg``/``webp``)."""
        if self._kaleido is None:
            raise RuntimeError("ImageRenderer used outside its with block")
        w = width or IMAGE_WIDTH
        h = height or int(fig.layout.height or IMAGE_HEIGHT)
        t0 = time.perf_counter()
        try:
            data = self._call(self._kaleido.calc_fig(
                fig, opts={"format": fmt, "width": w, "height": h, "scale": scale}))
        except ImageExportError:
            raise
        except Exception as e:
            raise ImageExportError(f"{NO_BROWSER_MESSAGE} (rendering failed: "
                                   f"{type(e).__name__})") from e
        self.seconds.append(time.perf_counter() - t0)
        return bytes(data)

    def _stop_loop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._loop is not None and not self._loop.is_running():
            self._loop.close()
        self._loop = None
        self._thread = None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if self._kaleido is not None:
                self._call(self._kaleido.close())
        except Exception:
            pass
        finally:
            self._kaleido = None
            self._stop_loop()


# --------------------------------------------------------------------------- frames


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _as_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, Mapping):
        return dict(obj)
    if hasattr(obj, "as_dict"):
        return dict(obj.as_dict())
    slots = getattr(type(obj), "__slots__", None) or ()
    names = list(slots) or list(vars(obj))
    return {n: getattr(obj, n) for n in names if not n.startswith("_")}


def _frame_str(frame: Any) -> str | None:
    if frame is None:
        return None
    cls, method = _get(frame, "cls"), _get(frame, "method")
    if cls and method:
        return f"{cls}.{method}"
    return str(frame)


def _trace_rows(analysis: Any) -> list[dict[str, Any]]:
    traces = list(_get(analysis, "traces", None) or [])
    masking = {int(_get(m, "masking_index")) for m in _get(analysis, "masks", None) or []}
    rows = []
    for i, occ in enumerate(traces):
        tr = _get(occ, "trace")
        rows.append({
            "index": i,
            "timestamp": _get(occ, "timestamp"),
            "host": _get(occ, "host"),
            "source": _get(occ, "source"),
            "line": _get(occ, "line"),
            "thread": _get(occ, "thread"),
            "seq": _get(occ, "seq"),
            "logid": _get(occ, "logid"),
            "exception": _get(tr, "exception"),
            "message": _get(tr, "message"),
            "root_cause": _get(tr, "root_cause"),
            "fingerprint": _get(tr, "fingerprint"),
            "first_app_frame": _frame_str(_get(tr, "first_app_frame")),
            "masked": i in masking,
        })
    return rows


def _command_rows(analysis: Any) -> list[dict[str, Any]]:
    """StartCommand round trips one by one; other commands from their latency samples.

    A trip's host is its agent's name (``analysis.host_names`` maps ``Seq h-n``'s ``h``),
    else ``host id h``; its evidence is the ``Sending`` line.
    """
    rows: list[dict[str, Any]] = []
    names = _get(analysis, "host_names", None) or {}
    individual: set[tuple[str, str]] = set()
    for c in _get(analysis, "commands", None) or []:
        cmd = _get(c, "command")
        hid = _get(c, "host_id")
        host = _get(c, "host") or names.get(hid) or (f"host id {hid}" if hid is not None else None)
        individual.add((str(host), str(cmd)))
        ev = _get(c, "sent_evidence") or next(iter(_get(c, "evidence") or []), None)
        src, _, line = str(ev).rpartition(":") if ev else ("", "", "")
        rows.append({"seq": _get(c, "seq"), "command": cmd, "vm_name": _get(c, "vm_name"),
                     "host": host, "sent_at": _get(c, "sent_at"),
                     "latency_ms": _get(c, "latency_ms"), "answered": _get(c, "answered"),
                     "result": _get(c, "result"), "source": src or None,
                     "line": int(line) if line.isdigit() else None})
    windowed = any(_get(analysis, "window", None) or ())
    for st in [] if windowed else _get(analysis, "command_stats", None) or []:
        # (statistics cover the whole input: a windowed chart leaves them out)
        host, cmd = _get(st, "host"), _get(st, "command")
        if (str(host), str(cmd)) in individual:
            continue
        for ms in _get(st, "latencies", None) or []:
            rows.append({"seq": None, "command": cmd, "vm_name": None, "host": host,
                         "sent_at": None, "latency_ms": ms, "answered": True, "result": None,
                         "source": None, "line": None})
        for _ in range(int(_get(st, "unanswered", 0) or 0)):
            rows.append({"seq": None, "command": cmd, "vm_name": None, "host": host,
                         "sent_at": None, "latency_ms": None, "answered": False,
                         "result": None, "source": None, "line": None})
    return rows


def _in_window(analysis: Any) -> Callable[[Any], bool]:
    """Whether a time falls inside the analysis window (``--since/--until``); always True
    without one."""
    since, until = _get(analysis, "window", None) or (None, None)
    if not since and not until:
        return lambda ts: True
    return lambda ts: bool(ts) and (not since or ts >= since) and (not until or ts < until)


def _marker_rows(analysis: Any) -> list[dict[str, Any]]:
    rows = []
    inside = _in_window(analysis)
    for m in _get(analysis, "markers", None) or []:
        d = _as_dict(m)
        if not inside(d.get("time")):
            continue  # a windowed chart shows the window's markers only
        if not d.get("version") and (d.get("from_version") or d.get("to_version")):
            d["version"] = f"{d.get('from_version') or '?'}→{d.get('to_version') or '?'}"
        rows.append(d)
    return rows


def chart_frames(analysis: Any) -> ChartFrames:
    """The chart tables of an ``Analysis`` (duck-typed: dataclasses, dicts or namespaces)."""
    events = [_as_dict(e) for e in _get(analysis, "events", None) or []]
    attempts = [_as_dict(a) for a in _get(analysis, "attempts", None) or []]
    return ChartFrames(
        events=pd.DataFrame(events),
        markers=pd.DataFrame(_marker_rows(analysis)),
        attempts=pd.DataFrame(attempts),
        traces=pd.DataFrame(_trace_rows(analysis)),
        commands=pd.DataFrame(_command_rows(analysis)),
    )


# --------------------------------------------------------------------------- tables


def _loc(source: Any, line: Any) -> str:
    return f"{source}:{line}" if source is not None else ""


def _ev_locs(evidence: Any) -> list[str]:
    out: list[str] = []
    for e in evidence or []:
        if isinstance(e, Mapping):
            out.append(_loc(e.get("source"), e.get("line")))
        elif e:
            out.append(str(e))
    return out


def _short_time(ts: Any) -> str:
    return str(ts).replace("T", " ")[:19] if ts else ""


def _attempt_table(attempts: Sequence[Any]) -> tuple[list[str], list[dict[str, Any]]]:
    rows = [_as_dict(a) for a in attempts]
    try:
        from .correlate import ATTEMPT_COLUMNS as cols_
        cols = list(cols_)
    except ImportError:  # pragma: no cover - correlate is part of the package
        from .timeline import ATTEMPT_COLUMNS as tcols
        cols = list(tcols)
    extra = sorted({k for r in rows for k in r} - set(cols) - {"trace_ids", "command_line",
                                                               "ms_host"})
    cols += [c for c in ("source", "line") if c in extra]
    rows.sort(key=lambda r: (str(r.get("time") or ""), str(r.get("vm") or ""),
                             str(r.get("job") or ""), str(r.get("seq") or "")))
    return cols, rows


def _vm_table(attempts: Sequence[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """Per VM: attempts, failures, hosts, the disk layout drawn in the chart."""
    by_vm: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in attempts:
        by_vm[str(a.get("vm"))].append(a)
    rows = []
    for vm, items in by_vm.items():
        items = sorted(items, key=lambda a: str(a.get("time") or ""))
        failed = [a for a in items if a.get("outcome") == "failed"]
        with_disks = [a for a in items if a.get("disks")]
        candidates = [a for a in with_disks if a.get("outcome") == "failed"] or with_disks
        shown: dict[str, Any] | None = candidates[-1] if candidates else None
        disks = (shown or {}).get("disks") or []
        rows.append({
            "vm": vm,
            "attempts": len(items),
            "failed": len(failed),
            "succeeded": sum(1 for a in items if a.get("outcome") == "succeeded"),
            "last_outcome": items[-1].get("outcome"),
            "first_failure": failed[0].get("time") if failed else None,
            "hosts": sorted({str(a.get("host")) for a in items if a.get("host")}),
            "device_ids": [d.get("device_id") for d in disks if isinstance(d, Mapping)],
            "data_disks": (shown or {}).get("data_disks"),
            "disk_order_mismatch": (shown or {}).get("disk_order_mismatch"),
            "failure_kinds": sorted({str(a.get("failure_kind")) for a in failed
                                     if a.get("failure_kind")}),
            "evidence": _ev_locs((failed[0] if failed else items[-1]).get("evidence"))[:5],
        })
    rows.sort(key=lambda r: (r["failed"] == 0, str(r["first_failure"] or ""), r["vm"]))
    cols = ["vm", "attempts", "failed", "succeeded", "last_outcome", "first_failure", "hosts",
            "device_ids", "data_disks", "disk_order_mismatch", "failure_kinds", "evidence"]
    return cols, rows


def _official_vms(analysis: Any) -> tuple[list[str], list[dict[str, Any]]] | None:
    """``logparse vms``'s rows for a real ``Analysis`` (same CSV as that command)."""
    try:
        from .correlate import Analysis
        from .vms import VM_COLUMNS, iter_vm_rows
    except ImportError:  # pragma: no cover - both are part of the package
        return None
    if not isinstance(analysis, Analysis):
        return None
    return list(VM_COLUMNS), list(iter_vm_rows(analysis, compact_disks=True))


def _exception_tables(trace_rows: Sequence[dict[str, Any]], analysis: Any
                      ) -> tuple[tuple[list[str], list[dict[str, Any]]],
                                 tuple[list[str], list[dict[str, Any]]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in trace_rows:
        groups[str(r["fingerprint"] or r["exception"])].append(r)
    labels = {fp: fingerprint_label(items[0]["exception"], items[0]["first_app_frame"])
              for fp, items in groups.items()}
    dup = Counter(labels.values())
    labels = {fp: (lab if dup[lab] == 1 else f"{lab} #{fp[:6]}") for fp, lab in labels.items()}
    rows = []
    for fp, items in groups.items():
        items = sorted(items, key=lambda r: (str(r["timestamp"] or ""), str(r["source"]),
                                             int(r["line"] or 0)))
        rows.append({
            "label": labels[fp],
            "fingerprint": fp,
            "exception": items[0]["exception"],
            "message": items[0]["message"],
            "root_cause": items[0]["root_cause"],
            "first_app_frame": items[0]["first_app_frame"],
            "count": len(items),
            "masking": sum(1 for r in items if r["masked"]),
            "hosts": sorted({str(r["host"]) for r in items}),
            "first_time": items[0]["timestamp"],
            "last_time": items[-1]["timestamp"],
            "evidence": [_loc(r["source"], r["line"]) for r in items[:5]],
        })
    rows.sort(key=lambda r: (-r["count"], r["label"], r["fingerprint"]))
    ex_cols = ["label", "count", "masking", "exception", "message", "root_cause",
               "first_app_frame", "hosts", "first_time", "last_time", "fingerprint", "evidence"]
    by_index = {r["index"]: r for r in trace_rows}
    pairs: dict[tuple[str, str, str], list[tuple[dict[str, Any], dict[str, Any]]]] = defaultdict(list)
    for m in _get(analysis, "masks", None) or []:
        prim = by_index.get(int(_get(m, "primary_index")))
        mask = by_index.get(int(_get(m, "masking_index")))
        if prim is None or mask is None:
            continue
        # Grouped by the kind of link (``same thread``/``seq``/``logid``), not by the whole
        # reason: it names the thread and the delay of each occurrence.
        reason = str(_get(m, "reason") or "")
        key = (labels[str(prim["fingerprint"] or prim["exception"])],
               labels[str(mask["fingerprint"] or mask["exception"])],
               " ".join(reason.split(" ", 2)[:2]))
        pairs[key].append((prim, mask, reason))
    mrows = []
    for (plab, klab, link), found in pairs.items():
        found.sort(key=lambda pk: (str(pk[0]["timestamp"] or ""), str(pk[0]["source"]),
                                   int(pk[0]["line"] or 0)))
        p, k, _ = found[0]
        gaps = sorted({int(g[1]) for *_, r in found if (g := _MASK_GAP.search(r))})
        span = "" if not gaps else f", +{gaps[0]} ms" if len(gaps) == 1 else f", +{gaps[0]} to {gaps[-1]} ms"
        mrows.append({"primary": plab, "masked_by": klab, "count": len(found),
                      "reason": link + span, "primary_exception": p["exception"],
                      "masking_exception": k["exception"],
                      "first_primary": _loc(p["source"], p["line"]),
                      "first_masking": _loc(k["source"], k["line"])})
    mrows.sort(key=lambda r: (-r["count"], r["primary"], r["masked_by"], r["reason"]))
    m_cols = ["primary", "masked_by", "count", "reason", "primary_exception",
              "masking_exception", "first_primary", "first_masking"]
    return (ex_cols, rows), (m_cols, mrows)


_MASK_GAP = re.compile(r"\+(\d+) ms$")


def _events_summary(events: Sequence[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    acc: dict[tuple[str, str, str], dict[str, Any]] = {}
    for e in events:
        key = (str(e.get("category") or ""), str(e.get("event") or ""), str(e.get("host") or ""))
        ts = e.get("timestamp")
        r = acc.get(key)
        loc = _loc(e.get("source"), e.get("line"))
        if r is None:
            acc[key] = {"category": key[0], "event": key[1], "host": key[2], "count": 1,
                        "first_time": ts, "last_time": ts, "first_evidence": loc}
        else:
            r["count"] += 1
            if ts and (not r["first_time"] or str(ts) < str(r["first_time"])):
                r["first_time"], r["first_evidence"] = ts, loc
            if ts and (not r["last_time"] or str(ts) > str(r["last_time"])):
                r["last_time"] = ts
    rows = sorted(acc.values(), key=lambda r: (r["category"], r["event"], r["host"]))
    return ["category", "event", "host", "count", "first_time", "last_time",
            "first_evidence"], rows


def _finding_rows(findings: Sequence[Any]) -> tuple[list[str], list[dict[str, Any]]]:
    rows = []
    for i, f in enumerate(findings, 1):
        d = f.as_dict(max_evidence=None) if hasattr(f, "as_dict") else _as_dict(f)
        rows.append({"rank": i, "kind": d.get("kind"), "severity": d.get("severity"),
                     "score": d.get("score"), "title": d.get("title"),
                     "vms": list(d.get("vms") or []), "stats": d.get("stats") or {},
                     "evidence": _ev_locs(d.get("evidence"))})
    return ["rank", "kind", "severity", "score", "title", "vms", "stats", "evidence"], rows


# --------------------------------------------------------------------------- evidence


@dataclass(frozen=True, slots=True)
class EvidenceRecord:
    """The text of one evidence record (redacted), found at ``location`` (``file:line``)."""

    location: str
    text: str


_LOC_RE = re.compile(r"^(?P<source>.+):(?P<line>\d+)$")


def read_evidence(files: Sequence[Any], locations: Iterable[str], *, patterns: Any = None,
                  max_records: int = MAX_EVIDENCE_RECORDS) -> list[EvidenceRecord]:
    """Read the records at ``locations`` (``file:line``) back from the logs, redacted.

    A location inside a record (a trace line) gives the whole record. Each file is read
    only up to its last wanted line. Locations in files not given are skipped.

    :param files: the ``LogFile``s of the run (``logparse.sources.discover``).
    """
    from .records import iter_records

    wanted: dict[str, list[int]] = defaultdict(list)
    order: list[str] = []
    for loc in locations:
        m = _LOC_RE.match(loc)
        if not m or loc in order:
            continue
        order.append(loc)
        wanted[m["source"]].append(int(m["line"]))
        if len(order) >= max_records:
            break
    found: dict[str, str] = {}
    for lf in files:
        lines = sorted(set(wanted.get(str(_get(lf, "source")), [])))
        if not lines or _get(lf, "path") is None:
            continue
        last = lines[-1]
        k = 0
        for rec in iter_records([lf], patterns):
            while k < len(lines) and lines[k] < rec.line:
                k += 1  # a wanted line before this record's start: an orphan, skip it
            if k >= len(lines) or rec.line > last:
                break
            end = max(rec.end_line, rec.line)
            while k < len(lines) and rec.line <= lines[k] <= end:
                found[f"{rec.source}:{lines[k]}"] = _cut(rec.text)
                k += 1
    return [EvidenceRecord(loc, redact(found[loc])) for loc in order if loc in found]


def _cut(text: str) -> str:
    lines = text.split("\n")
    if len(lines) > EVIDENCE_LINES:
        lines = [*lines[:EVIDENCE_LINES], f"… {len(lines) - EVIDENCE_LINES} more lines"]
    out = "\n".join(lines)
    if len(out) > EVIDENCE_CHARS:
        out = out[:EVIDENCE_CHARS] + f" … ({len(out) - EVIDENCE_CHARS} more characters)"
    return out


# --------------------------------------------------------------------------- report


@dataclass(slots=True)
class Report:
    """Everything the report pages show; built by :func:`build_report`."""

    title: str
    inputs: list[str]
    first_time: str | None
    last_time: str | None
    summary: list[str]
    figures: dict[str, go.Figure]
    tables: dict[str, tuple[list[str], list[dict[str, Any]]]]
    findings: list[dict[str, Any]]
    evidence: list[EvidenceRecord] = field(default_factory=list)


def _pct(n: int, d: int) -> str:
    return f"{100 * n / d:.0f} %" if d else "-"


def _summary(analysis: Any, attempts: list[dict[str, Any]], markers: list[dict[str, Any]],
             ex_rows: list[dict[str, Any]], mask_rows: list[dict[str, Any]],
             findings: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    known = [a for a in attempts if a.get("outcome") in ("failed", "succeeded")]
    failed = [a for a in attempts if a.get("outcome") == "failed"]
    vms = {a.get("vm") for a in attempts}
    failed_vms = sorted({str(a.get("vm")) for a in failed})
    out.append(f"{len(attempts)} VM start attempts of {len(vms)} VMs: {len(failed)} failed "
               f"({len(failed_vms)} VMs), {len(known) - len(failed)} succeeded, "
               f"{len(attempts) - len(known)} with unknown outcome.")
    if failed:
        times = sorted(str(a.get("time")) for a in failed if a.get("time"))
        hosts = Counter(str(a.get("host") or "no host") for a in failed)
        host_txt = ", ".join(f"{h} ({n})" for h, n in sorted(hosts.items(),
                                                            key=lambda kv: (-kv[1], kv[0])))
        if times:
            out.append(f"Failures from {_short_time(times[0])} to {_short_time(times[-1])} "
                       f"on {host_txt}.")
        kinds = Counter(str(a.get("failure_kind") or "unknown") for a in failed)
        out.append("Failure kinds: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) + ".")
        after = [a for a in failed if a.get("after_upgrade")]
        ok_after = [a for a in known if a.get("outcome") == "succeeded" and a.get("after_upgrade")]
        if after or any(a.get("after_upgrade") is not None for a in attempts):
            out.append(f"{len(after)} of {len(failed)} failed attempts came after an upgrade "
                       f"({len(ok_after)} successful attempts did too).")
        mism = [a for a in failed if a.get("disk_order_mismatch")]
        ok_mism = [a for a in known if a.get("outcome") == "succeeded"
                   and a.get("disk_order_mismatch")]
        ok_n = len(known) - len(failed)
        out.append(f"Disks out of device-id order: {len(mism)} of {len(failed)} failed attempts "
                   f"({_pct(len(mism), len(failed))}), {len(ok_mism)} of {ok_n} successful ones "
                   f"({_pct(len(ok_mism), ok_n)}).")
    changes = [m for m in markers if m.get("kind") in ("upgrade", "rollback", "db_upgrade")]
    for m in changes[:MAX_SUMMARY_MARKERS]:
        ev = f" ({m['evidence']})" if m.get("evidence") else ""
        out.append(f"{str(m['kind']).replace('_', ' ').capitalize()} on {m.get('host')}: "
                   f"{m.get('version') or ''} at {_short_time(m.get('time'))}{ev}.")
    if len(changes) > MAX_SUMMARY_MARKERS:
        out.append(f"… and {len(changes) - MAX_SUMMARY_MARKERS} more upgrades/rollbacks "
                   "(data/markers.csv).")
    for r in mask_rows[:3]:
        out.append(f"{r['primary']} was masked by {r['masked_by']} {r['count']} time(s) "
                   f"(first: {r['first_primary']} → {r['first_masking']}).")
    if ex_rows:
        top = ", ".join(f"{r['label']} (x{r['count']})" for r in ex_rows[:3])
        out.append(f"{sum(r['count'] for r in ex_rows)} stack traces in {len(ex_rows)} "
                   f"fingerprint groups; most frequent: {top}.")
    if findings:
        out.append(f"Top finding: {str(findings[0]['title']).replace('`', '')}")
    return out


def build_report(analysis: Any, diagnosis: Any = None, *, inputs: Sequence[str] = (),
                 files: Sequence[Any] | None = None, patterns: Any = None,
                 title: str = "Postmortem report", charts: Sequence[str] | None = None
                 ) -> Report:
    """Build the report of an analysis: summary, figures, tables, findings, evidence.

    :param diagnosis: ``diagnose(analysis)``'s result; computed when None.
    :param inputs: the input paths as typed (shown in the header).
    :param files: the ``LogFile``s read; when given, the evidence records are read back
        from them (``read_evidence``) for the "raw evidence" section.
    """
    if diagnosis is None:
        from .diagnose import diagnose

        diagnosis = diagnose(analysis)
    frames = chart_frames(analysis)
    figures = build_figures(frames, charts)
    attempt_objs = list(_get(diagnosis, "start_attempts", None) or
                        _get(analysis, "attempts", None) or [])
    att_cols, att_rows = _attempt_table(attempt_objs)
    trace_rows = _trace_rows(analysis)
    (ex_cols, ex_rows), (m_cols, m_rows) = _exception_tables(trace_rows, analysis)
    events = [_as_dict(e) for e in _get(analysis, "events", None) or []]
    f_cols, f_rows = _finding_rows(_get(diagnosis, "findings", None) or [])
    marker_rows = sorted(_marker_rows(analysis),
                         key=lambda m: (str(m.get("time") or ""), str(m.get("kind")),
                                        str(m.get("host"))))
    mk_cols = ["time", "kind", "host", "role", "version", "from_version", "to_version",
               "evidence", "detail"]
    affected = _vm_table(att_rows)
    tables = {
        "start_attempts": (att_cols, att_rows),
        "findings": (f_cols, f_rows),
        "vms": _official_vms(analysis) or affected,
        "affected_vms": affected,
        "exceptions": (ex_cols, ex_rows),
        "masked_pairs": (m_cols, m_rows),
        "events_summary": _events_summary(events),
        "markers": (mk_cols, marker_rows),
    }
    summary = _summary(analysis, att_rows, marker_rows, ex_rows, m_rows, f_rows)
    evidence: list[EvidenceRecord] = []
    if files:
        locs: list[str] = []
        for f in f_rows:
            locs += f["evidence"][:8]
        for r in tables["affected_vms"][1]:
            if r["failed"]:
                locs += r["evidence"][:3]
        locs += [str(m["evidence"]) for m in marker_rows if m.get("evidence")]
        evidence = read_evidence(files, locs, patterns=patterns)
    return Report(title=title, inputs=[str(i) for i in inputs],
                  first_time=_get(analysis, "first_time"), last_time=_get(analysis, "last_time"),
                  summary=summary, figures=figures, tables=tables, findings=f_rows,
                  evidence=evidence)


# --------------------------------------------------------------------------- HTML

_CSS = """
body{font:14px/1.45 Arial,Helvetica,sans-serif;margin:0 auto;max-width:1280px;padding:0 16px;
color:#222}
h1{margin:24px 0 4px}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:36px}
.meta{color:#555}nav a{margin-right:12px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px;display:block;
overflow-x:auto;max-width:100%}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right}
pre{background:#f7f7f7;border:1px solid #e3e3e3;padding:8px;overflow-x:auto;font-size:12px;
white-space:pre-wrap;word-break:break-all}
.finding{margin-bottom:18px}.sev{font-size:12px;color:#fff;padding:1px 6px;border-radius:3px}
.sev-critical,.sev-error{background:#D55E00}.sev-warning{background:#E69F00}
.sev-info{background:#0072B2}.chart{margin:12px 0 28px}code{font-size:12px}
"""


def _h(value: Any) -> str:
    """Log text → HTML text: secrets masked, escaped."""
    return html.escape(redact(str(value)), quote=True) if value is not None else ""


def _h_title(value: Any) -> str:
    """A finding title: escaped, with its `code` spans as <code> (diagnose writes them)."""
    parts = redact(str(value)).split("`")
    if len(parts) % 2 == 0:  # unbalanced backticks: plain text
        return _h(value)
    return "".join(html.escape(p, quote=True) if i % 2 == 0 else
                   f"<code>{html.escape(p, quote=True)}</code>" for i, p in enumerate(parts))


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _html_table(cols: Sequence[str], rows: Sequence[dict[str, Any]], limit: int = 200) -> str:
    if not rows:
        return "<p><em>none</em></p>"
    head = "".join(f"<th>{_h(c)}</th>" for c in cols)
    body = []
    for r in rows[:limit]:
        tds = []
        for c in cols:
            v = r.get(c)
            cls = ' class="n"' if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
            tds.append(f"<td{cls}>{_h(_cell(v))}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    more = (f"<p><em>{len(rows) - limit} more rows in the CSV file</em></p>"
            if len(rows) > limit else "")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


#: How a page gets plotly.js: embedded once (offline, ~4.8 MB) or from its CDN (small
#: files, needs the network when opened).
PLOTLYJS_MODES = ("embed", "cdn")


def figure_div(fig: go.Figure, name: str, *, include_plotlyjs: bool | str) -> str:
    """One chart as an HTML fragment with the fixed id ``chart-<name>``."""
    return str(fig.to_html(full_html=False, include_plotlyjs=include_plotlyjs,
                           div_id=f"chart-{name}", config=_PLOTLY_CONFIG))


class _Divs:
    """Hand out chart fragments; the first one carries plotly.js (embedded once, or a
    ``<script src>`` of plotly's CDN)."""

    def __init__(self, figures: Mapping[str, go.Figure], plotlyjs: str = "embed") -> None:
        if plotlyjs not in PLOTLYJS_MODES:
            raise ValueError(f"plotlyjs must be one of {', '.join(PLOTLYJS_MODES)}")
        self.figures = figures
        self.first = True
        self.mode: bool | str = True if plotlyjs == "embed" else "cdn"

    def __call__(self, name: str) -> str:
        if name not in self.figures:
            return ""
        div = figure_div(self.figures[name], name, include_plotlyjs=self.mode if self.first else False)
        self.first = False
        return f'<div class="chart">{div}</div>'


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_h(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n{body}\n"
            f"</body>\n</html>\n")


def _span(first: str | None, last: str | None) -> str:
    if not first and not last:
        return "no timestamps"
    return f"{_short_time(first)} → {_short_time(last)} (as logged)"


def charts_page(figures: Mapping[str, go.Figure], *, title: str = "logparse timeline",
                subtitle: str = "", plotlyjs: str = "embed") -> str:
    """An HTML page of charts (``logparse timeline -o x.html``); self-contained unless
    ``plotlyjs="cdn"``."""
    divs = _Divs(figures, plotlyjs)
    parts = [f"<h1>{_h(title)}</h1>"]
    if subtitle:
        parts.append(f'<p class="meta">{_h(subtitle)}</p>')
    for name in figures:
        parts.append(f'<h2 id="{name}">{_h(CHART_TITLES.get(name, name))}</h2>{divs(name)}')
    return _page(title, "\n".join(parts))


def _finding_html(i: int, f: dict[str, Any]) -> str:
    sev = re.sub(r"[^a-z]", "", str(f.get("severity") or "info"))
    parts = [f'<div class="finding" id="finding-{i}"><h3>{i}. {_h_title(f["title"])}</h3>',
             f'<p><span class="sev sev-{sev}">{_h(f.get("severity"))}</span> '
             f"<code>{_h(f.get('kind'))}</code></p>"]
    vms = f.get("vms") or []
    if vms:
        shown = ", ".join(f"<code>{_h(v)}</code>" for v in vms[:30])
        more = f" … and {len(vms) - 30} more" if len(vms) > 30 else ""
        parts.append(f"<p>VMs ({len(vms)}): {shown}{more}</p>")
    stats = f.get("stats") or {}
    if stats:
        rows = "".join(f"<tr><th>{_h(k)}</th><td>{_h(_cell(v))}</td></tr>"
                       for k, v in sorted(stats.items()))
        parts.append(f"<table>{rows}</table>")
    ev = f.get("evidence") or []
    if ev:
        items = "".join(f"<li><code>{_h(loc)}</code></li>" for loc in ev[:20])
        more = f"<li>… and {len(ev) - 20} more</li>" if len(ev) > 20 else ""
        parts.append(f"<p>Evidence:</p><ul>{items}{more}</ul>")
    parts.append("</div>")
    return "\n".join(parts)


def render_html(report: Report, plotlyjs: str = "embed") -> str:
    """The report as one HTML page: self-contained (plotly.js embedded once) unless
    ``plotlyjs="cdn"``."""
    divs = _Divs(report.figures, plotlyjs)
    t = report.tables
    sections = [
        ("summary", "Summary"), ("timeline", "Timeline"), ("findings", "Findings"),
        ("vms", "Affected VMs and disk layouts"), ("exceptions", "Exceptions"),
        ("commands", "Agent commands"), ("evidence", "Raw evidence"),
    ]
    nav = " ".join(f'<a href="#{sid}">{_h(name)}</a>' for sid, name in sections)
    inputs = ", ".join(f"<code>{_h(i)}</code>" for i in report.inputs) or "-"
    body = [f"<h1>{_h(report.title)}</h1>",
            f'<p class="meta">Logs: {inputs}; time span {_h(_span(report.first_time, report.last_time))}.'
            " Tables as CSV in <code>data/</code>.</p>", f"<nav>{nav}</nav>"]
    body.append('<section id="summary"><h2>Summary</h2><ul>'
                + "".join(f"<li>{_h(s)}</li>" for s in report.summary) + "</ul></section>")
    body.append(f'<section id="timeline"><h2>Timeline</h2>{divs("timeline")}'
                f"<h3>Start attempts</h3>{divs('starts')}"
                f"<h3>Version and availability markers</h3>"
                f"{_html_table(*t['markers'])}</section>")
    fhtml = "".join(_finding_html(i, f) for i, f in enumerate(report.findings, 1))
    body.append(f'<section id="findings"><h2>Findings</h2>{fhtml or "<p>No findings.</p>"}'
                "</section>")
    vcols, vrows = t["affected_vms"]
    affected = [r for r in vrows if r["failed"]]
    body.append(f'<section id="vms"><h2>Affected VMs and disk layouts</h2>{divs("disks")}'
                f"<h3>VMs with a failed start ({len(affected)} of {len(vrows)})</h3>"
                f"{_html_table(vcols, affected)}</section>")
    body.append(f'<section id="exceptions"><h2>Exceptions</h2>{divs("exceptions")}'
                f"<h3>Fingerprint groups</h3>{_html_table(*t['exceptions'])}"
                f"<h3>Masked pairs (first exception hidden by a second one)</h3>"
                f"{_html_table(*t['masked_pairs'])}</section>")
    body.append(f'<section id="commands"><h2>Agent commands</h2>{divs("latency")}</section>')
    ev = "".join(f'<h3 id="ev-{i}"><code>{_h(e.location)}</code></h3><pre>{_h(e.text)}</pre>'
                 for i, e in enumerate(report.evidence, 1))
    body.append('<section id="evidence"><h2>Raw evidence</h2>'
                "<p>The log records the findings point at (secrets masked).</p>"
                f"{ev or '<p><em>not available</em></p>'}</section>")
    return _page(report.title, "\n".join(body))


# --------------------------------------------------------------------------- Markdown


def _md(value: Any) -> str:
    """Log text → Markdown inline text: secrets masked, HTML and table pipes escaped."""
    s = redact(_cell(value)).replace("\r", "").replace("\n", " ")
    return html.escape(s, quote=False).replace("|", "\\|").replace("`", "'")


def _md_title(value: Any) -> str:
    """A finding title in Markdown: text escaped, `code` spans kept (their content is literal)."""
    parts = redact(str(value)).replace("\n", " ").split("`")
    if len(parts) % 2 == 0:
        return _md(value)
    return "".join(html.escape(p, quote=False) if i % 2 == 0 else f"`{p}`"
                   for i, p in enumerate(parts))


def _code(value: Any) -> str:
    s = redact(str(value)).replace("`", "'").replace("\n", " ").replace("|", "\\|")
    return f"`{s}`"


def _md_table(cols: Sequence[str], rows: Sequence[dict[str, Any]], limit: int = 50) -> list[str]:
    if not rows:
        return ["*none*", ""]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows[:limit]:
        out.append("| " + " | ".join(_md(r.get(c)) for c in cols) + " |")
    if len(rows) > limit:
        out.append(f"\n*{len(rows) - limit} more rows in the CSV file*")
    out.append("")
    return out


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def render_markdown(report: Report, images: Mapping[str, str] | None = None) -> str:
    """The report as Markdown; ``images`` maps chart → relative image path.

    A chart without an image is linked to its interactive version in ``report.html``.
    """
    images = images or {}

    def chart(name: str) -> list[str]:
        if name not in report.figures:
            return []
        title = CHART_TITLES.get(name, name)
        if name in images:
            return [f"![{title}]({images[name]})", ""]
        return [f"[{title} (interactive chart in report.html)](report.html#chart-{name})", ""]

    t = report.tables
    inputs = ", ".join(_code(i) for i in report.inputs) or "-"
    out = [f"# {_md(report.title)}", "",
           f"Logs: {inputs}; time span {_md(_span(report.first_time, report.last_time))}. "
           "Interactive charts: [report.html](report.html); tables: `data/*.csv`.", "",
           "## Summary", ""]
    out += [f"- {_md(s)}" for s in report.summary] + [""]
    out += ["## Timeline", "", *chart("timeline"), *chart("starts"),
            "### Version and availability markers", "", *_md_table(*t["markers"])]
    out += ["## Findings", ""]
    if not report.findings:
        out += ["No findings.", ""]
    for i, f in enumerate(report.findings, 1):
        out += [f"### {i}. {_md_title(f['title'])}", "",
                f"*{_md(f.get('kind'))}, {_md(f.get('severity'))}*", ""]
        vms = f.get("vms") or []
        if vms:
            more = f" … and {len(vms) - 30} more" if len(vms) > 30 else ""
            out += [f"VMs ({len(vms)}): " + ", ".join(_code(v) for v in vms[:30]) + more, ""]
        stats = f.get("stats") or {}
        if stats:
            out += ["| stat | value |", "|---|---|"]
            out += [f"| {_md(k)} | {_md(v)} |" for k, v in sorted(stats.items())] + [""]
        ev = f.get("evidence") or []
        if ev:
            out += ["Evidence:", ""] + [f"- {_code(loc)}" for loc in ev[:20]]
            if len(ev) > 20:
                out.append(f"- … and {len(ev) - 20} more")
            out.append("")
    vcols, vrows = t["affected_vms"]
    affected = [r for r in vrows if r["failed"]]
    out += ["## Affected VMs and disk layouts", "", *chart("disks"),
            f"VMs with a failed start: {len(affected)} of {len(vrows)}.", "",
            *_md_table(vcols, affected)]
    out += ["## Exceptions", "", *chart("exceptions"), "### Fingerprint groups", "",
            *_md_table(*t["exceptions"]),
            "### Masked pairs (first exception hidden by a second one)", "",
            *_md_table(*t["masked_pairs"])]
    out += ["## Agent commands", "", *chart("latency")]
    out += ["## Raw evidence", "", "The log records the findings point at (secrets masked).", ""]
    if not report.evidence:
        out += ["*not available*", ""]
    for e in report.evidence:
        fence = _fence(e.text)
        out += [f"### {_code(e.location)}", "", f"{fence}text", e.text, fence, ""]
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------- writing


@dataclass(slots=True)
class ReportResult:
    """What ``write_report`` wrote; ``image_error`` is set when images could not be made."""

    outdir: Path
    files: list[str]
    image_error: str | None = None
    image_seconds: list[float] = field(default_factory=list)


def _check_outdir(outdir: Path, force: bool) -> None:
    if outdir.exists() and not outdir.is_dir():
        raise OutputError(f"{outdir}: exists and is not a directory")
    if outdir.is_dir() and any(outdir.iterdir()) and not force:
        raise OutputError(f"{outdir}: directory is not empty (use --force to replace it)")
    parent = outdir.parent
    if not parent.is_dir():
        raise OutputError(f"{outdir}: directory {parent} does not exist")


def _make_tmp(outdir: Path) -> Path:
    for n in range(1000):
        tmp = outdir.parent / f".{outdir.name}.tmp-{os.getpid()}-{n}"
        try:
            tmp.mkdir()  # honours the umask, unlike mkdtemp's 0700
            return tmp
        except FileExistsError:
            continue
        except OSError as e:  # a directory that takes no files (/proc, read-only)
            raise OutputError(f"{outdir}: cannot write in {outdir.parent}: {e.strerror or e}") from e
    raise OutputError(f"{outdir}: cannot create a temporary directory beside it")


def _redacted(value: Any) -> Any:
    """Mask secrets in every string of a table cell (lists and dicts included)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (list, tuple)):
        return [_redacted(v) for v in value]
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    return value


def _write_text(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8", newline="") as fp:
        fp.write(text)


def write_report(report: Report, outdir: str | Path, *, force: bool = False,
                 images: bool = True, image_format: str = "png",
                 renderer: Callable[[], ImageRenderer] = ImageRenderer, plotlyjs: str = "embed") -> ReportResult:
    """Write ``report.html``, ``report.md``, ``images/`` and ``data/`` into ``outdir``.

    The files are built in a temporary directory beside ``outdir`` and renamed into place,
    so ``outdir`` holds a whole report or is left as it was. When images cannot be made
    (no Chromium), the report is still written with Markdown linking to the HTML charts,
    and ``image_error`` says why.

    :param force: replace a non-empty ``outdir``.
    :param images: make static images (``False``: Markdown links to the HTML charts).
    :param plotlyjs: ``embed`` (offline page) or ``cdn`` (a ``<script src>`` of plotly's CDN).
    :raises OutputError: ``outdir`` is a non-empty directory (without ``force``), a file,
        or cannot be written.
    """
    out = Path(outdir)
    _check_outdir(out, force)
    tmp = _make_tmp(out)
    result = ReportResult(outdir=out, files=[])
    try:
        data = tmp / "data"
        data.mkdir()
        for name, (cols, rows) in report.tables.items():
            clean = [{c: _redacted(r.get(c)) for c in cols} for r in rows]
            _write_text(data / f"{name}.csv", render_rows(clean, cols, "csv"))
            result.files.append(f"data/{name}.csv")
        image_paths: dict[str, str] = {}
        if images and report.figures:
            img_dir = tmp / "images"
            img_dir.mkdir()
            try:
                with renderer() as r:
                    for name, fig in report.figures.items():
                        rel = f"images/{name}.{image_format}"
                        (tmp / rel).write_bytes(r.render(fig, image_format))
                        image_paths[name] = rel
                    result.image_seconds = list(r.seconds)
            except ImageExportError as e:
                result.image_error = str(e)
                shutil.rmtree(img_dir, ignore_errors=True)
                image_paths = {}
            result.files += [image_paths[n] for n in report.figures if n in image_paths]
        _write_text(tmp / "report.html", render_html(report, plotlyjs))
        _write_text(tmp / "report.md", render_markdown(report, image_paths))
        result.files[:0] = ["report.html", "report.md"]
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.rename(out, old)
            os.rename(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError):
            raise OutputError(f"{out}: {e.strerror or e}") from e
        raise
    return result


