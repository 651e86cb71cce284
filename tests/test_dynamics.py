"""Failures, reconnect storms, stale DNS, flash crowds: conservation and metamorphic tests."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sim
from sim.model.world import build_world
from sim.engine.loop import run_replication
from sim.config import load_scenario
from sim.model.workload import Workload
from tests.conftest import SCENARIOS

OUTAGE = [{"at": "2m", "node_down": "access-singapore", "for": "2m"}]


def _world(**overrides):
    base = {"duration": "6m", "warmup": "0s", "population.dau": 1_500_000}
    return build_world(load_scenario(SCENARIOS / "tiny.yaml", {**base, **overrides}))


def _run(world, seed: int = 1, trace: bool = False):
    return run_replication(world, 0, np.random.SeedSequence(seed), trace_attempts=trace)


def test_conservation_with_failures_and_reconnect_storms() -> None:
    out = _run(_world(events=OUTAGE))
    c = out.counts
    assert c["attempted"] == c["succeeded"] + c["failed"] + c["in_flight"]
    assert c["succeeded"] + c["failed"] == len(out.logins["login_id"])
    dropped = int(out.node_stats["dropped_sessions"].sum())
    assert dropped > 1000
    assert c["reconnects"] == dropped  # every dropped session comes back as a login
    assert int((out.logins["trigger"] == 1).sum()) <= dropped
    assert np.unique(out.logins["login_id"]).size == len(out.logins["login_id"])


def test_reconnects_off_means_no_reconnect_logins() -> None:
    out = _run(_world(events=OUTAGE, **{"reconnect.enabled": False}))
    assert out.counts["reconnects"] == 0
    assert out.node_stats["dropped_sessions"].sum() > 0


def test_a_terminal_does_not_retry_a_node_it_saw_time_out() -> None:
    # Without probing (nearest) or load reports (spill), a stale answer's first node is tried.
    world = _world(events=OUTAGE, **{"addressing.levels": [{"region": {"dns_ttl": "10m"}},
                                                            {"sticky": {}}, {"failover": {}}]})
    fo = world.scenario.addressing.failover
    out = _run(world, trace=True)
    assert out.attempts is not None
    timeouts = [(t, u, n) for t, _, u, n, r in out.attempts if r == "timeout"]
    assert timeouts, "a stale DNS answer should send some terminals to the down node"
    seen = {}
    for t, _, user, node, result in out.attempts:
        last = seen.get((user, node))
        if last is not None:
            # The timeout is seen at last + connect_timeout; the node is avoided after that.
            assert not (last + fo.connect_timeout <= t < last + fo.connect_timeout
                        + fo.avoid_for - 1e-9), (user, node, last, t)
        if result == "timeout":
            seen[(user, node)] = t


def test_with_dns_ttl_zero_no_login_goes_to_a_down_node_once_dns_detected_it() -> None:
    # Health checks every 30 s, 3 failures in a row: DNS drops the node 60-90 s after it
    # fails; with TTL 0 nothing caches the answer, so from then on no login is sent there.
    # (No resolver stretches the TTL here.)
    world = _world(events=OUTAGE, **{"addressing.levels": [
        {"region": {"dns_ttl": 0, "ttl_stretch_share": 0}}, {"sticky": {}}, {"failover": {}}]})
    out = _run(world, trace=True)
    down = world.topology.index["access-singapore"]
    t0 = dict(zip(out.logins["login_id"].tolist(), out.logins["t_start_s"].tolist()))
    sent = [t0[a[1]] for a in out.attempts if a[3] == down and 120.0 < t0.get(a[1], 0.0) < 240.0]
    assert sent and min(sent) < 120.0 + 60.0  # before detection: the answers list it
    assert max(sent) < 120.0 + 90.0 + 1.0  # after detection (plus the login's own DNS trip)
    # ...whereas with a long TTL, stale answers do send some there.
    stale = _run(_world(events=OUTAGE, **{"addressing.levels": [
        {"region": {"dns_ttl": "10m"}}, {"sticky": {}}, {"failover": {}}]}), trace=True)
    assert any(a[3] == down and a[4] == "timeout" for a in stale.attempts)


def _region_counts(scenario, lo: float, hi: float) -> dict[str, int]:
    world = build_world(scenario)
    wl = Workload(scenario, world.sites, np.random.SeedSequence(5))
    counts: dict[str, int] = {}
    for chunk in wl.chunks():
        for t, s in zip(chunk.t_s, chunk.site):
            if lo <= t < hi:
                r = world.sites.regions[s]
                counts[r] = counts.get(r, 0) + 1
    return counts


def _expected(scenario, lo: float, hi: float) -> dict[str, float]:
    world = build_world(scenario)
    wl = Workload(scenario, world.sites, np.random.SeedSequence(5))
    edges = wl.bin_edges()
    exp: dict[str, float] = {}
    regions = np.array(world.sites.regions)
    for a, b in zip(edges, edges[1:]):
        if a >= lo and b <= hi:
            rate = wl.rate_per_s((a + b) / 2) * (b - a)
            for r in set(world.sites.regions):
                exp[r] = exp.get(r, 0.0) + float(rate[regions == r].sum())
    return exp


def test_flash_crowd_multiplies_only_its_regions_arrivals() -> None:
    base = load_scenario(SCENARIOS / "tiny.yaml", {"duration": "10m"})
    crowd = base.with_overrides({"events": [
        {"at": "2m", "flash_crowd": {"region": "europe", "multiplier": 5}, "for": "6m"}]})
    got_base, got_crowd = _region_counts(base, 120, 480), _region_counts(crowd, 120, 480)
    exp_base = _expected(base, 120, 480)
    for region, n in exp_base.items():
        factor = 5.0 if region == "europe" else 1.0
        # Poisson: within 4 standard deviations of the expected count.
        assert abs(got_crowd[region] - factor * n) < 4 * math.sqrt(factor * n), region
        assert abs(got_base[region] - n) < 4 * math.sqrt(n), region
    ratio = got_crowd["europe"] / got_base["europe"]
    assert 4.5 < ratio < 5.5


@pytest.mark.parametrize("short,long", [("30s", "1m"), ("1m", "2m"), ("2m", "3m")])
def test_a_longer_outage_never_lowers_failed_logins(short: str, long: str) -> None:
    # No other candidate and one attempt: a login that meets the down node fails.
    # Enough workers that the reconnects after the outage never queue past a deadline.
    strict = {"addressing.levels": [{"region": {"dns_ttl": "10m"}},
                                    {"failover": {"max_attempts": 1, "other_regions": False}}],
              "population.regions": ["asia"], "nodes.access.workers": 64}

    def failed(length: str) -> int:
        world = _world(events=[{"at": "1m", "node_down": "access-singapore", "for": length}],
                       **strict)
        return _run(world).counts["failed"]

    assert failed(long) >= failed(short) > 0


def test_more_capacity_on_the_spill_target_never_raises_its_queue() -> None:
    # Routing without load feedback (no spill level), so Tokyo takes the same logins whatever
    # its capacity; with load-aware spill, spare capacity attracts more logins by design.
    def tokyo_queue(workers: int) -> float:
        world = _world(events=OUTAGE, **{
            "nodes.overrides": {"access-tokyo": {"workers": workers}},
            "addressing.levels": [{"region": {}}, {"nearest": {}}, {"failover": {}}]})
        out = _run(world)
        i = world.topology.index["access-tokyo"]
        return float(out.node_stats["q_area"][i])

    queues = [tokyo_queue(w) for w in (2, 4, 8)]
    assert queues[0] >= queues[1] >= queues[2]
    assert queues[0] > 0


def test_datacenter_down_fail_or_queue() -> None:
    # Shorter than the SDK's 60-s deadline: a queued login waits for the data center.
    ev = {"at": "2m", "datacenter_down": "dc-singapore", "for": "30s"}
    failing = sim.run(SCENARIOS / "tiny.yaml", overrides={
        "duration": "5m", "warmup": "0s", "events": [ev]})
    queued = sim.run(SCENARIOS / "tiny.yaml", overrides={
        "duration": "5m", "warmup": "0s", "events": [{**ev, "mode": "queue"}]})
    assert failing.summary["logins"]["failed"] > 0
    assert queued.summary["logins"]["failed"] == 0
    slow = queued.logins[(queued.logins.t_start_s > 122) & (queued.logins.t_start_s < 140)]
    assert slow.backend_ms.median() > 5_000  # they waited for the data center to return


def test_a_queued_login_fails_at_its_deadline() -> None:
    # Longer than the deadline: logins held for the data center give up when their answer
    # timeout (12-15 s) has passed on every attempt, or at the 60-s deadline.
    ev = {"at": "2m", "datacenter_down": "dc-singapore", "for": "3m", "mode": "queue"}
    res = sim.run(SCENARIOS / "tiny.yaml", overrides={
        "duration": "6m", "warmup": "0s", "events": [ev]})
    L = res.logins
    assert res.summary["logins"]["whole_run"]["deadline_failures"] > 0
    assert L.latency_ms.max() <= 60_000 + 1e-6
    failed = L[(L.outcome != "ok") & (L.t_start_s > 125) & (L.t_start_s < 230)]
    assert len(failed) > 0 and failed.latency_ms.min() > 12_000


def test_region_link_degradation_adds_latency_only_on_that_pair() -> None:
    ev = {"at": "1m", "for": "3m", "link_degraded": {"regions": ["europe", "europe"],
                                                       "extra_ms": 80}}
    base = sim.run(SCENARIOS / "tiny.yaml", overrides={"duration": "5m", "warmup": "0s"})
    hit = sim.run(SCENARIOS / "tiny.yaml", overrides={"duration": "5m", "warmup": "0s",
                                                      "events": [ev]})

    def mean(res, region):
        L = res.logins
        m = L[(L.t_start_s > 70) & (L.t_start_s < 230) & (L.region == region)]
        return m.connect_ms.mean()

    assert mean(hit, "europe") - mean(base, "europe") > 150  # ~3 round trips of +80 ms
    assert abs(mean(hit, "asia") - mean(base, "asia")) < 15


def test_event_metrics_in_the_summary() -> None:
    # Long enough to recover: DNS takes the node back after its health checks (up to 90 s),
    # and answers without it live out their TTL (5 minutes) after that.
    res = sim.run(SCENARIOS / "tiny.yaml", overrides={
        "duration": "12m", "warmup": "0s", "population.dau": 1_500_000, "events": OUTAGE})
    (ev,) = res.summary["events"]
    assert ev["event"] == "node_down access-singapore"
    assert ev["reconnects"] > 0
    assert ev["extra_latency_ms"]["p95"] > 0
    assert ev["spill_targets"][0]["node"] in {"access-tokyo", "access-frankfurt",
                                              "access-london", "cache-paris"}
    assert set(ev["decided_by"]) == {"before", "during", "after"}
    assert ev["recovery_s"] is not None


def test_node_load_and_figures_mark_the_events(tmp_path) -> None:
    from sim.views.plots import save_figures

    res = sim.run(SCENARIOS / "tiny.yaml", overrides={
        "duration": "5m", "warmup": "0s", "events": [
            {"at": "2m", "node_down": "access-singapore", "for": "1m"},
            {"at": "4m", "node_up": "access-tokyo"}]})
    nl = res.node_load
    during = nl[(nl.t_s > 120) & (nl.t_s <= 180)]
    assert (during.events == "node_down access-singapore").all()
    assert set(nl[nl.t_s == 240].events) == {"node_up access-tokyo"}
    assert (nl[(nl.t_s <= 120) | ((nl.t_s > 180) & (nl.t_s < 240))].events == "").all()
    names = [p.name for p in save_figures(res, tmp_path)]
    assert "decided_by.png" in names


def test_a_login_beyond_its_node_when_the_node_dies_fails_over() -> None:
    # A login on the backbone, at the data center or on its way back when its edge node goes
    # down has lost its connection: it may not succeed through the dead node. (The home
    # data center far away: many logins are on the backbone at any moment.)
    world = _world(events=OUTAGE, home_datacenter="dc-frankfurt")
    out = _run(world, trace=True)
    lg = out.logins
    down = world.topology.index["access-singapore"]
    end = lg["t_start_s"] + lg["latency_ms"] / 1000.0
    ok = lg["outcome"] == 0
    through = ok & (lg["node"] == down)
    # (An answer already on its way from the node to the terminal still arrives: allow one
    # RTT of the path, more than its last half takes even with jitter.)
    left_node = end - (lg["rtt_ms"] + lg["last_mile_ms"]) / 1000.0
    assert not (through & (lg["t_start_s"] < 120.0) & (left_node > 120.0)).any()
    # Some were caught there, and logged in through another node after failing over.
    caught = {a[1] for a in out.attempts if a[3] == down and a[0] < 120.0}
    moved = ok & np.isin(lg["login_id"], list(caught)) & (lg["node"] != down) & (end > 120.0)
    assert moved.sum() > 0


# ------------------------------------------------------------------ overlapping events compose

_TINY_EDGE = {"asia": ["access-singapore", "access-tokyo"],
              "europe": ["access-frankfurt", "access-london", "cache-paris"]}


def _random_events(rng: np.random.Generator, duration_s: int) -> list[dict]:
    """Overlapping node_down (with and without for), region_outage, datacenter_down and
    node_up events at distinct whole seconds."""
    nodes = [n for ns in _TINY_EDGE.values() for n in ns] + ["dc-singapore"]
    times = rng.choice(np.arange(1, duration_s - 1), size=int(rng.integers(2, 9)),
                       replace=False)
    events = []
    for t in sorted(times.tolist()):
        kind = rng.choice(["node_down", "node_down", "region_outage", "datacenter_down",
                           "node_up"])
        ev: dict = {"at": f"{t}s"}
        if kind == "region_outage":
            ev["region_outage"] = str(rng.choice(list(_TINY_EDGE)))
        elif kind == "datacenter_down":
            ev["datacenter_down"] = "dc-singapore"
        else:
            ev[str(kind)] = str(rng.choice(nodes))
        if kind != "node_up" and rng.random() < 0.8:
            ev["for"] = f"{int(rng.integers(1, duration_s))}s"
        events.append(ev)
    return events


def _reference_down(events: list[dict], node: str, t: float) -> bool:
    """Whether ``node`` is down at ``t`` by a count of the events holding it down (node_up
    releases every hold)."""
    changes = []  # (time, order, +1 / -1 / 'up')
    for order, ev in enumerate(events):
        at = float(ev["at"][:-1])
        targets = [ev[k] for k in ("node_down", "datacenter_down", "node_up") if k in ev]
        if "region_outage" in ev:
            targets = _TINY_EDGE[ev["region_outage"]]
        if node not in targets:
            continue
        if "node_up" in ev:
            changes.append((at, order, "up"))
            continue
        changes.append((at, order, +1))
        if "for" in ev:
            changes.append((at + float(ev["for"][:-1]), order, -1))
    holds = 0
    for time, _, change in sorted(changes, key=lambda c: (c[0], c[1])):
        if time > t:
            break
        holds = 0 if change == "up" else max(0, holds + change)
    return holds > 0


@pytest.mark.parametrize("case", range(25))
def test_overlapping_node_events_compose_like_a_hold_count(case: int) -> None:
    from sim.engine.loop import Engine

    rng = np.random.default_rng(1000 + case)
    duration = 300
    events = _random_events(rng, duration)
    world = build_world(load_scenario(SCENARIOS / "tiny.yaml", {
        "duration": f"{duration}s", "warmup": "0s", "population.dau": 20_000,
        "events": events}))
    engine = Engine(world, 0, np.random.SeedSequence(case))
    engine.run(None)
    ids = world.topology.node_ids
    probe_times = sorted({float(e["at"][:-1]) + 0.5 for e in events}
                         | {float(e["at"][:-1]) + float(e["for"][:-1]) + 0.5
                            for e in events if "for" in e})
    for i, node in enumerate(engine.nodes):
        for t in probe_times:
            up = True
            for when, state in node.changes:
                if when <= t:
                    up = state
            assert up != _reference_down(events, ids[i], t), (ids[i], t, events)


def test_an_event_after_the_end_of_the_run_is_an_error() -> None:
    with pytest.raises(sim.ScenarioError) as e:
        load_scenario(SCENARIOS / "tiny.yaml", {
            "events": [{"at": "20m", "node_down": "access-tokyo"}]})
    assert str(e.value) == ("--set: events: events[0] (node_down at 1200 s) starts after the "
                            "run ends (duration 600 s): move it inside the run or lengthen "
                            "the duration")


def test_node_load_says_which_events_hold_a_node_down() -> None:
    # A 5-s node_down inside a 60-s outage of its region: the node stays down to the end of the
    # region's outage, and node_load.csv names what holds it at each sample.
    events = [{"at": "60s", "region_outage": "asia", "for": "60s"},
              {"at": "70s", "node_down": "access-tokyo", "for": "5s"}]
    res = sim.run(load_scenario(SCENARIOS / "tiny.yaml", {
        "duration": "4m", "warmup": "0s", "population.dau": 50_000, "events": events,
        "outputs.sample_every": "1s"}), replications=1)
    nl = res.node_load
    tokyo = nl[nl["node"] == "access-tokyo"].set_index("t_s")["down_by"]
    assert "region_outage" in tokyo.loc[65.0] and "node_down" not in tokyo.loc[65.0]
    assert "node_down" in tokyo.loc[72.0] and "region_outage" in tokyo.loc[72.0]
    assert "node_down" not in tokyo.loc[100.0] and "region_outage" in tokyo.loc[100.0]
    assert tokyo.loc[125.0] == ""
    # ... and it served nothing until the region came back.
    served = nl[nl["node"] == "access-tokyo"].set_index("t_s")["logins_per_s"]
    assert served.loc[80.0:119.0].max() == 0
