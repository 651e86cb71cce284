"""Workload: sites (cities), terminals and the login arrival process.

Logins arrive as a non-homogeneous Poisson process per site. A site's rate is its share of
the population times the app's mean login rate (``dau * logins_per_user_per_day / 86400``)
times a diurnal factor in the site's local time, ``1 + amplitude * cos(2 pi (h - peak) / 24)``
(mean 1 over a day), times any flash-crowd multiplier in force. The rate is held constant over
short bins (at most 60 s, split at every event boundary) and counts per bin are drawn exactly,
so the process is exact for the piecewise-constant rate.

Each login belongs to a terminal (user) of its site. A site has a fixed pool of users; each
login picks one uniformly, and the pool is sized so that the expected number of distinct users
a day equals ``dau`` (repeat logins do not add DAU). A terminal keeps its access type and last
mile across its logins (:attr:`Workload.terminal_access`, :attr:`Workload.terminal_last_mile`);
what varies from one login to the next is its leg's noise (extra delay, loss, the radio's
wake-up: :class:`sim.model.paths.LegModel`).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sim.config.schema import ACCESS_TYPES, REGIONS, AccessType, Scenario
from sim.errors import ScenarioError
from sim.model.lastmile import sample_last_mile_ms
from sim.model.paths import LegModel

__all__ = ["Sites", "load_sites", "ArrivalChunk", "Workload", "user_pool_size", "users_per_site",
           "CITIES_CSV"]

CITIES_CSV = Path(__file__).resolve().parents[1] / "data" / "cities.csv"
_MAX_BIN_S = 60.0


@dataclass(frozen=True)
class Sites:
    """Where terminals are: one row per site (a city), in a fixed order."""
    names: tuple[str, ...]
    countries: tuple[str, ...]
    regions: tuple[str, ...]
    lat: NDArray[np.float64]
    lon: NDArray[np.float64]
    weight: NDArray[np.float64]
    utc_offset_h: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.names)

    @property
    def region_index(self) -> NDArray[np.int64]:
        """Index of each site's region in :data:`sim.config.schema.REGIONS`."""
        return np.array([REGIONS.index(r) for r in self.regions], dtype=np.int64)


