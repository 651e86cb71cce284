"""Figures drawn from a :class:`sim.analysis.Results`: latency CDFs, node load over time, the
deciding level, a map of the sites' p95 latency and the nodes.

Everything here reads a ``Results`` object only (its ``summary`` dict, its ``logins``,
``node_load`` and ``sites`` tables, all in memory); it never touches the engine, the scenario
loader or the world build, so a result folder read back with ``Results.load`` plots exactly like
a fresh run. What the figures read off it (the window, the latencies, the nodes, the events'
labels, the colours) comes from :mod:`sim.views.figure_data`, shared with the HTML report.

Each ``plot_*`` function draws into the Matplotlib ``Axes`` it is given (or into a new figure
made with ``plt.subplots`` when none is given) and returns it. :func:`save_figures` writes the
standard set of PNG files with plain :class:`matplotlib.figure.Figure` objects, so it needs no
pyplot, no GUI backend and leaves no open pyplot figures behind.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, SupportsFloat, cast

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from matplotlib.transforms import Bbox

from sim.views.figure_data import (
    EVENT_COLOURS,
    LAND_COLOUR,
    PERCENTILES,
    WATER_COLOUR,
    decided_counts,
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
    str_values,
    window_s,
)

if TYPE_CHECKING:
    from sim.analysis.results import Results

__all__ = [
    "FIGURES_DIR",
    "draw_land",
    "FIGURE_FILES",
    "plot_decided_by",
    "plot_latency_cdf",
    "plot_latency_cdf_by_region",
    "plot_map",
    "plot_node_load",
    "save_figures",
    "deciding_levels",
    "node_labels",
]

FIGURES_DIR = "figures"
#: The files :func:`save_figures` may write, in order, relative to ``out_dir``.
FIGURE_FILES = ("latency_cdf.png", "latency_cdf_by_region.png", "node_load.png", "map.png",
                "decided_by.png")
_DPI = 120

#: Marker, colour and size (points²) of the filled node kinds on the map.
_NODE_STYLE: dict[str, tuple[str, str, float]] = {
    "access": ("^", "#1f77b4", 42.0),
    "cache": ("s", "#2ca02c", 36.0),
}
#: Data centers are hollow rings (an access node in the same city shows inside), the home
#: data center a larger black one around its red ring.
_DC_COLOUR = "#d62728"
_HOME_COLOUR = "black"
_DC_SIZE = 200.0
_HOME_SIZE = 440.0
_NODE_ORDER = ("home", "datacenter", "access", "cache")
_LINK_COLOUR = "#2b3a55"
_MAP_CMAP = "plasma"
_LOAD_CMAP = "viridis"
#: The insets below the world map: name, (lon_min, lon_max, lat_min, lat_max). One is drawn
#: where the topology has at least _INSET_MIN_NODES nodes.
_INSETS: tuple[tuple[str, tuple[float, float, float, float]], ...] = (
    ("Europe", (-12.0, 42.0, 34.0, 62.0)),
    ("East Asia", (97.0, 146.0, 9.0, 46.0)),
)
_INSET_MIN_NODES = 2
#: Where a node's label may go, in order: (dx, dy) in marker radii, then its alignment.
_LABEL_SPOTS = ((1, 0, "left", "center"), (-1, 0, "right", "center"),
                (0, 1, "center", "bottom"), (0, -1, "center", "top"),
                (1, 1, "left", "bottom"), (-1, 1, "right", "bottom"),
                (1, -1, "left", "top"), (-1, -1, "right", "top"))
_METRIC_LABELS = {
    "utilization": "utilisation (% of workers busy)",
    "connections": "open connections (count)",
    "logins_per_s": "logins per second (1/s)",
    "queue_len": "queue length (logins waiting)",
}
_METRIC_NAMES = {
    "utilization": "utilisation",
    "connections": "open connections",
    "logins_per_s": "logins per second",
    "queue_len": "queue length",
}
_MAP_LINKED_SITES = 300


# --------------------------------------------------------------------------- helpers


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    """The given axes, or a new pyplot figure's axes (only when none was given)."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # deferred: matplotlib loads only when a figure is drawn

    _, new_ax = plt.subplots(figsize=figsize, layout="constrained")
    return new_ax


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
    return _latency_cdf(results, _new_axes(ax, (8.0, 5.0)), ok_latencies(results), by_region)


def _latency_cdf(results: Results, ax: Axes, ok: pd.DataFrame, by_region: bool) -> Axes:
    """:func:`plot_latency_cdf` of the latencies ``ok`` (:func:`ok_latencies`)."""
    style_latency_cdf_axes(ax)
    ax.set_title(f"{scenario_name(results)}: login latency (successful logins, "
                 "measurement window)")
    if len(ok) == 0:
        _no_data(ax, "no successful logins in the measurement window")
        return ax
    lat = ok["latency_ms"].to_numpy()
    xs, ys = ecdf(lat)
    pct = np.percentile(lat, PERCENTILES)
    ax.plot(xs, ys, color="black", lw=2.6, drawstyle="steps-post", zorder=3,
            label=f"all regions (n={len(lat):,})")
    if by_region:
        colours = region_colours(sorted(ok["region"].unique()))
        for region, colour in colours.items():
            r_lat = ok.loc[ok["region"] == region, "latency_ms"].to_numpy()
            rx, ry = ecdf(r_lat)
            ax.plot(rx, ry, color=colour, lw=1.3, drawstyle="steps-post", zorder=2,
                    label=f"{region} (n={len(r_lat):,})")
    ax.scatter(pct, np.array(PERCENTILES) / 100.0, s=36, color="white", edgecolor="black",
               linewidth=1.5, zorder=4)
    for p, v in zip(PERCENTILES, pct):
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
    return _latency_cdf_by_region(results, fig, ok_latencies(results))


