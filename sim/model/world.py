"""Build a :class:`World` from a scenario: topology, sites, node capacities, RTT tables.

Everything here is computed once per scenario and shared, read-only, by its replications:
the engine never recomputes a distance or an RTT per login.
"""

from __future__ import annotations

import csv
import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from sim.config.messages import key_part, suggestion
from sim.config.schema import REGIONS, Nodes, Scenario
from sim.errors import ScenarioError, TopologyError
from sim.model import latency
from sim.model.paths import Backbone, BackendState, backend_choice, public_transit
from sim.model.resolvers import ResolverTables, build_resolvers
from sim.model.network_edits import apply_network_edits
from sim.model.topology import Topology, load_topology
from sim.model.workload import CITIES_CSV, Sites, load_sites, user_pool_size

__all__ = ["NodeParams", "World", "build_world", "check_sites_on_land", "node_settings"]

LAND_GEOJSON = Path(__file__).resolve().parents[1] / "data" / "ne_110m_land.geojson"
COAST_KM = 150.0
"""A site this close to the 1:110m coastline counts as on land (coastal cities, large islands)."""
CITY_KM = 100.0
"""A site this close to a city of the shipped cities file counts as on land (island cities)."""

@dataclass(frozen=True)
class NodeParams:
    """Capacity of every node, in topology order (hubs carry no capacity)."""
    workers: tuple[int, ...]
    connection_limit: tuple[float, ...]
    service_s: tuple[float, ...]
    service_distribution: tuple[str, ...]
    cache_hit_ratio: tuple[float, ...]
    ticket_ttl: tuple[float, ...]
    """How long each node's login tickets last (0: it keeps none)."""
    register_sync: tuple[bool, ...]
    """Whether a ticket login waits for its registration at the home data center."""


@dataclass(frozen=True)
class World:
    """Everything a run needs that does not change during it."""
    scenario: Scenario
    source: str
    topology: Topology
    sites: Sites
    params: NodeParams
    edge_nodes: tuple[int, ...]
    home_dc: int
    site_node_rtt_ms: NDArray[np.float64]
    site_node_km: NDArray[np.float64]
    backbone_rtt_ms: NDArray[np.float64]
    site_dns_region: tuple[str, ...]
    region_nodes: dict[str, tuple[int, ...]]
    site_region_order: tuple[dict[str, tuple[int, ...]], ...] = field(repr=False)
    site_global_order: tuple[tuple[int, ...], ...] = field(repr=False)
    resolvers: ResolverTables = field(repr=False)
    key_region: tuple[str, ...] = field(repr=False)
    """The region geo-DNS answers for each resolver cache (:class:`ResolverTables` keys)."""
    pop_region_order: tuple[dict[str, tuple[int, ...]], ...] = field(repr=False)
    """For each public resolver point of presence, each region's nodes nearest it first:
    the order of geo-DNS's answer to a query mapped there."""
    backbone: Backbone = field(repr=False)
    """The private backbone, routed towards the home data center."""
    public_dc_ms: NDArray[np.float64] = field(repr=False)
    """RTT from each node to the home data center over public transit."""
    public_dc_loss: NDArray[np.float64] = field(repr=False)
    """Loss per trip of each node's public transit (the border's included)."""
    backend_noise: tuple[tuple[float, float], tuple[tuple[float, float], ...]] = \
        field(repr=False)
    """The log-normal ``(mu, sigma)`` of a backend trip's extra delay: the backbone's, and
    per node its public transit's (the ordinary border's across it)."""

    @property
    def node_dc_rtt_ms(self) -> NDArray[np.float64]:
        """RTT from each node to the home data center over the network it uses with every
        link up (:meth:`backend`)."""
        return self.backend(self.backbone.clean)[2]

    def backend(self, state: BackendState) -> tuple[NDArray[np.bool_], NDArray[np.float64],
                                                     NDArray[np.float64], NDArray[np.float64]]:
        """Each node's way to the home data center in a state of the backbone's links:
        ``(uses_public, expected_ms, rtt_ms, loss)`` (:func:`sim.model.paths.backend_choice`;
        a node with no route either way gets ``inf``)."""
        (mu_p, s_p), public = self.backend_noise
        mean_public = np.array([math.exp(m + s * s / 2) for m, s in public])
        use_public, expected = backend_choice(
            self.scenario.paths.backend, state.private_ms, state.private_loss,
            self.public_dc_ms, self.public_dc_loss, math.exp(mu_p + s_p * s_p / 2),
            mean_public, self.scenario.paths.rto_min)
        rtt = np.where(use_public, self.public_dc_ms, state.private_ms)
        loss = np.where(use_public, self.public_dc_loss, state.private_loss)
        return use_public, expected, rtt, loss

    @property
    def expected_hit_ratio(self) -> tuple[float, ...]:
        """The share of each node's logins it answers without waiting for the home data
        center: ``cache_hit_ratio``, or for a ticket-keeping node ``1 - exp(-r * ttl)``, the
        chance that a terminal logging in at the mean rate ``r`` logged in (there) within the
        ticket's lifetime; 0 when a ticket login waits for its registration."""
        p = self.params
        pop = self.scenario.population
        n_users = user_pool_size(pop.dau, pop.logins_per_user_per_day)
        rate = pop.dau * pop.logins_per_user_per_day / 86400.0 / n_users
        return tuple(0.0 if sync else (1.0 - math.exp(-rate * ttl)) if ttl else hit
                     for hit, ttl, sync in zip(p.cache_hit_ratio, p.ticket_ttl,
                                               p.register_sync))

    def region_outage_nodes(self, region: str) -> list[int]:
        """The nodes a ``region_outage`` takes down: the region's access and cache nodes
        (not a data center taking logins at its own edge)."""
        topo = self.topology
        return [i for i in self.edge_nodes
                if topo.regions[i] == region and topo.kinds[i] in ("access", "cache")]


