"""Figures from a hand-built ``Results`` (the simulator is never run here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

matplotlib.use("Agg")  # before pyplot: tests must not need a display

import matplotlib.pyplot as plt

from sim.views import plots
from sim.analysis.results import Results

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
WARMUP_S = 300.0
DURATION_S = 3600.0
REGIONS = ("asia", "europe")
NODES = {  # node -> (kind, region, [lat, lon])
    "fra-1": ("access", "europe", [50.11, 8.68]),
    "sin-1": ("access", "asia", [1.35, 103.82]),
    "ams-dc": ("datacenter", "europe", [52.37, 4.90]),
}
SITES = {  # site -> (region, lat, lon, usual node)
    "Berlin": ("europe", 52.52, 13.40, "fra-1"),
    "Paris": ("europe", 48.85, 2.35, "fra-1"),
    "Madrid": ("europe", 40.42, -3.70, "fra-1"),
    "Tokyo": ("asia", 35.68, 139.69, "sin-1"),
    "Jakarta": ("asia", -6.21, 106.85, "sin-1"),
    "Auckland": ("asia", -36.85, 174.76, "sin-1"),
}
EVENTS = [{"at": 1200.0, "for": 600.0, "node_down": "fra-1"}]


def make_results(n_logins: int = 400, *, per_login: bool = True, replications: int = 2,
                 seed: int = 1) -> Results:
    """A small synthetic run: 2 regions, 6 sites, 3 nodes, one node_down event."""
    rng = np.random.default_rng(seed)
    site_names = list(SITES)
    site_idx = rng.integers(0, len(site_names), n_logins)
    sites = [site_names[i] for i in site_idx]
    region = [SITES[s][0] for s in sites]
    ok = rng.random(n_logins) < 0.9
    usual = np.array([SITES[s][3] for s in sites], dtype=object)
    other = rng.random(n_logins) < 0.2
    node = np.where(other, "ams-dc", usual)
    node = np.where(ok, node, "")
    latency = np.where(ok, rng.lognormal(np.log(150.0), 0.6, n_logins), np.nan)
    logins = pd.DataFrame({
        "login_id": np.arange(n_logins),
        "t_start_s": np.sort(rng.uniform(0.0, DURATION_S + 200.0, n_logins)),
        "site": pd.Categorical(sites),
        "region": pd.Categorical(region),
        "terminal_lat": [SITES[s][1] for s in sites],
        "terminal_lon": [SITES[s][2] for s in sites],
        "access_type": pd.Categorical(rng.choice(["wifi", "4g"], n_logins)),
        "node": pd.Categorical(node),
        "node_kind": pd.Categorical([NODES[n][0] if n else "" for n in node]),
        "decided_by": pd.Categorical(rng.choice(["dns", "sdk"], n_logins)),
        "attempts": np.where(ok, 1, 3),
        "outcome": pd.Categorical(np.where(ok, "ok", "failed"), categories=["ok", "failed"]),
        "latency_ms": latency,
        "connect_ms": latency * 0.3,
        "queue_ms": latency * 0.1,
        "service_ms": latency * 0.2,
        "backend_ms": latency * 0.4,
        "dns_ms": np.full(n_logins, 5.0),
        "rtt_ms": latency * 0.2,
        "best_rtt_ms": latency * 0.15,
        "last_mile_ms": np.full(n_logins, 10.0),
        "user": rng.integers(0, 50, n_logins),
        "replication": rng.integers(0, replications, n_logins),
    })
    t = np.arange(0.0, DURATION_S + 1, 60.0)
    rows = []
    for r in range(replications):
        for i, node_id in enumerate(NODES):
            util = 0.2 + 0.25 * i + 0.05 * r + 0.02 * np.sin(t / 600.0)
            rows.append(pd.DataFrame({
                "t_s": t, "node": node_id, "connections": (util * 100).round(),
                "logins_per_s": util * 3, "queue_len": util * 2, "utilization": util,
                "replication": r}))
    node_load = pd.concat(rows, ignore_index=True)
    stats = {"mean": 180.0, "p50": 150.0, "p90": 350.0, "p95": 400.0, "p99": 600.0}
    summary = {
        "scenario": "synthetic-test",
        "seed": seed,
        "replications": replications,
        "version": "test",
        "logins": {"attempted": n_logins, "succeeded": int(ok.sum()),
                   "failed": int((~ok).sum()), "failure_share": float((~ok).mean())},
        "latency_ms": {"logins": int(ok.sum()), **stats, "by_region": {
            r: {"logins": 10, **stats} for r in REGIONS}},
        "nodes": {n: {"kind": k, "region": reg, "logins": 100, "peak_connections": 10,
                      "utilization": 0.5, "mean_wait_ms": 1.0, "rejected": 0}
                  for n, (k, reg, _) in NODES.items()},
        "addressing": {"decided_by": {"dns": 0.5, "sdk": 0.5}, "lowest_rtt_share": 0.8,
                       "excess_rtt_ms": {"mean": 5.0}, "spill_share": 0.0},
        "replication_figures": [
            {"latency_ms": stats, "failure_share": 0.1, "spill_share": 0.0,
             "utilization": {n: 0.5 for n in NODES}, "by_region_p95": {r: 400.0 for r in REGIONS}}
            for _ in range(replications)],
        "node_coords": {n: c for n, (_, _, c) in NODES.items()},
        "scenario_resolved": {"name": "synthetic-test", "warmup": WARMUP_S,
                              "duration": DURATION_S, "events": EVENTS,
                              "outputs": {"per_login": per_login}},
    }
    if not per_login:
        logins = pd.DataFrame()
    return Results(summary, logins, node_load)


@pytest.fixture
def results() -> Results:
    return make_results()


def new_axes() -> Axes:
    return Figure(layout="constrained").add_subplot()


def legend_texts(ax: Axes) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None
    return [t.get_text() for t in legend.get_texts()]


# --------------------------------------------------------------------------- save_figures


def test_save_figures_writes_four_pngs(results: Results, tmp_path: Path) -> None:
    before = len(plt.get_fignums())
    written = plots.save_figures(results, tmp_path)
    assert [p.name for p in written] == list(plots.FIGURE_FILES)
    for path in written:
        assert path.parent == tmp_path / "figures"
        data = path.read_bytes()
        assert data[:8] == PNG_MAGIC, path.name
        assert len(data) > 10_000, path.name
    assert len(plt.get_fignums()) == before  # no pyplot figure leaked


def test_save_figures_without_logins_skips_login_figures(tmp_path: Path) -> None:
    before = len(plt.get_fignums())
    written = plots.save_figures(make_results(per_login=False), tmp_path)
    assert [p.name for p in written] == ["node_load.png", "map.png"]
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == \
        ["map.png", "node_load.png"]
    assert len(plt.get_fignums()) == before


def test_save_figures_is_deterministic(results: Results, tmp_path: Path) -> None:
    first = plots.save_figures(results, tmp_path / "a")
    second = plots.save_figures(results, tmp_path / "b")
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


def test_figures_from_a_saved_and_loaded_result(results: Results, tmp_path: Path) -> None:
    loaded = Results.load(results.save(tmp_path / "run"))
    fresh_ax = plots.plot_latency_cdf(results, ax=new_axes())
    loaded_ax = plots.plot_latency_cdf(loaded, ax=new_axes())
    assert legend_texts(loaded_ax) == legend_texts(fresh_ax)
    assert legend_texts(plots.plot_map(loaded, ax=new_axes())) == \
        legend_texts(plots.plot_map(results, ax=new_axes()))
    names = [p.name for p in plots.save_figures(loaded, tmp_path / "out")]
    assert names == list(plots.FIGURE_FILES)


# --------------------------------------------------------------------------- latency CDF


def test_cdf_has_overall_plus_one_line_per_region(results: Results) -> None:
    ax = plots.plot_latency_cdf(results, ax=new_axes())
    assert isinstance(ax, Axes)
    assert len(ax.lines) == 1 + len(REGIONS)
    labels = legend_texts(ax)
    assert labels[0].startswith("all regions")
    assert [lab.split(" ")[0] for lab in labels[1:]] == sorted(REGIONS)
    assert ax.get_xscale() == "log"
    assert "ms" in ax.get_xlabel() and ax.get_ylabel() == "share of logins"
    assert "synthetic-test" in ax.get_title()
    marks = [t.get_text() for t in ax.texts]
    assert [m.split(" ")[0] for m in marks] == ["p50", "p95", "p99"]


def test_cdf_counts_only_successful_logins_in_window(results: Results) -> None:
    ax = plots.plot_latency_cdf(results, ax=new_axes(), by_region=False)
    assert len(ax.lines) == 1
    L = results.logins
    expected = int(((L["t_start_s"] >= WARMUP_S) & (L["t_start_s"] < DURATION_S)
                    & (L["outcome"] == "ok")).sum())
    assert legend_texts(ax) == [f"all regions (n={expected:,})"]
    y = np.asarray(ax.lines[0].get_ydata())
    assert y[-1] == pytest.approx(1.0) and np.all(np.diff(y) >= 0)


def test_cdf_percentile_marks_match_numpy(results: Results) -> None:
    ax = plots.plot_latency_cdf(results, ax=new_axes())
    L = results.logins
    win = L[(L["t_start_s"] >= WARMUP_S) & (L["t_start_s"] < DURATION_S) & (L["outcome"] == "ok")]
    p95 = np.percentile(win["latency_ms"], 95)
    marks = np.asarray(ax.collections[0].get_offsets())
    assert marks[1][0] == pytest.approx(p95) and marks[1][1] == pytest.approx(0.95)


def test_cdf_by_region_small_multiples(results: Results) -> None:
    fig = plots.plot_latency_cdf_by_region(results, fig=Figure(layout="constrained"))
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == sorted(REGIONS)
    assert all(len(ax.lines) == 2 for ax in panels)
    assert "synthetic-test" in fig.get_suptitle()


def test_cdf_without_logins_draws_a_note() -> None:
    ax = plots.plot_latency_cdf(make_results(per_login=False), ax=new_axes())
    assert len(ax.lines) == 0
    assert "no successful logins" in ax.texts[0].get_text()


def test_cdf_creates_its_own_figure_when_no_axes(results: Results) -> None:
    before = set(plt.get_fignums())
    ax = plots.plot_latency_cdf(results)
    try:
        assert isinstance(ax, Axes) and len(ax.lines) == 3
    finally:
        plt.close(ax.figure)  # type: ignore[arg-type]
    assert set(plt.get_fignums()) == before


# --------------------------------------------------------------------------- node load


def node_lines(ax: Axes) -> list[str]:
    return [str(line.get_label()) for line in ax.lines if line.get_label() != "_event"]


def test_node_load_draws_busiest_nodes_and_events(results: Results) -> None:
    ax = plots.plot_node_load(results, ax=new_axes(), top=2)
    # Utilization rises with the node's position in NODES: ams-dc, then sin-1.
    assert node_lines(ax) == ["ams-dc (datacenter)", "sin-1 (access)"]
    assert legend_texts(ax) == ["ams-dc (datacenter)", "sin-1 (access)"]
    assert sum(line.get_label() == "_event" for line in ax.lines) == len(EVENTS)
    texts = [t.get_text() for t in ax.texts]
    assert any("node down fra-1" in t and "10 min" in t for t in texts)
    assert "warm-up" in texts
    assert ax.get_xlabel() == "time since start (min)"
    assert "utilization" in ax.get_ylabel()
    assert ax.get_xlim() == pytest.approx((0.0, DURATION_S / 60.0))


def test_node_load_averages_replications_and_uses_minutes(results: Results) -> None:
    ax = plots.plot_node_load(results, ax=new_axes(), top=3, metric="connections")
    assert len(node_lines(ax)) == 3
    line = next(ln for ln in ax.lines if str(ln.get_label()).startswith("fra-1"))
    nl = results.node_load
    expected = nl[nl["node"] == "fra-1"].groupby("t_s")["connections"].mean()
    np.testing.assert_allclose(np.asarray(line.get_xdata()), expected.index.to_numpy() / 60.0)
    np.testing.assert_allclose(np.asarray(line.get_ydata()), expected.to_numpy())


@pytest.mark.parametrize("kwargs", [{"top": 0}, {"metric": "latency"}])
def test_node_load_rejects_bad_arguments(results: Results, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        plots.plot_node_load(results, ax=new_axes(), **kwargs)  # type: ignore[arg-type]


def test_node_load_labels_every_event_kind(results: Results) -> None:
    results.summary["scenario_resolved"]["events"] = [
        {"at": 600.0, "node_down": "sin-1"},
        {"at": 900.0, "node_up": "sin-1"},
        {"at": 1500.0, "for": 300.0, "region_outage": "europe"},
        {"at": 2400.0, "for": 600.0, "flash_crowd": {"region": "asia", "multiplier": 5.0}},
    ]
    ax = plots.plot_node_load(results, ax=new_axes())
    texts = " | ".join(t.get_text() for t in ax.texts)
    for part in ("node down sin-1", "node up sin-1", "region outage europe",
                 "flash crowd asia ×5"):
        assert part in texts
    assert sum(line.get_label() == "_event" for line in ax.lines) == 4


# --------------------------------------------------------------------------- map


def test_map_draws_land_nodes_sites_and_links(results: Results) -> None:
    ax = plots.plot_map(results, ax=new_axes())
    labels = legend_texts(ax)
    assert labels[0] == f"sites ({len(SITES)}; area ∝ logins)"
    assert labels[1].startswith("site → node")
    assert labels[2:] == ["access node (2)", "datacenter node (1)"]
    assert ax.get_xlim() == (-180.0, 180.0)
    assert "longitude" in ax.get_xlabel() and "latitude" in ax.get_ylabel()
    land = ax.collections[0]
    assert len(land.get_paths()) > 100  # Natural Earth 1:110m land
    # Auckland -> Singapore does not cross the antimeridian: one segment per site.
    links = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(links) == 1 and len(links[0].get_segments()) == len(SITES)


def test_map_skips_nodes_without_coordinates(results: Results) -> None:
    del results.summary["node_coords"]["sin-1"]
    ax = plots.plot_map(results, ax=new_axes())
    labels = legend_texts(ax)
    assert "access node (1)" in labels
    links = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(links[0].get_segments()) == 3  # the European sites only


def test_map_without_logins_or_coordinates() -> None:
    res = make_results(per_login=False)
    ax = plots.plot_map(res, ax=new_axes())
    assert legend_texts(ax) == ["access node (2)", "datacenter node (1)"]
    del res.summary["node_coords"]
    ax = plots.plot_map(res, ax=new_axes())
    assert ax.get_legend() is None


def test_links_take_the_short_way_across_the_antimeridian() -> None:
    segs = plots._split_antimeridian(170.0, -40.0, -170.0, -20.0)
    assert segs == [[(170.0, -40.0), (180.0, -30.0)], [(-180.0, -30.0), (-170.0, -20.0)]]
    assert plots._split_antimeridian(10.0, 0.0, 20.0, 5.0) == [[(10.0, 0.0), (20.0, 5.0)]]


# --------------------------------------------------------------------------- layering


def test_plots_import_neither_engine_nor_pyplot() -> None:
    code = ("import sys, sim.views.plots; "
            "bad = [m for m in ('sim.engine.loop', 'sim.config.schema', 'sim.model.world', "
            "'matplotlib.pyplot') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parents[1])
    assert out.stdout.strip() == "[]"
