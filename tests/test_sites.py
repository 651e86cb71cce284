"""Per-site and per-country figures, ``sites.csv``, and ``compare --site/--country/--window``.

The figures are checked against a direct pandas computation on the same logins (an oracle),
against the summary's own counts, and pooled per country; the comparison's rendering is
pinned on hand-made summaries (no engine), so its golden text depends on nothing but the
formatting and the statistics.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import sim
from sim.analysis.results import Results
from sim.analysis.sites import (
    SITES_CSV_COLUMNS,
    country_figures,
    format_shares,
    parse_shares,
    site_figures,
)
from sim.analysis.statistics import mean_ci
from sim.cli import main
from sim.errors import ResultsError, ScenarioError
from sim.runs.compare import Comparison, TimeWindow, compare, event_windows, parse_window
from tests.conftest import SCENARIOS

TINY = SCENARIOS / "tiny.yaml"
SHORT = {"duration": "2m", "warmup": "30s"}


def _run(replications: int, **extra: Any) -> Results:
    return sim.run(TINY, overrides={**SHORT, "replications": replications, **extra},
                   executor=None, jobs=1)


@pytest.fixture(scope="module")
def two() -> Results:
    return _run(2)


def _window(res: Results) -> dict[str, float]:
    sc = res.summary["scenario_resolved"]
    return {"warmup_s": float(sc["warmup"]), "duration_s": float(sc["duration"])}


def _measured(res: Results) -> pd.DataFrame:
    w = _window(res)
    t = res.logins["t_start_s"]
    return res.logins[(t >= w["warmup_s"]) & (t < w["duration_s"])]


# --------------------------------------------------------------------------- the figures


def test_site_figures_equal_a_direct_groupby(two: Results) -> None:
    frame = site_figures(two.logins, **_window(two)).set_index("site")
    logins = _measured(two)
    site = logins["site"].astype(str)
    assert sorted(frame.index) == sorted(site.unique())
    for name, g in logins.groupby(site):
        row = frame.loc[name]
        ok = g[g["outcome"] == "ok"]
        lat = ok["latency_ms"].to_numpy(dtype=float)
        assert row["logins"] == len(g)
        assert row["failed"] == int((g["outcome"] == "failed").sum())
        assert row["mean"] == pytest.approx(lat.mean(), rel=1e-12)
        for p in (50, 90, 95, 99):
            assert row[f"p{p}"] == pytest.approx(np.percentile(lat, p), rel=1e-12), (name, p)
        served = ok["node"].astype(str).value_counts(normalize=True)
        top = served.sort_values(ascending=False, kind="stable").head(3)
        assert row["node_shares"] == pytest.approx(top.to_dict(), rel=1e-12)
        assert list(row["node_shares"]) == list(top.index) or \
            len(set(served.round(12))) < len(served)  # ties may come in either order
        decided = g["decided_by"].astype(str).value_counts(normalize=True)
        assert row["decided_shares"] == pytest.approx(decided.to_dict(), rel=1e-12)
        assert row["region"] == g["region"].astype(str).iloc[0]
        assert row["lat"] == round(float(g["terminal_lat"].iloc[0]), 4)


def test_counts_add_up_to_the_headline_counts(two: Results) -> None:
    frame = site_figures(two.logins, **_window(two))
    lg = two.summary["logins"]
    assert int(frame["logins"].sum()) == lg["attempted"]
    assert int(frame["failed"].sum()) == lg["failed"]
    by_region = two.summary["latency_ms"]["by_region"]
    ok = (frame["logins"] - frame["failed"]).groupby(frame["region"]).sum()
    assert ok.to_dict() == {r: s["logins"] for r, s in by_region.items()}
    summary_sites = two.summary["sites"]
    assert sum(s["logins"] for s in summary_sites.values()) == lg["attempted"]
    assert sum(c["logins"] for c in two.summary["countries"].values()) == lg["attempted"]
    # Every site's node shares add up to one (the tiny network has at most three nodes a
    # site uses; the top three are all of them here).
    for s in summary_sites.values():
        if s["logins"] > s["failed"]:
            assert sum(s["decided_by"].values()) == pytest.approx(1.0)


def test_country_figures_pool_the_sites_logins(two: Results) -> None:
    sites = site_figures(two.logins, **_window(two))
    countries = country_figures(two.logins, sites, **_window(two)).set_index("country")
    logins = _measured(two)
    country_of = dict(zip(sites["site"], sites["country"]))
    country = logins["site"].astype(str).map(country_of)
    for name, g in logins.groupby(country):
        lat = g.loc[g["outcome"] == "ok", "latency_ms"].to_numpy(dtype=float)
        row = countries.loc[name]
        assert row["logins"] == len(g)
        assert row["sites"] == int((sites["country"] == name).sum())
        for p in (50, 95, 99):
            assert row[f"p{p}"] == pytest.approx(np.percentile(lat, p), rel=1e-12)
    # Countries come from the world's sites (the shipped city list): Tokyo is in Japan.
    assert country_of["Tokyo"] == "JP" and "JP" in two.summary["countries"]


def test_per_replication_figures_and_intervals(two: Results) -> None:
    reps = two.summary["replication_figures"]
    entry = two.summary["sites"]["Tokyo"]
    for r, figs in enumerate(reps):
        part = two.logins[two.logins["replication"] == r]
        one = site_figures(part, **_window(two)).set_index("site")
        assert figs["sites"]["Tokyo"]["p95"] == pytest.approx(one.loc["Tokyo", "p95"])
    values = [r["sites"]["Tokyo"]["p50"] for r in reps]
    ci = mean_ci(values)
    assert entry["ci95"]["p50"] == {"mean": ci.mean, "low": ci.low, "high": ci.high}
    assert set(reps[0]["by_region"]["asia"]) == {"mean", "p50", "p95", "p99"}


def test_one_replication_has_no_intervals() -> None:
    one = _run(1)
    assert all("ci95" not in s for s in one.summary["sites"].values())
    assert one.summary["replication_figures"][0]["sites"]["Tokyo"]["p50"] == \
        one.summary["sites"]["Tokyo"]["p50"]


def test_interval_shrinks_with_more_replications() -> None:
    def widths(res: Results) -> float:
        hw = [c["ci95"]["p95"]["high"] - c["ci95"]["p95"]["low"]
              for c in res.summary["countries"].values()
              if c["ci95"]["p95"]["low"] is not None]
        return float(np.mean(hw))

    assert widths(_run(8)) < widths(_run(3))


def test_empty_and_missing_columns() -> None:
    empty = site_figures(pd.DataFrame(), warmup_s=0.0, duration_s=1.0)
    assert len(empty) == 0 and "p95" in empty.columns
    logins = pd.DataFrame({"t_start_s": [1.0, 2.0, 3.0, 50.0],
                           "site": pd.Categorical(["A", "A", "B", "B"]),
                           "outcome": pd.Categorical(["ok", "failed", "failed", "ok"]),
                           "latency_ms": [10.0, 99.0, 5.0, 1.0]})
    frame = site_figures(logins, warmup_s=0.0, duration_s=10.0).set_index("site")
    assert frame.loc["A", "logins"] == 2 and frame.loc["A", "p50"] == 10.0
    assert frame.loc["B", "failed"] == 1 and math.isnan(frame.loc["B", "p50"])
    assert frame.loc["B", "failure_share"] == 1.0 and frame.loc["B", "country"] == ""


def test_shares_text_round_trip() -> None:
    text = format_shares({"access-lagos": 0.6234, "cache-johannesburg": 0.31, "x": 0.001})
    assert text == "access-lagos 0.62; cache-johannesburg 0.31"
    assert parse_shares(text) == {"access-lagos": 0.62, "cache-johannesburg": 0.31}
    assert parse_shares("") == {}


# --------------------------------------------------------------------------- sites.csv


def test_sites_csv_round_trip(two: Results, tmp_path: Path) -> None:
    out = two.save(tmp_path / "out")
    assert sorted(p.name for p in out.iterdir()) == [".access-sim-result", "logins.csv",
                                                     "node_load.csv", "sites.csv",
                                                     "summary.json"]
    header = (out / "sites.csv").read_text().splitlines()[0]
    assert header == ",".join(SITES_CSV_COLUMNS)
    back = Results.load(out).sites.set_index("site")
    here = two.sites.set_index("site")
    assert list(back.index) == list(here.index)
    for col in ("logins", "failed"):
        assert (back[col] == here[col]).all()
    for col in ("lat", "lon", "p50", "p95", "p99", "mean"):
        assert np.allclose(back[col], here[col], atol=5e-5, equal_nan=True), col
    assert (back["nodes"] == here["nodes"]).all()
    assert (back["country"] == here["country"]).all()
    assert back.loc["Tokyo", "node_shares"] == parse_shares(here.loc["Tokyo", "nodes"])


def test_old_folder_without_sites_still_loads(two: Results, tmp_path: Path) -> None:
    out = two.save(tmp_path / "old")
    (out / "sites.csv").unlink()
    summary = json.loads((out / "summary.json").read_text())
    for key in ("sites", "countries"):
        summary.pop(key)
    for r in summary["replication_figures"]:
        for key in ("sites", "countries", "by_region"):
            r.pop(key)
    (out / "summary.json").write_text(json.dumps(summary))
    old = Results.load(out)
    assert (old.sites["logins"].to_numpy() >= 1).all()  # from the logins
    assert int(old.sites["logins"].sum()) == two.summary["logins"]["attempted"]
    cmp = compare([out], sites=["Tokyo"])  # per replication, from the logins
    row = cmp.figure("latency_ms.by_site.Tokyo.p95")
    assert row["mean"].iloc[0] == pytest.approx(
        two.summary["sites"]["Tokyo"]["ci95"]["p95"]["mean"], rel=1e-6)
    # Without the per-login records nothing says what the sites were.
    (out / "logins.csv").unlink()
    summary["scenario_resolved"]["outputs"]["per_login"] = False
    (out / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(ScenarioError) as e:
        compare([out], sites=["Tokyo"])
    assert str(e.value) == (f"{out}: --site: the result has no per-site figures (written by "
                            "an older version without per-login records): run it again")


def test_damaged_sites_csv_is_refused(two: Results, tmp_path: Path) -> None:
    out = two.save(tmp_path / "bad")
    text = (out / "sites.csv").read_text().splitlines()
    cells = text[1].split(",")
    cells[SITES_CSV_COLUMNS.index("p95")] = "fast"
    (out / "sites.csv").write_text("\n".join([text[0], ",".join(cells), *text[2:]]) + "\n")
    with pytest.raises(ResultsError) as e:
        Results.load(out)
    assert str(e.value) == f"{out / 'sites.csv'}: p95: expected numbers, got 'fast'"


# --------------------------------------------------------------------------- compare


def _fake(name: str, p50: list[float], region_p50: list[float]) -> Results:
    """A result of hand-made per-replication figures (one site, one country, one region)."""
    reps = []
    for v, rv in zip(p50, region_p50):
        reps.append({"latency_ms": {"mean": 500.0, "p50": 400.0, "p90": 600.0, "p95": 700.0,
                                    "p99": 900.0},
                     "failure_share": 0.0, "spill_share": 0.0, "utilization": {},
                     "peak_utilization": {}, "by_region_p95": {"africa": rv + 300.0},
                     "by_region": {"africa": {"mean": rv, "p50": rv, "p95": rv + 300.0,
                                              "p99": rv + 600.0}},
                     "sites": {"Lagos": {"mean": v, "p50": v, "p95": v + 100.0,
                                         "p99": v + 200.0, "failure_share": 0.0}},
                     "countries": {"NG": {"mean": v, "p50": v, "p95": v + 100.0,
                                          "p99": v + 200.0, "failure_share": 0.0}}})
    summary = {"scenario": name, "replications": len(reps), "seed": 1,
               "logins": {"attempted": 1000}, "scenario_resolved": {"warmup": 0, "duration": 60},
               "replication_figures": reps, "sites": {"Lagos": {}}, "countries": {"NG": {}}}
    return Results(summary, pd.DataFrame(), pd.DataFrame())


GOLDEN_SITE_SECTION = """\
## Latency by region (ms)

