"""A scenario's ``network:`` section, ``access-sim nodes`` and ``access-sim sites`` (issue 16).

Metamorphic tests (a node added near a site never lengthens that site's way to its nearest
node; a removed node's logins go to the others), exact error lines for bad edits, the
``extends:`` merge of the section, its precedence under ``nodes.overrides``, and the two
commands' output against golden files (tests/golden/; set ``UPDATE_GOLDEN=1`` to rewrite
them after an intended change, and review the diff).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sim
from sim.cli import main
from sim.config import load_scenario
from sim.config.schema import NetworkEdits, NodeAddition, Scenario
from sim.model.network_edits import apply_network_edits, default_node_id, find_city
from sim.model.topology import load_topology
from sim.model.world import build_world
from tests.conftest import SCENARIOS, TOPOLOGIES, write_yaml

GOLDEN = Path(__file__).parent / "golden"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def tiny_with(network: dict[str, Any] | None, **extra: Any) -> Scenario:
    raw = load_scenario(SCENARIOS / "tiny.yaml").resolved()
    raw.update({"network": network, **extra})
    return Scenario.model_validate(raw)


def nearest_rtt(scenario: Scenario) -> dict[str, float]:
    """Each site's RTT to its nearest edge node (what addressing ranks first)."""
    world = build_world(scenario, "x.yaml")
    rtt = world.site_node_rtt_ms[:, list(world.edge_nodes)].min(axis=1)
    return dict(zip(world.sites.names, rtt.tolist()))


# --------------------------------------------------------------------------- the edits


def test_the_edits_give_a_new_topology_and_leave_the_old_one() -> None:
    tiny = load_topology(TOPOLOGIES / "tiny.yaml")
    edges = {frozenset(e) for e in tiny.graph.edges()}
    edits = NetworkEdits(add=[NodeAddition(city="Mumbai", kind="access", workers=2)],
                         remove=["access-london"], resize={"access-tokyo": {"workers": 8}})
    new = apply_network_edits(tiny, edits, source="x.yaml")
    assert new is not tiny and new.name == "tiny"
    assert new.node_ids == ("access-singapore", "access-tokyo", "access-frankfurt",
                            "cache-paris", "dc-singapore", "dc-frankfurt", "hub-singapore",
                            "hub-frankfurt", "access-mumbai")
    assert new.attrs[new.index["access-mumbai"]] == {"workers": 2}
    assert new.attrs[new.index["access-tokyo"]] == {"workers": 8}
    node = new.graph.nodes["access-mumbai"]
    assert (node["city"], node["country"], node["region"]) == ("Mumbai", "IN", "asia")
    # Linked to the two nearest hubs (great circle): Singapore 3,900 km, Frankfurt 6,600 km.
    assert set(new.graph.neighbors("access-mumbai")) == {"hub-singapore", "hub-frankfurt"}
    assert np.isfinite(new.backbone_rtt_ms()).all()
    # The topology given is untouched.
    assert "access-london" in tiny.node_ids and len(tiny.node_ids) == 9
    assert {frozenset(e) for e in tiny.graph.edges()} == edges
    assert apply_network_edits(tiny, NetworkEdits(), source="x.yaml") is tiny


def test_nodes_by_coordinates_take_region_and_country_from_the_nearest_city() -> None:
    tiny = load_topology(TOPOLOGIES / "tiny.yaml")
    edits = NetworkEdits.model_validate({"add": [
        {"lat": -1.30, "lon": 36.80, "kind": "cache", "id": "cache-east-africa",
         "name": "Nairobi West", "links_to_nearest": 1},
        {"lat": 48.0, "lon": 11.0, "kind": "access", "id": "access-bavaria", "region": "asia",
         "links": ["hub-frankfurt", "cache-east-africa"]}]})
    new = apply_network_edits(tiny, edits, source="x.yaml")
    east = new.graph.nodes["cache-east-africa"]
    assert (east["city"], east["country"], east["region"]) == ("Nairobi West", "KE", "africa")
    # Frankfurt (6,300 km) is nearer than Singapore (7,500 km).
    assert set(new.graph.neighbors("cache-east-africa")) == {"hub-frankfurt",
                                                             "access-bavaria"}
    bavaria = new.graph.nodes["access-bavaria"]
    assert (bavaria["city"], bavaria["country"], bavaria["region"]) == ("", "DE", "asia")


