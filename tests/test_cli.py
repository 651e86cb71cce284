"""The command line: every scenario runs, every error path gives one exact line and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sim.cli import main
from tests.conftest import ROOT, SCENARIOS, TOPOLOGIES, write_yaml

SHORT = ["--set", "duration=2m", "--set", "warmup=0s", "--set", "replications=1"]


def _scenario_files() -> list[Path]:
    return sorted(SCENARIOS.glob("*.yaml"))


@pytest.mark.parametrize("path", _scenario_files(), ids=lambda p: p.name)
def test_every_scenario_runs_through_the_cli(path: Path, tmp_path: Path, capsys) -> None:
    import sim

    out = tmp_path / "out"
    # Two minutes, or just past the scenario's last event (an event after the end of the run
    # is an error).
    events = sim.load_scenario(path).events
    duration = max([120.0] + [ev.at + 60.0 for ev in events])
    rc = main(["run", str(path), "--out", str(out), "--no-figures", "--quiet",
               "--set", "population.dau=200000", *SHORT, "--set", f"duration={duration:g}s"])
    assert rc == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["logins"]["attempted"] > 0
    assert summary["scenario_resolved"]["duration"] == duration
    assert (out / "node_load.csv").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_run_writes_the_results_contract(tmp_path: Path, capsys) -> None:
    out = tmp_path / "res"
    rc = main(["run", str(SCENARIOS / "tiny.yaml"), "--out", str(out), *SHORT])
    assert rc == 0
    printed = capsys.readouterr().out
    assert printed.startswith("scenario tiny: ")
    assert "login latency (ms)" in printed
    names = sorted(p.name for p in out.iterdir())
    assert names == [".access-sim-result", "figures", "logins.csv", "node_load.csv",
                     "sites.csv", "summary.json"]
    header = (out / "logins.csv").read_text().splitlines()[0].split(",")
    assert header[:17] == ["login_id", "t_start_s", "site", "region", "terminal_lat",
                           "terminal_lon", "access_type", "node", "node_kind", "decided_by",
                           "attempts", "outcome", "latency_ms", "connect_ms", "queue_ms",
                           "service_ms", "backend_ms"]
    assert (out / "node_load.csv").read_text().splitlines()[0] == \
        "t_s,node,connections,logins_per_s,queue_len,utilization,replication,events,down_by"
    summary = json.loads((out / "summary.json").read_text())
    for key in ("scenario", "seed", "replications", "version", "scenario_resolved", "run",
                "logins", "latency_ms", "nodes", "addressing"):
        assert key in summary
    assert set(summary["latency_ms"]) >= {"mean", "p50", "p90", "p95", "p99", "by_region"}
    node = next(iter(summary["nodes"].values()))
    assert set(node) >= {"logins", "peak_connections", "utilization", "mean_wait_ms",
                         "rejected"}
    # Results.load reads it back.
    from sim import Results

    back = Results.load(out)
    assert back.summary == summary
    assert len(back.logins) == summary["logins"]["whole_run"]["succeeded"] + \
        summary["logins"]["whole_run"]["failed"]
    # A second run into the same folder replaces the previous result.
    assert main(["run", str(SCENARIOS / "tiny.yaml"), "--out", str(out), "--quiet",
                 "--no-figures", *SHORT]) == 0


def test_parquet_output(tmp_path: Path) -> None:
    out = tmp_path / "pq"
    assert main(["run", str(SCENARIOS / "tiny.yaml"), "--out", str(out), "--quiet",
                 "--no-figures", "--format", "parquet", *SHORT]) == 0
    assert (out / "logins.parquet").is_file()
    from sim import Results

    assert len(Results.load(out).logins) > 0


def _tiny_copy(tmp_path: Path) -> Path:
    text = (SCENARIOS / "tiny.yaml").read_text().replace(
        "../topologies/tiny.yaml", str(TOPOLOGIES / "tiny.yaml"))
    path = tmp_path / "tiny.yaml"
    path.write_text(text)
    return path


ERRORS = [
    # (file contents or None for the tiny scenario, extra args, expected message after "error: ")
    ("name: x\n  bad: [\n", [],
     "{f}: invalid YAML: line 2, column 6: mapping values are not allowed here"),
    ("name: x\ntopology: t.yaml\nhome_datacenter: dc\npopulation: {dauu: 5}\n", [],
     "{f}: population.dauu: unknown key (did you mean 'dau'?)"),
    ("- a\n- b\n", [], "{f}: expected a mapping at the top level, got list"),
    ("", [], "{f}: empty scenario file"),
    (None, ["--set", "population=5"], "--set: population: expected a mapping, got 5"),
    (None, ["--set", "population.dau=-5"], "--set: population.dau: must be > 0, got -5"),
    (None, ["--set", "population.dau=abc"],
     "--set: population.dau: expected an integer, got 'abc'"),
    (None, ["--set", "duration=soon"],
     "--set: duration: expected a duration such as 30s, 10m or 2h, got 'soon'"),
    (None, ["--set", "warmup=20m"],
     "--set: warmup: must be shorter than duration (600 s), got 1200 s"),
    (None, ["--set", "population.access_mix={wifi: 0.5}"],
     "--set: population.access_mix: shares must add up to 1, got 0.5"),
    (None, ["--set", "addressing.levels[0].region.dns_tl=3"],
     "--set: addressing.levels[0].region.dns_tl: unknown key (did you mean 'dns_ttl'?)"),
    (None, ["--set", "home_datacenter=dc-singapur"],
     "--set: home_datacenter: unknown data center 'dc-singapur' (did you mean 'dc-singapore'?);"
     " known: dc-singapore, dc-frankfurt"),
    (None, ["--set", "addressing.strategy=nearestgeo"],
     "--set: addressing.strategy: unknown strategy 'nearestgeo' (did you mean 'nearest_geo'?); "
     "known: anycast, multilevel, nearest_geo, oracle, random, round_robin"),
    (None, ["--set", "events=[{at: 1m, node_down: access-paris}]"],
     "--set: events[0].node_down: unknown node 'access-paris' (did you mean 'cache-paris'?)"),
    (None, ["--set", "topology=missing.yaml"],
     "--set: topology: topology file not found: missing.yaml"),
    (None, ["--set", "population.min_population=100000000"],
     "--set: population.min_population: no city has a population of at least 100,000,000 in "
     "regions asia, europe"),
    (None, ["--set", "nokey"], "--set nokey: expected key.path=value"),
]


@pytest.mark.parametrize("contents,args,expected", ERRORS, ids=[e[2][:40] for e in ERRORS])
def test_bad_input_gives_one_line_and_status_2(contents, args, expected, tmp_path: Path,
                                               capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    if contents is None:
        path = _tiny_copy(tmp_path)
    else:
        path = tmp_path / "bad.yaml"
        path.write_text(contents)
    out = tmp_path / "out"
    rc = main(["run", path.name, "--out", str(out), "--quiet", *args])
    err = capsys.readouterr().err
    assert rc == 2
    assert err == f"error: {expected.format(f=path.name)}\n"
    assert not out.exists()


def test_missing_file_and_non_utf8(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "nope.yaml"]) == 2
    assert capsys.readouterr().err == "error: nope.yaml: scenario file not found\n"
    Path("bin.yaml").write_bytes(b"\xff\xfe")
    assert main(["validate", "bin.yaml"]) == 2
    assert capsys.readouterr().err == "error: bin.yaml: not UTF-8 text (byte 0)\n"


def test_refuses_a_foreign_non_empty_folder(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = _tiny_copy(tmp_path)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    assert main(["run", path.name, "--out", "mine", "--quiet", *SHORT]) == 2
    assert capsys.readouterr().err == ("error: mine: folder is not empty and holds no previous "
                                       "result; use --overwrite to replace it\n")
    assert (folder / "notes.txt").read_text() == "keep me"
    assert main(["run", path.name, "--out", "mine", "--quiet", "--no-figures", "--overwrite",
                 *SHORT]) == 0
    assert not (folder / "notes.txt").exists()


def test_bad_topology_names_the_topology_file(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    topo = (TOPOLOGIES / "tiny.yaml").read_text().replace("kind: cache", "kind: cash")
    (tmp_path / "topo.yaml").write_text(topo)
    path = _tiny_copy(tmp_path)
    assert main(["validate", path.name, "--set", "topology=topo.yaml"]) == 2
    assert capsys.readouterr().err == (
        "error: topo.yaml: nodes[4].kind: expected one of 'access', 'cache', 'datacenter' or "
        "'hub', got 'cash'\n")


def test_validate_and_schema(tmp_path: Path, capsys) -> None:
    assert main(["validate", str(SCENARIOS / "tiny.yaml")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: ") and "scenario 'tiny'" in out
    schema_file = tmp_path / "schema.json"
    assert main(["schema", "--out", str(schema_file)]) == 0
    schema = json.loads(schema_file.read_text())
    assert schema["title"] == "access-sim scenario"
    assert {"name", "topology", "home_datacenter"} <= set(schema["then"]["required"])
    assert schema["additionalProperties"] is False


def test_schema_accepts_every_shipped_scenario(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    from sim.config.schema import scenario_json_schema

    validator = jsonschema.Draft202012Validator(scenario_json_schema())
    for path in _scenario_files():
        validator.validate(yaml.safe_load(path.read_text()))


def test_version_and_module_entry_point() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "sim", "--version"], capture_output=True,
                          text=True, env=env, cwd=ROOT, check=False)
    assert done.returncode == 0
    assert done.stdout.startswith("access-sim ")


def test_a_real_subprocess_prints_no_traceback(tmp_path: Path) -> None:
    bad = write_yaml(tmp_path / "bad.yaml", {"name": "x", "topology": "t.yaml",
                                             "home_datacenter": "dc", "seed": -1})
    done = subprocess.run([sys.executable, "-m", "sim", "run", str(bad)], capture_output=True,
                          text=True, cwd=tmp_path, check=False)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.endswith("seed: must be >= 0, got -1\n")


def test_validate_latency_needs_its_data(tmp_path: Path, capsys) -> None:
    assert main(["validate-latency", "--data", str(tmp_path / "none"), "--no-figures"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_validate_latency_on_the_shared_data(tmp_path: Path, capsys) -> None:
    from tests.conftest import SHARED_DATA

    if not (SHARED_DATA / "wonderproxy_2020_pairs_train.csv").is_file():
        pytest.skip("../shared/data is absent: the measured RTTs are not part of the project")
    assert main(["validate-latency", "--folds", "2", "--no-figures", "--out",
                 str(tmp_path / "v")]) == 0
    out = capsys.readouterr().out
    assert "fibre floor x2" in out
    assert (tmp_path / "v" / "latency_validation.md").is_file()


def test_a_relative_price_list_resolves_beside_the_scenario(tmp_path: Path) -> None:
    from sim.config import load_scenario

    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "s.yaml").write_text(
        f"name: s\ntopology: {TOPOLOGIES / 'tiny.yaml'}\nhome_datacenter: dc-singapore\n"
        "billing: {month: 2026-11, price_list: prices/mine.yaml}\n")
    scenario = load_scenario(sub / "s.yaml")
    assert Path(scenario.billing.price_list).resolve() == (sub / "prices" / "mine.yaml").resolve()
