"""The SimPy model: nodes with login workers and connection limits, logins, failures.

One replication is one :class:`simpy.Environment`. Pure delays (DNS, handshakes, request and
response legs, backbone trips) are single timeouts whose callbacks move the login on; no
process per login. A login costs one or two events: its arrival at the node and, on a cache
miss, its arrival at the home data center. Arrivals come from numpy batches and are fed to the
event loop directly rather than as events of their own; while every node is up, the strategy
plans each batch ahead in numpy as far as live state allows (``Strategy.prepare``).

Node model: ``workers`` login workers serve a FIFO queue (an M/M/c queue with exponential
service). Because the queue is FIFO and arrivals at a node are handled in time order, a
login's service start and end are known the moment it arrives (the multi-server FIFO
recursion: it starts when it arrives or when the earliest worker frees up, whichever is
later), so no event is needed for the end of service; queue length, busy workers and their
time integrals are read off the workers' free times and the waiting logins' start times.
:class:`ReferenceEngine` models the same nodes with ``simpy.Resource`` and a process per login;
a test checks that both give the same per-login results.

``connection_limit`` caps open connections (a login over the limit is rejected and the SDK
moves on); a connection stays open for the session after the login. When a node goes down,
its queued and in-service logins fail over, and its sessions are dropped.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from sim.addressing import get_strategy
from sim.addressing.base import Strategy
from sim.addressing.region import GeoDns
from sim.model.workload import ArrivalChunk, Workload
from sim.model.world import World

__all__ = ["NodeState", "ReplicationOutput", "ReferenceEngine", "run_replication", "OUTCOMES",
           "DECIDERS", "TRIGGERS", "LOGIN_COLUMNS", "LOGIN_DTYPES", "SUMMARY_COLUMNS", "SINK_ROWS"]

OUTCOMES = ("ok", "failed")
DECIDERS = ("region", "nearest", "sticky", "spill", "failover", "random", "round_robin",
            "nearest_geo", "oracle", "anycast", "other")
TRIGGERS = ("arrival", "reconnect")
LOGIN_COLUMNS = ("login_id", "t_start_s", "site", "user", "access", "node", "decided_by",
                 "attempts", "outcome", "latency_ms", "connect_ms", "queue_ms", "service_ms",
                 "backend_ms", "dns_ms", "rtt_ms", "best_rtt_ms", "last_mile_ms", "trigger")
_TYPECODES = {"login_id": "q", "t_start_s": "d", "site": "i", "user": "q", "access": "b",
              "node": "h", "decided_by": "b", "attempts": "h", "outcome": "b", "trigger": "b"}
"""array typecodes of the columns; the rest are float32 ("f"): milliseconds to 0.1 us."""
_NUMPY = {"q": np.int64, "i": np.int32, "h": np.int16, "b": np.int8, "d": np.float64,
          "f": np.float32}
LOGIN_DTYPES = {c: np.dtype(_NUMPY[_TYPECODES.get(c, "f")]) for c in LOGIN_COLUMNS}
"""The numpy type of every per-login column."""
_DERIVED = ("connect_ms", "rtt_ms")
"""Columns computed from the others when the run ends (not recorded login by login)."""
SUMMARY_COLUMNS = ("login_id", "t_start_s", "site", "node", "decided_by", "outcome",
                   "latency_ms", "rtt_ms", "best_rtt_ms", "trigger")
"""The columns kept when per-login records are off: what the summary and figures need."""
TCP_RTO_S = 1.0
"""Initial TCP retransmission timeout (RFC 6298): what a lost handshake packet costs."""
BACKBONE_RETRY_S = 0.2
"""What a request lost on the backbone costs before the node retries it."""
_DRAIN_S = 300.0
SINK_ROWS = 250_000
"""With a sink, rows are handed over once at least this many are recorded (checked 50 times
a run), so the records held in memory stay around this size."""


def _discard(_: object) -> None:
    """Stands in for a column's append when per-login records are off."""


