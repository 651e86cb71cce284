"""A self-contained HTML report of a result folder or a comparison folder (``report.html``).

The page works offline: Plotly's JavaScript is inlined once, the data of every chart is
inlined, and nothing is fetched. The world map is drawn on plain longitude/latitude axes from
the bundled Natural Earth land polygons (Plotly's own geo maps fetch their base map from the
network), so it needs no network either.

A result folder's report holds the summary tables (headline figures, per region, busiest
nodes, events), a zoomable map of the sites coloured by their p95 login latency and of the
nodes by kind, the latency CDFs overall and by region, the utilisation of the ten busiest
nodes over time and the share of logins each addressing level decided over time (events
marked), and the resolved scenario. A comparison folder's report (``access-sim compare
--out``) holds the scenarios side by side with their confidence intervals, the difference to
the baseline and its significance, the latency CDF of each scenario and, for each scenario
after the first, a map of the per-site p95 difference to the baseline.

Everything is read from ``Results`` or from the comparison folder's files, as the figures are,
through the same helpers (:mod:`sim.views.figure_data`), so both show the same numbers,
labels and colours.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import yaml
from plotly.offline import get_plotlyjs

from sim.analysis.results import SUMMARY_FILE, Results, atomic_write_text
from sim.analysis.summary_shape import read_json_file, read_summary
from sim.errors import ResultsError
from sim.version import package_version
from sim.views.figure_data import (
    EVENT_COLOURS,
    LAND_COLOUR,
    PERCENTILES,
    WATER_COLOUR,
    decided_shares,
    duration_text,
    ecdf,
    event_label,
    has_logins,
    land_rings,
    node_coords,
    node_kinds,
    ok_latencies,
    region_colours,
    scenario_name,
    window_s,
)
from sim.views.text import format_interval

__all__ = ["REPORT_FILE", "COMPARISON_FILE", "folder_kind", "result_report",
           "comparison_report", "write_report", "write_result_report"]

REPORT_FILE = "report.html"
COMPARISON_FILE = "comparison.json"
COMPARISON_MAX_BYTES = 256 * 1024 * 1024
"""A larger ``comparison.json`` is refused (ours are kilobytes)."""

_CDF_POINTS = 2000
"""Points per CDF line (the CDF is thinned as the PNG figures thin it)."""
_LOAD_POINTS = 1200
"""Samples per node-load line; longer series are averaged over consecutive samples."""
_DECIDED_BINS = 400
"""Time bins of the deciding-levels chart, at most (each at least a minute)."""
_TOP_NODES = 10
_MIN_SITE_LOGINS = 10
"""A site needs this many successful logins in both scenarios to be on the difference map."""
_MAP_HEIGHT = 560
_CHART_HEIGHT = 430


# --------------------------------------------------------------------------- styles

_LINE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                 "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
_NODE_STYLE = {"access": ("triangle-up", "#1f77b4", 12), "cache": ("square", "#2ca02c", 12),
               "datacenter": ("star", "#d62728", 17)}


# --------------------------------------------------------------------------- folders


def folder_kind(folder: str | os.PathLike[str]) -> str:
    """``"result"`` (``summary.json``) or ``"comparison"`` (``comparison.json``).

    Raises
    ------
    ResultsError
        The folder is missing, is a file, or holds neither.
    """
    d = Path(folder)
    shown = str(d)
    try:
        if d.exists() and not d.is_dir():
            raise ResultsError("not a folder: give a result folder or a comparison folder",
                               file=shown)
        if not d.is_dir():
            raise ResultsError("no such folder", file=shown)
        if (d / SUMMARY_FILE).is_file():
            return "result"
        if (d / COMPARISON_FILE).is_file():
            return "comparison"
    except OSError as e:
        raise ResultsError(f"cannot read: {e.strerror or e}", file=shown) from None
    raise ResultsError(f"neither a result folder ({SUMMARY_FILE}) nor a comparison folder "
                       f"({COMPARISON_FILE}): give a folder written by access-sim run or "
                       "access-sim compare --out", file=shown)


def _report_target(folder: Path, out: Path | None) -> Path:
    """Where the report goes (``folder/report.html`` by default), checked before any work.

    Raises
    ------
    ResultsError
        ``out`` is a folder, or a parent of it is a file.
    """
    target = out if out is not None else folder / REPORT_FILE
    if target.is_dir():
        raise ResultsError("expected a file name for the report, found a folder",
                           file=str(target))
    for parent in target.parents:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise ResultsError(f"cannot write the report: {parent} is not a folder",
                                   file=str(target))
            break
    return target


def _write(target: Path, text: str) -> Path:
    try:
        atomic_write_text(target, text)
    except OSError as e:
        raise ResultsError(f"cannot write the report: {e.strerror or type(e).__name__}",
                           file=str(target)) from None
    return target


def write_report(folder: str | os.PathLike[str],
                 out: str | os.PathLike[str] | None = None) -> Path:
    """Write the HTML report of a result folder or of a comparison folder.

    Parameters
    ----------
    folder : path-like
        A result folder (``access-sim run``) or a comparison folder (``access-sim compare
        --out``).
    out : path-like, optional
        The HTML file to write (replaced atomically); default ``folder/report.html``.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ResultsError
        The folder is neither kind, or is damaged; the file cannot be written.
    """
    d = Path(folder)
    kind = folder_kind(d)
    target = _report_target(d, Path(out) if out is not None else None)
    if kind == "result":
        text = result_report(Results.load(d))
    else:
        text = comparison_report(d)
    return _write(target, text)


def write_result_report(results: Results, path: str | os.PathLike[str]) -> Path:
    """Write the HTML report of ``results`` to ``path`` (``access-sim run --report``)."""
    return _write(Path(path), result_report(results))


# --------------------------------------------------------------------------- the page


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #222; background: #fafafa; }
header { background: #243447; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px 0; font-size: 1.5em; }
header p { margin: 2px 0; color: #d8e0ea; }
nav { background: #e9eef4; padding: 8px 28px; font-size: 0.95em; }
nav a { margin-right: 16px; color: #1f4e79; text-decoration: none; }
main { padding: 8px 28px 40px 28px; max-width: 1400px; }
section { background: #fff; border: 1px solid #e1e4e8; border-radius: 6px; padding: 8px 18px;
          margin: 18px 0; }
h2 { font-size: 1.2em; margin: 10px 0; }
p.note { color: #555; font-size: 0.92em; margin: 4px 0 10px 0; }
table { border-collapse: collapse; margin: 8px 0 14px 0; font-size: 0.92em; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e6e6e6; text-align: right;
         white-space: nowrap; }
th { background: #f3f5f7; }
th:first-child, td:first-child { text-align: left; }
td.sig { background: #fff3cd; font-weight: 600; }
.plot { width: 100%; }
pre { background: #f6f8fa; border: 1px solid #e1e4e8; padding: 10px; overflow: auto;
      max-height: 520px; font-size: 0.85em; }
details summary { cursor: pointer; color: #1f4e79; margin: 6px 0; }
footer { color: #777; font-size: 0.85em; padding: 0 28px 20px 28px; }
"""


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _script_json(value: Any) -> str:
    """JSON safe inside ``<script>``: ``<``, ``>`` and ``&`` as escapes (a site called
    ``</script>`` cannot end the script)."""
    text = pio.to_json(value, validate=False, engine="json")
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class _Page:
    """Sections of HTML and the Plotly figures they show, assembled into one document."""

    def __init__(self, title: str, subtitle: Sequence[str]):
        self.title = title
        self.subtitle = list(subtitle)
        self.sections: list[tuple[str, str, str]] = []  # (anchor, heading, body)
        self.figures: dict[str, Any] = {}

    def section(self, anchor: str, heading: str, body: str) -> None:
        self.sections.append((anchor, heading, body))

    def plot(self, fig: Any, anchor: str) -> str:
        """A ``<div>`` for ``fig`` (drawn by the page's script)."""
        div_id = f"plot-{anchor}"
        self.figures[div_id] = fig.to_plotly_json()
        return f'<div class="plot" id="{div_id}" data-plot="{_esc(anchor)}"></div>'

    def render(self) -> str:
        plotly_js = get_plotlyjs().replace("</script", "<\\/script")
        nav = "".join(f'<a href="#{_esc(a)}">{_esc(h)}</a>' for a, h, _ in self.sections)
        body = "\n".join(f'<section id="{_esc(a)}">\n<h2>{_esc(h)}</h2>\n{b}\n</section>'
                         for a, h, b in self.sections)
        made = datetime.now(timezone.utc).isoformat(timespec="seconds")
        config = {"responsive": True, "displaylogo": False, "scrollZoom": True}
        return "\n".join([
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_esc(self.title)}</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            f"<header><h1>{_esc(self.title)}</h1>"
            + "".join(f"<p>{_esc(s)}</p>" for s in self.subtitle) + "</header>",
            f"<nav>{nav}</nav>",
            f"<main>\n{body}\n</main>",
            f"<footer>access-sim {_esc(package_version())}, report written {made}. "
            "Self-contained: works offline. Drag to zoom, double-click to reset, click a "
            "legend entry to hide a line.</footer>",
            f'<script type="text/javascript">{plotly_js}</script>',
            '<script type="text/javascript">',
            f"const FIGURES = {_script_json(self.figures)};",
            f"const CONFIG = {_script_json(config)};",
            "for (const [id, fig] of Object.entries(FIGURES)) {",
            "  Plotly.newPlot(id, fig.data, fig.layout, CONFIG);",
            "}",
            "</script>",
            "</body>",
            "</html>",
            "",
        ])


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]],
           classes: Iterable[Sequence[str]] | None = None) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    lines = []
    cls_rows = list(classes) if classes is not None else None
    for i, row in enumerate(rows):
        cls = cls_rows[i] if cls_rows is not None else [""] * len(row)
        cells = "".join(f'<td class="{c}">{_esc(v)}</td>' if c else f"<td>{_esc(v)}</td>"
                        for v, c in zip(row, cls))
        lines.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


