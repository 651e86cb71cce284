"""Figures drawn from a :class:`sim.analysis.Results`: latency CDFs, node load over time, a map.

Everything here reads a ``Results`` object only (its ``summary`` dict and its ``logins`` and
``node_load`` tables); it never touches the engine, the scenario loader or the world build, so a
result folder read back with ``Results.load`` plots exactly like a fresh run.

Each ``plot_*`` function draws into the Matplotlib ``Axes`` it is given (or into a new figure
made with ``plt.subplots`` when none is given) and returns it. :func:`save_figures` writes the
standard set of PNG files with plain :class:`matplotlib.figure.Figure` objects, so it needs no
pyplot, no GUI backend and leaves no open pyplot figures behind.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, SupportsFloat, cast

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

if TYPE_CHECKING:
    from sim.analysis.results import Results

__all__ = [
    "FIGURES_DIR",
    "FIGURE_FILES",
    "plot_decided_by",
    "plot_latency_cdf",
    "plot_latency_cdf_by_region",
    "plot_map",
    "plot_node_load",
    "save_figures",
]

FIGURES_DIR = "figures"
#: The files :func:`save_figures` may write, in order, relative to ``out_dir``.
FIGURE_FILES = ("latency_cdf.png", "latency_cdf_by_region.png", "node_load.png", "map.png",
                "decided_by.png")
_DPI = 120
_LAND_FILE = Path(__file__).resolve().parents[1] / "data" / "ne_110m_land.geojson"

_PERCENTILES = (50, 95, 99)
#: Fixed colours for the provider's regions, so a region keeps its colour across figures/runs.
_REGION_COLOURS = {
    "china": "#d62728",
    "asia": "#ff7f0e",
    "europe": "#1f77b4",
    "north_america": "#2ca02c",
    "south_america": "#9467bd",
    "oceania": "#17becf",
    "africa": "#8c564b",
}
_SPARE_COLOURS = ("#e377c2", "#bcbd22", "#7f7f7f", "#aec7e8", "#ffbb78", "#98df8a")
#: Marker, colour and size of each node kind on the map.
_NODE_STYLE: dict[str, tuple[str, str, float]] = {
    "access": ("^", "#1f77b4", 42.0),
    "cache": ("s", "#2ca02c", 38.0),
    "datacenter": ("*", "#d62728", 190.0),
}
_METRIC_LABELS = {
    "utilization": "utilization (share of workers busy)",
    "connections": "open connections (count)",
    "logins_per_s": "logins per second (1/s)",
    "queue_len": "queue length (logins waiting)",
}
_EVENT_COLOURS = {
    "node_down": "#d62728",
    "node_up": "#2ca02c",
    "region_outage": "#9467bd",
    "flash_crowd": "#ff7f0e",
    "slowdown": "#8c564b",
}
_EVENT_KINDS = tuple(_EVENT_COLOURS)
_LAND_COLOUR = "#d9d9d9"
_WATER_COLOUR = "#f4f7fb"
_MAX_CDF_POINTS = 4000
_MAP_LINKED_SITES = 300


# --------------------------------------------------------------------------- helpers


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    """The given axes, or a new pyplot figure's axes (only when none was given)."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # deferred: matplotlib loads only when a figure is drawn

    _, new_ax = plt.subplots(figsize=figsize, layout="constrained")
    return new_ax


def _scenario_name(results: Results) -> str:
    return str(results.summary.get("scenario") or "scenario")


def _window_s(results: Results) -> tuple[float, float]:
    """The measurement window ``[warmup, duration)`` in seconds (whole run if unknown)."""
    sc = results.summary.get("scenario_resolved") or {}
    warmup = sc.get("warmup")
    duration = sc.get("duration")
    return (float(warmup) if warmup is not None else 0.0,
            float(duration) if duration is not None else math.inf)


def _has_logins(results: Results) -> bool:
    logins = results.logins
    return logins is not None and len(logins) > 0 and {
        "t_start_s", "outcome", "latency_ms", "region"} <= set(logins.columns)


