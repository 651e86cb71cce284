"""The same model written the straightforward SimPy way, to check the fast engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import simpy

from sim.engine.login import Login
from sim.engine.loop import DRAIN_S, Engine
from sim.engine.nodes import NodeState
from sim.engine.records import ReplicationOutput
from sim.model.world import World

__all__ = ["ReferenceEngine"]


class ReferenceEngine(Engine):
    """The same model written the straightforward SimPy way, to check the fast engine.

    Arrivals come from a process that sleeps between them; every delay is a
    :class:`simpy.Timeout`; each node is a :class:`simpy.Resource` with one process per login
    that requests a worker, holds it for the service time and releases it. Scenarios with
    events (failures) and load-aware spill on utilisation are not supported: it exists to show
    that the fast path's FIFO recursion and light calendar give the same per-login results.
    A login learns that it missed its deadline at the end of its service here, not when it
    arrives; with no attempt near its deadline (the scenarios it is checked on) both agree.
    """

    def __init__(self, world: World, replication: int, seed: np.random.SeedSequence,
                 per_login: bool | None = True):
        super().__init__(world, replication, seed, per_login)
        if world.scenario.events:
            raise ValueError("the reference engine does not model scheduled events")
        self.resources = [simpy.Resource(self.env, capacity=n.workers) for n in self.nodes]
        for node in self.nodes:
            node.free = []  # unused here; the resource holds the workers
        self._queue_of = {id(n): r for n, r in zip(self.nodes, self.resources)}

    def _at_time(self, t: float, handler: Callable[[Any], None], value: Any) -> None:
        self.env.timeout(t - self.env.now, value).callbacks.append(
            lambda ev: handler(ev.value))

    def _serve(self, node: NodeState, lg: Login) -> None:
        self.env.process(self._serve_process(node, lg))

    def _serve_process(self, node: NodeState, lg: Login | None, svc_draw: float = 1.0) -> Any:
        env = self.env
        arrived = env.now
        res = self.resources[node.idx]
        node.arrivals += 1
        node.win_arrivals += 1
        with res.request() as req:
            yield req
            start = env.now
            service = self._service_s(node, lg) if lg is not None else \
                node.service_time(svc_draw)
            if node.slow:
                service *= node.slow_factor(start)
            node.served += 1
            node.wait_sum += start - arrived
            node.svc_total += service
            yield env.timeout(service)
        if lg is not None:
            self._after_service(node, lg, arrived, start, env.now)

    def _on_ghost_dc(self, svc_draw: float) -> None:
        if self.home.up:
            self.env.process(self._serve_process(self.home, None, svc_draw))

    def _arrivals(self) -> Any:
        env = self.env
        while self._next_chunk():
            assert self._chunk is not None
            for i, t in enumerate(self._chunk.t_s):
                yield env.timeout(t - env.now)
                self._arrive(i)

    def run(self, progress: Callable[[float], None] | None) -> ReplicationOutput:
        sc = self.world.scenario
        env = self.env
        self.reports.start()
        self.sampler.start()
        env.process(self._arrivals())
        end = sc.duration + DRAIN_S
        env.run(until=end)
        if progress is not None:
            progress(1.0)
        return self._output(end)
