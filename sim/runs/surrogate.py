"""A fast estimate of a scenario's login latency with nodes added: the screen of ``plan``.

One short baseline simulation (one replication) gives every login's latency and its
components. Each login's latency is split into the part that depends on the node it used and
a residual that does not:

- the terminal's leg: ``(handshake round trips + 1) x`` the site-to-node RTT of the latency
  model (:func:`sim.model.latency.path_rtt_ms`, the world's ``site_node_rtt_ms``); the rest of
  ``connect_ms`` (DNS, last mile, jitter, retransmissions) is the residual;
- the node's service time (scaled by the new node's mean service time);
- the backend trip: the node's RTT to the home data center (the world's ``node_dc_rtt_ms``:
  the backbone's routes or public transit, as the engine uses them); what the login waited
  beyond that (the trip's extra delay, the data center's queue and service) is the residual;
  whether the node answers itself follows its expected hit share, coupled to the baseline's
  hit or miss of the same login;
- the queue wait at the node: replaced for every login by a draw from the M/M/c (Erlang C)
  wait distribution at the node's arrival rate in the login's time bin under the plan.

For a plan, each baseline login whose node was in its site's geo-DNS region moves to the
best added node of that region when the added node scores lower than the login's own node by
the addressing's rank rule (``rank: end_to_end``: round trips at the RTT plus the expected
backend wait on the share the node does not answer itself; otherwise the RTT). A node whose
predicted peak utilisation exceeds the spill threshold keeps only the share of the logins
that moved to it that brings it back to the threshold (the rest stay where they were).
Percentiles are taken over the recomposed logins (a per-site sample, weighted back).

The estimate screens plans; ``plan`` verifies the best ones by simulation. Every latency
number comes from the model's own tables (no second latency model).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sim.analysis import Results
from sim.analysis.results import unique_site_names
from sim.config.schema import Scenario, validate_scenario
from sim.errors import ScenarioError
from sim.model import latency
from sim.model.network_edits import default_node_id
from sim.model.topology import Topology
from sim.model.workload import CITIES_CSV
from sim.model.world import World
from sim.runs.api import run_world
from sim.runs.prepare import prepare_world
from sim.runs.erlang import erlang_c

__all__ = ["Candidate", "Estimate", "Surrogate", "city_candidates", "node_id_for",
           "weighted_quantile", "scenario_with", "BASELINE_WINDOW_S", "SAMPLE_PER_SITE"]

BASELINE_WINDOW_S = 600.0
"""Measured window of the baseline simulation (after the scenario's warm-up), at most."""
SAMPLE_PER_SITE = 400
"""Logins kept per site for the recomposed distribution (weighted back to the site's count)."""
BIN_S = 120.0
"""Width of the time bins in which arrival rates (and so queue waits and peaks) are taken."""


@dataclass(frozen=True)
class Candidate:
    """A place where a node could be added."""
    city: str
    country: str
    region: str
    lat: float
    lon: float
    kind: str = "access"
    population: int = 0
    by_coordinates: bool = False
    """Placed by ``lat``/``lon`` (a candidates file's coordinates), not by city name."""
    ambiguous: bool = False
    """Another shipped city has the same name (the ``network.add`` entry names the country)."""

    @property
    def node_id(self) -> str:
        return node_id_for(self.kind, self.city)

    def addition(self) -> dict[str, Any]:
        """The candidate as a ``network.add`` entry."""
        if self.by_coordinates:
            return {"id": self.node_id, "kind": self.kind, "lat": self.lat, "lon": self.lon,
                    "name": self.city, "region": self.region, "country": self.country}
        city = f"{self.city}, {self.country}" if self.ambiguous else self.city
        return {"city": city, "kind": self.kind}


def node_id_for(kind: str, city: str) -> str:
    """The id ``network.add`` gives a node at ``city`` (``access-nairobi``)."""
    return default_node_id(kind, city)


def city_candidates(topology: Topology, kind: str, min_population: float,
                    regions: Sequence[str] | None = None,
                    exclude_km: float = 50.0) -> list[Candidate]:
    """Shipped cities of at least ``min_population`` that do not already host a node of
    ``kind`` (none within ``exclude_km``), most populous first."""
    with CITIES_CSV.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    names: dict[str, int] = {}
    for r in rows:
        names[r["name"].casefold()] = names.get(r["name"].casefold(), 0) + 1
    have = [i for i, k in enumerate(topology.kinds) if k == kind]
    taken = {topology.node_ids[i] for i in range(len(topology.node_ids))}
    out = []
    for r in sorted(rows, key=lambda r: -int(r["population"])):
        if int(r["population"]) < min_population:
            continue
        if regions is not None and r["region"] not in regions:
            continue
        lat, lon = float(r["lat"]), float(r["lon"])
        if have and float(np.min(latency.haversine_km(lat, lon, topology.lat[have],
                                                      topology.lon[have]))) < exclude_km:
            continue
        c = Candidate(r["name"], r["country"], r["region"], lat, lon, kind,
                      int(r["population"]), ambiguous=names[r["name"].casefold()] > 1)
        if c.node_id in taken:
            continue
        taken.add(c.node_id)
        out.append(c)
    return out


def weighted_quantile(values: NDArray[np.float64], weights: NDArray[np.float64],
                      q: float) -> float:
    """The ``q`` quantile of weighted values (the inverse of the weighted empirical CDF)."""
    if len(values) == 0:
        return math.nan
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    k = int(np.searchsorted(cum, q * cum[-1], side="left"))
    return float(values[order][min(k, len(values) - 1)])


@dataclass(frozen=True)
class Estimate:
    """The surrogate's figures for one plan (milliseconds)."""
    nodes: tuple[str, ...]
    mean_ms: float
    p95_ms: float
    by_region: dict[str, dict[str, float]]
    by_site: dict[str, dict[str, float]] = field(repr=False)
    node_peak_utilization: dict[str, float] = field(repr=False)


class Surrogate:
    """Screen plans of added nodes on one baseline simulation.

    Parameters
    ----------
    scenario : Scenario
        The scenario to add nodes to.
    candidates : sequence of Candidate
        Where nodes could go; a plan is a subset (by index).
    source : str
        The scenario's file, for messages.
    baseline : Results, optional
        A baseline simulation of ``scenario`` (one replication is used); default: one
        replication of at most :data:`BASELINE_WINDOW_S` after the warm-up, run here.
    seed : int
        Seed of the surrogate's own uniforms (service, hit and queue draws, the sample).

    Examples
    --------
    >>> from sim import load_scenario
    >>> sc = load_scenario("scenarios/tiny.yaml", {"duration": "3m"})  # doctest: +SKIP
    >>> sur = Surrogate(sc, city_candidates(...), source="tiny.yaml")  # doctest: +SKIP
    >>> sur.evaluate([0]).p95_ms  # doctest: +SKIP
    """

    def __init__(self, scenario: Scenario, candidates: Sequence[Candidate], *,
                 source: str = "scenario", baseline: Results | None = None, seed: int = 0,
                 executor: Any = None):
        self.scenario = scenario
        self.source = source
        self.candidates = tuple(candidates)
        self.world = _augmented_world(scenario, self.candidates, source)
        if baseline is None:
            base = _baseline_scenario(scenario)
            baseline = run_world(prepare_world(base, source), executor=executor)
            self.baseline_scenario = base
        else:
            self.baseline_scenario = scenario
        self._setup(baseline, np.random.default_rng(seed))

    # ------------------------------------------------------------------ tables

    def _setup(self, baseline: Results, rng: np.random.Generator) -> None:
        w = self.world
        topo = w.topology
        sc = self.baseline_scenario
        logins = baseline.logins
        if "replication" in logins.columns:
            logins = logins[logins["replication"] == 0]
        t = logins["t_start_s"].to_numpy(dtype=float)
        window = (t >= sc.warmup) & (t < sc.duration)
        logins = logins[window]
        if len(logins) == 0:
            raise ScenarioError("the baseline simulation has no login in its measurement "
                                "window: lengthen duration", file=self.source, path="duration")
        # The results name sites as Results does: unique, a suffix on a repeated name.
        site_index = {n: i for i, n in enumerate(unique_site_names(w.sites.names))}
        site = np.array([site_index[s] for s in logins["site"].astype(str)], dtype=np.int64)
        node = np.array([topo.index[n] for n in logins["node"].astype(str)], dtype=np.int64)
        self.n_bins = max(1, int(math.ceil((sc.duration - sc.warmup) / BIN_S)))
        self.bin_s = (sc.duration - sc.warmup) / self.n_bins
        t_bin = np.minimum(((logins["t_start_s"].to_numpy(float) - sc.warmup) /
                            self.bin_s).astype(np.int64), self.n_bins - 1)
        n_nodes = len(topo.node_ids)
        self.cand_idx = np.array([topo.index[c.node_id] for c in self.candidates],
                                 dtype=np.int64)
        self.base_nodes = np.array([i for i in w.edge_nodes if i not in set(self.cand_idx)],
                                   dtype=np.int64)
        p = w.params
        self.workers = np.array(p.workers, dtype=float)
        self.service_s = np.array(p.service_s, dtype=float)
        self.hit = np.array(w.expected_hit_ratio, dtype=float)
        self.hit[w.home_dc] = 0.0
        trip = np.array(w.node_dc_rtt_ms, dtype=float)
        trip[w.home_dc] = 0.0
        self.trip_ms = trip
        rounds = sc.protocol.handshake_rtts + 1.0
        self.rounds = rounds
        rtt = w.site_node_rtt_ms
        self.rtt = rtt
        nearest = sc.addressing.level("nearest")
        end_to_end = bool(nearest is not None and getattr(nearest, "rank", "") == "end_to_end")
        if end_to_end:
            expected = np.array(w.backend(w.backbone.clean)[1], dtype=float)
            expected[w.home_dc] = 0.0
            backend = np.where(np.isfinite(expected), (1.0 - self.hit) * expected, 1e9)
            self.score = rounds * rtt + backend[None, :]
        else:
            self.score = np.array(rtt, dtype=float)
        spill = sc.addressing.level("spill")
        thr = getattr(spill, "max_utilization", None) if spill is not None else None
        self.max_util = float(thr) if thr is not None else math.inf
        # Geo-DNS: a site's region has nodes (the site's own region), or it is mapped to the
        # region of its nearest node; a region that gains its first node takes its sites.
        base_regions = {topo.regions[i] for i in self.base_nodes.tolist()}
        self.site_region = list(w.sites.regions)
        self.base_dns = []
        for s in range(len(w.sites)):
            own = w.sites.regions[s]
            if own in base_regions:
                self.base_dns.append(own)
            else:
                order = self.base_nodes[np.argsort(rtt[s, self.base_nodes], kind="stable")]
                self.base_dns.append(topo.regions[int(order[0])])
        node_region = np.array(topo.regions)
        self.cand_region = node_region[self.cand_idx]
        # Groups: (site, baseline node) pairs, with their arrivals per time bin.
        key = site * n_nodes + node
        groups, g_of = np.unique(key, return_inverse=True)
        self.g_site = groups // n_nodes
        self.g_node = groups % n_nodes
        self.g_conform = np.array([topo.regions[int(b)] == self.base_dns[int(s)]
                                   for s, b in zip(self.g_site, self.g_node)], dtype=bool)
        self.g_score = self.score[self.g_site, self.g_node]
        counts = np.zeros((len(groups), self.n_bins))
        np.add.at(counts, (g_of, t_bin), 1.0)
        self.g_rate = counts / self.bin_s  # logins/s
        # The login sample: up to SAMPLE_PER_SITE ok logins per site, weighted back.
        ok = (logins["outcome"].astype(str) == "ok").to_numpy()
        keep = np.zeros(len(logins), dtype=bool)
        weight = np.zeros(len(logins))
        ok_idx = np.flatnonzero(ok)
        for s in np.unique(site[ok_idx]):
            rows = ok_idx[site[ok_idx] == s]
            pick = rows if len(rows) <= SAMPLE_PER_SITE else \
                np.sort(rng.choice(rows, SAMPLE_PER_SITE, replace=False))
            keep[pick] = True
            weight[pick] = len(rows) / len(pick)
        col = {c: logins[c].to_numpy(dtype=float)[keep]
               for c in ("connect_ms", "queue_ms", "service_ms", "backend_ms")}
        self.l_site = site[keep]
        self.l_node = node[keep]
        self.l_group = g_of[keep]
        self.l_bin = t_bin[keep]
        self.l_weight = weight[keep]
        b = self.l_node
        home = b == w.home_dc
        self.l_connect = col["connect_ms"] - rounds * rtt[self.l_site, b]
        served = col["service_ms"]
        mean_svc = self.service_s[b] * 1000.0
        # The login's own service draw in units of its node's mean (home: a fresh draw).
        u = rng.random((4, int(keep.sum())))
        exp_draw = -np.log1p(-u[0])
        self.l_svc_units = np.where(home | (mean_svc <= 0), exp_draw,
                                    served / np.where(mean_svc > 0, mean_svc, 1.0))
        deterministic = np.array([d == "deterministic" for d in p.service_distribution])
        self.deterministic = deterministic
        miss = home | (col["backend_ms"] > 0)
        extra = col["backend_ms"] - self.trip_ms[b]
        mean_extra = float(np.mean(extra[miss])) if miss.any() else 0.0
        self.l_extra = np.where(miss, extra, mean_extra)
        hb = self.hit[b]
        self.l_hit_u = np.where(miss, hb + u[1] * (1.0 - hb), u[1] * hb)
        self.l_queue_u = u[2]
        self.l_shed_u = u[3]
        self.l_base_latency = col["connect_ms"] + col["queue_ms"] + served + col["backend_ms"]
        self.site_names = tuple(unique_site_names(w.sites.names))
        self.node_ids = topo.node_ids

    # ------------------------------------------------------------------ evaluation

    def scope_mask(self, scopes: Sequence[str]) -> NDArray[np.bool_]:
        """Which sampled logins are in any of ``scopes`` (``all``, ``region:R``,
        ``site:NAME``)."""
        mask = np.zeros(len(self.l_site), dtype=bool)
        regions = np.array(self.site_region)[self.l_site]
        names = np.array(self.site_names)[self.l_site]
        for scope in scopes or ("all",):
            kind, _, value = scope.partition(":")
            if kind == "all":
                mask[:] = True
            elif kind == "region":
                mask |= regions == value
            else:
                mask |= names == value
        return mask

    def assignment(self, chosen: Sequence[int]) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
        """Each group's node under a plan (candidate indices ``chosen``) and whether it moved."""
        target = self.g_node.copy()
        moved = np.zeros(len(target), dtype=bool)
        if not len(chosen):
            return target, moved
        chosen_nodes = self.cand_idx[np.asarray(chosen, dtype=np.int64)]
        chosen_regions = self.cand_region[np.asarray(chosen, dtype=np.int64)]
        base_regions = {self.world.topology.regions[i] for i in self.base_nodes.tolist()}
        gained = set(chosen_regions.tolist()) - base_regions
        for region in sorted(set(chosen_regions.tolist())):
            nodes = chosen_nodes[chosen_regions == region]
            sites_in = np.array([self.base_dns[s] == region or
                                 (self.site_region[s] == region and region in gained)
                                 for s in self.g_site.tolist()], dtype=bool)
            if not sites_in.any():
                continue
            sc = self.score[self.g_site[sites_in]][:, nodes]
            best = np.argmin(sc, axis=1)
            best_score = sc[np.arange(len(best)), best]
            switched = np.array([self.site_region[s] == region and self.base_dns[s] != region
                                 for s in self.g_site[sites_in].tolist()], dtype=bool)
            go = (self.g_conform[sites_in] & (best_score < self.g_score[sites_in])) | \
                switched
            go &= best_score < np.where(moved[sites_in], self._score_of(target[sites_in],
                                                                         sites_in), np.inf)
            idx = np.flatnonzero(sites_in)[go]
            target[idx] = nodes[best[go]]
            moved[idx] = True
        return target, moved

    def _score_of(self, nodes: NDArray[np.int64], mask: NDArray[np.bool_]) -> NDArray[np.float64]:
        return self.score[self.g_site[mask], nodes]

    def loads(self, target: NDArray[np.int64], moved: NDArray[np.bool_]
              ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Arrival rate per node and bin under a plan, after spill; and per node the share
        of the logins that moved to it that it keeps."""
        n_nodes = len(self.node_ids)
        lam = np.zeros((n_nodes, self.n_bins))
        np.add.at(lam, target, self.g_rate)
        moved_in = np.zeros((n_nodes, self.n_bins))
        np.add.at(moved_in, target[moved], self.g_rate[moved])
        base = np.zeros((n_nodes, self.n_bins))
        np.add.at(base, self.g_node, self.g_rate)
        cap = self.workers / np.maximum(self.service_s, 1e-12)
        keep = np.ones(n_nodes)
        limit = np.maximum(self.max_util * cap, base.max(axis=1))
        peak = lam.max(axis=1)
        over = (peak > limit) & (moved_in.max(axis=1) > 0)
        for n in np.flatnonzero(over):
            # keep the share of moved-in logins that brings the peak back to the limit
            own = peak[n] - moved_in[n, int(np.argmax(lam[n]))]
            share = (limit[n] - own) / max(moved_in[n, int(np.argmax(lam[n]))], 1e-12)
            keep[n] = min(1.0, max(0.0, share))
        if over.any():
            back = moved & (keep[target] < 1.0)
            lam = np.zeros((n_nodes, self.n_bins))
            frac = np.where(back, keep[target], 1.0)
            np.add.at(lam, target, self.g_rate * frac[:, None])
            np.add.at(lam, self.g_node[back], self.g_rate[back] * (1.0 - frac[back])[:, None])
        return lam, keep

    def latencies(self, chosen: Sequence[int], mask: NDArray[np.bool_] | None = None
                  ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Recomposed latency (ms) of the sampled logins under a plan: ``(latency_ms,
        weight, node peak utilisation)``, restricted to ``mask``."""
        target_g, moved_g, lam, keep = self._plan_state(chosen)
        sel = np.flatnonzero(mask) if mask is not None else np.arange(len(self.l_site))
        g = self.l_group[sel]
        moved = moved_g[g] & (self.l_shed_u[sel] < keep[target_g[g]])
        b = self.l_node[sel]
        n = np.where(moved, target_g[g], b)
        s = self.l_site[sel]
        home = self.world.home_dc
        connect = self.l_connect[sel] + self.rounds * self.rtt[s, n]
        svc_units = np.where(self.deterministic[n], 1.0, self.l_svc_units[sel])
        service = np.where(n == home, 0.0, self.service_s[n] * 1000.0 * svc_units)
        hit = (n != home) & (self.l_hit_u[sel] < self.hit[n])
        backend = np.where(hit, 0.0, self.trip_ms[n] + self.l_extra[sel])
        queue = self._queue_ms(n, self.l_bin[sel], lam, self.l_queue_u[sel])
        cap = self.workers / np.maximum(self.service_s, 1e-12)
        util = lam.max(axis=1) / cap
        return connect + queue + service + backend, self.l_weight[sel], util

    def _plan_state(self, chosen: Sequence[int]) -> tuple[NDArray[np.int64], NDArray[np.bool_],
                                                          NDArray[np.float64],
                                                          NDArray[np.float64]]:
        target, moved = self.assignment(chosen)
        lam, keep = self.loads(target, moved)
        return target, moved, lam, keep

    def _queue_ms(self, node: NDArray[np.int64], t_bin: NDArray[np.int64],
                  lam: NDArray[np.float64], u: NDArray[np.float64]) -> NDArray[np.float64]:
        """Erlang C waits: 0 with probability ``1 - C``, else exponential with rate
        ``c mu - lambda``."""
        rate = lam[node, t_bin]
        c = self.workers[node]
        mu = 1.0 / np.maximum(self.service_s[node], 1e-12)
        a = np.minimum(rate / mu, c * 0.999)  # an overloaded node: at 99.9% (long waits)
        wait_c = erlang_c(c, a)
        tail = np.clip(1.0 - u, 1e-300, 1.0)
        drain = c * mu - a * mu
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(tail < wait_c, np.log(wait_c / tail) / drain, 0.0)
        return 1000.0 * np.nan_to_num(w)

    def objective(self, chosen: Sequence[int], mask: NDArray[np.bool_],
                  statistic: str = "p95") -> float:
        """The plan's ``p95`` or ``mean`` latency (ms) over the sampled logins in ``mask``."""
        lat, weight, _ = self.latencies(chosen, mask)
        if statistic == "mean":
            return float(np.average(lat, weights=weight)) if len(lat) else math.nan
        return weighted_quantile(lat, weight, 0.95)

    def evaluate(self, chosen: Sequence[int]) -> Estimate:
        """Every figure of a plan: overall, per region and per site mean and p95 (ms)."""
        lat, weight, util = self.latencies(chosen)
        regions = np.array(self.site_region)[self.l_site]
        by_region = {}
        for r in sorted(set(regions.tolist())):
            m = regions == r
            by_region[r] = {"mean": float(np.average(lat[m], weights=weight[m])),
                            "p95": weighted_quantile(lat[m], weight[m], 0.95)}
        by_site = {}
        for s in np.unique(self.l_site):
            m = self.l_site == s
            by_site[self.site_names[int(s)]] = {
                "mean": float(np.average(lat[m], weights=weight[m])),
                "p95": weighted_quantile(lat[m], weight[m], 0.95)}
        peak = {self.node_ids[i]: float(util[i]) for i in self.base_nodes.tolist()}
        for k in chosen:
            peak[self.node_ids[int(self.cand_idx[k])]] = float(util[int(self.cand_idx[k])])
        return Estimate(tuple(self.candidates[k].node_id for k in chosen),
                        float(np.average(lat, weights=weight)),
                        weighted_quantile(lat, weight, 0.95), by_region, by_site, peak)

    def useful(self, mask: NDArray[np.bool_]) -> list[int]:
        """Candidates that would take logins of some site in ``mask`` on their own."""
        sites = np.unique(self.l_site[mask])
        out = []
        for k in range(len(self.candidates)):
            target, moved = self.assignment([k])
            if np.isin(self.g_site[moved], sites).any():
                out.append(k)
        return out


# --------------------------------------------------------------------------- worlds


def _baseline_scenario(scenario: Scenario) -> Scenario:
    """One replication, measured for at most :data:`BASELINE_WINDOW_S` after the warm-up."""
    changes: dict[str, Any] = {"replications": 1}
    if scenario.duration > scenario.warmup + BASELINE_WINDOW_S:
        changes["duration"] = scenario.warmup + BASELINE_WINDOW_S
    return scenario.with_overrides(changes)


def scenario_with(scenario: Scenario, additions: Sequence[Mapping[str, Any]] = (),
                  resize: Mapping[str, Mapping[str, Any]] | None = None, *,
                  name: str | None = None, source: str = "scenario") -> Scenario:
    """The scenario with ``network.add`` entries appended and ``network.resize`` entries
    merged into its own ``network:`` section (a node the scenario's ``nodes.overrides``
    names is resized there, since the override has the last word), validated as the loader
    validates a file."""
    raw = scenario.resolved()
    network = dict(raw.get("network") or {})
    network["add"] = [*(network.get("add") or []), *additions]
    sized = dict(network.get("resize") or {})
    nodes = dict(raw.get("nodes") or {})
    overridden = dict(nodes.get("overrides") or {})
    for node_id, keys in (resize or {}).items():
        if node_id in overridden:
            overridden[node_id] = {**overridden[node_id], **keys}
        else:
            sized[node_id] = {**(sized.get(node_id) or {}), **keys}
    network["resize"] = sized
    nodes["overrides"] = overridden
    raw["network"] = network
    raw["nodes"] = nodes
    if name is not None:
        raw["name"] = name
    return validate_scenario(raw, source=source)


def _augmented_world(scenario: Scenario, candidates: Sequence[Candidate],
                     source: str) -> World:
    """The scenario's world with every candidate added through ``network.add`` (a
    candidate only takes logins in a plan that chooses it: the surrogate reads its tables,
    it does not simulate it)."""
    return prepare_world(scenario_with(scenario, [c.addition() for c in candidates],
                                       source=source), source)
