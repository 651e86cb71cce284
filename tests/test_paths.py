"""Paths across the two networks: rerouting after a backbone link fails, end-to-end ranking
against nearest-by-RTT, TCP loss semantics and the per-access extra delay (issue 15)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from sim.config import load_scenario
from sim.engine.loop import run_replication
from sim.model.paths import SYN_RTO_S, LegModel, link_key, lognormal_from_quantiles
from sim.model.world import build_world
from tests.conftest import SCENARIOS

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

# A terminal site in Kuala Lumpur; a node there whose short backbone route to the home data
# center in Singapore can fail (the long way round goes through Tokyo), and a node in
# Singapore next to the data center.
REROUTE_TOPOLOGY = """
name: reroute
nodes:
  - {id: access-kl, kind: access, region: asia, lat: 3.1412, lon: 101.6865}
  - {id: access-sg, kind: access, region: asia, lat: 1.2897, lon: 103.8501}
  - {id: hub-sg, kind: hub, region: asia, lat: 1.30, lon: 103.80}
  - {id: hub-tokyo, kind: hub, region: asia, lat: 35.6895, lon: 139.6917}
  - {id: dc-sg, kind: datacenter, region: asia, lat: 1.2897, lon: 103.8501}
links:
  - {a: access-kl, b: hub-sg}
  - {a: hub-sg, b: dc-sg}
  - {a: access-kl, b: hub-tokyo}
  - {a: hub-tokyo, b: dc-sg}
  - {a: access-sg, b: dc-sg}
"""

# The nearest node (Kuala Lumpur) reaches the data center only the long way round.
SLOW_BACKEND_TOPOLOGY = """
name: slow-backend
nodes:
  - {id: access-kl, kind: access, region: asia, lat: 3.1412, lon: 101.6865}
  - {id: access-sg, kind: access, region: asia, lat: 1.2897, lon: 103.8501}
  - {id: hub-tokyo, kind: hub, region: asia, lat: 35.6895, lon: 139.6917}
  - {id: dc-sg, kind: datacenter, region: asia, lat: 1.2897, lon: 103.8501}
links:
  - {a: access-kl, b: hub-tokyo}
  - {a: hub-tokyo, b: dc-sg}
  - {a: access-sg, b: dc-sg}
"""

# Both nodes next to the data center, the nearest also the best end to end.
NEAR_IS_BEST_TOPOLOGY = """
name: near-is-best
nodes:
  - {id: access-kl, kind: access, region: asia, lat: 3.1412, lon: 101.6865}
  - {id: access-sg, kind: access, region: asia, lat: 1.2897, lon: 103.8501}
  - {id: dc-kl, kind: datacenter, region: asia, lat: 3.1412, lon: 101.6865}
links:
  - {a: access-kl, b: dc-kl}
  - {a: access-sg, b: dc-kl}
