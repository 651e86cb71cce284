"""Sweeps: the grid, one folder per point, the combined table and plots, and resuming."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import sim
from sim.cli import main
from sim.errors import ScenarioError
from sim.runs.sweep import load_sweep_file, parse_grid, sweep
from tests.conftest import SCENARIOS, write_yaml
from tests.test_compare import shared_once

BUSY = SCENARIOS / "tiny-busy-singapore.yaml"
SHORT = {"duration": "2m", "warmup": "20s"}
WORKERS = "nodes.overrides.access-singapore.workers"
SPILL = "addressing.levels[3].spill.max_utilization"


def test_parse_grid() -> None:
    assert parse_grid([f"{WORKERS}=1,2,4", f"{SPILL}=0.6, 0.9"]) == {
        WORKERS: [1, 2, 4], SPILL: [0.6, 0.9]}
    assert parse_grid(["population.regions=[asia, europe],[asia]", "duration=5m,1h"]) == {
        "population.regions": [["asia", "europe"], ["asia"]], "duration": ["5m", "1h"]}
    with pytest.raises(ScenarioError, match="expected key.path=v1,v2"):
        parse_grid(["seed"])
    with pytest.raises(ScenarioError, match="given twice"):
        parse_grid(["seed=1", "seed=2"])
    with pytest.raises(ScenarioError, match="no values"):
        parse_grid(["seed="])


def test_sweep_file(tmp_path: Path) -> None:
    spec = load_sweep_file(SCENARIOS / "sweeps" / "tiny-singapore-capacity.yaml")
    assert spec.scenario.resolve() == BUSY.resolve()
    assert spec.grid == {WORKERS: [1, 2, 4], SPILL: [0.6, 0.9]}
    assert spec.overrides == {"duration": "5m"} and spec.replications == 3
    bad = write_yaml(tmp_path / "bad.yaml", {"scenario": str(BUSY), "grid": {"seed": [1]},
                                             "sets": {}})
    with pytest.raises(ScenarioError, match="sets: unknown key"):
        load_sweep_file(bad)
    bad = write_yaml(tmp_path / "bad2.yaml", {"scenario": str(BUSY), "grid": {"seed": 1}})
    with pytest.raises(ScenarioError, match="grid.seed: expected a non-empty list"):
        load_sweep_file(bad)
    for path in (SCENARIOS / "sweeps").glob("*.yaml"):
        spec = load_sweep_file(path)
        sim.load_scenario(spec.scenario, {**spec.overrides,
                                          **{k: v[0] for k, v in spec.grid.items()}})


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory):
    """A 2 x 2 sweep, run once per session (another xdist worker reuses its points)."""
    with shared_once(tmp_path_factory, "finished-sweep") as (folder, first):
        out = folder / "s"
        sw = sweep(BUSY, {WORKERS: [1, 2], SPILL: [0.6, 0.9]}, overrides=SHORT,
                   replications=2, out=out, jobs=2, figures=first)
    return sw, out


def test_sweep_runs_every_point_into_its_folder(finished) -> None:
    sw, out = finished
    names = [f"{WORKERS}={w},{SPILL}={s}" for w in (1, 2) for s in (0.6, 0.9)]
    assert sw.params == [WORKERS, SPILL]
    assert sw.points["point"].tolist() == names
    assert sw.ran + sw.reused == names  # ran by this worker, or by another one
    folders = sorted(p.name for p in out.iterdir() if (p / "summary.json").is_file())
    assert len(folders) == 4
    assert "nodes.overrides.access-singapore.workers=1,addressing.levels_3_.spill." \
           "max_utilization=0.6" in folders
    for name, row in zip(names, sw.points.itertuples()):
        summary = json.loads((Path(row.folder) / "summary.json").read_text())
        resolved = summary["scenario_resolved"]
        assert resolved["nodes"]["overrides"]["access-singapore"]["workers"] == row[1]
        assert resolved["addressing"]["levels"][3]["spill"]["max_utilization"] == row[2]
        assert resolved["duration"] == 120.0 and summary["replications"] == 2


def test_sweep_table_and_plots(finished) -> None:
    sw, out = finished
    t = sw.table
    assert len(t) == 4 and list(t.columns[:5]) == [WORKERS, SPILL, "point", "status",
                                                   "replications"]
    for fig in ("latency_ms.p95", "latency_ms.p95.ci_low", "latency_ms.p95.ci_high",
                "addressing.spill_share", "nodes.access-singapore.peak_utilization"):
        assert fig in t.columns
    # One worker on the busy node is worse than two, whatever the spill threshold.
    by = t.set_index([WORKERS, SPILL])
    for s in (0.6, 0.9):
        assert by.loc[(1, s), "latency_ms.p95"] > by.loc[(2, s), "latency_ms.p95"]
        assert by.loc[(1, s), "nodes.access-singapore.peak_utilization"] > \
            by.loc[(2, s), "nodes.access-singapore.peak_utilization"]
    assert sorted(p.name for p in out.glob("sweep.*")) == ["sweep.csv", "sweep.json",
                                                          "sweep.md"]
    csv = pd.read_csv(out / "sweep.csv")
    assert len(csv) == 4 and "latency_ms.p95.ci_high" in csv.columns
    plots = sorted(p.name for p in (out / "figures").iterdir())
    assert len(plots) == 7 * 2  # each headline figure against each swept parameter
    assert f"latency_ms.p95__vs__{WORKERS}.png" in plots
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    assert sw.plot("latency_ms.p95", WORKERS, ax=ax) is ax
    assert len(ax.containers) == 2  # one line with error bars per spill threshold
    assert sw.results(0).summary["scenario_resolved"]["nodes"]["overrides"][
        "access-singapore"]["workers"] == 1
    with pytest.raises(KeyError):
        sw.plot("latency_ms.p95", "seed")


def test_rerun_reuses_completed_points(finished) -> None:
    _, out = finished
    before = (out / "sweep.csv").read_bytes()
    again = sweep(BUSY, {WORKERS: [1, 2], SPILL: [0.6, 0.9]}, overrides=SHORT,
                  replications=2, out=out, jobs=2, figures=False)
    assert again.ran == [] and len(again.reused) == 4
    assert (out / "sweep.csv").read_bytes() == before


def test_interrupted_sweep_finishes_only_the_missing_points(tmp_path: Path) -> None:
    out = tmp_path / "s"
    grid = {WORKERS: [1, 2, 4]}
    seen: list[str] = []

    def interrupt_after_first(name: str, res: sim.Results) -> None:
        seen.append(name)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep(BUSY, grid, overrides=SHORT, out=out, jobs=1, on_point=interrupt_after_first,
              figures=False)
    assert seen == [f"{WORKERS}=1"]
    done = out / f"{WORKERS}=1" / "summary.json"
    stamp = done.stat().st_mtime_ns
    assert not (out / "sweep.csv").exists()
    assert sorted(p.name for p in out.iterdir()) == [f"{WORKERS}=1"]

    ran: list[str] = []
    sw = sweep(BUSY, grid, overrides=SHORT, out=out, jobs=2, figures=False,
               on_point=lambda name, res: ran.append(name))
    assert sorted(ran) == [f"{WORKERS}=2", f"{WORKERS}=4"]
    assert sw.reused == [f"{WORKERS}=1"] and sw.points["status"].tolist() == [
        "reused", "ran", "ran"]
    assert done.stat().st_mtime_ns == stamp
    # A changed scenario is not "the same point": it runs again; so does --force.
    changed = sweep(BUSY, {WORKERS: [1]}, overrides={**SHORT, "seed": 8}, out=out, jobs=1,
                    figures=False)
    assert changed.ran == [f"{WORKERS}=1"]
    forced = sweep(BUSY, {WORKERS: [1]}, overrides={**SHORT, "seed": 8}, out=out, jobs=1,
                   force=True, figures=False)
    assert forced.ran == [f"{WORKERS}=1"]


def test_sweep_cli_with_a_sweep_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                     ) -> None:
    (tmp_path / "sc").mkdir()
    write_yaml(tmp_path / "sc" / "base.yaml", {"name": "b", "extends": str(BUSY)})
    spec = write_yaml(tmp_path / "sc" / "grid.yaml", {
        "scenario": "base.yaml", "grid": {WORKERS: [2]}, "set": SHORT,
        "replications": 2})
    out = tmp_path / "out"
    args = ["sweep", str(spec), "--out", str(out), "--no-figures", "--jobs", "2",
            "--grid", "seed=7,9"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("# Sweep of ")
    assert "2 point(s) run, 0 reused" in printed
    assert main([*args, "--quiet"]) == 0
    assert main([*args]) == 0
    assert "0 point(s) run, 2 reused" in capsys.readouterr().out
    assert main([*args, "--force", "--quiet"]) == 0


def test_sweep_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", str(BUSY), "--out", str(tmp_path / "o")]) == 2
    assert "nothing to sweep" in capsys.readouterr().err
    assert main(["sweep", str(BUSY), "--grid", "population.dau=-5,5",
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: point population.dau=-5: ") and "must be > 0" in err
    assert main(["sweep", str(BUSY), "--grid", "seed=1,2", "--set", "seed=3",
                 "--out", str(tmp_path / "o")]) == 2
    assert "both swept and set" in capsys.readouterr().err
    assert main(["sweep", str(BUSY), "--grid", "nodes.bogus=1,2",
                 "--out", str(tmp_path / "o")]) == 2
    assert "unknown key" in capsys.readouterr().err
