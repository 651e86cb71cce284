"""A scenario's ``network:`` section: nodes and links added to, removed from or resized in
its topology before the run, so that a variant of a network is a few lines with
``extends:`` (``topologies/README.md``, "Editing the network in a scenario").

The edits apply in a fixed order, each to the result of the one before: ``remove`` (nodes,
with their links), ``remove_links``, ``add`` (nodes, then their links: an added node may link
to one added after it), ``add_links``, ``resize``. A node removed and added again under the
same id is moved. Every problem is a :class:`~sim.errors.ScenarioError` naming the scenario
file and the key (``network.add[0].city``); the result obeys the rules of a topology file
(:mod:`sim.model.topology`) and its limits (:mod:`sim.config.limits`), except that a data
center may be left without a backbone path (it takes no logins there).

New nodes are placed at a city of the shipped cities file (``sim/data/cities.csv``) or at
given coordinates, and linked over the private backbone to the hubs nearest them (great
circle) unless their neighbours are named.
"""

from __future__ import annotations

import csv
import difflib
import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np

from sim.config.limits import MAX_TOPOLOGY_LINKS, MAX_TOPOLOGY_NODES
from sim.config.messages import key_part, shown_value, suggestion
from sim.config.schema import NetworkEdits, NodeAddition
from sim.errors import ScenarioError
from sim.model import latency
from sim.model.topology import Topology, build_topology
from sim.model.workload import CITIES_CSV

__all__ = ["apply_network_edits", "find_city", "nearest_city",
           "City", "default_node_id", "edited_nodes",
           "neighbours", "DEFAULT_LINKS_TO_NEAREST", "ID_PREFIX"]

DEFAULT_LINKS_TO_NEAREST = 2
"""Hubs an added node links to when its ``links`` are not given: the nearest one and a
second for a second route, as the shipped topologies link their nodes."""

ID_PREFIX: dict[str, str] = {"access": "access", "cache": "cache", "datacenter": "dc",
                             "hub": "hub"}
"""The prefix of a node id by kind, as in the shipped topologies (``topologies/README.md``)."""

CAPACITY_KEYS = ("workers", "connection_limit", "service_ms", "cache_hit_ratio")


@dataclass(frozen=True)
class City:
    """A row of the shipped cities file."""
    name: str
    country: str
    region: str
    lat: float
    lon: float
    population: int


def fold(text: str) -> str:
    """A name for matching: accents dropped (ASCII folding), case folded, spaces collapsed.

    Examples
    --------
    >>> fold("  São   Paulo ")
    'sao paulo'
    """
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch))
    return " ".join(plain.casefold().split())


def slug(text: str) -> str:
    """A name as an id part: folded, every run of other characters a hyphen.

    Examples
    --------
    >>> slug("Ho Chi Minh City")
    'ho-chi-minh-city'
    """
    return re.sub(r"[^a-z0-9]+", "-", fold(text)).strip("-")


def default_node_id(kind: str, city: str) -> str:
    """The id an added node gets when it names none: ``<prefix>-<city>``
    (``access-nairobi``, ``dc-nairobi``; :data:`ID_PREFIX`)."""
    return f"{ID_PREFIX[kind]}-{slug(city)}"


@functools.lru_cache(maxsize=1)
def _cities() -> tuple[tuple[City, ...], dict[str, tuple[int, ...]]]:
    """The cities, and for each folded name the rows that have it, most populous first."""
    with CITIES_CSV.open(newline="", encoding="utf-8") as f:
        rows = tuple(City(r["name"], r["country"], r["region"], float(r["lat"]),
                          float(r["lon"]), int(r["population"])) for r in csv.DictReader(f))
    by_name: dict[str, list[int]] = {}
    for i, c in enumerate(rows):
        by_name.setdefault(fold(c.name), []).append(i)
    return rows, {k: tuple(sorted(v, key=lambda i: (-rows[i].population, i)))
                  for k, v in by_name.items()}