"""


def _scenario(tmp_path: Path, topology: str, home: str, **overrides):
    (tmp_path / "topology.yaml").write_text(topology, encoding="utf-8")
    base = {
        "topology": str(tmp_path / "topology.yaml"), "home_datacenter": home,
        "duration": "9m", "warmup": "0s",
        "population.source": "sites", "population.dau": 400_000,
        "population.sites": [{"name": "Kuala Lumpur", "lat": 3.1412, "lon": 101.6865,
                              "region": "asia"}],
        "population.access_mix": {"fixed": 1.0},
        "addressing.levels": [{"region": {}}, {"nearest": {}}, {"failover": {}}],
        "events": [],
    }
    base.update(overrides)
    return load_scenario(SCENARIOS / "tiny.yaml", base)


def _run(world, seed: int = 3):
    return run_replication(world, 0, np.random.SeedSequence(seed), per_login=True)


def test_a_failed_backbone_link_reroutes_after_the_convergence_delay(tmp_path: Path) -> None:
    events = [{"at": "3m", "link_down": {"a": "access-kl", "b": "hub-sg"}, "for": "3m"}]
    world = build_world(_scenario(tmp_path, REROUTE_TOPOLOGY, "dc-sg", events=events,
                                  **{"paths.backend": "private",
                                     "paths.convergence_delay": "5s"}))
    kl = world.topology.index["access-kl"]
    clean = world.backbone.clean.private_ms[kl]
    down = world.backbone.state({}, {}, [link_key("access-kl", "hub-sg")]).private_ms[kl]
    assert down > clean + 50.0  # the long way round, through Tokyo
    out = _run(world)
    L = out.logins
    at_kl = (L["node"] == kl) & (L["outcome"] == 0) & (L["path"] == 1)
    t, back = L["t_start_s"], L["backend_ms"]
    before = at_kl & (t < 170)
    dark = at_kl & (t > 181) & (t < 183.5)
    moved = at_kl & (t > 200) & (t < 350)
    restored = at_kl & (t > 380)
    assert before.sum() > 100 and moved.sum() > 100 and restored.sum() > 100
    # Before: the short route. While the routes converge, trips wait for the new route.
    assert np.median(back[before]) < clean + 20
    assert dark.sum() > 0 and np.all(back[dark] > 1000.0 * 1.5)
    # Rerouted: the long way round, then back after the link returns.
    assert np.median(back[moved]) > clean + 50
    assert abs(np.median(back[moved]) - (down + np.median(back[before]) - clean)) < 20
    assert np.median(back[restored]) < clean + 20


def test_overlapping_link_events_compose(tmp_path: Path) -> None:
    # A 3-min failure with a 10-s one inside it: the link stays down until the long one ends.
    link = {"a": "access-kl", "b": "hub-sg"}
    events = [{"at": "3m", "link_down": link, "for": "3m"},
              {"at": "4m", "link_down": link, "for": "10s"}]
    world = build_world(_scenario(tmp_path, REROUTE_TOPOLOGY, "dc-sg", events=events,
                                  **{"paths.backend": "private"}))
    kl = world.topology.index["access-kl"]
    L = _run(world).logins
    at_kl = (L["node"] == kl) & (L["outcome"] == 0) & (L["path"] == 1)
    t = L["t_start_s"]
    clean = world.backbone.clean.private_ms[kl]
    assert np.median(L["backend_ms"][at_kl & (t > 260) & (t < 350)]) > clean + 50


def test_the_addressing_moves_terminals_whose_best_path_changed(tmp_path: Path) -> None:
    events = [{"at": "3m", "link_down": {"a": "access-kl", "b": "hub-sg"}, "for": "3m"}]
    levels = [{"region": {}}, {"nearest": {"rank": "end_to_end"}}, {"failover": {}}]
    world = build_world(_scenario(tmp_path, REROUTE_TOPOLOGY, "dc-sg", events=events,
                                  **{"paths.backend": "private",
                                     "addressing.levels": levels}))
    sg = world.topology.index["access-sg"]
    L = _run(world).logins
    ok = L["outcome"] == 0
    t = L["t_start_s"]
    share = {name: float(np.mean(L["node"][ok & sel] == sg)) for name, sel in
             (("before", t < 170), ("during", (t > 200) & (t < 350)), ("after", t > 380))}
    assert share["before"] < 0.1
    assert share["during"] > 0.9
    assert share["after"] < 0.1
    assert L["moved"][ok & (t > 200) & (t < 350)].mean() > 0.9


@pytest.mark.parametrize("backend", ["private", "auto"])
def test_end_to_end_ranking_beats_nearest_when_the_nearest_has_a_slow_backend(
        tmp_path: Path, backend: str) -> None:
    results = {}
    for rank in ("rtt", "end_to_end"):
        levels = [{"region": {}}, {"nearest": {"rank": rank}}, {"failover": {}}]
        world = build_world(_scenario(tmp_path, SLOW_BACKEND_TOPOLOGY, "dc-sg",
                                      **{"paths.backend": backend,
                                         "addressing.levels": levels}))
        L = _run(world).logins
        ok = L["outcome"] == 0
        results[rank] = (L["latency_ms"][ok], L["moved"][ok], L["path"][ok], world)
    (lat_rtt, moved_rtt, path_rtt, world), (lat_e2e, moved_e2e, _, _) = \
        results["rtt"], results["end_to_end"]
    assert moved_rtt.sum() == 0  # nearest by RTT never reports a move
    if backend == "private":
        # The nearest node's backbone trip goes round through Tokyo: end to end avoids it.
        # It pays ~3.5 more round trips of 34 ms to Singapore to save ~130 ms of backbone.
        assert moved_e2e.mean() > 0.9
        assert np.median(lat_e2e) < np.median(lat_rtt) - 15.0
    else:
        # The nearest node takes public transit instead of the long backbone route: then
        # it is also the best end to end, and the ranking agrees with the RTT.
        kl = world.topology.index["access-kl"]
        assert world.backend(world.backbone.clean)[0][kl]
        assert np.mean(path_rtt == 2) > 0.5
        assert moved_e2e.mean() < 0.05


def test_end_to_end_ranking_matches_nearest_where_the_nearest_is_best(tmp_path: Path) -> None:
    out = {}
    for rank in ("rtt", "end_to_end"):
        levels = [{"region": {}}, {"nearest": {"rank": rank}}, {"failover": {}}]
        world = build_world(_scenario(tmp_path, NEAR_IS_BEST_TOPOLOGY, "dc-kl",
                                      **{"addressing.levels": levels}))
        out[rank] = _run(world).logins
    assert out["end_to_end"]["moved"].sum() == 0
    for col in ("node", "outcome"):
        np.testing.assert_array_equal(out["rtt"][col], out["end_to_end"][col])
    np.testing.assert_allclose(out["rtt"]["latency_ms"], out["end_to_end"]["latency_ms"])


# ------------------------------------------------------------------ loss and variance


def _legs(tmp_path: Path, loss: float, **paths) -> LegModel:
    overrides = {"paths.access": {"fixed": {"loss": loss, "jitter_p50_ms": 1.0,
                                            "jitter_p99_ms": 6.5}},
                 "paths.public.loss": 0.0, **{f"paths.{k}": v for k, v in paths.items()}}
    world = build_world(_scenario(tmp_path, NEAR_IS_BEST_TOPOLOGY, "dc-kl", **overrides))
    return LegModel.build(world.scenario, ["fixed"], world.sites.regions,
                          world.sites.utc_offset_h)


@pytest.mark.parametrize("p", [0.01, 0.05, 0.2])
def test_syn_loss_matches_its_analytic_distribution(tmp_path: Path, p: float) -> None:
    # A lost SYN is sent again after RFC 6298's initial 1 s, then 2 s, 4 s: the first
    # connect loses 2^K - 1 s with P(K >= k) = p^k.
    legs = _legs(tmp_path, p)
    n = 200_000
    _, extra, lost = legs.draw(np.random.default_rng(5), np.zeros(n, dtype=np.int64),
                               np.zeros(n, dtype=np.int64), np.zeros(n), arrival=False)
    for k, expected in ((1, p), (2, p ** 2)):
        share = float(np.mean(extra >= SYN_RTO_S * (2 ** k - 1) - 1e-9))
        sd = math.sqrt(expected * (1 - expected) / n)
        assert abs(share - expected) < 4 * sd + 1e-4, (k, share, expected)
    # Lost data round trips (TLS, the request): binomial over those round trips.
    assert abs(lost.mean() - legs.data_round_trips * p) < 4 * math.sqrt(
        legs.data_round_trips * p * (1 - p) / n)


def test_syn_loss_costs_logins_one_second_in_the_engine(tmp_path: Path) -> None:
    # The same logins with and without loss (the draws are paired): a login whose SYN was lost
    # is 1 s (or 3 s, ...) slower; one whose data round trips were lost, the RTO (>= 0.2 s).
    p = 0.05
    lat = {}
    for loss in (0.0, p):
        world = build_world(_scenario(tmp_path, NEAR_IS_BEST_TOPOLOGY, "dc-kl", **{
            "paths.access": {"fixed": {"loss": loss, "jitter_p50_ms": 1.0,
                                       "jitter_p99_ms": 6.5}},
            "paths.public.loss": 0.0, "paths.private.loss": 0.0,
            "addressing.levels": [{"region": {}}, {"nearest": {"probe_top_k": 1}},
                                  {"failover": {}}]}))
        L = _run(world).logins
        first = L["trigger"] == 0
        lat[loss] = L["latency_ms"][first]
    diff = (lat[p] - lat[0.0]) / 1000.0
    n = len(diff)
    syn = float(np.mean(diff > 0.95))
    assert abs(syn - p) < 4 * math.sqrt(p * (1 - p) / n)
    data_only = float(np.mean((diff > 0.15) & (diff < 0.95)))
    expected = (1 - p) * (1 - (1 - p) ** 2)
    assert abs(data_only - expected) < 4 * math.sqrt(expected * (1 - expected) / n)


def test_access_extra_delay_has_its_fitted_quantiles(tmp_path: Path) -> None:
    world = build_world(_scenario(tmp_path, NEAR_IS_BEST_TOPOLOGY, "dc-kl"))
    paths = world.scenario.paths
    names = list(paths.access)
    legs = LegModel.build(world.scenario, names, world.sites.regions,
                          world.sites.utc_offset_h)
    n = 400_000
    rng = np.random.default_rng(9)
    for code, name in enumerate(names):
        spec = paths.access[name]  # type: ignore[index]
        mu, sigma = lognormal_from_quantiles(spec.jitter_p50_ms, spec.jitter_p99_ms)
        assert (legs.mu[code], legs.sigma[code]) == pytest.approx((mu, sigma))
        draws = np.exp(legs.mu[code] + legs.sigma[code] * rng.standard_normal(n))
        p50, p99 = np.percentile(draws, [50, 99])
        assert p50 == pytest.approx(spec.jitter_p50_ms, rel=0.02)
        assert p99 == pytest.approx(spec.jitter_p99_ms, rel=0.04)


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is not here (a fresh clone)")
def test_fixed_line_extra_delay_is_fcc_mba_2023_spread() -> None:
    # The p99 of a fixed line's extra delay: FCC MBA 2023's median per-test maximum minus its
    # median average latency, by technology.
    from sim.config.schema import ACCESS_PATH_DEFAULTS
    rows = {(r["technology"], r["year"]): r for r in csv.DictReader(
        (SHARED / "fcc_mba_idle_latency_by_technology_yearly.csv").open(encoding="utf-8"))}
    for tech, access in (("Fiber", "fiber"), ("Cable", "cable"), ("DSL", "dsl")):
        row = rows[(tech, "2023")]
        spread = float(row["median_of_rtt_max_ms"]) - float(row["median_of_rtt_avg_ms"])
        assert ACCESS_PATH_DEFAULTS[access]["jitter_p99_ms"] == pytest.approx(spread, abs=0.06)


def test_evening_congestion_peaks_at_the_local_peak_hour(tmp_path: Path) -> None:
    legs = _legs(tmp_path, 0.0, congestion_ms={"asia": 20.0})
    site = np.zeros(3, dtype=np.int64)
    # The peak is at 21:00 in the site's local time; the run starts at 12:00 UTC.
    peak_utc = (21.0 - float(legs.site_utc_offset_h[0])) % 24.0
    t0 = 3600.0 * ((peak_utc - 12.0) % 24.0)
    t = np.array([t0, t0 + 6 * 3600.0, t0 + 12 * 3600.0])  # the peak, 6 h and 12 h later
    cong = legs.congestion_at(site, t)
    assert cong[0] == pytest.approx(20.0, rel=1e-6)
    assert cong[1] == pytest.approx(0.0, abs=1e-9)
    assert cong[2] == pytest.approx(0.0, abs=1e-9)


def test_a_terminal_can_log_in_straight_at_the_data_centers_edge(tmp_path: Path) -> None:
    # The data center in Kuala Lumpur takes logins at its own edge: ranked end to end (with
    # exact probes), it beats the access node next to it, whose logins still cross the
    # backbone (by a millisecond: with probe noise the two split the logins).
    levels = [{"region": {}}, {"nearest": {"rank": "end_to_end", "probe_noise_ms": 0}},
              {"failover": {}}]
    world = build_world(_scenario(tmp_path, NEAR_IS_BEST_TOPOLOGY, "dc-kl", **{
        "paths.datacenter_edge": True, "addressing.levels": levels}))
    home = world.topology.index["dc-kl"]
    assert home in world.edge_nodes and home in world.region_nodes["asia"]
    L = _run(world).logins
    ok = L["outcome"] == 0
    direct = ok & (L["node"] == home)
    assert direct.mean() > 0.95
    assert np.all(L["path"][direct] == 3)
    # No backend trip: backend_ms holds only the data center's own wait and service.
    assert np.all(L["service_ms"][direct] == 0.0)
    assert np.median(L["backend_ms"][direct]) < 20.0
