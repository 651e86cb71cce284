"""Reliability: numerical guards, regressions of crashes the fuzz tests found, plugins' safe
loading, interrupts, atomic results and determinism (issue 8; see SECURITY.md)."""

from __future__ import annotations

import contextlib
import copy
import io
from pathlib import Path
from typing import Any

import pytest

from sim.cli import main
from sim.scenario import _shown
from tests.conftest import TOPOLOGIES, write_yaml


def cli(args: list[str]) -> tuple[int, str, str]:
    """``access-sim ARGS`` in this process: (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(args)
    return rc, out.getvalue(), err.getvalue()


def small(**changes: Any) -> dict[str, Any]:
    """Two sites, the tiny topology, two simulated minutes."""
    sc: dict[str, Any] = {
        "name": "small", "seed": 5, "duration": "2m", "warmup": "0s",
        "topology": str(TOPOLOGIES / "tiny.yaml"), "home_datacenter": "dc-singapore",
        "population": {"source": "sites", "dau": 20000, "sites": [
            {"name": "Singapore", "lat": 1.29, "lon": 103.85, "region": "asia"},
            {"name": "Paris", "lat": 48.85, "lon": 2.35, "region": "europe"}]},
        "events": [{"at": "30s", "node_down": "access-tokyo", "for": "30s"},
                   {"at": "40s", "flash_crowd": {"region": "asia", "multiplier": 2},
                    "for": "20s"}],
        "billing": {"month": "2024-02"},
        "outputs": {"figures": False},
    }
    for path, value in changes.items():
        node = sc
        keys = path.split(".")
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
        if isinstance(node, list):
            node[int(keys[-1])] = value
        else:
            node[keys[-1]] = value
    return sc


# ------------------------------------------------------------------ crashes the fuzzing found

# (key path, value, message after "error: FILE: "); before the fix each of these crashed
# (exit 70), hung, or was silently accepted and broke a run.
FOUND = [
    # validate hung building a bin per minute of 1e300 seconds (MemoryError)
    ("duration", 1e300, "duration: expected a duration of at most 31d, got 1e+300"),
    ("duration", "32d", "duration: expected a duration of at most 31d, got '32d'"),
    # run hung: a node down for 1e300 s
    ("events.0.for", 1e300, "events[0].for: expected a duration of at most 31d, got 1e+300"),
    # exit 70, 'lam value too large' in the month's usage model
    ("billing.groups.created_per_day", 1e300,
     "billing.groups.created_per_day: must be <= 100000000, got 1e+300"),
    ("billing.avchatrooms.created_per_day", 1e300,
     "billing.avchatrooms.created_per_day: must be <= 10000, got 1e+300"),
    # validate hung creating 10^30 trial accounts one at a time
    ("billing.trial_accounts.initial", 10 ** 30,
     "billing.trial_accounts.initial: must be <= 100000, got " + str(10 ** 30)),
    # NaN DAU counts (RuntimeWarning: invalid value encountered in cast) and a garbage bill
    ("population.logins_per_user_per_day", 10 ** 30,
     "population.logins_per_user_per_day: must be <= 10000, got " + str(10 ** 30)),
    # accepted, then numpy overflow or an absurd run
    ("nodes.access.workers", 10 ** 30, "nodes.access.workers: must be <= 100000, got "
     + str(10 ** 30)),
    ("events.1.flash_crowd.multiplier", 1e300,
     "events[1].flash_crowd.multiplier: must be <= 1000, got 1e+300"),
    ("protocol.jitter_fraction", 1e300, "protocol.jitter_fraction: must be <= 10, got 1e+300"),
    ("seed", 2 ** 64, f"seed: must be <= {2 ** 63 - 1}, got {2 ** 64}"),
    # true/false were taken as 1/0
    ("nodes.access.workers", True, "nodes.access.workers: expected a number, got True"),
    ("population.dau", False, "population.dau: expected a number, got False"),
    ("population.access_mix", {"wifi": True},
     "population.access_mix: expected a number, got {'wifi': True}"),
    # a key path with a trailing dot: 'addressing.levels[0].: unknown key'
    ("addressing.levels", [""], "addressing.levels[0]: expected one of region, nearest, spill, "
     "failover, sticky, got ''"),
    # silently ignored: the built-in strategies read no options
    ("addressing.options", {"polcy_noise": 0.1},
     "addressing.options.polcy_noise: unknown option: strategy 'multilevel' takes no options"),
]


@pytest.mark.parametrize("path,value,message", FOUND, ids=[f[0] for f in FOUND])
def test_crashes_found_by_fuzzing_are_input_errors(path: str, value: Any, message: str,
                                                   tmp_path: Path) -> None:
    f = write_yaml(tmp_path / "case.yaml", small(**{path: value}))
    rc, _, err = cli(["validate", str(f)])
    assert (rc, err) == (2, f"error: {_shown(f.resolve())}: {message}\n")


# ------------------------------------------------------------------ numerical guards

GUARDS = [
    ("nodes.access.workers", 0, "must be > 0, got 0"),
    ("nodes.access.connection_limit", -1, "must be > 0, got -1"),
    ("nodes.access.service_ms", 0, "must be > 0, got 0"),
    ("nodes.datacenter.workers", -3, "must be > 0, got -3"),
    ("population.dau", 0, "must be > 0, got 0"),
    ("population.logins_per_user_per_day", 0.5, "must be >= 1, got 0.5"),
    ("population.sites.0.weight", 0, "must be > 0, got 0"),
    ("population.session.mean_duration", "0s", "must be > 0, got '0s'"),
    ("duration", 0, "must be > 0, got 0"),
    ("duration", "-5m", "expected a duration such as 30s, 10m or 2h, got '-5m'"),
    ("outputs.sample_every", "0ms", "must be > 0, got '0ms'"),
    ("events.0.for", 0, "must be > 0, got 0"),
    ("events.1.flash_crowd.multiplier", 0, "must be > 0, got 0"),
    ("billing.groups.created_per_day", -1, "must be >= 0, got -1"),
    ("replications", 0, "must be >= 1, got 0"),
]


@pytest.mark.parametrize("path,value,message", GUARDS, ids=[g[0] for g in GUARDS])
def test_zero_or_negative_capacities_rates_and_durations(path: str, value: Any, message: str,
                                                         tmp_path: Path) -> None:
    f = write_yaml(tmp_path / "case.yaml", small(**{path: value}))
    rc, _, err = cli(["validate", str(f)])
    shown_path = path.replace(".0.", "[0].").replace(".1.", "[1].")
    assert (rc, err) == (2, f"error: {_shown(f.resolve())}: {shown_path}: {message}\n")


def test_a_region_without_nodes_is_served_by_the_nearest_region(tmp_path: Path) -> None:
    """Documented behaviour (sim/build.py): Lagos has no African node on the tiny topology,
    so geo-DNS maps it to the region of its nearest node."""
    from sim import load_scenario
    from sim.build import build_world

    sc = small(**{"population.sites": [{"name": "Lagos", "lat": 6.45, "lon": 3.39,
                                        "region": "africa"}], "events": []})
    world = build_world(load_scenario(write_yaml(tmp_path / "lagos.yaml", sc)))
    assert world.sites.regions == ("africa",)
    assert world.site_dns_region == ("europe",)


TOPOLOGY_FOUND = [
    # exit 70: xml.etree.ElementTree.ParseError escaped the topology loader
    ("t.graphml", "<graphml><graph", "invalid GraphML: unclosed token: line 1, column 9"),
    ("t.graphml", "not xml", "invalid GraphML: syntax error: line 1, column 0"),
    # exit 70: AttributeError from networkx on a JSON list
    ("t.json", "[1, 2]", "invalid node-link JSON: 'list' object has no attribute 'get'"),
    ("t.json", '{"nodes": 5}', "invalid node-link JSON: 'int' object is not iterable"),
    # accepted: true as a latitude (1.0) and 10^30 workers
    ("t.yaml", "name: t\nnodes: [{id: a, kind: access, region: asia, lat: true, lon: 0}]\n",
     "nodes[0].lat: expected a number, got True"),
    ("t.yaml", "name: t\nnodes: [{id: a, kind: access, region: asia, lat: 0, lon: 0, "
     "workers: 1000000000000000000000000000000}]\n",
     "nodes[0].workers: must be <= 100000, got 1000000000000000000000000000000"),
]


@pytest.mark.parametrize("name,text,message", TOPOLOGY_FOUND,
                         ids=[t[2][:30] for t in TOPOLOGY_FOUND])
def test_malformed_topology_files_are_input_errors(name: str, text: str, message: str,
                                                   tmp_path: Path) -> None:
    (tmp_path / name).write_text(text)
    f = write_yaml(tmp_path / "case.yaml", small(topology=name, events=[]))
    rc, _, err = cli(["validate", str(f)])
    assert (rc, err) == (2, f"error: {_shown((tmp_path / name).resolve())}: {message}\n")


def test_a_non_utf8_json_topology(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_bytes(b'{"nodes": ["\xff"]}')
    f = write_yaml(tmp_path / "case.yaml", small(topology="t.json", events=[]))
    rc, _, err = cli(["validate", str(f)])
    assert (rc, err) == (2, f"error: {_shown((tmp_path / 't.json').resolve())}: not UTF-8 text "
                            "(byte 12)\n")


# ------------------------------------------------------------------ sites in the ocean


def test_a_site_in_the_middle_of_the_atlantic(tmp_path: Path) -> None:
    sites = [{"name": "Paris", "lat": 48.85, "lon": 2.35, "region": "europe"},
             {"name": "Atlantis", "lat": 0.0, "lon": -30.0, "region": "africa"}]
    sc = small(**{"population.sites": sites, "events": []})
    f = write_yaml(tmp_path / "atlantis.yaml", sc)
    rc, _, err = cli(["validate", str(f)])
    assert (rc, err) == (2, f"error: {_shown(f.resolve())}: population.sites[1]: site "
                            "'Atlantis' at lat 0, lon -30 is in the ocean, 842 km from the "
                            "nearest coast: check lat and lon (swapped? a sign?), or set "
                            "'island: true' for an island the 1:110m land map lacks\n")
    # Papeete is real but missing from the coarse map: 'island: true' says so.
    sites[1] = {"name": "Papeete", "lat": -17.53, "lon": -149.56, "region": "oceania"}
    assert cli(["validate", str(write_yaml(f, sc))])[0] == 2
    sites[1]["island"] = True
    assert cli(["validate", str(write_yaml(f, sc))])[0] == 0
    # Island cities of the shipped cities file need no flag (Male, Port Louis), nor do
    # coastal cities just off the coarse coastline (Valletta).
    for name, lat, lon in [("Male", 4.1752, 73.5092), ("Port Louis", -20.1619, 57.4989),
                           ("Valletta", 35.9, 14.51)]:
        sites[1] = {"name": name, "lat": lat, "lon": lon, "region": "asia"}
        assert cli(["validate", str(write_yaml(f, sc))])[0] == 0, name


def test_every_site_of_the_shipped_scenarios_is_on_land() -> None:
    import yaml

    from tests.conftest import SCENARIOS

    for path in sorted(SCENARIOS.rglob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        assert not isinstance(data, dict) or "sites" not in data.get("population", {}) \
            or cli(["validate", str(path)])[0] == 0, path
