"""Load reports: what the nodes tell the SDK's scheduler about their load, on their own clock.

Every ``report_interval`` each node that is up measures its utilisation over the interval
(busy worker-seconds over worker-seconds), its queue and its open connections, and the report
reaches the scheduler ``report_delay`` later (:attr:`NodeState.util_published` and its
siblings). A node that is down sends nothing: the scheduler keeps its last report, and only
the SDK's own evidence (a timeout, a refused connection, a failed probe) says it is down.

This clock is independent of the outputs: ``outputs.sample_every`` changes what is written to
``node_load.csv``, never what any login sees.
"""

from __future__ import annotations

from collections.abc import Sequence

from sim.engine.environment import SimEnvironment
from sim.engine.nodes import NodeState

__all__ = ["LoadReports"]


class LoadReports:
    """Publishes each served node's load every ``interval_s``, ``delay_s`` late.

    Parameters
    ----------
    env : SimEnvironment
        The replication's environment.
    nodes : sequence of NodeState
        Every node, in topology order (hubs are skipped).
    interval_s : float
        The reporting period.
    delay_s : float
        How long a report takes to reach the scheduler.
    end_s : float
        No report is measured after this time.
    """

    def __init__(self, env: SimEnvironment, nodes: Sequence[NodeState], interval_s: float,
                 delay_s: float, end_s: float):
        self.env = env
        self.nodes = [n for n in nodes if n.kind != "hub"]
        self.interval_s = interval_s
        self.delay_s = delay_s
        self.end_s = end_s
        self._area = [0.0] * len(self.nodes)

    def start(self) -> None:
        """Schedule the first measurement one interval from now."""
        self.env.call_at(self.env.now + self.interval_s, self._measure, None)

    def _measure(self, _: object) -> None:
        env = self.env
        now = env.now
        dt = self.interval_s
        report = []
        for i, node in enumerate(self.nodes):
            if not node.up:  # a down node reports nothing; the last report stands
                self._area[i] = node.svc_total  # its busy area stops growing
                continue
            area = node.busy_area(now)
            util = (area - self._area[i]) / (node.workers * dt)
            self._area[i] = area
            report.append((node, util, node.queue_len, node.connections(now)))
        env.call_at(now + self.delay_s, self._publish, report)
        if now + dt <= self.end_s:
            env.call_at(now + dt, self._measure, None)

    @staticmethod
    def _publish(report: list[tuple[NodeState, float, int, int]]) -> None:
        for node, util, queue, conns in report:
            node.util_published = util
            node.queue_published = queue
            node.conns_published = conns
            node.report_seq += 1