def build_world(scenario: Scenario, source: str = "scenario") -> World:
    """Check a scenario against its topology and precompute the run's tables.

    Parameters
    ----------
    scenario : Scenario
    source : str
        The scenario's file, for error messages.

    Raises
    ------
    ScenarioError
        A name in the scenario (home data center, event node, override, site) is unknown, or
        an edit of its ``network:`` section is bad (:func:`sim.model.network_edits.
        apply_network_edits`).
    TopologyError
        The topology file is missing or malformed.
    """
    topo_path = Path(scenario.topology)
    try:
        topo = load_topology(topo_path)
    except TopologyError as e:
        if "not found" in e.message and e.path is None:
            raise ScenarioError(f"topology file not found: {scenario.topology}", file=source,
                                path="topology") from None
        raise
    if scenario.network is not None:
        topo = apply_network_edits(topo, scenario.network, source=source,
                                   home_datacenter=scenario.home_datacenter)
    removed = set(scenario.network.remove) if scenario.network is not None else set()
    ids = list(topo.node_ids)
    dcs = topo.ids_of_kind("datacenter")
    if scenario.home_datacenter not in dcs:
        raise ScenarioError(f"unknown data center {scenario.home_datacenter!r}"
                            f"{suggestion(scenario.home_datacenter, dcs)}; known: {', '.join(dcs)}",
                            file=source, path="home_datacenter")
    servable = topo.ids_of_kind("access", "cache", "datacenter")
    for i, ev in enumerate(scenario.events):
        for key in ("node_down", "node_up"):
            name = getattr(ev, key)
            if name is not None and name not in servable:
                raise ScenarioError(f"unknown node {name!r}{suggestion(name, servable)}",
                                    file=source, path=f"events[{i}].{key}")
        if ev.region_outage is not None and ev.region_outage not in topo.regions:
            raise ScenarioError(f"no node in region {ev.region_outage!r}", file=source,
                                path=f"events[{i}].region_outage")
        if ev.datacenter_down is not None and ev.datacenter_down not in dcs:
            raise ScenarioError(f"unknown data center {ev.datacenter_down!r}"
                                f"{suggestion(ev.datacenter_down, dcs)}", file=source,
                                path=f"events[{i}].datacenter_down")
        if ev.slowdown is not None and ev.slowdown.node not in servable:
            name = ev.slowdown.node
            raise ScenarioError(f"unknown node {name!r}{suggestion(name, servable)}",
                                file=source, path=f"events[{i}].slowdown.node")
        ld = ev.link_degraded
        if ld is not None and ld.a is not None and ld.b is not None:
            for end in ("a", "b"):
                name = getattr(ld, end)
                if name not in ids:
                    raise ScenarioError(f"unknown node {name!r}{suggestion(name, ids)}",
                                        file=source, path=f"events[{i}].link_degraded.{end}")
            if not topo.graph.has_edge(ld.a, ld.b):
                raise ScenarioError(f"no backbone link between {ld.a!r} and {ld.b!r}",
                                    file=source, path=f"events[{i}].link_degraded")
        for key in ("link_down", "link_up"):
            link = getattr(ev, key)
            if link is None:
                continue
            for end in ("a", "b"):
                name = getattr(link, end)
                if name not in ids:
                    raise ScenarioError(f"unknown node {name!r}{suggestion(name, ids)}",
                                        file=source, path=f"events[{i}].{key}.{end}")
            if not topo.graph.has_edge(link.a, link.b) or \
                    topo.graph.edges[link.a, link.b].get("network", "private") != "private":
                raise ScenarioError(f"no backbone link between {link.a!r} and {link.b!r}",
                                    file=source, path=f"events[{i}].{key}")
    for name in scenario.nodes.overrides:
        if name not in ids:
            why = " (network.remove removes it)" if name in removed else suggestion(name, ids)
            raise ScenarioError(f"unknown node {name!r}{why}", file=source,
                                path=f"nodes.overrides{key_part(name)}")
    sites = load_sites(scenario, source)
    if scenario.population.source == "sites":
        check_sites_on_land(scenario, source)
    site_names = list(sites.names)
    for i, ev in enumerate(scenario.events):
        if ev.flash_crowd is not None and ev.flash_crowd.site is not None:
            if ev.flash_crowd.site not in site_names:
                raise ScenarioError(f"unknown site {ev.flash_crowd.site!r}"
                                    f"{suggestion(ev.flash_crowd.site, site_names)}",
                                    file=source, path=f"events[{i}].flash_crowd.site")
        if ev.flash_crowd is not None and ev.flash_crowd.region is not None:
            if ev.flash_crowd.region not in sites.regions:
                raise ScenarioError(f"no site in region {ev.flash_crowd.region!r}",
                                    file=source, path=f"events[{i}].flash_crowd.region")

    params = _node_params(scenario, topo)
    home = topo.index[scenario.home_datacenter]
    # Terminals connect to access and cache nodes, and with paths.datacenter_edge straight to
    # the home data center's own edge too (no backend leg).
    edge = tuple(i for i, k in enumerate(topo.kinds) if k in ("access", "cache")
                 or (i == home and scenario.paths.datacenter_edge))
    rtt = latency.path_rtt_ms(sites.lat[:, None], sites.lon[:, None],
                              topo.lat[None, :], topo.lon[None, :], network="public")
    km = latency.haversine_km(sites.lat[:, None], sites.lon[:, None],
                              topo.lat[None, :], topo.lon[None, :])
    backbone = topo.backbone_rtt_ms()
    region_nodes = {r: tuple(i for i in edge if topo.regions[i] == r) for r in REGIONS}
    region_nodes = {r: nodes for r, nodes in region_nodes.items() if nodes}
    edge_arr = np.array(edge)
    site_global = []
    site_region = []
    dns_region = []
    for s in range(len(sites)):
        order = edge_arr[np.argsort(rtt[s, edge_arr], kind="stable")]
        site_global.append(tuple(int(i) for i in order))
        site_region.append({r: tuple(int(i) for i in order if topo.regions[i] == r)
                            for r in region_nodes})
        own = sites.regions[s]
        # A region without nodes is served by the region of the site's nearest node.
        dns_region.append(own if own in region_nodes else topo.regions[int(order[0])])
    dcs_idx = [topo.index[d] for d in dcs]
    resolvers = build_resolvers(sites.lat, sites.lon, np.array([c == "CN" for c in
                                                                sites.countries]),
                                topo.lat[dcs_idx], topo.lon[dcs_idx],
                                scenario.addressing.region.ecs)
    # Geo-DNS maps a query by where it comes from: the site (ISP resolver, or a client
    # subnet), else the point of presence, to the region of the node nearest to it.
    pops = resolvers.pops
    pop_rtt = latency.path_rtt_ms(np.array([p[3] for p in pops])[:, None],
                                  np.array([p[4] for p in pops])[:, None],
                                  topo.lat[None, edge_arr], topo.lon[None, edge_arr],
                                  network="public")
    pop_region = [topo.regions[int(edge_arr[i])] for i in np.argmin(pop_rtt, axis=1)]
    pop_order = []
    for q in range(len(pops)):
        order = edge_arr[np.argsort(pop_rtt[q], kind="stable")]
        pop_order.append({r: tuple(int(i) for i in order if topo.regions[i] == r)
                          for r in region_nodes})
    n_sites = len(sites)
    key_region = tuple(dns_region[ks] if ks >= 0 else pop_region[kr - n_sites]
                       for ks, kr in zip(resolvers.key_site.tolist(),
                                         resolvers.key_resolver.tolist()))
    backbone_routes = Backbone(topo, home, scenario.paths.private.loss)
    public_ms, public_loss, cross = public_transit(topo, home, scenario.paths)
    var = latency.variance_params()

    def noise(key: str) -> tuple[float, float]:  # (mu, sigma); no extra delay: mu = -inf
        law = var[key]
        return (math.log(law["median_ms"]) if scenario.paths.jitter else -math.inf,
                float(law["sigma"]))

    private_noise = noise("private")
    ordinary = scenario.paths.china_border == "ordinary"
    public_noise = tuple(noise("china_ordinary" if c and ordinary else "public") for c in cross)
    return World(
        backbone=backbone_routes, public_dc_ms=public_ms, public_dc_loss=public_loss,
        backend_noise=(private_noise, public_noise),
        scenario=scenario, source=source, topology=topo, sites=sites, params=params,
        edge_nodes=edge, home_dc=home, site_node_rtt_ms=rtt, site_node_km=km,
        backbone_rtt_ms=backbone, site_dns_region=tuple(dns_region), region_nodes=region_nodes,
        site_region_order=tuple(site_region), site_global_order=tuple(site_global),
        resolvers=resolvers, key_region=key_region, pop_region_order=tuple(pop_order),
    )


