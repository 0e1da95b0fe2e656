"""Pure ``DataFrame -> plotly Figure`` builders for the postmortem charts; no file I/O.

Five charts, each built from one table (column sets below; extra columns are ignored,
missing optional ones are treated as empty):

* ``timeline``: events per time bin by category, one row per host, with upgrade / rollback /
  restart markers and shaded host outages (``events`` + ``markers``);
* ``starts``: per-VM swimlanes of start attempts coloured by outcome and failure kind
  (``attempts`` + ``markers``);
* ``exceptions``: stack-trace fingerprints over time, symbol per host (``traces``);
* ``disks``: each VM's disks by position in the StartCommand array, device id printed in each
  cell, cells out of device order marked, failed VMs first — the picture that explains the
  2013 incident (``attempts``);
* ``latency``: agent command round-trip times per command and host, log scale (``commands``).

Every string taken from a log goes through :func:`logparse.redact.redact` and
:func:`html.escape` before it reaches a figure (plotly renders hover text, tick labels and
legend names as a subset of HTML).
Figures are deterministic: inputs are sorted, no random ids, times become ISO strings.

Usage::

    figs = build_figures(ChartFrames(events=ev, markers=mk, attempts=at, traces=tr, commands=cm))
    figs["disks"].write_image("disks.png")   # needs kaleido + Chromium
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .redact import redact

__all__ = [
    "ATTEMPT_COLUMNS",
    "CHARTS",
    "COMMAND_COLUMNS",
    "EVENT_COLUMNS",
    "MARKER_COLUMNS",
    "OKABE_ITO",
    "TRACE_COLUMNS",
    "ChartFrames",
    "build_figures",
    "disk_cells",
    "disks_figure",
    "empty_figure",
    "exceptions_figure",
    "fingerprint_label",
    "latency_figure",
    "starts_figure",
    "timeline_figure",
]

#: Okabe & Ito (2008) colour-blind-safe palette, black first.
OKABE_ITO = (
    "#000000",  # black
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#009E73",  # bluish green
    "#F0E442",  # yellow
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
)
_BLACK, _ORANGE, _SKY, _GREEN, _YELLOW, _BLUE, _VERMILLION, _PURPLE = OKABE_ITO
_GREY = "#999999"
_LIGHT_GREY = "#D9D9D9"
#: Series colours, most distinguishable first (yellow last: weak on white).
_CYCLE = (_BLUE, _ORANGE, _GREEN, _VERMILLION, _PURPLE, _SKY, _BLACK, _YELLOW)
_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "cross", "x", "triangle-down",
            "star", "hexagon", "pentagon")

#: Columns each chart reads (an ``Event`` / ``StartAttempt`` / ... as a dict, flattened).
EVENT_COLUMNS = ("timestamp", "host", "role", "event", "category", "severity", "source", "line",
                 "message")
MARKER_COLUMNS = ("time", "kind", "host", "version", "evidence")
ATTEMPT_COLUMNS = (
    "vm", "vm_id", "job", "host", "host_id", "seq", "time", "end_time", "outcome", "reason",
    "failure_kind", "disks", "disk_count", "data_disks", "out_of_order", "gaps", "null_device",
    "disk_order_mismatch", "agent_version", "ms_version", "after_upgrade", "primary_exception",
    "masking_exception", "fingerprints", "evidence",
)
TRACE_COLUMNS = ("timestamp", "host", "source", "line", "thread", "seq", "logid", "exception",
                 "message", "root_cause", "fingerprint", "first_app_frame", "masked")
COMMAND_COLUMNS = ("seq", "command", "vm_name", "host", "sent_at", "latency_ms", "answered",
                   "result", "source", "line")

_TEMPLATE = "plotly_white"
_FONT = {"family": "Arial, Helvetica, sans-serif", "size": 12}
_HOVER_MAX = 240

#: How marker kinds are drawn: label, colour, dash, symbol, annotated at the top?
_MARKER_STYLE: dict[str, tuple[str, str, str, str, bool]] = {
    "upgrade": ("upgrade", _BLUE, "solid", "triangle-up", True),
    "db_upgrade": ("DB upgrade", _BLUE, "dash", "triangle-up-open", True),
    "rollback": ("rollback", _ORANGE, "solid", "triangle-down", True),
    "ms_start": ("MS start", _BLACK, "dot", "star", False),
    "agent_version": ("agent version", _PURPLE, "dot", "diamond", False),
    "host_down": ("host down", _VERMILLION, "solid", "x", False),
    "host_up": ("host up", _GREEN, "solid", "circle", False),
}
_MARKER_ORDER = tuple(_MARKER_STYLE)

_OUTCOME_STYLE: dict[tuple[str, str], tuple[str, str, str]] = {
    # (outcome, failure_kind) -> (legend name, colour, symbol)
    ("failed", "agent_exception"): ("failed: agent exception", _VERMILLION, "x"),
    ("failed", "capacity"): ("failed: capacity", _ORANGE, "diamond"),
    ("failed", "other"): ("failed: other", _PURPLE, "square"),
    ("succeeded", ""): ("succeeded", _GREEN, "circle"),
    ("unknown", ""): ("unknown outcome", _GREY, "circle-open"),
}


@dataclass(frozen=True, slots=True)
class ChartFrames:
    """The tables the charts are built from (any may be empty)."""

    events: pd.DataFrame = field(default_factory=pd.DataFrame)
    markers: pd.DataFrame = field(default_factory=pd.DataFrame)
    attempts: pd.DataFrame = field(default_factory=pd.DataFrame)
    traces: pd.DataFrame = field(default_factory=pd.DataFrame)
    commands: pd.DataFrame = field(default_factory=pd.DataFrame)


# --------------------------------------------------------------------------- helpers


def _esc(value: Any, limit: int = _HOVER_MAX) -> str:
    """Log text → safe plotly text: secrets masked, escaped, one line, cut to ``limit``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    s = redact(str(value)).replace("\r", "").replace("\n", " ⏎ ").replace("\t", " ")
    if limit and len(s) > limit:
        s = s[: limit - 1] + "…"
    # quote=False: plotly decodes &lt; &gt; &amp; but quotes are harmless in its text.
    return html.escape(s, quote=False)