def _window_logins(results: Results, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Logins that started inside the measurement window (any outcome); only ``columns``
    (those present) when given: the figures read a few of the table's columns, and a copy
    of every column of millions of rows costs seconds."""
    if not _has_logins(results):
        return pd.DataFrame()
    logins = results.logins
    if columns is not None:
        logins = logins[[c for c in columns if c in logins.columns]]
    warmup, duration = _window_s(results)
    t = logins["t_start_s"].to_numpy(dtype=float)
    return logins[(t >= warmup) & (t < duration)]


def _labels(col: pd.Series) -> np.ndarray:
    """A column's values as an object array of str ("nan" for a missing value), like
    ``col.astype(str)`` but from a categorical's codes (pandas' string conversion of a
    categorical of millions of rows takes seconds)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        names = np.array([str(c) for c in col.cat.categories] + ["nan"], dtype=object)
        return names[col.cat.codes.to_numpy()]  # code -1 (missing) picks "nan"
    return np.asarray(col.astype(str).to_numpy(), dtype=object)


def _ok_latencies(results: Results) -> pd.DataFrame:
    """``region, latency_ms`` of successful logins in the window with a positive latency."""
    win = _window_logins(results, ("t_start_s", "outcome", "latency_ms", "region"))
    if len(win) == 0:
        return pd.DataFrame({"region": pd.Series([], dtype=str),
                             "latency_ms": pd.Series([], dtype=float)})
    ok = _labels(win["outcome"]) == "ok"
    lat = win["latency_ms"].to_numpy(dtype=float)[ok]
    keep = np.isfinite(lat) & (lat > 0)  # a log axis cannot show 0 ms
    return pd.DataFrame({"region": _labels(win["region"])[ok][keep],
                         "latency_ms": lat[keep]})


