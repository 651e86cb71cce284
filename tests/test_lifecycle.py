"""The session lifecycle as the SDK lives it: persistent terminals, sticky, login tickets,
heartbeat detection, backoff, the retry budget and the login deadline."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

import sim
from sim.config.loading import load_scenario
from sim.engine.loop import Engine
from sim.model.workload import user_pool_size
from sim.model.world import build_world
from tests.conftest import SCENARIOS

BRUSSELS = {"name": "Brussels", "lat": 50.85, "lon": 4.35, "region": "europe"}
PARIS = {"name": "Paris", "lat": 48.85, "lon": 2.35, "region": "europe"}
SINGAPORE = {"name": "Singapore", "lat": 1.29, "lon": 103.85, "region": "asia"}


def _one_site(site: dict, **overrides) -> dict:
    return {"population.source": "sites", "population.sites": [site],
            "population.diurnal.amplitude": 0.0, "warmup": "0s", **overrides}


def test_a_terminal_keeps_its_network_across_its_logins() -> None:
    res = sim.run(SCENARIOS / "tiny.yaml", overrides={
        "population.logins_per_user_per_day": 200, "population.dau": 20_000,
        "duration": "5m", "warmup": "0s"})
    by_user = res.logins.groupby("user")
    repeat = by_user.size() > 1
    assert repeat.sum() > 1000
    assert (by_user["access_type"].nunique()[repeat] == 1).all()
    assert (by_user["last_mile_ms"].nunique()[repeat] == 1).all()


def test_sticky_decides_as_often_as_the_last_node_is_not_the_nearest_choice() -> None:
    """Every terminal remembers the node of its last login (from t = 0: terminals are in
    steady state) and the sticky level sends it back there, so that node never changes. The
    nearest level's first choice is an independent draw per login: node ``i`` wins with
    probability ``q_i``, the chance that its probe (RTT plus an exponential delay of mean
    ``probe_noise_ms``) is the smallest. A login's last node is such a draw too, so sticky
    changes the choice with probability ``sum_i q_i (1 - q_i) = 1 - sum_i q_i^2``."""
    overrides = _one_site(BRUSSELS, duration="10m", **{
        "population.dau": 200_000, "population.logins_per_user_per_day": 20})
    world = build_world(load_scenario(SCENARIOS / "tiny.yaml", overrides))
    nodes = [world.topology.index[n] for n in ("access-frankfurt", "access-london",
                                               "cache-paris")]
    rtt = world.site_node_rtt_ms[0, nodes]
    noise = 5.0  # the default probe_noise_ms
    rng = np.random.default_rng(0)
    est = rtt + noise * rng.standard_exponential((1_000_000, len(nodes)))
    q = np.bincount(est.argmin(axis=1), minlength=len(nodes)) / len(est)
    assert q.max() < 0.8  # a real choice between the three
    expected = 1.0 - float(np.sum(q ** 2))
    res = sim.run(SCENARIOS / "tiny.yaml", overrides=overrides)
    decided = res.logins.decided_by.value_counts(normalize=True)
    n = len(res.logins)
    assert n > 10_000
    assert abs(decided.get("sticky", 0.0) - expected) < 4 * math.sqrt(expected / n) + 0.005


def _ticket_run(ttl_s: float, logins_per_day: float):
    overrides = _one_site(PARIS, duration="10m", **{
        "population.dau": 50_000, "population.logins_per_user_per_day": logins_per_day,
        "nodes.cache.ticket_ttl": ttl_s})
    return sim.run(SCENARIOS / "tiny.yaml", overrides=overrides)


def test_a_ticket_hit_needs_a_login_through_the_node_within_the_ttl() -> None:
    """A terminal logs in as a Poisson process of rate ``r``; at t = 0 its last login was an
    exponential time back. It logs in without the data center when its previous login
    through the cache node ended within the ticket's TTL: ``1 - exp(-r * ttl)``."""
    ttl, per_day, dau = 1200.0, 72.0, 50_000
    res = _ticket_run(ttl, per_day)
    rate = dau * per_day / 86400.0 / user_pool_size(dau, per_day)
    expected = 1.0 - math.exp(-rate * ttl)
    L = res.logins
    at_cache = L[(L.node == "cache-paris") & (L.outcome == "ok")]
    assert len(at_cache) > 5_000
    hit = at_cache.backend_ms == 0.0
    assert abs(hit.mean() - expected) < 4 * math.sqrt(expected * (1 - expected)
                                                      / len(at_cache)) + 0.005
    # The node counts its ticket logins, and so does the run.
    whole = res.summary["logins"]["whole_run"]
    assert whole["ticket_hits"] == res.summary["nodes"]["cache-paris"]["ticket_hits"] > 0

    # Login by login: a hit exactly when the terminal's previous login through a
    # ticket-keeping node was this one and ended within the TTL (rows whose previous login
    # is in the run; the first ones rely on the tickets held at t = 0).
    ok = L[L.outcome == "ok"].sort_values("t_start_s")
    ok = ok.assign(t_end=ok.t_start_s + ok.latency_ms / 1000.0)
    prev_end = ok.groupby("user").t_end.shift()
    prev_node = ok.groupby("user").node.shift()
    rows = ok[(ok.node == "cache-paris") & prev_end.notna()]
    # (the ticket is checked when the request reaches the node, a few ms after the start)
    predicted = (prev_node[rows.index] == "cache-paris") & \
        (rows.t_start_s - prev_end[rows.index] <= ttl)
    assert len(rows) > 1_000
    assert ((rows.backend_ms == 0.0) == predicted).mean() > 0.995


