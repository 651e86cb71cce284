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

from sim.config.messages import shown_value

from sim.analysis.folders import MARKER_FILE, NO_EXCHANGE_ENV, marker_text
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
    ("paths.access.wifi.jitter_p50_ms", 1e300,
     "paths.access.wifi.jitter_p50_ms: must be <= 10000, got 1e+300"),
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
    ("t.json", "[1, 2]", "expected a node-link JSON object at the top level, got a list"),
    ("t.json", '{"nodes": 5}', "nodes: expected a list, got 5"),
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
                  if ".tmp" in p.name or ".old-" in p.name or ".trash-" in p.name
                  or p.name.endswith(".lock"))


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
        (out / MARKER_FILE).write_text(marker_text())
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
    """Without RENAME_EXCHANGE, replacing a previous result takes two renames; Ctrl-C between
    them is held until the new result is in place, so the folder always holds one complete
    result (the old one is then renamed to a trash name and deleted)."""
    import os as os_mod

    from sim.analysis import results as results_mod

    monkeypatch.setenv(NO_EXCHANGE_ENV, "1")

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
    assert len(calls) == 3
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
    assert sorted(p.name for p in first.iterdir()) == [MARKER_FILE, "logins.csv",
                                                       "node_load.csv", "sites.csv",
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
    assert sorted(p.name for p in out.iterdir()) == [MARKER_FILE, "figures", "logins.csv",
                                                     "node_load.csv", "sites.csv",
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
    assert err.splitlines()[-1].startswith("warning: every login failed (")
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
    # (a long value is shortened in the message: one short line)
    ("population.dau", "9" * 5000, "population.dau: expected an integer, got "
     + shown_value("9" * 5000)),
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


# ------------------------------------------------------------------ result folders
# Hostile input and unlucky timing (SECURITY.md, "Result folders"): generated wrong-shaped
# summaries, foreign folders, kills at every step of a write and concurrent writers.

import random  # noqa: E402
import shutil  # noqa: E402
import traceback  # noqa: E402

from sim.analysis import folders as folders_mod  # noqa: E402
from sim.analysis.results import Results  # noqa: E402
from sim.errors import ResultsError, SimError  # noqa: E402

FORK = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


@pytest.fixture(scope="module")
def real_result(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real result folder of a tiny run with two replications and a bill (tests copy it,
    never change it)."""
    import sim

    folder = tmp_path_factory.mktemp("real")
    sc = small(**{"duration": "1m", "population.dau": 5000, "replications": 2})
    f = write_yaml(folder / "real.yaml", sc)
    res = sim.run(f, executor=None, jobs=1)
    return res.save(folder / "result")


def _one_line(err: str, tmp: Path, *, names: str) -> None:
    """``err`` is one ``error: ...`` line, short once the temporary folder is left out,
    naming ``names``."""
    assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert len(err.replace(str(tmp), "T")) <= 300, err
    assert names in err, err


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


# --------------------------------------------------------- wrong-shaped summaries (generated)


def _paths(node: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a subtree of a JSON value (dict keys, list indexes), the root first."""
    out = [here]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*here, k))
    elif isinstance(node, list):
        for i, v in enumerate(node[:3]):  # the first items stand for the rest
            out += _paths(v, (*here, i))
    return out


_REPLACEMENTS: list[Any] = [None, [], [1, 2, 3], "x" * 3, "", 42, -1, 1.5, {}, True,
                            {"a": 1}, 10 ** 400, [None], "9" * 500]


def _mutation(summary: dict[str, Any], raw: bytes, rng: random.Random
              ) -> tuple[str, bytes]:
    """A random damage to a real summary.json: a subtree replaced by a value of another
    type, a key deleted, the file cut at a random byte, or random bytes. Returns a
    description and the file's new content."""
    kind = rng.choice(["replace", "replace", "replace", "delete", "delete", "truncate",
                       "bytes"])
    if kind == "truncate":
        k = rng.randrange(len(raw.rstrip()))
        return f"truncated at byte {k}", raw[:k]
    if kind == "bytes":
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        return "random bytes", blob
    data = json.loads(raw)
    paths = _paths(data)
    if kind == "delete":
        paths = [p for p in paths if p and isinstance(p[-1], str)]
    path = rng.choice(paths)
    value = rng.choice(_REPLACEMENTS)
    if not path:
        return f"root -> {value!r:.40}", json.dumps(value).encode()
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    if kind == "delete":
        del parent[path[-1]]
        return f"deleted {path}", json.dumps(data).encode()
    parent[path[-1]] = value
    return f"{path} -> {value!r:.40}", json.dumps(data).encode()


N_LOAD_MUTATIONS = 200
N_CLI_MUTATIONS = 30


def _use(res: Results) -> None:
    """What readers of a result do with it: a comparison, its files' content, the summary
    table and the figures' data (a summary accepted by ``load`` must not break them)."""
    from sim.runs.compare import Comparison
    from sim.views.report import summary_table

    cmp = Comparison(["a", "b"], ["x", "y"], [res, res])
    cmp.to_json(), cmp.to_markdown(), cmp.to_csv()
    summary_table(res.summary)


@pytest.mark.parametrize("seed", range(N_LOAD_MUTATIONS))
def test_a_damaged_summary_is_one_error_or_a_usable_result(seed: int, real_result: Path,
                                                           tmp_path: Path) -> None:
    """Generated: Results.load on a mutated copy of a real summary.json either raises
    ResultsError (one short line naming summary.json, and the key when it is a key) or
    returns a result that comparisons and reports can use; never another exception."""
    raw = (real_result / "summary.json").read_bytes()
    what, damaged = _mutation(json.loads(raw), raw, random.Random(seed))
    folder = _copy(real_result, tmp_path / "r")
    (folder / "summary.json").write_bytes(damaged)
    try:
        res = Results.load(folder)
    except ResultsError as e:
        _one_line(f"error: {e}\n", tmp_path, names="summary.json")
        return
    try:
        _use(res)
    except ResultsError as e:  # a reader may refuse it too, in one line
        _one_line(f"error: {e}\n", tmp_path, names="")


REQUIRED = ["scenario", "replications", "version", "scenario_resolved", "logins",
            "latency_ms", "nodes", "addressing", "replication_figures"]


WRONG_VALUES = {"deleted": "delete", "null": None, "list": [1, 2, 3], "str": "x", "number": 7.5,
                "object": {"a": []}}
WRONG_TOP = [(key, what) for key in REQUIRED for what in WRONG_VALUES
             if not (what == "str" and key in ("scenario", "version"))]


@pytest.mark.parametrize("key,what", WRONG_TOP, ids=[f"{k}-{w}" for k, w in WRONG_TOP])
def test_a_wrong_top_level_key_names_the_key(key: str, what: str, real_result: Path,
                                             tmp_path: Path) -> None:
    value = WRONG_VALUES[what]
    summary = json.loads((real_result / "summary.json").read_text())
    if value == "delete":
        del summary[key]
    else:
        if key == "scenario_resolved" and isinstance(value, dict):
            value = {"warmup": "soon"}
        if key == "nodes" and isinstance(value, dict):
            value = {"a": []}
        summary[key] = value
    folder = _copy(real_result, tmp_path / "r")
    (folder / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(ResultsError) as e:
        Results.load(folder)
    _one_line(f"error: {e.value}\n", tmp_path, names=f"summary.json: {key}")
    rc, _, err = cli(["compare", str(folder), str(real_result), "--no-figures", "--quiet",
                      "--out", str(tmp_path / "cmp")])
    assert rc == 2
    _one_line(err, tmp_path, names=f"summary.json: {key}")


@pytest.mark.parametrize("seed", range(N_CLI_MUTATIONS))
def test_compare_on_a_damaged_result_exits_2_or_0_never_70(seed: int, real_result: Path,
                                                           tmp_path: Path) -> None:
    """Generated: ``access-sim compare`` with one mutated result folder."""
    raw = (real_result / "summary.json").read_bytes()
    what, damaged = _mutation(json.loads(raw), raw, random.Random(10_000 + seed))
    folder = _copy(real_result, tmp_path / "r")
    (folder / "summary.json").write_bytes(damaged)
    rc, _, err = cli(["compare", str(real_result), str(folder), "--no-figures", "--quiet",
                      "--out", str(tmp_path / "cmp")])
    assert rc in (0, 2), (what, err)
    if rc == 2:
        _one_line(err, tmp_path, names="")


DAMAGED_FILES: list[tuple[str, bytes | None, str]] = [
    ("summary.json", b"", "summary.json: empty"),
    ("summary.json", b"\xff\xfe\x00garbage", "summary.json: not UTF-8 text"),
    ("summary.json", b"[" * 100_000, "summary.json: invalid JSON"),
    ("summary.json", b'{"a": ' + b"9" * 5000 + b"}", "summary.json: invalid JSON"),
    ("summary.json", None, "summary.json: missing"),
    ("logins.csv", None, "logins.csv or logins.parquet"),
    ("logins.csv", b"", "logins.csv: cannot read"),
    ("logins.csv", b"\x00\x01\x02\xff" * 50, "logins.csv"),
    ("logins.csv", b"login_id,t_start_s\n1,2\n", "logins.csv: outcome: missing column"),
    ("node_load.csv", None, "node_load.csv: missing"),
    ("node_load.csv", b"t_s,node,utilization\nsoon,a,0.5\n",
     "node_load.csv: t_s: expected numbers, got 'soon'"),
]


@pytest.mark.parametrize("name,content,message", DAMAGED_FILES,
                         ids=[f"{d[0]}-{d[2][-20:]}" for d in DAMAGED_FILES])
def test_damaged_or_missing_files_of_a_result(name: str, content: bytes | None, message: str,
                                              real_result: Path, tmp_path: Path) -> None:
    folder = _copy(real_result, tmp_path / "r")
    if content is None:
        (folder / name).unlink()
    else:
        (folder / name).write_bytes(content)
    with pytest.raises(ResultsError) as e:
        Results.load(folder)
    _one_line(f"error: {e.value}\n", tmp_path, names=message)
    # A truncated per-login table: cut in the middle of a row.
    rc, _, err = cli(["compare", str(folder), "--no-figures", "--quiet", "--out",
                      str(tmp_path / "cmp")])
    assert rc == 2
    _one_line(err, tmp_path, names=name)


def test_a_huge_summary_is_refused_without_reading_it(real_result: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from sim.analysis import summary_shape

    monkeypatch.setattr(summary_shape, "SUMMARY_MAX_BYTES", 1000)
    with pytest.raises(ResultsError) as e:
        Results.load(real_result)
    _one_line(f"error: {e.value}\n", tmp_path, names="summary.json: larger than")


# --------------------------------------------------------- foreign folders (generated)

_KINDS = ["user-files", "foreign-summary", "damaged-result", "ours-plus-stray", "ours",
          "link-to-folder", "link-to-our-result", "link-to-file", "dangling-link",
          "link-loop", "links-inside", "empty", "missing", "file"]


def _random_name(rng: random.Random) -> str:
    return rng.choice(["thesis.txt", "notes", "data.csv", "ünïcödé.md", "a b", "summary.txt",
                       ".hidden", "figures", "runs", "x" * 40]) + str(rng.randrange(100))


def _build(kind: str, rng: random.Random, base: Path, real_result: Path) -> Path:
    """A folder ``base/out`` of the given kind (user files, links to ``base/elsewhere``)."""
    out, elsewhere = base / "out", base / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.txt").write_text("outside")
    (elsewhere / "sub").mkdir()
    (elsewhere / "sub" / "deep.txt").write_text("outside, deeper")
    if kind == "missing":
        return out
    if kind == "file":
        out.write_text("a file, not a folder")
        return out
    if "link" in kind and kind != "links-inside":
        target = {"link-to-folder": elsewhere, "link-to-file": elsewhere / "precious.txt",
                  "dangling-link": base / "nowhere", "link-loop": out,
                  "link-to-our-result": base / "theirs"}[kind]
        if kind == "link-to-our-result":
            _copy(real_result, target)
        os.symlink(target, out)
        return out
    if kind in ("ours", "ours-plus-stray"):
        _copy(real_result, out)
        if kind == "ours-plus-stray":
            (out / _random_name(rng)).write_text("mine")
        return out
    out.mkdir()
    if kind == "empty":
        return out
    if kind in ("foreign-summary", "damaged-result"):
        (out / "summary.json").write_bytes(rng.choice(
            [b"not json", b"[1, 2, 3]", b'{"scenario": 1}', b"null", b"\xff" * 10]))
        if kind == "damaged-result":
            (out / "logins.csv").write_text("login_id\n1\n")
            return out
    if kind == "links-inside":
        os.symlink(elsewhere / "precious.txt", out / "logins.csv")
        os.symlink(elsewhere, out / "figures")
        os.symlink(elsewhere / "sub", out / _random_name(rng))
    for _ in range(rng.randrange(1, 5)):
        sub = out
        if rng.random() < 0.4:
            sub = out / f"dir{rng.randrange(10)}"
            sub.mkdir(exist_ok=True)
        (sub / _random_name(rng)).write_text(f"user data {rng.random()}")
    return out


def _snapshot(root: Path) -> dict[str, str]:
    """Every file and link below ``root`` (links not followed): path -> content or target."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = "-> " + os.readlink(p)
            elif p.is_file():
                out[rel] = p.read_text(errors="replace")
    return out


N_FOREIGN = 3  # random variants of each kind
FOREIGN_CASES = [(kind, seed, ow) for kind in _KINDS for seed in range(N_FOREIGN)
                 for ow in (False, True)]


@pytest.mark.parametrize("kind,seed,overwrite", FOREIGN_CASES,
                         ids=[f"{k}-{s}-{'overwrite' if o else 'plain'}"
                              for k, s, o in FOREIGN_CASES])
def test_a_result_never_replaces_what_is_not_ours(kind: str, seed: int, overwrite: bool,
                                                  real_result: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Generated: saving into folders of every kind. Files outside ``out`` (links' targets)
    are never touched; without ``overwrite`` nothing of the user's inside is lost; a link is
    followed or refused, never replaced; success leaves a complete result and nothing
    temporary; failure is one ResultsError line."""
    monkeypatch.chdir(tmp_path)
    rng = random.Random(seed)
    out = _build(kind, rng, tmp_path, real_result)
    link = os.readlink(out) if out.is_symlink() else None
    before_out = _snapshot(out) if out.is_dir() and not out.is_symlink() else {}
    before_elsewhere = _snapshot(tmp_path / "elsewhere")
    replaceable = kind in ("ours", "link-to-our-result", "empty", "missing") or (
        overwrite and kind in ("user-files", "foreign-summary", "damaged-result",
                               "ours-plus-stray", "links-inside"))
    res = Results.load(real_result)
    res.summary = {**res.summary, "scenario": "new"}
    try:
        res.save(out, overwrite=overwrite)
        ok = True
    except ResultsError as e:
        _one_line(f"error: {e}\n", tmp_path, names=str(out))
        ok = False
    assert ok == replaceable, kind
    assert _snapshot(tmp_path / "elsewhere") == before_elsewhere
    if link is not None:
        assert out.is_symlink() and os.readlink(out) == link  # never replaced
    if ok:
        assert Results.load(out).summary["scenario"] == "new"
        assert (out / folders_mod.MARKER_FILE).is_file()
    elif before_out:
        assert _snapshot(out) == before_out
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("target", [".", "..", "~"])
def test_the_current_or_home_folder_is_never_replaced(target: str, tmp_path: Path,
                                                      real_result: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    res = Results.load(real_result)
    with pytest.raises(ResultsError) as e:
        res.save(Path(os.path.expanduser(target)), overwrite=True)
    _one_line(f"error: {e.value}\n", tmp_path, names="folder")
    assert work.is_dir()


def test_run_into_a_foreign_folder_and_into_a_link(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The examples of the issue, through the CLI: ``mine/`` with a foreign summary.json and
    a thesis is refused (exit 2, the thesis kept); ``--out link`` writes into the folder the
    link points to and leaves the link and nothing else."""
    monkeypatch.chdir(tmp_path)
    sc = small(**{"duration": "1m", "population.dau": 5000, "events": []})
    sc.pop("billing")
    write_yaml(tmp_path / "s.yaml", sc)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "summary.json").write_text("not even JSON")
    (mine / "thesis.txt").write_text("four years of work")
    rc, _, err = cli(["run", "s.yaml", "--out", "mine", "--quiet", "--jobs", "1"])
    assert rc == 2
    assert err == ("error: mine: folder is not empty and holds no previous result; use "
                   "--overwrite to replace it\n")
    assert (mine / "thesis.txt").read_text() == "four years of work"
    (tmp_path / "target").mkdir()
    os.symlink("target", tmp_path / "link")
    for _ in range(2):  # the first run, then a run replacing its result
        rc, _, err = cli(["run", "s.yaml", "--out", "link", "--quiet", "--jobs", "1"])
        assert rc == 0, err
        assert os.readlink(tmp_path / "link") == "target"
        assert Results.load(tmp_path / "target").summary["scenario"] == "small"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "mine", "s.yaml", "target"]
    os.symlink("nowhere", tmp_path / "dangling")
    rc, _, err = cli(["run", "s.yaml", "--out", "dangling", "--quiet", "--jobs", "1"])
    assert rc == 2 and "dangling: is a symbolic link to 'nowhere'" in err
    assert os.readlink(tmp_path / "dangling") == "nowhere"


def test_a_result_of_ours_with_a_user_file_added_is_kept(real_result: Path,
                                                         tmp_path: Path) -> None:
    """The marker lists what the result wrote: a file the user added later (notes) makes the
    folder not replaceable without --overwrite."""
    out = _copy(real_result, tmp_path / "out")
    (out / "figures").mkdir(exist_ok=True)
    (out / "figures" / "my-annotated.png").write_text("mine")
    res = Results.load(out)
    with pytest.raises(ResultsError) as e:
        res.save(out)
    _one_line(f"error: {e.value}\n", tmp_path, names="'figures/my-annotated.png'")
    assert (out / "figures" / "my-annotated.png").read_text() == "mine"


def test_a_result_of_an_older_version_without_marker_is_replaced(real_result: Path,
                                                                 tmp_path: Path) -> None:
    out = _copy(real_result, tmp_path / "out")
    (out / folders_mod.MARKER_FILE).unlink()
    Results.load(out).save(out)
    assert (out / folders_mod.MARKER_FILE).is_file()


# --------------------------------------------------------- kills at every step (generated)


def _child(fn: Callable[[], None], err_file: Path) -> int:
    """``fn()`` in a forked child: its exit status (0 done, 2 a SimError, 70 anything else,
    137 for a crash injected with ``os._exit(137)``)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 70
        try:
            fn()
            code = 0
        except SimError as e:
            err_file.write_text(f"error: {e}\n")
            code = 2
        except BaseException:  # noqa: BLE001 - reported to the parent
            err_file.write_text(traceback.format_exc())
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _crash_at(step: int, counter: list[int]) -> None:
    """In a child: die (like SIGKILL: no clean-up) at the ``step``-th file operation of a
    save: a table written, the marker, the flush, a rename, the swap or a deletion."""
    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        def inner(*args: Any, **kwargs: Any) -> Any:
            counter[0] += 1
            if counter[0] == step:
                os._exit(137)
            return fn(*args, **kwargs)
        return inner

    os.replace = wrap(os.replace)  # type: ignore[assignment]
    for name in ("_exchange", "_final_marker", "_fsync_tree", "_remove_tree", "recover"):
        setattr(folders_mod, name, wrap(getattr(folders_mod, name)))
    pd.DataFrame.to_csv = wrap(pd.DataFrame.to_csv)  # type: ignore[method-assign]
    import sim.analysis.results as results_mod  # (tables go through Arrow's writer now)
    results_mod.write_csv = wrap(results_mod.write_csv)  # type: ignore[assignment]


def _versions(real_result: Path) -> dict[str, Results]:
    """An old and a new result, told apart by their summary and the size of their tables."""
    res = Results.load(real_result)
    old = Results({**res.summary, "scenario": "old"}, res.logins.head(10), res.node_load.head(5))
    new = Results({**res.summary, "scenario": "new"}, res.logins, res.node_load)
    return {"old": old, "new": new}


def _complete(out: Path, versions: dict[str, Results]) -> str:
    """The version ``out`` holds, checked complete (marker, summary, both tables whole)."""
    got = Results.load(out)
    name = got.summary["scenario"]
    want = versions[name]
    assert (out / folders_mod.MARKER_FILE).is_file()
    assert len(got.logins) == len(want.logins) and len(got.node_load) == len(want.node_load)
    return str(name)


KILL_MODES = [(exchange, first) for exchange in (True, False) for first in (True, False)]


@FORK
@pytest.mark.parametrize("exchange,first", KILL_MODES,
                         ids=[f"{'exchange' if e else 'two-renames'}-"
                              f"{'first-write' if f else 'replace'}" for e, f in KILL_MODES])
def test_a_kill_at_any_step_of_a_save_loses_nothing(exchange: bool, first: bool,
                                                    real_result: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Generated: a child process saves a new result over an old one (or into nothing) and
    dies at step k, for every k. Then ``out`` holds the old or the new result, complete
    (after a load or a run recovers a kill between the two renames), and the next save
    leaves nothing temporary."""
    if not exchange:
        monkeypatch.setenv(folders_mod.NO_EXCHANGE_ENV, "1")
    elif not folders_mod._exchange(tmp_path, tmp_path):
        pytest.skip("no RENAME_EXCHANGE here")
    versions = _versions(real_result)
    steps_file = tmp_path / "steps"
    if not first:
        versions["old"].save(tmp_path / "dry" / "out")

    def count() -> None:
        counter = [0]
        _crash_at(10 ** 9, counter)
        versions["new"].save(tmp_path / "dry" / "out")
        steps_file.write_text(str(counter[0]))

    assert _child(count, tmp_path / "err") == 0, (tmp_path / "err").read_text()
    steps = int(steps_file.read_text())
    assert steps >= 6
    outcomes: dict[str, int] = {}
    for k in range(1, steps + 2):  # the last one runs to the end
        base = tmp_path / f"k{k}"
        base.mkdir()
        out = base / "out"
        if not first:
            versions["old"].save(out)

        def save(k: int = k, out: Path = out) -> None:
            _crash_at(k, [0])
            versions["new"].save(out)

        status = _child(save, base / "err")
        assert status == (137 if k <= steps else 0), (k, status, (base / "err").read_text()
                               if (base / "err").exists() else "")
        (base / "err").unlink(missing_ok=True)
        moved_aside = not out.exists() and any(p.name.startswith(".out.old-")
                                               for p in base.iterdir())
        assert not (moved_aside and exchange)  # one atomic swap: out is never missing
        outcomes["restored"] = outcomes.get("restored", 0) + moved_aside
        if first and not out.exists() and not any(
                p.name.startswith(".out.old-") for p in base.iterdir()):
            held = "nothing"  # the first write died before its rename: nothing to lose
        else:
            held = _complete(out, versions)  # a load restores a result moved aside
        outcomes[held] = outcomes.get(held, 0) + 1
        assert first or held in ("old", "new")
        versions["old"].save(out)  # the next run cleans up
        assert _complete(out, versions) == "old"
        assert _leftovers(base) == [], k
    assert outcomes.get("new", 0) >= 1
    # Without the atomic swap, some kill fell between the two renames and was recovered.
    assert outcomes["restored"] >= (0 if exchange or first else 1), outcomes


@FORK
@pytest.mark.parametrize("seed", range(8))
def test_sigkill_at_a_random_moment_of_repeated_saves(seed: int, real_result: Path,
                                                      tmp_path: Path) -> None:
    """Generated: a child saves into one folder again and again and is SIGKILLed after a
    random delay; the folder then holds a complete result and the next save cleans up."""
    versions = _versions(real_result)
    big = pd.concat([versions["new"].logins] * 40, ignore_index=True)
    versions["new"] = Results(versions["new"].summary, big, versions["new"].node_load)
    out = tmp_path / "out"
    versions["old"].save(out)
    rng = random.Random(seed)
    if seed % 2:
        os.environ[folders_mod.NO_EXCHANGE_ENV] = "1"
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                while True:
                    versions["new"].save(out)
                    versions["old"].save(out)
            finally:
                os._exit(70)
        time.sleep(rng.uniform(0.05, 0.8))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    finally:
        os.environ.pop(folders_mod.NO_EXCHANGE_ENV, None)
    assert _complete(out, versions) in ("old", "new")
    versions["old"].save(out)
    assert _leftovers(tmp_path) == []


def test_stale_temporary_folders_of_other_results_are_cleaned(real_result: Path,
                                                              tmp_path: Path) -> None:
    """A run into a parent folder cleans what killed writers of any result there left:
    their temporary folders (ours, of a dead process) go, a moved-aside result whose folder
    is missing comes back; a folder of another program that looks alike is kept."""
    dead = 2 ** 22 + 12345  # above the default pid_max: no such process
    assert folders_mod._pid_dead(dead)
    tmp = _copy(real_result, tmp_path / f".a.tmp-{dead}-abcd")
    old = _copy(real_result, tmp_path / f".b.old-{dead}")
    (tmp_path / f".c.tmp-{dead}-x").mkdir()
    (tmp_path / f".c.tmp-{dead}-x" / "theirs.txt").write_text("not ours")
    Results.load(real_result).save(tmp_path / "d")
    assert not tmp.exists() and not old.exists()
    assert Results.load(tmp_path / "b").summary == Results.load(real_result).summary
    assert (tmp_path / f".c.tmp-{dead}-x" / "theirs.txt").is_file()
    assert folders_mod.clean_stale(tmp_path) == []


def test_a_load_restores_a_result_moved_aside_by_a_killed_writer(real_result: Path,
                                                                 tmp_path: Path) -> None:
    dead = 2 ** 22 + 54321
    _copy(real_result, tmp_path / f".out.old-{dead}")
    assert Results.load(tmp_path / "out").summary["scenario"] == "small"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# --------------------------------------------------------- concurrent writers


@FORK
@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
def test_concurrent_saves_into_one_folder_never_fail(exchange: bool, real_result: Path,
                                                     tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Three processes save into one folder five times each, with a slow rename: each save
    waits for the folder's lock; none fails; the folder ends complete, nothing left."""
    if not exchange:
        monkeypatch.setenv(folders_mod.NO_EXCHANGE_ENV, "1")
    versions = _versions(real_result)
    out = tmp_path / "out"
    slow_replace = os.replace

    def writer(name: str) -> None:
        def slow(a: Any, b: Any) -> None:
            time.sleep(0.02)
            slow_replace(a, b)

        os.replace = slow  # type: ignore[assignment]
        for _ in range(5):
            versions[name].save(out)

    pids = []
    for i, name in enumerate(["old", "new", "old"]):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 70
            try:
                writer(name)
                code = 0
            except SimError as e:
                (tmp_path / f"err{i}").write_text(str(e))
                code = 2
            except BaseException:  # noqa: BLE001
                (tmp_path / f"err{i}").write_text(traceback.format_exc())
            finally:
                os._exit(code)
        pids.append(pid)
    statuses = [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids]
    errors = [(tmp_path / f"err{i}").read_text() for i in range(3)
              if (tmp_path / f"err{i}").exists()]
    assert statuses == [0, 0, 0], errors
    assert _complete(out, versions) in ("old", "new")
    assert _leftovers(tmp_path) == []


def test_a_writer_waiting_too_long_for_the_lock_gives_up_in_one_line(
        real_result: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(folders_mod.LOCK_TIMEOUT_ENV, "0.2")
    out = tmp_path / "out"
    with folders_mod.folder_lock(Path(os.path.realpath(out)), shown=str(out)):
        with pytest.raises(ResultsError) as e:
            Results.load(real_result).save(out)
    _one_line(f"error: {e.value}\n", tmp_path, names=f"pid {os.getpid()}")
    assert not out.exists() and _leftovers(tmp_path) == []


@pytest.mark.slow
def test_two_cli_runs_into_one_folder_both_finish(tmp_path: Path) -> None:
    """Two ``access-sim run`` processes into the same ``--out`` at the same time: both exit 0
    (the second waits for the first's lock), the folder holds one complete result."""
    sc = small(**{"duration": "1m", "population.dau": 5000, "events": []})
    sc.pop("billing")
    write_yaml(tmp_path / "s.yaml", sc)
    args = ["run", "s.yaml", "--out", "same", "--quiet", "--no-figures", "--jobs", "1"]
    procs = [subprocess.Popen([sys.executable, "-m", "sim", *args], cwd=tmp_path, env=ENV,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for _ in range(2)]
    results = [(p.wait(timeout=120), p.stderr.read().decode() if p.stderr else "")
               for p in procs]
    assert [rc for rc, _ in results] == [0, 0], results
    assert Results.load(tmp_path / "same").summary["scenario"] == "small"
    assert _leftovers(tmp_path) == []
