"""Reliability: numerical guards, regressions of crashes the fuzz tests found, plugins' safe
loading, interrupts, atomic results and determinism (issue 8; see SECURITY.md)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from sim.cli import main
from sim.config.messages import shown as _shown
from tests.conftest import ROOT, TOPOLOGIES, write_yaml


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
    # two lines on stderr: a key with a newline was printed raw in the key path
    ("nodes.overrides", {"a\nb": {"workers": 1}},
     "nodes.overrides['a\\nb']: unknown node 'a\\nb'"),
    ("population", {"dau\nx": 5, "source": "sites", "sites": [
        {"name": "Paris", "lat": 48.85, "lon": 2.35, "region": "europe"}]},
     "population['dau\\nx']: unknown key (did you mean 'dau'?)"),
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
    from sim.model.world import build_world

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


# ------------------------------------------------------------------ interrupts (real signals)

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _long(tmp_path: Path, **changes: Any) -> Path:
    """A run of a minute or more: interrupted long before it ends."""
    sc = small(**{"duration": "12h", "population.dau": 3_000_000, "events": [],
                  **changes})
    sc.pop("billing")
    return write_yaml(tmp_path / "long.yaml", sc)


def _start(args: list[str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as err:
        return subprocess.Popen([sys.executable, "-m", "sim", *args], cwd=cwd, env=ENV,
                                stdout=subprocess.DEVNULL, stderr=err)


def _wait_for(what: Callable[[], bool], proc: subprocess.Popen[bytes], timeout_s: float = 90,
              ) -> None:
    deadline = time.monotonic() + timeout_s
    while not what():
        assert proc.poll() is None, f"exited early with status {proc.returncode}"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _leftovers(folder: Path) -> list[str]:
    """Temporary files or folders of ours anywhere below ``folder``."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*")
                  if ".tmp" in p.name or ".old-" in p.name)


@pytest.mark.parametrize("sig,status,jobs", [(signal.SIGINT, 130, 1), (signal.SIGTERM, 143, 2)],
                         ids=["SIGINT-in-process", "SIGTERM-worker-processes"])
def test_an_interrupted_run_writes_nothing(sig: int, status: int, jobs: int,
                                           tmp_path: Path) -> None:
    """``run`` gets a real signal in the middle of the simulation (in this process, or with
    replications in worker processes): exit 130 or 143, no result and no temporary folder;
    a previous result in the folder stays as it was."""
    f = _long(tmp_path, replications=jobs)
    out = tmp_path / "out"
    before: dict[str, bytes] = {}
    if sig == signal.SIGINT:  # a previous result of ours is there
        out.mkdir()
        (out / "summary.json").write_text('{"scenario": "previous"}\n')
        (out / "logins.csv").write_text("login_id\n0\n")
        before = {p.name: p.read_bytes() for p in out.iterdir()}
    log = tmp_path / "stderr.txt"
    proc = _start(["run", f.name, "--out", "out", "--no-figures", "--jobs", str(jobs)],
                  tmp_path, log)
    try:
        # The progress bar shows once the simulation has run for two seconds.
        _wait_for(lambda: "%|" in log.read_text(errors="replace"), proc)
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == status
    finally:
        proc.kill()
    assert log.read_text().rstrip().endswith("terminated" if sig == signal.SIGTERM
                                             else "interrupted")
    if before:
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    else:
        assert not out.exists()
    assert _leftovers(tmp_path) == []