| figure | scenario | mean [95% CI] | Δ vs before [95% CI] | p | significant |
|---|---|---:|---:|---:|:---:|
| africa p50 latency (ms) | before | 398.0 [395.5, 400.5] |  |  |  |
|  | after | 448.0 [445.5, 450.5] | +50.0 [+47.7, +52.3] | 4.26e-07 | **yes** |
| africa p95 latency (ms) | before | 698.0 [695.5, 700.5] |  |  |  |
|  | after | 748.0 [745.5, 750.5] | +50.0 [+47.7, +52.3] | 4.26e-07 | **yes** |
| africa p99 latency (ms) | before | 998.0 [995.5, 1000.5] |  |  |  |
|  | after | 1048.0 [1045.5, 1050.5] | +50.0 [+47.7, +52.3] | 4.26e-07 | **yes** |

## Latency by site (ms)

| figure | scenario | mean [95% CI] | Δ vs before [95% CI] | p | significant |
|---|---|---:|---:|---:|:---:|
| Lagos p50 latency (ms) | before | 300.0 [287.6, 312.4] |  |  |  |
|  | after | 302.0 [277.2, 326.8] | +2.0 [-18.8, +22.8] | 0.777 | no |
| Lagos p95 latency (ms) | before | 400.0 [387.6, 412.4] |  |  |  |
|  | after | 402.0 [377.2, 426.8] | +2.0 [-18.8, +22.8] | 0.777 | no |
| Lagos p99 latency (ms) | before | 500.0 [487.6, 512.4] |  |  |  |
|  | after | 502.0 [477.2, 526.8] | +2.0 [-18.8, +22.8] | 0.777 | no |

