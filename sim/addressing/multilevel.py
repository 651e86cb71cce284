"""The multi-level nearest-node addressing of the SDK, composed from the scenario's levels.

Levels apply in the order the scenario lists them:

- ``region``: candidates are the nodes of the terminal's geo-DNS answer (see
  :mod:`sim.addressing.region`); if ``failover.other_regions``, every other node follows by
  RTT, for failover and spill only.
- ``nearest``: the SDK probes the first ``probe_top_k + 2`` candidates and the
  ``probe_beyond`` nearest nodes outside the answer; each probe's round trip carries an
  exponential extra delay of mean ``probe_noise_ms``. It orders the nodes that answered by
  their probe RTT; a node that did not answer goes last. ``probe: background`` reads a probe
  table refreshed every ``probe_interval`` (free, as old as the refresh: a node that failed
  since still looks good, one that came back still looks dead); ``sync`` probes now, and
  the login waits for the round (its slowest answer, or ``probe_timeout`` when a node is
  silent). The engine then races the top k (:attr:`MultiLevel.race_k`): connects start
  ``race_delay_ms`` apart and the first to connect, on the RTTs the login really sees, wins
  (RFC 8305). ``rank: end_to_end`` orders them instead by the expected login time end to end:
  the leg's round trips at the probe RTT plus, on the share of its logins a node does not
  answer itself, its expected trip to the home data center as the provider publishes it
  (:meth:`MultiLevel.on_backend` after the backbone's routes move).
- ``sticky``: the node the terminal last logged in through goes first, if DNS still lists it
  and the terminal has not seen it fail since (a connect that timed out, a dropped session).
- ``spill``: from each node's last load report (utilisation, queue, connection share; see
  :mod:`sim.engine.reports`) the level keeps a shed share that grows with the overload,
  ``1 - threshold / offered`` where ``offered`` is the reported figure over the share that was
  not shed (the load the node would have had), capped at :data:`MAX_SHED`. Each login draws:
  a node shed for it goes to the back and the next candidate, access or cache node, goes
  first; when every node of the answer is shed, the nearest node of another region that is
  not; when every node anywhere is shed, the one with the shortest expected wait by its
  reports. A node's arrival rate so stays steady between reports (no herd), and a node that
  went down keeps its last report: only the SDK's own evidence says a node is down.
- ``failover``: settings the engine uses when a connect fails (timeout, attempts, backoff).

The level that decided is the last one that changed the first candidate (``region`` when
nothing after it did); the engine reports ``failover`` when the login needed more than one
attempt.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple, cast

import bisect

import numpy as np

from sim.addressing.base import DnsAnswer, NodeView, ProbeResult, ShedCheck, Strategy
from sim.addressing.registry import register_strategy
from sim.config.schema import Addressing, NearestLevelSpec, SpillLevelSpec, StickyLevelSpec
from sim.model.draws import ExponentialDraws, UniformDraws
from sim.model.workload import users_per_site

if TYPE_CHECKING:
    from sim.model.world import World

__all__ = ["MultiLevel", "MAX_SHED"]

MAX_SHED = 0.95
"""The largest share of its logins a node sheds: a trickle keeps measuring it."""


class _Prepared(NamedTuple):
    """A batch-planned login's candidates after the region and nearest levels."""
    order: tuple[int, ...]
    """Every candidate: the region's (nearest level applied), then the fallback."""
    n_region: int
    region_nodes: frozenset[int]
    moved: int = 0
    """1 when the end-to-end ranking put another node first than the RTT ranking."""