def _note(text: str) -> str:
    return f'<p class="note">{_esc(text)}</p>'


def _num(x: Any, nd: int = 1) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return f"{x:,}"
    return f"{float(x):,.{nd}f}"


def _pct(x: Any, nd: int = 1) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{100.0 * float(x):.{nd}f}%"


def _layout(title: str, height: int, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "title": {"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 15}},
        "template": "plotly_white", "height": height,
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"},
        "hovermode": "closest",
    }
    layout.update(extra)
    return layout


def _figure(data: list[Any], layout: dict[str, Any]) -> Any:
    return go.Figure(data=data, layout=layout)


def _round(values: Any, nd: int) -> list[Any]:
    """Numbers rounded for the page (NaN as None): keeps the inlined data small."""
    arr = np.asarray(values, dtype=float)
    out = np.round(arr, nd).tolist()
    return [None if not math.isfinite(v) else v for v in out]


# --------------------------------------------------------------------------- site figures


def _site_figures(results: Results) -> pd.DataFrame:
    """Per site (:attr:`sim.analysis.Results.sites`: the logins that started in the
    measurement window): ``site, country, region, lat, lon, logins, failed, ok`` (logins
    not failed), ``p50, p95, p99`` (ms, successful logins; NaN without any), ``node`` (the
    node that took most of its successful logins), ``share`` (that node's share) and
    ``p95_ci`` (``(low, high)`` across replications, or None). Busiest first."""
    cols = ["site", "country", "region", "lat", "lon", "logins", "failed", "ok", "p50",
            "p95", "p99", "node", "share", "p95_ci"]
    table = results.sites
    if table is None or len(table) == 0:
        return pd.DataFrame(columns=cols)
    out = table[["site", "country", "region", "lat", "lon", "logins", "failed", "p50", "p95",
                 "p99"]].copy()
    out["site"] = out["site"].astype(str)
    out["ok"] = (out["logins"] - out["failed"]).astype(int)
    shares = [dict(d) if isinstance(d, Mapping) else {} for d in table["node_shares"]]
    # The largest share first; ties by name (the table keeps its own order otherwise).
    best = [min(d.items(), key=lambda kv: (-kv[1], kv[0])) if d else ("", math.nan)
            for d in shares]
    out["node"] = [n for n, _ in best]
    out["share"] = [v for _, v in best]
    cis = (results.summary.get("sites") or {})
    out["p95_ci"] = pd.Series([_interval(((cis.get(s) or {}).get("ci95") or {}).get("p95"))
                               for s in out["site"]], index=out.index, dtype=object)
    out = out[np.isfinite(out["lat"].to_numpy(dtype=float))
              & np.isfinite(out["lon"].to_numpy(dtype=float))]
    return out.sort_values(["logins", "site"], ascending=[False, True],
                           kind="mergesort")[cols].reset_index(drop=True)


def _interval(ci: Any) -> tuple[float, float] | None:
    if not isinstance(ci, Mapping) or ci.get("low") is None or ci.get("high") is None:
        return None
    return float(ci["low"]), float(ci["high"])


# --------------------------------------------------------------------------- charts


def _land_traces() -> list[Any]:
    """The land as filled polygons (holes, such as the Caspian Sea, filled with water)."""
    exteriors, holes = land_rings()
    traces = []
    for rings, colour in ((exteriors, LAND_COLOUR), (holes, WATER_COLOUR)):
        if not rings:
            continue
        xs: list[Any] = []
        ys: list[Any] = []
        for ring in rings:
            xs += _round(ring[:, 0], 2) + [None]
            ys += _round(ring[:, 1], 2) + [None]
        traces.append(go.Scatter(x=xs, y=ys, mode="lines", fill="toself", fillcolor=colour,
                                 line={"color": "#bdbdbd", "width": 0.5}, hoverinfo="skip",
                                 showlegend=False, name="land"))
    return traces


def _node_traces(results: Results) -> list[Any]:
    """One marker trace per node kind, with the node's figures on hover."""
    coords = node_coords(results)
    kinds = node_kinds(results, from_logins=False)
    info: Mapping[str, Any] = results.summary.get("nodes") or {}
    traces = []
    order = sorted({kinds.get(n, "node") for n in coords},
                   key=lambda k: (k not in _NODE_STYLE, list(_NODE_STYLE).index(k)
                                  if k in _NODE_STYLE else 0, k))
    for kind in order:
        members = sorted(n for n in coords if kinds.get(n, "node") == kind)
        symbol, colour, size = _NODE_STYLE.get(kind, ("circle", "#555555", 10))
        text = []
        for n in members:
            s = info.get(n) or {}
            parts = [f"<b>{_esc(n)}</b> ({_esc(kind)}, {_esc(s.get('region', '?'))})"]
            if s:
                parts.append(f"logins {_num(s.get('logins'))}, utilisation "
                             f"{_pct(s.get('utilization'))}")
                parts.append(f"mean wait {_num(s.get('mean_wait_ms'), 2)} ms, peak "
                             f"connections {_num(s.get('peak_connections'))}")
            text.append("<br>".join(parts))
        traces.append(go.Scatter(
            x=[coords[n][0] for n in members], y=[coords[n][1] for n in members],
            mode="markers", name=f"{kind} node ({len(members)})", text=text,
            hoverinfo="text",
            marker={"symbol": symbol, "color": colour, "size": size,
                    "line": {"color": "black", "width": 1}}))
    return traces


def _map_layout(title: str, lats: Sequence[float]) -> dict[str, Any]:
    lat_min = -60.0
    if len(lats):
        lat_min = min(lat_min, math.floor(min(lats) / 10.0) * 10.0)
    return _layout(
        title, _MAP_HEIGHT, plot_bgcolor=WATER_COLOUR,
        xaxis={"range": [-180, 180], "title": {"text": "longitude (°E)"}, "dtick": 30,
               "zeroline": False, "showgrid": True, "gridcolor": "#ffffff",
               "constrain": "domain"},
        yaxis={"range": [max(lat_min, -90.0), 85], "title": {"text": "latitude (°N)"},
               "dtick": 30, "zeroline": False, "showgrid": True, "gridcolor": "#ffffff",
               "scaleanchor": "x", "scaleratio": 1, "constrain": "domain"},
        legend={"orientation": "h", "y": -0.12, "x": 0.0},
        margin={"l": 60, "r": 20, "t": 50, "b": 70})


def _site_name(row: Any) -> str:
    country = row.country if isinstance(row.country, str) and row.country else ""
    return f"<b>{_esc(row.site)}</b>" + (f", {_esc(country)}" if country else "") \
        + f" ({_esc(row.region)})"


def _site_hover(row: Any) -> str:
    node = row.node if isinstance(row.node, str) and row.node not in ("", "nan") else "-"
    share = f" ({_pct(row.share, 0)} of its successful logins)" if node != "-" else ""
    ci = row.p95_ci
    p95_ci = f" [{_num(ci[0])}, {_num(ci[1])}]" if ci is not None else ""
    return (f"{_site_name(row)}<br>"
            f"logins {_num(int(row.logins))}, failed {_num(int(row.failed))}<br>"
            f"p50 {_num(row.p50)} ms, p95 {_num(row.p95)} ms{p95_ci}, "
            f"p99 {_num(row.p99)} ms<br>"
            f"main node: {_esc(node)}{share}")


def _marker_sizes(logins: np.ndarray) -> list[float]:
    top = float(logins.max()) if len(logins) else 1.0
    return _round(5.0 + 17.0 * np.sqrt(logins / max(top, 1.0)), 1)


_COLOUR_CAP = 98
"""The colour scale of a map ends at this percentile of its sites' values: one site with a
handful of slow logins does not wash out the others (its hover text has its figure)."""


def _map_figure(results: Results, sites: pd.DataFrame) -> Any:
    data = _land_traces()
    shown = sites[np.isfinite(sites["p95"].to_numpy(dtype=float))] if len(sites) else sites
    if len(shown):
        p95 = shown["p95"].to_numpy(dtype=float)
        low, high = float(p95.min()), float(np.percentile(p95, _COLOUR_CAP))
        data.append(go.Scatter(
            x=_round(shown["lon"], 3), y=_round(shown["lat"], 3), mode="markers",
            name=f"sites ({len(shown):,}; colour: p95, area: logins)",
            text=[_site_hover(r) for r in shown.itertuples(index=False)], hoverinfo="text",
            marker={"size": _marker_sizes(shown["logins"].to_numpy(dtype=float)),
                    "color": _round(p95, 1), "colorscale": "YlOrRd",
                    "cmin": round(low, 1), "cmax": round(max(high, low + 1.0), 1),
                    "showscale": True, "opacity": 0.85,
                    "line": {"color": "#444444", "width": 0.6},
                    "colorbar": {"title": {"text": "p95 (ms)"}, "thickness": 14,
                                 "len": 0.8}}))
    data += _node_traces(results)
    lats = list(shown["lat"].astype(float)) + [c[1] for c in
                                               node_coords(results).values()]
    return _figure(data, _map_layout(f"{scenario_name(results)}: sites coloured by "
                                     "p95 login latency, nodes by kind", lats))


def _cdf_trace(lat: np.ndarray, name: str, colour: str, width: float,
               visible: Any = True) -> Any:
    xs, ys = ecdf(lat, _CDF_POINTS)
    return go.Scatter(x=_round(xs, 2), y=_round(ys, 5), mode="lines", name=name,
                      line={"color": colour, "width": width, "shape": "hv"},
                      visible=visible,
                      hovertemplate="%{x:.1f} ms: %{y:.1%} of logins<extra>" + _esc(name)
                      + "</extra>")


def _cdf_layout(title: str) -> dict[str, Any]:
    return _layout(title, _CHART_HEIGHT,
                   xaxis={"type": "log", "title": {"text": "login latency (ms)"}},
                   yaxis={"range": [0, 1.0], "title": {"text": "share of logins"},
                          "tickformat": ".0%"},
                   legend={"x": 1.01, "y": 1.0})


def _cdf_figures(results: Results) -> tuple[Any, Any]:
    """The overall CDF (p50/p95/p99 marked) and one line per region."""
    ok = ok_latencies(results)
    lat = ok["latency_ms"].to_numpy(dtype=float)
    name = scenario_name(results)
    overall = [_cdf_trace(lat, f"all regions (n={len(lat):,})", "#000000", 2.6)]
    pct = np.percentile(lat, PERCENTILES)
    overall.append(go.Scatter(
        x=_round(pct, 1), y=[p / 100.0 for p in PERCENTILES], mode="markers+text",
        name="p50, p95, p99", text=[f"p{p} {v:.0f} ms" for p, v in
                                    zip(PERCENTILES, pct)],
        textposition="bottom right",
        marker={"size": 9, "color": "white", "line": {"color": "black", "width": 2}},
        hoverinfo="text"))
    fig_all = _figure(overall, _cdf_layout(f"{name}: login latency, successful logins in "
                                           "the measurement window"))
    regions = sorted(ok["region"].unique())
    colours = region_colours(regions)
    by_region = [_cdf_trace(lat, "all regions", "#a6a6a6", 2.0)]
    for region in regions:
        r_lat = ok.loc[ok["region"] == region, "latency_ms"].to_numpy(dtype=float)
        by_region.append(_cdf_trace(r_lat, f"{region} (n={len(r_lat):,})", colours[region],
                                    1.6))
    fig_region = _figure(by_region, _cdf_layout(f"{name}: login latency by region "
                                                "(grey: all regions)"))
    return fig_all, fig_region


def _event_shapes(events: Sequence[Mapping[str, Any]],
                  warmup_s: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Shapes and labels of the warm-up and of the scenario's events (time in minutes)."""
    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    if warmup_s > 0:
        shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": 0,
                       "x1": warmup_s / 60.0, "y0": 0, "y1": 1, "fillcolor": "#888888",
                       "opacity": 0.10, "line": {"width": 0}, "layer": "below"})
        notes.append({"x": warmup_s / 120.0, "y": 1.0, "xref": "x", "yref": "paper",
                      "text": "warm-up", "showarrow": False, "yanchor": "bottom",
                      "font": {"size": 11, "color": "#666666"}})
    for k, event in enumerate(events):
        at = event.get("at")
        if at is None:
            continue
        start = float(at) / 60.0
        kind, text = event_label(event)
        colour = EVENT_COLOURS.get(kind, "#444444")
        if event.get("for") is not None:
            end = start + float(event["for"]) / 60.0
            shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": start,
                           "x1": end, "y0": 0, "y1": 1, "fillcolor": colour,
                           "opacity": 0.13, "line": {"width": 0}, "layer": "below"})
            text += f" ({duration_text(float(event['for']))})"
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": start,
                       "x1": start, "y0": 0, "y1": 1,
                       "line": {"color": colour, "width": 1.5, "dash": "dash"}})
        notes.append({"x": start, "y": 1.0 - 0.07 * (k % 4), "xref": "x", "yref": "paper",
                      "text": _esc(text), "showarrow": False, "xanchor": "left",
                      "yanchor": "top", "font": {"size": 11, "color": colour},
                      "bgcolor": "rgba(255,255,255,0.75)"})
    return shapes, notes


