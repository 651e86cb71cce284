"""Topology files: the three formats give the same network."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import numpy as np

from sim.model.topology import load_topology
from tests.conftest import TOPOLOGIES


def _as_graph() -> nx.Graph:
    topo = load_topology(TOPOLOGIES / "tiny.yaml")
    g = nx.Graph(name=topo.name)
    for i, node in enumerate(topo.node_ids):
        g.add_node(node, kind=topo.kinds[i], region=topo.regions[i], lat=float(topo.lat[i]),
                   lon=float(topo.lon[i]))
    for u, v in topo.graph.edges():
        g.add_edge(u, v, network="private")
    return g


def _same(a_path: Path) -> None:
    ref = load_topology(TOPOLOGIES / "tiny.yaml")
    other = load_topology(a_path)
    assert set(other.node_ids) == set(ref.node_ids)
    order = [other.index[n] for n in ref.node_ids]
    assert [other.kinds[i] for i in order] == list(ref.kinds)
    np.testing.assert_allclose(other.lat[order], ref.lat)
    assert {frozenset(e) for e in other.graph.edges()} == {frozenset(e) for e in ref.graph.edges()}
    rtt_ref = ref.backbone_rtt_ms()
    rtt = other.backbone_rtt_ms()[np.ix_(order, order)]
    np.testing.assert_allclose(rtt, rtt_ref)


def test_graphml_reads_like_yaml(tmp_path: Path) -> None:
    path = tmp_path / "tiny.graphml"
    nx.write_graphml(_as_graph(), path)
    _same(path)


def test_node_link_json_reads_like_yaml(tmp_path: Path) -> None:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(nx.node_link_data(_as_graph(), edges="links")))
    _same(path)


def test_the_global_topology_is_sound() -> None:
    topo = load_topology(TOPOLOGIES / "global.yaml")
    assert topo.kinds.count("access") == 31 and topo.kinds.count("datacenter") == 8
    assert nx.is_connected(topo.graph)
    rtt = topo.backbone_rtt_ms()
    assert np.isfinite(rtt).all()
    np.testing.assert_allclose(rtt, rtt.T, atol=1e-9)  # floating-point sums in either order
