"""The authoritative side's health checks: when DNS learns that a node failed or came back.

Each node is checked every ``interval`` at its own phase (drawn once per replication); a node
is declared down after ``failures`` failed checks in a row, and up again after as many good
ones (Route 53's failure threshold, which applies both ways). A state that does not last
until it is declared is never seen by DNS. Until then, answers keep listing a dead node (or
leave out one that came back).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from sim.engine.environment import SimEnvironment

__all__ = ["HealthChecks"]


class HealthChecks:
    """Declares node state changes to DNS after the checks that detect them.

    Parameters
    ----------
    env : SimEnvironment
    n_nodes : int
    interval_s : float
        Time between two checks of a node.
    failures : int
        Checks in a row that must agree before the state is declared.
    rng : numpy.random.Generator
        Draws each node's check phase.
    declare : callable
        ``declare(node, up)``, called when the checks declare a change.
    """

    def __init__(self, env: SimEnvironment, n_nodes: int, interval_s: float, failures: int,
                 rng: np.random.Generator, declare: Callable[[int, bool], None]):
        self.env = env
        self.interval_s = interval_s
        self.failures = failures
        self.phase = (rng.random(n_nodes) * interval_s).tolist()
        self.declare = declare
        self._seq = [0] * n_nodes

    def detection_time(self, node: int, t: float) -> float:
        """When a change of ``node`` at ``t`` that lasts is declared."""
        dt = self.interval_s
        phase = self.phase[node]
        first = phase + math.floor((t - phase) / dt + 1.0) * dt  # the first check after t
        return first + (self.failures - 1) * dt

    def changed(self, node: int, up: bool) -> None:
        """The node really went down (``up`` False) or came back, now."""
        self._seq[node] += 1
        self.env.call_at(self.detection_time(node, self.env.now), self._declare,
                         (node, up, self._seq[node]))

    def _declare(self, value: tuple[int, bool, int]) -> None:
        node, up, seq = value
        if self._seq[node] == seq:  # the state held through every check
            self.declare(node, up)