def _latency_cdf_by_region(results: Results, fig: Figure | None, ok: pd.DataFrame) -> Figure:
    """:func:`plot_latency_cdf_by_region` of the latencies ``ok`` (:func:`ok_latencies`)."""
    regions = sorted(ok["region"].unique()) if len(ok) else []
    n = max(len(regions), 1)
    ncols = min(n, 4)
    nrows = math.ceil(n / ncols)
    if fig is None:
        import matplotlib.pyplot as plt  # deferred: matplotlib loads only when a figure is drawn

        fig = plt.figure(figsize=(3.3 * ncols + 0.6, 2.8 * nrows + 0.8), layout="constrained")
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
    fig.suptitle(f"{scenario_name(results)}: login latency by region "
                 "(grey: all regions)")
    if not regions:
        style_latency_cdf_axes(axes[0])
        _no_data(axes[0], "no successful logins in the measurement window")
        return fig
    lat = ok["latency_ms"].to_numpy()
    all_x, all_y = ecdf(lat)
    colours = region_colours(regions)
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


def _draw_events(ax: Axes, events: Sequence[Mapping[str, Any]], *, over: bool = False) -> int:
    """Vertical lines (instant events) or shaded spans (events with ``for``), labelled.

    With ``over`` (on a heat map, whose colours a shade would change) a lasting event is an
    outlined span drawn above the data and the labels stand above the axes, one row each.
    Returns the number of events drawn.
    """
    drawn = 0
    for event in events:
        at = event.get("at")
        if at is None:
            continue
        start_min = float(at) / 60.0
        kind, text = event_label(event)
        colour = EVENT_COLOURS.get(kind, "0.3")
        lasting = event.get("for")
        if lasting is not None:
            end_min = start_min + float(lasting) / 60.0
            if over:
                ax.axvspan(start_min, end_min, facecolor="none", edgecolor=colour, lw=1.6,
                           zorder=4)
            else:
                ax.axvspan(start_min, end_min, color=colour, alpha=0.12, lw=0, zorder=0)
            text += f" ({duration_text(float(lasting))})"
        ax.axvline(start_min, color=colour, lw=1.2, ls="--", zorder=4 if over else 1,
                   label="_event")
        if over:
            ax.annotate(text, xy=(start_min, 1.0), xycoords=ax.get_xaxis_transform(),
                        xytext=(0.0, 3.0 + 11.0 * drawn), textcoords="offset points",
                        ha="left", va="bottom", fontsize="small", color=colour,
                        annotation_clip=False)
        else:
            ax.text(start_min, 0.98, text, transform=ax.get_xaxis_transform(),
                    rotation=90, ha="right", va="top", fontsize="small", color=colour,
                    clip_on=True, zorder=5, bbox={"boxstyle": "round,pad=0.15", "fc": "white",
                                                  "ec": "none", "alpha": 0.75})
        drawn += 1
    return drawn


def _shade_warmup(ax: Axes, warmup_s: float, *, over: bool = False) -> None:
    """The warm-up shaded (veiled in white ``over`` a heat map) and labelled."""
    if warmup_s <= 0:
        return
    end_min = warmup_s / 60.0
    if over:
        ax.axvspan(0.0, end_min, facecolor="white", alpha=0.55, lw=0, zorder=3)
        ax.text(end_min / 2.0, 0.5, "warm-up", transform=ax.get_xaxis_transform(),
                rotation=90, ha="center", va="center", fontsize="small", color="0.15",
                clip_on=True, zorder=5)
    else:
        ax.axvspan(0.0, end_min, color="0.5", alpha=0.1, lw=0, zorder=0)
        ax.text(end_min / 2.0, 0.98, "warm-up", transform=ax.get_xaxis_transform(),
                ha="center", va="top", fontsize="small", color="0.35", clip_on=True,
                zorder=5)


