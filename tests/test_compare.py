"""Scenario inheritance, confidence intervals and Welch's test, and ``compare``.

Tests against theory (the t distribution, interval coverage) are kept apart from the
end-to-end comparisons, which use the tiny network for a few simulated minutes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from sim.cli import main
from sim.runs.compare import Comparison, compare
from sim.errors import ResultsError, ScenarioError
from sim.analysis.statistics import mean_ci, t_cdf, t_quantile, welch_test
from tests.conftest import SCENARIOS, TOPOLOGIES, write_yaml

SHORT = {"duration": "3m", "warmup": "30s"}
BUSY = SCENARIOS / "tiny-busy-singapore.yaml"
BUSY_HALF = SCENARIOS / "tiny-busy-singapore-half.yaml"


# --------------------------------------------------------------------------- extends


def _base(tmp: Path) -> Path:
    (tmp / "base").mkdir()
    return write_yaml(tmp / "base" / "base.yaml", {
        "name": "base", "description": "the base", "seed": 3, "duration": "5m",
        "topology": "../topo/tiny.yaml",  # relative to base.yaml
        "home_datacenter": "dc-singapore",
        "population": {"min_population": 2_000_000, "regions": ["asia", "europe"],
                       "dau": 400_000, "diurnal": {"amplitude": 0.3, "peak_hour": 20}},
        "addressing": {"levels": [{"region": {"public_resolver_share": 0.1}},
                                  {"nearest": {"probe_top_k": 2}}, {"sticky": {}},
                                  {"spill": {"max_utilization": 0.8}}, {"failover": {}}]},
        "events": [{"at": "1m", "node_down": "access-tokyo", "for": "1m"}],
    })


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "topo").mkdir()
    (tmp_path / "topo" / "tiny.yaml").write_text((TOPOLOGIES / "tiny.yaml").read_text())
    _base(tmp_path)
    (tmp_path / "variants").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_extends_is_relative_to_the_file_and_deep_merges(tree: Path) -> None:
    child = write_yaml(tree / "variants" / "child.yaml", {
        "name": "child", "extends": "../base/base.yaml",
        "population": {"dau": 100_000, "diurnal": {"amplitude": 0.0}}})
    sc = sim.load_scenario(child)
    assert sc.name == "child" and sc.description == ""  # name/description not inherited
    assert sc.extends == "../base/base.yaml"
    assert Path(sc.topology).resolve() == (tree / "topo" / "tiny.yaml").resolve()
    assert sc.seed == 3 and sc.duration == 300.0
    # Child wins key by key; keys it does not name are the base's.
    assert sc.population.dau == 100_000
    assert sc.population.diurnal.amplitude == 0.0 and sc.population.diurnal.peak_hour == 20
    assert sc.population.regions == ["asia", "europe"]
    assert sc.addressing.level("spill").max_utilization == 0.8  # type: ignore[union-attr]


def test_extends_replaces_lists(tree: Path) -> None:
    child = write_yaml(tree / "variants" / "child.yaml", {
        "name": "child", "extends": "../base/base.yaml",
        "addressing": {"levels": [{"nearest": {"probe_top_k": 1}}]},
        "events": [], "population": {"regions": ["europe"]}})
    sc = sim.load_scenario(child)
    assert [lv.name for lv in sc.addressing.levels] == ["nearest"]
    assert sc.events == []
    assert sc.population.regions == ["europe"]


def test_extends_chain_and_the_resolved_scenario_is_recorded(tree: Path) -> None:
    write_yaml(tree / "variants" / "mid.yaml", {
        "name": "mid", "extends": "../base/base.yaml", "population": {"dau": 200_000}})
    leaf = write_yaml(tree / "variants" / "leaf.yaml", {
        "name": "leaf", "extends": "mid.yaml", "seed": 9, "outputs": {"figures": False}})
    res = sim.run(leaf, overrides={"duration": "1m", "events": []})
    resolved = res.summary["scenario_resolved"]
    assert resolved["name"] == "leaf" and resolved["seed"] == 9
    assert resolved["population"]["dau"] == 200_000
    assert resolved["population"]["diurnal"]["amplitude"] == 0.3
    assert resolved["duration"] == 60.0 and resolved["events"] == []
    assert resolved["extends"] == "mid.yaml"


def test_extends_cycle_error_names_the_chain(tree: Path) -> None:
    write_yaml(tree / "variants" / "a.yaml", {"name": "a", "extends": "b.yaml"})
    write_yaml(tree / "variants" / "b.yaml", {"name": "b", "extends": "../variants/a.yaml"})
    with pytest.raises(ScenarioError) as e:
        sim.load_scenario("variants/a.yaml")
    assert str(e.value) == ("variants/b.yaml: extends: cycle: variants/a.yaml -> "
                            "variants/b.yaml -> variants/a.yaml")
    write_yaml(tree / "variants" / "self.yaml", {"name": "s", "extends": "self.yaml"})
    with pytest.raises(ScenarioError) as e:
        sim.load_scenario("variants/self.yaml")
    assert str(e.value) == "variants/self.yaml: extends: cycle: variants/self.yaml -> " \
                           "variants/self.yaml"


def test_extends_missing_parent(tree: Path) -> None:
    write_yaml(tree / "variants" / "orphan.yaml", {"name": "o", "extends": "nope.yaml"})
    with pytest.raises(ScenarioError) as e:
        sim.load_scenario("variants/orphan.yaml")
    assert str(e.value) == "variants/orphan.yaml: extends: file not found: variants/nope.yaml"


@pytest.mark.parametrize("command", ["run", "validate", "compare", "sweep", "bill"])
def test_every_scenario_command_takes_set(command: str) -> None:
    from sim.cli import build_parser

    args = ["x.yaml", "--set", "a.b=1"] + (["--grid", "seed=1,2"] if command == "sweep" else [])
    ns = build_parser().parse_args([command, *args])
    assert ns.overrides == ["a.b=1"]


def test_shipped_variants_extend_their_base() -> None:
    base = sim.load_scenario(SCENARIOS / "global-baseline.yaml").resolved()
    variants = ["strategy-nearest-geo", "strategy-oracle", "strategy-random",
                "strategy-round-robin", "spill-0.7", "spill-0.9", "capacity-singapore-half"]
    for name in variants:
        sc = sim.load_scenario(SCENARIOS / f"{name}.yaml")
        assert sc.extends == "global-baseline.yaml"
        diff = {k for k, v in sc.resolved().items() if base.get(k) != v}
        assert diff <= {"name", "description", "extends", "addressing", "nodes"}, name
    assert sim.load_scenario(SCENARIOS / "strategy-nearest-geo.yaml").addressing.strategy == \
        "nearest_geo"
    spill = sim.load_scenario(SCENARIOS / "spill-0.7.yaml").addressing.level("spill")
    assert spill.max_utilization == 0.7  # type: ignore[union-attr]
    half = sim.load_scenario(BUSY_HALF)
    assert half.nodes.overrides["access-singapore"].workers == 1
    assert half.nodes.overrides["access-singapore"].service_ms == 60.0


# --------------------------------------------------------------------------- statistics


@pytest.mark.parametrize("df", [1, 1.7, 2, 3, 4, 7.5, 10, 30, 120, 1e5])
def test_t_distribution_matches_scipy(df: float) -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    for p in (0.6, 0.9, 0.95, 0.975, 0.995, 0.025):
        assert t_quantile(p, df) == pytest.approx(scipy_stats.t.ppf(p, df), rel=1e-9)
    for t in (-12.0, -2.0, -0.3, 0.0, 0.7, 2.2, 40.0):
        assert t_cdf(t, df) == pytest.approx(scipy_stats.t.cdf(t, df), abs=1e-10)


@settings(max_examples=60, deadline=None)
@given(st.floats(0.51, 0.9999), st.floats(0.5, 500.0))
def test_t_quantile_inverts_the_cdf(p: float, df: float) -> None:
    assert t_cdf(t_quantile(p, df), df) == pytest.approx(p, abs=1e-10)


def test_mean_ci_and_welch_match_scipy() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(5)
    a, b = rng.normal(10, 2, 6), rng.normal(12, 5, 4)
    ci = mean_ci(a)
    lo, hi = scipy_stats.t.interval(0.95, len(a) - 1, loc=a.mean(), scale=scipy_stats.sem(a))
    assert (ci.low, ci.high) == (pytest.approx(lo, rel=1e-10), pytest.approx(hi, rel=1e-10))
    w = welch_test(a, b)
    ref = scipy_stats.ttest_ind(b, a, equal_var=False)
    assert w.t == pytest.approx(ref.statistic, rel=1e-10)
    assert w.p_value == pytest.approx(ref.pvalue, rel=1e-8)
    assert w.diff == pytest.approx(b.mean() - a.mean())


def test_statistics_with_one_replication_are_not_available() -> None:
    ci = mean_ci([3.0])
    assert ci.n == 1 and ci.mean == 3.0 and ci.low is None and ci.high is None
    w = welch_test([3.0], [4.0])
    assert w.diff == 1.0 and w.p_value is None and w.significant is None
    assert mean_ci([None, math.nan]).mean is None
    assert welch_test([1.0, 1.0], [1.0, 1.0]).significant is False  # no spread, no change
    assert welch_test([1.0, 1.0], [2.0, 2.0]).significant is True  # no spread, a change


def test_ci_coverage_is_about_95_percent() -> None:
    """Theory: a t interval of normal samples covers the true mean 95% of the time."""
    rng = np.random.default_rng(11)
    trials = 2000
    hits = sum(1 for _ in range(trials)
               if (c := mean_ci(rng.normal(5.0, 3.0, 4))).low <= 5.0 <= c.high)  # type: ignore
    assert abs(hits / trials - 0.95) < 0.015  # binomial sd is about 0.005


# --------------------------------------------------------------------------- compare


@contextlib.contextmanager
def shared_once(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[tuple[Path, bool]]:
    """A folder shared by the pytest-xdist workers of this session, and whether the caller is
    the first (and must fill it): the others wait, then read what it wrote. So an expensive
    module fixture runs once per session, not once per worker."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = root / name
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            first = not (folder / ".done").exists()
            yield folder, first
            if first:
                (folder / ".done").touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="module")