def load_sites(scenario: Scenario, source: str = "scenario") -> Sites:
    """The sites of a scenario's population: explicit ``sites`` or cities from the shipped file.

    Raises
    ------
    ScenarioError
        When no city passes the filters.
    """
    pop = scenario.population
    if pop.source == "sites":
        assert pop.sites is not None
        rows: list[tuple[str, str, str, float, float, float, float]] = [
            (s.name, s.country, s.region, s.lat, s.lon, s.weight, s.utc_offset_h)
            for s in pop.sites]
    else:
        rows = []
        with CITIES_CSV.open(newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                if int(r["population"]) < pop.min_population:
                    continue
                if pop.regions is not None and r["region"] not in pop.regions:
                    continue
                rows.append((r["name"], r["country"], r["region"], float(r["lat"]),
                             float(r["lon"]), float(r["population"]), float(r["utc_offset_h"])))
        if pop.max_sites is not None:
            rows = rows[:pop.max_sites]  # the file is sorted by population, largest first
        if not rows:
            where = f" in regions {', '.join(pop.regions)}" if pop.regions else ""
            raise ScenarioError(f"no city has a population of at least {pop.min_population:,}"
                                f"{where}", file=source, path="population.min_population")
    names, countries, regions, lat, lon, w, off = zip(*rows)
    weight = np.array(w, dtype=float)
    return Sites(names=tuple(names), countries=tuple(countries), regions=tuple(regions),
                 lat=np.array(lat, dtype=float), lon=np.array(lon, dtype=float),
                 weight=weight / weight.sum(), utc_offset_h=np.array(off, dtype=float))


def user_pool_size(dau: int, logins_per_user_per_day: float) -> int:
    """Users to draw logins from so that a day's expected distinct users equal ``dau``.

    With ``L = dau * logins_per_user_per_day`` logins a day spread uniformly over ``N``
    users, ``N * (1 - exp(-L / N))`` users log in at least once; this solves that for ``N``.

    Examples
    --------
    >>> n = user_pool_size(1_000_000, 3.0)
    >>> round(n * (1 - math.exp(-3_000_000 / n)))
    1000000
    """
    logins = dau * logins_per_user_per_day
    if logins_per_user_per_day <= 1.0:
        return int(dau * 50)
    lo, hi = float(dau), float(dau) * 50
    for _ in range(100):
        mid = (lo + hi) / 2
        if mid * (1 - math.exp(-logins / mid)) < dau:
            lo = mid
        else:
            hi = mid
    return max(1, round(hi))


def access_types(scenario: Scenario) -> list[AccessType]:
    """The access types of the scenario's mix, in the order their codes number them."""
    mix = scenario.population.access_mix
    return [a for a in ACCESS_TYPES if mix.get(a, 0.0) > 0]


def users_per_site(scenario: Scenario, sites: Sites) -> NDArray[np.int64]:
    """Each site's pool of terminals (its share of :func:`user_pool_size`, at least one)."""
    pop = scenario.population
    n_users = user_pool_size(pop.dau, pop.logins_per_user_per_day) / pop.sample_one_in
    return np.maximum(1, np.round(sites.weight * n_users)).astype(np.int64)


@dataclass(frozen=True)
class ArrivalChunk:
    """A batch of consecutive logins, sorted by start time; plain lists for fast indexing."""
    first_id: int
    t_s: list[float]
    site: list[int]
    user: list[int]
    access: list[int]
    last_mile_ms: list[float]
    jitter: list[float]
    """Extra delay of each round trip of the login's leg to its node, ms (additive)."""
    extra_s: list[float]
    """Time the first connect loses to the radio's wake-up, lost SYNs and lost data round
    trips (their RTO on the path to the site's nearest node), s."""
    z_back: list[float]
    """A standard normal draw for the extra delay of its trip to the home data center."""
    u_back: list[float]
    """A uniform draw for the loss of that trip (and, along a Weyl sequence, of its later
    connects: :meth:`LegModel.later_loss_s`)."""
    session_s: list[float]
    service_node: list[float]
    service_dc: list[float]
    cache_u: list[float]
    site_array: NDArray[np.int64]
    """``site`` as a numpy array (for work on the whole batch)."""
    user_array: NDArray[np.int64]
    last_mile_array: NDArray[np.float64]
    noise: list[float] = field(default_factory=list)
    """Exponential draws (mean 1) for the connects' extra delay, ``noise_draws`` per login
    in login order (empty: none)."""

    def __len__(self) -> int:
        return len(self.t_s)


class Workload:
    """Generates the logins of one replication in time-ordered chunks.

    Every random input has its own stream (arrivals, users, access types, last mile, jitter,
    sessions, service times, cache hits), so changing one does not shift the others.
    """

    STREAMS = ("arrivals", "users", "access", "last_mile", "jitter", "session", "service",
               "cache", "connect_noise", "open_sessions")

    def __init__(self, scenario: Scenario, sites: Sites, seed: np.random.SeedSequence,
                 site_index: dict[str, int] | None = None, chunk_size: int = 50_000,
                 site_rtt_ms: NDArray[np.float64] | None = None):
        self.scenario = scenario
        self.site_rtt_ms = site_rtt_ms
        """Each site's RTT to its nearest node (the first connect's lost data round trips wait
        the RTO of that path); None: they are not priced here."""
        self.sites = sites
        self.chunk_size = chunk_size
        self.rng = dict(zip(self.STREAMS, (np.random.default_rng(s)
                                           for s in seed.spawn(len(self.STREAMS)))))
        pop = scenario.population
        self.mean_rate_per_s = pop.dau * pop.logins_per_user_per_day / 86400.0 \
            / pop.sample_one_in
        self.users_per_site = users_per_site(scenario, sites)
        self.user_offset = np.concatenate([[0], np.cumsum(self.users_per_site)[:-1]])
        self.n_users = int(self.users_per_site.sum())
        self.access_names = access_types(scenario)
        mix = np.array([pop.access_mix[a] for a in self.access_names])
        self.access_p = mix / mix.sum()
        self._region_code = np.array([REGIONS.index(r) for r in sites.regions], dtype=np.int64)
        # Each terminal's network, drawn once: it keeps it across its logins of the day.
        rng_t = self.rng["access"]
        site_of = np.repeat(np.arange(len(sites)), self.users_per_site)
        self.terminal_access = rng_t.choice(len(self.access_names), size=self.n_users,
                                            p=self.access_p).astype(np.int8)
        """Access type code of each terminal (an index into :attr:`access_names`)."""
        self.terminal_last_mile = self._last_miles(self.rng["last_mile"], self.terminal_access,
                                                   site_of).astype(np.float32)
        """Last-mile RTT of each terminal, ms."""
        self.terminal_site = site_of
        """Site of each terminal."""
        self.legs = LegModel.build(scenario, self.access_names, sites.regions,
                                   sites.utc_offset_h)
        """The per-login noise of the terminal's leg (:class:`sim.model.paths.LegModel`)."""
        self._crowds = self._flash_crowds(site_index or {n: i for i, n in
                                                         enumerate(sites.names)})
        nearest = scenario.addressing.level("nearest")
        self.noise_draws = int(getattr(nearest, "probe_top_k", 0)) \
            if nearest is not None and getattr(nearest, "probe_noise_ms", 0.0) > 0 else 0
        """Exponential draws per login for its connects' extra delay (one per raced
        connect; none without probe noise)."""

    def _flash_crowds(self, site_index: dict[str, int]) -> list[tuple[float, float,
                                                                      NDArray[np.float64]]]:
        crowds = []
        for ev in self.scenario.events:
            if ev.flash_crowd is None:
                continue
            fc = ev.flash_crowd
            mult = np.ones(len(self.sites))
            if fc.region is not None:
                mult[np.array(self.sites.regions) == fc.region] = fc.multiplier
            else:
                assert fc.site is not None
                mult[site_index[fc.site]] = fc.multiplier
            assert ev.for_ is not None
            crowds.append((ev.at, ev.at + ev.for_, mult))
        return crowds

    def rate_per_s(self, t_s: float) -> NDArray[np.float64]:
        """Login rate of each site at simulated time ``t_s`` (logins per second)."""
        sc = self.scenario
        local_h = (sc.start_utc_hour + t_s / 3600.0 + self.sites.utc_offset_h) % 24.0
        d = sc.population.diurnal
        shape = 1.0 + d.amplitude * np.cos(2 * np.pi * (local_h - d.peak_hour) / 24.0)
        rate = self.mean_rate_per_s * self.sites.weight * shape
        for start, end, mult in self._crowds:
            if start <= t_s < end:
                rate = rate * mult
        return rate

    def _last_miles(self, rng: np.random.Generator, access: NDArray[np.integer[Any]],
                    site: NDArray[np.int64]) -> NDArray[np.float64]:
        """A last-mile RTT for each terminal, by its access type and its site's region."""
        last_mile = np.empty(len(site))
        # Group the terminals by (access type, region) in one sort, in the order the nested
        # loop over access types and regions visits them.
        combo = access.astype(np.int64) * len(REGIONS) + self._region_code[site]
        order = np.argsort(combo, kind="stable")
        bounds = np.searchsorted(combo[order], np.arange(len(self.access_names)
                                                         * len(REGIONS) + 1))
        for a, name in enumerate(self.access_names):
            for r, region in enumerate(REGIONS):
                k = a * len(REGIONS) + r
                rows = order[bounds[k]:bounds[k + 1]]
                if len(rows):
                    last_mile[rows] = sample_last_mile_ms(rng, name, region, len(rows))
        return last_mile

    def open_sessions(self) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64],
                                     NDArray[np.float64], NDArray[np.float64]]:
        """The sessions a stationary run holds open at t = 0: sites, terminals, access
        types, last miles and remaining lifetimes.

        Sessions are an M/G/infinity system: with logins at rate ``rate_per_s(0)`` and
        sessions of mean ``E[S]``, the number open is Poisson with mean ``rate x E[S]``
        (Little's law) and each one's remaining lifetime follows the equilibrium (residual)
        distribution of ``S``: exponential with the same mean for exponential sessions,
        uniform on ``[0, S]`` of a length-biased draw otherwise.
        """
        rng = self.rng["open_sessions"]
        pop = self.scenario.population
        mean = pop.session.mean_duration
        k = rng.poisson(self.rate_per_s(0.0) * mean)
        site = np.repeat(np.arange(len(k)), k)
        n = len(site)
        user = self.user_offset[site] + np.floor(
            rng.random(n) * self.users_per_site[site]).astype(np.int64)
        access = self.terminal_access[user].astype(np.int64)
        last_mile = self.terminal_last_mile[user].astype(np.float64)
        dist = pop.session.distribution
        if dist == "exponential":
            remaining = rng.exponential(mean, n)
        elif dist == "lognormal":  # length-biased lognormal: mu + sigma^2
            sigma = 1.0
            length = mean * np.exp(sigma * rng.standard_normal(n) + sigma ** 2 / 2)
            remaining = length * rng.random(n)
        else:
            remaining = mean * rng.random(n)
        return site, user, access, last_mile, remaining

    def last_login_ago(self) -> NDArray[np.float64]:
        """For each terminal, how long before t = 0 its last login was: exponential at the
        terminal's login rate then (the time back to the last event of a Poisson process)."""
        rate = self.rate_per_s(0.0) / np.maximum(self.users_per_site, 1)  # per terminal
        return self.rng["open_sessions"].exponential(1.0, self.n_users) \
            / rate[self.terminal_site]

    def bin_edges(self) -> NDArray[np.float64]:
        """Edges of the constant-rate bins: a <= 60 s grid plus every event boundary."""
        duration = self.scenario.duration
        n = max(1, math.ceil(duration / _MAX_BIN_S))
        edges = set(np.linspace(0.0, duration, n + 1).tolist())
        for start, end, _ in self._crowds:
            edges.update(x for x in (start, end) if 0.0 < x < duration)
        return np.array(sorted(edges))

    def chunks(self) -> Iterator[ArrivalChunk]:
        """Logins in time order, ``chunk_size`` or so at a time."""
        edges = self.bin_edges()
        rng = self.rng
        first_id = 0
        i = 0
        while i < len(edges) - 1:
            times, sites = [], []
            count = 0
            while i < len(edges) - 1 and count < self.chunk_size:
                lo, hi = edges[i], edges[i + 1]
                lam = self.rate_per_s((lo + hi) / 2) * (hi - lo)
                k = rng["arrivals"].poisson(lam)
                s = np.repeat(np.arange(len(lam)), k)
                t = lo + (hi - lo) * rng["arrivals"].random(len(s))
                order = np.argsort(t, kind="stable")
                times.append(t[order])
                sites.append(s[order])
                count += len(s)
                i += 1
            t_all = np.concatenate(times)
            s_all = np.concatenate(sites)
            if len(t_all):
                yield self._attributes(first_id, t_all, s_all)
                first_id += len(t_all)

    def _attributes(self, first_id: int, t: NDArray[np.float64],
                    site: NDArray[np.int64]) -> ArrivalChunk:
        rng = self.rng
        n = len(t)
        pop = self.scenario.population
        user = self.user_offset[site] + np.floor(
            rng["users"].random(n) * self.users_per_site[site]).astype(np.int64)
        access = self.terminal_access[user]
        last_mile = self.terminal_last_mile[user].astype(np.float64)
        rtt = None if self.site_rtt_ms is None else self.site_rtt_ms[site] + last_mile
        jitter, extra, _ = self.legs.draw(rng["jitter"], access, site, t, path_rtt_ms=rtt)
        mean_session = pop.session.mean_duration
        if pop.session.distribution == "exponential":
            session = rng["session"].exponential(mean_session, n)
        elif pop.session.distribution == "lognormal":
            sigma = 1.0
            session = mean_session * np.exp(sigma * rng["session"].standard_normal(n)
                                            - sigma ** 2 / 2)
        else:
            session = np.full(n, mean_session)
        svc = rng["service"].exponential(1.0, (2, n))
        return ArrivalChunk(
            first_id=first_id, t_s=t.tolist(), site=site.tolist(), user=user.tolist(),
            access=access.tolist(), last_mile_ms=last_mile.tolist(), jitter=jitter.tolist(),
            extra_s=extra.tolist(), z_back=rng["jitter"].standard_normal(n).tolist(),
            u_back=rng["jitter"].random(n).tolist(),
            session_s=session.tolist(), service_node=svc[0].tolist(),
            service_dc=svc[1].tolist(), cache_u=rng["cache"].random(n).tolist(),
            site_array=site, user_array=user, last_mile_array=last_mile,
            noise=rng["connect_noise"].standard_exponential(n * self.noise_draws).tolist())
