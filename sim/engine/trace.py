"""Following one login through the engine: what each level decided and what it cost.

:class:`TracingEngine` is the engine itself (:class:`sim.engine.loop.Engine`) with a
:class:`LoginTracer` attached to exactly one login, chosen by its id or as the first login of
a site and access type at or after a time. The engine and the addressing tell the tracer
what they decide for that login as they decide it (the DNS answer, the levels, the probes,
the race, every connect, the node, the trip to the home data center, backoffs, failures):
the trace is what the run did, not a second computation beside it. Every other login pays
one identity check per step (``lg is self._traced``) and the strategy one ``None`` check per
decision.

The trace is a small tree of dataclasses (:class:`LoginTrace`); :mod:`sim.runs.explain`
renders it as text or JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.addressing.base import LevelStep, PlanTrace, ProbeResult, ShedCheck
from sim.addressing.multilevel import MultiLevel
from sim.addressing.region import HTTPDNS
from sim.engine.login import Login
from sim.engine.loop import Engine
from sim.engine.records import PATH_NAMES, ReplicationOutput

__all__ = ["TracingEngine", "LoginTracer", "LoginTrace", "DnsTrace", "RoundTrace",
           "LevelTrace", "ProbeTrace", "ShedTrace", "RaceTrace", "AttemptTrace",
           "NoteTrace", "LatencyTrace"]


@dataclass
class DnsTrace:
    """The terminal's DNS answer for one addressing round."""
    source: str
    """``terminal cache``, ``resolver cache``, ``authoritative``, ``httpdns`` (with
    ``, fell back to the ISP resolver`` when its endpoint did not answer)."""
    resolver: str
    """``ISP resolver``, ``public resolver <provider>`` or ``HTTPDNS``."""
    ecs: bool | None
    """Whether the query carried the client subnet (a public resolver's; None otherwise)."""
    located_at: str
    """Where geo-DNS located the query: the terminal's site or a resolver's city."""
    ttl_s: float
    cached_until_s: float | None
    """Until when the terminal holds this answer (None: not kept)."""
    resolver_fresh_until_s: float | None
    """Until when the resolver's cache serves it (None: HTTPDNS)."""
    stretched: bool
    """The resolver stretches short TTLs."""
    dns_ms: float
    region: str
    nodes: list[str]
    """The region's nodes the answer lists (as the authoritative side believed them up)."""
    believed_down: list[str]
    """Nodes of the region the answer left out: their health checks had failed."""
    really_down: list[str]
    """Nodes of the region really down at the lookup (listed or not)."""


ProbeTrace = ProbeResult[str]
"""A probe of the ``nearest`` level as the strategy recorded it, its node by name."""
ShedTrace = ShedCheck[str]
"""A node the ``spill`` level checked, by name."""
LevelTrace = LevelStep[str]
"""What one level did, its candidates by name."""


@dataclass
class RaceTrace:
    racers: list[str]
    """The first candidates raced, in start order (``race_delay_ms`` apart)."""
    started: int
    """How many had started when the winner connected."""
    winner: str | None
    connect_ms: float | None
    """When the winner's handshake round trip completed, from the first start."""


@dataclass
class RoundTrace:
    """One addressing round: DNS, the levels' plan, the probe round, the race."""
    round: int
    t_s: float
    dns: DnsTrace
    planned: str
    """``prepared`` (the batch plan held: every node up) or ``live``."""
    levels: list[LevelTrace]
    candidates: list[str]
    decided_by: str
    moved: bool
    probe_wait_ms: float
    race: RaceTrace | None = None