def plot_node_load(results: Results, ax: Axes | None = None, top: int = 10,
                   metric: str = "utilization", *, style: str = "heatmap") -> Axes:
    """One node metric over time for the busiest nodes, with the scenario's events marked.

    The metric is averaged over replications at each sample time; the ``top`` nodes with the
    highest mean are drawn (ties broken by node id), busiest first. Utilisation is shown in
    percent. By default a heat map: one row per node (labelled with its id on the left and
    its mean and peak in the measurement window on the right), time in minutes across, a
    colour bar (0-100 % for utilisation); events are outlined spans or dashed lines labelled
    above the map, and the warm-up is veiled and labelled. With ``style="lines"`` one line
    per node instead, events shaded and labelled inside the axes.

    Parameters
    ----------
    results : sim.analysis.Results
        The run to plot.
    ax : matplotlib.axes.Axes, optional
        Where to draw. A new figure is made when omitted. The heat map's colour bar takes
        its room from this axes.
    top : int, default 10
        How many nodes to draw.
    metric : {"utilization", "connections", "logins_per_s", "queue_len"}
        The ``node_load`` column to draw.
    style : {"heatmap", "lines"}, default "heatmap"
        A heat map, or one line per node (for a few nodes compared closely).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn into. A heat map is its first ``QuadMesh`` (its ``colorbar`` the
        colour bar) with the node ids as y tick labels; lines carry ``"node (kind)"`` as
        label. Event lines are labelled ``"_event"`` (kept out of the legend).

    Raises
    ------
    ValueError
        ``top`` is below 1, ``metric`` is not a ``node_load`` column or ``style`` unknown.
    """
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    if metric not in _METRIC_LABELS:
        raise ValueError(f"metric must be one of {', '.join(_METRIC_LABELS)}, got {metric!r}")
    if style not in ("heatmap", "lines"):
        raise ValueError(f"style must be heatmap or lines, got {style!r}")
    ax = _new_axes(ax, (11.0, 5.0))
    ax.set_xlabel("time since start (min)")
    warmup_s, duration_s = window_s(results)
    if math.isfinite(duration_s):
        ax.set_xlim(0.0, duration_s / 60.0)
    events = (results.summary.get("scenario_resolved") or {}).get("events") or []
    load = results.node_load
    name = _METRIC_NAMES[metric]
    if load is None or len(load) == 0 or metric not in load.columns:
        ax.set_ylabel(_METRIC_LABELS[metric])
        ax.set_title(f"{scenario_name(results)}: {name} of the busiest nodes")
        _shade_warmup(ax, warmup_s)
        _draw_events(ax, events)
        _no_data(ax, "no node load samples")
        return ax
    series, chosen = _busiest(results, load, metric, top)
    title = (f"{scenario_name(results)}: {name} of the {len(chosen)} busiest nodes "
             "(mean over replications)")
    scale = 100.0 if metric == "utilization" else 1.0
    if style == "lines":
        _load_lines(ax, results, series, chosen, metric, scale)
        ax.set_title(title)
        _shade_warmup(ax, warmup_s)
        _draw_events(ax, events)
        return ax
    _load_heatmap(ax, series, chosen, metric, scale, (warmup_s, duration_s))
    _shade_warmup(ax, warmup_s, over=True)
    n_events = _draw_events(ax, events, over=True)
    ax.set_title(title, pad=6.0 + 11.0 * n_events)
    return ax


def _busiest(results: Results, load: pd.DataFrame, metric: str,
             top: int) -> tuple[pd.Series, list[str]]:
    """The metric per ``(node, t_s)`` averaged over replications, and the ``top`` nodes with
    the highest mean (serving nodes only when the summary names them; ties by id)."""
    frame = load[["node", "t_s", metric]].copy()
    frame["node"] = frame["node"].astype(str)
    nodes_info: Mapping[str, Any] = results.summary.get("nodes") or {}
    # Hubs are routing points, not servers: the summary lists only serving nodes.
    if nodes_info and frame["node"].isin(list(nodes_info)).any():
        frame = frame[frame["node"].isin(list(nodes_info))]
    series = frame.groupby(["node", "t_s"], sort=True)[metric].mean()
    means = series.groupby(level="node").mean()
    ranking = sorted(means.items(), key=lambda kv: (-_finite(kv[1]), str(kv[0])))
    return series, [str(node) for node, _ in ranking[:top]]


def _load_lines(ax: Axes, results: Results, series: pd.Series, chosen: Sequence[str],
                metric: str, scale: float) -> None:
    nodes_info: Mapping[str, Any] = results.summary.get("nodes") or {}
    ax.set_ylabel(_METRIC_LABELS[metric])
    ax.grid(True, alpha=0.3)
    palette = _node_palette(len(chosen))
    for i, node in enumerate(chosen):
        s = series.loc[node]
        kind = (nodes_info.get(node) or {}).get("kind")
        label = f"{node} ({kind})" if kind else node
        ax.plot(s.index.to_numpy(dtype=float) / 60.0, s.to_numpy(dtype=float) * scale,
                color=palette[i], lw=1.4, label=label, zorder=2)
    ax.set_ylim(bottom=0.0)
    if metric == "utilization" and ax.get_ylim()[1] > 90.0:
        ax.set_ylim(top=max(102.0, ax.get_ylim()[1]))  # show full saturation
    if chosen:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
                  fontsize="small", title="node", title_fontsize="small")


def _load_heatmap(ax: Axes, series: pd.Series, chosen: Sequence[str], metric: str,
                  scale: float, window_s: tuple[float, float]) -> None:
    """Rows: ``chosen`` (first on top); cells: the sample intervals ``(t - dt, t]`` (a sample
    is the mean over the interval before it)."""
    from matplotlib import colormaps  # deferred: matplotlib loads only when a figure is drawn

    matrix = series.unstack("t_s").reindex(list(chosen))
    t_s = matrix.columns.to_numpy(dtype=float)
    values = matrix.to_numpy(dtype=float) * scale
    dt = float(np.median(np.diff(t_s))) if len(t_s) > 1 else float(t_s[0]) or 1.0
    x_edges = np.concatenate([[max(float(t_s[0]) - dt, 0.0)], t_s]) / 60.0
    finite = values[np.isfinite(values)]
    vmax = 100.0 if metric == "utilization" else max(float(finite.max()) if finite.size
                                                     else 1.0, 1e-9)
    mesh = ax.pcolormesh(x_edges, np.arange(len(chosen) + 1), np.ma.masked_invalid(values),
                         cmap=colormaps[_LOAD_CMAP], vmin=0.0, vmax=vmax, shading="flat",
                         zorder=1)
    ax.set_ylim(float(len(chosen)), 0.0)
    ax.hlines(np.arange(1, len(chosen)), x_edges[0], x_edges[-1], colors="white", lw=1.0,
              zorder=2)
    rows = np.arange(len(chosen)) + 0.5
    ax.set_yticks(rows, list(chosen))
    ax.tick_params(axis="y", length=0)
    ax.set_ylabel("node")
    fig = ax.figure
    fig.colorbar(mesh, ax=ax, label=_METRIC_LABELS[metric], pad=0.01, fraction=0.035,
                 aspect=30)
    warmup_s, duration_s = window_s
    in_window = (t_s > warmup_s) & (t_s <= duration_s)
    if not in_window.any():
        in_window = np.ones(len(t_s), dtype=bool)
    with np.errstate(all="ignore"):
        window = values[:, in_window]
        means = np.nanmean(window, axis=1) if window.size else np.full(len(chosen), np.nan)
        peaks = np.nanmax(window, axis=1) if window.size else np.full(len(chosen), np.nan)
    right = ax.secondary_yaxis("right")
    right.set_yticks(rows, [f"{_load_value(m, metric)} / {_load_value(p, metric)}"
                            for m, p in zip(means, peaks)])
    right.tick_params(axis="y", length=0, labelsize="small")
    right.set_ylabel("mean / peak in the measurement window", fontsize="small")