def find_city(text: str) -> City:
    """The shipped city a name means: case and accents ignored, ``"Name, CC"`` picks the
    country (ISO 3166-1 alpha-2), otherwise the most populous city of that name.

    Raises
    ------
    ValueError
        ``unknown city 'Nairobbi'; did you mean 'Nairobi'?`` (the message to show).

    Examples
    --------
    >>> find_city("nairobi").country
    'KE'
    >>> find_city("San Jose, PH").region
    'asia'
    """
    rows, by_name = _cities()
    name, country = text, None
    head, sep, tail = text.rpartition(",")
    if sep and re.fullmatch(r"\s*[A-Za-z]{2}\s*", tail):
        name, country = head, tail.strip().upper()
    found = by_name.get(fold(name), ())
    if country is not None and found:
        in_country = [i for i in found if rows[i].country == country]
        if not in_country:
            where = ", ".join(dict.fromkeys(rows[i].country for i in found))
            raise ValueError(f"no city {name.strip()!r} in country {country!r} in the shipped "
                             f"cities (there is one in {where})")
        found = tuple(in_country)
    if found:
        return rows[found[0]]
    close = difflib.get_close_matches(fold(name), list(by_name), n=1)
    if close:
        close_name = rows[by_name[close[0]][0]].name
        raise ValueError(f"unknown city {shown_value(text)}; did you mean {close_name!r}?")
    raise ValueError(f"unknown city {shown_value(text)}: not in the shipped cities "
                     "(sim/data/cities.csv); give lat and lon (and an id) instead")


@functools.lru_cache(maxsize=1)
def _city_coords() -> tuple[np.ndarray, np.ndarray]:
    rows, _ = _cities()
    lats, lons = np.array([c.lat for c in rows]), np.array([c.lon for c in rows])
    lats.setflags(write=False)
    lons.setflags(write=False)
    return lats, lons


def nearest_city(lat: float, lon: float) -> City:
    lats, lons = _city_coords()
    return _cities()[0][int(np.argmin(latency.haversine_km(lat, lon, lats, lons)))]


def _addition_id(node: NodeAddition) -> str:
    if node.id is not None:
        return node.id
    assert node.city is not None  # the schema asks for an id with lat and lon
    return default_node_id(node.kind, find_city(node.city).name)


def edited_nodes(edits: NetworkEdits | None) -> dict[str, str]:
    """The node ids a ``network:`` section adds (``"added"``) or resizes (``"resized"``),
    for reports. An added node that is also resized counts as added.

    The edits are assumed valid (:func:`apply_network_edits` accepted them)."""
    if edits is None:
        return {}
    marks = {node_id: "resized" for node_id in edits.resize}
    marks.update({_addition_id(node): "added" for node in edits.add})
    return marks