def test_cities_match_without_case_or_accents_and_by_country() -> None:
    assert find_city("sao paulo").name == "São Paulo"
    assert find_city("  SÃO   PAULO ").country == "BR"
    assert find_city("San Jose").country == "US"          # the most populous of the name
    assert find_city("San Jose, PH").country == "PH"
    assert default_node_id("access", "São Paulo") == "access-sao-paulo"
    assert default_node_id("datacenter", "Ho Chi Minh City") == "dc-ho-chi-minh-city"


@pytest.mark.parametrize("city", ["Mumbai", "Seoul", "Moscow", "Jakarta", "Madrid", "Tokyo"])
def test_a_node_added_near_a_site_never_lengthens_any_way_to_the_nearest_node(
        city: str) -> None:
    before = nearest_rtt(tiny_with(None))
    after = nearest_rtt(tiny_with({"add": [{"city": city, "kind": "access",
                                            "id": "access-new"}]}))
    assert before.keys() == after.keys()
    assert all(after[s] <= before[s] for s in before)
    here = find_city(city).name
    if here in before:
        assert after[here] <= before[here]
        if city != "Tokyo":  # Tokyo has its node already: a tie, not a gain
            assert after[here] < before[here]


def test_removing_a_node_never_shortens_any_way_to_the_nearest_node() -> None:
    before = nearest_rtt(tiny_with(None))
    after = nearest_rtt(tiny_with({"remove": ["access-london"]}))
    assert all(after[s] >= before[s] for s in before)
    assert after["London"] > before["London"]


def test_the_nairobi_variant_runs_and_takes_the_logins_of_the_node_it_replaces(
        tmp_path: Path) -> None:
    variant = write_yaml(tmp_path / "nairobi.yaml", {
        "name": "nairobi", "extends": str(SCENARIOS / "global-baseline.yaml"),
        "network": {"add": [{"city": "Nairobi", "kind": "access", "workers": 6}],
                    "remove": ["cache-nairobi"]}})
    short = {"duration": "3m", "warmup": "30s", "population.dau": 200_000,
             "population.regions": ["africa"], "replications": 1, "outputs.figures": False,
             "outputs.per_login": True}
    base = sim.run(SCENARIOS / "global-baseline.yaml", overrides=short, executor=None)
    edited = sim.run(variant, overrides=short, executor=None)
    b, e = base.logins, edited.logins
    # The arrivals are their own random stream: the same logins from the same sites.
    assert len(b) == len(e) > 1000
    assert (b["site"].to_numpy() == e["site"].to_numpy()).all()
    served = b[b["node"] == "cache-nairobi"]
    assert len(served) > 100
    assert (e["node"] == "cache-nairobi").sum() == 0
    assert e.loc[served.index, "node"].value_counts().index[0] == "access-nairobi"
    nairobi = e[e["site"] == "Nairobi"]
    assert (nairobi["node"] == "access-nairobi").mean() > 0.9
    assert edited.summary["scenario_resolved"]["network"]["remove"] == ["cache-nairobi"]
    assert "network" not in base.summary["scenario_resolved"]   # no edits: as before


def test_a_data_center_may_lose_its_backbone_but_a_node_may_not(tmp_path: Path) -> None:
    scenario = tiny_with({"remove_links": [{"a": "dc-frankfurt", "b": "hub-frankfurt"}]},
                         duration=60.0, warmup=10.0)
    world = build_world(scenario, "x.yaml")
    assert np.isinf(world.backbone_rtt_ms[world.topology.index["dc-frankfurt"]]).sum() == 8
    results = sim.run(scenario, executor=None)
    assert results.summary["logins"]["attempted"] > 0


# --------------------------------------------------------------------------- precedence


def test_nodes_overrides_win_over_resize_which_wins_over_the_topology() -> None:
    def workers(network: dict[str, Any] | None, overrides: dict[str, Any]) -> int:
        raw = tiny_with(network).resolved()
        raw["nodes"]["overrides"] = overrides
        world = build_world(Scenario.model_validate(raw), "x.yaml")
        return world.params.workers[world.topology.index["access-tokyo"]]

    resize = {"resize": {"access-tokyo": {"workers": 8}}}
    assert workers(None, {}) == 4                                  # the kind's default
    assert workers(resize, {}) == 8
    assert workers(resize, {"access-tokyo": {"workers": 2}}) == 2
    assert workers({"remove": ["access-london"]}, {"access-tokyo": {"workers": 3}}) == 3
    added = {"add": [{"city": "Seoul", "kind": "access", "service_ms": 5}]}
    raw = tiny_with(added).resolved()
    raw["nodes"]["overrides"] = {"access-seoul": {"service_ms": 7}}
    world = build_world(Scenario.model_validate(raw), "x.yaml")
    assert world.params.service_s[world.topology.index["access-seoul"]] == pytest.approx(0.007)