def test_a_longer_ticket_ttl_never_lowers_the_hit_share() -> None:
    shares = []
    for ttl in (60.0, 600.0, 3600.0):
        L = _ticket_run(ttl, 24.0).logins
        at_cache = L[(L.node == "cache-paris") & (L.outcome == "ok")]
        shares.append(float((at_cache.backend_ms == 0.0).mean()))
    assert shares[0] < shares[1] < shares[2]


def _reconnect_delays(**overrides) -> pd.Series:
    res = sim.run(SCENARIOS / "tiny.yaml", overrides=_one_site(SINGAPORE, **{
        "duration": "10m", "population.dau": 100_000,
        "events": [{"at": "2m", "node_down": "access-singapore", "for": "8m"}],
        **overrides}))
    L = res.logins
    return L.t_start_s[L.trigger == "reconnect"] - 120.0


def test_a_dropped_session_is_noticed_at_its_next_unanswered_heartbeat() -> None:
    """Detection: the time to the terminal's next heartbeat (uniform over the 270-s
    interval), then the answer's timeout (12 s on Wi-Fi and fixed lines, 15 s on mobile), then
    a uniform spread of up to 1 s before the reconnect."""
    delays = _reconnect_delays()
    assert len(delays) > 1_000
    assert delays.min() >= 12.0
    assert delays.max() <= 270.0 + 15.0 + 1.0
    # default mix: 65% mobile (4G and 5G), 35% Wi-Fi and fixed lines
    expected = 135.0 + 0.65 * 15.0 + 0.35 * 12.0 + 0.5
    assert abs(delays.mean() - expected) < 4 * 78.0 / math.sqrt(len(delays))
    # a reset (a crashed process on a live host) is noticed at once
    reset = _reconnect_delays(**{"reconnect.reset_share": 1.0})
    assert reset.min() >= 0.0 and reset.max() <= 1.0


def test_anycast_logins_fail_at_the_deadline_instead_of_waiting_minutes() -> None:
    """The anycast Frankfurt outage: logins used to wait for minutes (the slowest success
    took 271 s). Now the SDK abandons an attempt after its answer timeout and gives up at
    its 60-s deadline."""
    res = sim.run(SCENARIOS / "node-failure.yaml", overrides={
        "addressing.strategy": "anycast", "replications": 1, "duration": "12m",
        "warmup": "0s", "events": [{"at": "3m", "node_down": "access-frankfurt",
                                    "for": "5m"}]})
    L = res.logins
    ok = L[L.outcome == "ok"]
    assert ok.latency_ms.max() <= 60_000.0
    assert L.latency_ms.max() <= 60_000.0
    assert (L.outcome != "ok").mean() > 0.01
    whole = res.summary["logins"]["whole_run"]
    assert whole["expired_attempts"] > 0


def _engine(**overrides) -> Engine:
    world = build_world(load_scenario(SCENARIOS / "tiny.yaml", overrides))
    return Engine(world, 0, np.random.SeedSequence(3))


def test_backoff_follows_grpc_connection_backoff() -> None:
    engine = _engine()
    for n, base in ((1, 1.0), (2, 1.6), (4, 1.6 ** 3), (20, 120.0)):
        waits = np.array([engine._backoff_s(n) for _ in range(20_000)])
        assert waits.min() >= 0.8 * base - 1e-9 and waits.max() <= 1.2 * base + 1e-9
        assert abs(waits.mean() - base) < 0.01 * base


def test_the_retry_budget_lets_through_a_share_of_first_attempts_plus_a_reserve() -> None:
    """Finagle's budget at one node: first attempts at 100/s and retries offered at 100/s;
    over a long run about ``percent * 100 + min_per_s`` = 30 retries a second pass."""
    engine = _engine()
    node = engine.nodes[0]
    allowed = 0
    steps = 100_000  # 1,000 s in steps of 10 ms: one first attempt and one retry each
    for k in range(steps):
        node.first_attempts += 1
        allowed += engine._budget_allows(node, k * 0.01)
    rate = allowed / (steps * 0.01)
    assert abs(rate - (0.2 * 100 + 10)) < 1.0


def test_a_terminal_whose_session_dropped_does_not_go_back_to_the_dead_node() -> None:
    """Sticky with no spill level: the reconnects used to go back to the failed node (2,866
    timeouts, reconnect p50 3.65 s). A terminal whose session dropped avoids that node and
    forgets it as its sticky choice."""
    res = sim.run(SCENARIOS / "tiny.yaml", overrides={
        "duration": "8m", "warmup": "0s", "population.dau": 400_000,
        "addressing.levels": ["region", "nearest", "sticky", "failover"],
        "events": [{"at": "1m", "node_down": "access-singapore", "for": "7m"}]})
    L = res.logins
    rc = L[L.trigger == "reconnect"]
    assert len(rc) > 1_000
    assert (rc.attempts == 1).mean() > 0.99
    assert not (rc.node == "access-singapore").any()
    assert rc.latency_ms.median() < 1_000.0
