"""Disruptions: the scenario's scheduled events put on the calendar (nodes, regions and data
centers going down and up, backbone links degraded, failed and restored, degraded region
pairs) and the state they leave for the login lifecycle to read: each node's trip to the home
data center (network, RTT, loss, extra delay: :meth:`Disruptions.apply_backend`), extra delay
and loss on public paths, what logins do while the home data center is down.

Backbone links: a change reaches the routes after ``paths.convergence_delay``. Until then a
failed link drops the trips of the nodes routed through it (they arrive once the routes have
moved, over the new path), and a degraded link slows the routes that cross it; then every
route is recomputed (:class:`sim.model.paths.Backbone`), each node takes the faster of the
backbone and public transit again, and the addressing is told the new expected trip times.
Overlapping events compose: a link is down while any event holds it down, and degradations
add up.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial

import simpy

from sim.engine.environment import SimEnvironment
from sim.model.paths import BackendState, LinkKey, link_key
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
                 set_node: Callable[[int, bool], None],
                 on_backend: Callable[[Sequence[float]], None] | None = None):
        self.env = env
        self.world = world
        self.set_node = set_node
        self.on_backend = on_backend
        """Told each node's expected trip to the home data center (ms) when routes move."""
        self.home_dc = world.home_dc
        n = len(world.topology.node_ids)
        self.degraded_pairs: list[tuple[frozenset[str], float, float]] = []
        """Region pairs whose public paths carry extra delay and loss now."""
        self.dc_rtt_s = [0.0] * n
        """Each node's round trip to the home data center now (s)."""
        self.dc_dark_until = [-math.inf] * n
        """Until when a node's trips are dropped (its route crosses a failed link and has
        not moved yet)."""
        self.dc_trip: list[tuple[float, float, float, float, int, float]] = [
            (0.0, 0.0, 0.0, 0.0, 1, -math.inf)] * n
        """Each node's trip now, for the hot path: ``(rtt_s, median extra delay s, its
        log-sigma, loss, path code (1 the backbone, 2 public transit), dark until)``."""
        self.dc_mode = "fail"
        """What logins that need the home data center do while it is down."""
        self.node_holds = [0] * n
        """How many events hold each node down now."""
        self.link_extra: dict[LinkKey, float] = {}
        self.link_loss: dict[LinkKey, float] = {}
        self.link_down: dict[LinkKey, int] = {}
        """Backbone links degraded (extra ms, loss) or held down (by how many events)."""
        self.state: BackendState = world.backbone.clean
        """The routes in force."""
        self.apply_backend(self.state, publish=False)

    def schedule(self) -> None:
        """Put every event of the scenario on the calendar."""
        world = self.world
        topo = world.topology
        index = topo.index
        for ev in world.scenario.events:
            kind = ev.kind
            if kind in ("node_down", "node_up", "region_outage", "datacenter_down"):
                if kind == "region_outage":
                    assert ev.region_outage is not None
                    targets = world.region_outage_nodes(ev.region_outage)
                else:
                    targets = [index[getattr(ev, kind)]]
                mode = ev.mode or "fail"
                if kind == "node_up":
                    self._at(ev.at, partial(self.set_nodes, targets, True, mode, True))
                else:
                    self._at(ev.at, partial(self.set_nodes, targets, False, mode))
                    if ev.for_ is not None:
                        self._at(ev.at + ev.for_, partial(self.set_nodes, targets, True, mode))
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
                    key = link_key(ld.a, ld.b)
                    self._at(ev.at, partial(self.degrade_link, key, ld.extra_ms, ld.loss))
                    self._at(ev.at + ev.for_, partial(self.degrade_link, key, -ld.extra_ms,
                                                      -ld.loss))
            elif kind in ("link_down", "link_up"):
                link = getattr(ev, kind)
                key = link_key(link.a, link.b)
                if kind == "link_up":
                    self._at(ev.at, partial(self.set_link, key, None))
                else:
                    self._at(ev.at, partial(self.set_link, key, +1))
                    if ev.for_ is not None:
                        self._at(ev.at + ev.for_, partial(self.set_link, key, -1))

    def set_nodes(self, targets: list[int], up: bool, mode: str, force: bool = False) -> None:
        """Hold nodes down, or release one hold, now (``mode``: what logins at a down home
        data center do, ``fail`` or ``queue``). A node is down while any event holds it
        down; ``force`` (``node_up``) brings it up whatever holds it."""
        if not up and self.home_dc in targets:
            self.dc_mode = mode
        holds = self.node_holds
        for i in targets:
            before = holds[i]
            holds[i] = 0 if force else max(0, before + (-1 if up else 1))
            if (before > 0) != (holds[i] > 0):
                self.set_node(i, holds[i] == 0)

    # ------------------------------------------------------------------ backbone links

    def degrade_link(self, key: LinkKey, extra_ms: float, loss: float) -> None:
        """Add (or, negative, remove) extra delay and loss on a backbone link now: the routes
        that cross it feel it at once; they move after the convergence delay."""
        self._set_or_drop(self.link_extra, key,
                          max(0.0, self.link_extra.get(key, 0.0) + extra_ms))
        self._set_or_drop(self.link_loss, key,
                          min(0.99, max(0.0, self.link_loss.get(key, 0.0) + loss)))
        self.state = self.world.backbone.priced(self.state, self.link_extra, self.link_loss)
        self.apply_backend(self.state, publish=False)
        self._converge()

    def set_link(self, key: LinkKey, change: int | None) -> None:
        """Hold a backbone link down (``+1``), release one hold (``-1``) or bring it up
        whatever holds it (``None``: ``link_up``)."""
        held = self.link_down.get(key, 0)
        now_held = 0 if change is None else max(0, held + change)
        self._set_or_drop(self.link_down, key, now_held)
        if (held > 0) == (now_held > 0):
            return
        if now_held:  # the link fails: trips through it are lost until the routes move
            until = self.env.now + self.world.scenario.paths.convergence_delay
            cut = [i for i, links in enumerate(self.state.uses) if key in links]
            for i in cut:
                self.dc_dark_until[i] = until
            # (those trips arrive over the new route, once it is in place)
            self.state = self.state.merged(self._recompute(), cut)
            self.apply_backend(self.state, publish=False)
        self._converge()

    def _converge(self) -> None:
        """Move every route to the links' state once the routing has converged."""
        self._at(self.env.now + self.world.scenario.paths.convergence_delay, self._reroute)

    def _reroute(self) -> None:
        self.state = self._recompute()
        self.apply_backend(self.state, publish=True)

    def _recompute(self) -> BackendState:
        return self.world.backbone.state(self.link_extra, self.link_loss,
                                         [k for k, held in self.link_down.items() if held])

    def apply_backend(self, state: BackendState, publish: bool) -> None:
        """Set each node's trip to the home data center from a state of the routes (in
        place: the login lifecycle reads these lists); ``publish`` tells the addressing."""
        world = self.world
        use_public, expected, rtt, loss = world.backend(state)
        private_noise, public_noise = world.backend_noise
        for i in range(len(rtt)):
            self.dc_rtt_s[i] = float(rtt[i]) / 1000.0
            mu, sigma = public_noise[i] if use_public[i] else private_noise
            self.dc_trip[i] = (self.dc_rtt_s[i], 0.001 * math.exp(mu), sigma, float(loss[i]),
                               2 if use_public[i] else 1, self.dc_dark_until[i])
        if publish and self.on_backend is not None:
            self.on_backend(expected.tolist())

    @staticmethod
    def _set_or_drop(d: dict[LinkKey, float] | dict[LinkKey, int], key: LinkKey,
                     value: float) -> None:
        if value:
            d[key] = value  # type: ignore[assignment]
        else:
            d.pop(key, None)

    def _at(self, t: float, action: Callable[[], object]) -> None:
        """Run ``action`` at absolute time ``t`` (now, if ``t`` has passed)."""
        def fire(_: simpy.Event) -> None:
            action()

        self.env.timeout(max(0.0, t - self.env.now)).callbacks.append(fire)