def _ensure(df: pd.DataFrame | None, columns: Sequence[str]) -> pd.DataFrame:
    """Return a copy of ``df`` with every column of ``columns`` (missing ones empty)."""
    out = pd.DataFrame() if df is None else df.copy()
    for c in columns:
        if c not in out.columns:
            out[c] = None
    if out.columns.has_duplicates:
        out = out.loc[:, ~out.columns.duplicated()]
    return out.reset_index(drop=True)


def _times(values: pd.Series) -> pd.Series:
    """Parse ISO-8601 strings / datetimes to naive ``datetime64``; unparseable → NaT.

    A trailing ``Z`` (``--tz`` output) is dropped: all times in one chart are drawn as written.
    """
    if values.empty:
        return pd.Series([], dtype="datetime64[ms]")
    if pd.api.types.is_datetime64_any_dtype(values):
        s = values
        if getattr(s.dt, "tz", None) is not None:
            s = s.dt.tz_convert("UTC").dt.tz_localize(None)
        return s
    text = values.map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v))
                      else (v.isoformat() if hasattr(v, "isoformat") else str(v)))
    text = text.map(lambda v: v[:-1] if isinstance(v, str) and v.endswith("Z") else v)
    text = text.map(lambda v: v.split("+")[0] if isinstance(v, str) and "T" in v else v)
    return pd.to_datetime(text, format="ISO8601", errors="coerce")


def _iso(ts: Any) -> str:
    """One timestamp as ISO text with milliseconds (what plotly's date axis reads)."""
    t = pd.Timestamp(ts)
    return str(t.strftime("%Y-%m-%dT%H:%M:%S.")) + f"{t.microsecond // 1000:03d}"


def _isos(values: Iterable[Any]) -> list[str | None]:
    return [None if pd.isna(v) else _iso(v) for v in values]


def _loc(source: Any, line: Any) -> str:
    if source is None or (isinstance(source, float) and math.isnan(source)):
        return ""
    try:
        return f"{source}:{int(line)}"
    except (TypeError, ValueError):
        return str(source)


def _evidence_text(ev: Any, limit: int = 3) -> str:
    """``["a.log:12", ...]`` / ``[{"source":..,"line":..}]`` / ``"a.log:12"`` → short text."""
    if ev is None or (isinstance(ev, float) and math.isnan(ev)):
        return ""
    if isinstance(ev, str):
        items = [ev]
    elif isinstance(ev, dict):
        items = [_loc(ev.get("source"), ev.get("line"))]
    else:
        items = [(_loc(e.get("source"), e.get("line")) if isinstance(e, dict) else str(e))
                 for e in ev]
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _is_true(v: Any) -> bool:
    return bool(v) and not (isinstance(v, float) and math.isnan(v))


def _str(v: Any, default: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return default
    return str(v)


_BUILD_STAMP = re.compile(r"^(\d+(?:\.\d+)*?)[.\-_]\d{8,}$")


def _short_version(v: Any) -> str:
    """``2.2.14.20120210102939`` → ``2.2.14`` (labels only; the hover keeps it whole)."""
    s = _str(v)
    m = _BUILD_STAMP.match(s)
    return m.group(1) if m else s


def _base_layout(fig: go.Figure, title: str, subtitle: str | None = None) -> None:
    text = title if not subtitle else f"{title}<br><sup>{subtitle}</sup>"
    fig.update_layout(
        template=_TEMPLATE,
        font=_FONT,
        title={"text": text, "x": 0.01, "xanchor": "left"},
        hoverlabel={"align": "left"},
        legend={"traceorder": "normal"},
    )


def empty_figure(title: str, message: str = "no data") -> go.Figure:
    """A figure holding only a centred annotation (empty inputs never raise)."""
    fig = go.Figure()
    _base_layout(fig, title)
    fig.update_layout(
        xaxis={"visible": False}, yaxis={"visible": False}, height=400,
        annotations=[{"text": _esc(message), "xref": "paper", "yref": "paper", "x": 0.5,
                      "y": 0.5, "showarrow": False, "font": {"size": 18, "color": _GREY}}],
    )
    return fig


def _note(fig: go.Figure, text: str, y: float = -0.12) -> None:
    fig.add_annotation(text=text, xref="paper", yref="paper", x=0, y=y, xanchor="left",
                       yanchor="top", showarrow=False, font={"size": 11, "color": "#555555"})


def _marker_frame(markers: pd.DataFrame | None) -> pd.DataFrame:
    mk = _ensure(markers, MARKER_COLUMNS)
    mk["t"] = _times(mk["time"]) if len(mk) else pd.Series([], dtype="datetime64[ms]")
    mk = mk[mk["t"].notna() & mk["kind"].isin(_MARKER_ORDER)]
    mk = mk.assign(_k=mk["kind"].map(_MARKER_ORDER.index), _h=mk["host"].map(_str))
    return mk.sort_values(["t", "_k", "_h"], kind="stable").reset_index(drop=True)


def _outages(mk: pd.DataFrame, end: pd.Timestamp | None) -> list[tuple[str, Any, Any, bool]]:
    """``host_down`` → next ``host_up`` of the same host: ``(host, t0, t1, closed)``."""
    out: list[tuple[str, Any, Any, bool]] = []
    open_: dict[str, Any] = {}
    for row in mk.itertuples(index=False):
        host = _str(row.host, "?")
        if row.kind == "host_down" and host not in open_:
            open_[host] = row.t
        elif row.kind == "host_up" and host in open_:
            out.append((host, open_.pop(host), row.t, True))
    for host, t0 in sorted(open_.items()):
        out.append((host, t0, end if end is not None and end > t0 else t0, False))
    return sorted(out, key=lambda o: (o[1], o[0]))


def _add_marker_lines(fig: go.Figure, mk: pd.DataFrame, *, annotate: bool = True,
                      legend: bool = False, max_annotations: int = 8) -> None:
    """Vertical lines through the whole plot for upgrades, rollbacks and restarts.

    Upgrades and rollbacks are labelled (rotated text at the top) unless a label was already
    placed within 3 % of the time span, so close markers do not print over each other.
    """
    lines = mk[~mk["kind"].isin(("host_down", "host_up"))]
    if lines.empty:
        return
    span = (lines["t"].max() - lines["t"].min()) if len(lines) > 1 else pd.Timedelta(0)
    min_gap = span * 0.03
    last: Any = None
    n_ann = 0
    for row in lines.itertuples(index=False):
        label, colour, dash, _sym, ann = _MARKER_STYLE[row.kind]
        x = _iso(row.t)
        fig.add_shape(type="line", xref="x", yref="paper", x0=x, x1=x, y0=0, y1=1,
                      line={"color": colour, "width": 1.5 if ann else 1, "dash": dash},
                      layer="below")
        if not (annotate and ann and n_ann < max_annotations):
            continue
        if last is not None and row.t - last < min_gap:
            continue
        text = f"{label} {_esc(_short_version(row.version), 20)}".strip()
        fig.add_annotation(x=x, xref="x", y=1.0, yref="paper", text=text, showarrow=False,
                           textangle=-90, xanchor="right", yanchor="top",
                           font={"size": 10, "color": colour})
        last = row.t
        n_ann += 1
    if legend:  # one legend entry per line style drawn
        for kind in _MARKER_ORDER:
            if kind in set(lines["kind"]):
                label, colour, dash, _sym, _ann = _MARKER_STYLE[kind]
                fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=label,
                                         legendgroup=f"marker:{kind}",
                                         line={"color": colour, "dash": dash, "width": 1.5}))