class NodeState:
    """Live state of one node: its workers, queue, connections and counters.

    ``free`` holds the time each worker becomes free (a heap); ``waiting`` the service start
    times of logins still queued (a heap). Both describe the future as far as it is known now.
    """

    __slots__ = ("idx", "kind", "workers", "up", "gen", "service_s", "svc_dist", "hit_ratio",
                 "conn_limit", "open_conns", "sessions", "peak_conns", "free", "waiting",
                 "pending", "can_fail", "svc_total", "wait_total", "arrivals", "served",
                 "wait_sum", "rejected", "timeouts", "util_published", "win_arrivals",
                 "win_b_area", "logins_ok", "dropped_sessions", "_env")

    def __init__(self, env: simpy.Environment, idx: int, kind: str, workers: int,
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
        self.pending: dict[int, _Login] = {}
        self.svc_total = 0.0
        self.wait_total = 0.0
        self.arrivals = 0
        self.served = 0
        self.wait_sum = 0.0
        self.rejected = 0
        self.timeouts = 0
        self.util_published = 0.0
        self.win_arrivals = 0
        self.win_b_area = 0.0
        self.logins_ok = 0
        self.dropped_sessions = 0

    @property
    def queue_len(self) -> int:
        """Logins waiting for a worker now."""
        waiting = self.waiting
        now = self._env.now
        while waiting and waiting[0] <= now:
            heapq.heappop(waiting)
        return len(waiting)

    @property
    def busy(self) -> int:
        """Workers serving a login now."""
        now = self._env.now
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


class _Login:
    __slots__ = ("id", "t0", "site", "user", "access", "lm", "jitter", "session", "svc_node",
                 "svc_dc", "cache_u", "cands", "pos", "attempts", "tag", "node", "gen", "rtt",
                 "dns_ms", "t_node", "queue_ms", "service_ms", "backend_ms", "t_enq", "round",
                 "trigger", "dc_half_s", "t_held", "t_finish", "seq")


@dataclass
class ReplicationOutput:
    """Raw columns of one replication, before :mod:`sim.results.results` shapes them."""
    replication: int
    logins: dict[str, np.ndarray]
    node_load: dict[str, np.ndarray]
    node_stats: dict[str, np.ndarray]
    counts: dict[str, int]
    window_s: float
    access_names: list[str]
    attempts: list[tuple[float, int, int, int, str]] | None = None
    """With ``trace_attempts``: every connect attempt as (time, login id, user, node,
    result) where result is ``timeout``, ``rejected`` or ``connected``."""


class _Engine:
    def __init__(self, world: World, replication: int, seed: np.random.SeedSequence,
                 per_login: bool | None = None, trace_attempts: bool = False,
                 sink: Callable[[dict[str, np.ndarray]], None] | None = None):
        sc = world.scenario
        self.world = world
        self.replication = replication
        self.env = simpy.Environment()
        streams = seed.spawn(6)
        self.workload = Workload(sc, world.sites, streams[0])
        self.rng_backoff = np.random.default_rng(streams[1])
        p = world.params
        can_fail = self._nodes_that_can_fail(world)
        self.nodes = [NodeState(self.env, i, k, p.workers[i], p.service_s[i],
                                p.service_distribution[i], p.cache_hit_ratio[i],
                                p.connection_limit[i], i in can_fail)
                      for i, k in enumerate(world.topology.kinds)]
        self.dns = GeoDns(world, sc.addressing.region, self.workload.n_users,
                          np.random.default_rng(streams[2]))
        strategy_cls = get_strategy(sc.addressing.strategy)
        self.strategy: Strategy = strategy_cls(world, sc.addressing, self.nodes,
                                               np.random.default_rng(streams[3]))
        fo = sc.addressing.failover
        self.connect_timeout_s = fo.connect_timeout
        self.max_attempts = fo.max_attempts
        self.backoff = fo.backoff
        self.handshake_rtts = sc.protocol.handshake_rtts
        self.zero_rtt_share = sc.protocol.quic_0rtt_share if sc.protocol.transport == "quic" \
            else 0.0
        self.rtt = world.site_node_rtt_ms.tolist()
        self.dc_rtt_s = (world.node_dc_rtt_ms / 1000.0).tolist()
        self.home = self.nodes[world.home_dc]
        self.decider_code = {d: i for i, d in enumerate(DECIDERS)}
        self._other = self.decider_code["other"]
        if per_login is None:
            per_login = sc.outputs.per_login
        self.sink = sink
        self.per_login = per_login or sink is not None
        kept = LOGIN_COLUMNS if self.per_login else SUMMARY_COLUMNS
        self.kept = kept
        self.cols: dict[str, array[Any]] = {c: array(_TYPECODES.get(c, "f")) for c in kept
                                            if c not in _DERIVED}
        # With a sink, rows already handed over (their summary columns only) and the next
        # login id not handed over yet.
        self._sunk: dict[str, list[np.ndarray]] = {c: [] for c in SUMMARY_COLUMNS}
        self._sunk_upto = 0
        self._global_order = world.site_global_order
        self._best_when_all_up = [self.rtt[s][order[0]]
                                  for s, order in enumerate(world.site_global_order)]
        self._appenders = tuple(self.cols[c].append if c in self.cols else _discard
                                for c in LOGIN_COLUMNS if c not in _DERIVED)
        self.counts = {"attempted": 0, "succeeded": 0, "failed": 0, "reconnects": 0}
        self.load_rows: dict[str, list[float]] = {k: [] for k in (
            "t_s", "node", "connections", "logins_per_s", "queue_len", "utilization")}
        self._chunk: ArrivalChunk | None = None
        self._chunks = self.workload.chunks()
        self._u_backoff: list[float] = []
        self.served_nodes = [n for n in self.nodes if n.kind != "hub"]
        self.trace: list[tuple[float, int, int, int, str]] | None = [] if trace_attempts \
            else None
        self.avoid_for_s = fo.avoid_for
        self.avoid: dict[int, dict[int, float]] = {}  # user -> {node: avoid until}
        self.reconnect = sc.reconnect
        self.rng_reconnect = np.random.default_rng(streams[4])
        self.rng_loss = np.random.default_rng(streams[5])
        self._u_loss: list[float] = []
        self._reconnect_draws: list[tuple[float, float, float, float, float]] = []
        self._next_id = 0
        self._session_seq = 0
        self.site_region = list(world.sites.regions)
        self.node_region = list(world.topology.regions)
        self.degraded_pairs: list[tuple[frozenset[str], float, float]] = []
        self.dc_extra_s = [0.0] * len(self.nodes)
        self.dc_loss = [0.0] * len(self.nodes)
        self.dc_mode = "fail"
        self.dc_held: list[_Login] = []
        self._lane: list[tuple[float, int, Callable[[Any], None], Any]] = []
        self._lane_seq = 0
        self._tokens: Sequence[Any] | None = ()  # prepared plans of the chunk; None: never
        self._fresh_region: list[int] = []
        self._fresh_dns_ms: list[float] = []

    # ------------------------------------------------------------------ arrivals

    @staticmethod
    def _nodes_that_can_fail(world: World) -> set[int]:
        topo = world.topology
        out: set[int] = set()
        for ev in world.scenario.events:
            for name in (ev.node_down, ev.datacenter_down):
                if name is not None:
                    out.add(topo.index[name])
            if ev.region_outage is not None:
                out.update(i for i in world.edge_nodes if topo.regions[i] == ev.region_outage)
        return out

    def _next_chunk(self) -> bool:
        self._chunk = c = next(self._chunks, None)
        if c is None:
            return False
        if self._tokens is not None:
            # The strategy plans the batch ahead, as far as it can without live state.
            regions, dns_ms = self.dns.fresh_answers(c.site_array, c.user_array,
                                                     c.last_mile_array)
            self._tokens = self.strategy.prepare(c.site_array, regions, self.dns.complete_view)
            self._fresh_region = regions.tolist()
            self._fresh_dns_ms = dns_ms.tolist()
        return True

    def _arrive(self, i: int) -> None:
        """Login ``i`` of the current chunk arrives now."""
        c = self._chunk
        assert c is not None
        lg = _Login()
        lg.trigger = 0
        lg.site = c.site[i]
        lg.user = c.user[i]
        lg.access = c.access[i]
        lg.lm = c.last_mile_ms[i]
        lg.jitter = c.jitter[i]
        lg.session = c.session_s[i]
        lg.svc_node = c.service_node[i]
        lg.svc_dc = c.service_dc[i]
        lg.cache_u = c.cache_u[i]
        self._start(lg, i)

    def _start(self, lg: _Login, row: int = -1) -> None:
        """A login (an arrival or a reconnect) starts now: number it and address it."""
        lg.id = self._next_id
        self._next_id += 1
        lg.t0 = self.env._now
        lg.attempts = 0
        lg.round = 0
        lg.seq = 0
        lg.node = -1
        lg.rtt = 0.0
        lg.queue_ms = lg.service_ms = lg.backend_ms = 0.0
        self.counts["attempted"] += 1
        self._plan(lg, 0.0, row)

    # ------------------------------------------------------------------ addressing

    def _plan(self, lg: _Login, delay_s: float, row: int = -1) -> None:
        """Look the terminal's answer up and plan its candidates; ``row`` is the login's row
        in the current chunk when the strategy prepared it (arrivals), else -1."""
        now = self.env._now
        dns = self.dns
        if row >= 0 and self._tokens is not None and dns.all_up:
            dns_ms = dns.lookup_complete(lg.user, now, self._fresh_region[row],
                                         self._fresh_dns_ms[row])
            if dns_ms >= 0:  # the answer lists every node of the region: prepared plan
                lg.dns_ms = dns_ms
                lg.cands, lg.tag = self.strategy.plan_prepared(self._tokens[row], lg.site,
                                                               lg.user, now)
                lg.pos = 0
                self._attempt(lg, delay_s + dns_ms / 1000.0)
                return
        answer = dns.lookup(lg.site, lg.user, now, lg.lm)
        if lg.round == 0:
            lg.dns_ms = answer.dns_ms
        cands, tag = self.strategy.plan(lg.site, lg.user, now, answer)
        lg.cands = cands
        lg.pos = 0
        lg.tag = tag
        self._attempt(lg, delay_s + answer.dns_ms / 1000.0)

    def _attempt(self, lg: _Login, delay_s: float) -> None:
        """Try the next candidate; ``delay_s`` is time already spent before the try."""
        env = self.env
        if lg.attempts >= self.max_attempts:
            self._finish_failed(lg, env.now + delay_s)
            return
        if lg.pos >= len(lg.cands):
            lg.round += 1
            wait = self._backoff_s(lg.round)
            env.timeout(delay_s + wait, lg).callbacks.append(self._on_replan)
            return
        n = lg.cands[lg.pos]
        lg.pos += 1
        avoid = self.avoid.get(lg.user) if self.avoid else None
        if avoid is not None and avoid.get(n, -1.0) > env._now:
            self._attempt(lg, delay_s)  # this terminal saw the node time out: skip it
            return
        lg.attempts += 1
        node = self.nodes[n]
        rtt_ms = (self.rtt[lg.site][n] + lg.lm) * lg.jitter
        rtts = self.handshake_rtts
        if self.zero_rtt_share > 0 and self._uniform("zero_rtt") < self.zero_rtt_share:
            rtts = 0.0
        if self.degraded_pairs:
            rtt_ms, extra_s = self._degrade(lg.site, n, rtt_ms, rtts + 1.0)
            delay_s += extra_s
        if self.trace is not None:
            self.trace.append((env.now + delay_s, lg.id, lg.user, n, "timeout" if not node.up
                               else "rejected" if node.connections(env.now) >= node.conn_limit
                               else "connected"))
        if not node.up:
            node.timeouts += 1
            self.avoid.setdefault(lg.user, {})[n] = env.now + delay_s + self.connect_timeout_s \
                + self.avoid_for_s
            env.timeout(delay_s + self.connect_timeout_s, lg).callbacks.append(self._on_retry)
            return
        if node.open_conns >= node.conn_limit and node.connections(env._now) >= node.conn_limit:
            node.rejected += 1
            env.timeout(delay_s + rtt_ms / 1000.0, lg).callbacks.append(self._on_retry)
            return
        node.open_conns += 1
        lg.node = n
        lg.gen = node.gen
        lg.rtt = rtt_ms
        self._at_time(env._now + delay_s + (rtts + 0.5) * rtt_ms / 1000.0,
                      self._on_node_arrival, lg)

    def _degrade(self, site: int, node: int, rtt_ms: float,
                 round_trips: float) -> tuple[float, float]:
        """Extra latency and loss of degraded region pairs on this terminal-node path."""
        pair = frozenset((self.site_region[site], self.node_region[node]))
        extra_s = 0.0
        for regions, extra_ms, loss in self.degraded_pairs:
            if pair == regions:
                rtt_ms += extra_ms
                if loss > 0:
                    lost = sum(self._uniform("loss") < loss for _ in range(int(round_trips)))
                    extra_s += lost * TCP_RTO_S
        return rtt_ms, extra_s

    def _uniform(self, stream: str) -> float:
        buf = self._u_loss
        if not buf:
            buf.extend(self.rng_loss.random(4096).tolist())
        return buf.pop()

    def _backoff_s(self, round_: int) -> float:
        b = self.backoff
        base = min(b.cap, b.base * 2.0 ** (round_ - 1))
        if not self._u_backoff:
            self._u_backoff = self.rng_backoff.random(4096).tolist()
        return base * (1.0 - b.jitter * self._u_backoff.pop())

    def _on_replan(self, ev: simpy.Event) -> None:
        self._plan(ev.value, 0.0)

    def _on_retry(self, ev: simpy.Event) -> None:
        self._attempt(ev.value, 0.0)

    def _drop_connection(self, lg: _Login) -> None:
        node = self.nodes[lg.node]
        if node.gen == lg.gen:
            node.open_conns -= 1
        lg.node = -1

    # ------------------------------------------------------------------ node and data center

    def _at_time(self, t: float, handler: Callable[[Any], None], value: Any) -> None:
        """Call ``handler(value)`` at time ``t``.

        These go on a light calendar (a heap) that :meth:`run` merges with SimPy's event queue
        in time order, instead of a :class:`simpy.Timeout` each (same times, fewer objects).
        """
        self._lane_seq += 1
        heapq.heappush(self._lane, (t, self._lane_seq, handler, value))

    def _on_node_arrival(self, lg: _Login) -> None:
        node = self.nodes[lg.node]
        if node.gen != lg.gen:  # the node went down while the handshake was under way
            lg.node = -1
            self.env.timeout(self.connect_timeout_s, lg).callbacks.append(self._on_retry)
            return
        lg.t_node = self.env.now
        self._serve(node, lg)

    def _service_s(self, node: NodeState, lg: _Login) -> float:
        if node.svc_dist == "deterministic":
            return node.service_s
        return node.service_s * (lg.svc_dc if node is self.home else lg.svc_node)

    def _serve(self, node: NodeState, lg: _Login) -> None:
        """A login arrives at a node's queue now; its service there is settled at once.

        The multi-server FIFO recursion: it starts now or when the earliest worker frees up,
        whichever is later, and that worker is then busy until it finishes.
        """
        now = self.env._now
        service = self._service_s(node, lg)
        free = node.free
        first = free[0]
        start = now if first <= now else first
        finish = start + service
        heapq.heapreplace(free, finish)
        if start > now:
            heapq.heappush(node.waiting, start)
            node.wait_sum += start - now
            node.wait_total += start - now
        node.arrivals += 1
        node.win_arrivals += 1
        node.served += 1
        node.svc_total += service
        self._after_service(node, lg, now, start, finish)

    def _after_service(self, node: NodeState, lg: _Login, now: float, start: float,
                       finish: float) -> None:
        """Move a login on from a node where it arrived at ``now``, started service at
        ``start`` and finished at ``finish`` (absolute times; the clock may be at any of
        them)."""
        lg.t_finish = finish
        if node is self.home:
            lg.backend_ms += 1000.0 * (finish - now)
            if node.can_fail:
                node.pending[lg.id] = lg
                self._at_time(finish, self._on_dc_done, (lg, lg.seq))
            else:
                self._finish_ok(lg, finish + self._return_s(lg))
            return
        lg.queue_ms = 1000.0 * (start - now)
        lg.service_ms = 1000.0 * (finish - start)
        if node.can_fail:
            node.pending[lg.id] = lg
        if lg.cache_u < node.hit_ratio:
            if node.can_fail:  # it completes only if the node is still up at the end
                self._at_time(finish, self._on_node_done, (lg, lg.seq))
            else:
                self._finish_ok(lg, finish + lg.rtt / 2000.0)
            return
        half = self.dc_rtt_s[lg.node] / 2
        if self.dc_extra_s[lg.node] or self.dc_loss[lg.node]:
            trip_s = 2 * half + self.dc_extra_s[lg.node]
            loss = self.dc_loss[lg.node]
            while loss > 0 and self._uniform("loss") < loss:
                trip_s += BACKBONE_RETRY_S
            half = trip_s / 2
        lg.backend_ms = 2000.0 * half
        lg.dc_half_s = half
        self._at_time(finish + half, self._on_dc_arrival, (lg, lg.seq))

    def _on_node_done(self, value: tuple[_Login, int]) -> None:
        lg, seq = value
        if lg.seq != seq:
            return  # lost when the node went down; already failing over
        self.nodes[lg.node].pending.pop(lg.id, None)
        self._finish_ok(lg, self.env.now + lg.rtt / 2000.0)

    def _on_dc_done(self, value: tuple[_Login, int]) -> None:
        lg, seq = value
        if lg.seq != seq:
            return  # lost when the data center went down
        self.home.pending.pop(lg.id, None)
        self._finish_ok(lg, self.env.now + self._return_s(lg))

    def _return_s(self, lg: _Login) -> float:
        """From the end of data-center service back to the terminal."""
        return lg.dc_half_s + lg.rtt / 2000.0

    def _on_dc_arrival(self, value: tuple[_Login, int]) -> None:
        lg, seq = value
        if lg.seq != seq:
            return  # lost with its node; already failing over
        node = self.nodes[lg.node]
        if node.can_fail:
            node.pending.pop(lg.id, None)
        home = self.home
        if not home.up:
            if self.dc_mode == "queue":
                lg.t_held = self.env.now
                self.dc_held.append(lg)
            else:
                self._drop_connection(lg)
                self._finish_failed(lg, self.env.now + self.connect_timeout_s)
            return
        self._serve(home, lg)

    # ------------------------------------------------------------------ outcomes

    def _finish_ok(self, lg: _Login, t_end: float) -> None:
        node = self.nodes[lg.node]
        if node.gen == lg.gen:
            if node.can_fail:
                self._session_seq += 1
                heapq.heappush(node.sessions, (t_end + lg.session, self._session_seq, lg.user,
                                               lg.site, lg.access, lg.lm))
            else:
                heapq.heappush(node.sessions, t_end + lg.session)
            # open_conns may still count sessions that ended: tidy up before a new peak
            if node.open_conns > node.peak_conns and \
                    node.connections(self.env._now) > node.peak_conns:
                node.peak_conns = node.open_conns
        node.logins_ok += 1
        self.strategy.on_success(lg.user, lg.node)
        self.counts["succeeded"] += 1
        self._record(lg, t_end, 0)

    def _finish_failed(self, lg: _Login, t_end: float) -> None:
        if lg.node >= 0:
            self._drop_connection(lg)
        self.counts["failed"] += 1
        self._record(lg, t_end, 1)

    def _record(self, lg: _Login, t_end: float, outcome: int) -> None:
        latency_ms = 1000.0 * (t_end - lg.t0)
        site = lg.site
        best = self._best_when_all_up[site] if self.dns.all_up else self._best_rtt(site)
        (a_id, a_t0, a_site, a_user, a_access, a_node, a_dec, a_att, a_out, a_lat,
         a_queue, a_svc, a_back, a_dns, a_best, a_lm, a_trig) = self._appenders
        if outcome == 0:
            a_dec(self.decider_code.get(lg.tag if lg.attempts == 1 else "failover",
                                        self._other))
            a_queue(lg.queue_ms)
            a_svc(lg.service_ms)
            a_back(lg.backend_ms)
        else:
            a_dec(self.decider_code.get(lg.tag, self._other))
            a_queue(0.0)
            a_svc(0.0)
            a_back(0.0)
        a_id(lg.id)
        a_t0(lg.t0)
        a_site(site)
        a_user(lg.user)
        a_access(lg.access)
        a_node(lg.node)
        a_att(lg.attempts)
        a_out(outcome)
        a_lat(latency_ms)
        a_dns(lg.dns_ms)
        a_best(best)
        a_lm(lg.lm)
        a_trig(lg.trigger)

    def _best_rtt(self, site: int) -> float:
        if self.dns.all_up:
            return self._best_when_all_up[site]
        nodes = self.nodes
        for n in self._global_order[site]:
            if nodes[n].up:
                return self.rtt[site][n]
        return math.nan

    # ------------------------------------------------------------------ events and sampling

    def set_node(self, idx: int, up: bool) -> None:
        """Bring a node down or up now (DNS learns at once).

        Going down, the node's waiting and in-service logins fail over after the connect
        timeout (at the home data center: they fail, or wait for it in ``queue`` mode), and
        its sessions drop: those terminals reconnect (a reconnect storm). Coming back up, the
        home data center takes the logins that waited for it.
        """
        node = self.nodes[idx]
        if node.up == up:
            return
        now = self.env.now
        node.up = up
        self.dns.set_up(idx, up)
        if up:
            node.free = [now] * node.workers
            if node is self.home and self.dc_held:
                held, self.dc_held = self.dc_held, []
                for lg in held:
                    lg.backend_ms += 1000.0 * (now - lg.t_held)  # waited for the data center
                    self._serve(node, lg)
            return
        node.gen += 1
        # Work that will not be done: out of the time integrals and the counts.
        node.queue_len  # noqa: B018 - drops logins that started
        node.svc_total -= sum(f - now for f in node.free if f > now)
        node.wait_total -= sum(st - now for st in node.waiting)
        node.waiting.clear()
        node.free = [math.inf] * node.workers
        lost = [lg for lg in node.pending.values() if lg.t_finish > now]
        node.pending.clear()
        for lg in lost:
            node.served -= 1
            self._node_lost(node, lg)
        node.connections(now)
        dropped = sorted(node.sessions)
        node.dropped_sessions += len(dropped)
        node.sessions.clear()
        node.open_conns = 0
        if self.reconnect.enabled:
            for end, _, user, site, access, lm in dropped:
                self._schedule_reconnect(user, site, access, lm, end - now)

    def _node_lost(self, node: NodeState, lg: _Login) -> None:
        """A login was at a node that went down."""
        lg.seq += 1  # whatever was scheduled for it is void
        if node is self.home:
            if self.dc_mode == "queue":
                lg.t_held = self.env.now
                self.dc_held.append(lg)
            else:
                self._finish_failed(lg, self.env.now + self.connect_timeout_s)
        else:
            lg.node = -1
            self.env.timeout(self.connect_timeout_s, lg).callbacks.append(self._on_retry)

    def _schedule_reconnect(self, user: int, site: int, access: int, lm: float,
                            remaining_s: float) -> None:
        if not self._reconnect_draws:
            d = self.rng_reconnect.random((4096, 5))
            d[:, 1] = 1.0 + self.world.scenario.protocol.jitter_fraction * -np.log1p(-d[:, 1])
            d[:, 2] = -np.log1p(-d[:, 2])  # exponential service draws, mean 1
            d[:, 3] = -np.log1p(-d[:, 3])
            self._reconnect_draws = [tuple(row) for row in d.tolist()]
        u_delay, jitter, svc_node, svc_dc, cache_u = self._reconnect_draws.pop()
        lg = _Login()
        lg.trigger = 1
        lg.site = site
        lg.user = user
        lg.access = access
        lg.lm = lm
        lg.jitter = jitter
        lg.session = remaining_s
        lg.svc_node = svc_node
        lg.svc_dc = svc_dc
        lg.cache_u = cache_u
        self.env.timeout(u_delay * self.reconnect.first_delay, lg).callbacks.append(
            self._on_reconnect)

    def _on_reconnect(self, ev: simpy.Event) -> None:
        self.counts["reconnects"] += 1
        self._start(ev.value)

    def _schedule_events(self) -> None:
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
                self._at(ev.at, lambda t=targets, u=up, m=mode: self._set_nodes(t, u, m))
                if ev.for_ is not None:
                    self._at(ev.at + ev.for_,
                             lambda t=targets, u=not up, m=mode: self._set_nodes(t, u, m))
            elif kind == "link_degraded":
                ld = ev.link_degraded
                assert ld is not None and ev.for_ is not None
                if ld.regions is not None:
                    item = (frozenset(ld.regions), ld.extra_ms, ld.loss)
                    self._at(ev.at, lambda i=item: self.degraded_pairs.append(i))
                    self._at(ev.at + ev.for_, lambda i=item: self.degraded_pairs.remove(i))
                else:
                    assert ld.a is not None and ld.b is not None
                    through = world.nodes_routed_through(ld.a, ld.b)
                    self._at(ev.at, lambda n=through, x=ld.extra_ms, p=ld.loss:
                             self._degrade_backbone(n, x, p, +1))
                    self._at(ev.at + ev.for_, lambda n=through, x=ld.extra_ms, p=ld.loss:
                             self._degrade_backbone(n, x, p, -1))

    def _set_nodes(self, targets: list[int], up: bool, mode: str) -> None:
        if not up and self.home.idx in targets:
            self.dc_mode = mode
        for i in targets:
            self.set_node(i, up)

    def _degrade_backbone(self, nodes: list[int], extra_ms: float, loss: float,
                          sign: int) -> None:
        for n in nodes:
            self.dc_extra_s[n] = max(0.0, self.dc_extra_s[n] + sign * extra_ms / 1000.0)
            self.dc_loss[n] = max(0.0, self.dc_loss[n] + sign * loss)

    def _at(self, t: float, action: Callable[[], object]) -> None:
        self.env.timeout(t).callbacks.append(lambda _: action())

    def _sample(self, _: simpy.Event | None = None) -> None:
        env = self.env
        now = env.now
        dt = self.world.scenario.outputs.sample_every
        rows = self.load_rows
        for node in self.served_nodes:
            area = node.busy_area(now) if node.up else node.svc_total
            util = (area - node.win_b_area) / (node.workers * dt) if now > 0 else 0.0
            node.win_b_area = area
            node.util_published = util
            if now > 0:
                rows["t_s"].append(now)
                rows["node"].append(node.idx)
                rows["connections"].append(node.connections(now))
                rows["logins_per_s"].append(node.win_arrivals / dt)
                rows["queue_len"].append(node.queue_len if node.up else 0)
                rows["utilization"].append(util)
            node.win_arrivals = 0
        if now + dt <= self.world.scenario.duration + 1e-9:
            env.timeout(dt).callbacks.append(self._sample)

    # ------------------------------------------------------------------ run

    def run(self, progress: Callable[[float], None] | None) -> ReplicationOutput:
        sc = self.world.scenario
        env = self.env
        self._schedule_events()
        self._sample()
        env.timeout(sc.duration).callbacks.append(self._snapshot)
        end = sc.duration + _DRAIN_S
        steps = 50
        self._next_chunk()
        times = self._chunk.t_s if self._chunk is not None else []
        row, rows = 0, len(times)
        t_arrival = times[0] if rows else math.inf
        queue, step = env._queue, env.step
        lane = self._lane
        pop = heapq.heappop
        inf = math.inf
        for k in range(1, steps + 1):
            until = end * k / steps
            while True:
                # Three sources in time order (ties: arrival, then light calendar, then
                # SimPy). Arrivals and the light calendar are not SimPy events: the clock is
                # moved to them directly (SimPy keeps the current time in Environment._now).
                t_event = queue[0][0] if queue else inf
                t_lane = lane[0][0] if lane else inf
                if t_arrival <= t_lane and t_arrival <= t_event:
                    if t_arrival > until:
                        break
                    env._now = t_arrival
                    self._arrive(row)
                    row += 1
                    if row < rows:
                        t_arrival = times[row]
                    elif self._next_chunk():
                        times = self._chunk.t_s  # type: ignore[union-attr]
                        row, rows = 0, len(times)
                        t_arrival = times[0]
                    else:
                        t_arrival = inf
                elif t_lane <= t_event:
                    if t_lane > until:
                        break
                    t, _, handler, value = pop(lane)
                    env._now = t
                    handler(value)
                elif t_event <= until:
                    step()
                else:
                    break
            env._now = until
            if self.sink is not None and len(self.cols["login_id"]) >= SINK_ROWS:
                self._to_sink(final=False)
            if progress is not None:
                progress(k / steps)
        return self._output(end)

    def _snapshot(self, _: simpy.Event) -> None:
        """Node counters at the end of the arrival window (the drain after it is excluded)."""
        now = self.env.now
        ns = self.nodes
        self._stats = {
            "arrivals": np.array([n.arrivals for n in ns]),
            "served": np.array([n.served for n in ns]),
            "wait_sum_s": np.array([n.wait_sum for n in ns]),
            "q_area": np.array([n.queue_area(now) if n.up else n.wait_total for n in ns]),
            "b_area": np.array([n.busy_area(now) if n.up else n.svc_total for n in ns]),
        }

    def _sorted_rows(self, upto: int | None) -> dict[str, np.ndarray]:
        """Take recorded rows out of the columns in login order, with the derived columns.

        Records are in completion order. ``upto=None`` takes the rows of logins all of whose
        predecessors have finished (the next ones may still be in flight) and keeps the rest
        recorded; a number takes that many rows, all of them. Columns are sorted one at a
        time, each released as soon as its sorted copy exists (peak memory: the records plus
        one column, not twice the records).
        """
        cols = self.cols
        ids = np.frombuffer(cols["login_id"], dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        if upto is None:  # the longest run of consecutive ids from the first not taken
            gaps = np.flatnonzero(ids[order] != self._sunk_upto + np.arange(len(ids)))
            upto = int(gaps[0]) if len(gaps) else len(ids)
        del ids
        take, keep = order[:upto], order[upto:]
        logins = {}
        for c in list(cols):
            a = cols.pop(c)
            col = np.frombuffer(a, dtype=_NUMPY[a.typecode])
            logins[c] = col[take]
            if len(keep):
                cols[c] = array(a.typecode, col[keep].tobytes())
            else:
                cols[c] = array(a.typecode)
            del col, a
        self._appenders = tuple(self.cols[c].append if c in self.cols else _discard
                                for c in LOGIN_COLUMNS if c not in _DERIVED)
        # Derived columns, in float32 like the others (no float64 temporaries of every row).
        failed = logins["outcome"] != 0
        if "rtt_ms" in self.kept:  # the path's RTT (no last mile) to the node it logged in at
            node = logins["node"].copy()
            node[failed] = 0
            rtt = self.world.site_node_rtt_ms.astype(np.float32)[logins["site"], node]
            del node
            rtt[failed] = np.nan
            logins["rtt_ms"] = rtt
        if "connect_ms" in self.kept:  # the rest of the latency: DNS, handshakes, legs
            connect = logins["latency_ms"].copy()
            for c in ("queue_ms", "service_ms", "backend_ms"):
                connect -= logins[c]
            logins["connect_ms"] = connect
        del failed
        return {c: logins[c] for c in self.kept}

    def _to_sink(self, final: bool) -> None:
        """Hand the rows that are complete in login order to the sink; keep their summary
        columns."""
        rows = self._sorted_rows(len(self.cols["login_id"]) if final else None)
        n = len(rows["login_id"])
        if n == 0:
            return
        self._sunk_upto = int(rows["login_id"][-1]) + 1
        for c, parts in self._sunk.items():
            parts.append(rows[c])
        assert self.sink is not None
        self.sink(rows)

    def _output(self, end: float) -> ReplicationOutput:
        # The per-terminal state (DNS caches, last good nodes: tens of bytes a terminal) is
        # done with: let it go before the records are sorted.
        self.counts["dns_lookups"] = self.dns.lookups
        del self.dns, self.strategy
        if self.sink is not None:
            self._to_sink(final=True)
            logins = {}
            for c in list(self._sunk):  # one column at a time, its parts released at once
                parts = self._sunk.pop(c)
                logins[c] = np.concatenate(parts) if parts else np.empty(0, LOGIN_DTYPES[c])
                del parts
        else:
            logins = self._sorted_rows(len(self.cols["login_id"]))
        self._appenders = ()
        node_load = {k: np.asarray(v, dtype=np.int64 if k in ("node", "connections",
                                                              "queue_len") else np.float64)
                     for k, v in self.load_rows.items()}
        ns = self.nodes
        node_stats = {
            **self._stats,
            "logins_ok": np.array([n.logins_ok for n in ns]),
            "peak_connections": np.array([n.peak_conns for n in ns]),
            "rejected": np.array([n.rejected for n in ns]),
            "timeouts": np.array([n.timeouts for n in ns]),
            "dropped_sessions": np.array([n.dropped_sessions for n in ns]),
            "workers": np.array([n.workers for n in ns]),
        }
        counts = dict(self.counts)
        counts["in_flight"] = counts["attempted"] - counts["succeeded"] - counts["failed"]
        return ReplicationOutput(self.replication, logins, node_load, node_stats, counts,
                                 self.world.scenario.duration, list(self.workload.access_names),
                                 self.trace)


class ReferenceEngine(_Engine):
    """The same model written the straightforward SimPy way, to check the fast engine.

    Arrivals come from a process that sleeps between them; every delay is a
    :class:`simpy.Timeout`; each node is a :class:`simpy.Resource` with one process per login
    that requests a worker, holds it for the service time and releases it. Scenarios with
    events (failures) and load-aware spill on utilisation are not supported: it exists to show
    that the fast path's FIFO recursion and light calendar give the same per-login results.
    """

    def __init__(self, world: World, replication: int, seed: np.random.SeedSequence,
                 per_login: bool | None = True):
        super().__init__(world, replication, seed, per_login)
        if world.scenario.events:
            raise ValueError("the reference engine does not model scheduled events")
        self.resources = [simpy.Resource(self.env, capacity=n.workers) for n in self.nodes]
        for node, res in zip(self.nodes, self.resources):
            node.free = []  # unused here; the resource holds the workers
            node._env = self.env
        self._queue_of = {id(n): r for n, r in zip(self.nodes, self.resources)}

    def _at_time(self, t: float, handler: Callable[[Any], None], value: Any) -> None:
        self.env.timeout(t - self.env.now, value).callbacks.append(
            lambda ev: handler(ev.value))

    def _serve(self, node: NodeState, lg: _Login) -> None:
        self.env.process(self._serve_process(node, lg))

    def _serve_process(self, node: NodeState, lg: _Login) -> Any:
        env = self.env
        arrived = env.now
        res = self.resources[node.idx]
        node.arrivals += 1
        node.win_arrivals += 1
        with res.request() as req:
            yield req
            start = env.now
            service = self._service_s(node, lg)
            node.served += 1
            node.wait_sum += start - arrived
            node.svc_total += service
            yield env.timeout(service)
        self._after_service(node, lg, arrived, start, env.now)

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
        self._sample()
        env.timeout(sc.duration).callbacks.append(self._snapshot)
        env.process(self._arrivals())
        end = sc.duration + _DRAIN_S
        env.run(until=end)
        if progress is not None:
            progress(1.0)
        return self._output(end)


def run_replication(world: World, replication: int, seed: np.random.SeedSequence, *,
                    per_login: bool | None = None,
                    progress: Callable[[float], None] | None = None,
                    trace_attempts: bool = False,
                    sink: Callable[[dict[str, np.ndarray]], None] | None = None
                    ) -> ReplicationOutput:
    """Simulate one replication of a world.

    Parameters
    ----------
    world : World
        From :func:`sim.model.world.build_world`.
    replication : int
        Its number (recorded with the output).
    seed : numpy.random.SeedSequence
        The replication's seed; every random stream is spawned from it.
    per_login : bool, optional
        Keep every column of every login (default: the scenario's ``outputs.per_login``);
        off, only the columns the summary and figures need (:data:`SUMMARY_COLUMNS`).
    progress : callable, optional
        Called with the fraction of simulated time done.
    trace_attempts : bool
        Keep every connect attempt in ``ReplicationOutput.attempts`` (for tests and debugging).
    sink : callable, optional
        Stream the per-login records: every column of every login is handed to
        ``sink(columns)`` in login order, in batches of about :data:`SINK_ROWS` rows, as the
        run goes (and the last batch at its end); ``ReplicationOutput.logins`` then keeps
        only :data:`SUMMARY_COLUMNS`. Memory then stays flat in the number of logins, apart
        from those few columns.
    """
    return _Engine(world, replication, seed, per_login, trace_attempts, sink).run(progress)
