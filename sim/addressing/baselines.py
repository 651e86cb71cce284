"""Baseline strategies to compare the multi-level algorithm against.

- ``random``: a uniformly random access or cache node, then the rest by RTT.
- ``round_robin``: the next node in a global rotation, then the rest by RTT.
- ``nearest_geo``: nodes by great-circle distance from the terminal's city.
- ``oracle``: the node with the lowest expected login time given true RTTs and current load
  (queue and backend), which no real SDK knows.
- ``anycast``: the BGP route from the site's ingress hub picks the node (see :class:`Anycast`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import networkx as nx
import numpy as np

from sim.addressing.base import DnsAnswer, NodeView, Strategy
from sim.addressing.registry import register_strategy
from sim.config.schema import Addressing
from sim.model.latency import haversine_km

if TYPE_CHECKING:
    from sim.model.world import World

__all__ = ["RandomStrategy", "RoundRobin", "NearestGeo", "Oracle", "Anycast"]


def _rest_by_rtt(world: World, site: int, first: int) -> list[int]:
    return [first] + [n for n in world.site_global_order[site] if n != first]


@register_strategy("random")
class RandomStrategy(Strategy):
    """A uniformly random node; failover then goes by RTT."""

    def __init__(self, world: World, spec: Addressing, nodes: Sequence[NodeView],
                 rng: np.random.Generator):
        super().__init__(world, spec, nodes, rng)
        self._buf: list[int] = []

    def plan(self, site: int, user: int, now: float, answer: DnsAnswer) -> tuple[list[int], str]:
        if not self._buf:
            edge = self.world.edge_nodes
            self._buf = [edge[i] for i in self.rng.integers(0, len(edge), 4096).tolist()]
        return _rest_by_rtt(self.world, site, self._buf.pop()), "random"


@register_strategy("round_robin")
class RoundRobin(Strategy):
    """The next node in a global rotation; failover then goes by RTT."""

    def __init__(self, world: World, spec: Addressing, nodes: Sequence[NodeView],
                 rng: np.random.Generator):
        super().__init__(world, spec, nodes, rng)
        self._next = 0

    def plan(self, site: int, user: int, now: float, answer: DnsAnswer) -> tuple[list[int], str]:
        edge = self.world.edge_nodes
        first = edge[self._next % len(edge)]
        self._next += 1
        return _rest_by_rtt(self.world, site, first), "round_robin"


@register_strategy("nearest_geo")
class NearestGeo(Strategy):
    """Nodes by great-circle distance from the terminal's city."""

    def __init__(self, world: World, spec: Addressing, nodes: Sequence[NodeView],
                 rng: np.random.Generator):
        super().__init__(world, spec, nodes, rng)
        edge = np.array(world.edge_nodes)
        km = world.site_node_km[:, edge]
        self._order = [edge[np.argsort(row, kind="stable")].tolist() for row in km]

    def plan(self, site: int, user: int, now: float, answer: DnsAnswer) -> tuple[list[int], str]:
        return list(self._order[site]), "nearest_geo"