def check_sites_on_land(scenario: Scenario, source: str = "scenario") -> None:
    """Refuse an explicit site in the ocean: almost always swapped or mistyped coordinates.

    A site is on land when it lies inside a Natural Earth 1:110m land polygon, within
    ``COAST_KM`` of its coastline, or within ``CITY_KM`` of a city of the shipped cities
    file (islands the coarse map lacks: Mauritius, Madeira, the Maldives). A site marked
    ``island: true`` is not checked.

    Raises
    ------
    ScenarioError
        At ``population.sites[i]``: the site, its distance to the coast and what to check.
    """
    for i, site in enumerate(scenario.population.sites or ()):
        if site.island or _on_land(site.lat, site.lon):
            continue
        coast_km = _coast_km(site.lat, site.lon)
        if coast_km <= COAST_KM or _city_km(site.lat, site.lon) <= CITY_KM:
            continue
        raise ScenarioError(f"site {site.name!r} at lat {site.lat:g}, lon {site.lon:g} is in "
                            f"the ocean, {coast_km:,.0f} km from the nearest coast: check lat "
                            "and lon (swapped? a sign?), or set 'island: true' for an island "
                            "the 1:110m land map lacks", file=source, path=f"population.sites[{i}]")


@functools.lru_cache(maxsize=1)
def _land_edges() -> NDArray[np.float64]:
    """Every edge of every land ring as rows ``lon1, lat1, lon2, lat2`` (read-only data)."""
    data = json.loads(LAND_GEOJSON.read_text("utf-8"))
    edges = []
    for feature in data["features"]:
        geom = feature["geometry"]
        polygons = geom["coordinates"] if geom["type"] == "MultiPolygon" else [geom["coordinates"]]
        for polygon in polygons:
            for ring in polygon:
                r = np.asarray(ring, dtype=float)
                edges.append(np.hstack([r[:-1], r[1:]]))
    out = np.vstack(edges)
    out.setflags(write=False)
    return out


