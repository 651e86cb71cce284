"""Disruptions: the scenario's scheduled events put on the calendar (nodes, regions and data
centers going down and up, degraded links and region pairs) and the state they leave for the
login lifecycle to read (extra delay and loss on backbone trips and public paths, what logins
do while the home data center is down)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import simpy

from sim.engine.environment import SimEnvironment
from sim.model.world import World

__all__ = ["Disruptions"]


class Disruptions:
    """The scheduled events of one replication.

    Parameters
    ----------
    env : SimEnvironment
        The replication's environment.
    world : World
        The world (its scenario's events, topology and backbone routes).
    set_node : callable
        ``set_node(index, up)``: what bringing a node down or up does to the logins and
        sessions at it (the login lifecycle's).
    """

    def __init__(self, env: SimEnvironment, world: World,
                 set_node: Callable[[int, bool], None]):
        self.env = env
        self.world = world
        self.set_node = set_node
        self.home_dc = world.home_dc
        n = len(world.topology.node_ids)
        self.degraded_pairs: list[tuple[frozenset[str], float, float]] = []
        """Region pairs whose public paths carry extra delay and loss now."""
        self.dc_extra_s = [0.0] * n
        """Extra seconds on each node's backbone round trip to the home data center."""
        self.dc_loss = [0.0] * n
        """Loss per backbone trip of each node."""
        self.dc_mode = "fail"
        """What logins that need the home data center do while it is down."""

    def schedule(self) -> None:
        """Put every event of the scenario on the calendar."""
        world = self.world
        topo = world.topology
        index = topo.index
        for ev in world.scenario.events:
            kind = ev.kind
            if kind in ("node_down", "node_up", "region_outage", "datacenter_down"):
                if kind == "region_outage":
                    targets = [i for i in world.edge_nodes
                               if topo.regions[i] == ev.region_outage]
                else:
                    targets = [index[getattr(ev, kind)]]
                up = kind == "node_up"
                mode = ev.mode or "fail"
                self._at(ev.at, partial(self.set_nodes, targets, up, mode))
                if ev.for_ is not None:
                    self._at(ev.at + ev.for_, partial(self.set_nodes, targets, not up, mode))
            elif kind == "slowdown":
                pass  # a node's slow windows are known in advance: NodeState.slow
            elif kind == "link_degraded":
                ld = ev.link_degraded
                assert ld is not None and ev.for_ is not None
                if ld.regions is not None:
                    item = (frozenset(ld.regions), ld.extra_ms, ld.loss)
                    self._at(ev.at, partial(self.degraded_pairs.append, item))
                    self._at(ev.at + ev.for_, partial(self.degraded_pairs.remove, item))
                else:
                    assert ld.a is not None and ld.b is not None
                    through = world.nodes_routed_through(ld.a, ld.b)
                    self._at(ev.at, partial(self.degrade_backbone, through, ld.extra_ms,
                                            ld.loss, +1))
                    self._at(ev.at + ev.for_, partial(self.degrade_backbone, through,
                                                      ld.extra_ms, ld.loss, -1))

    def set_nodes(self, targets: list[int], up: bool, mode: str) -> None:
        """Bring nodes down or up now (``mode``: what logins at a down home data center
        do, ``fail`` or ``queue``)."""
        if not up and self.home_dc in targets:
            self.dc_mode = mode
        for i in targets:
            self.set_node(i, up)

    def degrade_backbone(self, nodes: list[int], extra_ms: float, loss: float,
                          sign: int) -> None:
        """Add (``sign`` +1) or remove (-1) extra delay and loss on nodes' backbone trips."""
        for n in nodes:
            self.dc_extra_s[n] = max(0.0, self.dc_extra_s[n] + sign * extra_ms / 1000.0)
            self.dc_loss[n] = max(0.0, self.dc_loss[n] + sign * loss)

    def _at(self, t: float, action: Callable[[], object]) -> None:
        def fire(_: simpy.Event) -> None:
            action()

        self.env.timeout(t).callbacks.append(fire)
