"""Figures of a node plan (``access-sim plan``): the cost-latency front and a map of the
proposed nodes.

Both read a plan result's ``plans`` (one mapping per plan: ``plan``, ``nodes``, ``cities``,
``lat``, ``lon``, ``cost_month``, the surrogate's ``surrogate_scope_ms`` and
``surrogate_by_region``, and for a simulated plan ``sim_scope`` and ``sim_by_region`` with
``mean``, ``low``, ``high``) and ``existing`` (the network's access and cache nodes).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from sim.views.drawing import colours
from sim.views.plots import draw_land

__all__ = ["plot_pareto", "plot_plan_map", "draw_pareto", "draw_map"]

_DPI = 110


def _ci(entry: Mapping[str, Any] | None) -> tuple[float, float, float] | None:
    if not entry or entry.get("mean") is None:
        return None
    mean = float(entry["mean"])
    low = entry.get("low")
    high = entry.get("high")
    return (mean, mean - float(low) if low is not None else 0.0,
            float(high) - mean if high is not None else 0.0)


def plot_pareto(result: Any, fig: Figure | None = None) -> Figure:
    """Cost per month against latency: the objective over the scope (left) and the p95 of
    each region (right); simulated plans with their 95% intervals, the surrogate's
    estimates as open markers."""
    fig = fig or Figure(figsize=(11, 4.5), layout="constrained")
    left, right = fig.subplots(1, 2)
    plans = result.plans
    cost = np.array([p["cost_month"] for p in plans], dtype=float)
    est = np.array([p["surrogate_scope_ms"] for p in plans], dtype=float)
    left.plot(cost, est, "o--", mfc="none", color="0.45", label="surrogate estimate")
    sim: list[tuple[float, tuple[float, float, float]]] = []
    for c, p in zip(cost, plans):
        v = _ci(p.get("sim_scope"))
        if v is not None:
            sim.append((float(c), v))
    if sim:
        xs = [c for c, _ in sim]
        ys = [v[0] for _, v in sim]
        err = np.array([[v[1] for _, v in sim], [v[2] for _, v in sim]])
        left.errorbar(xs, ys, yerr=err, fmt="o-", capsize=3, color="C0",
                      label="simulated (95% CI)")
    for c, e, p in zip(cost, est, plans):
        left.annotate(p["plan"], (c, e), textcoords="offset points", xytext=(4, 4),
                      fontsize="x-small")
    scope = " + ".join(result.scopes)
    left.set_xlabel(f"added cost per month ({result.currency})")
    left.set_ylabel(f"{result.statistic} login latency, {scope} (ms)")
    left.grid(True, alpha=0.3)
    left.legend(fontsize="small")
    regions = sorted({r for p in plans for r in p["surrogate_by_region"]})
    for r, colour in zip(regions, colours(len(regions))):
        pts = []
        for c, p in zip(cost, plans):
            v = _ci((p.get("sim_by_region") or {}).get(r))
            if v is not None:
                pts.append((c, v))
        if pts:
            right.errorbar([c for c, _ in pts], [v[0] for _, v in pts],
                           yerr=np.array([[v[1] for _, v in pts], [v[2] for _, v in pts]]),
                           fmt="o-", capsize=2, color=colour, label=r)
        else:
            right.plot(cost, [p["surrogate_by_region"].get(r, np.nan) for p in plans], "o--",
                       mfc="none", color=colour, label=f"{r} (surrogate)")
    right.set_xlabel(f"added cost per month ({result.currency})")
    right.set_ylabel("p95 login latency by region (ms)")
    right.grid(True, alpha=0.3)
    right.legend(fontsize="x-small", ncol=2)
    fig.suptitle(f"{result.scenario}: cost against latency")
    return fig


def plot_plan_map(result: Any, fig: Figure | None = None) -> Figure:
    """The network's access and cache nodes and the nodes each plan adds."""
    fig = fig or Figure(figsize=(11, 5.5), layout="constrained")
    ax = fig.subplots()
    draw_land(ax)
    existing = getattr(result, "existing", [])
    if existing:
        ax.scatter([n["lon"] for n in existing], [n["lat"] for n in existing], s=14,
                   c="0.3", marker="s", label="existing access/cache nodes", zorder=2)
    plans = [p for p in result.plans if p["nodes"]]
    seen: set[str] = set()
    for p, colour in zip(plans, colours(max(len(plans), 1))):
        new = [(n, la, lo, city) for n, la, lo, city in zip(p["nodes"], p["lat"], p["lon"],
                                                             p["cities"]) if n not in seen]
        if not new:
            continue
        seen.update(n for n, *_ in new)
        ax.scatter([lo for _, _, lo, _ in new], [la for _, la, _, _ in new], s=90,
                   marker="*", color=colour, edgecolors="black", linewidths=0.5, zorder=3,
                   label=f"{p['plan']} adds")
        for _, la, lo, city in new:
            ax.annotate(city.split(",")[0], (lo, la), textcoords="offset points",
                        xytext=(5, 3), fontsize="x-small", zorder=4)
    lats = [n["lat"] for n in existing] + [la for p in plans for la in p["lat"]]
    lons = [n["lon"] for n in existing] + [lo for p in plans for lo in p["lon"]]
    if lats:
        ax.set_xlim(max(-180.0, min(lons) - 15.0), min(180.0, max(lons) + 15.0))
        ax.set_ylim(max(-90.0, min(lats) - 10.0), min(90.0, max(lats) + 10.0))
    ax.set_aspect("equal")
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.legend(fontsize="x-small", loc="lower left")
    ax.set_title(f"{result.scenario}: proposed nodes")
    return fig


def draw_pareto(result: Any, path: str | os.PathLike[str]) -> None:
    """Write :func:`plot_pareto` as a PNG."""
    plot_pareto(result).savefig(path, dpi=_DPI, facecolor="white")


def draw_map(result: Any, path: str | os.PathLike[str]) -> None:
    """Write :func:`plot_plan_map` as a PNG."""
    plot_plan_map(result).savefig(path, dpi=_DPI, facecolor="white")