def _events(results: Results) -> list[Mapping[str, Any]]:
    sc = results.summary.get("scenario_resolved") or {}
    return [e for e in (sc.get("events") or []) if isinstance(e, Mapping)]


def _node_load_figure(results: Results) -> Any | None:
    """Utilisation (%) of the busiest nodes over time, mean over replications."""
    load = results.node_load
    if load is None or len(load) == 0 or "utilization" not in load.columns:
        return None
    frame = load[["node", "t_s", "utilization"]].copy()
    frame["node"] = frame["node"].astype(str)
    info: Mapping[str, Any] = results.summary.get("nodes") or {}
    if info and frame["node"].isin(list(info)).any():
        frame = frame[frame["node"].isin(list(info))]  # hubs are not servers
    series = frame.groupby(["node", "t_s"], sort=True)["utilization"].mean()
    means = series.groupby(level="node").mean()
    ranking = sorted(((str(n), float(m)) for n, m in means.items()),
                     key=lambda kv: (-kv[1] if math.isfinite(kv[1]) else math.inf, kv[0]))
    chosen = [node for node, _ in ranking[:_TOP_NODES]]
    palette = [_LINE_COLOURS[i % len(_LINE_COLOURS)] for i in range(len(chosen))]
    data = []
    averaged = 1
    for node, colour in zip(chosen, palette):
        s = series.loc[node]
        t = s.index.to_numpy(dtype=float)
        u = s.to_numpy(dtype=float)
        if len(t) > _LOAD_POINTS:
            averaged = math.ceil(len(t) / _LOAD_POINTS)
            groups = np.arange(len(t)) // averaged
            t = pd.Series(t).groupby(groups).max().to_numpy()
            u = pd.Series(u).groupby(groups).mean().to_numpy()
        kind = (info.get(node) or {}).get("kind")
        label = f"{node} ({kind})" if kind else node
        data.append(go.Scatter(x=_round(t / 60.0, 3), y=_round(100.0 * u, 2), mode="lines",
                               name=label, line={"color": colour, "width": 1.6},
                               hovertemplate="%{x:.1f} min: %{y:.1f}%<extra>" + _esc(label)
                               + "</extra>"))
    warmup_s, duration_s = window_s(results)
    shapes, notes = _event_shapes(_events(results), warmup_s)
    title = (f"{scenario_name(results)}: utilisation of the {len(chosen)} busiest "
             "nodes (mean over replications)")
    if averaged > 1:
        title += f"; each point the mean of {averaged} samples"
    xaxis: dict[str, Any] = {"title": {"text": "time since start (min)"}}
    if math.isfinite(duration_s):
        xaxis["range"] = [0, duration_s / 60.0]
    return _figure(data, _layout(title, _CHART_HEIGHT, xaxis=xaxis,
                                 yaxis={"title": {"text": "utilisation (% of workers busy)"},
                                        "rangemode": "tozero"},
                                 shapes=shapes, annotations=notes,
                                 legend={"x": 1.01, "y": 1.0, "title": {"text": "node"}}))