def busy_comparison(tmp_path_factory: pytest.TempPathFactory) -> tuple[Comparison, Path]:
    """The busy-node base, an identical copy (another name), and half its workers (run once
    per session; another xdist worker reads the runs back from their result folders)."""
    with shared_once(tmp_path_factory, "busy-comparison") as (folder, first):
        out = folder / "out"
        if first:
            folder.mkdir(parents=True, exist_ok=True)
            same = write_yaml(folder / "same.yaml", {"name": "busy-copy",
                                                     "extends": str(BUSY)})
            cmp = compare([BUSY, same, BUSY_HALF], overrides=SHORT, replications=3, jobs=2,
                          out=out)
        else:
            cmp = compare([out / "runs" / n for n in ("tiny-busy-singapore", "busy-copy",
                                                      "tiny-busy-singapore-half")])
    return cmp, out


def test_identical_variant_is_not_significant(busy_comparison) -> None:
    cmp, _ = busy_comparison
    rows = cmp.table[cmp.table["scenario"] == "busy-copy"]
    assert len(rows) > 10
    assert (rows["diff"].fillna(0.0) == 0.0).all()
    assert not rows["significant"].fillna(False).any()


def test_half_the_workers_on_a_busy_node_is_flagged(busy_comparison) -> None:
    cmp, _ = busy_comparison
    half = cmp.table[cmp.table["scenario"] == "tiny-busy-singapore-half"].set_index("figure")
    # (p95 rises too, by about 1.4 s, but a saturated node's p95 over three short
    # replications varies with how long each queue grew before the first load report.)
    for figure in ("latency_ms.p50", "latency_ms.mean", "addressing.spill_share",
                   "nodes.access-singapore.peak_utilization"):
        assert bool(half.loc[figure, "significant"]), figure
        assert half.loc[figure, "diff"] > 0
    assert half.loc["nodes.access-singapore.peak_utilization", "mean"] > 0.85
    # Europe does not use the Singapore node: same seeds, same numbers.
    assert half.loc["latency_ms.by_region.europe.p95", "diff"] == 0.0


