"""Level 1, region by geo-DNS: resolvers with shared caches, client subnet, HTTPDNS, and an
authoritative side that learns failures from its health checks.

How a terminal gets its answer (see :mod:`sim.model.resolvers` for where resolvers are):

1. Its own cache (the OS stub or the SDK): free while the answer it holds is fresh.
2. With HTTPDNS (``addressing.httpdns``), the SDK asks the provider's endpoint at its nearest
   access node: ``round_trips`` round trips, mapped by the terminal's own address. If the
   endpoint does not answer (its node is down) the SDK gives up after ``timeout`` and falls
   back to DNS.
3. DNS: its resolver (the ISP's in its city, or a public resolver's nearest point of
   presence), one round trip. The resolver's cache is shared by every terminal behind it
   (with EDNS Client Subnet, by the terminals of one subnet); on a miss the resolver asks the
   authoritative server (one more round trip, resolver to the nearest data center) and keeps
   the answer for the TTL. A share of resolvers (``ttl_stretch_share``) extends short TTLs
   to ``stretched_ttl`` and serves the answer as fresh that long.

Geo-DNS maps a query to the region of where it comes from (the ISP resolver's city, the client
subnet, or the public resolver's point of presence). The answer lists that region's nodes the
authoritative side believed up when it answered; it learns that a node failed, or came back,
only from its health checks: every ``health_check_interval`` (each node at its own phase), a
node is dropped after ``health_check_failures`` failed checks in a row and taken back after as
many good ones. A stale answer, in a resolver cache or a terminal's, sends terminals to a dead
node until it expires: they find out from a connect timeout.
"""

from __future__ import annotations

import math
from array import array
from typing import TYPE_CHECKING

import numpy as np

from sim.addressing.base import DnsAnswer
from sim.config.schema import HttpDns, RegionLevelSpec
from sim.model.draws import UniformDraws

if TYPE_CHECKING:
    from sim.model.world import World

__all__ = ["GeoDns", "HTTPDNS"]

HTTPDNS = 255
"""The resolver code of a terminal whose SDK uses HTTPDNS."""