def _add_outage_bands(fig: go.Figure, mk: pd.DataFrame, end: pd.Timestamp | None,
                      host_rows: dict[str, int] | None = None) -> int:
    """Shade ``host_down`` → ``host_up``: in the host's own row when it has one."""
    n = 0
    for host, t0, t1, closed in _outages(mk, end):
        row = (host_rows or {}).get(host)
        yref = "paper" if row is None else ("y domain" if row == 1 else f"y{row} domain")
        fig.add_shape(type="rect", xref="x", yref=yref, x0=_iso(t0), x1=_iso(t1), y0=0, y1=1,
                      fillcolor=_VERMILLION, opacity=0.12, line={"width": 0}, layer="below")
        fig.add_annotation(x=_iso(t0), xref="x", y=1, yref=yref, yanchor="top",
                           xanchor="left", showarrow=False,
                           text=f"{_esc(host, 30)} down" + ("" if closed else " (no host_up)"),
                           font={"size": 10, "color": _VERMILLION})
        n += 1
    return n


def _pick_bin(span: pd.Timedelta, max_bins: int = 360) -> tuple[str, str]:
    for freq, label in (("1min", "1 minute"), ("5min", "5 minutes"), ("15min", "15 minutes"),
                        ("1h", "1 hour"), ("6h", "6 hours"), ("1D", "1 day")):
        if span / pd.Timedelta(freq) <= max_bins:
            return freq, label
    return "7D", "7 days"


# --------------------------------------------------------------------------- (a) timeline


def timeline_figure(events: pd.DataFrame | None, markers: pd.DataFrame | None = None, *,
                    freq: str | None = None, max_hosts: int = 6) -> go.Figure:
    """Events per time bin stacked by category, one row per host, with incident markers.

    The bin is one minute unless the logs span more than 360 minutes; then the smallest of
    5 min, 15 min, 1 h, 6 h, 1 day that gives ≤ 360 bins (named in the axis title).
    Upgrades, rollbacks, MS starts and agent versions are vertical lines (and points in the
    top "markers" row, with their evidence in the hover); host outages (``host_down`` →
    ``host_up``) are shaded bands.

    :param events: columns ``EVENT_COLUMNS`` (``timestamp``, ``host``, ``category`` needed).
    :param markers: columns ``MARKER_COLUMNS``.
    :param freq: force a pandas bin frequency (``"1min"``).
    :param max_hosts: busiest hosts that get a row; the rest share an "other hosts" row.
    """
    title = "Incident timeline: events by category and host"
    ev = _ensure(events, EVENT_COLUMNS)
    ev["t"] = _times(ev["timestamp"]) if len(ev) else pd.Series([], dtype="datetime64[ms]")
    ev = ev[ev["t"].notna()].copy()
    mk = _marker_frame(markers)
    if ev.empty and mk.empty:
        return empty_figure(title, "no events with a timestamp")
    ev["host"] = ev["host"].map(lambda h: _str(h, "?"))
    ev["category"] = ev["category"].map(lambda c: _str(c, "other"))
    ev["loc"] = [_loc(s, n) for s, n in zip(ev["source"], ev["line"], strict=True)]

    all_t = pd.concat([ev["t"], mk["t"]]) if len(mk) else ev["t"]
    t_min, t_max = all_t.min(), all_t.max()
    label = "1 minute"
    if freq is None:
        freq, label = _pick_bin(t_max - t_min)
    else:
        label = freq

    counts = ev.groupby("host").size()
    busiest = sorted(counts.index, key=lambda h: (-int(counts[h]), h))[:max_hosts]
    hosts = sorted(busiest)
    if len(counts) > len(busiest):
        ev.loc[~ev["host"].isin(busiest), "host"] = "other hosts"
        hosts.append("other hosts")
    categories = sorted(ev["category"].unique())
    colours = {c: _CYCLE[i % len(_CYCLE)] for i, c in enumerate(categories)}

    has_strip = not mk.empty
    n_rows = len(hosts) + (1 if has_strip else 0)
    if n_rows == 0:
        n_rows = 1
    heights = ([0.16] if has_strip else []) + [
        (0.84 if has_strip else 1.0) / max(len(hosts), 1)] * len(hosts)
    fig = make_subplots(rows=n_rows, cols=1, shared_xaxes=True, vertical_spacing=0.03,
                        row_heights=heights or None)
    if has_strip:
        _add_marker_strip(fig, mk, row=1, span=t_max - t_min)
    ev["bin"] = ev["t"].dt.floor(freq)
    ev = ev.sort_values(["host", "bin", "category", "t", "loc"], kind="stable")
    shown: set[str] = set()
    for r, host in enumerate(hosts, start=2 if has_strip else 1):
        sub = ev[ev["host"] == host]
        for cat in categories:
            part = sub[sub["category"] == cat]
            if part.empty:
                continue
            g = part.groupby("bin", sort=True).agg(n=("t", "size"), first=("loc", "first"))
            fig.add_trace(go.Bar(
                x=_isos(g.index), y=[int(v) for v in g["n"]], name=_esc(cat, 40),
                legendgroup=f"cat:{_esc(cat, 80)}", showlegend=cat not in shown,
                marker={"color": colours[cat], "line": {"width": 0}},
                customdata=[[_esc(host, 60), _esc(f, 200)] for f in g["first"]],
                hovertemplate=(f"<b>{_esc(cat, 40)}</b> on %{{customdata[0]}}<br>%{{x}}"
                               f"<br>%{{y}} events in {label}<br>first: %{{customdata[1]}}"
                               "<extra></extra>"),
            ), row=r, col=1)
            shown.add(cat)
        fig.update_yaxes(title_text=_esc(host, 24), row=r, col=1, rangemode="tozero")
    _add_marker_lines(fig, mk, annotate=False)  # the marker row carries the labels
    first_row = 2 if has_strip else 1
    n_out = _add_outage_bands(fig, mk, t_max,
                              {h: first_row + i for i, h in enumerate(hosts)})
    fig.update_xaxes(type="date")
    fig.update_xaxes(title_text="time (as logged)", row=n_rows, col=1)
    sub = (f"{len(ev):,} events in bins of {label}; {len(hosts)} host row(s)"
           + (f"; {n_out} host outage(s) shaded" if n_out else ""))
    _base_layout(fig, title, sub)
    fig.update_layout(barmode="stack", bargap=0.05,
                      height=max(450, 170 + 150 * len(hosts) + (110 if has_strip else 0)),
                      legend={"title": {"text": "category / marker"}})
    return fig


