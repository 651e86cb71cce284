"""Determinism and metamorphic properties of the engine and the latency tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sim
from sim.model import latency
from sim.model.world import build_world
from sim.config import Scenario, load_scenario
from tests.conftest import TOPOLOGIES, single_node_scenario


def _short(path, **overrides):
    return sim.run(path, overrides={"duration": "3m", "warmup": "0s", **overrides})


def test_same_seed_gives_identical_results(tiny_scenario) -> None:
    a = _short(tiny_scenario)
    b = _short(tiny_scenario)
    pd.testing.assert_frame_equal(a.logins, b.logins)
    pd.testing.assert_frame_equal(a.node_load, b.node_load)
    strip = ("run",)
    assert {k: v for k, v in a.summary.items() if k not in strip} == \
        {k: v for k, v in b.summary.items() if k not in strip}


def test_different_seed_gives_different_results(tiny_scenario) -> None:
    a = _short(tiny_scenario)
    b = _short(tiny_scenario, seed=8)
    assert len(a.logins) != len(b.logins) or not np.array_equal(
        a.logins.latency_ms.to_numpy(), b.logins.latency_ms.to_numpy())


def test_replications_are_independent_and_reproducible(tiny_scenario) -> None:
    two = _short(tiny_scenario, replications=2)
    one = _short(tiny_scenario, replications=1)
    first = two.logins[two.logins.replication == 0].reset_index(drop=True)
    pd.testing.assert_frame_equal(first, one.logins)
    second = two.logins[two.logins.replication == 1]
    assert len(second) and not np.array_equal(second.latency_ms.to_numpy()[:100],
                                              first.latency_ms.to_numpy()[:100])


@pytest.mark.parametrize("workers", [2, 3])
def test_more_workers_never_raise_mean_wait(workers: int) -> None:
    base = dict(rate_per_s=150.0, service_ms=10.0, duration_s=300.0, warmup_s=0.0, seed=3)
    fewer = sim.run(Scenario.model_validate(single_node_scenario(workers=workers, **base)))
    more = sim.run(Scenario.model_validate(single_node_scenario(workers=workers + 1, **base)))
    w_fewer = fewer.summary["nodes"]["access-singapore"]["mean_wait_ms"]
    w_more = more.summary["nodes"]["access-singapore"]["mean_wait_ms"]
    assert w_more <= w_fewer
    # Same arrivals and service draws (common random numbers): each login waits no longer.
    assert (more.logins.queue_ms.to_numpy() <= fewer.logins.queue_ms.to_numpy() + 1e-9).all()


def test_moving_a_node_farther_never_lowers_a_sites_rtt(tmp_path) -> None:
    topo = (TOPOLOGIES / "tiny.yaml").read_text()
    sc = load_scenario(TOPOLOGIES.parent / "scenarios" / "tiny.yaml")
    near = build_world(sc)
    # Move Frankfurt east along its parallel, away from every European site west of it.
    rtts = [near.site_node_rtt_ms[:, near.topology.index["access-frankfurt"]]]
    for lon in (12.0, 16.0, 20.0):
        moved = topo.replace("lat: 50.1109, lon: 8.6821}\n  - {id: access-london",
                             f"lat: 50.1109, lon: {lon}}}\n  - {{id: access-london")
        assert moved != topo
        path = tmp_path / f"t{lon}.yaml"
        path.write_text(moved)
        world = build_world(sc.with_overrides({"topology": str(path)}))
        rtts.append(world.site_node_rtt_ms[:, world.topology.index["access-frankfurt"]])
    west = near.sites.lon < 8.6821
    assert west.any()
    for before, after in zip(rtts, rtts[1:]):
        assert (after[west] >= before[west] - 1e-9).all()


def test_no_rtt_below_the_fibre_floor() -> None:
    world = build_world(load_scenario(TOPOLOGIES.parent / "scenarios" / "global-baseline.yaml"))
    floor = latency.fibre_floor_rtt_ms(world.site_node_km)
    assert (world.site_node_rtt_ms >= floor - 1e-9).all()
    topo = world.topology
    km = latency.haversine_km(topo.lat[:, None], topo.lon[:, None], topo.lat[None, :],
                              topo.lon[None, :])
    assert (world.backbone_rtt_ms >= latency.fibre_floor_rtt_ms(km) - 1e-9).all()


def test_every_login_is_counted_once(tiny_scenario) -> None:
    res = _short(tiny_scenario, **{"events": [{"at": "1m", "node_down": "access-singapore",
                                               "for": "1m"}]})
    lg = res.summary["logins"]["whole_run"]
    assert lg["attempted"] == lg["succeeded"] + lg["failed"] + lg["in_flight"]
    assert lg["succeeded"] + lg["failed"] == len(res.logins)
    assert res.logins.login_id.is_unique


def test_node_down_moves_logins_elsewhere(tiny_scenario) -> None:
    res = _short(tiny_scenario, **{"events": [{"at": "1m", "node_down": "access-singapore",
                                               "for": "1m"}]})
    L = res.logins
    during = L[(L.t_start_s >= 70) & (L.t_start_s < 110) & (L.outcome == "ok")]
    assert len(during) > 0
    assert (during.node != "access-singapore").all()
    after = L[(L.t_start_s >= 130) & (L.outcome == "ok")]
    assert (after.node == "access-singapore").any()


@pytest.mark.parametrize("can_fail", [False, True])
def test_open_connections_are_counted_exactly(can_fail: bool) -> None:
    """A node's open connections at any time, by its session bookkeeping (a heap of end
    times, or of whole sessions for nodes that can fail), against a plain count."""
    import heapq

    import simpy

    from sim.engine.nodes import NodeState

    rng = np.random.default_rng(4)
    node = NodeState(simpy.Environment(), 0, "access", 1, 0.01, "exponential", 0.5,
                     float("inf"), can_fail)
    ends: list[float] = []
    now = 0.0
    for step in range(3000):
        now += float(rng.exponential(0.3)) if step % 50 else float(rng.uniform(5, 30))
        for _ in range(int(rng.integers(0, 3))):
            # sessions from a few milliseconds (ending within the current second) to minutes
            end = now + float(rng.choice([rng.uniform(0, 0.5), rng.exponential(60.0)]))
            ends.append(end)
            node.open_conns += 1
            heapq.heappush(node.sessions, (end, step, 0, 0, 0, 0.0) if can_fail else end)
        assert node.connections(now) == sum(e > now for e in ends), step
