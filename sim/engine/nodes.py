"""A node's live state: its login workers and FIFO queue, open connections and counters.

Node model: ``workers`` login workers serve a FIFO queue (an M/M/c queue with exponential
service). Because the queue is FIFO and arrivals at a node are handled in time order, a
login's service start and end are known the moment it arrives (the multi-server FIFO
recursion, :meth:`NodeState.admit`), so no event is needed for the end of service; queue
length, busy workers and their time integrals are read off the workers' free times and the
waiting logins' start times.
"""

from __future__ import annotations

import heapq
from typing import Any

from sim.engine.environment import SimEnvironment
from sim.engine.login import Login

__all__ = ["NodeState"]


class NodeState:
    """Live state of one node: its workers, queue, connections and counters.

    ``free`` holds the time each worker becomes free (a heap); ``waiting`` the service start
    times of logins still queued (a heap). Both describe the future as far as it is known now.
    """

    __slots__ = ("idx", "kind", "workers", "up", "gen", "service_s", "svc_dist", "hit_ratio",
                 "conn_limit", "open_conns", "sessions", "peak_conns", "free", "waiting",
                 "pending", "can_fail", "svc_total", "wait_total", "arrivals", "served",
                 "wait_sum", "rejected", "timeouts", "util_published", "queue_published",
                 "conns_published", "report_seq", "raced", "changes", "win_arrivals",
                 "win_b_area", "logins_ok", "dropped_sessions", "ticket_ttl", "expired",
                 "budget_refused", "ticket_hits", "first_attempts", "budget", "slow", "_env")

    def __init__(self, env: SimEnvironment, idx: int, kind: str, workers: int,
                 service_s: float, svc_dist: str, hit_ratio: float, conn_limit: float,
                 can_fail: bool):
        self._env = env
        self.idx = idx
        self.kind = kind
        self.workers = workers
        self.service_s = service_s
        self.svc_dist = svc_dist
        self.hit_ratio = hit_ratio
        self.conn_limit = conn_limit
        self.can_fail = can_fail
        self.up = True
        self.gen = 0
        self.open_conns = 0
        # Heap of open sessions. A node that can fail keeps who they are, to reconnect them:
        # (end time, sequence number, user, site, access, last mile); the others keep only
        # the end times (a heap of floats is much cheaper).
        self.sessions: list[Any] = []
        self.peak_conns = 0
        self.free = [0.0] * workers
        self.waiting: list[float] = []
        self.pending: dict[int, Login] = {}
        self.svc_total = 0.0
        self.wait_total = 0.0
        self.arrivals = 0
        self.served = 0
        self.wait_sum = 0.0
        self.rejected = 0
        self.timeouts = 0
        # The last load report the scheduler received (:mod:`sim.engine.reports`).
        self.util_published = 0.0
        self.queue_published = 0
        self.conns_published = 0
        self.report_seq = 0
        self.raced = 0  # connection attempts that lost a race to another node
        self.changes: list[tuple[float, bool]] = []  # (time, up) of each state change
        self.win_arrivals = 0
        self.win_b_area = 0.0
        self.logins_ok = 0
        self.dropped_sessions = 0
        self.ticket_ttl = 0.0
        """How long a login ticket issued here lets a terminal log in without the home data
        center (0: the node keeps none; ``hit_ratio`` decides)."""
        self.expired = 0  # attempts connected here that the SDK abandoned at their deadline
        self.budget_refused = 0  # retries refused here for want of retry budget
        self.ticket_hits = 0
        self.first_attempts = 0  # logins' first attempts that reached the node (deposits)
        self.slow: list[tuple[float, float, float]] = []
        """Slowdowns, (start, end, factor): a login whose service starts in one takes
        ``factor`` times as long."""
        self.budget = [0.0, 0.0, 0.0, 0.0]
        """The retry budget's state: [last update (s), balance, reserve, deposits counted]."""

    @property
    def queue_len(self) -> int:
        """Logins waiting for a worker now."""
        waiting = self.waiting
        now = self._env._now
        while waiting and waiting[0] <= now:
            heapq.heappop(waiting)
        return len(waiting)

    @property
    def busy(self) -> int:
        """Workers serving a login now."""
        now = self._env._now
        return sum(1 for f in self.free if f > now)

    def busy_area(self, now: float) -> float:
        """Integral of busy workers over time, up to ``now`` (worker-seconds)."""
        return self.svc_total - sum(f - now for f in self.free if f > now)

    def queue_area(self, now: float) -> float:
        """Integral of the queue length over time, up to ``now`` (login-seconds)."""
        self.queue_len  # noqa: B018 - drops logins that started
        return self.wait_total - sum(s - now for s in self.waiting)

    def connections(self, now: float) -> int:
        """Open connections now (sessions whose end has passed are closed lazily)."""
        sessions = self.sessions
        if self.can_fail:
            while sessions and sessions[0][0] <= now:
                heapq.heappop(sessions)
                self.open_conns -= 1
        else:
            while sessions and sessions[0] <= now:
                heapq.heappop(sessions)
                self.open_conns -= 1
        return self.open_conns

    def service_time(self, draw: float) -> float:
        """The service time of a login with exponential draw ``draw`` (mean 1)."""
        return self.service_s if self.svc_dist == "deterministic" else self.service_s * draw

    def slow_factor(self, t: float) -> float:
        """How much slower than usual a service starting at ``t`` is (slowdowns compose)."""
        f = 1.0
        for a, b, factor in self.slow:
            if a <= t < b:
                f *= factor
        return f

    def admit(self, now: float, service_s: float) -> tuple[float, float]:
        """A login joins the queue now with ``service_s`` of work: its service start and end.

        The multi-server FIFO recursion: it starts now or when the earliest worker frees up,
        whichever is later, and that worker is then busy until it finishes.
        """
        free = self.free
        first = free[0]
        start = now if first <= now else first
        if self.slow:
            service_s *= self.slow_factor(start)
        finish = start + service_s
        heapq.heapreplace(free, finish)
        if start > now:
            heapq.heappush(self.waiting, start)
            self.wait_sum += start - now
            self.wait_total += start - now
        self.arrivals += 1
        self.win_arrivals += 1
        self.served += 1
        self.svc_total += service_s
        return start, finish