def _load_value(v: float, metric: str) -> str:
    if not math.isfinite(v):
        return "n/a"
    if metric == "utilization":
        return f"{v:.0f}%"
    if metric == "connections":
        return f"{v:,.0f}"
    return f"{v:.1f}"


def _finite(v: Any) -> float:
    f = float(v)
    return f if math.isfinite(f) else -math.inf


def _node_palette(n: int) -> list[Any]:
    from matplotlib import colormaps  # deferred: matplotlib loads only when a figure is drawn

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


# --------------------------------------------------------------------------- map


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


def _home_datacenter(results: Results) -> str | None:
    """The scenario's home data center (``scenario_resolved.home_datacenter``), if any."""
    home = (results.summary.get("scenario_resolved") or {}).get("home_datacenter")
    return str(home) if home else None


def _map_sites(results: Results) -> pd.DataFrame:
    """Per site with logins in the window (``results.sites``): ``site, lon, lat, logins, p95``
    and the node that took most of its successful logins with its share (``node, share``;
    missing when none succeeded); busiest first, ties by site name."""
    cols = ["site", "lon", "lat", "logins", "p95", "node", "share"]
    if not has_logins(results):
        return pd.DataFrame(columns=cols)
    table = results.sites
    if len(table) == 0 or not {"site", "lat", "lon", "logins", "p95"} <= set(table.columns):
        return pd.DataFrame(columns=cols)
    shares = table["node_shares"] if "node_shares" in table.columns else \
        pd.Series([{}] * len(table), index=table.index)
    # node_shares lists the largest share first.
    main = [next(iter(s.items()), (None, math.nan)) if isinstance(s, Mapping) else
            (None, math.nan) for s in shares]
    sites = pd.DataFrame({
        "site": table["site"].astype(str).to_numpy(),
        "lon": table["lon"].to_numpy(dtype=float),
        "lat": table["lat"].to_numpy(dtype=float),
        "logins": table["logins"].to_numpy(dtype=np.int64),
        "p95": table["p95"].to_numpy(dtype=float),
        "node": [m[0] for m in main],
        "share": np.array([m[1] for m in main], dtype=float),
    })
    sites = sites[(sites["logins"] > 0) & np.isfinite(sites["lon"]) & np.isfinite(sites["lat"])]
    return sites.sort_values(["logins", "site"], ascending=[False, True],
                             kind="mergesort").reset_index(drop=True)


def _latency_norm(p95: np.ndarray) -> tuple[Any, str]:
    """Colour scale of the sites' p95 (ms): the 2nd to 98th percentile of the sites, rounded
    out to 50 ms (a few odd sites do not wash out the rest), and the colour bar's ``extend``."""
    from matplotlib.colors import Normalize  # deferred: matplotlib loads for figures only

    finite = p95[np.isfinite(p95)]
    if finite.size == 0:
        return Normalize(0.0, 1.0), "neither"
    lo = math.floor(float(np.percentile(finite, 2)) / 50.0) * 50.0
    hi = math.ceil(float(np.percentile(finite, 98)) / 50.0) * 50.0
    if hi <= lo:
        hi = lo + 50.0
    below, above = bool(finite.min() < lo), bool(finite.max() > hi)
    extend = "both" if below and above else "min" if below else "max" if above else "neither"
    return Normalize(lo, hi), extend


def _draw_links(ax: Axes, sites: pd.DataFrame, coords: Mapping[str, tuple[float, float]],
                linewidth: float) -> int:
    """A line from each of the busiest sites to the node that took most of its logins, more
    opaque the larger that share; returns the number of sites linked."""
    segments: list[list[tuple[float, float]]] = []
    colours: list[tuple[float, float, float, float]] = []
    linked = 0
    for row in sites.head(_MAP_LINKED_SITES).itertuples(index=False):
        node = row.node
        if not isinstance(node, str) or node not in coords:
            continue
        lon1, lat1 = coords[node]
        # The stubs type a row's fields as any scalar; these columns are numbers.
        share = float(cast(SupportsFloat, row.share))
        rgba = to_rgba(_LINK_COLOUR, alpha=0.1 + 0.55 * (share if math.isfinite(share) else 0))
        for seg in _split_antimeridian(float(cast(SupportsFloat, row.lon)),
                                       float(cast(SupportsFloat, row.lat)), lon1, lat1):
            segments.append(seg)
            colours.append(rgba)
        linked += 1
    if segments:
        ax.add_collection(LineCollection(segments, colors=colours, linewidths=linewidth,
                                         zorder=1))
    return linked


