"""Topology files: the provider's nodes and private backbone as a ``networkx.Graph``.

Three formats are read: the project's YAML (see ``topologies/README.md``), GraphML and
node-link JSON, all with the same node attributes (``kind``, ``region``, ``lat``, ``lon`` and
optionally ``city``, ``country``, ``workers``, ``connection_limit``, ``service_ms``,
``cache_hit_ratio``). Every problem is a :class:`~sim.errors.TopologyError` naming the file and
the key.

Backbone routing: a path's RTT over the backbone is the larger of the calibrated private
model between its ends (:func:`sim.model.latency.path_rtt_ms` with ``network="private"``) and the
fibre floor of the routed path (shortest path over backbone links) times a route stretch,
plus a per-hop cost. So a detour the links force (Lagos - Marseille - Singapore) costs what
its fibre costs, and a direct route costs what measured backbones cost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import networkx as nx
import numpy as np
from numpy.typing import NDArray
from pydantic import Field, ValidationError

from sim.config.limits import MAX_TOPOLOGY_LINKS, MAX_TOPOLOGY_NODES, MAX_YAML_DEPTH
from sim.config.messages import raise_validation_error, shown, shown_text, shown_value
from sim.config.schema import StrictModel
from sim.config.yaml_io import parse_yaml_text, read_input_bytes
from sim.errors import TopologyError
from sim.model import latency

__all__ = ["NODE_KINDS", "Topology", "load_topology", "build_topology", "BACKBONE_STRETCH",
           "BACKBONE_HOP_MS"]

NODE_KINDS: tuple[str, ...] = ("access", "cache", "datacenter", "hub")
BACKBONE_STRETCH = 1.25
"""Routed fibre is longer than the great circle between its hubs (cable paths, slack)."""
BACKBONE_HOP_MS = 0.5
"""Round-trip cost of each router hop on the backbone."""


# The scenario's strict base: unknown keys refused, frozen, no true/false for a number.
_Checked = StrictModel


class _NodeSpec(_Checked):

    id: str = Field(min_length=1)
    kind: Literal["access", "cache", "datacenter", "hub"]
    region: Literal["china", "asia", "europe", "north_america", "south_america", "oceania",
                    "africa"]
    lat: float = Field(ge=-90.0, le=90.0, allow_inf_nan=False)
    lon: float = Field(ge=-180.0, le=180.0, allow_inf_nan=False)
    city: str = ""
    country: str = ""
    workers: int | None = Field(None, gt=0, le=100_000)
    connection_limit: int | None = Field(None, gt=0, le=10 ** 12)
    service_ms: float | None = Field(None, gt=0.0, le=1e9, allow_inf_nan=False)
    cache_hit_ratio: float | None = Field(None, ge=0.0, le=1.0)


class _LinkSpec(_Checked):

    a: str
    b: str
    network: Literal["private", "public"] = "private"
    rtt_ms: float | None = Field(None, gt=0.0, le=1e6, allow_inf_nan=False)


class _TopologySpec(_Checked):

    name: str
    description: str = ""
    nodes: list[_NodeSpec] = Field(min_length=1)
    links: list[_LinkSpec] = Field(default_factory=list)


@dataclass(frozen=True)
class Topology:
    """A checked topology: the graph plus node attributes as arrays in a fixed order.

    Node order is the file's order; every per-node table in a run uses it.
    """

    name: str
    source: str
    graph: nx.Graph
    node_ids: tuple[str, ...]
    kinds: tuple[str, ...]
    regions: tuple[str, ...]
    lat: NDArray[np.float64]
    lon: NDArray[np.float64]
    attrs: tuple[dict[str, Any], ...]
    index: dict[str, int] = field(repr=False)

    def ids_of_kind(self, *kinds: str) -> list[str]:
        """Node ids of the given kinds, in file order."""
        return [n for n, k in zip(self.node_ids, self.kinds) if k in kinds]

    def backbone_rtt_ms(self) -> NDArray[np.float64]:
        """RTT in ms between every pair of nodes over the private backbone (N x N).

        Pairs the backbone does not connect get ``inf``.
        """
        n = len(self.node_ids)
        direct = latency.path_rtt_ms(self.lat[:, None], self.lon[:, None],
                                     self.lat[None, :], self.lon[None, :], network="private")
        routed = np.full((n, n), np.inf)
        private = nx.Graph()
        private.add_nodes_from(range(n))
        for u, v, data in self.graph.edges(data=True):
            if data.get("network", "private") == "private":
                private.add_edge(self.index[u], self.index[v], weight=data["floor_ms"],
                                 fixed=data.get("rtt_ms"))
        for src, lengths in nx.all_pairs_dijkstra_path_length(private, weight="weight"):
            for dst, floor_ms in lengths.items():
                routed[src, dst] = floor_ms
        hops = np.zeros((n, n))
        for src, paths in nx.all_pairs_shortest_path_length(private):
            for dst, h in paths.items():
                hops[src, dst] = h
        rtt = np.maximum(direct, routed * BACKBONE_STRETCH) + BACKBONE_HOP_MS * hops
        # A link with a measured rtt_ms is used as given.
        for u, v, data in private.edges(data=True):
            if data.get("fixed") is not None:
                rtt[u, v] = rtt[v, u] = data["fixed"]
        np.fill_diagonal(rtt, 0.0)
        return rtt


def load_topology(path: str | Path) -> Topology:
    """Read and check a topology file (``.yaml``/``.yml``, ``.graphml``, ``.json``).

    The file is read with the limits of :mod:`sim.config.limits` (a regular file of at most
    8 MiB, YAML and JSON nested at most 64 deep) and may hold at most
    :data:`~sim.config.limits.MAX_TOPOLOGY_NODES` nodes and
    :data:`~sim.config.limits.MAX_TOPOLOGY_LINKS` links, checked before any table is built.

    Raises
    ------
    TopologyError
        Missing, unreadable, too large or not a regular file, bad YAML, GraphML or JSON,
        too many nodes or links, unknown keys or kinds, coordinates out of range, duplicate
        ids, links to unknown nodes, a disconnected backbone, no access node or no data
        center.
    """
    p = Path(path)
    label = shown(p)
    suffix = p.suffix.lower()
    data = read_input_bytes(p, what="topology", error_type=TopologyError, label=label)
    if suffix not in (".yaml", ".yml", ".graphml", ".json"):
        raise TopologyError(f"unknown topology format {shown_value(suffix)} (expected .yaml, "
                            ".graphml or .json)", file=label)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TopologyError(f"not UTF-8 text (byte {e.start})", file=label) from None
    raw: Any
    if suffix in (".yaml", ".yml"):
        raw = parse_yaml_text(text, shown=label, what="topology", error_type=TopologyError)
    elif suffix == ".graphml":
        head = text[:4096].upper()
        if "<!DOCTYPE" in head or "<!ENTITY" in text.upper():
            raise TopologyError("invalid GraphML: a document type or entity declaration is "
                                "not accepted", file=label)
        raw = _from_graph(_read_graph(lambda: nx.parse_graphml(text), "GraphML", label),
                          p.stem)
    else:
        try:
            doc = json.loads(text)
        except RecursionError:
            raise TopologyError(f"invalid JSON: nested deeper than {MAX_YAML_DEPTH} levels",
                                file=label) from None
        except json.JSONDecodeError as e:
            raise TopologyError(f"invalid JSON: {shown_text(str(e), 160)}", file=label) from None
        except ValueError as e:  # a number of more than 4,300 digits
            raise TopologyError(f"invalid JSON: {shown_text(str(e), 120)}",
                                file=label) from None
        _check_node_link(doc, label)
        raw = _from_graph(_read_graph(lambda: nx.node_link_graph(doc, edges="links"),
                                      "node-link JSON", label), p.stem)
    _check_size(raw, label)
    try:
        spec = _TopologySpec.model_validate(raw)
    except ValidationError as e:
        raise_validation_error(e, _TopologySpec, TopologyError, label)
    return _build(spec, label)


def _depth(value: Any, limit: int) -> bool:
    """``value`` nests at most ``limit`` lists and mappings deep (iteratively)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (list, dict)):
            if d >= limit:
                return False
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return True


