"""Baseline strategies to compare the multi-level algorithm against.

- ``random``: a uniformly random access or cache node, then the rest by RTT.
- ``round_robin``: the next node in a global rotation, then the rest by RTT.
- ``nearest_geo``: nodes by great-circle distance from the terminal's city.
- ``oracle``: the node with the lowest expected login time given true RTTs and current load
  (queue and backend), which no real SDK knows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from sim.addressing.base import DnsAnswer, NodeView, Strategy
from sim.addressing.registry import register_strategy
from sim.scenario import Addressing

if TYPE_CHECKING:
    from sim.build import World

__all__ = ["RandomStrategy", "RoundRobin", "NearestGeo", "Oracle"]


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
    """The lowest expected login time given true RTTs and the load right now."""

    def __init__(self, world: World, spec: Addressing, nodes: Sequence[NodeView],
                 rng: np.random.Generator):
        super().__init__(world, spec, nodes, rng)
        rtts = world.scenario.protocol.handshake_rtts + 1.0
        edge = list(world.edge_nodes)
        dc = world.node_dc_rtt_ms
        self._edge = edge
        self._static = [[rtts * float(world.site_node_rtt_ms[s, n])
                         + (1.0 - world.params.cache_hit_ratio[n]) * float(dc[n])
                         + 1000.0 * world.params.service_s[n] for n in edge]
                        for s in range(len(world.sites))]

    def plan(self, site: int, user: int, now: float, answer: DnsAnswer) -> tuple[list[int], str]:
        nodes = self.nodes
        cost = []
        for n, base in zip(self._edge, self._static[site]):
            node = nodes[n]
            if not node.up or node.connections(now) >= node.conn_limit:
                continue
            waiting = node.busy + node.queue_len - node.workers + 1
            wait_ms = 1000.0 * node.service_s * waiting / node.workers if waiting > 0 else 0.0
            cost.append((base + wait_ms, n))
        if not cost:
            return list(self.world.site_global_order[site]), "oracle"
        cost.sort()
        best = [n for _, n in cost]
        listed = set(best)
        return best + [n for n in self.world.site_global_order[site] if n not in listed], "oracle"