def _region_colours(regions: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    spare = 0
    for r in regions:
        if r in _REGION_COLOURS:
            out[r] = _REGION_COLOURS[r]
        else:
            out[r] = _SPARE_COLOURS[spare % len(_SPARE_COLOURS)]
            spare += 1
    return out


def ecdf(x: np.ndarray, max_points: int = _MAX_CDF_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Sorted values and their empirical CDF, thinned to at most ``max_points`` points."""
    xs = np.sort(x)
    n = len(xs)
    ys = np.arange(1, n + 1, dtype=float) / n
    if n > max_points:
        idx = np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))
        xs, ys = xs[idx], ys[idx]
    return xs, ys


def _ms(v: float) -> str:
    return f"{v:.0f} ms" if v >= 10 else f"{v:.1f} ms"


def _no_data(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center",
            color="0.4")


def style_latency_cdf_axes(ax: Axes) -> None:
    """Axes of a login-latency CDF: log x in ms at 1-2-5 steps, share of logins on y."""
    ax.set_xscale("log")
    # Plain numbers at 1-2-5 steps read better than 2x10^2 on a latency axis.
    ax.xaxis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("login latency (ms)")
    ax.set_ylabel("share of logins")
    ax.grid(True, which="major", alpha=0.35)
    ax.grid(True, which="minor", axis="x", alpha=0.12)


# --------------------------------------------------------------------------- latency CDF


def plot_latency_cdf(results: Results, ax: Axes | None = None, by_region: bool = True) -> Axes:
    """Empirical CDF of the login latency of successful logins in the measurement window.

    Only logins with ``outcome == "ok"`` that started inside ``[warmup, duration)`` count,
    as in the summary. The overall curve is drawn thick, with its p50, p95 and p99 marked;
    with ``by_region`` one thinner line per region follows.

    Parameters
    ----------
    results : sim.analysis.Results
        The run to plot; its ``logins`` table must hold per-login rows.
    ax : matplotlib.axes.Axes, optional
        Where to draw. A new figure is made when omitted.
    by_region : bool, default True
        Add one line per region (in a fixed colour per region).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn into: ``1 + n_regions`` lines (``1`` without ``by_region``), or none
        and a note when there are no successful logins in the window.
    """
    ax = _new_axes(ax, (8.0, 5.0))
    ok = _ok_latencies(results)
    style_latency_cdf_axes(ax)
    ax.set_title(f"{_scenario_name(results)}: login latency (successful logins, "
                 "measurement window)")
    if len(ok) == 0:
        _no_data(ax, "no successful logins in the measurement window")
        return ax
    lat = ok["latency_ms"].to_numpy()
    xs, ys = ecdf(lat)
    pct = np.percentile(lat, _PERCENTILES)
    ax.plot(xs, ys, color="black", lw=2.6, drawstyle="steps-post", zorder=3,
            label=f"all regions (n={len(lat):,})")
    if by_region:
        colours = _region_colours(sorted(ok["region"].unique()))
        for region, colour in colours.items():
            r_lat = ok.loc[ok["region"] == region, "latency_ms"].to_numpy()
            rx, ry = ecdf(r_lat)
            ax.plot(rx, ry, color=colour, lw=1.3, drawstyle="steps-post", zorder=2,
                    label=f"{region} (n={len(r_lat):,})")
    ax.scatter(pct, np.array(_PERCENTILES) / 100.0, s=36, color="white", edgecolor="black",
               linewidth=1.5, zorder=4)
    for p, v in zip(_PERCENTILES, pct):
        ax.annotate(f"p{p} {_ms(float(v))}", xy=(float(v), p / 100.0), xytext=(7, -4),
                    textcoords="offset points", ha="left", va="top", fontsize="small",
                    zorder=5, bbox={"boxstyle": "round,pad=0.15", "fc": "white",
                                    "ec": "none", "alpha": 0.75})
    # Room on the right for the p99 label.
    ax.set_xlim(float(xs[0]) / 1.15, max(float(xs[-1]) * 1.15, float(pct[-1]) * 2.0))
    ax.legend(loc="lower right", fontsize="small", framealpha=0.9)
    return ax


def plot_latency_cdf_by_region(results: Results, fig: Figure | None = None) -> Figure:
    """Small multiples: one latency CDF panel per region, the overall CDF in grey behind.

    Parameters
    ----------
    results : sim.analysis.Results
        The run to plot; its ``logins`` table must hold per-login rows.
    fig : matplotlib.figure.Figure, optional
        An empty figure to fill. A new pyplot figure is made when omitted.

    Returns
    -------
    matplotlib.figure.Figure
        The figure; its first ``n_regions`` axes are the panels (sorted by region name),
        with two lines each (overall, region). Spare grid cells are hidden.
    """
    ok = _ok_latencies(results)
    regions = sorted(ok["region"].unique()) if len(ok) else []
    n = max(len(regions), 1)
    ncols = min(n, 4)
    nrows = math.ceil(n / ncols)
    if fig is None:
        import matplotlib.pyplot as plt  # deferred: matplotlib loads only when a figure is drawn

        fig = plt.figure(figsize=(3.3 * ncols + 0.6, 2.8 * nrows + 0.8), layout="constrained")
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
    fig.suptitle(f"{_scenario_name(results)}: login latency by region "
                 "(grey: all regions)")
    if not regions:
        style_latency_cdf_axes(axes[0])
        _no_data(axes[0], "no successful logins in the measurement window")
        return fig
    lat = ok["latency_ms"].to_numpy()
    all_x, all_y = ecdf(lat)
    colours = _region_colours(regions)
    for i, (ax, region) in enumerate(zip(axes, regions)):
        r_lat = ok.loc[ok["region"] == region, "latency_ms"].to_numpy()
        rx, ry = ecdf(r_lat)
        ax.plot(all_x, all_y, color="0.65", lw=1.6, drawstyle="steps-post", label="all regions")
        ax.plot(rx, ry, color=colours[region], lw=1.8, drawstyle="steps-post", label=region)
        style_latency_cdf_axes(ax)
        p50, p95 = np.percentile(r_lat, (50, 95))
        ax.set_title(region, fontsize="medium")
        ax.text(0.97, 0.05, f"n={len(r_lat):,}\np50 {_ms(float(p50))}\np95 {_ms(float(p95))}",
                transform=ax.transAxes, ha="right", va="bottom", fontsize="small")
        # Shared axes: label only the outer edge (a panel with an empty cell below keeps
        # its x tick labels and label).
        if i + ncols < len(regions):
            ax.set_xlabel("")
        else:
            ax.xaxis.set_tick_params(labelbottom=True)
        if i % ncols:
            ax.set_ylabel("")
    for ax in axes[len(regions):]:
        ax.set_visible(False)
    return fig


# --------------------------------------------------------------------------- node load


def _event_label(event: Mapping[str, Any]) -> tuple[str, str]:
    """``(kind, label)`` of a resolved scenario event."""
    kind = next((k for k in _EVENT_KINDS if event.get(k) is not None), "event")
    target = event.get(kind)
    if kind == "flash_crowd" and isinstance(target, Mapping):
        where = target.get("region") or target.get("site") or "?"
        mult = target.get("multiplier")
        text = f"flash crowd {where}" + (f" ×{float(mult):g}" if mult is not None else "")
    elif kind == "event":
        text = "event"
    else:
        text = f"{kind.replace('_', ' ')} {target}"
    return kind, text


def _draw_events(ax: Axes, events: Sequence[Mapping[str, Any]]) -> None:
    """Vertical lines (instant events) or shaded spans (events with ``for``), labelled."""
    for event in events:
        at = event.get("at")
        if at is None:
            continue
        start_min = float(at) / 60.0
        kind, text = _event_label(event)
        colour = _EVENT_COLOURS.get(kind, "0.3")
        lasting = event.get("for")
        if lasting is not None:
            end_min = start_min + float(lasting) / 60.0
            ax.axvspan(start_min, end_min, color=colour, alpha=0.12, lw=0, zorder=0)
            ax.axvline(start_min, color=colour, lw=1.0, ls="--", zorder=1,
                       label="_event")
            text += f" ({_duration_text(float(lasting))})"
        else:
            ax.axvline(start_min, color=colour, lw=1.2, ls="--", zorder=1, label="_event")
        ax.text(start_min, 0.98, text, transform=ax.get_xaxis_transform(),
                rotation=90, ha="right", va="top", fontsize="small", color=colour,
                clip_on=True, zorder=5, bbox={"boxstyle": "round,pad=0.15", "fc": "white",
                                              "ec": "none", "alpha": 0.75})


def _duration_text(seconds: float) -> str:
    if seconds >= 3600 and seconds % 360 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 6 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def plot_node_load(results: Results, ax: Axes | None = None, top: int = 10,
                   metric: str = "utilization") -> Axes:
    """One node metric over time for the busiest nodes, with the scenario's events marked.

    The metric is averaged over replications at each sample time; the ``top`` nodes with the
    highest mean are drawn (ties broken by node id). Events of the resolved scenario are
    drawn as dashed vertical lines, and those with a ``for`` as shaded spans, each labelled;
    the warm-up is shaded grey.

    Parameters
    ----------
    results : sim.analysis.Results
        The run to plot.
    ax : matplotlib.axes.Axes, optional
        Where to draw. A new figure is made when omitted.
    top : int, default 10
        How many nodes to draw.
    metric : {"utilization", "connections", "logins_per_s", "queue_len"}
        The ``node_load`` column to draw.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn into. Node lines carry their node id as label; event lines are
        labelled ``"_event"`` (kept out of the legend).

    Raises
    ------
    ValueError
        ``top`` is below 1 or ``metric`` is not a ``node_load`` column.
    """
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    if metric not in _METRIC_LABELS:
        raise ValueError(f"metric must be one of {', '.join(_METRIC_LABELS)}, got {metric!r}")
    ax = _new_axes(ax, (10.0, 5.0))
    ax.set_xlabel("time since start (min)")
    ax.set_ylabel(_METRIC_LABELS[metric])
    ax.grid(True, alpha=0.3)
    warmup_s, duration_s = _window_s(results)
    if math.isfinite(duration_s):
        ax.set_xlim(0.0, duration_s / 60.0)
    if warmup_s > 0:
        ax.axvspan(0.0, warmup_s / 60.0, color="0.5", alpha=0.08, lw=0, zorder=0)
        ax.text(warmup_s / 120.0, 0.98, "warm-up", transform=ax.get_xaxis_transform(),
                ha="center", va="top", fontsize="small", color="0.4", clip_on=True)
    events = (results.summary.get("scenario_resolved") or {}).get("events") or []
    load = results.node_load
    if load is None or len(load) == 0 or metric not in load.columns:
        ax.set_title(f"{_scenario_name(results)}: {metric.replace('_', ' ')} of the "
                     "busiest nodes")
        _draw_events(ax, events)
        _no_data(ax, "no node load samples")
        return ax
    frame = load[["node", "t_s", metric]].copy()
    frame["node"] = frame["node"].astype(str)
    nodes_info: Mapping[str, Any] = results.summary.get("nodes") or {}
    # Hubs are routing points, not servers: the summary lists only serving nodes.
    if nodes_info and frame["node"].isin(list(nodes_info)).any():
        frame = frame[frame["node"].isin(list(nodes_info))]
    series = frame.groupby(["node", "t_s"], sort=True)[metric].mean()
    means = series.groupby(level="node").mean()
    ranking = sorted(means.items(), key=lambda kv: (-_finite(kv[1]), kv[0]))
    chosen = [node for node, _ in ranking[:top]]
    ax.set_title(f"{_scenario_name(results)}: {metric.replace('_', ' ')} of the "
                 f"{len(chosen)} busiest nodes (mean over replications)")
    palette = _node_palette(len(chosen))
    for i, node in enumerate(chosen):
        assert isinstance(node, str)  # the index labels are node names (made str above)
        s = series.loc[node]
        kind = (nodes_info.get(node) or {}).get("kind")
        label = f"{node} ({kind})" if kind else node
        ax.plot(s.index.to_numpy(dtype=float) / 60.0, s.to_numpy(dtype=float),
                color=palette[i], lw=1.4, label=label, zorder=2)
    ax.set_ylim(bottom=0.0)
    if metric == "utilization" and ax.get_ylim()[1] > 0.9:
        ax.set_ylim(top=max(1.02, ax.get_ylim()[1]))  # show full saturation
    _draw_events(ax, events)
    if chosen:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
                  fontsize="small", title="node", title_fontsize="small")
    return ax


def _finite(v: Any) -> float:
    f = float(v)
    return f if math.isfinite(f) else -math.inf


def _node_palette(n: int) -> list[Any]:
    from matplotlib import colormaps  # deferred: matplotlib loads only when a figure is drawn

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


# --------------------------------------------------------------------------- map


@lru_cache(maxsize=1)
def _land_rings() -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Exterior rings and holes of the Natural Earth land polygons, as ``(lon, lat)`` arrays."""
    data = json.loads(_LAND_FILE.read_text(encoding="utf-8"))
    exteriors: list[np.ndarray] = []
    holes: list[np.ndarray] = []
    for feature in data.get("features", []):
        geom = feature.get("geometry") or {}
        if geom.get("type") == "Polygon":
            polygons = [geom["coordinates"]]
        elif geom.get("type") == "MultiPolygon":
            polygons = geom["coordinates"]
        else:
            continue
        for rings in polygons:
            if not rings:
                continue
            exteriors.append(np.asarray(rings[0], dtype=float)[:, :2])
            holes.extend(np.asarray(r, dtype=float)[:, :2] for r in rings[1:])
    return tuple(exteriors), tuple(holes)


def _split_antimeridian(lon0: float, lat0: float, lon1: float,
                        lat1: float) -> list[list[tuple[float, float]]]:
    """The shorter way from point 0 to point 1 on a lon/lat map, cut at ±180°."""
    dlon = lon1 - lon0
    if abs(dlon) <= 180.0:
        return [[(lon0, lat0), (lon1, lat1)]]
    edge0 = 180.0 if dlon < 0 else -180.0  # leave through this edge, enter through the other
    lon1_unwrapped = lon1 + (360.0 if dlon < 0 else -360.0)
    frac = (edge0 - lon0) / (lon1_unwrapped - lon0)
    lat_cross = lat0 + frac * (lat1 - lat0)
    return [[(lon0, lat0), (edge0, lat_cross)], [(-edge0, lat_cross), (lon1, lat1)]]


def _node_kinds(results: Results) -> dict[str, str]:
    kinds: dict[str, str] = {}
    logins = results.logins
    if logins is not None and len(logins) and {"node", "node_kind"} <= set(logins.columns):
        pairs = _kind_pairs(logins)
        kinds.update((n, k) for n, k in zip(pairs["node"], pairs["node_kind"])
                     if n not in ("", "nan") and k not in ("", "nan"))
    for node, info in (results.summary.get("nodes") or {}).items():
        if isinstance(info, Mapping) and info.get("kind"):
            kinds[str(node)] = str(info["kind"])
    return kinds


def _kind_pairs(logins: pd.DataFrame) -> pd.DataFrame:
    """The distinct ``node, node_kind`` pairs of the logins, as str (found on integer codes
    when the columns are categorical)."""
    node, kind = logins["node"], logins["node_kind"]
    if not (isinstance(node.dtype, pd.CategoricalDtype)
            and isinstance(kind.dtype, pd.CategoricalDtype)):
        return pd.DataFrame({"node": _labels(node), "node_kind": _labels(kind)}).drop_duplicates()
    codes = pd.DataFrame({"node": node.cat.codes.to_numpy(),
                          "node_kind": kind.cat.codes.to_numpy()}).drop_duplicates()
    node_names = np.array([str(c) for c in node.cat.categories] + ["nan"], dtype=object)
    kind_names = np.array([str(c) for c in kind.cat.categories] + ["nan"], dtype=object)
    return pd.DataFrame({"node": node_names[codes["node"].to_numpy()],
                         "node_kind": kind_names[codes["node_kind"].to_numpy()]})


def _node_coords(results: Results) -> dict[str, tuple[float, float]]:
    """``node -> (lon, lat)`` from ``summary["node_coords"]`` (``node -> [lat, lon]``)."""
    out: dict[str, tuple[float, float]] = {}
    for node, coords in (results.summary.get("node_coords") or {}).items():
        try:
            lat, lon = float(coords[0]), float(coords[1])
        except (TypeError, ValueError, IndexError):
            continue
        if math.isfinite(lat) and math.isfinite(lon):
            out[str(node)] = (lon, lat)
    return out


def _site_table(results: Results) -> pd.DataFrame:
    """Per site: lon, lat, logins in the window, the node that took most and its share."""
    win = _window_logins(results, ("t_start_s", "site", "terminal_lat", "terminal_lon", "node"))
    cols = ["site", "lon", "lat", "logins", "node", "share"]
    if len(win) == 0 or not {"site", "terminal_lat", "terminal_lon", "node"} <= set(win.columns):
        return pd.DataFrame(columns=cols)
    df = pd.DataFrame({"site": _labels(win["site"]),
                       "lat": win["terminal_lat"].to_numpy(dtype=float),
                       "lon": win["terminal_lon"].to_numpy(dtype=float),
                       "node": _labels(win["node"])})
    sites = df.groupby("site", sort=True).agg(lon=("lon", "first"), lat=("lat", "first"),
                                              logins=("node", "size"))
    served = df[(df["node"] != "") & (df["node"] != "nan")]
    pairs = served.groupby(["site", "node"], sort=True).size().rename("n").reset_index()
    pairs = pairs.sort_values(["site", "n", "node"], ascending=[True, False, True],
                              kind="mergesort")
    totals = pairs.groupby("site")["n"].transform("sum")
    pairs = pairs.assign(share=pairs["n"] / totals).drop_duplicates("site")
    sites = sites.join(pairs.set_index("site")[["node", "share"]], how="left")
    sites = sites.reset_index()
    # Busiest first, ties by site name: a deterministic top-N.
    return sites.sort_values(["logins", "site"], ascending=[False, True],
                             kind="mergesort")[cols].reset_index(drop=True)


def plot_map(results: Results, ax: Axes | None = None) -> Axes:
    """World map of the nodes and of where each site's logins went.

    Land is drawn from the bundled Natural Earth 1:110m polygons on plain lon/lat axes.
    Nodes take their coordinates from ``summary["node_coords"]`` (``node -> [lat, lon]``);
    nodes without coordinates are left out. Sites (from the logins in the measurement window)
    are dots whose area grows with their login count; the 300 busiest sites get a thin line
    to the node that took most of their logins, more opaque the larger that node's share.

    Parameters
    ----------
    results : sim.analysis.Results
        The run to plot. Without per-login rows only land and nodes are drawn.
    ax : matplotlib.axes.Axes, optional
        Where to draw. A new figure is made when omitted.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn into; the legend names the node kinds shown and the sites.
    """
    ax = _new_axes(ax, (12.0, 6.2))
    ax.set_facecolor(_WATER_COLOUR)
    exteriors, holes = _land_rings()
    ax.add_collection(PolyCollection(list(exteriors), facecolors=_LAND_COLOUR,
                                     edgecolors="#bdbdbd", linewidths=0.3, zorder=0))
    if holes:
        ax.add_collection(PolyCollection(list(holes), facecolors=_WATER_COLOUR,
                                         edgecolors="#bdbdbd", linewidths=0.3, zorder=0))
    coords = _node_coords(results)
    kinds = _node_kinds(results)
    sites = _site_table(results)
    handles: list[Any] = []

    if len(sites):
        linked = sites.head(_MAP_LINKED_SITES)
        segments: list[list[tuple[float, float]]] = []
        colours: list[tuple[float, float, float, float]] = []
        for row in linked.itertuples(index=False):
            node = row.node
            if not isinstance(node, str) or node not in coords:
                continue
            lon1, lat1 = coords[node]
            _, colour, _ = _NODE_STYLE.get(kinds.get(node, ""), ("o", "0.35", 30.0))
            # The stubs type a row's fields as any scalar; these columns are numbers.
            rgba = to_rgba(colour, alpha=0.12 + 0.6 * float(cast(SupportsFloat, row.share)))
            for seg in _split_antimeridian(float(cast(SupportsFloat, row.lon)),
                                           float(cast(SupportsFloat, row.lat)), lon1, lat1):
                segments.append(seg)
                colours.append(rgba)
        if segments:
            ax.add_collection(LineCollection(segments, colors=colours, linewidths=0.6,
                                             zorder=1))
        counts = sites["logins"].to_numpy(dtype=float)
        sizes = 3.0 + 150.0 * counts / counts.max()
        ax.scatter(sites["lon"], sites["lat"], s=sizes, color="#404040", alpha=0.45,
                   linewidths=0, zorder=2)
        handles.append(Line2D([], [], ls="none", marker="o", color="#404040", alpha=0.6,
                              markersize=6, label=f"sites ({len(sites):,}; area ∝ logins)"))
        if segments:
            handles.append(Line2D([], [], color="0.35", lw=0.8,
                                  label=f"site → node taking most logins "
                                        f"(top {min(len(sites), _MAP_LINKED_SITES)} sites; "
                                        "opacity = share)"))

    for kind in sorted({kinds.get(n, "") for n in coords} - {""},
                       key=lambda k: (k not in _NODE_STYLE, list(_NODE_STYLE).index(k)
                                      if k in _NODE_STYLE else 0, k)):
        members = sorted(n for n in coords if kinds.get(n) == kind)
        marker, colour, size = _NODE_STYLE.get(kind, ("o", "0.3", 30.0))
        lon = [coords[n][0] for n in members]
        lat = [coords[n][1] for n in members]
        ax.scatter(lon, lat, s=size, marker=marker, color=colour, edgecolors="black",
                   linewidths=0.6, zorder=3 + (kind == "datacenter"))
        handles.append(Line2D([], [], ls="none", marker=marker, color=colour,
                              markeredgecolor="black", markersize=9 if kind == "datacenter"
                              else 7, label=f"{kind} node ({len(members)})"))

    lat_min = -60.0
    if coords or len(sites):
        all_lat = [c[1] for c in coords.values()] + list(sites["lat"].astype(float))
        lat_min = min(lat_min, math.floor(min(all_lat) / 10.0) * 10.0)
    ax.set_xlim(-180.0, 180.0)
    ax.set_aspect("equal")
    ax.set_xticks(np.arange(-180, 181, 60))
    ax.set_yticks(np.arange(-90, 91, 30))
    ax.set_ylim(max(lat_min, -90.0), 90.0)  # set_yticks may widen the limits
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.grid(True, color="white", lw=0.6, alpha=0.8)
    ax.set_axisbelow(True)
    ax.set_title(f"{_scenario_name(results)}: nodes and where each site's logins went")
    if handles:
        # Below the map: any corner of the map may hold a node.
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.1),
                  ncol=min(len(handles), 3), fontsize="small", frameon=False)
    return ax