def _check_node_link(doc: Any, label: str) -> None:
    """The shape networkx's node-link reader expects, checked first so that a wrong shape is
    a message naming the key, not a Python error."""
    def fail(message: str, where: str | None = None) -> TopologyError:
        return TopologyError(message, file=label, path=where)

    if not _depth(doc, MAX_YAML_DEPTH):
        raise fail(f"invalid JSON: nested deeper than {MAX_YAML_DEPTH} levels")
    if not isinstance(doc, dict):
        raise fail("expected a node-link JSON object at the top level, got "
                   f"{_json_type(doc)}")
    for key in ("directed", "multigraph"):
        if key in doc and not isinstance(doc[key], bool):
            raise fail(f"expected true or false, got {shown_value(doc[key])}", key)
    if "graph" in doc and not isinstance(doc["graph"], dict):
        raise fail(f"expected an object, got {shown_value(doc['graph'])}", "graph")
    if "name" in doc.get("graph", {}) and not isinstance(doc["graph"]["name"], str):
        raise fail(f"expected a string, got {shown_value(doc['graph']['name'])}", "graph.name")
    for key, limit, ends in (("nodes", MAX_TOPOLOGY_NODES, ("id",)),
                             ("links", MAX_TOPOLOGY_LINKS, ("source", "target"))):
        if key not in doc:
            if key == "nodes":
                raise fail("required key is missing", key)
            continue
        items = doc[key]
        if not isinstance(items, list):
            raise fail(f"expected a list, got {shown_value(items)}", key)
        if len(items) > limit:
            raise fail(f"too many {key}: {len(items):,} (at most {limit:,})", key)
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise fail(f"expected an object, got {shown_value(item)}", f"{key}[{i}]")
            for end in ends:
                if end not in item:
                    raise fail("required key is missing", f"{key}[{i}].{end}")
                if not isinstance(item[end], (str, int)) or isinstance(item[end], bool):
                    raise fail(f"expected a string, got {shown_value(item[end])}",
                               f"{key}[{i}].{end}")


