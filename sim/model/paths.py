"""The two networks and a login's paths across them.

A login has two legs. The **terminal's leg** runs over the public internet from the terminal
to its node: the path's RTT (:func:`sim.model.latency.path_rtt_ms`), the terminal's last mile
and, per login, an additive extra delay (its access network's and the public path's) with a
loss per round trip. The **backend leg** runs from the node to the home data center, over the
provider's private backbone or over public transit, whichever the node expects to be faster
(``paths.backend``); a node answers some logins locally (a cache hit, a login ticket) and
then has no backend leg.

* :class:`LegModel` draws the per-login noise of the terminal's leg (numpy, per batch): the
  extra delay (log-normal per access type, fitted to its p50 and p99, plus the public path's
  fitted extra delay and the evening congestion of the terminal's region), the SYN round
  trips lost (each waits RFC 6298's initial 1 s, doubling), the data round trips lost (each
  waits the RTO from the RTT, at least ``rto_min``) and the radio's wake-up on a mobile
  terminal's cold start.
* :class:`Backbone` routes the private backbone: the RTT from every node to the home data
  center for any state of its links (degraded by some ms, or down), recomputed when a link
  changes; :func:`backend_choice` picks each node's network from the expected trip times.

Everything here is computed per run or per link change, never per login.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import networkx as nx
import numpy as np
from numpy.typing import NDArray

from sim.config.schema import Paths, Scenario
from sim.model import latency
from sim.model.lastmile import ACCESS_PROFILES
from sim.model.topology import BACKBONE_HOP_MS, BACKBONE_STRETCH, Topology

__all__ = ["Backbone", "BackendState", "LegModel", "LinkKey", "SYN_RTO_S", "Z99",
           "backend_choice", "link_key", "lognormal_from_quantiles"]

SYN_RTO_S = 1.0
"""The initial retransmission timeout (RFC 6298, section 2.1): a lost SYN (or QUIC's first
flight, RFC 9002's 3 x 333 ms) is sent again after 1 s, then 2 s, 4 s, ..."""
MAX_SYN_RETRIES = 6
"""Linux's ``tcp_syn_retries``: a connect gives up after this many retransmissions."""
Z99 = NormalDist().inv_cdf(0.99)
"""The standard normal's 99th percentile."""

LinkKey = tuple[str, str]
"""A backbone link by its two node ids, sorted."""


def link_key(a: str, b: str) -> LinkKey:
    """The key of the link between ``a`` and ``b`` (either order)."""
    return (a, b) if a <= b else (b, a)


def lognormal_from_quantiles(p50: float, p99: float) -> tuple[float, float]:
    """``(mu, sigma)`` of the log-normal whose median is ``p50`` and 99th percentile
    ``p99``.

    Examples
    --------
    >>> mu, sigma = lognormal_from_quantiles(6.0, 150.0)
    >>> round(math.exp(mu), 6), round(math.exp(mu + Z99 * sigma), 6)
    (6.0, 150.0)
    """
    return math.log(p50), math.log(p99 / p50) / Z99


def _crosses_china(lat_a: NDArray[np.float64], lon_a: NDArray[np.float64],
                   lat_b: NDArray[np.float64], lon_b: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Whether a path has exactly one end in mainland China (the latency model's region)."""
    a = latency.region_of(lat_a, lon_a) == "china"
    b = latency.region_of(lat_b, lon_b) == "china"
    return np.asarray(a != b)


@dataclass(frozen=True, eq=False)
class LegModel:
    """The per-login noise of the terminal's leg, by access type (codes in the workload's
    order) and site.

    Attributes
    ----------
    mu, sigma : numpy.ndarray
        Per access type, the log-normal of its extra delay (ms).
    loss : numpy.ndarray
        Per access type, the probability that a round trip of the leg loses its packet
        (its access network's loss and the public path's together).
    wakeup_s : numpy.ndarray
        Per access type, the radio's wake-up on a cold start (s; 0 for fixed lines).
    public_mu, public_sigma : float
        The public path's own extra delay between servers (fitted, ms).
    congestion_ms : numpy.ndarray
        Per site, the mean extra delay at its evening peak.
    cold_share : float
    data_round_trips : int
        Round trips of the leg that carry data (TLS and the login request): each lost one
        waits the RTO.
    rto_min_s : float
    """

    mu: NDArray[np.float64]
    sigma: NDArray[np.float64]
    loss: NDArray[np.float64]
    wakeup_s: NDArray[np.float64]
    public_mu: float
    public_sigma: float
    congestion_ms: NDArray[np.float64]
    site_utc_offset_h: NDArray[np.float64]
    start_utc_hour: float
    peak_hour: float
    cold_share: float
    data_round_trips: int
    rto_min_s: float

    @classmethod
    def build(cls, scenario: Scenario, access_names: Sequence[str],
              site_regions: Sequence[str], site_utc_offset_h: NDArray[np.float64]) -> LegModel:
        """The leg model of a scenario (its ``paths`` section and fitted variances)."""
        paths = scenario.paths
        mu, sigma, loss, wake = [], [], [], []
        p_public = paths.public.loss
        for name in access_names:
            a = paths.access[name]  # type: ignore[index]
            m, s = lognormal_from_quantiles(a.jitter_p50_ms, a.jitter_p99_ms)
            mu.append(m)
            sigma.append(s)
            loss.append(1.0 - (1.0 - a.loss) * (1.0 - p_public))
            wake.append(a.wakeup_ms / 1000.0 if ACCESS_PROFILES[name].mobile else 0.0)
        pub = latency.variance_params()["public"]
        rtts = scenario.protocol.handshake_rtts
        on = paths.jitter
        return cls(
            mu=np.array(mu) if on else np.full(len(mu), -np.inf), sigma=np.array(sigma),
            loss=np.array(loss), wakeup_s=np.array(wake),
            public_mu=math.log(pub["median_ms"]) if on else -math.inf,
            public_sigma=float(pub["sigma"]),
            congestion_ms=np.array([paths.congestion_ms.get(r, 0.0)  # type: ignore[call-overload]
                                    if on else 0.0 for r in site_regions]),
            site_utc_offset_h=np.asarray(site_utc_offset_h, dtype=float),
            start_utc_hour=scenario.start_utc_hour,
            peak_hour=scenario.population.diurnal.peak_hour,
            cold_share=paths.cold_start_share,
            # TCP + TLS 1.3: one round trip of TLS, then the request; QUIC: the request.
            data_round_trips=int(rtts),
            rto_min_s=paths.rto_min,
        )

    def congestion_at(self, site: NDArray[np.int64], t_s: NDArray[np.float64]
                      ) -> NDArray[np.float64]:
        """The evening congestion's mean extra delay for logins at ``site`` at ``t_s``: the
        site's peak figure times ``max(0, cos)`` of the local hour's distance from the peak."""
        local_h = (self.start_utc_hour + t_s / 3600.0 + self.site_utc_offset_h[site]) % 24.0
        shape = np.maximum(0.0, np.cos(2 * np.pi * (local_h - self.peak_hour) / 24.0))
        out: NDArray[np.float64] = self.congestion_ms[site] * shape
        return out

    def draw(self, rng: np.random.Generator, access: NDArray[np.integer], site: NDArray[np.int64],
             t_s: NDArray[np.float64], arrival: bool = True,
             path_rtt_ms: NDArray[np.float64] | None = None
             ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
        """The noise of a batch of logins' first connect.

        Parameters
        ----------
        path_rtt_ms : numpy.ndarray, optional
            Each login's RTT to the node it will most likely connect to (the site's nearest,
            last mile included): with it, ``extra_s`` includes the lost data round trips'
            RTOs (:meth:`rto_s` of that RTT plus the extra delay).

        Returns
        -------
        jitter_ms : numpy.ndarray
            Extra delay of every round trip of the leg (access, public path, congestion).
        extra_s : numpy.ndarray
            Time the first connect loses before its handshake completes: the radio's wake-up
            (a mobile cold start) and the SYN retransmissions (1 s, 2 s, 4 s, ...), and with
            ``path_rtt_ms`` the lost data round trips.
        lost_data : numpy.ndarray
            Data round trips lost (each costs the RTO: :meth:`rto_s`).
        """
        n = len(access)
        a = np.asarray(access, dtype=np.int64)
        z = rng.standard_normal((2, n))
        jitter = np.exp(self.mu[a] + self.sigma[a] * z[0]) \
            + np.exp(self.public_mu + self.public_sigma * z[1])
        if np.any(self.congestion_ms):
            # Congestion: exponential with the hour's mean (queues at peak-hour interconnects).
            jitter += rng.standard_exponential(n) * self.congestion_at(site, t_s)
        p = self.loss[a]
        u = rng.random((2, n))
        # SYN round trips lost before one gets through: geometric, capped at the retries.
        with np.errstate(divide="ignore"):
            syn = np.floor(np.log(u[0]) / np.log(p, where=p > 0, out=np.full(n, -np.inf)))
        syn = np.minimum(np.where(p > 0, syn, 0.0), MAX_SYN_RETRIES)
        extra = SYN_RTO_S * (np.exp2(syn) - 1.0)
        if arrival and np.any(self.wakeup_s):
            extra += np.where(u[1] < self.cold_share, self.wakeup_s[a], 0.0)
        lost = rng.binomial(self.data_round_trips, p) if self.data_round_trips else \
            np.zeros(n, dtype=np.int64)
        if path_rtt_ms is not None:
            rto = np.maximum(self.rto_min_s, 0.003 * (path_rtt_ms + jitter))
            extra = extra + lost * rto
        return jitter, extra, lost.astype(np.int64)

    def jitter_one(self, access: int, site: int, t_s: float, z_access: float, z_public: float,
                   e_congestion: float) -> float:
        """One login's extra delay (:meth:`draw`'s, from given draws: two standard normals
        and an exponential of mean 1)."""
        jitter = math.exp(self.mu[access] + self.sigma[access] * z_access) \
            + math.exp(self.public_mu + self.public_sigma * z_public)
        peak = float(self.congestion_ms[site])
        if peak:
            local_h = (self.start_utc_hour + t_s / 3600.0 + self.site_utc_offset_h[site]) % 24.0
            jitter += e_congestion * peak * max(0.0, math.cos(
                2 * math.pi * (local_h - self.peak_hour) / 24.0))
        return jitter

    def later_loss_s(self, access: int, rtt_ms: float, u: float, attempt: int) -> float:
        """What loss costs a connect after a login's first (and a reconnect's), from the
        login's uniform draw ``u``: the ``attempt``-th connect takes its own uniforms from
        ``u`` along a Weyl sequence (so the result does not depend on the order logins are
        simulated in). SYNs lost wait 1 s, 2 s, 4 s, ...; each data round trip lost waits the
        RTO."""
        p = float(self.loss[access])
        if p <= 0.0:
            return 0.0
        u = (u + 0.6180339887498949 * attempt + 0.5) % 1.0
        lost_s = 0.0
        if u < p:  # SYNs lost: geometric (the count from one uniform)
            k = min(MAX_SYN_RETRIES, int(math.log(max(u, 1e-300)) / math.log(p)))
            lost_s += SYN_RTO_S * (2.0 ** k - 1.0)
        for j in range(1, self.data_round_trips + 1):
            if (u + 0.7548776662466927 * j) % 1.0 < p:
                lost_s += self.rto_s(rtt_ms)
        return lost_s

    def rto_s(self, rtt_ms: float) -> float:
        """The retransmission timeout after the handshake's first RTT sample (RFC 6298,
        section 2.2: SRTT = R, RTTVAR = R / 2, RTO = SRTT + 4 RTTVAR = 3 R), at least
        ``rto_min``."""
        rto = 0.003 * rtt_ms
        return rto if rto > self.rto_min_s else self.rto_min_s


@dataclass(frozen=True, eq=False)
class BackendState:
    """Each node's trip to the home data center in one state of the backbone's links."""
    private_ms: NDArray[np.float64]
    """Routed backbone RTT (``inf``: no route)."""
    private_loss: NDArray[np.float64]
    """Loss per trip on the backbone route (the network's, plus degraded links')."""
    uses: tuple[frozenset[LinkKey], ...]
    """The links each node's backbone route uses."""
    clean_ms: NDArray[np.float64]
    """The route's RTT without the degradation of the links it crosses."""

    def merged(self, other: BackendState, nodes: Iterable[int]) -> BackendState:
        """This state with ``other``'s routes for ``nodes``."""
        rows = list(nodes)
        private, loss, clean = (a.copy() for a in (self.private_ms, self.private_loss,
                                                    self.clean_ms))
        uses = list(self.uses)
        for i in rows:
            private[i], loss[i], clean[i], uses[i] = (other.private_ms[i], other.private_loss[i],
                                                     other.clean_ms[i], other.uses[i])
        return BackendState(private, loss, tuple(uses), clean)


class Backbone:
    """The private backbone as a routed graph towards the home data center.

    A link's routing metric is its RTT contribution (``BACKBONE_STRETCH`` x its fibre floor
    plus ``BACKBONE_HOP_MS``, or its measured ``rtt_ms``) plus any degradation; shortest paths
    by that metric are the routes (a link-state IGP with latency metrics). A node's RTT in a
    state is its RTT with every link up (:meth:`Topology.backbone_rtt_ms`) if its route is
    unchanged and clean, else the larger of that and the new route's metric, plus the
    degradation it crosses.
    """

    def __init__(self, topo: Topology, home: int, loss: float):
        self.topo = topo
        self.home = home
        self.loss = loss
        self.base_ms = np.asarray(topo.backbone_rtt_ms()[:, home], dtype=float)
        g = nx.Graph()
        g.add_nodes_from(topo.node_ids)
        for u, v, d in topo.graph.edges(data=True):
            if d.get("network", "private") == "private":
                fixed = d.get("rtt_ms")
                metric = float(fixed) if fixed is not None else \
                    BACKBONE_STRETCH * d["floor_ms"] + BACKBONE_HOP_MS
                g.add_edge(u, v, metric=metric)
        self.graph = g
        self.links = frozenset(link_key(u, v) for u, v in g.edges)
        self.clean = self.state({}, {}, ())

    def state(self, extra_ms: Mapping[LinkKey, float], link_loss: Mapping[LinkKey, float],
              down: Iterable[LinkKey]) -> BackendState:
        """Routes and RTTs with links degraded by ``extra_ms`` (and ``link_loss``) and the
        links ``down`` removed."""
        g = self.graph
        down = set(down)
        if extra_ms or down:
            g = g.copy()
            g.remove_edges_from(down)
            for key, ms in extra_ms.items():
                if g.has_edge(*key):
                    g.edges[key]["metric"] += ms
        home_id = self.topo.node_ids[self.home]
        dist, paths = nx.single_source_dijkstra(g, home_id, weight="metric")
        n = len(self.topo.node_ids)
        clean = np.full(n, np.inf)
        uses: list[frozenset[LinkKey]] = []
        for i, node in enumerate(self.topo.node_ids):
            path = paths.get(node)
            links = frozenset() if path is None else \
                frozenset(link_key(u, v) for u, v in zip(path, path[1:]))
            uses.append(links)
            if path is not None:
                clean_metric = dist[node] - sum(extra_ms.get(k, 0.0) for k in links)
                clean[i] = max(self.base_ms[i], clean_metric)
        return self.priced(BackendState(clean, clean, tuple(uses), clean), extra_ms,
                           link_loss)

    def priced(self, state: BackendState, extra_ms: Mapping[LinkKey, float],
               link_loss: Mapping[LinkKey, float]) -> BackendState:
        """``state``'s routes priced with the links' degradation now (``extra_ms`` and
        ``link_loss`` on the links each route crosses): what a change costs before the
        routes move."""
        rtt = state.clean_ms.copy()
        loss = np.full(len(rtt), self.loss)
        for i, links in enumerate(state.uses):
            rtt[i] += sum(extra_ms.get(k, 0.0) for k in links)
            ok = 1.0 - self.loss
            for k in links:
                ok *= 1.0 - link_loss.get(k, 0.0)
            loss[i] = 1.0 - ok
        rtt[self.home] = 0.0
        return BackendState(private_ms=rtt, private_loss=loss, uses=state.uses,
                            clean_ms=state.clean_ms)


def public_transit(topo: Topology, home: int, paths: Paths
                   ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Each node's RTT, loss per trip and whether it crosses the China border, over public
    transit to the home data center (server to server: no last mile). Across the border the
    carrier is ``paths.china_border``: the public model prices the ordinary one; premium
    replaces its border cost with the premium one."""
    lat, lon = topo.lat, topo.lon
    rtt = np.asarray(latency.path_rtt_ms(lat, lon, lat[home], lon[home], network="public"),
                     dtype=float).copy()
    cross = _crosses_china(lat, lon, np.full_like(lat, lat[home]), np.full_like(lon, lon[home]))
    loss = np.full(len(rtt), paths.public.loss)
    if paths.china_border == "premium":
        saving = latency.china_border_ms("ordinary") - latency.china_border_ms("premium")
        floor = latency.fibre_floor_rtt_ms(latency.haversine_km(lat, lon, lat[home], lon[home]))
        rtt[cross] = np.maximum(rtt[cross] - saving, floor[cross])
    else:
        loss[cross] = 1.0 - (1.0 - loss[cross]) * (1.0 - paths.china_border_loss)
    rtt[home] = 0.0
    return rtt, loss, cross


def backend_choice(policy: str, private_ms: NDArray[np.float64],
                   private_loss: NDArray[np.float64], public_ms: NDArray[np.float64],
                   public_loss: NDArray[np.float64], private_mean_extra_ms: float,
                   public_mean_extra_ms: NDArray[np.float64], rto_min_s: float
                   ) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Each node's network to the home data center and the expected trip time (ms).

    The expected trip is the RTT plus the mean extra delay plus the loss times what a loss
    costs (the RTO: three RTTs, at least ``rto_min``). ``auto`` takes the cheaper network,
    the backbone on a tie; ``private`` the backbone while it has a route; ``public`` public
    transit. Returns ``(uses_public, expected_ms)``.
    """
    def expected(rtt: NDArray[np.float64], loss: NDArray[np.float64],
                 extra: NDArray[np.float64] | float) -> NDArray[np.float64]:
        with np.errstate(invalid="ignore"):
            out: NDArray[np.float64] = rtt + extra + loss * np.maximum(
                1000.0 * rto_min_s, 3.0 * rtt)
        return np.where(np.isfinite(rtt), out, np.inf)

    e_private = expected(private_ms, private_loss, private_mean_extra_ms)
    e_public = expected(public_ms, public_loss, public_mean_extra_ms)
    if policy == "public":
        use_public = np.ones(len(private_ms), dtype=bool)
    elif policy == "private":
        use_public = ~np.isfinite(private_ms)
    else:
        use_public = e_public < e_private
    return use_public, np.where(use_public, e_public, e_private)