def test_comparison_table_and_files(busy_comparison) -> None:
    cmp, out = busy_comparison
    names = ["tiny-busy-singapore", "busy-copy", "tiny-busy-singapore-half"]
    assert cmp.names == names and cmp.baseline == names[0]
    t = cmp.table
    assert list(t.columns) == ["figure", "label", "scenario", "n", "mean", "ci_low", "ci_high",
                               "diff", "diff_ci_low", "diff_ci_high", "p_value", "significant"]
    headline = ["latency_ms.mean", "latency_ms.p50", "latency_ms.p95", "latency_ms.p99",
                "logins.failure_share", "addressing.spill_share",
                "peak_utilization.busiest_node"]
    assert set(headline) <= set(t["figure"])
    assert t.loc[t.scenario == names[0], "diff"].isna().all()  # the baseline has no diff
    assert (t["n"] == 3).all()
    p95 = cmp.figure("latency_ms.p95")
    assert (p95["ci_low"] < p95["mean"]).all() and (p95["mean"] < p95["ci_high"]).all()
    assert sorted(p.name for p in out.iterdir()) == ["comparison.csv", "comparison.json",
                                                      "comparison.md", "figures", "runs"]
    assert sorted(p.name for p in (out / "figures").iterdir()) == [
        "latency_cdf.png", "node_load.png", "region_p95.png"]
    csv = pd.read_csv(out / "comparison.csv")
    assert len(csv) == len(t) and list(csv.columns) == list(t.columns)
    data = json.loads((out / "comparison.json").read_text())
    assert data["baseline"] == names[0] and len(data["scenarios"]) == 3
    assert data["scenarios"][2]["scenario_resolved"]["nodes"]["overrides"][
        "access-singapore"]["workers"] == 1
    md = (out / "comparison.md").read_text()
    assert "| p95 latency (ms) | tiny-busy-singapore |" in md
    assert "**yes**" in md and "## Peak utilisation per node" in md
    # Each run's result folder is kept and reads back.
    assert (out / "runs" / "tiny-busy-singapore-half" / "summary.json").is_file()