def _decided_figure(results: Results) -> Any | None:
    """Share of logins each addressing level decided, per time bin, stacked."""
    if not has_logins(results) or "decided_by" not in results.logins.columns:
        return None
    logins = results.logins
    t = logins["t_start_s"].to_numpy(dtype=float)
    span = float(t.max()) if len(t) else 60.0
    bin_s = max(60.0, math.ceil(span / _DECIDED_BINS / 60.0) * 60.0)
    table = decided_shares(t, logins["decided_by"], bin_s)
    table = table.loc[:, (table > 0).any()]
    minutes = (table.index.to_numpy(dtype=float) + bin_s / 2.0) / 60.0
    data = []
    for level in table.columns:
        data.append(go.Scatter(x=_round(minutes, 2), y=_round(100.0 * table[level], 2),
                               mode="lines", name=str(level), stackgroup="levels",
                               line={"width": 0.5},
                               hovertemplate="%{x:.0f} min: %{y:.1f}%<extra>"
                               + _esc(str(level)) + "</extra>"))
    warmup_s, _ = window_s(results)
    shapes, notes = _event_shapes(_events(results), warmup_s)
    return _figure(data, _layout(
        f"{scenario_name(results)}: which addressing level decided "
        f"({bin_s / 60.0:g}-minute bins, all replications)", _CHART_HEIGHT,
        xaxis={"title": {"text": "simulated time (min)"}},
        yaxis={"title": {"text": "share of logins (%)"}, "range": [0, 100]},
        shapes=shapes, annotations=notes, legend={"x": 1.01, "y": 1.0}))


