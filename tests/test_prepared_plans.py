"""Batch planning (the hot path) against the one-login-at-a-time path it stands in for.

The engine plans arrivals from tokens that ``Strategy.prepare`` computed in numpy for a whole
chunk, while every node is up. These tests hold the prepared path to the general one: the same
DNS answers and costs, the same candidate orders when the probes carry no noise, the same live
levels (sticky, spill), and with noise the same distribution of race winners.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import simpy

from sim.addressing.multilevel import MultiLevel
from sim.addressing.region import GeoDns
from sim.model.world import World, build_world
from sim.engine.nodes import NodeState
from sim.config import load_scenario
from sim.model.workload import Workload
from tests.conftest import SCENARIOS


def _world(levels: list[dict], **overrides: object) -> World:
    return build_world(load_scenario(SCENARIOS / "global-baseline.yaml", {
        "duration": "2m", "warmup": "0s", "replications": 1,
        "addressing.levels": levels, **overrides}))


LEVELS = [{"region": {"public_resolver_share": 0.3, "dns_ttl": "5m"}},
          {"nearest": {"probe_top_k": 3, "probe_noise_ms": 0.0}},
          {"sticky": {"enabled": True}},
          {"spill": {"max_utilization": 0.5, "max_queue": 2, "max_connection_share": 0.5}},
          {"failover": {}}]


def _parts(world: World, seed: int = 3):
    env = simpy.Environment()
    p = world.params
    nodes = [NodeState(env, i, k, p.workers[i], p.service_s[i], p.service_distribution[i],
                       p.cache_hit_ratio[i], p.connection_limit[i], False)
             for i, k in enumerate(world.topology.kinds)]
    ss = np.random.SeedSequence(seed).spawn(3)
    workload = Workload(world.scenario, world.sites, ss[0])
    dns = GeoDns(world, world.scenario.addressing.region, None, workload.users_per_site,
                 np.random.default_rng(ss[1]))
    strategy = MultiLevel(world, world.scenario.addressing, nodes,
                          np.random.default_rng(ss[2]))
    chunk = next(workload.chunks())
    return env, nodes, dns, strategy, chunk


def test_fresh_regions_are_what_a_lookup_answers() -> None:
    world = _world(LEVELS)
    _, _, dns, _, chunk = _parts(world)
    regions = dns.fresh_codes(chunk.site_array, chunk.user_array)
    assert len(set(regions.tolist())) > 3  # public resolvers map terminals to other regions
    for i in range(len(chunk)):
        answer = dns.lookup(chunk.site[i], chunk.user[i], 0.0, chunk.last_mile_ms[i])
        assert answer.region == dns.region_of(regions[i])
        assert (answer.nodes, answer.others) == dns.complete_view(chunk.site[i], regions[i])


def test_a_resolver_cache_is_shared_by_the_terminals_behind_it() -> None:
    world = _world(LEVELS)
    _, _, dns, _, _ = _parts(world)
    isp = [u for u in range(5000) if dns.resolver[u] == 0][:2]  # site 0, its ISP resolver
    auth_ms = world.resolvers.key_auth_rtt_ms[world.resolvers.site_key[0, 0]]
    first, region, _ = dns.lookup_fast(0, isp[0], 10.0, 20.0)
    assert first == pytest.approx(20.0 + 2.0 + auth_ms)  # last mile, resolver, authoritative
    assert dns.lookup_fast(0, isp[0], 20.0, 20.0)[0] == 0.0  # the terminal's own cache
    second = dns.lookup_fast(0, isp[1], 30.0, 25.0)
    assert second == (25.0 + 2.0, region, 0)  # the resolver's cache: no authoritative trip
    assert (dns.lookups, dns.auth_queries) == (2, 1)
    # The terminal keeps what is left of the resolver's TTL, not a fresh one.
    assert dns.expiry[isp[1]] == 10.0 + 300.0
    # An answer resolved while a node was believed down holds that epoch until it expires.
    node = world.edge_nodes[0]
    dns.set_up(node, False)
    cost, _, epoch = dns.lookup_fast(0, isp[0], 400.0, 20.0)
    dns.set_up(node, True)
    assert cost > 0 and not dns.all_up_at[epoch]
    assert dns.lookup_fast(0, isp[1], 401.0, 20.0)[2] == epoch  # shared: stale for both


def _general_and_prepared(world: World, env, nodes, dns, strategy, chunk, now: float = 1.0):
    regions = dns.fresh_codes(chunk.site_array, chunk.user_array)
    tokens = strategy.prepare(chunk.site_array, regions, dns.complete_view)
    assert tokens is not None and len(tokens) == len(chunk)
    out = []
    for i in range(len(chunk)):
        site, user = chunk.site[i], chunk.user[i]
        answer = dns.lookup(site, user, now, chunk.last_mile_ms[i])
        assert answer.region == dns.region_of(regions[i])
        general = strategy.plan(site, user, now, answer)
        prepared = strategy.plan_prepared(tokens[i], site, user, now)
        out.append((list(general[0]), general[1], list(prepared[0]), prepared[1]))
    return out


def test_without_probe_noise_the_prepared_plan_is_the_plan() -> None:
    world = _world(LEVELS)
    env, nodes, dns, strategy, chunk = _parts(world)
    # Live state for the live levels: terminals that logged in before, loaded nodes.
    rng = np.random.default_rng(5)
    for user in rng.choice(chunk.user_array, 2000).tolist():
        strategy.on_success(user, int(rng.choice(world.edge_nodes)))
    # Load reports over each threshold: utilisation, queue, connections.
    busy = world.edge_nodes[::3]
    for n in busy[:3]:
        nodes[n].util_published = 0.9
    nodes[busy[3]].queue_published = 80
    nodes[busy[4]].conn_limit = 10
    nodes[busy[4]].conns_published = 10
    for n in busy[:5]:
        nodes[n].report_seq += 1

    class AlwaysShed:  # the shedding draw: a shed share above zero always sheds
        @staticmethod
        def next() -> float:
            return 0.0

    strategy._u_shed = AlwaysShed()
    tags = Counter()
    for general, g_tag, prepared, p_tag in _general_and_prepared(world, env, nodes, dns,
                                                                strategy, chunk):
        assert prepared == general
        assert p_tag == g_tag
        tags[g_tag] += 1
    assert {"nearest", "sticky", "spill"} <= set(tags)  # every live level was exercised


def test_with_probe_noise_race_winners_have_the_same_distribution() -> None:
    levels = [{"region": {}}, {"nearest": {"probe_top_k": 2, "probe_noise_ms": 40.0}}]
    world = _world(levels)
    env, nodes, dns, strategy, chunk = _parts(world)
    general, prepared = Counter(), Counter()
    for g, _, p, _ in _general_and_prepared(world, env, nodes, dns, strategy, chunk):
        assert sorted(g) == sorted(p)  # the same candidates, maybe in another order
        general[g[0]] += 1
        prepared[p[0]] += 1
    n = sum(general.values())
    differs = sum(general[k] != prepared[k] for k in general)
    assert differs > 0  # the noise matters here
    for node in set(general) | set(prepared):
        # binomial standard error of a share, both samples: well within 5 of them
        share_g, share_p = general[node] / n, prepared[node] / n
        se = np.sqrt(max(share_g * (1 - share_g), 1 / n) * 2 / n)
        assert abs(share_g - share_p) < 5 * se, node


def test_prepare_declines_when_a_live_level_comes_before_nearest() -> None:
    levels = [{"region": {}}, {"sticky": {"enabled": True}}, {"nearest": {}}]
    world = _world(levels)
    _, _, dns, strategy, chunk = _parts(world)
    regions = dns.fresh_codes(chunk.site_array, chunk.user_array)
    assert strategy.prepare(chunk.site_array, regions, dns.complete_view) is None


def test_wide_probes_plan_the_same() -> None:
    """Probing more nodes than fit the batch's compact race codes takes another path (rows
    compared whole); it gives the same plans."""
    levels = [{"region": {"public_resolver_share": 0.3}},
              {"nearest": {"probe_top_k": 20, "probe_noise_ms": 0.0}}]
    world = _world(levels)
    env, nodes, dns, strategy, chunk = _parts(world)
    assert strategy._width ** strategy._width * 65536 * len(world.sites.names) > 2 ** 62
    for general, g_tag, prepared, p_tag in _general_and_prepared(world, env, nodes, dns,
                                                                strategy, chunk):
        assert (prepared, p_tag) == (general, g_tag)