def test_result_folders_compare_like_the_runs(busy_comparison, tmp_path: Path) -> None:
    cmp, out = busy_comparison
    again = compare([out / "runs" / "tiny-busy-singapore",
                     out / "runs" / "tiny-busy-singapore-half"])
    mine = cmp.table[cmp.table["scenario"] != "busy-copy"].reset_index(drop=True)
    pd.testing.assert_frame_equal(again.table.drop(columns=["diff", "diff_ci_low",
                                                            "diff_ci_high", "p_value",
                                                            "significant"]),
                                  mine.drop(columns=["diff", "diff_ci_low", "diff_ci_high",
                                                     "p_value", "significant"]))
    half = again.table[again.table.scenario == "tiny-busy-singapore-half"]
    ref = cmp.table[cmp.table.scenario == "tiny-busy-singapore-half"]
    assert half["p_value"].tolist() == ref["p_value"].tolist()


def test_plot_methods_draw_into_given_axes(busy_comparison) -> None:
    from matplotlib.figure import Figure

    cmp, _ = busy_comparison
    fig = Figure()
    axes = fig.subplots(2, 2).ravel()
    assert cmp.plot_latency_cdf(ax=axes[0]) is axes[0]
    assert len(axes[0].get_lines()) >= 3
    assert cmp.plot_region_p95(ax=axes[1]) is axes[1]
    assert len(axes[1].patches) == 2 * 3  # two regions x three scenarios
    assert cmp.plot_node_load(ax=axes[2], top=4) is axes[2]
    assert len(axes[2].patches) == 4 * 3
    assert cmp.plot_figure("latency_ms.p95", ax=axes[3]) is axes[3]
    with pytest.raises(KeyError):
        cmp.plot_figure("latency_ms.p42")


