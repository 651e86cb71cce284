"""How logins and nodes respond to each scheduled event (failures, crowds, degradations).

For every event of a scenario, from the per-login table and the node load samples:

- ``failed_logins``: logins that started during the event (or, for an instant event, in the
  ``window_s`` after it) and failed;
- ``extra_latency_ms``: mean and p95 login latency during the event minus the same in the
  ``window_s`` before it;
- ``recovery_s``: time from the end of the event (its start, if instant) to the start of the
  first ``bin_s`` bin whose p95 is back within 10% of the p95 before the event (None when it
  never is within the run);
- ``settle_s``: for a lasting event, time from its start to the first bin during it whose
  p95 is within 10% of the level before (addressing has absorbed the event while it lasts;
  None when it never does);
- ``spill_targets``: the access and cache nodes whose login rate rose most during the event,
  with their rate before and during and their peak utilisation and queue during it;

The "before" window is the ``window_s`` before the event, cut at the warm-up and at the end
of any earlier event, so one event's aftermath is not another's baseline.
- ``decided_by``: the share of logins by deciding level before, during and after;
- ``reconnects``: logins triggered by a dropped session during the event.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["RECOVERY_TOLERANCE", "event_metrics"]

RECOVERY_TOLERANCE = 0.10


def _p95(x: pd.Series) -> float:
    return float(np.percentile(x, 95)) if len(x) else math.nan


def describe_event(event: dict[str, Any]) -> str:
    """A short label of a resolved event: ``node_down access-frankfurt``."""
    for kind in ("node_down", "node_up", "region_outage", "datacenter_down"):
        if kind in event:
            return f"{kind} {event[kind]}"
    if "flash_crowd" in event:
        fc = event["flash_crowd"]
        target = fc.get("region") or fc.get("site")
        return f"flash_crowd {target} x{fc.get('multiplier')}"
    if "slowdown" in event:
        sd = event["slowdown"]
        return f"slowdown {sd['node']} x{sd.get('factor')}"
    if "link_degraded" in event:
        ld = event["link_degraded"]
        where = "-".join(ld["regions"]) if ld.get("regions") else f"{ld['a']}-{ld['b']}"
        return f"link_degraded {where}"
    return "event"


def event_metrics(logins: pd.DataFrame, node_load: pd.DataFrame,
                  events: list[dict[str, Any]], *, warmup_s: float, duration_s: float,
                  edge_nodes: set[str] | None = None, window_s: float = 600.0,
                  bin_s: float = 60.0) -> list[dict[str, Any]]:
    """One dict of response figures per event (see the module docstring).

    Parameters
    ----------
    logins, node_load : pandas.DataFrame
        As in :class:`sim.analysis.Results` (all replications pooled).
    events : list of dict
        The resolved scenario's ``events`` (times in seconds).
    warmup_s, duration_s : float
        The measurement window; the "before" window never reaches into the warm-up.
    edge_nodes : set of str, optional
        Nodes that can take spilled logins (access and cache); all nodes when None.
    """
    if logins.empty or not events:
        return []
    t = logins["t_start_s"].to_numpy()
    ok = (logins["outcome"] == "ok").to_numpy()
    lat = logins["latency_ms"].to_numpy()
    decided = logins["decided_by"].astype(str).to_numpy()
    trigger = logins["trigger"].astype(str).to_numpy() if "trigger" in logins else None
    out = []
    for ev in events:
        start = float(ev["at"])
        end = start + float(ev["for"]) if ev.get("for") is not None else None
        during_end = end if end is not None else start + window_s
        earlier_ends = [float(e["at"]) + float(e.get("for") or 0.0) for e in events
                        if float(e["at"]) < start]
        since = max([warmup_s, start - window_s, *[e for e in earlier_ends if e <= start]])
        before = (t >= since) & (t < start)
        during = (t >= start) & (t < during_end)
        after = (t >= during_end) & (t < min(duration_s, during_end + window_s))
        pre_lat = lat[before & ok]
        dur_lat = lat[during & ok]
        pre_p95 = float(np.percentile(pre_lat, 95)) if len(pre_lat) else math.nan
        row: dict[str, Any] = {
            "event": describe_event(ev),
            "at_s": start,
            "end_s": end,
            "logins_during": int(during.sum()),
            "failed_logins": int((during & ~ok).sum()),
            "failure_share_during": float((during & ~ok).sum() / during.sum())
            if during.any() else math.nan,
            "latency_before_ms": {"mean": float(pre_lat.mean()) if len(pre_lat) else math.nan,
                                  "p95": pre_p95},
            "latency_during_ms": {"mean": float(dur_lat.mean()) if len(dur_lat) else math.nan,
                                  "p95": float(np.percentile(dur_lat, 95))
                                  if len(dur_lat) else math.nan},
        }
        row["extra_latency_ms"] = {
            k: row["latency_during_ms"][k] - row["latency_before_ms"][k] for k in ("mean", "p95")}
        row["recovery_s"] = _recovery(t, lat, ok, end if end is not None else start, pre_p95,
                                      duration_s, bin_s)
        row["settle_s"] = _recovery(t, lat, ok, start, pre_p95, end, bin_s) \
            if end is not None else None
        row["decided_by"] = {name: _shares(decided[mask]) for name, mask in
                             (("before", before), ("during", during), ("after", after))}
        if trigger is not None:
            row["reconnects"] = int((during & (trigger == "reconnect")).sum())
        row["spill_targets"] = _spill_targets(node_load, start, during_end, since, edge_nodes)
        out.append(row)
    return out


def _shares(values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return {}
    names, counts = np.unique(values, return_counts=True)
    return {str(n): float(c / len(values)) for n, c in zip(names, counts)}


def _recovery(t: np.ndarray, lat: np.ndarray, ok: np.ndarray, from_s: float, pre_p95: float,
              until_s: float, bin_s: float) -> float | None:
    if not math.isfinite(pre_p95):
        return None
    edge = from_s
    while edge < until_s:
        mask = ok & (t >= edge) & (t < edge + bin_s)
        if mask.any() and np.percentile(lat[mask], 95) <= (1 + RECOVERY_TOLERANCE) * pre_p95:
            return float(edge - from_s)
        edge += bin_s
    return None


def _spill_targets(node_load: pd.DataFrame, start: float, end: float, since: float,
                   edge_nodes: set[str] | None, top: int = 3) -> list[dict[str, Any]]:
    if node_load.empty:
        return []
    nl = node_load if edge_nodes is None else node_load[node_load.node.isin(edge_nodes)]
    before = nl[(nl.t_s > since) & (nl.t_s <= start)]
    during = nl[(nl.t_s > start) & (nl.t_s <= end)]
    if before.empty or during.empty:
        return []
    rate_before = before.groupby("node", observed=True)["logins_per_s"].mean()
    agg = during.groupby("node", observed=True).agg(
        rate=("logins_per_s", "mean"), peak_util=("utilization", "max"),
        peak_queue=("queue_len", "max"))
    agg["rise"] = agg["rate"] - rate_before.reindex(agg.index).fillna(0.0)
    agg = agg[agg["rise"] > 0].sort_values(["rise"], ascending=False, kind="stable").head(top)
    return [{"node": str(node), "logins_per_s_before": float(rate_before.get(node, 0.0)),
             "logins_per_s_during": float(r.rate), "peak_utilization": float(r.peak_util),
             "peak_queue_len": int(r.peak_queue)} for node, r in agg.iterrows()]