def _strip_labels(times: pd.Series, versions: pd.Series, span: pd.Timedelta) -> list[str]:
    """Label a marker only when the last labelled one of its row is ≥ 4 % of the span away."""
    out: list[str] = []
    last: Any = None
    for t, v in zip(times, versions, strict=True):
        if last is None or t - last >= span * 0.04:
            out.append(_esc(_short_version(v), 16))
            last = t
        else:
            out.append("")
    return out


def _add_marker_strip(fig: go.Figure, mk: pd.DataFrame, row: int, span: pd.Timedelta) -> None:
    kinds = [k for k in _MARKER_ORDER if k in set(mk["kind"])]
    for kind in kinds:
        part = mk[mk["kind"] == kind]
        label, colour, _dash, symbol, _ann = _MARKER_STYLE[kind]
        fig.add_trace(go.Scatter(
            x=_isos(part["t"]), y=[label] * len(part), mode="markers+text", name=label,
            legendgroup=f"marker:{kind}",
            text=_strip_labels(part["t"], part["version"], span), textposition="middle right",
            textfont={"size": 9, "color": colour},
            marker={"symbol": symbol, "color": colour, "size": 10},
            customdata=[[_esc(h, 40), _esc(v, 40), _esc(_evidence_text(e), 200)]
                        for h, v, e in zip(part["host"], part["version"], part["evidence"],
                                           strict=True)],
            hovertemplate=(f"<b>{label}</b> %{{customdata[1]}}<br>host: %{{customdata[0]}}"
                           "<br>%{x}<br>evidence: %{customdata[2]}<extra></extra>"),
        ), row=row, col=1)
    fig.update_yaxes(type="category", categoryorder="array",
                     categoryarray=[_MARKER_STYLE[k][0] for k in reversed(kinds)],
                     row=row, col=1, showgrid=False)


# --------------------------------------------------------------------------- (b) starts


def _attempts_frame(attempts: pd.DataFrame | None) -> pd.DataFrame:
    at = _ensure(attempts, ATTEMPT_COLUMNS)
    if at.empty:
        return at.assign(t=pd.Series([], dtype="datetime64[ms]"),
                         t_end=pd.Series([], dtype="datetime64[ms]"))
    at["vm"] = at["vm"].map(lambda v: _str(v, "?"))
    at["outcome"] = at["outcome"].map(lambda v: _str(v, "unknown"))
    at["failure_kind"] = at["failure_kind"].map(lambda v: _str(v))
    at["t"] = _times(at["time"])
    at["t_end"] = _times(at["end_time"])
    return at.sort_values(["vm", "t", "job"], kind="stable", na_position="last",
                          key=lambda s: s.map(str) if s.name == "job" else s
                          ).reset_index(drop=True)


def _vm_order(at: pd.DataFrame) -> tuple[list[str], set[str]]:
    """Failed VMs first (by first failure time, then name), then the rest by name."""
    failed = at[at["outcome"] == "failed"]
    first_fail = failed.groupby("vm")["t"].min()
    failed_vms = sorted(first_fail.index,
                        key=lambda v: (pd.isna(first_fail[v]),
                                       first_fail[v] if not pd.isna(first_fail[v]) else 0, v))
    rest = sorted(set(at["vm"]) - set(failed_vms))
    return failed_vms + rest, set(failed_vms)


def _style_key(outcome: str, kind: str) -> tuple[str, str]:
    if outcome == "failed":
        return ("failed", kind if kind in ("agent_exception", "capacity") else "other")
    if outcome == "succeeded":
        return ("succeeded", "")
    return ("unknown", "")


def _disk_ids(disks: Any) -> str:
    if not isinstance(disks, (list, tuple)):
        return ""
    ids = []
    for d in disks:
        dev = d.get("device_id") if isinstance(d, dict) else None
        typ = _str(d.get("type")) if isinstance(d, dict) else ""
        ids.append(("∅" if dev is None else str(dev)) + ("(ISO)" if typ.upper() == "ISO" else ""))
    return "[" + ", ".join(ids) + "]"