@dataclass
class AttemptTrace:
    """One connect: where, its round trips and what became of it."""
    number: int
    node: str
    t_send_s: float
    rtt_ms: float
    """The terminal-node round trip it saw (path, last mile, extra delay, noise)."""
    lost_ms: float
    """Time lost before its handshake completed: the radio's wake-up and lost packets."""
    handshake_rtts: float | None = None
    """Round trips before the request (0: QUIC 0-RTT); None when it did not connect."""
    handshake_ms: float | None = None
    """From sending to the request's arrival: handshakes and half a round trip."""
    result: str = "connected"
    """``connected``, ``timeout`` (the node is down) or ``rejected`` (full)."""
    seen_after_ms: float | None = None
    """For a failed connect: when the terminal learnt it, from the connect's call."""
    queue_ms: float | None = None
    service_ms: float | None = None
    answered_by: str | None = None
    """``node`` (a cache hit or a login ticket) or ``home data center``."""
    cache: str = ""
    path: str | None = None
    """The trip to the home data center: ``local``, ``backbone``, ``public`` or ``direct``."""
    backend_rtt_ms: float | None = None
    backend_trip_ms: float | None = None
    dark_wait_ms: float | None = None
    datacenter_ms: float | None = None
    """Queue and service at the home data center."""


@dataclass
class NoteTrace:
    t_s: float
    text: str


@dataclass
class LatencyTrace:
    """The login's latency as the engine put it together (ms)."""
    total_ms: float
    connect_ms: float
    dns_ms: float
    probe_ms: float
    waiting_ms: float
    """Before the connect that succeeded, beyond the first DNS and probe round: failed
    connects, backoffs, later rounds, a raced start."""
    lost_ms: float
    handshake_ms: float
    return_ms: float
    """The answer's way back from the node (half a round trip)."""
    queue_ms: float
    service_ms: float
    backend_ms: float


@dataclass
class LoginTrace:
    """One login, level by level, with the latency components it saw."""
    scenario: str
    seed: int
    replication: int
    login_id: int
    t_start_s: float
    site: str
    access: str
    user: int
    trigger: str
    last_mile_ms: float
    extra_delay_ms: float
    """Extra delay on each round trip of its leg (access network, public path, congestion)."""
    rounds: list[RoundTrace] = field(default_factory=list)
    attempts: list[AttemptTrace] = field(default_factory=list)
    notes: list[NoteTrace] = field(default_factory=list)
    outcome: str = "in flight"
    node: str | None = None
    decided_by: str = ""
    n_attempts: int = 0
    t_end_s: float | None = None
    latency: LatencyTrace | None = None
    row: dict[str, Any] = field(default_factory=dict)
    """The columns the engine recorded for it (filled in by :func:`sim.runs.explain.explain`)."""