def _draw_sites(ax: Axes, sites: pd.DataFrame, norm: Any, size_scale: float) -> Any:
    """Site dots, area ∝ logins, coloured by p95 (sites without a successful login hollow
    grey); the biggest drawn first so that small sites stay visible. Returns the coloured
    scatter (or None)."""
    from matplotlib import colormaps  # deferred: matplotlib loads only when a figure is drawn

    counts = sites["logins"].to_numpy(dtype=float)
    sizes = (3.0 + 160.0 * counts / counts.max()) * size_scale
    p95 = sites["p95"].to_numpy(dtype=float)
    lon, lat = sites["lon"].to_numpy(dtype=float), sites["lat"].to_numpy(dtype=float)
    ok = np.isfinite(p95)
    if (~ok).any():
        ax.scatter(lon[~ok], lat[~ok], s=sizes[~ok], facecolors="none", edgecolors="0.45",
                   linewidths=0.6, zorder=2)
    if not ok.any():
        return None
    return ax.scatter(lon[ok], lat[ok], s=sizes[ok], c=p95[ok], cmap=colormaps[_MAP_CMAP],
                      norm=norm, alpha=0.9, edgecolors="0.15", linewidths=0.3, zorder=2)


def _draw_nodes(ax: Axes, coords: Mapping[str, tuple[float, float]], kinds: Mapping[str, str],
                home: str | None, nodes: Sequence[str], size_scale: float) -> dict[str, float]:
    """Node markers: access and cache filled; data centers hollow rings behind them (a node in
    the same city stays visible inside), the home data center a larger black ring. Returns
    each node's marker radius in points, the largest at its location (where its label goes)."""
    radius: dict[str, float] = {}
    by_kind: dict[str, list[str]] = {}
    for n in nodes:
        kind = kinds.get(n, "")
        by_kind.setdefault("home" if n == home else kind, []).append(n)
    for kind in sorted(by_kind, key=lambda k: (_NODE_ORDER.index(k) if k in _NODE_ORDER
                                               else len(_NODE_ORDER), k)):
        members = sorted(by_kind[kind])
        lon = [coords[n][0] for n in members]
        lat = [coords[n][1] for n in members]
        if kind in ("home", "datacenter"):
            size = (_HOME_SIZE if kind == "home" else _DC_SIZE) * size_scale
            ax.scatter(lon, lat, s=size, marker="o", facecolors="none",
                       edgecolors=_HOME_COLOUR if kind == "home" else _DC_COLOUR,
                       linewidths=2.2 if kind == "home" else 1.6, zorder=3)
            if kind == "home":  # a data center too: the red ring inside the black one
                ax.scatter(lon, lat, s=_DC_SIZE * size_scale, marker="o", facecolors="none",
                           edgecolors=_DC_COLOUR, linewidths=1.6, zorder=3)
        else:
            marker, colour, size = _NODE_STYLE.get(kind, ("o", "0.3", 30.0))
            size *= size_scale
            ax.scatter(lon, lat, s=size, marker=marker, color=colour, edgecolors="black",
                       linewidths=0.6, zorder=4)
        for n in members:
            radius[n] = math.sqrt(size) / 2.0
    at: dict[tuple[float, float], float] = {}
    for n, r in radius.items():
        at[coords[n]] = max(at.get(coords[n], 0.0), r)
    return {n: at[coords[n]] for n in radius}


def _node_legend(kinds: Mapping[str, str], home: str | None,
                 nodes: Sequence[str]) -> list[Any]:
    handles: list[Any] = []
    present = [kinds.get(n, "") for n in nodes]
    for kind in sorted(set(present) - {""}, key=lambda k: (_NODE_ORDER.index(k)
                                                           if k in _NODE_ORDER else 9, k)):
        count = present.count(kind)
        if kind == "datacenter":
            handles.append(Line2D([], [], ls="none", marker="o", markersize=10,
                                  markerfacecolor="none", markeredgecolor=_DC_COLOUR,
                                  markeredgewidth=1.6, label=f"data center ({count})"))
        else:
            marker, colour, _ = _NODE_STYLE.get(kind, ("o", "0.3", 30.0))
            handles.append(Line2D([], [], ls="none", marker=marker, color=colour,
                                  markeredgecolor="black", markersize=7,
                                  label=f"{kind} node ({count})"))
    if home is not None and home in nodes:
        handles.append(Line2D([], [], ls="none", marker="o", markersize=14,
                              markerfacecolor="none", markeredgecolor=_HOME_COLOUR,
                              markeredgewidth=2.2, label=f"home data center ({home})"))
    return handles


def draw_land(ax: Axes) -> None:
    """Water and land (the bundled Natural Earth 1:110m polygons) on plain lon/lat axes."""
    ax.set_facecolor(WATER_COLOUR)
    exteriors, holes = land_rings()
    ax.add_collection(PolyCollection(list(exteriors), facecolors=LAND_COLOUR,
                                     edgecolors="#bdbdbd", linewidths=0.3, zorder=0))
    if holes:
        ax.add_collection(PolyCollection(list(holes), facecolors=WATER_COLOUR,
                                         edgecolors="#bdbdbd", linewidths=0.3, zorder=0))