def starts_figure(attempts: pd.DataFrame | None, markers: pd.DataFrame | None = None, *,
                  max_vms: int = 60) -> go.Figure:
    """Per-VM swimlanes: one point per start attempt, coloured by outcome and failure kind.

    A line runs from each attempt's start to its end. Failed VMs are on top. Hover shows the
    job, host, reason, disk device ids in array order and the evidence ``file:line``.
    """
    title = "VM start attempts by outcome"
    at = _attempts_frame(attempts)
    at = at[at["t"].notna()]
    if at.empty:
        return empty_figure(title, "no VM start attempts with a timestamp")
    order, failed = _vm_order(at)
    note = None
    if len(order) > max_vms:
        keep = order[:max_vms]
        note = f"{len(order) - max_vms} more VMs not shown (all failed VMs come first)"
        order = keep
        at = at[at["vm"].isin(keep)]
    fig = go.Figure()
    for key in _OUTCOME_STYLE:
        at_key = at[[_style_key(o, k) == key for o, k in zip(at["outcome"], at["failure_kind"],
                                                             strict=True)]]
        if at_key.empty:
            continue
        name, colour, symbol = _OUTCOME_STYLE[key]
        xs: list[str | None] = []
        ys: list[str | None] = []
        for t0, t1, vm in zip(at_key["t"], at_key["t_end"], at_key["vm"], strict=True):
            if pd.notna(t1) and t1 > t0:
                xs += [_iso(t0), _iso(t1), None]
                ys += [_esc(vm, 60), _esc(vm, 60), None]
        if xs:
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"color": colour, "width": 3},
                                     legendgroup=name, showlegend=False, hoverinfo="skip",
                                     name=name))
        fig.add_trace(go.Scatter(
            x=_isos(at_key["t"]), y=[_esc(v, 60) for v in at_key["vm"]], mode="markers",
            name=name, legendgroup=name,
            marker={"color": colour, "symbol": symbol, "size": 11,
                    "line": {"width": 1.5, "color": colour}},
            customdata=[[_esc(_str(r.job)), _esc(_str(r.host)), _esc(_str(r.outcome)),
                         _esc(_str(r.failure_kind) or "-"), _esc(_str(r.reason) or "-"),
                         _esc(_disk_ids(r.disks)), _esc(_evidence_text(r.evidence))]
                        for r in at_key.itertuples(index=False)],
            hovertemplate=("<b>%{y}</b> %{x}<br>job: %{customdata[0]}<br>host: %{customdata[1]}"
                           "<br>outcome: %{customdata[2]} (%{customdata[3]})"
                           "<br>reason: %{customdata[4]}<br>disk device ids: %{customdata[5]}"
                           "<br>evidence: %{customdata[6]}<extra></extra>"),
        ))
    mk = _marker_frame(markers)
    _add_marker_lines(fig, mk, legend=True)
    n_fail = len(failed & set(order))
    if n_fail and n_fail < len(order):
        fig.add_shape(type="line", xref="paper", x0=0, x1=1, y0=n_fail - 0.5, y1=n_fail - 0.5,
                      line={"color": _GREY, "width": 1, "dash": "dot"})
    n_att = len(at)
    n_failed_att = int((at["outcome"] == "failed").sum())
    sub = (f"{n_att} attempts of {len(order)} VMs; {n_failed_att} failed attempts, "
           f"{n_fail} VMs with a failure (listed first)")
    _base_layout(fig, title, sub)
    fig.update_xaxes(type="date", title_text="time (as logged)")
    fig.update_yaxes(type="category", categoryorder="array",
                     categoryarray=[_esc(v, 60) for v in order], autorange="reversed",
                     title_text="VM", automargin=True)
    fig.update_layout(height=min(max(420, 170 + 22 * len(order)), 1600),
                      legend={"title": {"text": "outcome / marker"}})
    if note:
        _note(fig, note)
    return fig


# --------------------------------------------------------------------------- (c) exceptions

_ACRONYM_PACKAGES = ("java.", "javax.")


def fingerprint_label(exception: Any, frame: Any, fingerprint: Any = None) -> str:
    """Short label for a trace group: ``NPE@cleanupVMNetworks``, ``IOOBE@createVbd``.

    JDK exceptions become acronyms (NullPointerException → NPE); CloudStack ones keep their
    simple name. The method is the first in-application frame's.
    """
    exc = _str(exception, "?")
    simple = exc.rsplit(".", 1)[-1]
    if exc.startswith(_ACRONYM_PACKAGES) and simple.endswith(("Exception", "Error")):
        caps = "".join(ch for ch in simple if ch.isupper())
        simple = caps if len(caps) >= 2 else simple
    method = ""
    if frame is not None and not (isinstance(frame, float) and math.isnan(frame)):
        if hasattr(frame, "method"):
            method = str(frame.method)
        elif isinstance(frame, dict):
            method = _str(frame.get("method"))
        else:
            text = str(frame).split("(")[0]
            method = text.rsplit(".", 1)[-1]
    label = f"{simple}@{method}" if method else simple
    return label


def _traces_frame(traces: pd.DataFrame | None) -> pd.DataFrame:
    tr = _ensure(traces, TRACE_COLUMNS)
    tr["t"] = _times(tr["timestamp"]) if len(tr) else pd.Series([], dtype="datetime64[ms]")
    tr = tr[tr["t"].notna()].copy()
    if tr.empty:
        return tr
    tr["fingerprint"] = [_str(f) or _str(e, "?") for f, e in
                         zip(tr["fingerprint"], tr["exception"], strict=True)]
    tr["host"] = tr["host"].map(lambda h: _str(h, "?"))
    tr["loc"] = [_loc(s, n) for s, n in zip(tr["source"], tr["line"], strict=True)]
    return tr.sort_values(["t", "host", "loc", "fingerprint"], kind="stable").reset_index(drop=True)


def _labels(tr: pd.DataFrame) -> dict[str, str]:
    """Fingerprint → unique short label (a fingerprint prefix disambiguates repeats)."""
    first = tr.drop_duplicates("fingerprint")
    base = {fp: fingerprint_label(e, f) for fp, e, f in
            zip(first["fingerprint"], first["exception"], first["first_app_frame"], strict=True)}
    counts: dict[str, int] = {}
    for lab in base.values():
        counts[lab] = counts.get(lab, 0) + 1
    return {fp: (lab if counts[lab] == 1 else f"{lab} #{fp[:6]}") for fp, lab in base.items()}


