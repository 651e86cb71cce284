"""The multi-level nearest-node addressing of the SDK, composed from the scenario's levels.

Levels apply in the order the scenario lists them:

- ``region``: candidates are the nodes of the terminal's geo-DNS answer (see
  :mod:`sim.addressing.region`); if ``failover.other_regions``, every other node follows by
  RTT, for failover and spill only.
- ``nearest``: the SDK probes the first ``probe_top_k + 2`` candidates (each estimate off by
  ``probe_noise_ms`` of Gaussian noise), orders them by estimate and races the top k: the
  fastest of the k that answers wins. A down node answers no probe and goes last.
- ``sticky``: the node the terminal last logged in through goes first, if DNS still lists it.
- ``spill``: a node over a load threshold (published utilisation, queue or connection share)
  or without a load report (down) goes to the back and the next candidate, access or cache
  node, goes first; when every node of the answer is over, the nearest node of another
  region that is not; when every node anywhere is over, the one with the shortest expected
  wait for a worker.
- ``failover``: settings the engine uses when a connect fails (timeout, attempts, backoff).

The level that decided is the last one that changed the first candidate (``region`` when
nothing after it did); the engine reports ``failover`` when the login needed more than one
attempt.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple, cast

import numpy as np

from sim.addressing.base import DnsAnswer, NodeView, NormalDraws, Strategy
from sim.addressing.registry import register_strategy
from sim.config.schema import Addressing, NearestLevelSpec, SpillLevelSpec, StickyLevelSpec
from sim.model.workload import users_per_site

if TYPE_CHECKING:
    from sim.model.world import World

__all__ = ["MultiLevel"]


class _Prepared(NamedTuple):
    """A batch-planned login's candidates after the region and nearest levels."""
    order: tuple[int, ...]
    """Every candidate: the region's (nearest level applied), then the fallback."""
    n_region: int
    region_nodes: frozenset[int]


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
        spill = cast(SpillLevelSpec | None, spec.level("spill"))
        self.max_util = spill.max_utilization if spill else None
        self.max_queue = spill.max_queue if spill else None
        self.max_conn_share = spill.max_connection_share if spill else None
        sticky = cast(StickyLevelSpec | None, spec.level("sticky"))
        self.sticky = bool(sticky and sticky.enabled)
        # The last node each terminal logged in through (-1: none yet), compactly.
        n_users = int(users_per_site(world.scenario, world.sites).sum())
        self.last_good = array("i", [-1]) * (n_users if self.sticky else 0)
        self.noise = NormalDraws(rng)
        self._batch_rng = rng.spawn(1)[0]
        self.rtt = world.site_node_rtt_ms.tolist()
        live = self.steps[1:] if self.steps[:1] == ["nearest"] else self.steps
        self._live_steps = [s for s in live if s != "sticky" or self.sticky]
        self._max_util = self.max_util if self.max_util is not None else float("inf")
        # Batch planning (prepare): probe width, and caches by site and region.
        n_nodes = len(world.topology.node_ids)
        self._width = min(self.top_k + 2, n_nodes) if self.steps[:1] == ["nearest"] else 1
        self._prepared_tag = "nearest" if self.steps[:1] == ["nearest"] else "region"
        self._keys: dict[int, tuple[list[int], list[int], int, np.ndarray]] = {}
        self._tokens: dict[int, _Prepared] = {}

    def plan(self, site: int, user: int, now: float,
             answer: DnsAnswer) -> tuple[list[int], str]:
        if self.use_region:
            cands, fallback = self._region_order(site, answer.nodes, answer.others)
        else:
            cands, fallback = list(self.world.site_global_order[site]), []
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
        for step in steps:
            if step == "nearest":
                # The SDK probes the nodes DNS gave it; other regions are only for failover.
                cands = self._nearest(site, cands)
                tag = "nearest"
            elif step == "sticky":
                last = self.last_good[user] if self.sticky else -1
                if last >= 0 and last != cands[0] and last in cands:
                    cands.remove(last)
                    cands.insert(0, last)
                    tag = "sticky"
            else:
                first = cands[0]
                cands, fallback = self._spill(cands, fallback, now)
                if cands[0] != first:
                    tag = "spill"
        return cands + fallback, tag

    # ------------------------------------------------------------------ batches

    def prepare(self, sites: np.ndarray, regions: np.ndarray,
                view: Callable[[int, int], tuple[tuple[int, ...], tuple[int, ...]]]
                ) -> list[_Prepared] | None:
        """The region and nearest levels of a batch of logins, in numpy.

        Valid while every node is up (the engine's contract): the nearest level's probes and
        race then depend only on the site, the answer's region and the probe noise, drawn
        here for the whole batch. The live levels (sticky, spill) stay in
        :meth:`plan_prepared`. Logins with the same site, region and race outcome share one
        token. Returns None when the nearest level does not come first (its order would
        depend on live state).
        """
        if "nearest" in self.steps and self.steps[0] != "nearest":
            return None
        width = self._width
        keys = sites.astype(np.int64) * 256 + regions  # region codes fit in a byte
        uniq, inverse = np.unique(keys, return_inverse=True)
        info = [self._key_info(key, view) for key in uniq.tolist()]
        if width > 1:
            # Probe estimates of the first m candidates (padding: +inf, never first).
            true = np.array([i[3] for i in info])[inverse]
            est = true + self.noise_ms * self._batch_rng.standard_normal(true.shape) \
                if self.noise_ms > 0 else true
            order = np.argsort(est, axis=1, kind="stable")
            rows = np.arange(len(keys))[:, None]
            # The fastest (true RTT) of the top k by estimate wins and goes first.
            winner = np.argmin(true[rows, order[:, :min(self.top_k, width)]], axis=1)
            winner_pos = order[rows[:, 0], winner]
            rest = order != winner_pos[:, None]
            perm = np.concatenate([winner_pos[:, None],
                                   order[rest].reshape(len(keys), width - 1)], axis=1)
        else:
            perm = np.zeros((len(keys), 1), dtype=np.int64)
        # One code per (site and region, order of the probed nodes): base-``width`` digits
        # after the key; the tokens of codes seen before are reused.
        span = width ** width
        if (int(uniq[-1]) + 1 if len(uniq) else 1) * float(span) < 2.0 ** 62:
            code = keys * span + perm @ (width ** np.arange(width))
            combos, token_of = np.unique(code, return_inverse=True)
            cache = self._tokens
            tokens = []
            for c in combos.tolist():
                token = cache.get(c)
                if token is None:
                    key, digits = divmod(c, span)
                    token = cache[c] = self._token(self._keys[key], [
                        (digits // width ** j) % width for j in range(width)])
                tokens.append(token)
        else:  # very wide probes: no reuse across batches
            combos, token_of = np.unique(np.concatenate([inverse[:, None], perm], axis=1),
                                         axis=0, return_inverse=True)
            tokens = [self._token(info[row[0]], row[1:]) for row in combos.tolist()]
        return list(map(tokens.__getitem__, token_of.ravel().tolist()))

    def _key_info(self, key: int, view: Callable[[int, int], tuple[tuple[int, ...],
                                                               tuple[int, ...]]]
                  ) -> tuple[list[int], list[int], int, np.ndarray]:
        """A site and region's candidates while every node is up, how many of them the
        SDK probes, and their RTTs (padded to the probe width with +inf); cached."""
        info = self._keys.get(key)
        if info is None:
            site, region = divmod(key, 256)
            if self.use_region:
                cands, fallback = self._region_order(site, *view(site, region))
            else:
                cands, fallback = list(self.world.site_global_order[site]), []
            m = min(len(cands), self.top_k + 2) if self._width > 1 else 1
            rtt = np.full(self._width, np.inf)
            row = self.rtt[site]
            rtt[:m] = [row[n] for n in cands[:m]]
            info = self._keys[key] = (cands, fallback, m, rtt)
        return info

    def _token(self, info: tuple[list[int], list[int], int, np.ndarray],
               order: Sequence[int]) -> _Prepared:
        cands, fallback, m, _ = info
        if m > 1:
            cands = [cands[j] for j in order[:m]] + cands[m:]
        return _Prepared(tuple(cands + fallback), len(cands), frozenset(cands))

    def plan_prepared(self, token: _Prepared, site: int, user: int,
                      now: float) -> tuple[Sequence[int], str]:
        order = token.order
        for i, step in enumerate(self._live_steps):
            if step == "sticky":  # (a live step only when enabled)
                last = self.last_good[user]
                if last < 0 or last == order[0] or last not in token.region_nodes:
                    continue
            elif not self._overloaded(order[0], now):
                continue
            # This level changes the order: from here on, the general path.
            n = token.n_region
            return self._levels(self._live_steps[i:], list(order[:n]), list(order[n:]), site,
                                user, now, self._prepared_tag)
        return order, self._prepared_tag

    def _nearest(self, site: int, cands: list[int]) -> list[int]:
        k = self.top_k
        m = len(cands) if len(cands) < k + 2 else k + 2
        if m <= 1:
            return cands
        row = self.rtt[site]
        head = cands[:m]
        if self.noise_ms > 0:
            sd = self.noise_ms
            est = [row[n] + sd * z for n, z in zip(head, self.noise.take(m))]
            head = [head[i] for i in sorted(range(m), key=est.__getitem__)]
        nodes = self.nodes
        probed = [n for n in head if nodes[n].up]
        if len(probed) < m:  # a down node answers no probe: it goes last
            silent = [n for n in head if not nodes[n].up]
        else:
            silent = []
        racing = probed[:k]
        if racing:
            winner = min(racing, key=row.__getitem__)
            if winner != probed[0]:
                probed.remove(winner)
                probed.insert(0, winner)
        return probed + cands[m:] + silent

    def _overloaded(self, n: int, now: float) -> bool:
        node = self.nodes[n]
        if not node.up:  # no fresh load report: never spill onto it
            return True
        if node.util_published > self._max_util:
            return True
        # Cheap upper bounds first: the queue and connection counts still include logins
        # that started and sessions that ended since they were last tidied up.
        if self.max_queue is not None and len(node.waiting) > self.max_queue and \
                node.queue_len > self.max_queue:
            return True
        if self.max_conn_share is not None:
            limit = self.max_conn_share * node.conn_limit
            if node.open_conns > limit and node.connections(now) > limit:
                return True
        return False

    def _spill(self, cands: list[int], fallback: list[int],
               now: float) -> tuple[list[int], list[int]]:
        if not self._overloaded(cands[0], now):
            return cands, fallback
        ok: list[int] = []
        over: list[int] = []
        for n in cands:
            (over if self._overloaded(n, now) else ok).append(n)
        if ok:
            return ok + over, fallback
        # Every node of the answer is over the threshold: spill to the nearest other region.
        spare = [n for n in fallback if not self._overloaded(n, now)]
        if spare:
            return spare[:1] + cands, [n for n in fallback if n != spare[0]]
        # Everything is over its threshold: the least loaded node that is up leads (expected
        # wait for a worker), the rest keep their order.
        nodes = self.nodes
        alive = [n for n in cands + fallback if nodes[n].up]
        if not alive:
            return cands, fallback
        best = min(alive, key=lambda n: (nodes[n].queue_len + nodes[n].busy)
                   * nodes[n].service_s / nodes[n].workers)
        return [best] + [n for n in cands if n != best], [n for n in fallback if n != best]

    def on_success(self, user: int, node: int) -> None:
        if self.sticky:
            self.last_good[user] = node