# --------------------------------------------------------------------------- a result


def _ci_text(summary: Mapping[str, Any], name: str, value: Any, share: bool = False) -> str:
    """``value`` and, with several replications, its 95% interval across them."""
    shown = _pct(value, 2) if share else _num(value)
    ci = (summary.get("ci95") or {}).get(name) or {}
    lo, hi = ci.get("low"), ci.get("high")
    if lo is None or hi is None:
        return shown
    return (f"{shown} [{_pct(lo, 2)}, {_pct(hi, 2)}]" if share else
            f"{shown} [{_num(lo)}, {_num(hi)}]")


def _summary_html(summary: Mapping[str, Any]) -> str:
    lg = summary.get("logins") or {}
    lat = summary.get("latency_ms") or {}
    ad = summary.get("addressing") or {}
    reps = summary.get("replications", 1)
    keys = ("mean", "p50", "p90", "p95", "p99")
    parts = [_note(f"{_num(lg.get('attempted'))} logins started in the measurement window: "
                   f"{_num(lg.get('succeeded'))} succeeded, {_num(lg.get('failed'))} failed "
                   f"({_pct(lg.get('failure_share'), 2)}); {reps} replication(s)"
                   + ("; [low, high]: 95% interval across replications" if
                      isinstance(reps, int) and reps > 1 else "") + ".")]
    rows = [[f"{k} latency (ms)", _ci_text(summary, f"latency_ms.{k}", lat.get(k))]
            for k in keys]
    rows += [["failure share", _ci_text(summary, "logins.failure_share",
                                        lg.get("failure_share"), share=True)],
             ["spill share", _ci_text(summary, "addressing.spill_share",
                                      ad.get("spill_share"), share=True)],
             ["sent to the lowest-RTT node", _pct(ad.get("lowest_rtt_share"))],
             ["mean excess RTT (ms)", _num((ad.get("excess_rtt_ms") or {}).get("mean"), 2)]]
    decided = ad.get("decided_by") or {}
    if decided:
        rows.append(["decided by", ", ".join(f"{k} {_pct(v)}" for k, v in decided.items())])
    parts.append("<h3>Headline figures</h3>" + _table(["figure", "value"], rows))
    regions = lat.get("by_region") or {}
    if regions:
        rows = [["all", _num(lat.get("logins")), *(_num(lat.get(k)) for k in keys)]]
        rows += [[r, _num(s.get("logins")), *(_num(s.get(k)) for k in keys)]
                 for r, s in regions.items()]
        parts.append("<h3>Login latency by region (ms)</h3>"
                     + _table(["region", "logins", *keys], rows))
    nodes = sorted((summary.get("nodes") or {}).items(),
                   key=lambda kv: (-(kv[1].get("utilization") or 0.0), kv[0]))
    if nodes:
        rows = [[n, s.get("kind", ""), s.get("region", ""), _num(s.get("logins")),
                 _pct(s.get("utilization")), _num(s.get("mean_wait_ms"), 2),
                 _num(s.get("peak_connections")), _num(s.get("rejected"))]
                for n, s in nodes[:_TOP_NODES]]
        parts.append(f"<h3>Busiest nodes (top {min(len(nodes), _TOP_NODES)} of "
                     f"{len(nodes)}, by utilisation)</h3>"
                     + _table(["node", "kind", "region", "logins", "utilisation",
                               "mean wait (ms)", "peak connections", "rejected"], rows)
                     + _note("Node figures cover the whole run, the warm-up included."))
    events = [e for e in (summary.get("events") or []) if isinstance(e, Mapping)]
    if events:
        rows = [[e.get("event", ""), _num(e.get("at_s")), _num(e.get("end_s")),
                 _num(e.get("logins_during")), _pct(e.get("failure_share_during"), 2),
                 _num((e.get("extra_latency_ms") or {}).get("p95")),
                 _num(e.get("recovery_s"))] for e in events]
        parts.append("<h3>Events</h3>" + _table(
            ["event", "at (s)", "until (s)", "logins during", "failed during",
             "extra p95 (ms)", "recovery (s)"], rows))
    return "\n".join(parts)