def _on_land(lat: float, lon: float) -> bool:
    """Even-odd rule over every ring (holes included), with a ray towards the east."""
    x1, y1, x2, y2 = _land_edges().T
    crosses = (y1 > lat) != (y2 > lat)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
    return bool(np.count_nonzero(crosses & (x_at > lon)) % 2)


def _coast_km(lat: float, lon: float) -> float:
    """Distance to the nearest coastline edge (local equirectangular projection)."""
    x1, y1, x2, y2 = _land_edges().T
    k = math.pi / 180.0 * latency.EARTH_RADIUS_KM
    c = math.cos(math.radians(lat))
    ax, ay = ((x1 - lon + 540.0) % 360.0 - 180.0) * k * c, (y1 - lat) * k
    dx, dy = ((x2 - x1 + 540.0) % 360.0 - 180.0) * k * c, (y2 - y1) * k
    t = np.clip(-(ax * dx + ay * dy) / np.maximum(dx * dx + dy * dy, 1e-12), 0.0, 1.0)
    return float(np.hypot(ax + t * dx, ay + t * dy).min())


@functools.lru_cache(maxsize=1)
def _city_coords() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    with CITIES_CSV.open(newline="", encoding="utf-8") as f:
        rows = [(float(r["lat"]), float(r["lon"])) for r in csv.DictReader(f)]
    coords = np.array(rows)
    coords.setflags(write=False)
    return coords[:, 0], coords[:, 1]