def _json_type(v: Any) -> str:
    return {type(None): "null", bool: "true or false", int: "a number", float: "a number",
            str: "a string", list: "a list"}.get(type(v), type(v).__name__)


def _check_size(raw: Any, label: str) -> None:
    """At most MAX_TOPOLOGY_NODES nodes and MAX_TOPOLOGY_LINKS links, before validation
    and before any node-by-node table."""
    if not isinstance(raw, dict):
        return
    for key, limit in (("nodes", MAX_TOPOLOGY_NODES), ("links", MAX_TOPOLOGY_LINKS)):
        items = raw.get(key)
        if isinstance(items, list) and len(items) > limit:
            raise TopologyError(f"too many {key}: {len(items):,} (a topology may have at most "
                                f"{limit:,}; see SECURITY.md, input limits)", file=label,
                                path=key)


def _read_graph(read: Any, what: str, shown: str) -> nx.Graph:
    """Call a networkx reader; whatever it raises on a malformed file is a TopologyError."""
    try:
        return read()
    except RecursionError:
        raise TopologyError(f"invalid {what}: nested too deep", file=shown) from None
    except Exception as e:  # noqa: BLE001 - a third-party parser: any failure is bad input
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise TopologyError(f"invalid {what}: {shown_text(first, 160)}",
                            file=shown) from None