class _Edit:
    """The topology as plain mappings while it is edited: nodes in order, links by pair."""

    def __init__(self, topology: Topology, edits: NetworkEdits, source: str,
                 home_datacenter: str | None):
        self.topology = topology
        self.edits = edits
        self.source = source
        self.home = home_datacenter
        self.nodes: dict[str, dict[str, Any]] = {
            node_id: {"id": node_id, **topology.graph.nodes[node_id]}
            for node_id in topology.node_ids}
        self.links: dict[frozenset[str], dict[str, Any]] = {}
        for u, v, data in topology.graph.edges(data=True):
            self.links[frozenset((u, v))] = {"a": u, "b": v,
                                             "network": data.get("network", "private"),
                                             "rtt_ms": data.get("rtt_ms")}
        self.removed: set[str] = set()
        self.added: dict[str, int] = {}

    def fail(self, message: str, path: str) -> ScenarioError:
        return ScenarioError(message, file=self.source, path=path)

    def check_node(self, name: str, path: str) -> None:
        """``name`` is a node of the edited topology (refused: unknown, or removed)."""
        if name in self.nodes:
            return
        if name in self.removed:
            raise self.fail(f"node {name!r} is removed by network.remove", path)
        raise self.fail(f"unknown node {name!r}{suggestion(name, list(self.nodes))}", path)

    # -- the steps, in order

    def remove_nodes(self) -> None:
        for i, name in enumerate(self.edits.remove):
            path = f"network.remove[{i}]"
            if name in self.removed:
                raise self.fail(f"node {name!r} is listed twice", path)
            self.check_node(name, path)
            if name == self.home:
                raise self.fail(f"{name!r} is the home data center (home_datacenter): it "
                                "cannot be removed", path)
            del self.nodes[name]
            self.removed.add(name)
            self.links = {pair: link for pair, link in self.links.items() if name not in pair}

    def remove_links(self) -> None:
        done: set[frozenset[str]] = set()
        for i, link in enumerate(self.edits.remove_links):
            path = f"network.remove_links[{i}]"
            for end in ("a", "b"):
                self.check_node(getattr(link, end), f"{path}.{end}")
            pair = frozenset((link.a, link.b))
            if pair in done:
                raise self.fail(f"the link between {link.a!r} and {link.b!r} is listed twice",
                                path)
            if pair not in self.links:
                raise self.fail(f"no link between {link.a!r} and {link.b!r} in the topology",
                                path)
            del self.links[pair]
            done.add(pair)

    def add_nodes(self) -> None:
        for i, node in enumerate(self.edits.add):
            path = f"network.add[{i}]"
            if node.city is not None:
                try:
                    city = find_city(node.city)
                except ValueError as e:
                    raise self.fail(str(e), f"{path}.city") from None
                label, lat, lon = city.name, city.lat, city.lon
            else:
                assert node.lat is not None and node.lon is not None
                city = nearest_city(node.lat, node.lon)
                label, lat, lon = node.name or "", node.lat, node.lon
            node_id = node.id if node.id is not None else default_node_id(node.kind, label)
            id_path = f"{path}.id" if node.id is not None else path
            if node_id in self.added:
                raise self.fail(f"duplicate node id {node_id!r}: network.add"
                                f"[{self.added[node_id]}] adds it too", id_path)
            if node_id in self.nodes:
                raise self.fail(f"duplicate node id {node_id!r}: the topology has one (give "
                                "another id, or remove it first to move it)", id_path)
            capacity = node.capacity()
            if node.kind == "hub" and capacity:
                raise self.fail("a hub carries no capacity (it takes no logins): "
                                f"{', '.join(capacity)}", path)
            self.nodes[node_id] = {
                "id": node_id, "kind": node.kind, "region": node.region or city.region,
                "lat": lat, "lon": lon, "city": label,
                "country": node.country if node.country is not None else city.country,
                **capacity}
            self.added[node_id] = i
        for (node_id, i), node in zip(self.added.items(), self.edits.add):
            if node.links is not None:
                seen: set[str] = set()
                for j, other in enumerate(node.links):
                    where = f"network.add[{i}].links[{j}]"
                    self.check_node(other, where)
                    if other == node_id:
                        raise self.fail("a node cannot link to itself", where)
                    if other in seen:
                        raise self.fail(f"{other!r} is listed twice", where)
                    seen.add(other)
                    self.link(node_id, other)
            else:
                self.link_nearest(node_id, node.links_to_nearest or DEFAULT_LINKS_TO_NEAREST,
                                  f"network.add[{i}]")

    def link(self, a: str, b: str, network: str = "private",
             rtt_ms: float | None = None) -> None:
        self.links.setdefault(frozenset((a, b)),
                              {"a": a, "b": b, "network": network, "rtt_ms": rtt_ms})

    def link_nearest(self, node_id: str, count: int, path: str) -> None:
        hubs = [h for h, n in self.nodes.items() if n["kind"] == "hub" and h != node_id]
        if not hubs:
            raise self.fail("no hub to link to: name the node's neighbours in 'links'", path)
        me = self.nodes[node_id]
        km = latency.haversine_km(me["lat"], me["lon"],
                                  np.array([self.nodes[h]["lat"] for h in hubs]),
                                  np.array([self.nodes[h]["lon"] for h in hubs]))
        for k in np.argsort(km, kind="stable")[:count]:
            self.link(node_id, hubs[int(k)])

    def add_links(self) -> None:
        for i, link in enumerate(self.edits.add_links):
            path = f"network.add_links[{i}]"
            for end in ("a", "b"):
                self.check_node(getattr(link, end), f"{path}.{end}")
            if link.a == link.b:
                raise self.fail("a link must join two different nodes", path)
            if frozenset((link.a, link.b)) in self.links:
                raise self.fail(f"{link.a!r} and {link.b!r} are already linked", path)
            self.link(link.a, link.b, link.network, link.rtt_ms)

    def resize(self) -> None:
        for name, change in self.edits.resize.items():
            path = f"network.resize{key_part(name)}"
            self.check_node(name, path)
            capacity = change.capacity()
            if not capacity:
                raise self.fail(f"set at least one of {', '.join(CAPACITY_KEYS)}", path)
            if self.nodes[name]["kind"] == "hub":
                raise self.fail(f"{name!r} is a hub: it carries no capacity (it takes no "
                                "logins)", path)
            self.nodes[name].update(capacity)

    # -- the rules of the result

    def check_result(self) -> None:
        if len(self.nodes) > MAX_TOPOLOGY_NODES:
            raise self.fail(f"too many nodes after the edits: {len(self.nodes):,} (a topology "
                            f"may have at most {MAX_TOPOLOGY_NODES:,})", "network.add")
        if len(self.links) > MAX_TOPOLOGY_LINKS:
            raise self.fail(f"too many links after the edits: {len(self.links):,} (a topology "
                            f"may have at most {MAX_TOPOLOGY_LINKS:,})", "network.add_links")
        kinds = [n["kind"] for n in self.nodes.values()]
        if not any(k in ("access", "cache") for k in kinds):
            raise self.fail("no access or cache node is left: terminals have nowhere to "
                            "connect", "network.remove")
        if "datacenter" not in kinds:
            raise self.fail("no data center is left: logins have nowhere to authenticate",
                            "network.remove")
        private = nx.Graph()
        private.add_nodes_from(self.nodes)
        private.add_edges_from((link["a"], link["b"]) for link in self.links.values()
                               if link["network"] == "private")
        dcs = [n for n, k in zip(self.nodes, kinds) if k == "datacenter"]
        targets = [self.home] if self.home in self.nodes else dcs
        reached: set[str] = set()
        for target in targets:
            reached |= nx.node_connected_component(private, target)
        for node_id, kind in zip(self.nodes, kinds):
            if kind == "datacenter" or node_id in reached:
                continue
            goal = (f"the home data center {self.home!r}" if self.home in self.nodes
                    else "any data center")
            path = f"network.add[{self.added[node_id]}]" if node_id in self.added else "network"
            raise self.fail(f"after the edits {node_id!r} has no path to {goal} over private "
                            "links", path)

    def result(self) -> Topology:
        raw = {"name": self.topology.name,
               "nodes": [{k: v for k, v in n.items() if v is not None}
                         for n in self.nodes.values()],
               "links": [{k: v for k, v in link.items() if v is not None}
                         for link in self.links.values()]}
        return build_topology(raw, self.topology.source, connected=False)