class LoginTracer:
    """Collects one login's trace from the engine's and the strategy's hooks.

    Parameters
    ----------
    login_id : int, optional
        Follow this login; else the first login that matches ``site``, ``access`` and
        starts at or after ``at_s``.
    site, access : int, optional
        Site index and access type code.
    at_s : float
        Earliest start time (s).
    """

    def __init__(self, login_id: int | None = None, site: int | None = None,
                 access: int | None = None, at_s: float = 0.0):
        self.login_id = login_id
        self.site = site
        self.access = access
        self.at_s = at_s
        self.trace: LoginTrace | None = None
        self.done = False
        self.engine: Engine | None = None
        self._pre: dict[str, Any] = {}
        self._prepared: tuple[Any, int] | None = None
        self._race: RaceTrace | None = None
        self._connect: dict[str, Any] = {}
        self._last_good = -1

    # ------------------------------------------------------------------ setting up

    def attach(self, engine: Engine) -> None:
        """Attached to ``engine`` before it runs."""
        self.engine = engine
        if isinstance(engine.strategy, MultiLevel):
            engine.strategy.keep_batch = True

    def wants(self, login_id: int, t0: float, lg: Login) -> bool:
        """Whether the login about to start is the one to follow."""
        if self.login_id is not None:
            return login_id == self.login_id
        return (t0 >= self.at_s and (self.site is None or lg.site == self.site)
                and (self.access is None or lg.access == self.access))

    def _name(self, n: int) -> str:
        assert self.engine is not None
        return self.engine.world.topology.node_ids[n] if n >= 0 else "-"

    def _names(self, nodes: Sequence[int]) -> list[str]:
        return [self._name(int(n)) for n in nodes]

    def begin(self, lg: Login, login_id: int, t0: float) -> None:
        """The followed login starts now."""
        e = self.engine
        assert e is not None
        sc = e.world.scenario
        self.trace = LoginTrace(
            scenario=sc.name, seed=sc.seed, replication=e.replication, login_id=login_id,
            t_start_s=t0, site=e.world.sites.names[lg.site],
            access=e.workload.access_names[lg.access], user=lg.user,
            trigger=("arrival", "reconnect")[lg.trigger], last_mile_ms=lg.last_mile_ms,
            extra_delay_ms=lg.jitter)

    # ------------------------------------------------------------------ addressing

    def before_plan(self, lg: Login) -> None:
        """Its addressing round starts: what DNS and the strategy hold before it."""
        e = self.engine
        assert e is not None
        dns = e.dns
        code, key = dns.resolver_of(lg.site, lg.user)
        self._pre = {"expiry": dns.expiry[lg.user], "code": code, "key": key,
                     "cache": dns.cache_state(key),
                     "counts": (dns.lookups, dns.auth_queries, dns.httpdns_queries,
                                dns.httpdns_fallbacks, dns.stretched_served),
                     "up": [n.up for n in e.nodes], "now": e.env._now}
        self._prepared = None
        self._race = None
        strategy = e.strategy
        strategy.trace = PlanTrace()
        if isinstance(strategy, MultiLevel) and strategy.sticky:
            self._last_good = strategy.last_good[lg.user]

    def prepared(self, lg: Login, token: Any, row: int) -> None:
        """The batch's prepared plan held for it (row ``row`` of the chunk)."""
        self._prepared = (token, row)

    def planned(self, lg: Login, dns_ms: float, region: int, epoch: int, probe_ms: float,
                delay_s: float) -> None:
        """The round's plan is made; the SDK connects ``delay_s`` from now."""
        e = self.engine
        assert e is not None and self.trace is not None
        strategy = e.strategy
        plan = strategy.trace
        strategy.trace = None
        assert plan is not None
        levels = self._prepared_levels(lg, plan) if self._prepared is not None else []
        levels += [self._level(s) for s in plan.steps]
        for lv in levels:
            if lv.level == "sticky" and not lv.note:
                lv.note = (f"last node {self._name(self._last_good)}"
                           if self._last_good >= 0 else "no last node")
        self.trace.rounds.append(RoundTrace(
            round=lg.round, t_s=e.env._now, dns=self._dns(lg, dns_ms, region, epoch),
            planned="prepared" if self._prepared is not None else "live", levels=levels,
            candidates=self._names(lg.candidates), decided_by=lg.tag, moved=bool(lg.moved),
            probe_wait_ms=probe_ms))

    def _dns(self, lg: Login, dns_ms: float, region: int, epoch: int) -> DnsTrace:
        e = self.engine
        assert e is not None
        dns = e.dns
        pre = self._pre
        lookups, auth, http, fallbacks, stretched = (
            b - a for a, b in zip(pre["counts"], (dns.lookups, dns.auth_queries,
                                                  dns.httpdns_queries, dns.httpdns_fallbacks,
                                                  dns.stretched_served)))
        code, key = pre["code"], pre["key"]
        res = e.world.resolvers
        fresh_before = pre["cache"][0]
        fresh, _, _, stretch = dns.cache_state(key)
        if not (lookups or http):
            source = "terminal cache"
        elif http and not fallbacks:
            source = "httpdns"
        else:
            source = "authoritative" if auth else (
                "resolver cache (refreshed by terminals outside the sample)"
                if fresh != fresh_before else "resolver cache")
            if fallbacks:
                source = "httpdns timed out, fell back to the ISP resolver: " + source
        if code == HTTPDNS:
            resolver, ecs = "HTTPDNS", None
        elif code == 0:
            resolver, ecs = "ISP resolver", None
        else:
            resolver = f"public resolver {res.providers[code - 1]}"
            ecs = bool(res.key_site[key] >= 0)
        if code == HTTPDNS and not fallbacks:
            located = e.world.sites.names[lg.site] + " (the terminal's own address)"
        else:
            k_site = int(res.key_site[key])
            pop = int(res.key_resolver[key]) - len(e.world.sites)
            located = (e.world.sites.names[k_site] if k_site >= 0
                       else f"{res.pops[pop][1]} ({res.pops[pop][0]} point of presence)")
        answer = dns.answer(lg.site, region, epoch, dns_ms)
        believed = dns.believed_up(epoch)
        in_region = [n for n, r in enumerate(e.world.topology.regions)
                     if r == answer.region and n in e.world.edge_nodes]
        until = dns.expiry[lg.user]
        ttl = dns.ttl_s
        if code == HTTPDNS and not fallbacks and dns.httpdns is not None:
            ttl = dns.httpdns.ttl
        return DnsTrace(
            source=source, resolver=resolver, ecs=ecs, located_at=located, ttl_s=ttl,
            cached_until_s=until if until > pre["now"] else None,
            resolver_fresh_until_s=None if code == HTTPDNS and not fallbacks else fresh,
            stretched=stretch and code != HTTPDNS, dns_ms=dns_ms, region=answer.region,
            nodes=self._names(answer.nodes),
            believed_down=self._names([n for n in in_region if not believed[n]]),
            really_down=self._names([n for n in in_region if not pre["up"][n]]))

    def _level(self, step: LevelStep[int]) -> LevelTrace:
        """The strategy's record of a level, with node names for indices."""
        return LevelTrace(
            level=step.level, order=self._names(step.order), changed=step.changed,
            probes=[ProbeTrace(self._name(p.node), p.path_rtt_ms, p.measured_ms, p.score_ms,
                               p.backend_ms) for p in step.probes],
            checks=[self._shed(c) for c in step.checks], note=step.note)

    def _shed(self, c: ShedCheck[int]) -> ShedTrace:
        return ShedTrace(self._name(c.node), c.utilization, c.queue, c.connections, c.share,
                         c.shed)

    def _prepared_levels(self, lg: Login, plan: PlanTrace) -> list[LevelTrace]:
        """The levels of a prepared plan: the batch's region and probes (the draws the
        batch ranked by), then the live levels that left the order as it was (those that
        changed it follow from the strategy's own trace)."""
        e = self.engine
        assert e is not None and self._prepared is not None
        strategy = e.strategy
        token, row = self._prepared
        if type(token) is tuple:
            token = token[0]
        order = list(token.order)
        if not isinstance(strategy, MultiLevel) or strategy.batch is None:
            return [LevelTrace("prepared", self._names(order), False)]
        inverse, info, est, cost = strategy.batch
        cands, fallback, m, rtt, backend = info[int(inverse[row])]
        levels = [LevelTrace("region", self._names(cands + fallback), True,
                             note=f"{len(cands)} in the region"
                             + (f", then {len(fallback)} in other regions for failover"
                                if fallback else "") + " (prepared for the batch)")]
        if strategy.steps[:1] == ["nearest"]:
            probes = []
            if est is not None:
                for j in range(m):
                    probes.append(ProbeTrace(
                        self._name(cands[j]), float(rtt[j]), float(est[row, j]),
                        None if cost is None else float(cost[row, j]),
                        float(backend[j]) if strategy.end_to_end else None))
            levels.append(LevelTrace("nearest", self._names(order),
                                     bool(order) and order[0] != cands[0], probes,
                                     note="" if est is not None else "one candidate: no probe"))
        live = strategy.live_steps
        done = len(plan.steps)
        for step in live[:len(live) - done]:
            checks = []
            if step == "spill":
                checks = [self._shed(strategy.shed_check(order[0], False))]
            levels.append(LevelTrace(step, self._names(order), False, checks=checks))
        return levels

    def raced(self, lg: Login, racers: Sequence[int], started: int, best: int,
              best_t: float) -> None:
        """The SDK raced ``racers``: ``best`` connected at ``best_t`` (s from the first
        start; ``-1``: none)."""
        assert self.trace is not None
        race = RaceTrace(self._names(racers), started, self._name(best) if best >= 0 else None,
                         1000.0 * best_t if best >= 0 else None)
        if self.trace.rounds:
            self.trace.rounds[-1].race = race

    # ------------------------------------------------------------------ connects

    def connecting(self, lg: Login, n: int, delay_s: float) -> None:
        """A connect to node ``n`` is sent ``delay_s`` from now (before its losses)."""
        e = self.engine
        assert e is not None
        self._connect = {"t_call": e.env._now, "delay": delay_s, "n": n}

    def connected(self, lg: Login, n: int, delay_s: float, rtt_ms: float, rtts: float,
                  t_arrive: float) -> None:
        """It connects: sent after ``delay_s`` (losses included), the request arrives at
        ``t_arrive``."""
        assert self.trace is not None
        c = self._connect
        t_send = c["t_call"] + delay_s
        self.trace.attempts.append(AttemptTrace(
            number=lg.attempts, node=self._name(n), t_send_s=t_send, rtt_ms=rtt_ms,
            lost_ms=1000.0 * (delay_s - c["delay"]), handshake_rtts=rtts,
            handshake_ms=1000.0 * (t_arrive - t_send)))
        c["t_send"], c["t_arrive"] = t_send, t_arrive

    def failed(self, lg: Login, n: int, delay_s: float, rtt_ms: float, timeout: bool,
               seen_s: float) -> None:
        """A connect to ``n`` fails (a timeout: the node is down; else it is full)."""
        e = self.engine
        assert e is not None and self.trace is not None
        c = self._connect if self._connect.get("n") == n else {"delay": delay_s}
        self.trace.attempts.append(AttemptTrace(
            number=lg.attempts, node=self._name(n), t_send_s=e.env._now + delay_s,
            rtt_ms=rtt_ms, lost_ms=1000.0 * (delay_s - c["delay"]),
            result="timeout" if timeout else "rejected", seen_after_ms=1000.0 * seen_s))
        self._connect = {}

    def backoff(self, lg: Login, delay_s: float, wait_s: float, why: str) -> None:
        """The SDK backs off ``wait_s`` after ``delay_s`` from now."""
        e = self.engine
        assert e is not None
        self.note(lg, e.env._now + delay_s,
                  f"{why}; backs off {1000.0 * wait_s:.1f} ms (backoff {lg.backoffs})")

    def note(self, lg: Login, t: float, text: str) -> None:
        """Something happened to it at ``t``."""
        assert self.trace is not None
        self.trace.notes.append(NoteTrace(t, text))

    # ------------------------------------------------------------------ at the node

    def _current(self) -> AttemptTrace | None:
        assert self.trace is not None
        for a in reversed(self.trace.attempts):
            if a.result == "connected":
                return a
        return None

    def at_node(self, lg: Login, now: float, start: float, finish: float, hit: bool) -> None:
        """Served at its edge node from ``start`` to ``finish``; ``hit``: answered there."""
        e = self.engine
        a = self._current()
        assert e is not None and a is not None
        node = e.nodes[lg.node]
        a.queue_ms = 1000.0 * (start - now)
        a.service_ms = 1000.0 * (finish - start)
        if node.ticket_ttl:
            a.cache = "login ticket" if hit else "no valid login ticket"
        else:
            a.cache = f"cache draw {lg.cache_u:.3f} {'<' if hit else '>='} hit ratio " \
                      f"{node.hit_ratio:.3f}"
        if hit:
            a.answered_by, a.path = "node", PATH_NAMES[0]

    def backend_trip(self, lg: Login, rtt_s: float, trip_s: float, path: int,
                     dark_s: float) -> None:
        """The node forwards it to the home data center: ``trip_s`` there and back."""
        a = self._current()
        assert a is not None
        a.answered_by, a.path = "home data center", PATH_NAMES[path]
        a.backend_rtt_ms, a.backend_trip_ms = 1000.0 * rtt_s, 1000.0 * trip_s
        a.dark_wait_ms = 1000.0 * dark_s

    def at_datacenter(self, lg: Login, now: float, start: float, finish: float) -> None:
        """Served at the home data center from ``start`` to ``finish``."""
        e = self.engine
        a = self._current()
        assert e is not None and a is not None
        a.datacenter_ms = 1000.0 * (finish - now)
        if lg.node == e.home.idx:
            a.answered_by, a.path = "home data center", PATH_NAMES[3]

    # ------------------------------------------------------------------ the end

    def finished(self, lg: Login, t_end: float, outcome: int) -> None:
        """The login ends at ``t_end``: 0 ok, 1 failed."""
        e = self.engine
        tr = self.trace
        assert e is not None and tr is not None
        self.done = True
        tr.outcome = ("ok", "failed")[outcome]
        tr.t_end_s = t_end
        tr.n_attempts = lg.attempts
        tr.node = self._name(lg.node) if outcome == 0 else None
        tr.decided_by = e.recorder.decider_names[e.recorder.decider(
            lg.tag if outcome or lg.attempts == 1 else "failover")]
        total = 1000.0 * (t_end - tr.t_start_s)
        first = tr.rounds[0] if tr.rounds else None
        dns_ms = first.dns.dns_ms if first else 0.0
        probe_ms = first.probe_wait_ms if first else 0.0
        c = self._connect
        a = self._current()
        if outcome or a is None or "t_arrive" not in c:
            tr.latency = LatencyTrace(total, total, dns_ms, probe_ms, total - dns_ms - probe_ms,
                                      0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
            return
        queue = a.queue_ms or 0.0
        service = a.service_ms or 0.0
        backend = lg.backend_ms
        before = 1000.0 * (c["t_call"] + c["delay"] - tr.t_start_s)
        tr.latency = LatencyTrace(
            total_ms=total, connect_ms=total - queue - service - backend, dns_ms=dns_ms,
            probe_ms=probe_ms, waiting_ms=before - dns_ms - probe_ms, lost_ms=a.lost_ms,
            handshake_ms=a.handshake_ms or 0.0, return_ms=lg.rtt_ms / 2.0, queue_ms=queue,
            service_ms=service, backend_ms=backend)


class TracingEngine(Engine):
    """The engine with a :class:`LoginTracer` following one login.

    It runs the scenario exactly as :func:`sim.engine.loop.run_replication` does (same seed,
    same streams, same settings; every column kept) and can stop once the login has
    finished: what happened up to then does not depend on what comes after.
    """

    def __init__(self, world: Any, replication: int, seed: np.random.SeedSequence,
                 tracer: LoginTracer):
        super().__init__(world, replication, seed, per_login=True)
        self.tracer = tracer
        tracer.attach(self)

    def _start(self, lg: Login, row: int = -1) -> None:
        tracer = self.tracer
        assert tracer is not None
        if self._traced is None and not tracer.done and \
                tracer.wants(self._next_id, self.env._now, lg):
            self._traced = lg
            tracer.begin(lg, self._next_id, self.env._now)
        super()._start(lg, row)

    def _finish_ok(self, lg: Login, t_end: float) -> None:
        super()._finish_ok(lg, t_end)
        if lg is self._traced:
            self._end(lg, t_end, 0)

    def _finish_failed(self, lg: Login, t_end: float) -> None:
        super()._finish_failed(lg, t_end)
        if lg is self._traced:
            self._end(lg, t_end, 1)

    def _end(self, lg: Login, t_end: float, outcome: int) -> None:
        assert self.tracer is not None
        self.tracer.finished(lg, t_end, outcome)
        self._traced = None

    def run_traced(self, steps: int = 2000) -> ReplicationOutput:
        """Run until the followed login has finished (checked every ``1/steps`` of the
        run), or to the end."""
        tracer = self.tracer
        assert tracer is not None
        return self._simulate(None, lambda: tracer.done, steps)