def _scenario_yaml(resolved: Any) -> str:
    text = yaml.safe_dump(resolved, sort_keys=False, allow_unicode=True, width=100)
    return f"<pre>{_esc(text)}</pre>"


def result_report(results: Results) -> str:
    """The HTML report of one result (a whole page, offline).

    Parameters
    ----------
    results : sim.analysis.Results
        A run, fresh or read back with ``Results.load``.

    Returns
    -------
    str
        The page. Charts that need per-login records (map sites, CDFs, deciding levels)
        are replaced by a note when the run kept none.
    """
    s = results.summary
    sc = s.get("scenario_resolved") or {}
    name = scenario_name(results)
    subtitle = [str(sc.get("description") or "").strip(),
                f"seed {s.get('seed')}, {s.get('replications', 1)} replication(s), "
                f"{_num(sc.get('duration'), 0)} s simulated ({_num(sc.get('warmup'), 0)} s "
                f"warm-up), topology {s.get('topology', sc.get('topology', '?'))}, "
                f"access-sim {s.get('version', '?')}"]
    page = _Page(f"access-sim report: {name}", [t for t in subtitle if t])
    page.section("summary", "Summary", _summary_html(s))

    sites = _site_figures(results)
    body = page.plot(_map_figure(results, sites), "map")
    if len(sites):
        body += _note(f"{len(sites):,} sites: colour is the p95 latency of the site's "
                      "successful logins in the measurement window, area grows with its "
                      "logins (the colour scale ends at the "
                      f"{_COLOUR_CAP}th percentile of the sites); hover for p50/p95/p99 and "
                      "the node that took most of its logins. Scroll or drag to zoom, "
                      "double-click to reset.")
    else:
        body += _note("No per-login records (outputs.per_login is off): only the nodes "
                      "are shown.")
    page.section("map", "Map", body)

    if has_logins(results) and len(ok_latencies(results)):
        fig_all, fig_region = _cdf_figures(results)
        page.section("cdf", "Latency CDFs", page.plot(fig_all, "cdf")
                     + page.plot(fig_region, "cdf-region")
                     + _note(f"Each line thinned to at most {_CDF_POINTS:,} points; "
                             "logarithmic latency axis."))
    else:
        page.section("cdf", "Latency CDFs",
                     _note("No successful logins with per-login records in the "
                           "measurement window."))

    load = _node_load_figure(results)
    page.section("load", "Node load", page.plot(load, "node-load") if load is not None
                 else _note("No node load samples."))
    decided = _decided_figure(results)
    page.section("decided", "Addressing levels",
                 page.plot(decided, "decided") if decided is not None
                 else _note("No per-login records: the deciding level is not known."))
    page.section("scenario", "Resolved scenario",
                 _note("Every value the run used, defaults filled in (summary.json: "
                       "scenario_resolved).") + _scenario_yaml(sc))
    return page.render()