def apply_network_edits(topology: Topology, edits: NetworkEdits, *, source: str,
                        home_datacenter: str | None = None) -> Topology:
    """The topology with a scenario's ``network:`` edits applied (a new one: the given
    topology is not changed; with nothing to edit, the topology itself).

    Parameters
    ----------
    topology : Topology
        The network the edits apply to (the scenario's topology file).
    edits : NetworkEdits
        The ``network:`` section (:class:`sim.config.schema.NetworkEdits`).
    source : str
        The scenario file, for error messages.
    home_datacenter : str, optional
        The scenario's home data center: it cannot be removed, and every node but a data
        center must keep a path to it over private links (without it: to a data center).

    Returns
    -------
    Topology
        Nodes in the topology's order less the removed ones, then the added ones in their
        order; the topology's name and file.

    Raises
    ------
    ScenarioError
        At the key of the first problem: an unknown city or node (with a likely match), a
        duplicate id, a node or link listed twice, the home data center removed, a link to a
        removed node, a link that does not exist removed or one that exists added, a hub
        given capacity, a node left without a backbone path, more nodes or links than a
        topology may have, no access or cache node, or no data center left.

    Examples
    --------
    >>> from pathlib import Path
    >>> from sim.config.schema import NetworkEdits
    >>> from sim.model.topology import load_topology
    >>> tiny = load_topology(Path(__file__).parents[2] / "topologies" / "tiny.yaml")
    >>> edits = NetworkEdits.model_validate({"add": [{"city": "Mumbai", "kind": "access"}]})
    >>> edited = apply_network_edits(tiny, edits, source="x.yaml")
    >>> edited.node_ids[-1], sorted(edited.graph.neighbors("access-mumbai"))
    ('access-mumbai', ['hub-frankfurt', 'hub-singapore'])
    """
    if edits.empty:
        return topology
    edit = _Edit(topology, edits, source, home_datacenter)
    edit.remove_nodes()
    edit.remove_links()
    edit.add_nodes()
    edit.add_links()
    edit.resize()
    edit.check_result()
    return edit.result()


def neighbours(topology: Topology, node_id: str) -> list[str]:
    """A node's neighbours over any link, in the topology's node order."""
    near = set(topology.graph.neighbors(node_id))
    return [n for n in topology.node_ids if n in near]