def _from_graph(g: nx.Graph, name: str) -> dict[str, Any]:
    nodes = [{"id": str(n), **{k: v for k, v in d.items() if k != "id"}}
             for n, d in g.nodes(data=True)]
    links = [{"a": str(u), "b": str(v), **{k: val for k, val in d.items()
                                           if k in ("network", "rtt_ms")}}
             for u, v, d in g.edges(data=True)]
    return {"name": g.graph.get("name", name), "nodes": nodes, "links": links}


def build_topology(raw: dict[str, Any], shown: str, *, connected: bool = True) -> Topology:
    """Check a topology given as a mapping (the YAML format's keys) and build it.

    Parameters
    ----------
    raw : dict
        ``name``, ``nodes`` and ``links`` as in a YAML topology file.
    shown : str
        The file named in an error (and kept as :attr:`Topology.source`).
    connected : bool
        Require the private links to connect every node (the rule of topology files);
        ``False`` leaves that check to the caller (:mod:`sim.model.network_edits`).

    Raises
    ------
    TopologyError
        As :func:`load_topology`.
    """
    _check_size(raw, shown)
    try:
        spec = _TopologySpec.model_validate(raw)
    except ValidationError as e:
        raise_validation_error(e, _TopologySpec, TopologyError, shown)
    return _build(spec, shown, connected=connected)


def _build(spec: _TopologySpec, shown: str, *, connected: bool = True) -> Topology:
    index: dict[str, int] = {}
    for i, node in enumerate(spec.nodes):
        if node.id in index:
            raise TopologyError(f"duplicate node id {node.id!r}", file=shown,
                                path=f"nodes[{i}].id")
        index[node.id] = i
    g = nx.Graph(name=spec.name)
    for node in spec.nodes:
        g.add_node(node.id, **node.model_dump(exclude={"id"}))
    for i, link in enumerate(spec.links):
        for end in ("a", "b"):
            if getattr(link, end) not in index:
                raise TopologyError(f"unknown node {getattr(link, end)!r}", file=shown,
                                    path=f"links[{i}].{end}")
        if link.a == link.b:
            raise TopologyError("a link must join two different nodes", file=shown,
                                path=f"links[{i}]")
        na, nb = spec.nodes[index[link.a]], spec.nodes[index[link.b]]
        km = float(latency.haversine_km(na.lat, na.lon, nb.lat, nb.lon))
        g.add_edge(link.a, link.b, network=link.network, rtt_ms=link.rtt_ms, km=km,
                   floor_ms=float(latency.fibre_floor_rtt_ms(km)))
    kinds = [n.kind for n in spec.nodes]
    if not any(k in ("access", "cache") for k in kinds):
        raise TopologyError("no access or cache node: terminals have nowhere to connect",
                            file=shown, path="nodes")
    if "datacenter" not in kinds:
        raise TopologyError("no datacenter node: logins have nowhere to authenticate",
                            file=shown, path="nodes")
    if connected and len(spec.nodes) > 1:
        private = nx.Graph((u, v) for u, v, d in g.edges(data=True) if d["network"] == "private")
        private.add_nodes_from(g.nodes)
        parts = sorted(nx.connected_components(private), key=lambda c: (-len(c), sorted(c)))
        if len(parts) > 1:
            stray = sorted(parts[1])[0]
            raise TopologyError(f"the backbone is not connected: {stray!r} cannot reach "
                                f"{sorted(parts[0])[0]!r} over private links", file=shown,
                                path="links")
    return Topology(
        name=spec.name,
        source=shown,
        graph=g,
        node_ids=tuple(n.id for n in spec.nodes),
        kinds=tuple(kinds),
        regions=tuple(n.region for n in spec.nodes),
        lat=np.array([n.lat for n in spec.nodes], dtype=float),
        lon=np.array([n.lon for n in spec.nodes], dtype=float),
        attrs=tuple({k: v for k, v in n.model_dump().items()
                     if k in ("workers", "connection_limit", "service_ms", "cache_hit_ratio")
                     and v is not None} for n in spec.nodes),
        index=index,
    )