# --------------------------------------------------------------------------- a comparison


def _read_comparison(folder: Path) -> dict[str, Any]:
    """``comparison.json``, with the keys the report reads checked.

    Raises
    ------
    ResultsError
    """
    path = folder / COMPARISON_FILE
    file = str(path)
    data = read_json_file(path, what="comparison", folder="comparison",
                          limit=COMPARISON_MAX_BYTES)
    if not isinstance(data, dict):
        raise ResultsError("expected an object: not a comparison written by access-sim "
                           "compare", file=file)
    for key in ("scenarios", "figures"):
        if not isinstance(data.get(key), list) or not data[key]:
            raise ResultsError("expected a non-empty list: not a comparison written by "
                               "access-sim compare", file=file, path=key)
    for i, sc in enumerate(data["scenarios"]):
        if not isinstance(sc, dict) or not isinstance(sc.get("name"), str):
            raise ResultsError("expected an object with a name", file=file,
                               path=f"scenarios[{i}]")
    for i, row in enumerate(data["figures"]):
        if not isinstance(row, dict) or not isinstance(row.get("figure"), str) or \
                not isinstance(row.get("scenario"), str):
            raise ResultsError("expected an object with a figure and a scenario", file=file,
                               path=f"figures[{i}]")
    return data


def _comparison_runs(folder: Path, data: Mapping[str, Any]) -> dict[str, Results | None]:
    """Each scenario's result, where it can be found: a folder of ``runs/`` (or the result
    folder the comparison read, by its source path) holding exactly the scenario's resolved
    scenario; None where none does (``compare --no-runs``)."""
    candidates: list[Path] = []
    runs = folder / "runs"
    if runs.is_dir():
        candidates += sorted(p for p in runs.iterdir() if (p / SUMMARY_FILE).is_file())
    for sc in data["scenarios"]:
        source = sc.get("source")
        if isinstance(source, str) and source not in ("", "results", "scenario"):
            for p in (Path(source), folder / source):
                if (p / SUMMARY_FILE).is_file() and p not in candidates:
                    candidates.append(p)
    resolved: list[tuple[Path, Any]] = []
    for p in candidates:
        try:
            resolved.append((p, read_summary(p / SUMMARY_FILE).get("scenario_resolved")))
        except ResultsError:
            continue  # a damaged run: its figures are in comparison.json all the same
    out: dict[str, Results | None] = {}
    used: set[Path] = set()
    for sc in data["scenarios"]:
        want = sc.get("scenario_resolved")
        match = next((p for p, r in resolved if p not in used and want is not None
                      and r == want), None)
        if match is None:
            out[sc["name"]] = None
            continue
        used.add(match)
        out[sc["name"]] = Results.load(match)
    return out


def _figure_rows(data: Mapping[str, Any]) -> dict[str, dict[str, Mapping[str, Any]]]:
    """``figure -> scenario -> row`` of ``comparison.json``, in the file's order."""
    rows: dict[str, dict[str, Mapping[str, Any]]] = {}
    for row in data["figures"]:
        rows.setdefault(row["figure"], {})[row["scenario"]] = row
    return rows


def _comparison_table(figures: Sequence[str], rows: Mapping[str, Mapping[str, Any]],
                      names: Sequence[str]) -> str:
    header = ["figure", f"{names[0]} (baseline)"]
    for n in names[1:]:
        header += [n, f"{n} − baseline", "p"]
    body, classes = [], []
    for fig in figures:
        per = rows[fig]
        first = next(iter(per.values()))
        line = [str(first.get("label") or fig)]
        cls = [""]
        for k, n in enumerate(names):
            r = per.get(n) or {}
            line.append(format_interval(fig, r.get("mean"), r.get("ci_low"), r.get("ci_high")))
            cls.append("")
            if k == 0:
                continue
            sig = r.get("significant") is True
            line.append(format_interval(fig, r.get("diff"), r.get("diff_ci_low"),
                                        r.get("diff_ci_high"), signed=True)
                        + (" *" if sig else ""))
            p = r.get("p_value")
            line.append("n/a" if p is None else f"{float(p):.3g}")
            cls += ["sig" if sig else "", "sig" if sig else ""]
        body.append(line)
        classes.append(cls)
    return _table(header, body, classes)


def _pooled_latencies(results: Results) -> np.ndarray:
    return ok_latencies(results)["latency_ms"].to_numpy(dtype=float)


def _comparison_cdf(runs: Mapping[str, Results | None], names: Sequence[str]) -> Any:
    palette = ["#000000", "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
               "#e377c2", "#17becf", "#7f7f7f"]
    data = []
    for k, n in enumerate(names):
        res = runs.get(n)
        if res is None:
            continue
        lat = _pooled_latencies(res)
        if len(lat) == 0:
            continue
        data.append(_cdf_trace(lat, f"{n} (n={len(lat):,})", palette[k % len(palette)],
                               2.4 if k == 0 else 1.8))
    return _figure(data, _cdf_layout("Login latency of each scenario (successful logins in "
                                     "the measurement window, all replications)"))


