"""Sampling: every ``outputs.sample_every`` the served nodes' connections, arrival rate, queue
and utilisation go into the node-load table, and at the end of the arrival window each node's
counters are taken for the summary. Nothing here is read by a login: what the addressing sees
of a node's load comes from :mod:`sim.engine.reports`, on its own clock."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import simpy

from sim.engine.environment import SimEnvironment
from sim.engine.nodes import NodeState

__all__ = ["Sampler", "LOAD_COLUMNS"]

LOAD_COLUMNS = ("t_s", "node", "connections", "logins_per_s", "queue_len", "utilization")
"""The columns of the node-load table."""


class Sampler:
    """Samples node load on a fixed clock and snapshots node counters.

    Parameters
    ----------
    env : SimEnvironment
        The replication's environment.
    nodes : sequence of NodeState
        Every node, in topology order.
    sample_every_s : float
        The sampling period.
    duration_s : float
        The arrival window: the last sample is at or before its end, the snapshot at it.
    """

    def __init__(self, env: SimEnvironment, nodes: Sequence[NodeState], sample_every_s: float,
                 duration_s: float):
        self.env = env
        self.nodes = list(nodes)
        self.served_nodes = [n for n in nodes if n.kind != "hub"]
        self.sample_every_s = sample_every_s
        self.duration_s = duration_s
        self.rows: dict[str, list[float]] = {k: [] for k in LOAD_COLUMNS}
        self.stats: dict[str, np.ndarray] = {}

    def start(self) -> None:
        """Take the first sample now and schedule the rest, and the snapshot at the end."""
        self.sample()
        self.env.timeout(self.duration_s).callbacks.append(self.snapshot)

    def sample(self, _: simpy.Event | None = None) -> None:
        """One sample of every served node (and the next one scheduled)."""
        env = self.env
        now = env.now
        dt = self.sample_every_s
        rows = self.rows
        for node in self.served_nodes:
            area = node.busy_area(now) if node.up else node.svc_total
            util = (area - node.win_b_area) / (node.workers * dt) if now > 0 else 0.0
            node.win_b_area = area
            if now > 0:
                rows["t_s"].append(now)
                rows["node"].append(node.idx)
                rows["connections"].append(node.connections(now))
                rows["logins_per_s"].append(node.win_arrivals / dt)
                rows["queue_len"].append(node.queue_len if node.up else 0)
                rows["utilization"].append(util)
            node.win_arrivals = 0
        if now + dt <= self.duration_s + 1e-9:
            env.timeout(dt).callbacks.append(self.sample)

    def snapshot(self, _: simpy.Event) -> None:
        """Node counters at the end of the arrival window (the drain after it is excluded)."""
        now = self.env.now
        ns = self.nodes
        self.stats = {
            "arrivals": np.array([n.arrivals for n in ns]),
            "served": np.array([n.served for n in ns]),
            "wait_sum_s": np.array([n.wait_sum for n in ns]),
            "q_area": np.array([n.queue_area(now) if n.up else n.wait_total for n in ns]),
            "b_area": np.array([n.busy_area(now) if n.up else n.svc_total for n in ns]),
        }

    def table(self) -> dict[str, np.ndarray]:
        """The node-load samples as typed columns."""
        return {k: np.asarray(v, dtype=np.int64 if k in ("node", "connections", "queue_len")
                              else np.float64)
                for k, v in self.rows.items()}