# --------------------------------------------------------------------------- files


def plot_decided_by(results: Results, ax: Axes | None = None, bin_s: float = 60.0) -> Axes:
    """Share of logins by the addressing level that decided, over time, with events marked.

    Parameters
    ----------
    results : sim.analysis.Results
        The run to plot (all replications pooled).
    ax : matplotlib.axes.Axes, optional
        Where to draw. A new figure is made when omitted.
    bin_s : float, default 60
        Width of the time bins, in seconds.

    Returns
    -------
    matplotlib.axes.Axes
        A stacked area per deciding level (labelled with the level's name).
    """
    ax = _new_axes(ax, (10.0, 4.0))
    if not _has_logins(results):
        _no_data(ax, "no per-login records")
        return ax
    logins = results.logins
    table = _decided_shares(logins["t_start_s"].to_numpy(dtype=float), logins["decided_by"],
                            bin_s)
    table = table.loc[:, (table > 0).any()]
    # Each bin drawn flat from its start to its end (a step), not interpolated between bins.
    starts = table.index.to_numpy() / 60.0
    minutes = np.column_stack([starts, starts + bin_s / 60.0]).ravel()
    ax.stackplot(minutes, *(np.repeat(table[c].to_numpy(), 2) for c in table.columns),
                 labels=list(table.columns), alpha=0.85)
    _draw_events(ax, results.summary.get("scenario_resolved", {}).get("events", []))
    ax.set_xlabel("simulated time (min)")
    ax.set_ylabel("share of logins")
    ax.set_ylim(0, 1)
    ax.set_title(f"{_scenario_name(results)}: which addressing level decided")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")
    return ax