def _difference_map(base: Results, other: Results, base_name: str, name: str) -> Any:
    """Per-site p95 of ``other`` minus ``base`` (sites with enough logins in both)."""
    a = _site_figures(base).set_index("site")
    b = _site_figures(other).set_index("site")
    both = pd.merge(a, b, how="inner", left_index=True, right_index=True,
                    suffixes=("_a", "_b"))
    both = both[(both["ok_a"] >= _MIN_SITE_LOGINS) & (both["ok_b"] >= _MIN_SITE_LOGINS)]
    diff = (both["p95_b"] - both["p95_a"]).to_numpy(dtype=float)
    keep = np.isfinite(diff)
    both, diff = both[keep], diff[keep]
    data = _land_traces()
    if len(both):
        text = []
        for site, row, d in zip(both.index, both.itertuples(index=False), diff):
            text.append(f"<b>{_esc(site)}</b> ({_esc(row.region_a)})<br>"
                        f"p95 {_esc(base_name)}: {_num(row.p95_a)} ms "
                        f"({_num(int(row.logins_a))} logins)<br>"
                        f"p95 {_esc(name)}: {_num(row.p95_b)} ms "
                        f"({_num(int(row.logins_b))} logins)<br>"
                        f"difference: {d:+.1f} ms<br>"
                        f"main node: {_esc(row.node_a or '-')} → {_esc(row.node_b or '-')}")
        bound = max(float(np.percentile(np.abs(diff), _COLOUR_CAP)), 1.0)
        data.append(go.Scatter(
            x=_round(both["lon_a"], 3), y=_round(both["lat_a"], 3), mode="markers",
            name=f"sites ({len(both):,}; colour: p95 difference, area: logins)",
            text=text, hoverinfo="text",
            marker={"size": _marker_sizes(both["logins_a"].to_numpy(dtype=float)),
                    "color": _round(diff, 1), "colorscale": "RdBu", "reversescale": True,
                    "cmin": -round(bound, 1), "cmax": round(bound, 1), "showscale": True,
                    "line": {"color": "#444444", "width": 0.6},
                    "colorbar": {"title": {"text": "Δ p95 (ms)"}, "thickness": 14,
                                 "len": 0.8}}))
    data += _node_traces(other)
    lats = list(both["lat_a"].astype(float)) if len(both) else []
    return _figure(data, _map_layout(f"p95 login latency per site: {name} minus {base_name} "
                                     "(red: slower, blue: faster)", lats))


def comparison_report(folder: str | os.PathLike[str]) -> str:
    """The HTML report of a comparison folder (``access-sim compare --out``).

    The table comes from ``comparison.json``; the CDFs and the difference maps need each
    scenario's per-login records, found in ``runs/`` (or in the result folders the
    comparison read) and left out, with a note, where they are missing.

    Raises
    ------
    ResultsError
        ``comparison.json`` is missing or of the wrong shape; a run is damaged.
    """
    d = Path(folder)
    data = _read_comparison(d)
    names = [sc["name"] for sc in data["scenarios"]]
    rows = _figure_rows(data)
    alpha = data.get("alpha")
    confidence = data.get("confidence")
    page = _Page(f"access-sim comparison: {', '.join(names)}",
                 [f"baseline {names[0]}; {data.get('test', 'Welch t-test')}; "
                  f"significance level {alpha}; intervals at "
                  f"{_pct(confidence, 0) if isinstance(confidence, (int, float)) else '?'}"])
    scen_rows = [[sc["name"], sc.get("source", ""), sc.get("seed", ""),
                  sc.get("replications", "")] for sc in data["scenarios"]]
    page.section("scenarios", "Scenarios",
                 _table(["scenario", "source", "seed", "replications"], scen_rows))

    def group(fig: str) -> str:
        if fig.startswith("latency_ms.by_region."):
            return "region"
        return "nodes" if fig.startswith("nodes.") else "headline"

    figs = {g: [f for f in rows if group(f) == g] for g in ("headline", "region", "nodes")}
    legend = _note("mean [95% interval] across replications; the difference to the baseline "
                   "with its interval and the p-value of Welch's t-test; * and shading: "
                   f"significant at {alpha}.")
    body = legend + _comparison_table(figs["headline"], rows, names)
    if figs["region"]:
        body += "<h3>p95 latency by region (ms)</h3>" + _comparison_table(figs["region"], rows,
                                                                          names)
    if figs["nodes"]:
        body += ("<details><summary>Utilisation per node "
                 f"({len(figs['nodes'])} figures)</summary>"
                 + _comparison_table(figs["nodes"], rows, names) + "</details>")
    page.section("figures", "Side by side", body)

    runs = _comparison_runs(d, data)
    missing = [n for n in names if runs.get(n) is None]
    found = [n for n in names if runs.get(n) is not None]
    gap = _note(f"No per-login records found for {', '.join(missing)} (the comparison kept "
                "no runs/ folder, or the result folder it read has moved).") if missing else ""
    if found and any(len(_pooled_latencies(runs[n])) for n in found):  # type: ignore[arg-type]
        page.section("cdf", "Latency CDFs", page.plot(_comparison_cdf(runs, names), "cdf")
                     + gap)
    else:
        page.section("cdf", "Latency CDFs", gap or _note("No successful logins."))
    base = runs.get(names[0])
    body = ""
    for k, n in enumerate(names[1:], start=1):
        other = runs.get(n)
        if base is None or other is None or not has_logins(base) \
                or not has_logins(other):
            continue
        body += page.plot(_difference_map(base, other, names[0], n), f"diff-map-{k}")
    if body:
        body += _note(f"Sites with at least {_MIN_SITE_LOGINS} successful logins in both "
                      "scenarios; colour: p95 of the scenario minus p95 of the baseline "
                      "(pooled logins of the measurement window; the scale ends at the "
                      f"{_COLOUR_CAP}th percentile of the differences); area: the "
                      "baseline's logins. Scroll or drag to zoom.")
    else:
        body = gap or _note("A difference map needs two scenarios.")
    page.section("diff-map", "Difference map", body)
    scen = "".join(f"<details><summary>{_esc(sc['name'])}</summary>"
                   f"{_scenario_yaml(sc.get('scenario_resolved'))}</details>"
                   for sc in data["scenarios"])
    page.section("scenario", "Resolved scenarios", scen)
    return page.render()
