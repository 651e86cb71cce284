"""Figures per site (city) and per country: where each site's logins went and how long they took.

:func:`site_figures` turns the per-login table into one row per site; :func:`country_figures`
pools the sites of each country. Both count the logins of the measurement window the summary
counts (``warmup_s <= t_start_s < duration_s``, see :func:`sim.analysis.results.summarize`):
``logins`` are the logins that started in it, ``failed`` those of them that failed, and the
latency figures (``mean``, ``p50`` ... ``p99``, ms) are over the successful ones, with the
percentiles of :func:`numpy.percentile` (linear interpolation). ``nodes`` names the nodes
that served the site's successful logins, with their shares (``access-lagos 0.62;
cache-johannesburg 0.31``, the largest first), and ``decided_by`` the deciding levels of all
its logins with their shares.

A site's country is not a column of the logins table: it comes from ``countries`` (the
world's sites, ``World.sites``), or else from the shipped city list by name and coordinates;
a site found in neither has an empty country.

Everything is computed from category codes with :func:`numpy.bincount` and one sort, never a
group-by over Python objects: the default scenario's 900 000 logins of 500 sites take a
fraction of a second.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from sim.model.workload import CITIES_CSV

__all__ = ["SITE_COLUMNS", "SITES_CSV_COLUMNS", "COUNTRY_COLUMNS", "PERCENTILES",
           "site_figures", "country_figures", "parse_shares", "format_shares"]

PERCENTILES = (50, 90, 95, 99)
SITE_COLUMNS = ("site", "country", "region", "lat", "lon", "logins", "failed", "failure_share",
                "mean", "p50", "p90", "p95", "p99", "nodes", "decided_by")
"""The columns of :func:`site_figures` (then ``node_shares`` and ``decided_shares``, the
same shares as dictionaries at full precision)."""
SITES_CSV_COLUMNS = ("site", "country", "region", "lat", "lon", "logins", "failed", "p50",
                     "p95", "p99", "mean", "nodes", "decided_by")
"""The columns of a result folder's ``sites.csv``."""
COUNTRY_COLUMNS = ("country", "sites", "logins", "failed", "failure_share", "mean", "p50",
                   "p90", "p95", "p99")
TOP_NODES = 3
"""At most this many nodes are named per site (the largest shares)."""


# --------------------------------------------------------------------------- codes