def _inside(extent: tuple[float, float, float, float], lon: float, lat: float) -> bool:
    x0, x1, y0, y1 = extent
    return x0 <= lon <= x1 and y0 <= lat <= y1


def _label_order(results: Results, nodes: Iterable[str], home: str | None) -> list[str]:
    """Who gets a label first: the home data center, then the nodes by logins (most first),
    ties by id."""
    info: Mapping[str, Any] = results.summary.get("nodes") or {}

    def logins(n: str) -> float:
        v = (info.get(n) or {}).get("logins") if isinstance(info.get(n), Mapping) else None
        return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else 0.0

    return sorted(nodes, key=lambda n: (n != home, -logins(n), n))


def _renderer(ax: Axes) -> Any:
    """The renderer of the figure ``ax`` is in (an Agg canvas is attached to a bare
    :class:`~matplotlib.figure.Figure`, as ``savefig`` would do)."""
    fig = cast(Figure, ax.figure.figure)  # the root figure, also from a subfigure
    if not hasattr(fig.canvas, "get_renderer"):
        FigureCanvasAgg(fig)
    return fig.canvas.get_renderer()  # type: ignore[attr-defined]


def _place_labels(ax: Axes, nodes: Sequence[str], coords: Mapping[str, tuple[float, float]],
                  radius_pt: Mapping[str, float], renderer: Any, obstacles: Sequence[Bbox],
                  fontsize: float) -> list[Any]:
    """Label ``nodes`` in order, each at the first of eight spots around its marker whose
    text box (display coordinates) lies inside the axes and overlaps no marker, obstacle or
    label placed before; a node without such a spot stays unlabelled. The labels are kept
    out of the layout (they must not move what they were placed against)."""
    import matplotlib.patheffects as pe  # deferred: matplotlib loads only when drawn

    ax_box = ax.get_window_extent(renderer)
    px = float(renderer.points_to_pixels(1.0))
    taken: list[Bbox] = list(obstacles)
    for n, (lon, lat) in coords.items():  # every marker in view is an obstacle
        x, y = ax.transData.transform((lon, lat))
        r = radius_pt.get(n, 3.0) * px * 0.85
        if ax_box.contains(x, y):
            taken.append(Bbox.from_extents(x - r, y - r, x + r, y + r))
    stroke = [pe.withStroke(linewidth=2.4, foreground="white")]
    placed = []
    for n in nodes:
        lon, lat = coords[n]
        if not ax_box.contains(*ax.transData.transform((lon, lat))):
            continue
        gap = radius_pt.get(n, 3.0) + 1.5
        for dx, dy, ha, va in _LABEL_SPOTS:
            text = ax.annotate(n, (lon, lat), xytext=(dx * gap, dy * gap),
                               textcoords="offset points", ha=ha, va=va, fontsize=fontsize,
                               color="0.1", zorder=6, path_effects=stroke, gid=f"node:{n}")
            text.set_in_layout(False)
            box = text.get_window_extent(renderer)
            fits = (box.x0 >= ax_box.x0 and box.x1 <= ax_box.x1 and box.y0 >= ax_box.y0
                    and box.y1 <= ax_box.y1)
            if fits and not any(box.overlaps(b) for b in taken):
                taken.append(box.padded(1.0))
                placed.append(text)
                break
            text.remove()
    return placed


def node_labels(ax: Axes) -> list[str]:
    """The node ids labelled on a map axes (its insets not included), as :func:`plot_map`
    placed them."""
    return [str(t.get_text()) for t in ax.texts if str(t.get_gid() or "").startswith("node:")]