class GeoDns:
    """Terminal and resolver caches and the authoritative view of which nodes are up.

    Parameters
    ----------
    world : World
    spec : RegionLevelSpec
        Public-resolver share, TTLs, client subnet, health checks.
    httpdns : HttpDns or None
        The scenario's HTTPDNS settings (None: off).
    users_per_site : numpy.ndarray
        Each site's pool of terminals (terminal ids are contiguous per site).
    rng : numpy.random.Generator
        Decides, once per terminal, its resolver, and once per resolver whether it stretches
        TTLs.
    """

    __slots__ = (
        "_auth_rtt", "_endpoint", "_isp_rtt", "_k", "_key_code", "_key_code_arr",
        "_key_epoch", "_key_fresh", "_key_queries", "_key_resolved", "_key_stretch",
        "_region_code", "_rtt", "_sampled", "_site_code", "_site_code_arr", "_site_key",
        "_site_rtt", "_stretched", "_u", "_up_at", "_views", "all_up_at", "answer_code",
        "answer_epoch", "auth_queries", "epoch", "expiry", "httpdns", "httpdns_fallbacks",
        "httpdns_queries", "lookups", "reachable", "regions", "resolver", "spec",
        "stretched_served", "ttl_s", "up", "world")

    def __init__(self, world: World, spec: RegionLevelSpec, httpdns: HttpDns | None,
                 users_per_site: np.ndarray, rng: np.random.Generator):
        self.world = world
        self.spec = spec
        self.httpdns = httpdns
        self.ttl_s = spec.dns_ttl
        self._isp_rtt = spec.resolver_rtt_ms
        self._stretched = max(spec.dns_ttl, spec.stretched_ttl)
        res = world.resolvers
        n_sites = len(world.sites)
        n_users = int(users_per_site.sum())
        site_of_user = np.repeat(np.arange(n_sites), users_per_site)
        # Each terminal's resolver: 0 its ISP's, p >= 1 public provider p, HTTPDNS. Sites
        # share few distinct provider mixes (China, elsewhere): one draw per terminal.
        public = rng.random(n_users) < spec.public_resolver_share
        u = rng.random(n_users)
        code = np.zeros(n_users, dtype=np.int64)
        mixes, mix_of_site = np.unique(res.provider_share[:, 1:], axis=0, return_inverse=True)
        mix_of_user = mix_of_site.ravel()[site_of_user]
        for m, shares in enumerate(mixes):
            if shares.sum() <= 0:
                continue
            users = public & (mix_of_user == m)
            cum = np.cumsum(shares)
            pick = np.searchsorted(cum / cum[-1], u[users], side="right")
            code[users] = 1 + np.minimum(pick, len(shares) - 1)
        if httpdns is not None:
            code = np.where(rng.random(n_users) < httpdns.share, HTTPDNS, code)
        self.resolver = bytes(code.astype(np.uint8))
        stretch = rng.random(max(res.n_resolvers, 1)) < spec.ttl_stretch_share
        # A 1-in-k sample simulates a k-th of the terminals behind each resolver: the rest
        # keep its cache warm too (see _unseen_refresh).
        self._k = world.scenario.population.sample_one_in
        self._sampled = self._k > 1
        self._key_queries = array("i", [0]) * res.n_keys
        self._u = UniformDraws(rng.spawn(1)[0])
        self._key_stretch = stretch[res.key_resolver].tolist()
        self._site_key = res.site_key.tolist()
        self._site_rtt = res.site_rtt_ms.tolist()
        self._auth_rtt = res.key_auth_rtt_ms.tolist()
        # Each terminal's cached answer, compactly (millions of terminals): when it expires,
        # its answer code and the authoritative epoch (the set of nodes up) it came from.
        self.expiry = array("d", [-1.0]) * n_users
        self.answer_code = array("h", [0]) * n_users
        self.answer_epoch = array("i", [0]) * n_users
        # Each resolver cache: fresh until, and the epoch it holds.
        n_keys = res.n_keys
        self._key_fresh = array("d", [-1.0]) * n_keys
        self._key_resolved = array("d", [-1.0]) * n_keys
        self._key_epoch = array("i", [0]) * n_keys
        self.regions = sorted(world.region_nodes)
        self._region_code = {r: i for i, r in enumerate(self.regions)}
        # An answer code: the region, and where geo-DNS located the query (which orders the
        # region's nodes): region + n_regions * (point of presence + 1), or a site's own.
        code_of = self._region_code
        n_r = len(self.regions)
        n_sites = len(world.sites)
        self._key_code = [code_of[r] + (0 if ks >= 0 else n_r * (kr - n_sites + 1))
                          for r, ks, kr in zip(world.key_region, res.key_site.tolist(),
                                               res.key_resolver.tolist())]
        self._site_code = [code_of[r] for r in world.site_dns_region]
        self._key_code_arr = np.array(self._key_code, dtype=np.int64)
        self._site_code_arr = np.array(self._site_code, dtype=np.int64)
        n_nodes = len(world.topology.node_ids)
        self.up: list[bool] = [True] * n_nodes
        """The authoritative side's view (from its health checks)."""
        self.reachable: list[bool] = [True] * n_nodes
        """Whether each node really answers (for the HTTPDNS endpoints at access nodes)."""
        self.epoch = 0
        self._up_at: list[tuple[bool, ...]] = [tuple(self.up)]
        self.all_up_at: list[bool] = [True]
        """Per authoritative epoch, whether every node was believed up (appended to; a
        reader may keep a reference)."""
        self._views: dict[tuple[int, int, int], tuple[tuple[int, ...], tuple[int, ...]]] = {}
        self._endpoint = [order[0] for order in world.site_global_order]
        self._rtt = world.site_node_rtt_ms.tolist()
        self.lookups = 0
        """Queries to a resolver."""
        self.auth_queries = 0
        """Resolver cache misses: queries to the authoritative servers."""
        self.stretched_served = 0
        """Answers resolvers served past the TTL the authoritative side gave."""
        self.httpdns_queries = 0
        self.httpdns_fallbacks = 0

    @property
    def n_regions(self) -> int:
        """How many regions DNS maps terminals to (region codes are ``0 .. n_regions - 1``,
        indexing :attr:`regions`)."""
        return len(self.regions)

    def set_up(self, node: int, up: bool) -> None:
        """The authoritative side's health checks declared a node down or up (it answers
        accordingly from now)."""
        if self.up[node] == up:
            return
        self.up[node] = up
        self.epoch += 1
        self._up_at.append(tuple(self.up))
        self.all_up_at.append(all(self.up))

    def resolver_of(self, site: int, user: int) -> tuple[int, int]:
        """A terminal's resolver code (0 its ISP's, p >= 1 public provider p,
        :data:`HTTPDNS`) and the resolver cache it asks (its DNS fallback's for HTTPDNS)."""
        code = self.resolver[user]
        return code, self._site_key[site][0 if code == HTTPDNS else code]

    def cache_state(self, key: int) -> tuple[float, float, int, bool]:
        """A resolver cache's entry: fresh until, resolved at (s; negative: never), the
        authoritative epoch it holds, and whether this resolver stretches TTLs."""
        return (self._key_fresh[key], self._key_resolved[key], self._key_epoch[key],
                bool(self._key_stretch[key]))

    def believed_up(self, epoch: int) -> tuple[bool, ...]:
        """Which nodes the authoritative side believed up in ``epoch``."""
        return self._up_at[epoch]

    def set_reachable(self, node: int, up: bool) -> None:
        """A node really went down or came back (its HTTPDNS endpoint with it)."""
        self.reachable[node] = up

    def _mapping(self, sites: np.ndarray, users: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For a batch of logins: each one's answer code, resolver cache (-1 for HTTPDNS)
        and resolver column (0: the ISP's, p: public provider p)."""
        code = np.frombuffer(self.resolver, dtype=np.uint8)[users].astype(np.int64)
        http = code == HTTPDNS
        col = np.where(http, 0, code)
        keys = self.world.resolvers.site_key[sites, col]
        codes = np.where(http, self._site_code_arr[sites], self._key_code_arr[keys])
        return codes, np.where(http, -1, keys), col

    def fresh_codes(self, sites: np.ndarray, users: np.ndarray) -> np.ndarray:
        """The answer codes the terminals' lookups give (the same from any cache: a cache
        holds one mapping), for a batch of logins: see :meth:`answer`."""
        return self._mapping(sites, users)[0]

    def chunk_lookups(self, sites: np.ndarray, users: np.ndarray,
                      last_mile_ms: np.ndarray) -> tuple[list[int], list[int], list[float]]:
        """For a batch of logins, the answer codes (:meth:`fresh_codes`) and what
        :meth:`lookup_row` needs: each one's resolver cache (-1 for HTTPDNS) and the cost of
        asking its resolver (last mile plus the round trip to the resolver)."""
        codes, keys, col = self._mapping(sites, users)
        rtt = np.where(col == 0, self._isp_rtt, self.world.resolvers.site_rtt_ms[sites, col])
        return codes.tolist(), keys.tolist(), (last_mile_ms + rtt).tolist()

    def lookup_row(self, site: int, user: int, now: float, last_mile_ms: float, key: int,
                   ask_ms: float) -> tuple[float, int, int]:
        """:meth:`lookup_fast` with the resolver cache ``key`` and the cost ``ask_ms`` of
        asking the resolver precomputed (:meth:`chunk_lookups`)."""
        if now < self.expiry[user]:
            return 0.0, self.answer_code[user], self.answer_epoch[user]
        if key < 0:  # HTTPDNS
            return self.lookup_fast(site, user, now, last_mile_ms)
        return self._ask(user, now, key, ask_ms)

    def complete_view(self, site: int, code: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The view of an answer resolved while every node was up: the region's nodes (in
        geo-DNS's order) and the other regions' nodes (nearest the site first)."""
        return self._view(site, code, 0)

    def region_of(self, code: int) -> str:
        """The region an answer code maps to."""
        return self.regions[code % len(self.regions)]

    def answer(self, site: int, code: int, epoch: int, dns_ms: float) -> DnsAnswer:
        """The answer of code ``code`` resolved in ``epoch``, as the SDK sees it: the
        region's nodes that were believed up, nearest first to where geo-DNS located the
        query (the site, or the public resolver's point of presence), then the other
        regions' (nearest the site first)."""
        nodes, others = self._view(site, code, epoch)
        return DnsAnswer(self.region_of(code), nodes, others, dns_ms)

    def lookup(self, site: int, user: int, now: float, last_mile_ms: float) -> DnsAnswer:
        """The terminal's answer: from its cache while fresh, else resolved now (the cost of
        the lookup in ``dns_ms``)."""
        cost, code, epoch = self.lookup_fast(site, user, now, last_mile_ms)
        return self.answer(site, code, epoch, cost)

    def lookup_fast(self, site: int, user: int, now: float,
                    last_mile_ms: float) -> tuple[float, int, int]:
        """The terminal's lookup as plain numbers: its cost in ms (0 from its own cache),
        and the answer's code and authoritative epoch (see :meth:`answer`); an answer
        resolved now is cached."""
        if now < self.expiry[user]:
            return 0.0, self.answer_code[user], self.answer_epoch[user]
        code = self.resolver[user]
        cost = 0.0
        if code == HTTPDNS:
            h = self.httpdns
            assert h is not None
            endpoint = self._endpoint[site]
            self.httpdns_queries += 1
            if self.reachable[endpoint]:
                region = self._site_code[site]
                self._keep(user, now, now + h.ttl, region, self.epoch)
                return h.round_trips * (last_mile_ms + self._rtt[site][endpoint]), region, \
                    self.epoch
            self.httpdns_fallbacks += 1  # no answer: the SDK falls back to DNS
            cost = 1000.0 * h.timeout
            code = 0
        key = self._site_key[site][code]
        return self._ask(user, now, key, cost + last_mile_ms + (
            self._site_rtt[site][code] if code else self._isp_rtt))

    def _ask(self, user: int, now: float, key: int, cost: float) -> tuple[float, int, int]:
        """The terminal asks its resolver (cache ``key``), having spent ``cost`` ms so far:
        answered from the resolver's shared cache while fresh, else from the authoritative
        side (one more round trip); the terminal keeps the answer for what is left of the
        resolver's TTL. Returns the cost, the answer's code and its authoritative epoch."""
        self.lookups += 1
        fresh = self._key_fresh[key]
        ttl = self.ttl_s
        if self._sampled:
            self._key_queries[key] += 1
            if now >= fresh and ttl > 0:
                fresh = self._unseen_refresh(key, now, fresh)
        if now < fresh:
            until = fresh if fresh < now + ttl else now + ttl
            if self._key_stretch[key] and now >= self._key_resolved[key] + ttl:
                self.stretched_served += 1
            epoch = self._key_epoch[key]
        else:
            self.auth_queries += 1
            cost += self._auth_rtt[key]
            self._key_fresh[key] = now + (self._stretched if self._key_stretch[key] else ttl)
            self._key_resolved[key] = now
            self._key_epoch[key] = epoch = self.epoch
            until = now + ttl
        code = self._key_code[key]
        if until > now:  # (_keep, inline on the hot path)
            self.expiry[user] = until
            self.answer_code[user] = code
            self.answer_epoch[user] = epoch
        return cost, code, epoch

    def _unseen_refresh(self, key: int, now: float, fresh: float) -> float:
        """In a 1-in-k sample, whether a terminal not simulated asked the resolver since its
        entry expired (it would have refreshed it): the unseen queries arrive at ``k - 1``
        times the rate of the simulated ones. Returns the entry's (new) freshness."""
        rate = (self._k - 1) * self._key_queries[key] / now if now > 0 else 0.0
        since = now - max(fresh, 0.0)
        if rate <= 0 or self._u.next() >= -math.expm1(-rate * since):
            return fresh
        refreshed = now - since * self._u.next()
        self._key_resolved[key] = refreshed
        self._key_epoch[key] = self.epoch
        fresh = refreshed + (max(self.ttl_s, self.spec.stretched_ttl)
                             if self._key_stretch[key] else self.ttl_s)
        self._key_fresh[key] = fresh
        return fresh

    def _keep(self, user: int, now: float, until: float, code: int, epoch: int) -> None:
        """The terminal keeps the answer until ``until`` (not at all with a TTL of 0)."""
        if until > now:
            self.expiry[user] = until
            self.answer_code[user] = code
            self.answer_epoch[user] = epoch

    def _view(self, site: int, code: int, epoch: int) -> tuple[tuple[int, ...],
                                                             tuple[int, ...]]:
        """The region's nodes the authoritative side believed up in ``epoch`` (in geo-DNS's
        order), and the other regions' (nearest the site first)."""
        key = (site, code, epoch)
        view = self._views.get(key)
        if view is None:
            up = self._up_at[epoch]
            world = self.world
            n_r = len(self.regions)
            region = self.regions[code % n_r]
            pop = code // n_r - 1
            in_region = world.site_region_order[site][region] if pop < 0 else \
                world.pop_region_order[pop][region]
            nodes = tuple(n for n in in_region if up[n])
            listed = set(in_region)
            others = tuple(n for n in world.site_global_order[site] if up[n] and n not in listed)
            view = self._views[key] = (nodes, others)
        return view