@register_strategy("multilevel")
class MultiLevel(Strategy):
    """The SDK's multi-level addressing (region, nearest, sticky, spill, failover)."""

    def __init__(self, world: World, spec: Addressing, nodes: Sequence[NodeView],
                 rng: np.random.Generator):
        super().__init__(world, spec, nodes, rng)
        self.steps = [lv.name for lv in spec.levels if lv.name in ("nearest", "sticky", "spill")]
        self.use_region = spec.level("region") is not None
        self.other_regions = spec.failover.other_regions
        nearest = cast(NearestLevelSpec | None, spec.level("nearest"))
        self.top_k = nearest.probe_top_k if nearest else 1
        self.noise_ms = nearest.probe_noise_ms if nearest else 0.0
        self.sync = bool(nearest and nearest.probe == "sync")
        self.probe_interval_s = nearest.probe_interval if nearest else 0.0
        self.probe_timeout_ms = 1000.0 * nearest.probe_timeout if nearest else 0.0
        self.beyond = nearest.probe_beyond if nearest else 0
        self.end_to_end = bool(nearest and nearest.rank == "end_to_end")
        """Rank by the expected login time end to end, not by RTT."""
        self._rounds = world.scenario.protocol.handshake_rtts + 1.0
        """Round trips of the terminal's leg in a login (handshakes, then the request)."""
        self._backend_ms: list[float] = []
        """Per node: the expected wait for the home data center on its share of logins it
        does not answer itself (``1 - hit share`` x the expected trip, ms)."""
        if self.end_to_end:
            self._set_backend(world.backend(world.backbone.clean)[1].tolist())
        self.race_k = self.top_k
        """How many of the first candidates the engine races (connects started
        :attr:`race_delay_s` apart; the first to connect wins)."""
        self.race_delay_s = nearest.race_delay_ms / 1000.0 if nearest else 0.0
        self.connect_noise_ms = self.noise_ms
        """Mean exponential extra delay of a round trip, on connects as on probes."""
        self.probe_staleness_s = self.probe_interval_s if nearest and not self.sync else 0.0
        """How old the SDK's knowledge of which nodes answer can be: a prepared plan holds
        only when no node changed state for this long."""
        self.probe_ms = 0.0
        """The SDK's probe round of the last plan, network part in ms (``inf``: it waited for
        the probe timeout); the engine adds the terminal's last mile and jitter."""
        spill = cast(SpillLevelSpec | None, spec.level("spill"))
        self.max_util = spill.max_utilization if spill else None
        self.max_queue = spill.max_queue if spill else None
        self.max_conn_share = spill.max_connection_share if spill else None
        sticky = cast(StickyLevelSpec | None, spec.level("sticky"))
        self.sticky = bool(sticky and sticky.enabled)
        # The last node each terminal logged in through (-1: none yet), compactly.
        n_users = int(users_per_site(world.scenario, world.sites).sum())
        self.last_good = array("i", [-1]) * (n_users if self.sticky else 0)
        self.noise = ExponentialDraws(rng.spawn(1)[0])
        self._u_table = UniformDraws(rng.spawn(1)[0])
        n_nodes = len(world.topology.node_ids)
        self._shed = [0.0] * n_nodes
        self._seen = [0] * n_nodes
        self._u_shed = UniformDraws(rng.spawn(1)[0])
        self._batch_rng = rng.spawn(1)[0]
        self.rtt = world.site_node_rtt_ms.tolist()
        live = self.steps[1:] if self.steps[:1] == ["nearest"] else self.steps
        self._live_steps = [s for s in live if s != "sticky" or self.sticky]
        self._max_util = self.max_util if self.max_util is not None else float("inf")
        # Batch planning (prepare): probe width, and caches by site and region.
        self._width = min(self.top_k + 2 + self.beyond, n_nodes) \
            if self.steps[:1] == ["nearest"] else 1
        self._prepared_tag = "nearest" if self.steps[:1] == ["nearest"] else "region"
        self._keys: dict[int, tuple[list[int], list[int], int, np.ndarray, np.ndarray]] = {}
        self._tokens: dict[int, _Prepared] = {}
        self.keep_batch = False
        """Keep each batch's probe draws in :attr:`batch` (for a tracer: ``explain``)."""
        self.batch: tuple[np.ndarray, list[tuple[list[int], list[int], int, np.ndarray,
                                                 np.ndarray]],
                          np.ndarray | None, np.ndarray | None] | None = None
        """With :attr:`keep_batch`, the last :meth:`prepare` batch's index of each login
        into its keys' candidates, those candidates (:meth:`_key_info`), each login's
        measured probe RTTs and, with ``rank: end_to_end``, the scores it ranked them by."""

    @property
    def live_steps(self) -> list[str]:
        """The levels :meth:`plan_prepared` still applies to a prepared plan, in order."""
        return list(self._live_steps)

    def _set_backend(self, expected_ms: Sequence[float]) -> None:
        hit = self.world.expected_hit_ratio
        self._backend_ms = [(1.0 - h) * e if e != float("inf") else 1e9
                            for h, e in zip(hit, expected_ms)]

    def on_backend(self, expected_ms: Sequence[float]) -> None:
        if self.end_to_end:  # the probe-order caches hold the old backend costs
            self._set_backend(expected_ms)
            self._keys.clear()
            self._tokens.clear()

    def plan(self, site: int, user: int, now: float,
             answer: DnsAnswer) -> tuple[list[int], str]:
        self.probe_ms = 0.0
        self.moved = 0
        if self.use_region:
            cands, fallback = self._region_order(site, answer.nodes, answer.others)
        else:
            cands, fallback = list(self.world.site_global_order[site]), []
        if self.trace is not None:
            self.trace.step("region", cands + fallback, -1,
                            f"{len(cands)} candidates in region {answer.region}"
                            if self.use_region else "no region level: every node by RTT")
        return self._levels(self.steps, cands, fallback, site, user, now, "region")

    def _region_order(self, site: int, nodes: Sequence[int],
                      others: Sequence[int]) -> tuple[list[int], list[int]]:
        """The region level: the answer's nodes, then (for failover) the other regions'."""
        cands = list(nodes)
        fallback = list(others) if self.other_regions or not cands else []
        if not cands:
            cands, fallback = fallback, []
        if not cands:  # DNS knows no node up anywhere: the SDK tries them all
            cands = list(self.world.site_global_order[site])
        return cands, fallback

    def _levels(self, steps: Sequence[str], cands: list[int], fallback: list[int], site: int,
                user: int, now: float, tag: str) -> tuple[list[int], str]:
        """Apply the levels ``steps`` after the region level, in order."""
        trace = self.trace
        for step in steps:
            head = cands[0]
            if step == "nearest":
                # The SDK probes the nodes DNS gave it (and probe_beyond more).
                cands, fallback = self._nearest(site, cands, fallback, now)
                tag = "nearest"
            elif step == "sticky":
                last = self.last_good[user] if self.sticky else -1
                if last >= 0 and last != cands[0] and last in cands:
                    cands.remove(last)
                    cands.insert(0, last)
                    tag = "sticky"
            else:
                cands, fallback = self._spill(cands, fallback, now)
                if cands[0] != head:
                    tag = "spill"
            if trace is not None:
                trace.step(step, cands + fallback, head)
        return cands + fallback, tag

    # ------------------------------------------------------------------ batches

    def prepare(self, sites: np.ndarray, regions: np.ndarray,
                view: Callable[[int, int], tuple[tuple[int, ...], tuple[int, ...]]]
                ) -> list[_Prepared] | list[tuple[_Prepared, float]] | None:
        """The region and nearest levels of a batch of logins, in numpy.

        Valid while every node is up and has been for :attr:`probe_staleness_s` (the
        engine's contract): every probe then answers, and the nearest level's order depends
        only on the site, the answer's region and the probe noise, drawn here for the whole
        batch. The live levels (sticky, spill) stay in :meth:`plan_prepared`. Logins with
        the same site, region and probe order share one token; with ``probe: sync`` each
        login's token is ``(token, probe round in ms)``. Returns None when the nearest level
        does not come first (its order would depend on live state).
        """
        if "nearest" in self.steps and self.steps[0] != "nearest":
            return None
        width = self._width
        keys, uniq, inverse, info, est = self._probe_batch(sites, regions, view)
        probe_ms = None
        moved = np.zeros(len(keys), dtype=np.int64)
        cost = None
        if est is not None and width > 1:
            if self.end_to_end:
                cost = self._rounds * est + np.array([i[4] for i in info])[inverse]
                perm = np.argsort(cost, axis=1, kind="stable")
                moved = (perm[:, 0] != np.argmin(est, axis=1)).astype(np.int64)
            else:
                perm = np.argsort(est, axis=1, kind="stable")
        else:
            perm = np.zeros((len(keys), 1), dtype=np.int64)
        if est is not None and self.sync:
            probe_ms = np.where(np.isfinite(est), est, 0.0).max(axis=1).tolist()
        if self.keep_batch:
            self.batch = (inverse.ravel(), info, est, cost)
        # One code per (site and region, order of the probed nodes, moved): base-``width``
        # digits after the key, then the moved bit; the tokens of codes seen before are
        # reused.
        span = width ** width
        if (int(uniq[-1]) + 1 if len(uniq) else 1) * float(span) * 2.0 < 2.0 ** 62:
            code = (keys * span + perm @ (width ** np.arange(width))) * 2 + moved
            combos, token_of = np.unique(code, return_inverse=True)
            cache = self._tokens
            tokens = []
            for c in combos.tolist():
                token = cache.get(c)
                if token is None:
                    c_order, bit = divmod(c, 2)
                    key, digits = divmod(c_order, span)
                    token = cache[c] = self._token(self._keys[key], [
                        (digits // width ** j) % width for j in range(width)], bit)
                tokens.append(token)
        else:  # very wide probes: no reuse across batches
            combos, token_of = np.unique(np.concatenate([inverse[:, None], perm,
                                                         moved[:, None]], axis=1),
                                         axis=0, return_inverse=True)
            tokens = [self._token(info[row[0]], row[1:-1], row[-1])
                      for row in combos.tolist()]
        out = list(map(tokens.__getitem__, token_of.ravel().tolist()))
        return out if probe_ms is None else list(zip(out, probe_ms))

    def first_nodes(self, sites: np.ndarray, regions: np.ndarray,
                    view: Callable[[int, int], tuple[tuple[int, ...], tuple[int, ...]]]
                    ) -> np.ndarray | None:
        """The first node of each terminal's prepared plan at t = 0 (:meth:`prepare`'s
        probe draws, without building the tokens): the probed node with the smallest noisy
        RTT."""
        if "nearest" in self.steps and self.steps[0] != "nearest":
            return None
        width = self._width
        _, _, inverse, info, est = self._probe_batch(sites, regions, view)
        probed = np.array([(i[0][:i[2]] + [-1] * width)[:width] for i in info],
                          dtype=np.int64)
        if est is None or width == 1:
            return probed[inverse, 0]
        if self.end_to_end:
            est = self._rounds * est + np.array([i[4] for i in info])[inverse]
        return probed[inverse, est.argmin(axis=1)]

    def _probe_batch(self, sites: np.ndarray, regions: np.ndarray,
                     view: Callable[[int, int], tuple[tuple[int, ...], tuple[int, ...]]]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                list[tuple[list[int], list[int], int, np.ndarray,
                                           np.ndarray]],
                                np.ndarray | None]:
        """A batch's keys (site and answer code), their distinct values, each login's
        index into them, each key's candidates (:meth:`_key_info`) and each login's probe
        RTTs with their noise (None when the SDK probes one node and waits for no round)."""
        keys = sites.astype(np.int64) * 65536 + regions  # answer codes fit in 16 bits
        uniq, inverse = np.unique(keys, return_inverse=True)
        info = [self._key_info(key, view) for key in uniq.tolist()]
        if self._width == 1 and not self.sync:
            return keys, uniq, inverse, info, None
        # Probe RTTs of the probed nodes (padding: +inf, never first).
        true = np.array([i[3] for i in info])[inverse]
        est = true + self.noise_ms * self._batch_rng.standard_exponential(true.shape) \
            if self.noise_ms > 0 else true
        return keys, uniq, inverse, info, est

    def _key_info(self, key: int, view: Callable[[int, int], tuple[tuple[int, ...],
                                                               tuple[int, ...]]]
                  ) -> tuple[list[int], list[int], int, np.ndarray, np.ndarray]:
        """A site and region's candidates while every node is up, how many of them the
        SDK probes, their RTTs (padded to the probe width with +inf) and their expected
        backend waits (padded with 0); cached."""
        info = self._keys.get(key)
        if info is None:
            site, region = divmod(key, 65536)
            if self.use_region:
                cands, fallback = self._region_order(site, *view(site, region))
            else:
                cands, fallback = list(self.world.site_global_order[site]), []
            m = min(len(cands), self.top_k + 2) if self._width > 1 else 1
            if self._prepared_tag == "nearest":
                beyond = self._beyond(site, cands)
                taken = set(beyond)
                cands = cands[:m] + beyond + cands[m:]
                fallback = [n for n in fallback if n not in taken]
                m += len(beyond)
            rtt = np.full(self._width, np.inf)
            row = self.rtt[site]
            rtt[:m] = [row[n] for n in cands[:m]]
            backend = np.zeros(self._width)
            if self.end_to_end:
                backend[:m] = [self._backend_ms[n] for n in cands[:m]]
            info = self._keys[key] = (cands, fallback, m, rtt, backend)
        return info

    def _token(self, info: tuple[list[int], list[int], int, np.ndarray, np.ndarray],
               order: Sequence[int], moved: int = 0) -> _Prepared:
        cands, fallback, m, _, _ = info
        if m > 1:
            cands = [cands[j] for j in order[:m]] + cands[m:]
        return _Prepared(tuple(cands + fallback), len(cands), frozenset(cands), int(moved))

    def plan_prepared(self, token: _Prepared | tuple[_Prepared, float], site: int, user: int,
                      now: float) -> tuple[Sequence[int], str]:
        if type(token) is tuple:  # (token, probe round): probe: sync
            token, self.probe_ms = token  # type: ignore[misc]
        else:
            self.probe_ms = 0.0
        self.moved = token.moved  # type: ignore[union-attr]
        order = token.order  # type: ignore[union-attr]
        for i, step in enumerate(self._live_steps):
            if step == "sticky":  # (a live step only when enabled)
                last = self.last_good[user]
                if last < 0 or last == order[0] or \
                        last not in token.region_nodes:  # type: ignore[union-attr]
                    continue
            else:  # spill: _overloaded(order[0]), inline on the hot path
                first = order[0]
                if self.nodes[first].report_seq != self._seen[first]:
                    self._update_shed(first)
                shed = self._shed[first]
                if shed <= 0.0 or self._u_shed.next() >= shed:
                    continue
            # This level changes the order: from here on, the general path.
            n = token.n_region  # type: ignore[union-attr]
            return self._levels(self._live_steps[i:], list(order[:n]), list(order[n:]), site,
                                user, now, self._prepared_tag)
        return order, self._prepared_tag

    def _beyond(self, site: int, cands: Sequence[int]) -> list[int]:
        """The ``probe_beyond`` nearest nodes that are not candidates already."""
        if not self.beyond:
            return []
        listed = set(cands)
        return [n for n in self.world.site_global_order[site] if n not in listed][:self.beyond]

    def _answers(self, n: int, now: float) -> bool:
        """Whether node ``n`` answered the probe the SDK goes by."""
        node = self.nodes[n]
        if self.sync or not node.changes:
            return node.up
        # The background table was refreshed up to probe_interval ago: the node's state then.
        t = now - self.probe_interval_s * self._u_table.next()
        changes = node.changes
        i = bisect.bisect_right(changes, (t, 2))
        return changes[i - 1][1] if i else True

    def _nearest(self, site: int, cands: list[int], fallback: list[int],
                 now: float) -> tuple[list[int], list[int]]:
        k = self.top_k
        m = len(cands) if len(cands) < k + 2 else k + 2
        beyond = self._beyond(site, cands)
        head = cands[:m] + beyond
        if len(head) <= 1 and not self.sync:
            return cands, fallback
        row = self.rtt[site]
        sd = self.noise_ms
        answered, silent, worst = [], [], 0.0
        est = {}
        for n in head:
            if self._answers(n, now):
                answered.append(n)
                e = est[n] = row[n] + (sd * self.noise.next() if sd > 0 else 0.0)
                worst = e if e > worst else worst
            else:
                silent.append(n)
        score: dict[int, float] = {}
        if self.end_to_end and answered:
            nearest = min(answered, key=est.__getitem__)
            rounds, backend = self._rounds, self._backend_ms
            score = {n: rounds * e + backend[n] for n, e in est.items()}
            answered.sort(key=score.__getitem__)
            self.moved = int(answered[0] != nearest)
        else:
            answered.sort(key=est.__getitem__)
        if self.sync:
            self.probe_ms = worst if not silent else float("inf")
        if self.trace is not None:
            self.trace.probes = [ProbeResult(
                n, row[n], est.get(n), score.get(n),
                self._backend_ms[n] if self.end_to_end else None) for n in head]
        if beyond:
            taken = set(beyond)
            fallback = [n for n in fallback if n not in taken]
        return answered + cands[m:] + silent, fallback

    def _overloaded(self, n: int, now: float) -> bool:
        """Whether this login sheds node ``n`` (a draw against the node's shed share)."""
        if self.nodes[n].report_seq != self._seen[n]:
            self._update_shed(n)
        s = self._shed[n]
        return s > 0.0 and self._u_shed.next() < s

    def _update_shed(self, n: int) -> None:
        """A new load report of node ``n``: its shed share from the load it was offered."""
        node = self.nodes[n]
        self._seen[n] = node.report_seq
        kept = 1.0 - self._shed[n]
        share = 0.0
        util = node.util_published / kept
        if util > self._max_util:
            share = 1.0 - self._max_util / util
        if self.max_queue is not None:
            queue = node.queue_published / kept
            if queue > self.max_queue:
                share = max(share, 1.0 - self.max_queue / queue)
        if self.max_conn_share is not None:
            # Sessions outlive the shedding: connections are not scaled by the share kept.
            limit = self.max_conn_share * node.conn_limit
            if node.conns_published > limit:
                share = max(share, 1.0 - limit / node.conns_published)
        self._shed[n] = min(share, MAX_SHED)

    def shed_check(self, n: int, shed: bool) -> ShedCheck:
        """What the spill level sees of node ``n`` now (for a tracer)."""
        node = self.nodes[n]
        return ShedCheck(n, node.util_published, node.queue_published, node.conns_published,
                         self._shed[n], shed)

    def _spill(self, cands: list[int], fallback: list[int],
               now: float) -> tuple[list[int], list[int]]:
        trace = self.trace
        if not self._overloaded(cands[0], now):
            if trace is not None:
                trace.checks = [self.shed_check(cands[0], False)]
            return cands, fallback
        ok: list[int] = []
        over: list[int] = []
        for n in cands:
            (over if self._overloaded(n, now) else ok).append(n)
        if trace is not None:
            trace.checks = [self.shed_check(cands[0], True)] + [
                self.shed_check(n, n in over) for n in cands]
        if ok:
            return ok + over, fallback
        # Every node of the answer is over the threshold: spill to the nearest other region.
        spare = [n for n in fallback if not self._overloaded(n, now)]
        if trace is not None:
            trace.checks += [self.shed_check(n, n not in spare) for n in fallback]
        if spare:
            return spare[:1] + cands, [n for n in fallback if n != spare[0]]
        # Everything is shed: the node with the shortest expected wait for a worker by its
        # last report leads, the rest keep their order.
        nodes = self.nodes
        best = min(cands + fallback, key=lambda n: (
            nodes[n].queue_published + nodes[n].util_published * nodes[n].workers)
            * nodes[n].service_s / nodes[n].workers)
        return [best] + [n for n in cands if n != best], [n for n in fallback if n != best]

    def on_success(self, user: int, node: int) -> None:
        if self.sticky:
            self.last_good[user] = node

    def on_failure(self, user: int, node: int) -> None:
        if self.sticky and self.last_good[user] == node:
            self.last_good[user] = -1  # the SDK does not go back to a node that failed it

    def on_success_many(self, users: np.ndarray, nodes: np.ndarray) -> None:
        if self.sticky:
            last = np.frombuffer(self.last_good, dtype=np.int32)
            last[users] = nodes  # (a terminal listed twice keeps its last entry)