def test_a_child_scenario_replaces_each_list_it_names_and_merges_resize(
        tmp_path: Path) -> None:
    write_yaml(tmp_path / "parent.yaml", {
        "name": "parent", "extends": str(SCENARIOS / "tiny.yaml"),
        "network": {"add": [{"city": "Mumbai", "kind": "access"}], "remove": ["access-london"],
                    "resize": {"access-tokyo": {"workers": 8, "service_ms": 10}}}})
    child = write_yaml(tmp_path / "child.yaml", {
        "name": "child", "extends": "parent.yaml",
        "network": {"add": [{"city": "Seoul", "kind": "access"}],
                    "resize": {"access-tokyo": {"workers": 2}}}})
    net = load_scenario(child).network
    assert net is not None
    assert [a.city for a in net.add] == ["Seoul"]                  # the child's list
    assert net.remove == ["access-london"]                         # kept from the parent
    assert net.resize["access-tokyo"].capacity() == {"workers": 2, "service_ms": 10}


# --------------------------------------------------------------------------- errors

ERRORS = [
    ({"add": [{"city": "Nairobbi", "kind": "access"}]},
     "network.add[0].city: unknown city 'Nairobbi'; did you mean 'Nairobi'?"),
    ({"add": [{"city": "Nairobi, US", "kind": "access"}]},
     "network.add[0].city: no city 'Nairobi' in country 'US' in the shipped cities (there is "
     "one in KE)"),
    ({"add": [{"lat": 1, "lon": 2, "kind": "access"}]},
     "network.add[0]: a node placed by lat and lon needs an id"),
    ({"add": [{"city": "Seoul", "lat": 1, "lon": 2, "kind": "access"}]},
     "network.add[0]: give either city or lat and lon, not both"),
    ({"add": [{"city": "Seoul", "kind": "acess"}]},
     "network.add[0].kind: expected one of 'access', 'cache', 'datacenter' or 'hub', got "
     "'acess'"),
    ({"add": [{"city": "London", "kind": "access"}]},
     "network.add[0]: duplicate node id 'access-london': the topology has one (give another "
     "id, or remove it first to move it)"),
    ({"add": [{"city": "Seoul", "kind": "access"}, {"city": "Busan", "kind": "cache",
                                                   "id": "access-seoul"}]},
     "network.add[1].id: duplicate node id 'access-seoul': network.add[0] adds it too"),
    ({"add": [{"city": "Seoul", "kind": "hub", "workers": 2}]},
     "network.add[0]: a hub carries no capacity (it takes no logins): workers"),
    ({"add": [{"city": "Seoul", "kind": "access", "links": ["hub-singapor"]}]},
     "network.add[0].links[0]: unknown node 'hub-singapor' (did you mean 'hub-singapore'?)"),
    ({"add": [{"city": "Seoul", "kind": "access", "links": ["access-london"]}],
      "remove": ["access-london"]},
     "network.add[0].links[0]: node 'access-london' is removed by network.remove"),
    ({"add": [{"city": "Seoul", "kind": "access", "links": ["access-tokyo"]}],
      "remove": ["hub-singapore"]},
     "network: after the edits 'access-singapore' has no path to the home data center "
     "'dc-singapore' over private links"),
    ({"add": [{"city": "Seoul", "kind": "access", "links": ["access-london"]}],
      "remove_links": [{"a": "access-london", "b": "hub-frankfurt"}]},
     "network: after the edits 'access-london' has no path to the home data center "
     "'dc-singapore' over private links"),
    ({"add": [{"city": "Seoul", "kind": "hub", "links": ["access-busan"]},
              {"city": "Busan", "kind": "access", "links": ["hub-seoul"]}]},
     "network.add[0]: after the edits 'hub-seoul' has no path to the home data center "
     "'dc-singapore' over private links"),
    ({"remove": ["access-londn"]},
     "network.remove[0]: unknown node 'access-londn' (did you mean 'access-london'?)"),
    ({"remove": ["access-london", "access-london"]},
     "network.remove[1]: node 'access-london' is listed twice"),
    ({"remove": ["dc-singapore"]},
     "network.remove[0]: 'dc-singapore' is the home data center (home_datacenter): it cannot "
     "be removed"),
    ({"remove": ["access-singapore", "access-tokyo", "access-frankfurt", "access-london",
                 "cache-paris"]},
     "network.remove: no access or cache node is left: terminals have nowhere to connect"),
    ({"remove_links": [{"a": "access-tokyo", "b": "hub-frankfurt"}]},
     "network.remove_links[0]: no link between 'access-tokyo' and 'hub-frankfurt' in the "
     "topology"),
    ({"remove_links": [{"a": "access-london", "b": "hub-frankfurt"}],
      "remove": ["access-london"]},
     "network.remove_links[0].a: node 'access-london' is removed by network.remove"),
    ({"remove_links": [{"a": "access-tokyo", "b": "hub-singapore"}]},
     "network: after the edits 'access-tokyo' has no path to the home data center "
     "'dc-singapore' over private links"),
    ({"add_links": [{"a": "access-tokyo", "b": "hub-singapore"}]},
     "network.add_links[0]: 'access-tokyo' and 'hub-singapore' are already linked"),
    ({"add_links": [{"a": "access-tokyo", "b": "acces-london"}]},
     "network.add_links[0].b: unknown node 'acces-london' (did you mean 'access-london'?)"),
    ({"add_links": [{"a": "access-tokyo", "b": "access-tokyo"}]},
     "network.add_links[0]: a link must join two different nodes"),
    ({"resize": {"access-frankfrt": {"workers": 8}}},
     "network.resize.access-frankfrt: unknown node 'access-frankfrt' (did you mean "
     "'access-frankfurt'?)"),
    ({"resize": {"hub-frankfurt": {"workers": 8}}},
     "network.resize.hub-frankfurt: 'hub-frankfurt' is a hub: it carries no capacity (it "
     "takes no logins)"),
    ({"resize": {"access-tokyo": {}}},
     "network.resize.access-tokyo: set at least one of workers, connection_limit, "
     "service_ms, cache_hit_ratio"),
    ({"resize": {"access-tokyo": {"workers": 0}}},
     "network.resize.access-tokyo.workers: must be > 0, got 0"),
    ({"resize": {"access-tokyo": {"wokers": 8}}},
     "network.resize.access-tokyo.wokers: unknown key (did you mean 'workers'?)"),
    ({"add": [{"lat": 1.0 + i / 1000, "lon": 100.0, "kind": "access", "id": f"access-{i}"}
              for i in range(992)]},
     "network.add: too many nodes after the edits: 1,001 (a topology may have at most 1,000)"),
]