def _codes(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Integer codes of a column and the names they stand for (a categorical's own codes;
    anything else factorized)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return (column.cat.codes.to_numpy().astype(np.int64),
                [str(c) for c in column.cat.categories])
    codes, uniques = pd.factorize(column.astype(str), sort=False)
    return codes.astype(np.int64), [str(u) for u in uniques]


def _window(logins: pd.DataFrame, warmup_s: float, duration_s: float) -> np.ndarray:
    t = logins["t_start_s"].to_numpy()
    return (t >= warmup_s) & (t < duration_s)


def _ok_mask(logins: pd.DataFrame) -> np.ndarray:
    codes, names = _codes(logins["outcome"])
    return codes == names.index("ok") if "ok" in names else np.zeros(len(codes), dtype=bool)


def _grouped_stats(group: np.ndarray, values: np.ndarray, n_groups: int
                   ) -> dict[str, np.ndarray]:
    """``mean`` and the :data:`PERCENTILES` of ``values`` within each group code (NaN for
    an empty group), as :func:`numpy.percentile` computes them: one sort of all values by
    group, then the interpolation between neighbours done for every group at once."""
    counts = np.bincount(group, minlength=n_groups)
    sums = np.bincount(group, weights=values.astype(np.float64), minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {"mean": np.where(counts > 0, sums / np.maximum(counts, 1), math.nan)}
    # Sorted by value, then (stable: a radix sort of small integers) by group: each group's
    # values in order, the groups one after the other. Much faster than a lexsort.
    by_value = np.argsort(values)
    small = group.astype(np.int16 if n_groups < 2 ** 15 else np.int64)[by_value]
    ordered = values[by_value][np.argsort(small, kind="stable")].astype(np.float64)
    del by_value, small
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    has = counts > 0
    n = counts[has]
    first = starts[has]
    for p in PERCENTILES:
        col = np.full(n_groups, math.nan)
        h = (n - 1) * (p / 100.0)
        lo = np.floor(h).astype(np.int64)
        hi = np.minimum(lo + 1, n - 1)
        frac = h - lo
        a, b = ordered[first + lo], ordered[first + hi]
        # numpy's lerp: from the nearer end, so a value equal at both ends stays exact
        col[has] = np.where(frac >= 0.5, b - (b - a) * (1 - frac), a + (b - a) * frac)
        out[f"p{p}"] = col
    return out


def format_shares(shares: Mapping[str, float]) -> str:
    """``"access-lagos 0.62; cache-johannesburg 0.31"``: names with shares at 2 decimals,
    in the given order, leaving out shares that show as 0.00."""
    return "; ".join(f"{name} {share:.2f}" for name, share in shares.items()
                     if round(share, 2) > 0)


def parse_shares(text: Any) -> dict[str, float]:
    """The shares of a ``nodes`` or ``decided_by`` cell of ``sites.csv`` as a dictionary
    (an empty or missing cell: ``{}``).

    Examples
    --------
    >>> parse_shares("access-lagos 0.62; cache-johannesburg 0.31")
    {'access-lagos': 0.62, 'cache-johannesburg': 0.31}
    """
    if not isinstance(text, str) or not text.strip():
        return {}
    out = {}
    for part in text.split(";"):
        name, _, share = part.strip().rpartition(" ")
        out[name] = float(share)
    return out


def _shares(group: np.ndarray, kind: np.ndarray, kind_names: Sequence[str], n_groups: int,
            top: int | None) -> list[dict[str, float]]:
    """Per group, the share of each ``kind`` (largest first, ties by name order; at most
    ``top``); a group without rows gets ``{}``."""
    k = len(kind_names)
    table = np.bincount(group * k + kind, minlength=n_groups * k).reshape(n_groups, k)
    totals = table.sum(axis=1)
    order = np.argsort(-table, axis=1, kind="stable")
    if top is not None:
        order = order[:, :top]
    out = []
    for g in range(n_groups):
        total = totals[g]
        row = {}
        for j in order[g]:
            c = table[g, j]
            if c == 0:
                break
            row[kind_names[j]] = float(c / total)
        out.append(row)
    return out


# --------------------------------------------------------------------------- countries


@lru_cache(maxsize=1)
def _shipped_countries() -> dict[tuple[str, float, float], str]:
    with CITIES_CSV.open(newline="", encoding="utf-8") as f:
        return {(r["name"], round(float(r["lat"]), 4), round(float(r["lon"]), 4)): r["country"]
                for r in csv.DictReader(f)}


def _country_of(site: str, lat: float, lon: float, countries: Mapping[str, str] | None) -> str:
    if countries is not None and site in countries:
        return str(countries[site])
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return ""
    # a made-unique name ("Springfield (2)") is the city's own name with a suffix
    base = site.rsplit(" (", 1)[0] if site.endswith(")") else site
    return _shipped_countries().get((base, round(lat, 4), round(lon, 4)), "")


# --------------------------------------------------------------------------- figures


def site_figures(logins: pd.DataFrame, *, warmup_s: float, duration_s: float,
                 countries: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per site with logins in the measurement window (see the module docstring).

    Parameters
    ----------
    logins : pandas.DataFrame
        The per-login table (:attr:`sim.analysis.Results.logins`): ``t_start_s``, ``site``,
        ``outcome``, ``latency_ms``, and where present ``region``, ``terminal_lat``,
        ``terminal_lon``, ``node``, ``decided_by``.
    warmup_s, duration_s : float
        The measurement window ``[warmup_s, duration_s)`` (the scenario's ``warmup`` and
        ``duration``: the end of the arrivals).
    countries : mapping of str to str, optional
        Each site's country code (default: from the shipped city list).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SITE_COLUMNS`, then ``node_shares`` and ``decided_shares`` (dicts),
        sites in order of their code in the table (for a run: the world's order, largest
        city first); latencies in ms, NaN where no login of a site succeeded.
    """
    columns = [*SITE_COLUMNS, "node_shares", "decided_shares"]
    if logins is None or len(logins) == 0 or "site" not in logins.columns:
        return pd.DataFrame({c: [] for c in columns})
    win = _window(logins, warmup_s, duration_s)
    site_all, site_names = _codes(logins["site"])
    site = site_all[win]
    n = len(site_names)
    attempted = np.bincount(site, minlength=n)
    ok_all = _ok_mask(logins)
    ok = ok_all[win]
    failed = np.bincount(site[~ok], minlength=n)
    lat_ok = logins["latency_ms"].to_numpy()[win][ok]
    stats = _grouped_stats(site[ok], lat_ok, n)
    present = np.flatnonzero(attempted > 0)
    # Any row of a site carries its region and coordinates (the same in all of them).
    a_row = np.zeros(n, dtype=np.int64)
    a_row[site] = np.flatnonzero(win)
    rows = a_row[present]

    def per_site(col: str, default: Any) -> list[Any]:
        if col not in logins.columns:
            return [default] * len(present)
        column = logins[col]
        if isinstance(column.dtype, pd.CategoricalDtype):  # codes: no object array of all
            cats = column.cat.categories
            return [cats[c] if c >= 0 else default
                    for c in column.cat.codes.to_numpy()[rows]]
        return list(column.to_numpy()[rows])

    regions = [str(r) for r in per_site("region", "")]
    # float32 in the table: back to the 4 decimals of the site's coordinates
    lats = np.round(np.array(per_site("terminal_lat", math.nan), dtype=np.float64), 4)
    lons = np.round(np.array(per_site("terminal_lon", math.nan), dtype=np.float64), 4)
    if "node" in logins.columns:
        node_all, node_names = _codes(logins["node"])
        node_shares = _shares(site[ok], node_all[win][ok], node_names, n, TOP_NODES)
    else:
        node_shares = [{} for _ in range(n)]
    if "decided_by" in logins.columns:
        dec_all, dec_names = _codes(logins["decided_by"])
        decided = _shares(site, dec_all[win], dec_names, n, None)
    else:
        decided = [{} for _ in range(n)]
    names = [site_names[s] for s in present]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = failed[present] / attempted[present]
    frame = pd.DataFrame({
        "site": names,
        "country": [_country_of(s, float(la), float(lo), countries)
                    for s, la, lo in zip(names, lats, lons)],
        "region": regions,
        "lat": lats,
        "lon": lons,
        "logins": attempted[present].astype(np.int64),
        "failed": failed[present].astype(np.int64),
        "failure_share": share,
        **{k: stats[k][present] for k in ("mean", *(f"p{p}" for p in PERCENTILES))},
        "nodes": [format_shares(node_shares[s]) for s in present],
        "decided_by": [format_shares(decided[s]) for s in present],
        "node_shares": [node_shares[s] for s in present],
        "decided_shares": [decided[s] for s in present],
    })
    return frame


def country_figures(logins: pd.DataFrame, sites: pd.DataFrame, *, warmup_s: float,
                    duration_s: float) -> pd.DataFrame:
    """One row per country: the logins of its sites pooled (percentiles of the pooled
    latencies, not means of the sites' percentiles).

    Parameters
    ----------
    logins : pandas.DataFrame
        The per-login table.
    sites : pandas.DataFrame
        :func:`site_figures` of the same table (for each site's country); sites without a
        country are left out.
    warmup_s, duration_s : float
        The measurement window.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COUNTRY_COLUMNS`, countries by name.
    """
    known = sites[sites["country"].astype(str) != ""]
    if len(known) == 0 or logins is None or len(logins) == 0:
        return pd.DataFrame({c: [] for c in COUNTRY_COLUMNS})
    country_names = sorted(set(known["country"].astype(str)))
    site_to_country = dict(zip(known["site"].astype(str), known["country"].astype(str)))
    win = _window(logins, warmup_s, duration_s)
    site_all, site_names = _codes(logins["site"])
    lookup = np.array([country_names.index(site_to_country[s]) if s in site_to_country else -1
                       for s in site_names] or [-1], dtype=np.int64)
    country_all = lookup[site_all]
    keep = win & (country_all >= 0)
    country = country_all[keep]
    n = len(country_names)
    ok = _ok_mask(logins)[keep]
    attempted = np.bincount(country, minlength=n)
    failed = np.bincount(country[~ok], minlength=n)
    stats = _grouped_stats(country[ok], logins["latency_ms"].to_numpy()[keep][ok], n)
    n_sites = known.groupby(known["country"].astype(str)).size().reindex(country_names)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(attempted > 0, failed / np.maximum(attempted, 1), math.nan)
    return pd.DataFrame({
        "country": country_names,
        "sites": n_sites.to_numpy(dtype=np.int64),
        "logins": attempted.astype(np.int64),
        "failed": failed.astype(np.int64),
        "failure_share": share,
        **{k: stats[k] for k in ("mean", *(f"p{p}" for p in PERCENTILES))},
    })