def exceptions_figure(traces: pd.DataFrame | None, *, max_groups: int = 15) -> go.Figure:
    """Stack-trace fingerprints over time: one row and colour per fingerprint, symbol per host.

    The ``max_groups`` most frequent fingerprints get their own row; the rest share "other".
    Masking exceptions (``masked`` true: thrown while handling another, like the 2013 NPE)
    are drawn with an open symbol.
    """
    title = "Exceptions over time by fingerprint and host"
    tr = _traces_frame(traces)
    if tr.empty:
        return empty_figure(title, "no stack traces with a timestamp")
    labels = _labels(tr)
    counts = tr.groupby("fingerprint").size()
    first_t = tr.groupby("fingerprint")["t"].min()
    ranked = sorted(counts.index, key=lambda f: (-int(counts[f]), labels[f]))
    top = ranked[:max_groups]
    top_sorted = sorted(top, key=lambda f: (first_t[f], labels[f]))
    hosts = sorted(tr["host"].unique())
    host_symbol = {h: _SYMBOLS[i % len(_SYMBOLS)] for i, h in enumerate(hosts)}
    fig = go.Figure()
    rows: list[str] = []
    groups: list[tuple[str, pd.DataFrame, str]] = []
    for i, fp in enumerate(top_sorted):
        groups.append((_esc(labels[fp], 60), tr[tr["fingerprint"] == fp], _CYCLE[i % len(_CYCLE)]))
    rest = tr[~tr["fingerprint"].isin(top)]
    if not rest.empty:
        n_other = rest["fingerprint"].nunique()
        groups.append((f"other ({n_other} fingerprints)", rest, _GREY))
    for label, part, colour in groups:
        rows.append(label)
        masked = [_is_true(m) for m in part["masked"]]
        symbols = [host_symbol[h] + ("-open" if m else "") for h, m in
                   zip(part["host"], masked, strict=True)]
        fig.add_trace(go.Scatter(
            x=_isos(part["t"]), y=[label] * len(part), mode="markers",
            name=f"{label} ({len(part)})", legendgroup=label,
            marker={"color": colour, "symbol": symbols, "size": 10, "opacity": 0.85,
                    "line": {"width": 1.5, "color": colour}},
            customdata=[[_esc(h, 40), _esc(e, 120), _esc(m, 160), _esc(lc, 160), _esc(fp, 40),
                         "masking (thrown while handling another)" if mk else "primary"]
                        for h, e, m, lc, fp, mk in zip(part["host"], part["exception"],
                                                       part["message"], part["loc"],
                                                       part["fingerprint"], masked, strict=True)],
            hovertemplate=("<b>%{y}</b> %{x}<br>host: %{customdata[0]}<br>%{customdata[1]}: "
                           "%{customdata[2]}<br>%{customdata[5]}<br>evidence: %{customdata[3]}"
                           "<br>fingerprint: %{customdata[4]}<extra></extra>"),
        ))
    for h in hosts:  # legend entries for the host symbols
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=f"host: {_esc(h, 40)}",
                                 legendgroup=f"host:{_esc(h, 80)}",
                                 marker={"symbol": host_symbol[h], "color": _GREY, "size": 10}))
    sub = (f"{len(tr)} traces, {len(counts)} fingerprints, {len(hosts)} hosts; "
           "open symbol = masking exception")
    _base_layout(fig, title, sub)
    fig.update_xaxes(type="date", title_text="time (as logged)")
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=rows,
                     autorange="reversed", automargin=True, title_text="fingerprint")
    fig.update_layout(height=min(max(420, 200 + 34 * len(rows)), 1200),
                      legend={"title": {"text": "fingerprint (count) / host"}})
    return fig


# --------------------------------------------------------------------------- (d) disks

#: Cell states of the disk layout chart: legend name, fill, text colour.
_CELL_STYLE: dict[str, tuple[str, str, str]] = {
    "ok": ("disk in device-id order", _SKY, _BLACK),
    "out": ("disk out of device-id order", _VERMILLION, "#FFFFFF"),
    "null": ("disk without device id (NULL)", _BLACK, "#FFFFFF"),
    "iso": ("ISO / CD-ROM (not in the disk list)", _LIGHT_GREY, _BLACK),
}


def disk_cells(disks: Any) -> list[dict[str, Any]]:
    """Classify each disk of a StartCommand array (in array order).

    Non-ISO disks are expected at device id = number of non-ISO disks before them (the order
    the 2.2.14 KVM agent's ``vols.add(devId, disk)`` needs). ``state`` is ``ok``, ``out`` (the
    id differs), ``null`` (no id) or ``iso``; ``throws`` marks the first disk where 2.2.14
    raises ``IndexOutOfBoundsException: Index: <id>, Size: <placed>``.
    """
    cells: list[dict[str, Any]] = []
    if not isinstance(disks, (list, tuple)):
        return cells
    placed = 0
    thrown = False
    for pos, d in enumerate(disks):
        d = d if isinstance(d, dict) else {}
        dev = d.get("device_id")
        typ = _str(d.get("type")).upper()
        state: str
        throws = False
        if typ == "ISO":
            state = "iso"
        elif dev is None or (isinstance(dev, float) and math.isnan(dev)):
            state = "null"
            dev = None
        else:
            dev = int(dev)
            state = "ok" if dev == placed else "out"
            if dev > placed and not thrown:
                throws = thrown = True
            placed += 1
        cells.append({"position": pos, "device_id": dev, "type": typ or "?",
                      "volume_id": d.get("volume_id"), "state": state, "throws": throws,
                      "expected": None if state == "iso" else placed - 1})
    return cells


def _layout_attempt(at: pd.DataFrame) -> pd.DataFrame:
    """Per VM: the latest failed attempt with disks, else the latest attempt with disks."""
    has_disks = at["disks"].map(lambda d: isinstance(d, (list, tuple)) and len(d) > 0)
    at = at[has_disks].copy()
    if at.empty:
        return at
    at["_failed"] = at["outcome"] == "failed"
    at["n_attempts"] = at.groupby("vm")["vm"].transform("size")
    at["n_failed"] = at.groupby("vm")["_failed"].transform("sum")
    at = at.sort_values(["vm", "_failed", "t"], kind="stable", na_position="first")
    return at.groupby("vm", sort=True).tail(1).reset_index(drop=True)


