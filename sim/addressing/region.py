"""Level 1, region by geo-DNS, and the DNS cache every terminal keeps.

Geo-DNS maps a terminal to a region by where its *resolver* is. Most terminals use a nearby
resolver (the ISP's); a share (``far_resolver_share``) uses a far-away public resolver and is
mapped to that resolver's region. An answer lists the region's nodes that DNS believed up when
it answered, and the terminal keeps it for ``dns_ttl``: a node that fails within the TTL stays
in the stale answer, and the terminal pays a connect timeout to find out.
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING

import numpy as np

from sim.addressing.base import DnsAnswer
from sim.config.schema import RegionLevelSpec
from sim.model.world import PUBLIC_RESOLVERS

if TYPE_CHECKING:
    from sim.model.world import World

__all__ = ["GeoDns"]


class GeoDns:
    """Per-terminal DNS caches and the geo-DNS server's view of which nodes are up.

    Parameters
    ----------
    world : World
    spec : RegionLevelSpec
        Far-resolver share, TTL and the RTT to a nearby resolver.
    n_users : int
        Size of the terminal pool.
    rng : numpy.random.Generator
        Decides, once per terminal, whether it uses a far resolver and which.
    """

    def __init__(self, world: World, spec: RegionLevelSpec, n_users: int,
                 rng: np.random.Generator):

        self.world = world
        self.spec = spec
        self.ttl_s = spec.dns_ttl
        far = rng.random(n_users) < spec.far_resolver_share
        which = rng.integers(0, len(PUBLIC_RESOLVERS), n_users)
        # 0: a nearby resolver; otherwise 1 + the index of the public resolver it uses.
        self.resolver = bytes(np.where(far, which + 1, 0).astype(np.uint8))
        # Each terminal's cached answer, compactly (millions of terminals): when it expires,
        # its region and the DNS epoch (the set of nodes up) it was resolved in.
        self.expiry = array("d", [-1.0]) * n_users
        self.answer_region = array("b", [0]) * n_users
        self.answer_epoch = array("i", [0]) * n_users
        self.regions = sorted(world.region_nodes)
        self._region_code = {r: i for i, r in enumerate(self.regions)}
        served = set(world.region_nodes)
        self._resolver_region = [r[3] if r[3] in served else None for r in PUBLIC_RESOLVERS]
        self._resolver_rtt = world.resolver_rtt_ms.tolist()
        self.up: list[bool] = [True] * len(world.topology.node_ids)
        self.all_up = True
        self.epoch = 0
        self._up_at: list[tuple[bool, ...]] = [tuple(self.up)]
        self._all_up_at: list[bool] = [True]
        self._views: dict[tuple[int, str, int], tuple[tuple[int, ...], tuple[int, ...]]] = {}
        self.lookups = 0
        # What a fresh lookup answers, by site and resolver, for :meth:`fresh_answers`.
        code = self._region_code
        self._site_region = np.array([code[r] for r in world.site_dns_region], dtype=np.int64)
        self._resolver_region_code = np.array(
            [-1 if r is None else code[r] for r in self._resolver_region], dtype=np.int64)

    @property
    def n_regions(self) -> int:
        """How many regions DNS maps terminals to (region codes are ``0 .. n_regions - 1``,
        indexing :attr:`regions`)."""
        return len(self.regions)

    def set_up(self, node: int, up: bool) -> None:
        """Tell DNS that a node went down or came back (it answers accordingly from now)."""
        self.up[node] = up
        self.all_up = all(self.up)
        self.epoch += 1
        self._up_at.append(tuple(self.up))
        self._all_up_at.append(self.all_up)

    def fresh_answers(self, sites: np.ndarray, users: np.ndarray,
                      last_mile_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What fresh lookups by these terminals would answer, for a batch of logins: the
        region codes and the lookups' cost in ms (what :meth:`lookup` computes one at a time
        when a terminal's cache has expired)."""
        resolver = np.frombuffer(self.resolver, dtype=np.uint8)[users].astype(np.int64) - 1
        far = resolver >= 0
        r = np.where(far, resolver, 0)
        region = np.where(far, self._resolver_region_code[r], -1)
        region = np.where(region < 0, self._site_region[sites], region)
        rtt = np.where(far, self.world.resolver_rtt_ms[sites, r], self.spec.resolver_rtt_ms)
        return region, last_mile_ms + rtt

    def complete_view(self, site: int, region: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The view of an answer resolved while every node was up: the region's nodes and the
        other regions' nodes, nearest first."""
        return self._view(site, self.regions[region], 0)

    def lookup_complete(self, user: int, now: float, region: int, dns_ms: float) -> float:
        """The terminal's lookup while every node is up, given what a fresh lookup would
        answer (from :meth:`fresh_answers`): its cost in ms (0 from the cache), or -1 when the
        terminal holds an answer resolved while a node was down (call :meth:`lookup`)."""
        if now < self.expiry[user]:
            return 0.0 if self._all_up_at[self.answer_epoch[user]] else -1.0
        self.lookups += 1
        if self.ttl_s > 0:
            self.expiry[user] = now + self.ttl_s
            self.answer_region[user] = region
            self.answer_epoch[user] = self.epoch
        return dns_ms

    def _view(self, site: int, region: str, epoch: int) -> tuple[tuple[int, ...],
                                                               tuple[int, ...]]:
        """The region's nodes DNS believed up in ``epoch``, and the other regions' (both
        nearest first)."""
        key = (site, region, epoch)
        view = self._views.get(key)
        if view is None:
            up = self._up_at[epoch]
            world = self.world
            in_region = world.site_region_order[site][region]
            nodes = tuple(n for n in in_region if up[n])
            listed = set(in_region)
            others = tuple(n for n in world.site_global_order[site] if up[n] and n not in listed)
            view = self._views[key] = (nodes, others)
        return view

    def lookup(self, site: int, user: int, now: float, last_mile_ms: float) -> DnsAnswer:
        """The terminal's answer: cached while fresh, else resolved now (costing one RTT to
        the resolver, reported in ``dns_ms``)."""
        if now < self.expiry[user]:
            region = self.regions[self.answer_region[user]]
            nodes, others = self._view(site, region, self.answer_epoch[user])
            return DnsAnswer(region, nodes, others, 0.0)
        self.lookups += 1
        r = self.resolver[user] - 1
        world = self.world
        if r < 0:
            region = world.site_dns_region[site]
            dns_ms = last_mile_ms + self.spec.resolver_rtt_ms
        else:
            region = self._resolver_region[r] or world.site_dns_region[site]
            dns_ms = last_mile_ms + self._resolver_rtt[site][r]
        nodes, others = self._view(site, region, self.epoch)
        if self.ttl_s > 0:
            self.expiry[user] = now + self.ttl_s
            self.answer_region[user] = self._region_code[region]
            self.answer_epoch[user] = self.epoch
        return DnsAnswer(region, nodes, others, dns_ms)