def plot_map(results: Results, ax: Axes | None = None, *, insets: bool = True) -> Axes:
    """World map of the nodes, the sites' p95 login latency and where their logins went.

    Land is drawn from the bundled Natural Earth 1:110m polygons on plain lon/lat axes.
    Nodes take their coordinates from ``summary["node_coords"]`` (``node -> [lat, lon]``);
    nodes without coordinates are left out. Access and cache nodes are filled markers; data
    centers hollow red rings behind them (an access node in the same city shows inside), the
    home data center (``scenario_resolved.home_datacenter``) a larger black ring. Sites
    (``results.sites``: the logins of the measurement window) are dots whose area grows with
    their login count, coloured by the p95 latency of their successful logins (colour bar in
    ms); the 300 busiest get a thin line to the node that took most of their logins, more
    opaque the larger that node's share. Node labels are placed busiest first (home data
    center first) where they overlap no other label or marker; those that do not fit are left
    out. With ``insets``, a zoomed map of Europe and of East Asia (each where the topology has
    at least two nodes) below the world map, where their nodes are labelled: the axes' grid
    cell is split (the world map on top), so an axes placed by hand (``fig.add_axes``, no
    grid cell) gets no insets.

    Labels are placed for the figure's layout when ``plot_map`` runs (the figure is laid out
    first): resizing the figure afterwards may make them overlap.

    Parameters
    ----------
    results : sim.analysis.Results
        The run to plot. Without per-login rows only land and nodes are drawn.
    ax : matplotlib.axes.Axes, optional
        Where to draw. A new figure is made when omitted. The colour bar takes its room
        from this axes; the insets sit below it (inset axes).
    insets : bool, default True
        Add the regional insets.

    Returns
    -------
    matplotlib.axes.Axes
        The world map. Its legend names the sites, the links and the node kinds drawn; the
        sites' scatter carries the colour bar (``.colorbar``); the insets are axes of the same
        figure titled with the region's name (gid ``"inset:<name>"``); :func:`node_labels`
        lists the nodes labelled on an axes.
    """
    ax = _new_axes(ax, (12.0, 10.6) if insets else (12.0, 6.4))
    coords = node_coords(results)
    kinds = node_kinds(results)
    home = _home_datacenter(results)
    sites = _map_sites(results)
    norm, extend = _latency_norm(sites["p95"].to_numpy(dtype=float))
    nodes = sorted(coords)

    draw_land(ax)
    linked = _draw_links(ax, sites, coords, 0.6) if len(sites) else 0
    coloured = _draw_sites(ax, sites, norm, 1.0) if len(sites) else None
    radius = _draw_nodes(ax, coords, kinds, home, nodes, 1.0)

    handles: list[Any] = []
    if len(sites):
        handles.append(Line2D([], [], ls="none", marker="o", markerfacecolor="0.55",
                              markeredgecolor="0.15", markeredgewidth=0.3, markersize=7,
                              label=f"sites ({len(sites):,}; area ∝ logins)"))
    if linked:
        handles.append(Line2D([], [], color=_LINK_COLOUR, alpha=0.6, lw=1.0,
                              label=f"site → its main node (top {linked})"))
    handles += _node_legend(kinds, home, nodes)

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
    ax.set_title(f"{scenario_name(results)}: p95 login latency by site, the nodes and where "
                 "each site's logins went")
    legend = None
    if handles:
        # The South Pacific: the emptiest corner of a world of Internet users.
        legend = ax.legend(handles=handles, loc="lower left", fontsize="small",
                           framealpha=0.92, borderaxespad=0.4)

    regions = [(name, ext) for name, ext in _INSETS
               if sum(_inside(ext, *coords[n]) for n in nodes) >= _INSET_MIN_NODES] \
        if insets else []
    spec = ax.get_subplotspec()
    if spec is None:  # an axes placed by hand has no grid cell to share with insets
        regions = []
    inset_axes: list[Axes] = []
    if regions and spec is not None:
        # The axes' grid cell is split: the world map on top, the insets side by side below.
        grid = spec.subgridspec(2, len(regions), height_ratios=(1.1, 1.0), hspace=0.02)
        ax.set_subplotspec(grid[0, :])
        inset_axes = [ax.figure.add_subplot(grid[1, k]) for k in range(len(regions))]
    if coloured is not None:
        # In an inset of the map's own axes: exactly as tall as the map.
        ax.figure.colorbar(coloured, cax=ax.inset_axes((1.012, 0.0, 0.016, 1.0)),
                           label="site p95 login latency (ms)", extend=extend)
    frame_names = []
    for ins, (name, extent) in zip(inset_axes, regions):
        x0, x1, y0, y1 = extent
        draw_land(ins)
        if len(sites):
            _draw_links(ins, sites, coords, 0.8)
            _draw_sites(ins, sites, norm, 1.6)
        ins_radius = _draw_nodes(ins, coords, kinds, home,
                                 [n for n in nodes if _inside(extent, *coords[n])], 1.3)
        radius.update({f"{name}:{n}": r for n, r in ins_radius.items()})
        ins.set_xlim(x0, x1)
        ins.set_ylim(y0, y1)
        ins.set_aspect(1.0 / math.cos(math.radians((y0 + y1) / 2.0)))
        ins.set_xticks([])
        ins.set_yticks([])
        ins.set_title(name, fontsize="medium")
        ins.set_gid(f"inset:{name}")
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="0.3", lw=0.8,
                               ls="--", zorder=5))
        frame_names.append(ax.text(x0 + 0.5, y1 - 0.5, name, ha="left", va="top",
                                   fontsize=6.5, color="0.3", zorder=5))
    drawn_insets = [(ins, extent) for ins, (_, extent) in zip(inset_axes, regions)]

    # Labels last, on the final layout (display coordinates).
    renderer = _renderer(ax)
    cast(Figure, ax.figure.figure).draw_without_rendering()
    obstacles = [t.get_window_extent(renderer) for t in frame_names]
    if legend is not None:
        obstacles.append(legend.get_window_extent(renderer))
    outside = [n for n in nodes if not any(_inside(ext, *coords[n]) for _, ext in drawn_insets)]
    _place_labels(ax, _label_order(results, outside, home), coords, radius, renderer,
                  obstacles, 6.5)
    for (ins, extent), (name, _) in zip(drawn_insets, regions):
        members = [n for n in nodes if _inside(extent, *coords[n])]
        _place_labels(ins, _label_order(results, members, home),
                      {n: coords[n] for n in members},
                      {n: radius[f"{name}:{n}"] for n in members}, renderer, [], 7.5)
    return ax