def test_a_signal_while_a_result_replaces_another_waits_for_both_renames(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replacing a previous result takes two renames; Ctrl-C between them is held until the
    new result is in place, so the folder always holds one complete result."""
    import os as os_mod

    from sim.analysis import results as results_mod

    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text("old")
    new = tmp_path / ".out.tmp-1"
    new.mkdir()
    (new / "summary.json").write_text("new")
    real_replace = os_mod.replace
    calls: list[Any] = []

    def replace_then_ctrl_c(a: Any, b: Any) -> None:
        real_replace(a, b)
        calls.append((a, b))
        if len(calls) == 1:
            signal.raise_signal(signal.SIGINT)  # between the two renames

    monkeypatch.setattr(results_mod.os, "replace", replace_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        results_mod._replace_dir(new, out)
    assert len(calls) == 2
    assert (out / "summary.json").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_an_interrupted_sweep_keeps_finished_points_and_a_rerun_finishes(
        tmp_path: Path) -> None:
    """SIGTERM during the second point of a sweep: exit 143, the first point's result folder
    stays complete, the second has no folder, no table, no temporary file; the same command
    again reuses the first point and runs only the second."""
    sc = small(**{"duration": "1h", "events": []})
    sc.pop("billing")
    write_yaml(tmp_path / "sw.yaml", sc)
    args = ["sweep", "sw.yaml", "--grid", "population.dau=20000,2000000", "--out", "sw",
            "--jobs", "1", "--no-figures", "--quiet"]
    first = tmp_path / "sw" / "population.dau=20000"
    log = tmp_path / "stderr.txt"
    proc = _start(args, tmp_path, log)
    try:
        _wait_for(lambda: (first / "summary.json").is_file(), proc)
        time.sleep(0.5)  # into the second point (a few seconds long)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 143
    finally:
        proc.kill()
    assert sorted(p.name for p in (tmp_path / "sw").iterdir()) == ["population.dau=20000"]
    assert sorted(p.name for p in first.iterdir()) == ["logins.csv", "node_load.csv",
                                                       "summary.json"]
    kept = (first / "summary.json").read_bytes()
    assert _leftovers(tmp_path) == []
    done = subprocess.run([sys.executable, "-m", "sim", *args[:-1]], cwd=tmp_path, env=ENV,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "1 point(s) run, 1 reused" in done.stdout
    assert (first / "summary.json").read_bytes() == kept
    assert (tmp_path / "sw" / "population.dau=2000000" / "summary.json").is_file()
    assert (tmp_path / "sw" / "sweep.csv").is_file()
    assert _leftovers(tmp_path) == []


def test_an_interrupted_compare_writes_nothing(tmp_path: Path) -> None:
    f = _long(tmp_path)
    (tmp_path / "other.yaml").write_bytes(f.read_bytes())
    log = tmp_path / "stderr.txt"
    proc = _start(["compare", f.name, "other.yaml", "--out", "cmp", "--jobs", "1",
                   "--no-figures"], tmp_path, log)
    try:
        _wait_for(lambda: "runs [" in log.read_text(errors="replace"), proc)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        proc.kill()
    assert not (tmp_path / "cmp").exists()
    assert _leftovers(tmp_path) == []


# ------------------------------------------------------------------ honest results


def test_a_run_where_every_login_fails_writes_a_complete_honest_result(tmp_path: Path) -> None:
    nodes = ["access-singapore", "access-tokyo", "access-frankfurt", "access-london",
             "cache-paris"]
    sc = small(events=[{"at": 0, "node_down": n} for n in nodes], duration="1m")
    sc.pop("billing")
    sc["outputs"]["figures"] = True  # the figures cope with no successful login
    f = write_yaml(tmp_path / "down.yaml", sc)
    out = tmp_path / "out"
    rc, stdout, err = cli(["run", str(f), "--out", str(out), "--jobs", "1"])
    assert rc == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["figures", "logins.csv", "node_load.csv",
                                                     "summary.json"]
    text = (out / "summary.json").read_text()

    def no_nan(token: str) -> float:
        raise AssertionError(f"{token} in summary.json")

    summary = json.loads(text, parse_constant=no_nan)
    logins = summary["logins"]
    assert logins["attempted"] > 0 and logins["succeeded"] == 0
    assert logins["failed"] == logins["attempted"] and logins["all_failed"] is True
    assert logins["failure_share"] == 1.0
    assert summary["latency_ms"]["p95"] is None and summary["latency_ms"]["mean"] is None
    assert summary["replication_figures"][0]["failure_share"] == 1.0
    assert err.startswith("warning: every login failed (")
    table = pd.read_csv(out / "logins.csv", keep_default_na=False)
    assert len(table) >= logins["attempted"] and set(table["outcome"]) == {"failed"}
    from sim import Results

    assert Results.load(out).summary == summary
    # A normal run says so too.
    rc, _, err = cli(["run", str(f), "--out", str(out), "--jobs", "1", "--quiet",
                      "--set", "events=[]"])
    assert rc == 0 and err == ""
    assert json.loads((out / "summary.json").read_text())["logins"]["all_failed"] is False


# ------------------------------------------------------------------ determinism


def _tables(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in ("logins.csv", "node_load.csv")}


def _figures(folder: Path) -> dict[str, Any]:
    """summary.json without what differs from run to run by nature (when, how fast)."""
    summary = json.loads((folder / "summary.json").read_text())
    summary.pop("run")
    return summary


def test_same_seed_same_bytes_across_runs_and_jobs(tmp_path: Path) -> None:
    """Two runs of the same scenario and seed, one in this process (--jobs 1), one with its
    replications in two worker processes (--jobs 2): byte-identical tables and identical
    summary figures. (Local against Dask: tests/test_executors.py.)"""
    sc = small(replications=2, duration="3m")
    f = write_yaml(tmp_path / "det.yaml", sc)
    for jobs in ("1", "2"):
        rc, _, err = cli(["run", str(f), "--out", str(tmp_path / f"jobs{jobs}"), "--quiet",
                          "--jobs", jobs])
        assert rc == 0, err
    assert _tables(tmp_path / "jobs1") == _tables(tmp_path / "jobs2")
    assert _figures(tmp_path / "jobs1") == _figures(tmp_path / "jobs2")
    logins = pd.read_csv(tmp_path / "jobs1" / "logins.csv", keep_default_na=False)
    assert sorted(set(logins["replication"])) == [0, 1]


def test_a_result_records_what_reproduces_it(tmp_path: Path) -> None:
    """summary.json alone (resolved scenario, seed; topology digest, versions) reruns the
    same bytes."""
    import hashlib

    import sim
    from sim.config.schema import Scenario

    f = write_yaml(tmp_path / "rep.yaml", small(duration="2m", seed=11))
    out = tmp_path / "first"
    assert cli(["run", str(f), "--out", str(out), "--quiet", "--jobs", "1"])[0] == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 11 and summary["version"]
    assert summary["topology_sha256"] == hashlib.sha256(
        (TOPOLOGIES / "tiny.yaml").read_bytes()).hexdigest()
    assert set(summary["run"]["libraries"]) >= {"numpy", "simpy", "networkx", "pandas"}
    again = sim.run(Scenario.model_validate(summary["scenario_resolved"]), executor="local",
                    jobs=1)
    again.save(tmp_path / "again")
    assert _tables(tmp_path / "again") == _tables(out)
    for s in (again.summary, summary):  # where it was run from, not what
        s.pop("run"), s.pop("scenario_file"), s["bill"].pop("source")
    assert again.summary == summary


# ------------------------------------------------------------------ safe loading


@pytest.mark.parametrize("where", ["scenario", "topology"])
def test_yaml_tags_never_run_code(where: str, tmp_path: Path) -> None:
    """Files are read with yaml.safe_load: a Python tag is an error, and nothing runs."""
    marker = tmp_path / "ran"
    tag = f"!!python/object/apply:os.system [\"touch {marker}\"]"
    if where == "scenario":
        f = tmp_path / "evil.yaml"
        f.write_text(f"name: {tag}\ntopology: t.yaml\nhome_datacenter: dc\n")
        named = f
    else:
        named = tmp_path / "evil-topology.yaml"
        named.write_text(f"name: {tag}\nnodes: []\n")
        f = write_yaml(tmp_path / "case.yaml", small(topology=named.name, events=[]))
    rc, _, err = cli(["validate", str(f)])
    assert rc == 2
    assert err.startswith(f"error: {_shown(named.resolve())}: invalid YAML: line 1, column 7: ")
    assert "could not determine a constructor for the tag" in err
    assert not marker.exists()


def test_paths_resolve_beside_the_file_that_names_them(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """``extends`` and ``topology`` are relative to the file they are written in, wherever
    the command runs from."""
    (tmp_path / "base" / "net").mkdir(parents=True)
    (tmp_path / "variants").mkdir()
    (tmp_path / "base" / "net" / "tiny.yaml").write_bytes((TOPOLOGIES / "tiny.yaml").read_bytes())
    base = small(events=[])
    base["topology"] = "net/tiny.yaml"
    write_yaml(tmp_path / "base" / "base.yaml", base)
    write_yaml(tmp_path / "variants" / "v.yaml", {"name": "v", "extends": "../base/base.yaml",
                                                  "seed": 9})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    rc, out, err = cli(["validate", "../variants/v.yaml"])
    assert rc == 0, err
    from sim import load_scenario

    sc = load_scenario(tmp_path / "variants" / "v.yaml")
    assert Path(sc.topology).resolve() == (tmp_path / "base" / "net" / "tiny.yaml").resolve()
    assert sc.seed == 9 and sc.extends == "../base/base.yaml"


MESSAGES = [
    # pydantic's own wording leaked through: "List should have at least 7 items after
    # validation, not 2" and "Unable to parse input string as an integer, exceeded maximum size"
    ("billing.weekly_pattern", [1, 1], "billing.weekly_pattern: expected at least 7 items, "
                                       "got 2"),
    ("population.dau", "9" * 5000, "population.dau: expected an integer, got '" + "9" * 5000
     + "'"),
]


@pytest.mark.parametrize("path,value,message", MESSAGES, ids=[m[0] for m in MESSAGES])
def test_messages_in_our_own_words(path: str, value: Any, message: str,
                                   tmp_path: Path) -> None:
    f = write_yaml(tmp_path / "case.yaml", small(**{path: value}))
    assert cli(["validate", str(f)]) == (2, "", f"error: {_shown(f.resolve())}: {message}\n")


def test_a_json_topology_that_is_not_json(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text('{"nodes": [}')
    f = write_yaml(tmp_path / "case.yaml", small(topology="t.json", events=[]))
    assert cli(["validate", str(f)])[2] == (
        f"error: {_shown((tmp_path / 't.json').resolve())}: invalid JSON: Expecting value: "
        "line 1 column 12 (char 11)\n")
