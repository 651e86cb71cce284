"""Where terminals' DNS queries go: each site's ISP resolver and the anycast points of presence
of the large public resolvers, with the round trips a lookup pays.

Static tables only (what the addressing needs per lookup is an index); the caches, the
health-checked answers and the lookups themselves are :mod:`sim.addressing.region`'s.

- A site's **ISP resolver** is in the site's city: the terminal pays its last mile plus
  ``region.resolver_rtt_ms``. It does not send EDNS Client Subnet (RFC 7871): geo-DNS maps it
  by the resolver's own address, which is in the city anyway.
- A **public resolver** (``sim/data/resolver_providers.csv``: which, whether it sends ECS, its
  share of public-resolver users in China and elsewhere) is anycast: a terminal reaches the
  provider's point of presence nearest to it (``sim/data/resolvers.csv``); Chinese sites use
  in-country providers. Without ECS, geo-DNS maps the terminal by the point of presence's
  location, which may be in another region; with ECS, by the terminal's own subnet.
- A resolver's cache misses go to the provider's **authoritative name servers**, anycast at
  its data centers: the round trip from the resolver to the nearest data center.

Cache keys: one per resolver without ECS (its answer is the same for everyone behind it), one
per resolver and client subnet with ECS (modelled per site: one scope per city).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from sim.model import latency

__all__ = ["RESOLVERS_CSV", "PROVIDERS_CSV", "ResolverTables", "build_resolvers",
           "load_providers", "load_pops"]

DATA = Path(__file__).resolve().parents[1] / "data"
RESOLVERS_CSV = DATA / "resolvers.csv"
PROVIDERS_CSV = DATA / "resolver_providers.csv"


@dataclass(frozen=True)
class ResolverTables:
    """Resolvers of a world. Column 0 of the ``[site, p]`` tables is the site's ISP resolver;
    column ``p >= 1`` is public provider ``providers[p - 1]``."""

    providers: tuple[str, ...]
    provider_share: NDArray[np.float64] = field(repr=False)
    """``[site, p]``: the share of a site's public-resolver users on provider ``p`` (column 0
    unused, 0)."""
    site_rtt_ms: NDArray[np.float64] = field(repr=False)
    """``[site, p]``: RTT from the site to that resolver (0 for the ISP resolver: the
    scenario's ``resolver_rtt_ms`` applies), without the last mile."""
    site_key: NDArray[np.int64] = field(repr=False)
    """``[site, p]``: the resolver cache the site's terminals on that resolver share."""
    key_resolver: NDArray[np.int64] = field(repr=False)
    """Per cache key: the resolver it belongs to (ISP resolvers ``0 .. n_sites - 1``, then
    points of presence)."""
    key_site: NDArray[np.int64] = field(repr=False)
    """Per cache key: the site geo-DNS locates the query at (an ISP resolver's or an ECS
    client subnet's), or -1: at the point of presence ``key_resolver - n_sites``."""
    key_auth_rtt_ms: NDArray[np.float64] = field(repr=False)
    """Per cache key: RTT from its resolver to the nearest authoritative name server."""
    pops: tuple[tuple[str, str, str, float, float], ...] = field(repr=False)
    """Points of presence: provider, city, country, lat, lon."""

    @property
    def n_keys(self) -> int:
        """How many resolver caches there are."""
        return len(self.key_resolver)

    @property
    def n_resolvers(self) -> int:
        """ISP resolvers and points of presence."""
        return int(self.key_resolver.max()) + 1 if len(self.key_resolver) else 0


def load_providers() -> list[tuple[str, bool, float, float]]:
    """The public resolver providers: name, sends ECS, share in China, share elsewhere."""
    with PROVIDERS_CSV.open(newline="", encoding="utf-8") as f:
        return [(r["provider"], r["ecs"] == "1", float(r["share_china"]),
                 float(r["share_elsewhere"])) for r in csv.DictReader(f)]


def load_pops() -> list[tuple[str, str, str, float, float]]:
    """The public resolvers' points of presence: provider, city, country, lat, lon."""
    with RESOLVERS_CSV.open(newline="", encoding="utf-8") as f:
        return [(r["provider"], r["city"], r["country"], float(r["lat"]), float(r["lon"]))
                for r in csv.DictReader(f)]


def build_resolvers(site_lat: NDArray[np.float64], site_lon: NDArray[np.float64],
                    site_china: NDArray[np.bool_], dc_lat: NDArray[np.float64],
                    dc_lon: NDArray[np.float64], ecs: str) -> ResolverTables:
    """The resolver tables of a set of sites.

    Parameters
    ----------
    site_lat, site_lon : numpy.ndarray
        The sites' coordinates.
    site_china : numpy.ndarray of bool
        Which sites are in mainland China (they use in-country public resolvers).
    dc_lat, dc_lon : numpy.ndarray
        The data centers (the authoritative name servers' anycast sites).
    ecs : {"auto", "on", "off"}
        Whether public resolvers send EDNS Client Subnet: as each provider does (``auto``),
        all, or none. ISP resolvers never do.
    """
    providers = load_providers()
    pops = load_pops()
    n_sites = len(site_lat)
    n_p = len(providers) + 1
    share = np.zeros((n_sites, n_p))
    for j, (_, _, in_china, elsewhere) in enumerate(providers, start=1):
        share[:, j] = np.where(site_china, in_china, elsewhere)
    totals = share.sum(axis=1, keepdims=True)
    share = np.divide(share, totals, out=np.zeros_like(share), where=totals > 0)
    pop_lat = np.array([p[3] for p in pops])
    pop_lon = np.array([p[4] for p in pops])
    pop_rtt = latency.path_rtt_ms(site_lat[:, None], site_lon[:, None], pop_lat[None, :],
                                  pop_lon[None, :], network="public")

    def auth_rtt(lat: NDArray[np.float64], lon: NDArray[np.float64]) -> NDArray[np.float64]:
        rtt = latency.path_rtt_ms(lat[:, None], lon[:, None], dc_lat[None, :],
                                  dc_lon[None, :], network="public")
        return np.asarray(rtt.min(axis=1), dtype=np.float64)

    site_rtt = np.zeros((n_sites, n_p))
    site_key = np.zeros((n_sites, n_p), dtype=np.int64)
    site_key[:, 0] = np.arange(n_sites)
    key_resolver = list(range(n_sites))
    key_site = list(range(n_sites))
    auth = auth_rtt(site_lat, site_lon).tolist()
    pop_auth = auth_rtt(pop_lat, pop_lon).tolist()
    keys: dict[tuple[int, int], int] = {}
    for j, (name, sends_ecs, _, _) in enumerate(providers, start=1):
        idx = np.array([i for i, p in enumerate(pops) if p[0] == name], dtype=np.int64)
        if not len(idx):
            raise ValueError(f"{RESOLVERS_CSV.name}: provider {name!r} has no point of "
                             "presence")
        with_ecs = ecs == "on" or (ecs == "auto" and sends_ecs)
        nearest = idx[np.argmin(pop_rtt[:, idx], axis=1)]
        for s in range(n_sites):
            q = int(nearest[s])
            site_rtt[s, j] = pop_rtt[s, q]
            key = (q, s if with_ecs else -1)
            k = keys.get(key)
            if k is None:
                k = keys[key] = len(key_resolver)
                key_resolver.append(n_sites + q)
                key_site.append(s if with_ecs else -1)
                auth.append(pop_auth[q])
            site_key[s, j] = k
    return ResolverTables(
        providers=tuple(p[0] for p in providers), provider_share=share, site_rtt_ms=site_rtt,
        site_key=site_key, key_resolver=np.array(key_resolver, dtype=np.int64),
        key_site=np.array(key_site, dtype=np.int64), key_auth_rtt_ms=np.array(auth),
        pops=tuple(pops))