def _flags(r: Any) -> str:
    names = [n for n in ("out_of_order", "gaps", "null_device", "disk_order_mismatch")
             if _is_true(getattr(r, n, None))]
    dd = getattr(r, "data_disks", None)
    if dd is not None and not (isinstance(dd, float) and math.isnan(dd)):
        names.append(f"{int(dd)} data disks")
    return ", ".join(names) or "-"


def disks_figure(attempts: pd.DataFrame | None, *, max_vms: int = 50) -> go.Figure:
    """Disk layout per VM: disks by position in the StartCommand array, device id in each cell.

    One row per VM (failed VMs first, on a shaded band), one cell per disk at its array
    position, labelled with its device id. Cells whose id is not the next expected one are
    vermillion; a black frame marks the disk where the 2.2.14 agent's ``vols.add`` throws.
    The right-hand column gives the outcome and failed/total attempts. Above ``max_vms``
    rows, failed VMs are kept first and a note counts the rows left out. The attempt drawn
    per VM is its latest failed one, else its latest one.
    """
    title = "Disk layout per VM as sent in the StartCommand"
    at = _attempts_frame(attempts)
    rows = _layout_attempt(at)
    if rows.empty:
        return empty_figure(title, "no start attempts with a disk list")
    failed_vms = set(rows.loc[rows["_failed"], "vm"])
    cells_by_vm = {vm: disk_cells(d) for vm, d in zip(rows["vm"], rows["disks"], strict=True)}
    bad = {vm for vm, cells in cells_by_vm.items()
           if any(c["state"] in ("out", "null") for c in cells)}
    # Failed VMs first; inside each group, out-of-order layouts first, then by name.
    order = sorted(rows["vm"], key=lambda v: (v not in failed_vms, v not in bad, v))
    note = None
    if len(order) > max_vms:
        n_left = len(order) - max_vms
        left_failed = len([v for v in order[max_vms:] if v in failed_vms])
        order = order[:max_vms]
        note = (f"{n_left} more VMs not shown ({left_failed} of them failed); "
                "all VMs are in data/start_attempts.csv")
    rows = rows.set_index("vm").loc[order].reset_index()
    ylab = [_esc(vm, 40) for vm in order]
    n = len(order)
    height = int(min(max(180 + 26 * n, 420), 800))
    row_px = (height - 180) / max(n, 1)
    font = max(9.0, min(14.0, round(row_px * 0.8, 1)))
    max_pos = max((len(c) for c in cells_by_vm.values()), default=1)
    codes = {state: i + 0.5 for i, state in enumerate(_CELL_STYLE)}
    z: list[list[float | None]] = []
    text: list[list[str]] = []
    hover: list[list[str]] = []
    throws: list[tuple[int, int, str]] = []
    for i, r in enumerate(rows.itertuples(index=False)):
        zr: list[float | None] = [None] * max_pos
        tr_: list[str] = [""] * max_pos
        hr: list[str] = [""] * max_pos
        for c in cells_by_vm[r.vm]:
            p = c["position"]
            zr[p] = codes[c["state"]]
            tr_[p] = "∅" if c["device_id"] is None else str(c["device_id"])
            expected = "-" if c["expected"] is None else str(c["expected"])
            hr[p] = (f"position {p}: device id {tr_[p]} ({_esc(c['type'], 16)}, volume "
                     f"{_esc(_str(c['volume_id']), 40)}), expected {expected}"
                     f"<br>{_CELL_STYLE[c['state']][0]}"
                     f"<br>start {_esc(_str(r.outcome))} on {_esc(_str(r.host), 40)}"
                     f" at {_esc(_str(r.time), 30)}, job {_esc(_str(r.job), 20)}"
                     f"<br>flags: {_esc(_flags(r), 120)}"
                     f"<br>evidence: {_esc(_evidence_text(r.evidence), 200)}")
            if c["throws"]:
                throws.append((i, p, f"Index: {c['device_id']}, Size: {c['expected']}"))
        z.append(zr)
        text.append(tr_)
        hover.append(hr)
    n_states = len(_CELL_STYLE)
    scale: list[list[Any]] = []
    for k, (_name, fill, _tc) in enumerate(_CELL_STYLE.values()):
        scale += [[k / n_states, fill], [(k + 1) / n_states, fill]]
    fig = go.Figure(go.Heatmap(
        z=z, x=list(range(max_pos)), y=ylab, text=text, texttemplate="%{text}",
        textfont={"size": font}, customdata=hover, colorscale=scale, zmin=0, zmax=n_states,
        showscale=False, xgap=3, ygap=2, hoverongaps=False, name="disks",
        hovertemplate="<b>%{y}</b><br>%{customdata}<extra></extra>",
    ))
    present = {c["state"] for cells in cells_by_vm.values() for c in cells}
    for state, (name, fill, _tc) in _CELL_STYLE.items():  # legend entries for the cell colours
        if state in present:
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name,
                                     marker={"symbol": "square", "size": 12, "color": fill}))
    if throws:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers",
                                 name="where 2.2.14 vols.add() throws IndexOutOfBounds",
                                 marker={"symbol": "square-open", "size": 12, "color": _BLACK,
                                         "line": {"width": 2.5}}))
    for i, p, _msg in throws:
        fig.add_shape(type="rect", xref="x", yref="y", x0=p - 0.47, x1=p + 0.47, y0=i - 0.45,
                      y1=i + 0.45, line={"color": _BLACK, "width": 2.5})
    # right-hand column: outcome and failed/total attempts
    fig.add_trace(go.Scatter(
        x=[max_pos - 0.45] * n, y=ylab, mode="text", showlegend=False, hoverinfo="skip",
        text=[("FAILED" if r.vm in failed_vms else _esc(_str(r.outcome), 12))
              + f" {int(r.n_failed)}/{int(r.n_attempts)}" for r in rows.itertuples(index=False)],
        textposition="middle right",
        textfont={"size": font,
                  "color": [_VERMILLION if v in failed_vms else _GREEN for v in order]},
        name="outcome"))
    n_fail = len([v for v in order if v in failed_vms])
    if n_fail:
        fig.add_shape(type="rect", xref="paper", x0=0, x1=1, y0=-0.5, y1=n_fail - 0.5,
                      fillcolor=_VERMILLION, opacity=0.08, line={"width": 0}, layer="below")
    if 0 < n_fail < n:
        fig.add_shape(type="line", xref="paper", x0=0, x1=1, y0=n_fail - 0.5, y1=n_fail - 0.5,
                      line={"color": _GREY, "width": 1, "dash": "dot"})
    all_failed = len(failed_vms)
    ok_vms = set(cells_by_vm) - failed_vms
    sub = (f"{len(failed_vms & bad)} of {all_failed} failed VMs have disks out of device-id "
           f"order; {len(ok_vms & bad)} of {len(ok_vms)} VMs that started do. "
           "Columns: position in the StartCommand disk array; cell text: device id; "
           "right: outcome, failed/attempts")
    _base_layout(fig, title, sub)
    ticktext = [f'<b><span style="color:{_VERMILLION}">{lab}</span></b>' if v in failed_vms
                else lab for v, lab in zip(order, ylab, strict=True)]
    fig.update_xaxes(range=[-0.55, max_pos + 0.5], tickmode="array",
                     tickvals=list(range(max_pos)),
                     ticktext=[f"disks[{i}]" for i in range(max_pos)],
                     showgrid=False, zeroline=False, side="top")
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=ylab,
                     tickmode="array", tickvals=ylab, ticktext=ticktext,
                     autorange="reversed", automargin=True, showgrid=False,
                     tickfont={"size": font}, title_text="")
    fig.update_layout(height=height, plot_bgcolor="#FFFFFF",
                      legend={"orientation": "h", "x": 0, "y": -0.02, "yanchor": "top",
                              "xanchor": "left", "font": {"size": 11}},
                      margin={"t": 100, "b": 50 + (20 if note else 0), "l": 10, "r": 10})
    if note:
        _note(fig, note, y=-0.07)
    return fig


