"""What the figures (:mod:`sim.views.plots`) and the HTML report (:mod:`sim.views.html_report`)
read off a :class:`sim.analysis.Results`: the measurement window, the successful logins'
latencies, the empirical CDF, the nodes' places and kinds, the land polygons, the events'
labels, the deciding levels per time bin, and the colours both draw with.

Nothing here draws or imports a plotting library, so the PNG figures and the Plotly report
show the same numbers, labels and colours for the same result.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from sim.analysis.results import Results

__all__ = [
    "EVENT_COLOURS",
    "EVENT_KINDS",
    "LAND_COLOUR",
    "LAND_FILE",
    "MAX_CDF_POINTS",
    "PERCENTILES",
    "REGION_COLOURS",
    "SPARE_COLOURS",
    "WATER_COLOUR",
    "decided_counts",
    "decided_shares",
    "duration_text",
    "ecdf",
    "event_label",
    "has_logins",
    "land_rings",
    "node_coords",
    "node_kinds",
    "ok_latencies",
    "region_colours",
    "scenario_name",
    "str_values",
    "window_logins",
    "window_s",
]

#: The bundled Natural Earth 1:110m land polygons (GeoJSON).
LAND_FILE = Path(__file__).resolve().parents[1] / "data" / "ne_110m_land.geojson"
#: The latency percentiles marked on the CDFs.
PERCENTILES = (50, 95, 99)
#: Fixed colours for the provider's regions, so a region keeps its colour across figures/runs.
REGION_COLOURS = {
    "china": "#d62728",
    "asia": "#ff7f0e",
    "europe": "#1f77b4",
    "north_america": "#2ca02c",
    "south_america": "#9467bd",
    "oceania": "#17becf",
    "africa": "#8c564b",
}
#: Colours of the regions not in :data:`REGION_COLOURS`, in turn.
SPARE_COLOURS = ("#e377c2", "#bcbd22", "#7f7f7f", "#aec7e8", "#ffbb78", "#98df8a")
#: The colour of each kind of scheduled event (the key naming it in the scenario's event).
EVENT_COLOURS = {
    "node_down": "#d62728",
    "node_up": "#2ca02c",
    "region_outage": "#9467bd",
    "datacenter_down": "#e377c2",
    "link_degraded": "#17becf",
    "link_down": "#7f7f7f",
    "link_up": "#bcbd22",
    "flash_crowd": "#ff7f0e",
    "slowdown": "#8c564b",
}
#: The event kinds, in the order an event's keys are tried.
EVENT_KINDS = tuple(EVENT_COLOURS)
LAND_COLOUR = "#d9d9d9"
WATER_COLOUR = "#f4f7fb"
#: Points of a CDF line, at most, unless asked otherwise.
MAX_CDF_POINTS = 4000


# --------------------------------------------------------------------------- the logins


def scenario_name(results: Results) -> str:
    """The scenario's name (``"scenario"`` when the summary has none)."""
    return str(results.summary.get("scenario") or "scenario")


def window_s(results: Results) -> tuple[float, float]:
    """The measurement window ``[warmup, duration)`` in seconds (whole run if unknown)."""
    sc = results.summary.get("scenario_resolved") or {}
    warmup = sc.get("warmup")
    duration = sc.get("duration")
    return (float(warmup) if warmup is not None else 0.0,
            float(duration) if duration is not None else math.inf)


def has_logins(results: Results) -> bool:
    """Whether the result holds per-login records with the columns the figures read."""
    logins = results.logins
    return logins is not None and len(logins) > 0 and {
        "t_start_s", "outcome", "latency_ms", "region"} <= set(logins.columns)


def window_logins(results: Results, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Logins that started inside the measurement window (any outcome); only ``columns``
    (those present) when given: the figures read a few of the table's columns, and a copy
    of every column of millions of rows costs seconds."""
    if not has_logins(results):
        return pd.DataFrame()
    logins = results.logins
    if columns is not None:
        logins = logins[[c for c in columns if c in logins.columns]]
    warmup, duration = window_s(results)
    t = logins["t_start_s"].to_numpy(dtype=float)
    return logins[(t >= warmup) & (t < duration)]


def str_values(col: pd.Series) -> np.ndarray:
    """A column's values as an object array of str ("nan" for a missing value), like
    ``col.astype(str)`` but from a categorical's codes (pandas' string conversion of a
    categorical of millions of rows takes seconds)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        names = np.array([str(c) for c in col.cat.categories] + ["nan"], dtype=object)
        return names[col.cat.codes.to_numpy()]  # code -1 (missing) picks "nan"
    return np.asarray(col.astype(str).to_numpy(), dtype=object)


def ok_latencies(results: Results) -> pd.DataFrame:
    """``region, latency_ms`` of the successful logins that started in the measurement
    window, with a positive latency (a logarithmic axis cannot show 0 ms).

    ``region`` stays categorical when the logins' column is (and has no missing value):
    the figures select each region's rows many times, and comparing millions of strings
    takes seconds.
    """
    win = window_logins(results, ("t_start_s", "outcome", "latency_ms", "region"))
    if len(win) == 0:
        return pd.DataFrame({"region": pd.Series([], dtype=str),
                             "latency_ms": pd.Series([], dtype=float)})
    ok = str_values(win["outcome"]) == "ok"
    lat = win["latency_ms"].to_numpy(dtype=float)[ok]
    keep = np.isfinite(lat) & (lat > 0)
    region = win["region"]
    if isinstance(region.dtype, pd.CategoricalDtype) and (region.cat.codes >= 0).all():
        names = pd.Index([str(c) for c in region.cat.categories])
        codes = region.cat.codes.to_numpy().astype(np.int64)[ok][keep]
        regions: Any = pd.Categorical.from_codes(codes, categories=names)
    else:
        regions = str_values(region)[ok][keep]
    return pd.DataFrame({"region": regions, "latency_ms": lat[keep]})