# --------------------------------------------------------------------------- deciding level


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
        A stacked area per deciding level, in percent of the bin's logins, labelled with the
        level's name and its share in the measurement window; the warm-up shaded and
        labelled.
    """
    ax = _new_axes(ax, (10.0, 4.0))
    ax.set_xlabel("time since start (min)")
    ax.set_ylabel("share of logins (%)")
    ax.set_title(f"{scenario_name(results)}: which addressing level decided "
                 f"(per {duration_text(bin_s)})")
    warmup_s, duration_s = window_s(results)
    if not has_logins(results) or "decided_by" not in results.logins.columns:
        _no_data(ax, "no per-login records")
        return ax
    logins = results.logins
    t_s = logins["t_start_s"].to_numpy(dtype=float)
    counts = decided_counts(t_s, logins["decided_by"], bin_s)
    counts = counts.loc[:, (counts > 0).any()]
    table = counts.div(counts.sum(axis=1), axis=0) * 100.0
    in_window = (t_s >= warmup_s) & (t_s < duration_s)
    # One bin holding the whole window.
    window = decided_counts(np.zeros(int(in_window.sum())), logins["decided_by"][in_window],
                             1.0) if in_window.any() else counts
    window_total = window.reindex(columns=table.columns, fill_value=0.0).sum(axis=0)
    window_share = window_total / max(float(window_total.sum()), 1.0) * 100.0
    # Each bin drawn flat from its start to its end (a step), not interpolated between bins.
    starts = table.index.to_numpy() / 60.0
    minutes = np.column_stack([starts, starts + bin_s / 60.0]).ravel()
    ax.stackplot(minutes, *(np.repeat(table[c].to_numpy(), 2) for c in table.columns),
                 labels=[f"{c} ({window_share[c]:.1f}%)" for c in table.columns], alpha=0.85,
                 zorder=2)
    if math.isfinite(duration_s):
        ax.set_xlim(0.0, max(duration_s, float(table.index.max()) + bin_s) / 60.0)
    _shade_warmup(ax, warmup_s, over=True)
    _draw_events(ax, results.summary.get("scenario_resolved", {}).get("events", []))
    ax.set_ylim(0.0, 100.0)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small",
              title="level (share in the\nmeasurement window)", title_fontsize="small")
    return ax


def deciding_levels(results: Results) -> list[str]:
    """The addressing levels that decided at least one login (whole run, sorted by name)."""
    if not has_logins(results) or "decided_by" not in results.logins.columns:
        return []
    decided = results.logins["decided_by"]
    if isinstance(decided.dtype, pd.CategoricalDtype):
        codes = decided.cat.codes.to_numpy()
        used = np.bincount(codes[codes >= 0], minlength=len(decided.cat.categories))
        return sorted(str(c) for c, k in zip(decided.cat.categories, used) if k > 0)
    labels = str_values(decided)
    return sorted(set(labels[labels != "nan"].tolist()))


# --------------------------------------------------------------------------- files


def save_figures(results: Results, out_dir: str | os.PathLike[str], *,
                 on_skip: Callable[[str, str], None] | None = None) -> list[Path]:
    """Write the standard figures as PNG into ``out_dir/figures/``.

    ``latency_cdf.png``, ``latency_cdf_by_region.png`` and ``decided_by.png`` need per-login
    rows and are skipped when ``results.logins`` is empty; ``decided_by.png`` is also skipped
    when a single addressing level decided every login (one flat band says nothing the
    summary does not). ``node_load.png`` and ``map.png`` are always written. A skipped
    figure is reported to ``on_skip`` and no file is left for it (a stale one of an earlier
    run in the folder is removed).
    Figures are plain :class:`matplotlib.figure.Figure` objects rendered with Agg, so no
    pyplot figure is opened and the current backend is left alone.

    Parameters
    ----------
    results : sim.analysis.Results
        The run to plot.
    out_dir : path-like
        The result folder; ``figures/`` is created in it.
    on_skip : callable, optional
        ``on_skip(file_name, reason)`` for each figure not drawn.

    Returns
    -------
    list of pathlib.Path
        The files written, in the order of :data:`FIGURE_FILES`.
    """
    fig_dir = Path(out_dir) / FIGURES_DIR
    fig_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def new(size: tuple[float, float]) -> Figure:
        fig = Figure(figsize=size, layout="constrained")
        FigureCanvasAgg(fig)
        return fig

    def save(fig: Figure, name: str) -> None:
        path = fig_dir / name
        fig.savefig(path, dpi=_DPI, facecolor="white")
        fig.clear()
        written.append(path)

    def skip(name: str, reason: str) -> None:
        (fig_dir / name).unlink(missing_ok=True)
        if on_skip is not None:
            on_skip(name, reason)

    per_login = has_logins(results)
    if per_login:
        ok = ok_latencies(results)  # once for both figures: it reads millions of rows
        fig = new((8.0, 5.0))
        _latency_cdf(results, fig.add_subplot(), ok, True)
        save(fig, "latency_cdf.png")

        n_regions = max(int(ok["region"].nunique()), 1)
        ncols = min(n_regions, 4)
        nrows = math.ceil(n_regions / ncols)
        fig = new((3.3 * ncols + 0.6, 2.8 * nrows + 0.8))
        _latency_cdf_by_region(results, fig, ok)
        save(fig, "latency_cdf_by_region.png")
    else:
        for name in ("latency_cdf.png", "latency_cdf_by_region.png"):
            skip(name, "no per-login records")

    fig = new((11.5, 5.0))
    plot_node_load(results, ax=fig.add_subplot())
    save(fig, "node_load.png")

    fig = new((12.0, 10.6))
    plot_map(results, ax=fig.add_subplot())
    save(fig, "map.png")

    levels = deciding_levels(results)
    if len(levels) > 1:
        fig = new((10.0, 4.0))
        plot_decided_by(results, ax=fig.add_subplot())
        save(fig, "decided_by.png")
    else:
        skip("decided_by.png", "no per-login records" if not per_login else
             f"only one addressing level decided ({levels[0]})" if levels else
             "no deciding level recorded")
    return written