@pytest.mark.parametrize("network, line", ERRORS, ids=[line.split(":")[0] + f"-{i}"
                                                        for i, (_, line) in enumerate(ERRORS)])
def test_bad_edits_are_one_exact_line(network: dict[str, Any], line: str, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    write_yaml(tmp_path / "x.yaml", {"name": "x", "extends": str(SCENARIOS / "tiny.yaml"),
                                     "network": network})
    assert main(["validate", "x.yaml"]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"error: x.yaml: {line}\n")


def test_an_override_of_a_removed_node_says_so(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    write_yaml(tmp_path / "x.yaml", {"name": "x", "extends": str(SCENARIOS / "tiny.yaml"),
                                     "network": {"remove": ["access-london"]},
                                     "nodes": {"overrides": {"access-london": {"workers": 2}}}})
    assert main(["validate", "x.yaml"]) == 2
    assert capsys.readouterr().err == ("error: x.yaml: nodes.overrides.access-london: unknown "
                                       "node 'access-london' (network.remove removes it)\n")


def test_an_edit_set_on_the_command_line_is_blamed_on_set(capsys) -> None:
    assert main(["validate", str(SCENARIOS / "tiny.yaml"), "--set",
                 "network.remove=[access-londn]"]) == 2
    assert capsys.readouterr().err == ("error: --set: network.remove[0]: unknown node "
                                       "'access-londn' (did you mean 'access-london'?)\n")


# --------------------------------------------------------------------------- the commands

EDITED = {"add": [{"city": "Mumbai", "kind": "access", "workers": 2},
                  {"lat": 41.0, "lon": 29.0, "kind": "cache", "id": "cache-bosphorus",
                   "name": "Bosphorus", "links": ["hub-frankfurt"]}],
          "remove": ["access-london"], "resize": {"access-tokyo": {"workers": 8}}}


def _cli(argv: list[str], capsys) -> str:
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def test_nodes_matches_the_golden_tables(tmp_path: Path, capsys) -> None:
    tiny = str(SCENARIOS / "tiny.yaml")
    check_golden("nodes-tiny.txt", _cli(["nodes", tiny], capsys))
    check_golden("nodes-tiny.csv", _cli(["nodes", tiny, "--format", "csv"], capsys))
    edited = write_yaml(tmp_path / "edited.yaml", {"name": "edited", "extends": tiny,
                                                   "network": EDITED})
    text = _cli(["nodes", str(edited)], capsys)
    check_golden("nodes-tiny-edited.txt", text)
    assert "network: 2 added, 1 resized, 1 removed" in text
    rows = json.loads(_cli(["nodes", str(edited), "--format", "json"], capsys))
    by_id = {r["id"]: r for r in rows}
    assert "access-london" not in by_id
    assert (by_id["access-mumbai"]["edit"], by_id["access-mumbai"]["workers"]) == ("added", 2)
    assert (by_id["access-tokyo"]["edit"], by_id["access-tokyo"]["workers"]) == ("resized", 8)
    assert by_id["cache-bosphorus"]["links"] == ["hub-frankfurt"]
    assert by_id["hub-frankfurt"]["workers"] is None and by_id["cache-paris"]["edit"] is None


def test_sites_matches_the_golden_tables(capsys) -> None:
    tiny = str(SCENARIOS / "tiny.yaml")
    check_golden("sites-tiny-top10.txt", _cli(["sites", tiny, "--top", "10"], capsys))
    check_golden("sites-tiny-europe.csv", _cli(["sites", tiny, "--region", "europe",
                                                "--format", "csv"], capsys))


def test_sites_rates_are_the_workload_s(capsys) -> None:
    rows = json.loads(_cli(["sites", str(SCENARIOS / "tiny.yaml"), "--format", "json"], capsys))
    scenario = load_scenario(SCENARIOS / "tiny.yaml")
    pop = scenario.population
    assert sum(r["weight"] for r in rows) == pytest.approx(1.0, abs=1e-4)
    assert [r["weight"] for r in rows] == sorted((r["weight"] for r in rows), reverse=True)
    total = sum(r["logins_per_h_mean"] for r in rows) * scenario.duration / 3600.0
    from sim.cli import _expected_logins

    world = build_world(scenario)
    assert total == pytest.approx(_expected_logins(scenario, world), rel=1e-4)
    assert sum(r["logins_per_h_peak"] for r in rows) >= sum(r["logins_per_h_mean"]
                                                             for r in rows)
    # Without the daily swing every hour is the mean: dau x logins a day / 24, by weight.
    flat = json.loads(_cli(["sites", str(SCENARIOS / "tiny.yaml"), "--format", "json",
                            "--set", "population.diurnal.amplitude=0"], capsys))
    per_h = pop.dau * pop.logins_per_user_per_day / 24.0
    for r in flat:
        assert r["logins_per_h_peak"] == r["logins_per_h_mean"]
        assert r["logins_per_h_mean"] == pytest.approx(per_h * r["weight"], rel=1e-5,
                                                       abs=1e-3)


def test_sites_options_are_checked(capsys) -> None:
    tiny = str(SCENARIOS / "tiny.yaml")
    assert main(["sites", tiny, "--top", "0"]) == 2
    assert capsys.readouterr().err == "error: --top: must be at least 1, got 0\n"
    assert main(["sites", tiny, "--region", "africa"]) == 2
    assert capsys.readouterr().err == "error: --region africa: the scenario has no site there\n"
    with pytest.raises(SystemExit) as e:
        main(["nodes", tiny, "--format", "parquet"])
    assert e.value.code == 2


@pytest.mark.parametrize("command", ["nodes", "sites"])
def test_help_matches_the_golden_text(command: str, monkeypatch, capsys) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    check_golden(f"{command}-help.txt", capsys.readouterr().out)