# --------------------------------------------------------------------------- (e) latency


def latency_figure(commands: pd.DataFrame | None, *, max_commands: int = 12) -> go.Figure:
    """Agent command round-trip latency per command (x) and host (colour), log y axis.

    Only answered commands with a positive latency are drawn; the number never answered is
    noted under the chart. The ``max_commands`` most frequent commands are shown.
    """
    title = "Agent command latency by command and host"
    cm = _ensure(commands, COMMAND_COLUMNS)
    if cm.empty:
        return empty_figure(title, "no agent commands")
    cm["latency_ms"] = pd.to_numeric(cm["latency_ms"], errors="coerce")
    unanswered = int(sum(1 for a, lat in zip(cm["answered"], cm["latency_ms"], strict=True)
                         if (a is not None and not _is_true(a)) or pd.isna(lat)))
    cm = cm[cm["latency_ms"].notna() & (cm["latency_ms"] > 0)].copy()
    if cm.empty:
        return empty_figure(title, f"no answered agent commands ({unanswered} unanswered)")
    cm["command"] = cm["command"].map(lambda c: _str(c, "?").rsplit(".", 1)[-1])
    cm["host"] = cm["host"].map(lambda h: _str(h, "?"))
    cm["t"] = _times(cm["sent_at"])
    cm = cm.sort_values(["command", "host", "t", "seq"], kind="stable", na_position="last",
                        key=lambda s: s.map(str) if s.name == "seq" else s)
    counts = cm.groupby("command").size()
    commands_kept = sorted(sorted(counts.index, key=lambda c: (-int(counts[c]), c))[:max_commands])
    cm = cm[cm["command"].isin(commands_kept)]
    fig = go.Figure()
    for i, host in enumerate(sorted(cm["host"].unique())):
        part = cm[cm["host"] == host]
        fig.add_trace(go.Box(
            x=[_esc(c, 60) for c in part["command"]], y=[float(v) for v in part["latency_ms"]],
            name=_esc(host, 40), marker={"color": _CYCLE[i % len(_CYCLE)], "size": 5},
            boxpoints="all", jitter=0.35, pointpos=0,
            customdata=[[_esc(_str(s)), _esc(_str(v)), _esc(_iso(t) if pd.notna(t) else ""),
                         _esc(_str(res), 80), _esc(_loc(src, ln))]
                        for s, v, t, res, src, ln in zip(part["seq"], part["vm_name"], part["t"],
                                                         part["result"], part["source"],
                                                         part["line"], strict=True)],
            hovertemplate=("<b>%{x}</b> on " + _esc(host, 40) + "<br>%{y:.0f} ms"
                           "<br>seq %{customdata[0]} vm %{customdata[1]}<br>sent %{customdata[2]}"
                           "<br>result: %{customdata[3]}<br>evidence: %{customdata[4]}"
                           "<extra></extra>"),
        ))
    sub = f"{len(cm)} answered commands" + (f"; {unanswered} never answered" if unanswered else "")
    _base_layout(fig, title, sub)
    fig.update_layout(boxmode="group", height=520, legend={"title": {"text": "host"}})
    fig.update_yaxes(type="log", title_text="round trip (ms, log scale)")
    fig.update_xaxes(type="category", categoryorder="array",
                     categoryarray=[_esc(c, 60) for c in commands_kept], title_text="command")
    return fig


# --------------------------------------------------------------------------- all charts

#: Chart id → builder taking ``ChartFrames``; the order is the report's order.
CHARTS: dict[str, Callable[[ChartFrames], go.Figure]] = {
    "timeline": lambda f: timeline_figure(f.events, f.markers),
    "starts": lambda f: starts_figure(f.attempts, f.markers),
    "exceptions": lambda f: exceptions_figure(f.traces),
    "disks": lambda f: disks_figure(f.attempts),
    "latency": lambda f: latency_figure(f.commands),
}


def build_figures(frames: ChartFrames, charts: Sequence[str] | None = None) -> dict[str, go.Figure]:
    """Build the named charts (default: all, in ``CHARTS`` order).

    :raises KeyError: an unknown chart id.
    """
    names = list(CHARTS) if charts is None else list(charts)
    return {name: CHARTS[name](frames) for name in names}