## Latency by country (ms)

| figure | scenario | mean [95% CI] | Δ vs before [95% CI] | p | significant |
|---|---|---:|---:|---:|:---:|
| NG p50 latency (ms) | before | 300.0 [287.6, 312.4] |  |  |  |
|  | after | 302.0 [277.2, 326.8] | +2.0 [-18.8, +22.8] | 0.777 | no |
| NG p95 latency (ms) | before | 400.0 [387.6, 412.4] |  |  |  |
|  | after | 402.0 [377.2, 426.8] | +2.0 [-18.8, +22.8] | 0.777 | no |
| NG p99 latency (ms) | before | 500.0 [487.6, 512.4] |  |  |  |
|  | after | 502.0 [477.2, 526.8] | +2.0 [-18.8, +22.8] | 0.777 | no |
"""


def test_compare_site_and_country_rendering_golden() -> None:
    # East Africa's p50 got worse when a node was added (398 -> 448 ms): compare shows p50
    # per region, not only p95; and the named site and country side by side.
    before = _fake("before", [295.0, 300.0, 305.0], [397.0, 398.0, 399.0])
    after = _fake("after", [292.0, 302.0, 312.0], [447.0, 448.0, 449.0])
    cmp = Comparison(["before", "after"], ["a.yaml", "b.yaml"], [before, after],
                     sites=["Lagos"], countries=["NG"])
    md = cmp.to_markdown(nodes=False)
    start = md.index("## Latency by region (ms)")
    assert md[start:] == GOLDEN_SITE_SECTION
    # Checked by hand: Welch's df for the site is 2.94, t(0.975, 2.94) * 6.455 = 20.78 ms;
    # the interval is the t interval of the per-replication values.
    row = cmp.table[(cmp.table["figure"] == "latency_ms.by_site.Lagos.p50")
                    & (cmp.table["scenario"] == "after")].iloc[0]
    ci = mean_ci([292.0, 302.0, 312.0])
    assert (row["mean"], row["ci_low"], row["ci_high"]) == pytest.approx(
        (ci.mean, ci.low, ci.high), abs=1e-6)
    assert cmp.to_json()["sites"] == ["Lagos"]


def test_compare_cli_site_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    common = [str(TINY), "--set", "duration=1m", "--set", "warmup=10s", "--jobs", "1",
              "--out", str(tmp_path / "c"), "--no-figures", "--quiet"]
    cases = [
        (["--site", "Tokio"], f"error: {TINY}: --site: no site 'Tokio' (did you mean "
                              "'Tokyo'?)"),
        (["--site", "Atlantis"], f"error: {TINY}: --site: no site 'Atlantis'"),
        (["--country", "ZZ"], f"error: {TINY}: --country: no country 'ZZ'"),
        (["--window", "5m"], "error: --window: expected 'event' or START-END such as "
                             "20m-40m, got '5m'"),
        (["--window", "3m-1m"], "error: --window: the window '3m-1m' ends before it starts"),
        (["--window", "event"], "error: --window: no scenario schedules an event (events:): "
                                "give a window such as 20m-40m"),
    ]
    for extra, message in cases:
        rc = main(["compare", *common, *extra])
        err = capsys.readouterr().err
        assert rc == 2, err
        assert err.strip().splitlines() == [message.replace(str(TINY), _shown(TINY))]
    assert not (tmp_path / "c").exists()  # refused before anything ran


def _shown(path: Path) -> str:
    from sim.config.messages import shown
    return shown(path)


def test_compare_cli_site_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "c"
    rc = main(["compare", str(TINY), str(SCENARIOS / "tiny-busy-singapore.yaml"),
               "--set", "duration=2m", "--set", "warmup=30s", "--replications", "2",
               "--jobs", "1", "--out", str(out), "--no-figures", "--site", "tokyo",
               "--site", "Mumbai", "--country", "in"])
    assert rc == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "## Latency by site (ms)" in printed and "## Latency by country (ms)" in printed
    assert "| Tokyo p50 latency (ms) | tiny |" in printed  # as the scenario spells it
    assert "| IN p99 latency (ms) | tiny |" in printed
    saved = Results.load(out / "runs" / "tiny")
    values = [r["sites"]["Mumbai"]["p95"] for r in saved.summary["replication_figures"]]
    table = pd.read_csv(out / "comparison.csv")
    row = table[(table["figure"] == "latency_ms.by_site.Mumbai.p95")
                & (table["scenario"] == "tiny")].iloc[0]
    assert row["mean"] == pytest.approx(np.mean(values), abs=1e-6)
    assert row["label"] == "Mumbai p95 latency (ms)"


def test_compare_event_window(tmp_path: Path) -> None:
    event = {"at": "60s", "for": "30s", "node_down": "access-singapore"}
    cmp = compare([TINY], overrides={**SHORT, "events": [event]}, replications=2, jobs=1,
                  windows=["event", "40s-50s"])
    labels = [w.label for w in cmp.windows]
    assert labels == ["node_down access-singapore 1m-1m30s", "40s-50s"]
    res = cmp.results["tiny"]
    t = res.logins["t_start_s"].to_numpy()
    sc = res.summary["scenario_resolved"]
    for r in (0, 1):
        mine = (res.logins["replication"].to_numpy() == r) & (t >= sc["warmup"]) \
            & (t < sc["duration"])
        ok = (res.logins["outcome"] == "ok").to_numpy()
        during = mine & (t >= 60) & (t < 90)
        lat = res.logins["latency_ms"].to_numpy(dtype=float)
        got = cmp.replicates[(cmp.replicates["replication"] == r) & (
            cmp.replicates["figure"] == f"latency_ms.window.{labels[0]}.during.p95")]
        assert got["value"].iloc[0] == pytest.approx(np.percentile(lat[during & ok], 95))
        outside = cmp.replicates[(cmp.replicates["replication"] == r) & (
            cmp.replicates["figure"] == f"logins.window.{labels[0]}.outside.failure_share")]
        n_out = (mine & ~during).sum()
        assert outside["value"].iloc[0] == pytest.approx(
            (mine & ~during & ~ok).sum() / n_out)
    md = cmp.to_markdown(nodes=False)
    assert f"| p95 latency (ms) during {labels[0]} | tiny |" in md
    assert "| failure share outside 40s-50s | tiny |" in md


def test_window_parsing() -> None:
    assert parse_window("event") == "event"
    assert parse_window("20m-40m") == TimeWindow("20m-40m", 1200.0, 2400.0)
    assert parse_window("90-1h") == TimeWindow("1m30s-1h", 90.0, 3600.0)
    instant = {"scenario_resolved": {"events": [{"at": 120.0, "node_down": "a"},
                                                {"at": 60.0, "for": 30.0, "node_up": "a"}]}}
    assert event_windows([instant, instant]) == [
        TimeWindow("node_up a 1m-1m30s", 60.0, 90.0),
        TimeWindow("node_down a 2m-12m", 120.0, 720.0)]


def test_compare_reads_old_and_new_folders(two: Results, tmp_path: Path) -> None:
    out = two.save(tmp_path / "new")
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    cmp = compare([out, copy], countries=["JP"])
    rows = cmp.figure("latency_ms.by_country.JP.p50")
    assert rows["diff"].iloc[1] == 0.0
    assert rows["mean"].iloc[0] == pytest.approx(
        two.summary["countries"]["JP"]["ci95"]["p50"]["mean"])