def ecdf(x: np.ndarray, max_points: int = MAX_CDF_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Sorted values and their empirical CDF, thinned to at most ``max_points`` points."""
    xs = np.sort(x)
    n = len(xs)
    ys = np.arange(1, n + 1, dtype=float) / max(n, 1)
    if n > max_points:
        idx = np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))
        xs, ys = xs[idx], ys[idx]
    return xs, ys


def region_colours(regions: Iterable[str]) -> dict[str, str]:
    """``region -> colour``: the fixed colour of a known region, spare colours in turn for
    the others (in the order given)."""
    out: dict[str, str] = {}
    spare = 0
    for r in regions:
        if r in REGION_COLOURS:
            out[r] = REGION_COLOURS[r]
        else:
            out[r] = SPARE_COLOURS[spare % len(SPARE_COLOURS)]
            spare += 1
    return out


# --------------------------------------------------------------------------- the nodes


def node_coords(results: Results) -> dict[str, tuple[float, float]]:
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


def node_kinds(results: Results, *, from_logins: bool = True) -> dict[str, str]:
    """``node -> kind`` from the summary's nodes (hubs, which serve no login, have none)
    and, with ``from_logins``, first from the logins' ``node, node_kind`` pairs (the
    summary's kind wins where both name one)."""
    kinds: dict[str, str] = {}
    logins = results.logins
    if from_logins and logins is not None and len(logins) \
            and {"node", "node_kind"} <= set(logins.columns):
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
        return pd.DataFrame({"node": str_values(node),
                             "node_kind": str_values(kind)}).drop_duplicates()
    codes = pd.DataFrame({"node": node.cat.codes.to_numpy(),
                          "node_kind": kind.cat.codes.to_numpy()}).drop_duplicates()
    node_names = np.array([str(c) for c in node.cat.categories] + ["nan"], dtype=object)
    kind_names = np.array([str(c) for c in kind.cat.categories] + ["nan"], dtype=object)
    return pd.DataFrame({"node": node_names[codes["node"].to_numpy()],
                         "node_kind": kind_names[codes["node_kind"].to_numpy()]})


@lru_cache(maxsize=1)
def land_rings() -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Exterior rings and holes of the bundled Natural Earth 1:110m land polygons, as
    ``(lon, lat)`` arrays."""
    data = json.loads(LAND_FILE.read_text(encoding="utf-8"))
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
            if rings:
                exteriors.append(np.asarray(rings[0], dtype=float)[:, :2])
                holes.extend(np.asarray(r, dtype=float)[:, :2] for r in rings[1:])
    return tuple(exteriors), tuple(holes)


# --------------------------------------------------------------------------- events, levels


def event_label(event: Mapping[str, Any]) -> tuple[str, str]:
    """``(kind, label)`` of a resolved scenario event (kind ``"event"`` when unknown)."""
    kind = next((k for k in EVENT_KINDS if event.get(k) is not None), "event")
    target = event.get(kind)
    if kind == "flash_crowd" and isinstance(target, Mapping):
        where = target.get("region") or target.get("site") or "?"
        mult = target.get("multiplier")
        text = f"flash crowd {where}" + (f" ×{float(mult):g}" if mult is not None else "")
    elif kind == "slowdown" and isinstance(target, Mapping):
        factor = target.get("factor")
        text = (f"slowdown {target.get('node', '?')}"
                + (f" ×{float(factor):g}" if factor is not None else ""))
    elif kind.startswith("link_") and isinstance(target, Mapping):
        regions = target.get("regions")
        where = ("-".join(str(r) for r in regions) if regions
                 else f"{target.get('a', '?')}-{target.get('b', '?')}")
        text = f"{kind.replace('_', ' ')} {where}"
    elif kind == "event":
        text = "event"
    else:
        text = f"{kind.replace('_', ' ')} {target}"
    return kind, text


def duration_text(seconds: float) -> str:
    """``"2 h"``, ``"1.5 min"`` or ``"45 s"``: hours or minutes when they come out round to
    a tenth."""
    if seconds >= 3600 and seconds % 360 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 6 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def decided_counts(t_s: np.ndarray, decided: pd.Series, bin_s: float) -> pd.DataFrame:
    """Logins per time bin and deciding level (rows: the bins' starts, in order, only bins
    holding logins; columns: the levels, sorted by name, a categorical's unused ones
    included), as ``pd.crosstab(bin, decided.astype(str))`` gives, counted on integer
    codes."""
    if isinstance(decided.dtype, pd.CategoricalDtype):
        names = np.array([str(c) for c in decided.cat.categories], dtype=object)
        codes = decided.cat.codes.to_numpy().astype(np.int64)
        keep = codes >= 0
        codes = codes[keep]
    else:
        values = str_values(decided)
        keep = values != "nan"
        names, codes = np.unique(values[keep], return_inverse=True)
    bins = np.floor_divide(t_s[keep], bin_s)
    starts, rows = np.unique(bins, return_inverse=True)
    counts = np.bincount(rows * len(names) + codes,
                         minlength=len(starts) * len(names)).reshape(len(starts), len(names))
    table = pd.DataFrame(counts, index=starts * bin_s, columns=list(names), dtype=float)
    return table[sorted(table.columns)]


def decided_shares(t_s: np.ndarray, decided: pd.Series, bin_s: float) -> pd.DataFrame:
    """Share (0 to 1) of each deciding level per time bin: :func:`decided_counts` divided by
    each bin's logins."""
    counts = decided_counts(t_s, decided, bin_s)
    return counts.div(counts.sum(axis=1), axis=0)
