"""The run loop and the login lifecycle: nodes with login workers and connection limits,
logins, failures.

One replication is one :class:`simpy.Environment`. Pure delays (DNS, handshakes, request and
response legs, backbone trips) are single timeouts whose callbacks move the login on; no
process per login. A login costs one or two events: its arrival at the node and, on a cache
miss, its arrival at the home data center. Arrivals come from numpy batches and are fed to the
event loop directly rather than as events of their own; while every node is up, the strategy
plans each batch ahead in numpy as far as live state allows (``Strategy.prepare``).

Node model: see :mod:`sim.engine.nodes` (FIFO login workers, the multi-server recursion).
The calendar: :mod:`sim.engine.environment`. Scheduled events: :mod:`sim.engine.disruptions`.
Node-load samples: :mod:`sim.engine.sampling`. Per-login rows: :mod:`sim.engine.recording`.
:class:`~sim.engine.reference.ReferenceEngine` models the same nodes with ``simpy.Resource``
and a process per login; a test checks that both give the same per-login results.

``connection_limit`` caps open connections (a login over the limit is rejected and the SDK
moves on); a connection stays open for the session after the login. When a node goes down,
its queued and in-service logins fail over, and its sessions are dropped; their terminals
notice at their next unanswered heartbeat and log in again.

Deadlines: the SDK abandons an attempt whose answer has not come within its answer timeout
(``failover.attempt_timeout``) and retries after a backoff; the nodes do the work all the same
(nothing tells them the terminal left). The login fails when its ``deadline`` or its attempts
run out. Because a node's FIFO settles a login's service the moment it arrives, an attempt
that will miss its deadline is known then, and the abandonment costs one event at the
deadline. Each edge node forwards retries only within its retry budget
(``failover.retry_budget``).
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import simpy

from sim.addressing import get_strategy
from sim.addressing.base import NodeView, Strategy
from sim.addressing.region import GeoDns
from sim.config.schema import SpillLevelSpec
from sim.engine.disruptions import Disruptions
from sim.engine.environment import SimEnvironment
from sim.engine.health import HealthChecks
from sim.engine.login import Login
from sim.engine.nodes import NodeState
from sim.engine.recording import SINK_ROWS, Recorder
from sim.engine.records import ReplicationOutput, decider_names
from sim.engine.reports import LoadReports
from sim.engine.sampling import Sampler
from sim.engine.streams import ExponentialDraws, UniformDraws
from sim.model.lastmile import ACCESS_PROFILES
from sim.model.paths import MAX_SYN_RETRIES, SYN_RTO_S
from sim.model.workload import ArrivalChunk, Workload
from sim.model.world import World

if TYPE_CHECKING:
    from sim.engine.trace import LoginTracer

__all__ = ["Engine", "run_replication", "TCP_RTO_S", "DRAIN_S"]

TCP_RTO_S = SYN_RTO_S
"""Initial TCP retransmission timeout (RFC 6298): what a lost handshake packet costs."""
DRAIN_S = 300.0
"""Simulated time after the arrival window for logins in flight to finish."""


class Engine:
    """One replication: the login lifecycle (arrive, resolve, connect, queue, serve, reach
    the home data center, finish or fail over), with its collaborators: the calendar
    (:class:`~sim.engine.environment.SimEnvironment`), the nodes
    (:class:`~sim.engine.nodes.NodeState`), the disruptions, the sampler and the recorder.

    Parameters
    ----------
    world : World
        The built world.
    replication : int
        Its number (recorded with the output).
    seed : numpy.random.SeedSequence
        The replication's seed; every random input gets its own child of it.
    per_login : bool, optional
        Keep every per-login column (default: the scenario's ``outputs.per_login``).
    trace_attempts : bool
        Keep every connect attempt.
    sink : callable, optional
        Stream the per-login records (see :func:`run_replication`).
    """

    tracer: LoginTracer | None = None
    """Follows one login's decisions (:class:`sim.engine.trace.TracingEngine`); None here."""
    _traced: Login | None = None
    """The login the tracer follows (None: none). The engine tells the tracer what it decides
    for that login only: ``lg is self._traced`` is the one check a step pays."""

    def __init__(self, world: World, replication: int, seed: np.random.SeedSequence,
                 per_login: bool | None = None, trace_attempts: bool = False,
                 sink: Callable[[dict[str, np.ndarray]], None] | None = None):
        sc = world.scenario
        self.world = world
        self.replication = replication
        self.env = SimEnvironment()
        # One stream per random input: arrivals, backoff, DNS, strategy, reconnects, loss,
        # 0-RTT, health-check phases, connect noise.
        streams = seed.spawn(9)
        nearest = world.site_node_rtt_ms[np.arange(len(world.sites)),
                                          [order[0] for order in world.site_global_order]]
        self.workload = Workload(sc, world.sites, streams[0], site_rtt_ms=nearest)
        self.u_backoff = UniformDraws(streams[1])
        p = world.params
        can_fail = self._nodes_that_can_fail(world)
        self.nodes = [NodeState(self.env, i, k, p.workers[i], p.service_s[i],
                                p.service_distribution[i], p.cache_hit_ratio[i],
                                p.connection_limit[i], i in can_fail)
                      for i, k in enumerate(world.topology.kinds)]
        for node, ttl in zip(self.nodes, p.ticket_ttl):
            node.ticket_ttl = ttl
        for ev in sc.events:
            if ev.slowdown is not None:
                assert ev.end is not None
                self.nodes[world.topology.index[ev.slowdown.node]].slow.append(
                    (ev.at, ev.end, ev.slowdown.factor))
        self._register_sync = p.register_sync
        self.ticket_node = array("i")
        """Per terminal, the ticket-keeping node of its last login there (-1: none), when
        some node keeps tickets (filled in :meth:`_start_in_steady_state`) ..."""
        self.ticket_t = array("d")
        """... and when that login ended (s; negative: before the run)."""
        self.dns = GeoDns(world, sc.addressing.region, sc.addressing.httpdns,
                          self.workload.users_per_site, np.random.default_rng(streams[2]))
        region = sc.addressing.region
        self.health = HealthChecks(self.env, len(world.topology.node_ids),
                                   region.health_check_interval, region.health_check_failures,
                                   np.random.default_rng(streams[7]), self.dns.set_up)
        self.n_down = 0
        """Nodes really down now (the authoritative view lags: :attr:`health`)."""
        strategy_cls = get_strategy(sc.addressing.strategy)
        # NodeState offers what NodeView names (some as read-only properties).
        views = cast("list[NodeView]", self.nodes)
        self.strategy: Strategy = strategy_cls(world, sc.addressing, views,
                                               np.random.default_rng(streams[3]))
        fo = sc.addressing.failover
        self.connect_timeout_s = fo.connect_timeout
        self.max_attempts = fo.max_attempts
        self.backoff = fo.backoff
        self.deadline_s = fo.deadline
        self.budget = fo.retry_budget
        self._reserve_per_s = 0.0 if self.budget is None else \
            self.budget.min_per_s / sc.population.sample_one_in
        """The budget's reserve per second (a 1-in-k sample gets 1/k, like the workers)."""
        self._timeout_s = [fo.attempt_timeout_mobile if ACCESS_PROFILES[a].mobile
                           else fo.attempt_timeout for a in self.workload.access_names]
        """The SDK's answer timeout by access type code."""
        self.handshake_rtts = sc.protocol.handshake_rtts
        self.zero_rtt_share = sc.protocol.quic_0rtt_share if sc.protocol.transport == "quic" \
            else 0.0
        self.rtt = world.site_node_rtt_ms.tolist()
        self.legs = self.workload.legs
        self.home = self.nodes[world.home_dc]
        if per_login is None:
            per_login = sc.outputs.per_login
        self.recorder = Recorder(world.site_node_rtt_ms, per_login,
                                 decider_names(strategy_cls.name, strategy_cls.LEVELS), sink,
                                 self.workload.terminal_access,
                                 self.workload.terminal_last_mile)
        self._global_order = world.site_global_order
        self._best_when_all_up = [self.rtt[s][order[0]]
                                  for s, order in enumerate(world.site_global_order)]
        self.counts = {"failed": 0, "reconnects": 0, "expired_attempts": 0,
                       "deadline_failures": 0, "budget_refusals": 0, "ticket_hits": 0}
        """Counters of the replication (``attempted`` and ``succeeded`` are derived at the
        end: :meth:`_output`)."""
        self.sampler = Sampler(self.env, self.nodes, sc.outputs.sample_every, sc.duration)
        spill = cast(SpillLevelSpec, sc.addressing.level("spill") or SpillLevelSpec())
        self.reports = LoadReports(self.env, self.nodes, spill.report_interval,
                                   spill.report_delay, sc.duration + DRAIN_S)
        self._chunk: ArrivalChunk | None = None
        self._chunks = self.workload.chunks()
        self.trace: list[tuple[float, int, int, int, str]] | None = [] if trace_attempts \
            else None
        self.avoid_for_s = fo.avoid_for
        self.avoid: dict[int, dict[int, float]] = {}  # user -> {node: avoid until}
        self.reconnect = sc.reconnect
        self.rng_reconnect = np.random.default_rng(streams[4])
        self.u_loss = UniformDraws(streams[5])
        self.u_zero_rtt = UniformDraws(streams[6])
        self.x_connect = ExponentialDraws(streams[8])
        self._n_noise = max(1, self.strategy.race_k) if self.strategy.connect_noise_ms > 0 \
            else 0
        self._chunk_noise = self.workload.noise_draws == self._n_noise
        self._all_up_at = self.dns.all_up_at
        if type(self)._at_time is Engine._at_time:  # (the reference engine has its own)
            self._at_time = self.env.call_at  # type: ignore[method-assign]
        self._staleness_s = self.strategy.probe_staleness_s
        self._race_k = self.strategy.race_k
        self._race_gap_ms = 1000.0 * self.strategy.race_delay_s
        self._noise_ms = self.strategy.connect_noise_ms
        self._last_change = -math.inf
        self._reconnect_draws: list[tuple[float, ...]] = []
        self._next_id = 0
        self._session_seq = 0
        self.site_region = list(world.sites.regions)
        self.node_region = list(world.topology.regions)
        self._backend_epoch = 0
        """Bumped when the backbone's routes move: the batch's prepared plans are void."""
        self._chunk_epoch = 0
        self.disruptions = Disruptions(self.env, world, self.set_node, self._on_backend)
        # The disruptions' state the hot path reads, by reference.
        d = self.disruptions
        self.degraded_pairs = d.degraded_pairs
        self.dc_rtt_s = d.dc_rtt_s
        self.dc_trip = d.dc_trip
        self._rto_min_s = sc.paths.rto_min
        self._traced = None  # (an instance attribute: the hot path reads it fastest)
        self.dc_held: dict[int, Login] = {}
        """Logins waiting for the home data center to come back (``queue`` mode), by id."""
        self._times: Sequence[float] = []
        self._row = 0
        self._tokens: Sequence[Any] | None = ()  # prepared plans of the chunk; None: never
        self._fresh_region: list[int] = []
        self._keys: list[int] = []
        self._ask_ms: list[float] = []
        self._start_in_steady_state()

    # ------------------------------------------------------------------ arrivals

    def _start_in_steady_state(self) -> None:
        """Start in steady state.

        Every terminal remembers the node of its last login (for ``sticky``) and, at a
        ticket-keeping node, holds a ticket from its last login there
        (:meth:`Workload.last_login_ago`). The sessions a stationary run holds at t = 0
        (:meth:`Workload.open_sessions`) are open at that node. The node is the one the
        addressing gives the terminal now: :meth:`Strategy.first_nodes`, or the first node
        of its prepared plan (at t = 0 no node has reported load and no terminal has a last
        node, so it depends on the plan's token alone); for a strategy with neither, its
        :meth:`Strategy.plan`, for the terminals with an open session only (the others start
        with no memory).
        """
        wl = self.workload
        strategy = self.strategy
        dns = self.dns
        site, user, access, lm, remaining = wl.open_sessions()
        all_site = wl.terminal_site
        all_user = np.arange(len(all_site), dtype=np.int64)
        codes = dns.fresh_codes(all_site, all_user)
        node_of_user = strategy.first_nodes(all_site, codes, dns.complete_view)
        if node_of_user is None:
            node_of_user = self._first_prepared_nodes(all_site, codes)
        if node_of_user is not None:
            node_of = node_of_user[user]
        else:
            node_of = np.array([strategy.plan(s, u, 0.0, dns.answer(s, c, 0, 0.0))[0][0]
                                for s, u, c in zip(site.tolist(), user.tolist(),
                                                   codes[user].tolist())], dtype=np.int64)
            node_of_user = np.full(len(all_site), -1, dtype=np.int64)
            node_of_user[user] = node_of
        strategy.probe_ms = 0.0
        if type(strategy).on_success_many is not Strategy.on_success_many:
            known = node_of_user >= 0  # (a strategy told in numpy: every terminal)
            strategy.on_success_many(all_user[known], node_of_user[known])
        else:
            strategy.on_success_many(user, node_of)
        if any(n.ticket_ttl for n in self.nodes):
            ttl = np.array([n.ticket_ttl for n in self.nodes])
            keeps = (node_of_user >= 0) & (ttl[np.maximum(node_of_user, 0)] > 0)
            self.ticket_node = array("i", np.where(keeps, node_of_user, -1)
                                     .astype(np.int32).tobytes())
            self.ticket_t = array("d", (-wl.last_login_ago()).tobytes())
        order = np.argsort(node_of, kind="stable")
        bounds = np.searchsorted(node_of[order], np.arange(len(self.nodes) + 1))
        for node in self.nodes:
            rows = order[bounds[node.idx]:bounds[node.idx + 1]]
            if not len(rows):
                continue
            if node.can_fail:
                seq = self._session_seq
                node.sessions.extend(zip(remaining[rows].tolist(),
                                         range(seq + 1, seq + 1 + len(rows)),
                                         user[rows].tolist(), site[rows].tolist(),
                                         access[rows].tolist(), lm[rows].tolist()))
                self._session_seq = seq + len(rows)
            else:
                node.sessions.extend(remaining[rows].tolist())
            heapq.heapify(node.sessions)
            node.open_conns += len(rows)
            node.peak_conns = node.open_conns

    def _first_prepared_nodes(self, sites: np.ndarray, codes: np.ndarray) -> np.ndarray | None:
        """The first node of each terminal's prepared plan at t = 0 (None: the strategy
        prepares no plans); each distinct token is planned once."""
        strategy = self.strategy
        tokens = strategy.prepare(sites, codes, self.dns.complete_view)
        if tokens is None:
            return None
        # (with ``probe: sync`` a token is a (plan, probe round) pair: the plan decides)
        same = (lambda t: id(t[0])) if tokens and type(tokens[0]) is tuple else id
        ids = np.fromiter(map(same, tokens), dtype=np.int64, count=len(tokens))
        _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
        firsts = [strategy.plan_prepared(tokens[i], 0, 0, 0.0)[0][0] for i in first.tolist()]
        return np.array(firsts, dtype=np.int64)[inverse]

    @staticmethod
    def _nodes_that_can_fail(world: World) -> set[int]:
        topo = world.topology
        out: set[int] = set()
        for ev in world.scenario.events:
            for name in (ev.node_down, ev.datacenter_down):
                if name is not None:
                    out.add(topo.index[name])
            if ev.region_outage is not None:
                out.update(world.region_outage_nodes(ev.region_outage))
        return out

    def _on_backend(self, expected_ms: Sequence[float]) -> None:
        """The backbone's routes moved: tell the addressing, and plan afresh."""
        self._backend_epoch += 1
        self.strategy.on_backend(expected_ms)

    def _next_chunk(self) -> bool:
        self._chunk = c = next(self._chunks, None)
        if c is None:
            return False
        self._chunk_epoch = self._backend_epoch
        if self._tokens is not None:
            # The strategy plans the batch ahead, as far as it can without live state.
            codes, self._keys, self._ask_ms = self.dns.chunk_lookups(
                c.site_array, c.user_array, c.last_mile_array)
            self._tokens = self.strategy.prepare(c.site_array, np.array(codes, dtype=np.int64),
                                                 self.dns.complete_view)
            self._fresh_region = codes
        return True

    def _arrive(self, i: int) -> None:
        """Login ``i`` of the current chunk arrives now."""
        c = self._chunk
        assert c is not None
        lg = Login()
        lg.trigger = 0
        lg.site = c.site[i]
        lg.user = c.user[i]
        lg.access = c.access[i]
        lg.last_mile_ms = c.last_mile_ms[i]
        lg.jitter = c.jitter[i]
        lg.extra_s = c.extra_s[i]
        lg.z_back = c.z_back[i]
        lg.u_back = c.u_back[i]
        lg.session_s = c.session_s[i]
        lg.svc_node = c.service_node[i]
        lg.svc_dc = c.service_dc[i]
        lg.cache_u = c.cache_u[i]
        if self._n_noise:
            if self._chunk_noise:
                lg.noise = c.noise
                lg.noise_at = i * self._n_noise
            else:
                lg.noise = self.x_connect.take(self._n_noise)
                lg.noise_at = 0
        self._start(lg, i)

    def _start(self, lg: Login, row: int = -1) -> None:
        """A login (an arrival or a reconnect) starts now: number it and address it."""
        lg.id = self._next_id
        self._next_id += 1
        lg.t0 = self.env._now
        lg.attempts = 0
        lg.round = 0
        lg.seq = 0
        lg.node = -1
        lg.leg = 0
        lg.backoffs = 0
        lg.dc_half_s = 0.0
        lg.deadline = lg.give_up = lg.t0 + self.deadline_s
        lg.rtt_ms = 0.0
        lg.queue_ms = lg.service_ms = lg.backend_ms = lg.probe_ms = 0.0
        lg.path = 0
        self._plan(lg, 0.0, row)

    # ------------------------------------------------------------------ addressing

    def _plan(self, lg: Login, delay_s: float, row: int = -1) -> None:
        """Look the terminal's answer up and plan its candidates; ``row`` is the login's row
        in the current chunk when the strategy prepared it (arrivals), else -1."""
        now = self.env._now
        dns = self.dns
        site = lg.site
        user = lg.user
        lm = lg.last_mile_ms
        tokens = self._tokens if row >= 0 else None
        traced = lg is self._traced
        if traced:
            assert self.tracer is not None
            self.tracer.before_plan(lg)
        if tokens is not None:
            dns_ms, region, epoch = dns.lookup_row(site, user, now, lm, self._keys[row],
                                                   self._ask_ms[row])
        else:
            dns_ms, region, epoch = dns.lookup_fast(site, user, now, lm)
        first_round = lg.round == 0
        if first_round:
            lg.dns_ms = dns_ms
        strategy = self.strategy
        if tokens is not None and not self.n_down and region == self._fresh_region[row] \
                and self._all_up_at[epoch] and now - self._last_change >= self._staleness_s \
                and self._chunk_epoch == self._backend_epoch:
            # The answer lists every node of the region and every node is up (and was, as
            # far as the SDK's probes go back): the plan prepared for the batch holds.
            cands, tag = strategy.plan_prepared(tokens[row], site, user, now)
            if traced:
                assert self.tracer is not None
                self.tracer.prepared(lg, tokens[row], row)
        else:
            cands, tag = strategy.plan(site, user, now, dns.answer(site, region, epoch, dns_ms))
        lg.candidates = cands
        lg.tag = tag
        lg.moved = strategy.moved
        lg.pos = 0
        delay_s += dns_ms / 1000.0
        probe = strategy.probe_ms
        if probe > 0.0:  # the SDK waits for its probe round before connecting
            probe = strategy.probe_timeout_ms if probe == math.inf else \
                min(strategy.probe_timeout_ms, probe + lm + lg.jitter)
            if first_round:
                lg.probe_ms = probe
            delay_s += probe / 1000.0
        if traced:
            assert self.tracer is not None
            self.tracer.planned(lg, dns_ms, region, epoch, probe, delay_s)
        if self._race_k > 1 and first_round and tag != "sticky":
            if not self.avoid and cands:
                # The common case of the race: the first candidate connects before the
                # second would start (what _race would find, without the call).
                n = cands[0]
                node = self.nodes[n]
                if node.up and node.open_conns < node.conn_limit:
                    rtt = self.rtt[site][n] + lm + lg.jitter
                    if self._n_noise:
                        rtt += self._noise_ms * lg.noise[lg.noise_at]
                    if rtt < self._race_gap_ms:
                        if traced:
                            assert self.tracer is not None
                            self.tracer.raced(lg, cands[:self._race_k], 1, n, rtt / 1000.0)
                        lg.attempts = 1
                        lg.pos = 1
                        self._connect(lg, n, delay_s, rtt)
                        return
            self._race(lg, delay_s)
        else:
            self._attempt(lg, delay_s)

    def _race(self, lg: Login, delay_s: float) -> None:
        """Connect to the first ``race_k`` candidates, ``race_delay_s`` apart, on the RTTs
        this login sees (RFC 8305): the first to connect wins and the attempts not started
        by then never start; those started are cancelled (each counted in ``raced`` at its
        node). A node that is down or full does not connect. When none of them connects,
        the login goes on with the next candidate once the last raced connect has failed.
        """
        env = self.env
        now = env._now
        avoid = self.avoid.get(lg.user) if self.avoid else None
        cands = lg.candidates
        gap = self.strategy.race_delay_s
        noise = self.strategy.connect_noise_ms
        racers: list[int] = []
        pos = 0
        k = self.strategy.race_k
        while pos < len(cands) and len(racers) < k:
            n = cands[pos]
            pos += 1
            if avoid is None or avoid.get(n, -1.0) <= now:
                racers.append(n)
        if len(racers) < 2 or lg.attempts + len(racers) > self.max_attempts:
            self._attempt(lg, delay_s)
            return
        nodes = self.nodes
        row = self.rtt[lg.site]
        best_t, best, started = math.inf, -1, 0
        for j, n in enumerate(racers):
            start = j * gap
            if start >= best_t:
                break
            started += 1
            node = nodes[n]
            if not node.up or (node.open_conns >= node.conn_limit and
                               node.connections(now) >= node.conn_limit):
                continue
            rtt = row[n] + lg.last_mile_ms + lg.jitter + \
                (noise * lg.noise[lg.noise_at + j] if noise > 0 else 0.0)
            if start + rtt / 1000.0 < best_t:
                best_t, best = start + rtt / 1000.0, n
        if lg is self._traced:
            assert self.tracer is not None
            self.tracer.raced(lg, racers, started, best, best_t)
        if best < 0:  # nothing connected: the next candidates after the last failure
            lg.attempts += started
            lg.pos = pos
            last = max(self._failed_connect(lg, n, delay_s + j * gap,
                                            row[n] + lg.last_mile_ms + lg.jitter)
                       for j, n in enumerate(racers))
            env.timeout(last, lg).callbacks.append(self._on_retry)
            return
        for n in racers[:started]:
            if n != best:
                nodes[n].raced += 1
        # One attempt, however many connects it raced; the winner first, the others stay
        # candidates for failover.
        lg.attempts += 1
        lg.candidates = [best] + [n for n in cands if n != best]
        lg.pos = 1
        start = racers.index(best) * gap
        self._connect(lg, best, delay_s + start, 1000.0 * (best_t - start))

    def _attempt(self, lg: Login, delay_s: float) -> None:
        """Try the next candidate; ``delay_s`` is time already spent before the try."""
        env = self.env
        give_up = lg.give_up
        if lg.attempts >= self.max_attempts or env._now + delay_s >= give_up:
            self._give_up(lg, env._now + delay_s)
            return
        if lg.pos >= len(lg.candidates):
            lg.round += 1
            lg.backoffs += 1
            wait = self._backoff_s(lg.backoffs)
            if lg is self._traced:
                assert self.tracer is not None
                self.tracer.backoff(lg, delay_s, wait, "every candidate tried: a new round")
            if env._now + delay_s + wait >= give_up:
                self._give_up(lg, give_up)
                return
            env.timeout(delay_s + wait, lg).callbacks.append(self._on_replan)
            return
        n = lg.candidates[lg.pos]
        lg.pos += 1
        avoid = self.avoid.get(lg.user) if self.avoid else None
        if avoid is not None and avoid.get(n, -1.0) > env._now:
            if lg is self._traced:
                assert self.tracer is not None
                self.tracer.note(lg, env._now + delay_s, f"skips {self.world.topology.node_ids[n]}:"
                                 f" it timed out for this terminal (avoided until "
                                 f"{avoid[n]:.3f} s)")
            self._attempt(lg, delay_s)  # this terminal saw the node time out: skip it
            return
        lg.attempts += 1
        self._connect(lg, n, delay_s, -1.0)

    def _connect(self, lg: Login, n: int, delay_s: float, rtt_ms: float) -> None:
        """Connect to node ``n`` after ``delay_s``; ``rtt_ms`` is the round trip this connect
        sees (negative: drawn here)."""
        env = self.env
        node = self.nodes[n]
        traced = lg is self._traced
        if traced:
            assert self.tracer is not None
            self.tracer.connecting(lg, n, delay_s)
        if rtt_ms < 0.0:
            rtt_ms = self.rtt[lg.site][n] + lg.last_mile_ms + lg.jitter
            noise = self.strategy.connect_noise_ms
            if noise > 0.0:  # (a failover connect reuses the login's draws in turn)
                rtt_ms += noise * lg.noise[lg.noise_at + lg.attempts % self._n_noise]
        rtts = self.handshake_rtts
        if self.zero_rtt_share > 0 and self.u_zero_rtt.next() < self.zero_rtt_share:
            rtts = 0.0
        if self.degraded_pairs:
            rtt_ms, extra_s = self._degrade(lg.site, n, rtt_ms, rtts + 1.0)
            delay_s += extra_s
        if lg.extra_s:  # the first connect's draws: the radio's wake-up, lost packets
            delay_s += lg.extra_s
            lg.extra_s = 0.0
        elif lg.attempts > 1 or lg.trigger:  # later connects and reconnects
            delay_s += self.legs.later_loss_s(lg.access, rtt_ms, lg.u_back, lg.attempts)
        if not node.up or (node.open_conns >= node.conn_limit and
                           node.connections(env._now) >= node.conn_limit):
            seen_s = self._failed_connect(lg, n, delay_s, rtt_ms)
            env.timeout(seen_s, lg).callbacks.append(self._on_retry)
            return
        if self.trace is not None:
            self.trace.append((env._now + delay_s, lg.id, lg.user, n, "connected"))
        node.open_conns += 1
        lg.node = n
        lg.leg = 0
        lg.gen = node.gen
        lg.rtt_ms = rtt_ms
        t_arrive = env._now + delay_s + (rtts + 0.5) * rtt_ms / 1000.0
        if traced:
            assert self.tracer is not None
            self.tracer.connected(lg, n, delay_s, rtt_ms, rtts, t_arrive)
        self._at_time(t_arrive, self._on_node_arrival, lg)

    def _failed_connect(self, lg: Login, n: int, delay_s: float, rtt_ms: float) -> float:
        """A connect to node ``n``, sent ``delay_s`` from now, fails: a down node never
        answers (the terminal sees a timeout and avoids the node for a while), a full one
        refuses at once (one round trip). Returns when the terminal sees it (s from now)."""
        now = self.env._now
        node = self.nodes[n]
        if self.trace is not None:
            self.trace.append((now + delay_s, lg.id, lg.user, n,
                               "timeout" if not node.up else "rejected"))
        if lg is self._traced:
            assert self.tracer is not None
            self.tracer.failed(lg, n, delay_s, rtt_ms, not node.up,
                               delay_s + (self.connect_timeout_s if not node.up
                                          else rtt_ms / 1000.0))
        if not node.up:
            node.timeouts += 1
            self.avoid.setdefault(lg.user, {})[n] = now + delay_s + self.connect_timeout_s \
                + self.avoid_for_s
            self.strategy.on_failure(lg.user, n)
            return delay_s + self.connect_timeout_s
        node.rejected += 1
        return delay_s + rtt_ms / 1000.0

    def _degrade(self, site: int, node: int, rtt_ms: float,
                 round_trips: float) -> tuple[float, float]:
        """Extra latency and loss of degraded region pairs on this terminal-node path."""
        pair = frozenset((self.site_region[site], self.node_region[node]))
        extra_s = 0.0
        for regions, extra_ms, loss in self.degraded_pairs:
            if pair == regions:
                rtt_ms += extra_ms
                if loss > 0:
                    lost = sum(self.u_loss.next() < loss for _ in range(int(round_trips)))
                    extra_s += lost * TCP_RTO_S
        return rtt_ms, extra_s

    def _backoff_s(self, n: int) -> float:
        """The ``n``-th backoff wait of a login (gRPC's connection backoff)."""
        b = self.backoff
        base = min(b.cap, b.base * b.multiplier ** (n - 1))
        return base * (1.0 + b.jitter * (2.0 * self.u_backoff.next() - 1.0))

    def _give_up(self, lg: Login, t: float) -> None:
        """The login fails at ``t``, or at its deadline if that comes first."""
        if t >= lg.give_up:
            self.counts["deadline_failures"] += 1
            t = lg.give_up
        if lg is self._traced:
            assert self.tracer is not None
            self.tracer.note(lg, t, "gives up: " + (
                "its deadline passed" if t >= lg.give_up else
                f"{lg.attempts} attempts (failover.max_attempts {self.max_attempts})"))
        self._finish_failed(lg, t)

    def _retry_later(self, lg: Login, delay_s: float) -> None:
        """The attempt failed and the terminal learns it ``delay_s`` from now: it backs off,
        then tries again (the next candidate)."""
        lg.backoffs += 1
        wait = delay_s + self._backoff_s(lg.backoffs)
        if lg is self._traced:
            assert self.tracer is not None
            self.tracer.backoff(lg, delay_s, wait - delay_s, "the attempt failed")
        if self.env._now + wait >= lg.give_up:
            self._give_up(lg, self.env._now + wait)
            return
        self.env.timeout(wait, lg).callbacks.append(self._on_retry)

    def _budget_allows(self, node: NodeState, now: float) -> bool:
        """Whether the node's retry budget lets one more retry through now (and spend it).

        A Finagle-style budget: each first attempt deposits ``percent`` of a retry and the
        deposits fade with time constant ``ttl``; a reserve refills at ``min_per_s`` up to
        ``min_per_s * ttl``; a retry takes one from the deposits, else from the reserve."""
        b = self.budget
        assert b is not None
        st = node.budget
        dt = now - st[0]
        balance = st[1] * math.exp(-dt / b.ttl) + b.percent * (node.first_attempts - st[3])
        per_s = self._reserve_per_s
        reserve = min(per_s * b.ttl, st[2] + per_s * dt)
        st[0] = now
        st[3] = node.first_attempts
        ok = True
        if balance >= 1.0:
            balance -= 1.0
        elif reserve >= 1.0:
            reserve -= 1.0
        else:
            ok = False
        st[1] = balance
        st[2] = reserve
        return ok

    def _on_replan(self, ev: simpy.Event) -> None:
        self._plan(cast(Login, ev.value), 0.0)

    def _on_retry(self, ev: simpy.Event) -> None:
        self._attempt(cast(Login, ev.value), 0.0)

    def _drop_connection(self, lg: Login) -> None:
        node = self.nodes[lg.node]
        if node.gen == lg.gen:
            node.open_conns -= 1
        lg.node = -1

    # ------------------------------------------------------------------ node and data center

    def _at_time(self, t: float, handler: Callable[[Any], None], value: Any) -> None:
        """Call ``handler(value)`` at time ``t``, on the environment's light calendar (the
        reference engine uses a :class:`simpy.Timeout` instead)."""
        self.env.call_at(t, handler, value)

    def _on_node_arrival(self, lg: Login) -> None:
        """The login request reaches the node (sent half a round trip ago: the SDK's answer
        timeout runs from then)."""
        node = self.nodes[lg.node]
        if node.gen != lg.gen:  # the node went down while the handshake was under way
            if lg is self._traced:
                assert self.tracer is not None
                self.tracer.note(lg, self.env._now, "its node went down during the handshake")
            lg.node = -1
            self.env.timeout(self.connect_timeout_s, lg).callbacks.append(self._on_retry)
            return
        now = self.env._now
        lg.t_node = now
        t = now - lg.rtt_ms / 2000.0 + self._timeout_s[lg.access]
        lg.deadline = t if t < lg.give_up else lg.give_up
        if lg.attempts == 1:
            node.first_attempts += 1
        elif self.budget is not None and node is not self.home and \
                not self._budget_allows(node, now):
            # A retry over the node's budget: refused at once, the terminal backs off.
            node.budget_refused += 1
            self.counts["budget_refusals"] += 1
            if self.trace is not None:
                self.trace.append((now, lg.id, lg.user, lg.node, "refused"))
            if lg is self._traced:
                assert self.tracer is not None
                self.tracer.note(lg, now, "the node's retry budget refuses the retry")
            self._drop_connection(lg)
            self._retry_later(lg, lg.rtt_ms / 2000.0)
            return
        self._serve(node, lg)

    def _service_s(self, node: NodeState, lg: Login) -> float:
        return node.service_time(lg.svc_dc if node is self.home else lg.svc_node)

    def _serve(self, node: NodeState, lg: Login) -> None:
        """A login arrives at a node's queue now; its service there is settled at once
        (:meth:`NodeState.admit`)."""
        now = self.env._now
        # (_service_s and NodeState.service_time, inline on the hot path)
        service = node.service_s if node.svc_dist == "deterministic" else \
            node.service_s * (lg.svc_dc if node is self.home else lg.svc_node)
        start, finish = node.admit(now, service)
        self._after_service(node, lg, now, start, finish)

    def _after_service(self, node: NodeState, lg: Login, now: float, start: float,
                       finish: float) -> None:
        """Move a login on from a node where it arrived at ``now``, started service at
        ``start`` and finished at ``finish`` (absolute times; the clock may be at any of
        them). An answer that cannot reach the terminal before its deadline is abandoned
        (:meth:`_abandon`); the work goes on without it."""
        lg.t_finish = finish
        traced = lg is self._traced
        if node is self.home:
            if lg.node == node.idx:  # straight to the data center's own edge
                lg.path = 3
            lg.backend_ms += 1000.0 * (finish - now)
            if traced:
                assert self.tracer is not None
                self.tracer.at_datacenter(lg, now, start, finish)
            if finish + lg.dc_half_s + lg.rtt_ms / 2000.0 > lg.deadline:
                self._abandon(lg)
                return
            if node.can_fail:
                node.pending[lg.id] = lg
                self._at_time(finish, self._on_dc_done, (lg, lg.seq))
            elif self.nodes[lg.node].can_fail:  # the answer goes back through the edge node
                self._at_time(finish + lg.dc_half_s, self._on_node_done, (lg, lg.seq))
            else:
                self._finish_ok(lg, finish + self._return_s(lg))
            return
        lg.queue_ms = 1000.0 * (start - now)
        lg.service_ms = 1000.0 * (finish - start)
        if not node.ticket_ttl:
            hit = lg.cache_u < node.hit_ratio
        elif self.ticket_node[lg.user] == node.idx and \
                now - self.ticket_t[lg.user] <= node.ticket_ttl:
            # A ticket login: the session is registered at the home data center all the same.
            node.ticket_hits += 1
            self.counts["ticket_hits"] += 1
            hit = not self._register_sync[node.idx]  # sync: it waits for the registration
            if hit:
                self._at_time(finish + self.dc_rtt_s[node.idx] / 2, self._on_ghost_dc,
                              lg.svc_dc)
        else:
            hit = False
        if traced:
            assert self.tracer is not None
            self.tracer.at_node(lg, now, start, finish, hit)
        if hit:
            t_end = finish + lg.rtt_ms / 2000.0
            if t_end > lg.deadline:
                self._abandon(lg)
            elif node.can_fail:  # it completes only if the node is still up at the end
                node.pending[lg.id] = lg
                self._at_time(finish, self._on_node_done, (lg, lg.seq))
            else:
                self._finish_ok(lg, t_end)
            return
        # The trip to the home data center over the node's network now: its RTT, an extra
        # delay (log-normal, ms), a retransmission per packet lost (the RTO), and while the
        # route crosses a failed link, the wait until it has moved.
        rtt_s, median_s, sigma, loss, path, dark = self.dc_trip[lg.node]
        trip_s = rtt_s + median_s * math.exp(sigma * lg.z_back)
        if lg.u_back < loss:  # lost: retransmitted after the RTO, doubling (geometric count)
            rto = 3.0 * rtt_s if 3.0 * rtt_s > self._rto_min_s else self._rto_min_s
            k = int(math.log(max(lg.u_back, 1e-300)) / math.log(loss))
            trip_s += rto * (2.0 ** min(k, MAX_SYN_RETRIES) - 1.0)
        if dark > finish:
            trip_s += dark - finish
        half = trip_s / 2
        lg.path = path
        if traced:
            assert self.tracer is not None
            self.tracer.backend_trip(lg, rtt_s, trip_s, path, max(0.0, dark - finish))
        if finish + 2 * half + lg.rtt_ms / 2000.0 > lg.deadline:
            # Too late whatever the data center does; the node forwards it all the same.
            self._at_time(finish + half, self._on_ghost_dc, lg.svc_dc)
            self._abandon(lg)
            return
        if node.can_fail:
            node.pending[lg.id] = lg
        lg.backend_ms = 2000.0 * half
        lg.dc_half_s = half
        lg.leg = 1  # (a node that can fail keeps it pending until the answer is back)
        self._at_time(finish + half, self._on_dc_arrival, (lg, lg.seq))

    def _abandon(self, lg: Login) -> None:
        """The login's answer will come after its deadline: the SDK gives the attempt up at
        the deadline (:meth:`_on_expired`); whatever is scheduled for it is void."""
        lg.seq += 1
        self.nodes[lg.node].pending.pop(lg.id, None)
        self.home.pending.pop(lg.id, None)
        if lg is self._traced:
            assert self.tracer is not None
            self.tracer.note(lg, self.env._now, "its answer would come after the SDK's answer "
                             f"timeout: abandoned at {max(lg.deadline, self.env._now):.3f} s")
        self._at_time(max(lg.deadline, self.env._now), self._on_expired, (lg, lg.seq))

    def _on_expired(self, value: tuple[Login, int]) -> None:
        """The SDK's answer timeout (or the login's deadline) fires: it closes the
        connection and retries after a backoff, or fails if the deadline is reached."""
        lg, seq = value
        if lg.seq != seq:
            return
        now = self.env._now
        if self.dc_held.pop(lg.id, None) is not None:
            self.nodes[lg.node].pending.pop(lg.id, None)
        self.nodes[lg.node].expired += 1
        self.counts["expired_attempts"] += 1
        if self.trace is not None:
            self.trace.append((now, lg.id, lg.user, lg.node, "expired"))
        self._drop_connection(lg)
        lg.leg = 0
        if now >= lg.give_up:
            self._give_up(lg, now)
        else:
            self._retry_later(lg, 0.0)

    def _on_ghost_dc(self, svc_draw: float) -> None:
        """Work reaches the home data center that no terminal waits for: a login whose
        terminal gave up, or the registration of a ticket login."""
        home = self.home
        if home.up:
            home.admit(self.env._now, home.service_time(svc_draw))

    def _on_node_done(self, value: tuple[Login, int]) -> None:
        """The answer leaves a node that can fail for the terminal: its own (a cache hit)
        or the data center's, back from the backbone."""
        lg, seq = value
        if lg.seq != seq:
            return  # lost when the node went down; already failing over
        self.nodes[lg.node].pending.pop(lg.id, None)
        self._finish_ok(lg, self.env._now + lg.rtt_ms / 2000.0)

    def _on_dc_done(self, value: tuple[Login, int]) -> None:
        lg, seq = value
        if lg.seq != seq:
            return  # lost when the data center went down
        self.home.pending.pop(lg.id, None)
        if self.nodes[lg.node].can_fail:
            self._at_time(self.env._now + lg.dc_half_s, self._on_node_done, (lg, lg.seq))
        else:
            self._finish_ok(lg, self.env._now + self._return_s(lg))

    def _return_s(self, lg: Login) -> float:
        """From the end of data-center service back to the terminal."""
        return lg.dc_half_s + lg.rtt_ms / 2000.0

    def _on_dc_arrival(self, value: tuple[Login, int]) -> None:
        lg, seq = value
        if lg.seq != seq:
            return  # lost with its node; already failing over
        home = self.home
        if not home.up:
            if self.disruptions.dc_mode == "queue":
                self._hold(lg)
            else:
                self._drop_connection(lg)
                self._finish_failed(lg, self.env._now + self.connect_timeout_s)
            return
        self._serve(home, lg)

    # ------------------------------------------------------------------ outcomes

    def _finish_ok(self, lg: Login, t_end: float) -> None:
        node = self.nodes[lg.node]
        if node.gen == lg.gen:
            if node.can_fail:
                self._session_seq += 1
                heapq.heappush(node.sessions, (t_end + lg.session_s, self._session_seq, lg.user,
                                               lg.site, lg.access, lg.last_mile_ms))
            else:
                heapq.heappush(node.sessions, t_end + lg.session_s)
            # open_conns may still count sessions that ended: tidy up before a new peak
            if node.open_conns > node.peak_conns and \
                    node.connections(self.env._now) > node.peak_conns:
                node.peak_conns = node.open_conns
        node.logins_ok += 1
        if node.ticket_ttl:
            self.ticket_node[lg.user] = lg.node
            self.ticket_t[lg.user] = t_end
        self.strategy.on_success(lg.user, lg.node)
        site = lg.site
        self.recorder.record(lg, t_end, 0, self._best_rtt(site) if self.n_down
                             else self._best_when_all_up[site])

    def _finish_failed(self, lg: Login, t_end: float) -> None:
        if lg.node >= 0:
            self.nodes[lg.node].pending.pop(lg.id, None)
            self._drop_connection(lg)
        self.counts["failed"] += 1
        self._record(lg, t_end, 1)

    def _record(self, lg: Login, t_end: float, outcome: int) -> None:
        site = lg.site
        best = self._best_rtt(site)
        self.recorder.record(lg, t_end, outcome, best)

    def _best_rtt(self, site: int) -> float:
        if not self.n_down:
            return self._best_when_all_up[site]
        nodes = self.nodes
        for n in self._global_order[site]:
            if nodes[n].up:
                return self.rtt[site][n]
        return math.nan

    # ------------------------------------------------------------------ events and sampling

    def set_node(self, idx: int, up: bool) -> None:
        """Bring a node down or up now (DNS learns from its health checks, later).

        Going down, the node's waiting and in-service logins fail over after the connect
        timeout (at the home data center: they fail, or wait for it in ``queue`` mode), and
        its sessions drop: those terminals reconnect once they notice (a reset at once, else
        their next unanswered heartbeat: :class:`~sim.config.schema.Reconnect`). Coming back
        up, the home data center takes the logins that waited for it.
        """
        node = self.nodes[idx]
        if node.up == up:
            return
        now = self.env._now
        node.up = up
        node.changes.append((now, up))
        self._last_change = now
        self.n_down += -1 if up else 1
        self.dns.set_reachable(idx, up)
        self.health.changed(idx, up)
        if up:
            node.free = [now] * node.workers
            if node is self.home and self.dc_held:
                held, self.dc_held = self.dc_held, {}
                for lg in held.values():
                    lg.seq += 1  # (its expiry is void)
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
        lost = list(node.pending.values())
        node.pending.clear()
        for lg in lost:
            if lg.leg and node is not self.home:
                # Past its service here (on the backbone, at the data center or on the way
                # back): the connection through this node is gone all the same.
                self._node_lost(node, lg)
            elif lg.t_finish > now:
                node.served -= 1
                self._node_lost(node, lg)
        node.connections(now)
        dropped = sorted(node.sessions)
        node.dropped_sessions += len(dropped)
        node.sessions.clear()
        node.open_conns = 0
        if self.reconnect.enabled:
            for end, _, user, site, access, lm in dropped:
                self._schedule_reconnect(idx, user, site, access, lm, end - now)

    def _node_lost(self, node: NodeState, lg: Login) -> None:
        """A login was at a node that went down."""
        lg.seq += 1  # whatever was scheduled for it is void
        if lg is self._traced:
            assert self.tracer is not None
            self.tracer.note(lg, self.env._now, f"{self.world.topology.node_ids[node.idx]} "
                             "went down with it")
        if node is self.home:
            if self.disruptions.dc_mode == "queue":
                self._hold(lg)
            else:
                self._finish_failed(lg, self.env._now + self.connect_timeout_s)
        else:
            if lg.leg:  # it was beyond the node: no longer wanted at the data center
                self.home.pending.pop(lg.id, None)
                self.dc_held.pop(lg.id, None)
                lg.leg = 0
            lg.node = -1
            self.env.timeout(self.connect_timeout_s, lg).callbacks.append(self._on_retry)

    def _hold(self, lg: Login) -> None:
        """The login waits for the home data center to come back (``queue`` mode), until its
        deadline."""
        lg.t_held = self.env._now
        if lg is self._traced:
            assert self.tracer is not None
            self.tracer.note(lg, self.env._now, "waits for the home data center to come back")
        self.dc_held[lg.id] = lg
        self._at_time(max(lg.deadline, self.env._now), self._on_expired, (lg, lg.seq))

    def _schedule_reconnect(self, node: int, user: int, site: int, access: int, lm: float,
                            remaining_s: float) -> None:
        """The session of ``user`` at ``node`` dropped now: once the terminal notices, it
        avoids the node for ``failover.avoid_for`` and logs in again."""
        if not self._reconnect_draws:
            d = self.rng_reconnect.random((4096, 12))
            z = self.rng_reconnect.standard_normal((4096, 3))
            # Normal draws: the leg's extra delay (two), the backend trip's.
            d[:, 1], d[:, 7], d[:, 10] = z[:, 0], z[:, 1], z[:, 2]
            d[:, 2] = -np.log1p(-d[:, 2])  # exponential service draws, mean 1
            d[:, 3] = -np.log1p(-d[:, 3])
            d[:, 8] = -np.log1p(-d[:, 8])  # congestion (exponential, mean 1)
            self._reconnect_draws = [tuple(row) for row in d.tolist()]
        (u_delay, z_access, svc_node, svc_dc, cache_u, u_reset, u_beat, z_public, e_cong,
         _, z_back, u_back) = self._reconnect_draws.pop()
        rc = self.reconnect
        if u_reset < rc.reset_share:
            noticed_s = 0.0  # the node reset the connection
        else:  # the next heartbeat goes unanswered, then the misses that follow
            noticed_s = rc.heartbeat_interval * (u_beat + rc.heartbeat_misses - 1) \
                + self._timeout_s[access]
        start_s = noticed_s + u_delay * rc.first_delay
        self.avoid.setdefault(user, {})[node] = self.env._now + start_s + self.avoid_for_s
        self.strategy.on_failure(user, node)
        lg = Login()
        lg.trigger = 1
        lg.site = site
        lg.user = user
        lg.access = access
        lg.last_mile_ms = lm
        lg.jitter = self.legs.jitter_one(access, site, self.env._now + start_s, z_access,
                                         z_public, e_cong)
        lg.extra_s = 0.0
        lg.z_back = z_back
        lg.u_back = u_back
        lg.session_s = remaining_s
        lg.svc_node = svc_node
        lg.svc_dc = svc_dc
        lg.cache_u = cache_u
        if self._n_noise:
            lg.noise = self.x_connect.take(self._n_noise)
            lg.noise_at = 0
        self.env.timeout(start_s, lg).callbacks.append(self._on_reconnect)

    def _on_reconnect(self, ev: simpy.Event) -> None:
        self.counts["reconnects"] += 1
        self._start(cast(Login, ev.value))

    # ------------------------------------------------------------------ run

    def _arrive_next(self) -> float:
        """The arrival due now, then the time of the next one (``inf``: none left)."""
        self._arrive(self._row)
        self._row += 1
        if self._row < len(self._times):
            return self._times[self._row]
        if self._next_chunk():
            assert self._chunk is not None
            self._times, self._row = self._chunk.t_s, 0
            return self._times[0]
        return math.inf

    def run(self, progress: Callable[[float], None] | None) -> ReplicationOutput:
        """Simulate the replication: the events, the sampler, then arrivals until the end of
        the arrival window and a drain after it (in 50 steps, for progress and streaming)."""
        return self._simulate(progress, None, 50)

    def _simulate(self, progress: Callable[[float], None] | None,
                  stop: Callable[[], bool] | None, steps: int) -> ReplicationOutput:
        """:meth:`run` in ``steps`` steps (how many changes nothing simulated); ``stop()`` is
        asked after each step: True ends the run there (the output holds what finished)."""
        sc = self.world.scenario
        self.disruptions.schedule()
        self.reports.start()
        self.sampler.start()
        end = sc.duration + DRAIN_S
        self._next_chunk()
        self._times = self._chunk.t_s if self._chunk is not None else []
        self._row = 0
        t_arrival = self._times[0] if len(self._times) else math.inf
        recorder = self.recorder
        for k in range(1, steps + 1):
            t_arrival = self.env.run_merged(end * k / steps, t_arrival, self._arrive_next)
            if recorder.sink is not None and len(recorder) >= SINK_ROWS:
                recorder.to_sink(final=False)
            if progress is not None:
                progress(k / steps)
            if stop is not None and stop():
                break
        return self._output(end)

    def _output(self, end: float) -> ReplicationOutput:
        # The per-terminal state (DNS caches, last good nodes: tens of bytes a terminal) is
        # done with: let it go before the records are sorted.
        dns = self.dns
        self.counts.update(dns_lookups=dns.lookups, dns_authoritative=dns.auth_queries,
                           dns_stretched_served=dns.stretched_served,
                           httpdns_queries=dns.httpdns_queries,
                           httpdns_fallbacks=dns.httpdns_fallbacks)
        del self.dns, self.strategy
        logins = self.recorder.logins()
        node_load = self.sampler.table()
        ns = self.nodes
        node_stats = {
            **self.sampler.stats,
            "logins_ok": np.array([n.logins_ok for n in ns]),
            "peak_connections": np.array([n.peak_conns for n in ns]),
            "rejected": np.array([n.rejected for n in ns]),
            "timeouts": np.array([n.timeouts for n in ns]),
            "dropped_sessions": np.array([n.dropped_sessions for n in ns]),
            "raced": np.array([n.raced for n in ns]),
            "expired": np.array([n.expired for n in ns]),
            "budget_refused": np.array([n.budget_refused for n in ns]),
            "ticket_hits": np.array([n.ticket_hits for n in ns]),
            "workers": np.array([n.workers for n in ns]),
        }
        counts = {"attempted": self._next_id,  # (every login started is numbered)
                  "succeeded": sum(n.logins_ok for n in ns), **self.counts}
        counts["in_flight"] = counts["attempted"] - counts["succeeded"] - counts["failed"]
        return ReplicationOutput(self.replication, logins, node_load, node_stats, counts,
                                 self.world.scenario.duration, list(self.workload.access_names),
                                 list(self.recorder.decider_names), self.trace)



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
    return Engine(world, replication, seed, per_login, trace_attempts, sink).run(progress)