def _decided_shares(t_s: np.ndarray, decided: pd.Series, bin_s: float) -> pd.DataFrame:
    """Share of each deciding level per time bin (rows: the bins' starts, in order, only bins
    holding logins; columns: the levels, sorted by name), as
    ``pd.crosstab(bin, decided.astype(str), normalize="index")`` gives, counted on integer
    codes."""
    if isinstance(decided.dtype, pd.CategoricalDtype):
        names = np.array([str(c) for c in decided.cat.categories], dtype=object)
        codes = decided.cat.codes.to_numpy().astype(np.int64)
        keep = codes >= 0
        codes = codes[keep]
    else:
        labels = _labels(decided)
        keep = labels != "nan"
        names, codes = np.unique(labels[keep], return_inverse=True)
    bins = np.floor_divide(t_s[keep], bin_s)
    starts, rows = np.unique(bins, return_inverse=True)
    counts = np.bincount(rows * len(names) + codes,
                         minlength=len(starts) * len(names)).reshape(len(starts), len(names))
    table = pd.DataFrame(counts, index=starts * bin_s, columns=list(names), dtype=float)
    table = table[sorted(table.columns)]
    return table.div(table.sum(axis=1), axis=0)


def save_figures(results: Results, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write the standard figures as PNG into ``out_dir/figures/``.

    ``latency_cdf.png``, ``latency_cdf_by_region.png`` and ``decided_by.png`` need per-login
    rows and are skipped when ``results.logins`` is empty; ``node_load.png`` and ``map.png``
    are always written.
    Figures are plain :class:`matplotlib.figure.Figure` objects rendered with Agg, so no
    pyplot figure is opened and the current backend is left alone.

    Parameters
    ----------
    results : sim.analysis.Results
        The run to plot.
    out_dir : path-like
        The result folder; ``figures/`` is created in it.

    Returns
    -------
    list of pathlib.Path
        The files written, in the order of :data:`FIGURE_FILES`.
    """
    fig_dir = Path(out_dir) / FIGURES_DIR
    fig_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(fig: Figure, name: str) -> None:
        path = fig_dir / name
        fig.savefig(path, dpi=_DPI, facecolor="white")
        fig.clear()
        written.append(path)

    if _has_logins(results):
        fig = Figure(figsize=(8.0, 5.0), layout="constrained")
        plot_latency_cdf(results, ax=fig.add_subplot())
        save(fig, "latency_cdf.png")

        n_regions = max(int(_ok_latencies(results)["region"].nunique()), 1)
        ncols = min(n_regions, 4)
        nrows = math.ceil(n_regions / ncols)
        fig = Figure(figsize=(3.3 * ncols + 0.6, 2.8 * nrows + 0.8), layout="constrained")
        plot_latency_cdf_by_region(results, fig=fig)
        save(fig, "latency_cdf_by_region.png")

    fig = Figure(figsize=(11.0, 5.0), layout="constrained")
    plot_node_load(results, ax=fig.add_subplot())
    save(fig, "node_load.png")

    fig = Figure(figsize=(12.0, 5.9), layout="constrained")
    plot_map(results, ax=fig.add_subplot())
    save(fig, "map.png")

    if _has_logins(results):
        fig = Figure(figsize=(10.0, 4.0), layout="constrained")
        plot_decided_by(results, ax=fig.add_subplot())
        save(fig, "decided_by.png")
    return written