@register_strategy("oracle")
class Oracle(Strategy):
    """The lowest expected login time given true RTTs and the load right now: handshakes and
    request, the node's wait and service, and on a cache miss (by the node's hit ratio) the
    backbone trip and the home data center's wait and service."""

    def __init__(self, world: World, spec: Addressing, nodes: Sequence[NodeView],
                 rng: np.random.Generator):
        super().__init__(world, spec, nodes, rng)
        rtts = world.scenario.protocol.handshake_rtts + 1.0
        edge = list(world.edge_nodes)
        dc = world.node_dc_rtt_ms
        hits = world.expected_hit_ratio
        dc_service_ms = 1000.0 * world.params.service_s[world.home_dc]
        self._edge = edge
        self._home = world.home_dc
        self._miss = [1.0 - hits[n] for n in edge]
        self._static = [[rtts * float(world.site_node_rtt_ms[s, n])
                         + (1.0 - hits[n]) * (float(dc[n]) + dc_service_ms)
                         + 1000.0 * world.params.service_s[n] for n in edge]
                        for s in range(len(world.sites))]

    @staticmethod
    def _wait_ms(node: NodeView, now: float) -> float:
        """Expected wait for a worker now (the M/M/c queue ahead, served c at a time).

        With a worker free (``free[0] <= now``) nobody waits: 0. Otherwise every worker is
        busy and the queue ahead plus this login, ``queue_len + 1``, is served ``workers`` at
        a time. (The same as ``busy + queue_len - workers + 1`` logins ahead, read in O(1)
        when a worker is free, which is most of the time.)"""
        if node.free[0] <= now:
            return 0.0
        return 1000.0 * node.service_s * (node.queue_len + 1) / node.workers

    def plan(self, site: int, user: int, now: float, answer: DnsAnswer) -> tuple[list[int], str]:
        nodes = self.nodes
        wait_ms = self._wait_ms
        dc_wait_ms = wait_ms(nodes[self._home], now)
        cost = []
        for n, base, miss in zip(self._edge, self._static[site], self._miss):
            node = nodes[n]
            # open_conns bounds the open connections from above: count them only near the limit
            if not node.up or (node.open_conns >= node.conn_limit and
                               node.connections(now) >= node.conn_limit):
                continue
            cost.append((base + wait_ms(node, now) + miss * dc_wait_ms, n))
        if not cost:
            return list(self.world.site_global_order[site]), "oracle"
        cost.sort()
        best = [n for _, n in cost]
        listed = set(best)
        return best + [n for n in self.world.site_global_order[site] if n not in listed], "oracle"


@register_strategy("anycast")
class Anycast(Strategy):
    """BGP-like anycast: the route, not the RTT, picks the node.

    Each site's traffic enters the provider's backbone at a hub: the nearest hub, except
    that with probability ``policy_noise`` the site's ISP hands it off at its second or third
    nearest hub (peering policy, not distance). From that hub the route goes to the node the
    fewest backbone hops away (ties: the lowest backbone RTT), as shortest-AS-path routing
    would. A down node's route is withdrawn and the next one takes its catchment.
    """

    OPTIONS = {"policy_noise": 0.3}

    def __init__(self, world: World, spec: Addressing, nodes: Sequence[NodeView],
                 rng: np.random.Generator):
        super().__init__(world, spec, nodes, rng)

        noise = float(spec.options.get("policy_noise", self.OPTIONS["policy_noise"]))
        topo = world.topology
        hubs = [i for i, k in enumerate(topo.kinds) if k == "hub"]
        if not hubs:  # no hubs: every node is its own point of presence
            hubs = list(world.edge_nodes)
        private = nx.Graph()
        private.add_nodes_from(topo.node_ids)
        private.add_edges_from((u, v) for u, v, d in topo.graph.edges(data=True)
                               if d["network"] == "private")
        edge = list(world.edge_nodes)
        self._route_from_hub: dict[int, list[int]] = {}
        for h in hubs:
            hops = nx.single_source_shortest_path_length(private, topo.node_ids[h])
            ranked = sorted(edge, key=lambda n: (hops.get(topo.node_ids[n], 10**6),
                                                 float(world.backbone_rtt_ms[h, n]), n))
            self._route_from_hub[h] = ranked
        hub_lat, hub_lon = topo.lat[hubs], topo.lon[hubs]

        km = haversine_km(world.sites.lat[:, None], world.sites.lon[:, None],
                          hub_lat[None, :], hub_lon[None, :])
        order = np.argsort(km, axis=1, kind="stable")
        detour = rng.random(len(world.sites)) < noise
        pick = np.where(detour, rng.integers(1, 3, len(world.sites)), 0)
        pick = np.minimum(pick, len(hubs) - 1)
        self.ingress = [hubs[int(order[s, pick[s]])] for s in range(len(world.sites))]

    def plan(self, site: int, user: int, now: float, answer: DnsAnswer) -> tuple[list[int], str]:
        nodes = self.nodes
        route = self._route_from_hub[self.ingress[site]]
        first = next((n for n in route if nodes[n].up), route[0])
        return _rest_by_rtt(self.world, site, first), "anycast"
