"""Load has its own clock: reports every ``report_interval``, shedding that does not herd."""

from __future__ import annotations

import numpy as np

from sim.addressing.multilevel import MAX_SHED, MultiLevel
from sim.config import load_scenario
from sim.engine.loop import Engine, run_replication
from sim.model.world import build_world
from tests.conftest import SCENARIOS

STEADY = {"duration": "15m", "warmup": "5m", "population.diurnal.amplitude": 0.0}


def _run(overrides: dict, seed: int = 1):
    world = build_world(load_scenario(SCENARIOS / "tiny-busy-singapore.yaml",
                                      {**STEADY, **overrides}))
    return world, run_replication(world, 0, np.random.SeedSequence(seed))


def test_the_output_sampling_period_changes_no_login() -> None:
    # The busy node spills (the load-aware level is live), sampled at 1 s and at 60 s.
    outs = [_run({"population.dau": 1_300_000, "outputs.sample_every": every})[1]
            for every in ("1s", "60s")]
    assert (outs[0].logins["decided_by"] == outs[0].decider_names.index("spill")).mean() > 0.05
    for column, values in outs[0].logins.items():
        np.testing.assert_array_equal(values, outs[1].logins[column], err_msg=column)
    assert len(outs[0].node_load["t_s"]) > 30 * len(outs[1].node_load["t_s"])


def test_a_spilling_node_gets_a_steady_stream_not_a_herd() -> None:
    # At steady overload (the node offered about 1.4x its threshold), arrivals at the node per
    # report window must vary about as a Poisson stream's do (CV = 1/sqrt(mean)); an on-off
    # herd (the whole site moving at each report) gives a CV near 1. Measured: 1.37x Poisson.
    world, out = _run({"population.dau": 1_800_000, "outputs.sample_every": "10s"})
    spec = world.scenario.addressing.level("spill")
    assert spec.report_interval == 10.0
    sg = world.topology.index["access-singapore"]
    nl = out.node_load
    rows = (nl["node"] == sg) & (nl["t_s"] > 300)
    counts = nl["logins_per_s"][rows] * 10.0
    spilled = (out.logins["decided_by"] == out.decider_names.index("spill")).mean()
    assert spilled > 0.2
    cv, poisson_cv = counts.std() / counts.mean(), 1.0 / np.sqrt(counts.mean())
    assert cv < 1.6 * poisson_cv, (cv, poisson_cv)
    # ... and it is held near the threshold: 0.85 x 2 workers / 60 ms = 28.3 logins/s.
    assert abs(counts.mean() / 10.0 - 28.3) < 2.0


def test_shed_share_grows_with_the_offered_load_and_a_down_node_is_not_overloaded() -> None:
    world = build_world(load_scenario(SCENARIOS / "tiny.yaml"))
    engine = Engine(world, 0, np.random.SeedSequence(1))
    strategy = engine.strategy
    assert isinstance(strategy, MultiLevel)
    node = engine.nodes[world.topology.index["access-singapore"]]
    n = node.idx
    shares = []
    for util in (0.5, 0.9, 1.2, 5.0, 100.0):
        strategy._shed[n] = 0.0
        node.util_published = util
        node.report_seq += 1
        strategy._update_shed(n)
        shares.append(strategy._shed[n])
    assert shares[0] == 0.0
    assert shares[1] == 1.0 - 0.85 / 0.9
    assert shares == sorted(shares) and shares[-1] == MAX_SHED
    # The share is of the offered load: a node that sheds half and still reports 0.85 was
    # offered 1.7, so it keeps shedding half (no flapping back to zero).
    strategy._shed[n] = 0.5
    node.util_published = 0.85
    node.report_seq += 1
    strategy._update_shed(n)
    assert abs(strategy._shed[n] - 0.5) < 1e-12
    # A node that went down sent no new report: its last one stands, and it is not shed.
    strategy._shed[n] = 0.0
    node.util_published = 0.1
    node.report_seq += 1
    node.up = False
    assert not any(strategy._overloaded(n, 0.0) for _ in range(100))


def test_sessions_start_in_steady_state() -> None:
    # Sessions are M/G/infinity: a run that starts empty takes several session lifetimes to
    # fill up. Started in the stationary state, connections at minute 1 are those at the end.
    world = build_world(load_scenario(SCENARIOS / "tiny.yaml", {
        "duration": "40m", "warmup": "0s", "population.diurnal.amplitude": 0.0,
        "population.session.mean_duration": "20m"}))
    out = run_replication(world, 0, np.random.SeedSequence(2))
    nl = out.node_load
    edge = np.isin(nl["node"], world.edge_nodes)
    early = nl["connections"][edge & (nl["t_s"] >= 60) & (nl["t_s"] < 70)].sum()
    late = nl["connections"][edge & (nl["t_s"] >= 2350) & (nl["t_s"] < 2360)].sum()
    assert early > 1000
    assert abs(early / late - 1.0) < 0.05, (early, late)