def _city_km(lat: float, lon: float) -> float:
    c_lat, c_lon = _city_coords()
    return float(np.min(latency.haversine_km(lat, lon, c_lat, c_lon)))


def node_settings(scenario: Scenario, topo: Topology) -> tuple[dict[str, object], ...]:
    """Each node's settings, in topology order, before ``population.sample_one_in`` scales
    them: built-in kind defaults < the scenario's kind section < the node's keys in the
    topology (``network.add`` and ``network.resize`` included) < ``nodes.overrides``.
    A hub has only what its topology entry sets."""
    out = []
    for i, node_id in enumerate(topo.node_ids):
        kind = topo.kinds[i]
        merged: dict[str, object] = {}
        if kind != "hub":
            # Built-in kind defaults, then the scenario's kind section, key by key.
            for layer in (Nodes.model_fields[kind].default, getattr(scenario.nodes, kind)):
                _merge(merged, layer.model_dump())
        _merge(merged, topo.attrs[i])
        override = scenario.nodes.overrides.get(node_id)
        if override is not None:
            _merge(merged, override.model_dump())
        out.append(merged)
    return tuple(out)


def _node_params(scenario: Scenario, topo: Topology) -> NodeParams:
    workers, limits, service, dists, hits, ttls, sync = [], [], [], [], [], [], []
    for merged in node_settings(scenario, topo):
        k = scenario.population.sample_one_in  # a 1-in-k sample gets 1/k of the capacity
        workers.append(max(1, round(int(merged.get("workers", 1)) / k)))  # type: ignore
        limit = merged.get("connection_limit")
        limits.append(math.inf if limit is None else float(limit) / k)  # type: ignore[arg-type]
        service.append(float(merged.get("service_ms", 1.0)) / 1000.0)  # type: ignore[arg-type]
        dists.append(str(merged.get("service_distribution", "exponential")))
        hits.append(float(merged.get("cache_hit_ratio") or 0.0))  # type: ignore[arg-type]
        ttls.append(float(merged.get("ticket_ttl") or 0.0))  # type: ignore[arg-type]
        sync.append(merged.get("registration") == "sync")
    return NodeParams(tuple(workers), tuple(limits), tuple(service), tuple(dists), tuple(hits),
                      tuple(ttls), tuple(sync))


def _merge(merged: dict[str, object], layer: dict[str, object]) -> None:
    """Lay one layer of node settings over the ones below it: the keys it sets win, and a
    layer that sets one model of local answers (``cache_hit_ratio`` or ``ticket_ttl``)
    replaces the other."""
    layer = {k: v for k, v in layer.items() if v is not None}
    if "cache_hit_ratio" in layer:
        merged.pop("ticket_ttl", None)
    if "ticket_ttl" in layer:
        merged.pop("cache_hit_ratio", None)
    merged.update(layer)