def test_one_replication_reads_n_a(tmp_path: Path) -> None:
    cmp = compare([BUSY, BUSY_HALF], overrides=SHORT, replications=1, jobs=1)
    row = cmp.figure("latency_ms.p95").iloc[1]
    assert row["n"] == 1 and row["ci_low"] is pd.NA and row["significant"] is pd.NA
    assert row["diff"] > 0
    md = cmp.to_markdown()
    assert "[n/a]" in md and "| n/a | n/a |" in md


def test_summary_has_confidence_intervals(tiny_scenario: Path) -> None:
    res = sim.run(tiny_scenario, overrides={"duration": "2m", "warmup": "0s"},
                  replications=2, jobs=1)
    ci = res.summary["ci95"]
    for key in ("latency_ms.mean", "latency_ms.p50", "latency_ms.p95", "latency_ms.p99",
                "logins.failure_share", "addressing.spill_share",
                "nodes.access-singapore.peak_utilization", "latency_ms.by_region.asia.p95"):
        assert ci[key]["n"] == 2 and ci[key]["low"] <= ci[key]["mean"] <= ci[key]["high"]
    reps = res.summary["replication_figures"]
    assert ci["latency_ms.p95"]["mean"] == pytest.approx(
        (reps[0]["latency_ms"]["p95"] + reps[1]["latency_ms"]["p95"]) / 2, abs=1e-6)
    load = res.node_load[(res.node_load.replication == 1)
                         & (res.node_load.node == "access-singapore")]
    assert reps[1]["peak_utilization"]["access-singapore"] == \
        pytest.approx(load["utilization"].max(), abs=1e-4)


def test_compare_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "c"
    rc = main(["compare", str(BUSY), str(BUSY_HALF), "--out", str(out), "--replications", "2",
               "--set", "duration=2m", "--set", "warmup=0s", "--jobs", "1", "--no-figures"])
    assert rc == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert printed.startswith("# Comparison: tiny-busy-singapore, tiny-busy-singapore-half")
    assert "## Peak utilisation" not in printed  # the terminal gets the short report
    assert sorted(p.name for p in out.iterdir()) == ["comparison.csv", "comparison.json",
                                                      "comparison.md", "runs"]


def test_compare_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nope.yaml: scenario file not found" in err
    (tmp_path / "empty").mkdir()
    assert main(["compare", str(tmp_path / "empty")]) == 2
    assert "not a result folder" in capsys.readouterr().err
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    assert main(["compare", str(BUSY), "--out", str(stranger)]) == 2
    assert capsys.readouterr().err == (f"error: {stranger}: folder holds 'notes.txt', which is "
                                       "not part of a comparison: use another --out folder\n")
    assert main(["compare", str(BUSY), "--alpha", "2"]) == 2
    assert main(["compare", str(BUSY), "--jobs", "0", "--out", str(tmp_path / "j")]) == 2
    assert "--jobs" in capsys.readouterr().err


def test_compare_needs_inputs() -> None:
    with pytest.raises(ScenarioError):
        compare([])
    with pytest.raises(ResultsError):
        compare([SCENARIOS])  # a folder that is not a result


def test_compare_resume_reuses_finished_runs_and_runs_the_rest(tmp_path) -> None:
    import json

    from sim.cli import main

    out = tmp_path / "cmp"
    base = ["compare", str(SCENARIOS / "tiny.yaml"), str(SCENARIOS / "tiny-busy-singapore.yaml"),
            "--out", str(out), "--quiet", "--no-figures", "--jobs", "1",
            "--set", "duration=2m", "--set", "warmup=0s", "--set", "replications=2"]
    assert main(base) == 0
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert len(runs) == 2
    first, second = (out / "runs" / r / "summary.json" for r in runs)
    stamp = json.loads(first.read_text())["run"]["created_utc"]
    table = (out / "comparison.csv").read_text()
    # As if interrupted before the second run finished: it and the tables are missing.
    import shutil

    shutil.rmtree(second.parent)
    for name in ("comparison.csv", "comparison.json", "comparison.md"):
        (out / name).unlink()
    assert main([*base, "--resume"]) == 0
    assert json.loads(first.read_text())["run"]["created_utc"] == stamp  # reused, not rerun
    assert second.is_file()
    assert (out / "comparison.csv").read_text() == table  # same seeds, same numbers
