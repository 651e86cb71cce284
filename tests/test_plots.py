"""Figures read back from the Matplotlib objects: titles, axis labels with units, colour bars,
legends that match what is drawn, which nodes are labelled and that labels do not overlap.

Most tests use a hand-built ``Results`` (the simulator is not run); the map and heat map are
also drawn once per module from a short run of the tiny scenario with a node failure.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PathCollection, QuadMesh
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

matplotlib.use("Agg")  # before pyplot: tests must not need a display

import matplotlib.pyplot as plt

import sim
from sim.analysis.results import Results
from sim.runs.compare import Comparison
from sim.views import plots
from tests.conftest import SCENARIOS

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
                 seed: int = 1, levels: Sequence[str] = ("dns", "sdk"),
                 p95_ms: Sequence[float] | None = None) -> Results:
    """A small synthetic run: 2 regions, 6 sites, 3 nodes, one node_down event; the logins
    decided by ``levels``; ``p95_ms`` the per-replication p95 (default 400 ms each)."""
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
        "decided_by": pd.Categorical(rng.choice(list(levels), n_logins)),
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
            {"latency_ms": {**stats, "p95": p95}, "failure_share": 0.1, "spill_share": 0.0,
             "utilization": {n: 0.5 for n in NODES}, "by_region_p95": {r: 400.0 for r in REGIONS}}
            for p95 in (p95_ms if p95_ms is not None else [400.0] * replications)],
        "node_coords": {n: c for n, (_, _, c) in NODES.items()},
        "scenario_resolved": {"name": "synthetic-test", "warmup": WARMUP_S,
                              "home_datacenter": "ams-dc",
                              "duration": DURATION_S, "events": EVENTS,
                              "outputs": {"per_login": per_login}},
    }
    if not per_login:
        logins = pd.DataFrame()
    return Results(summary, logins, node_load)


@pytest.fixture
def results() -> Results:
    return make_results()


TINY_OUTAGE = {"at": "2m", "for": "1m", "node_down": "access-london"}


@pytest.fixture(scope="module")
def tiny() -> Results:
    """Four simulated minutes of the tiny scenario with a node failure (built once)."""
    return sim.run(SCENARIOS / "tiny.yaml", overrides={
        "duration": "4m", "warmup": "1m", "events": [TINY_OUTAGE], "outputs.figures": False})


def agg_figure(size: tuple[float, float] = (6.4, 4.8)) -> Figure:
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def new_axes() -> Axes:
    return agg_figure().add_subplot()


@pytest.fixture(scope="module")
def tiny_map(tiny: Results) -> Axes:
    """The tiny run's map, drawn as ``save_figures`` draws it, then rendered once."""
    fig = agg_figure((12.0, 10.6))
    ax = plots.plot_map(tiny, ax=fig.add_subplot())
    fig.canvas.draw()
    return ax


def legend_texts(ax: Axes) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None
    return [t.get_text() for t in legend.get_texts()]


def legend_handle(ax: Axes, label: str) -> object:
    legend = ax.get_legend()
    assert legend is not None
    for handle, text in zip(legend.legend_handles, legend.get_texts()):
        if text.get_text() == label:
            return handle
    raise AssertionError(f"no legend entry {label!r}")


def window_logins(res: Results) -> pd.DataFrame:
    sc = res.summary["scenario_resolved"]
    L = res.logins
    return L[(L["t_start_s"] >= sc["warmup"]) & (L["t_start_s"] < sc["duration"])]


def label_boxes(ax: Axes) -> list[tuple[str, object]]:
    renderer = ax.figure.canvas.get_renderer()  # type: ignore[attr-defined]
    return [(t.get_text(), t.get_window_extent(renderer)) for t in ax.texts
            if str(t.get_gid() or "").startswith("node:")]


def map_insets(ax: Axes) -> list[Axes]:
    return [a for a in ax.figure.axes if str(a.get_gid() or "").startswith("inset:")]


# --------------------------------------------------------------------------- save_figures


def test_save_figures_writes_every_figure_the_same_each_time(results: Results,
                                                             tmp_path: Path) -> None:
    before = len(plt.get_fignums())
    skipped: list[tuple[str, str]] = []
    written = plots.save_figures(results, tmp_path / "a", on_skip=lambda *a: skipped.append(a))
    assert [p.name for p in written] == list(plots.FIGURE_FILES)
    assert skipped == []
    for path in written:
        assert path.parent == tmp_path / "a" / "figures"
        data = path.read_bytes()
        assert data[:8] == PNG_MAGIC, path.name
        assert len(data) > 10_000, path.name
    assert len(plt.get_fignums()) == before  # no pyplot figure leaked
    again = plots.save_figures(results, tmp_path / "b")
    assert [p.read_bytes() for p in written] == [p.read_bytes() for p in again]


def test_save_figures_without_logins_skips_login_figures(tmp_path: Path) -> None:
    before = len(plt.get_fignums())
    skipped: list[tuple[str, str]] = []
    written = plots.save_figures(make_results(per_login=False), tmp_path,
                                 on_skip=lambda *a: skipped.append(a))
    assert [p.name for p in written] == ["node_load.png", "map.png"]
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == \
        ["map.png", "node_load.png"]
    assert skipped == [("latency_cdf.png", "no per-login records"),
                       ("latency_cdf_by_region.png", "no per-login records"),
                       ("decided_by.png", "no per-login records")]
    assert len(plt.get_fignums()) == before


def test_decided_by_is_skipped_when_one_level_decides_everything(tmp_path: Path) -> None:
    # A stale decided_by.png of an earlier run in the folder must not survive either.
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "decided_by.png").write_bytes(PNG_MAGIC)
    skipped: list[tuple[str, str]] = []
    one = make_results(levels=("dns",))
    assert plots.deciding_levels(one) == ["dns"]
    written = plots.save_figures(one, tmp_path, on_skip=lambda *a: skipped.append(a))
    assert [p.name for p in written] == [n for n in plots.FIGURE_FILES if n != "decided_by.png"]
    assert skipped == [("decided_by.png", "only one addressing level decided (dns)")]
    assert not (tmp_path / "figures" / "decided_by.png").exists()


def test_the_run_command_says_which_figure_it_skipped(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from sim.cli import main

    out = tmp_path / "run"
    assert main(["run", str(SCENARIOS / "tiny.yaml"), "--set", "duration=90s", "--set",
                 "warmup=30s", "--set", "addressing.strategy=round_robin", "--out",
                 str(out)]) == 0
    captured = capsys.readouterr()
    assert ("no figures/decided_by.png: only one addressing level decided (round_robin)"
            in captured.out + captured.err)
    assert sorted(p.name for p in (out / "figures").iterdir()) == sorted(
        n for n in plots.FIGURE_FILES if n != "decided_by.png")


def test_figures_from_a_saved_and_loaded_result(results: Results, tmp_path: Path) -> None:
    loaded = Results.load(results.save(tmp_path / "run"))
    fresh_ax = plots.plot_latency_cdf(results, ax=new_axes())
    loaded_ax = plots.plot_latency_cdf(loaded, ax=new_axes())
    assert legend_texts(loaded_ax) == legend_texts(fresh_ax)
    fresh_map = plots.plot_map(results, ax=new_axes())
    loaded_map = plots.plot_map(loaded, ax=new_axes())
    assert legend_texts(loaded_map) == legend_texts(fresh_map)
    assert plots.node_labels(loaded_map) == plots.node_labels(fresh_map)
    np.testing.assert_allclose(np.asarray(_site_scatter(loaded_map).get_array()),
                               np.asarray(_site_scatter(fresh_map).get_array()))


# --------------------------------------------------------------------------- latency CDF


def test_cdf_has_overall_plus_one_line_per_region(results: Results) -> None:
    ax = plots.plot_latency_cdf(results, ax=new_axes())
    assert isinstance(ax, Axes)
    assert len(ax.lines) == 1 + len(REGIONS)
    labels = legend_texts(ax)
    assert labels[0].startswith("all regions")
    assert [lab.split(" ")[0] for lab in labels[1:]] == sorted(REGIONS)
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "login latency (ms)" and ax.get_ylabel() == "share of logins"
    assert ax.get_title() == ("synthetic-test: login latency (successful logins, "
                              "measurement window)")
    marks = [t.get_text() for t in ax.texts]
    assert [m.split(" ")[0] for m in marks] == ["p50", "p95", "p99"]
    # The legend's colours are the lines' colours.
    legend = ax.get_legend()
    assert legend is not None
    assert [h.get_color() for h in legend.legend_handles] == [ln.get_color() for ln in ax.lines]


def test_cdf_counts_only_successful_logins_in_window(results: Results) -> None:
    ax = plots.plot_latency_cdf(results, ax=new_axes(), by_region=False)
    assert len(ax.lines) == 1
    expected = int((window_logins(results)["outcome"] == "ok").sum())
    assert legend_texts(ax) == [f"all regions (n={expected:,})"]
    y = np.asarray(ax.lines[0].get_ydata())
    assert y[-1] == pytest.approx(1.0) and np.all(np.diff(y) >= 0)


def test_cdf_percentile_marks_match_numpy(results: Results) -> None:
    ax = plots.plot_latency_cdf(results, ax=new_axes())
    win = window_logins(results)
    p95 = np.percentile(win.loc[win["outcome"] == "ok", "latency_ms"], 95)
    marks = np.asarray(ax.collections[0].get_offsets())
    assert marks[1][0] == pytest.approx(p95) and marks[1][1] == pytest.approx(0.95)


def test_cdf_by_region_small_multiples(results: Results) -> None:
    fig = plots.plot_latency_cdf_by_region(results, fig=agg_figure())
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == sorted(REGIONS)
    assert all(len(ax.lines) == 2 for ax in panels)
    assert fig.get_suptitle() == "synthetic-test: login latency by region (grey: all regions)"
    assert [ax.get_xlabel() for ax in panels] == ["login latency (ms)"] * len(panels)


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


def heat_map(ax: Axes) -> QuadMesh:
    (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
    return mesh


def mean_over_replications(res: Results, metric: str) -> pd.DataFrame:
    """Independently of the plot: ``node x t_s`` table of the metric's replication mean."""
    return res.node_load.pivot_table(index="node", columns="t_s", values=metric,
                                     aggfunc="mean")


def test_node_load_heat_map_in_percent(results: Results) -> None:
    ax = plots.plot_node_load(results, ax=new_axes(), top=2)
    assert ax.get_title().startswith("synthetic-test: utilisation of the 2 busiest nodes")
    assert ax.get_xlabel() == "time since start (min)"
    # Utilisation rises with the node's position in NODES: ams-dc, then sin-1 (top row first).
    assert [t.get_text() for t in ax.get_yticklabels()] == ["ams-dc", "sin-1"]
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # the busiest on top
    mesh = heat_map(ax)
    assert mesh.colorbar is not None
    assert mesh.colorbar.ax.get_ylabel() == "utilisation (% of workers busy)"
    assert mesh.get_clim() == (0.0, 100.0)
    expected = mean_over_replications(results, "utilization").loc[["ams-dc", "sin-1"]] * 100
    np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(2, -1), expected.to_numpy())
    # Each cell is the sample interval before its sample: the last edge is the last sample.
    x_edges = mesh.get_coordinates()[0, :, 0]
    np.testing.assert_allclose(x_edges[1:], expected.columns.to_numpy() / 60.0)
    assert ax.get_xlim() == pytest.approx((0.0, DURATION_S / 60.0))


def test_node_load_heat_map_lists_window_mean_and_peak(results: Results) -> None:
    ax = plots.plot_node_load(results, ax=new_axes(), top=3)
    (right,) = ax.child_axes
    table = mean_over_replications(results, "utilization") * 100
    inside = table.loc[:, (table.columns > WARMUP_S) & (table.columns <= DURATION_S)]
    nodes = [t.get_text() for t in ax.get_yticklabels()]
    expected = [f"{inside.loc[n].mean():.0f}% / {inside.loc[n].max():.0f}%" for n in nodes]
    assert [t.get_text() for t in right.get_yticklabels()] == expected
    assert right.get_ylabel() == "mean / peak in the measurement window"


def test_node_load_heat_map_marks_events_and_warmup(results: Results) -> None:
    ax = plots.plot_node_load(results, ax=new_axes())
    assert sum(line.get_label() == "_event" for line in ax.lines) == len(EVENTS)
    texts = [t.get_text() for t in ax.texts]
    assert "node down fra-1 (10 min)" in texts and "warm-up" in texts
    # The outage outlined (not a fill over the colours), from its start to its end.
    spans = [p for p in ax.patches if p.get_edgecolor()[:3] == to_rgba("#d62728")[:3]]
    assert len(spans) == 1 and spans[0].get_facecolor()[3] == 0.0
    x = spans[0].get_path().vertices[:, 0]  # type: ignore[attr-defined]
    xs = spans[0].get_transform().transform(spans[0].get_path().vertices)[:, 0]
    assert len(x) and xs.min() < xs.max()
    # Event labels stand above the map, clear of the title.
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    (label,) = [t for t in ax.texts if t.get_text().startswith("node down")]
    box = label.get_window_extent(renderer)
    assert box.y0 >= ax.get_window_extent(renderer).y1 - 1
    assert not box.overlaps(ax.title.get_window_extent(renderer))


def test_node_load_lines_in_percent(results: Results) -> None:
    ax = plots.plot_node_load(results, ax=new_axes(), top=2, style="lines")
    assert node_lines(ax) == ["ams-dc (datacenter)", "sin-1 (access)"]
    assert legend_texts(ax) == ["ams-dc (datacenter)", "sin-1 (access)"]
    assert sum(line.get_label() == "_event" for line in ax.lines) == len(EVENTS)
    texts = [t.get_text() for t in ax.texts]
    assert "node down fra-1 (10 min)" in texts and "warm-up" in texts
    assert ax.get_xlabel() == "time since start (min)"
    assert ax.get_ylabel() == "utilisation (% of workers busy)"
    expected = mean_over_replications(results, "utilization").loc["ams-dc"] * 100
    np.testing.assert_allclose(np.asarray(ax.lines[0].get_ydata()), expected.to_numpy())


def test_node_load_averages_replications_and_uses_minutes(results: Results) -> None:
    ax = plots.plot_node_load(results, ax=new_axes(), top=3, metric="connections",
                              style="lines")
    assert len(node_lines(ax)) == 3
    assert ax.get_ylabel() == "open connections (count)"
    line = next(ln for ln in ax.lines if str(ln.get_label()).startswith("fra-1"))
    expected = mean_over_replications(results, "connections").loc["fra-1"]
    np.testing.assert_allclose(np.asarray(line.get_xdata()), expected.index.to_numpy() / 60.0)
    np.testing.assert_allclose(np.asarray(line.get_ydata()), expected.to_numpy())


@pytest.mark.parametrize("kwargs", [{"top": 0}, {"metric": "latency"}, {"style": "pie"}])
def test_node_load_rejects_bad_arguments(results: Results, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        plots.plot_node_load(results, ax=new_axes(), **kwargs)  # type: ignore[arg-type]


def test_node_load_labels_every_event_kind(results: Results) -> None:
    results.summary["scenario_resolved"]["events"] = [
        {"at": 600.0, "node_down": "sin-1"},
        {"at": 900.0, "node_up": "sin-1"},
        {"at": 1500.0, "for": 300.0, "region_outage": "europe"},
        {"at": 2400.0, "for": 600.0, "flash_crowd": {"region": "asia", "multiplier": 5.0}},
        {"at": 3000.0, "for": 60.0, "slowdown": {"node": "fra-1", "factor": 4.0}},
        {"at": 3100.0, "for": 60.0, "link_degraded": {"regions": ["asia", "europe"]}},
    ]
    for style in ("heatmap", "lines"):
        ax = plots.plot_node_load(results, ax=new_axes(), style=style)
        texts = " | ".join(t.get_text() for t in ax.texts)
        for part in ("node down sin-1", "node up sin-1", "region outage europe",
                     "flash crowd asia ×5", "slowdown fra-1 ×4",
                     "link degraded asia-europe"):
            assert part in texts, (style, part)
        assert sum(line.get_label() == "_event" for line in ax.lines) == 6


def test_node_load_heat_map_of_the_tiny_run(tiny: Results) -> None:
    ax = plots.plot_node_load(tiny, ax=new_axes())
    served = list(tiny.summary["nodes"])
    assert len(ax.get_yticklabels()) == min(10, len(served))  # one row per serving node
    rows = [t.get_text() for t in ax.get_yticklabels()]
    table = mean_over_replications(tiny, "utilization").loc[served]
    assert rows == sorted(served, key=lambda n: (-table.loc[n].mean(), n))
    assert "node down access-london (1 min)" in [t.get_text() for t in ax.texts]


# --------------------------------------------------------------------------- map


def hollow(c: PathCollection) -> bool:
    """Markers without a fill (``facecolors="none"``)."""
    face = c.get_facecolor()
    return len(face) == 0 or bool(np.all(np.asarray(face)[:, 3] == 0.0))


def _site_scatter(ax: Axes) -> PathCollection:
    """The sites' scatter: the collection that carries the colour bar."""
    (sc,) = [c for c in ax.collections if isinstance(c, PathCollection)
             and getattr(c, "colorbar", None) is not None]
    return sc


def test_map_titles_axes_colour_bar_and_legend(tiny: Results, tiny_map: Axes) -> None:
    ax = tiny_map
    assert ax.get_title() == ("tiny: p95 login latency by site, the nodes and where each "
                              "site's logins went")
    assert ax.get_xlabel() == "longitude (°E)" and ax.get_ylabel() == "latitude (°N)"
    assert _site_scatter(ax).colorbar.ax.get_ylabel() == "site p95 login latency (ms)"
    n_sites = len(tiny.sites)
    n_linked = min(n_sites, 300)
    assert legend_texts(ax) == [f"sites ({n_sites}; area ∝ logins)",
                                f"site → its main node (top {n_linked})",
                                "data center (2)", "access node (4)", "cache node (1)",
                                "home data center (dc-singapore)"]
    assert ax.get_xlim() == (-180.0, 180.0)
    assert len(ax.collections[0].get_paths()) > 100  # Natural Earth 1:110m land


def test_map_legend_matches_what_is_drawn(tiny_map: Axes) -> None:
    ax = tiny_map
    (links,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    link_rgb = {tuple(np.round(c[:3], 6)) for c in links.get_colors()}
    handle = legend_handle(ax, f"site → its main node (top {len(links.get_segments())})")
    assert link_rgb == {tuple(np.round(to_rgba(handle.get_color())[:3], 6))}  # type: ignore
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    access = legend_handle(ax, "access node (4)")
    assert any(np.allclose(c.get_facecolor()[0], to_rgba(access.get_color()))  # type: ignore
               for c in scatters if len(c.get_offsets()) == 4)
    dc = legend_handle(ax, "data center (2)")
    rings = [c for c in scatters if hollow(c)]
    assert any(np.allclose(c.get_edgecolor()[0], to_rgba(dc.get_markeredgecolor()))  # type: ignore
               for c in rings)


def test_map_colours_sites_by_their_p95(tiny: Results, tiny_map: Axes) -> None:
    win = window_logins(tiny)
    ok = win[win["outcome"] == "ok"]
    p95 = ok.groupby(ok["site"].astype(str))["latency_ms"].quantile(0.95)
    count = win.groupby(win["site"].astype(str)).size()
    sc = _site_scatter(tiny_map)
    # Biggest site first; colours are the sites' own p95, sizes grow with logins.
    order = sorted(p95.index, key=lambda s: (-count[s], s))
    np.testing.assert_allclose(np.asarray(sc.get_array()), p95.loc[order].to_numpy())
    sizes = sc.get_sizes()
    assert np.all(np.diff(sizes) <= 1e-9) and sizes[0] > sizes[-1]
    lo, hi = sc.get_clim()
    assert lo <= np.percentile(p95, 5) and hi >= np.percentile(p95, 95)


def test_map_data_centers_do_not_hide_access_nodes(tiny: Results, tiny_map: Axes) -> None:
    coords = {n: (c[1], c[0]) for n, c in tiny.summary["node_coords"].items()}
    assert coords["dc-singapore"] == coords["access-singapore"]  # the same city
    scatters = [c for c in tiny_map.collections if isinstance(c, PathCollection)]

    def drawn_at(node: str) -> list[PathCollection]:
        return [c for c in scatters
                if np.any(np.all(np.isclose(c.get_offsets(), coords[node]), axis=1))
                and c is not _site_scatter(tiny_map)]

    access = [c for c in drawn_at("access-singapore") if not hollow(c)]
    rings = [c for c in drawn_at("dc-singapore") if hollow(c)]
    assert len(access) == 1 and len(rings) == 2  # the red ring and the home's black one
    assert all(r.get_zorder() < access[0].get_zorder() for r in rings)
    # Home data center: a black ring, larger than a data center's.
    home = [r for r in rings if np.allclose(r.get_edgecolor()[0], to_rgba("black"))]
    other = [r for r in rings if r not in home]
    assert len(home) == 1 and home[0].get_sizes()[0] > other[0].get_sizes()[0]
    assert tiny.summary["scenario_resolved"]["home_datacenter"] == "dc-singapore"


def test_map_insets_and_labels(tiny: Results, tiny_map: Axes) -> None:
    insets = map_insets(tiny_map)
    # Europe has four of the tiny network's nodes; East Asia only Tokyo: no inset.
    assert [a.get_title() for a in insets] == ["Europe"]
    assert len(tiny_map.figure.axes) == 2  # the world map and its inset
    europe = {"access-frankfurt", "dc-frankfurt", "access-london", "cache-paris"}
    assert set(plots.node_labels(insets[0])) == europe
    assert set(plots.node_labels(tiny_map)) == set(tiny.summary["node_coords"]) - europe
    # The home data center first, then by logins.
    assert plots.node_labels(tiny_map)[0] == "dc-singapore"


def test_map_labels_do_not_overlap(tiny_map: Axes) -> None:
    renderer = tiny_map.figure.canvas.get_renderer()  # type: ignore[attr-defined]
    for ax in [tiny_map, *map_insets(tiny_map)]:
        boxes = label_boxes(ax)
        assert boxes
        frame = ax.get_window_extent(renderer)
        for name, box in boxes:
            assert frame.x0 <= box.x0 and box.x1 <= frame.x1, name  # type: ignore
            assert frame.y0 <= box.y0 and box.y1 <= frame.y1, name  # type: ignore
        for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
            assert not box_a.overlaps(box_b), (a, b)  # type: ignore[attr-defined]
    legend = tiny_map.get_legend().get_window_extent(renderer)  # type: ignore[union-attr]
    assert not any(legend.overlaps(box) for _, box in label_boxes(tiny_map))


def test_crowded_labels_are_skipped_not_overlapped() -> None:
    # Twenty nodes 0.3° apart in a row: not all labels fit, those placed never overlap.
    res = make_results()
    res.summary["node_coords"] = {f"access-crowd-{i:02d}": [10.0, 20.0 + 0.3 * i]
                                  for i in range(20)}
    res.summary["nodes"] = {n: {"kind": "access", "logins": 100 - i}
                            for i, n in enumerate(res.summary["node_coords"])}
    ax = plots.plot_map(res, ax=agg_figure((12.0, 6.4)).add_subplot(), insets=False)
    labelled = plots.node_labels(ax)
    assert 1 <= len(labelled) < 20
    assert labelled[0] == "access-crowd-00"  # the busiest first
    ax.figure.canvas.draw()
    boxes = label_boxes(ax)
    for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
        assert not box_a.overlaps(box_b), (a, b)  # type: ignore[attr-defined]


def test_map_of_the_synthetic_run(results: Results) -> None:
    ax = plots.plot_map(results, ax=agg_figure((12.0, 10.6)).add_subplot())
    labels = legend_texts(ax)
    assert labels == [f"sites ({len(SITES)}; area ∝ logins)", "site → its main node (top 6)",
                      "data center (1)", "access node (2)", "home data center (ams-dc)"]
    # Auckland -> Singapore does not cross the antimeridian: one segment per site.
    links = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(links) == 1 and len(links[0].get_segments()) == len(SITES)
    assert [a.get_title() for a in map_insets(ax)] == ["Europe"]


def test_map_skips_nodes_without_coordinates(results: Results) -> None:
    del results.summary["node_coords"]["sin-1"]
    ax = plots.plot_map(results, ax=new_axes(), insets=False)
    assert "access node (1)" in legend_texts(ax)
    assert "sin-1" not in plots.node_labels(ax)
    links = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(links[0].get_segments()) == 3  # the European sites only


def test_map_without_logins_or_coordinates() -> None:
    res = make_results(per_login=False)
    ax = plots.plot_map(res, ax=new_axes())
    assert legend_texts(ax) == ["data center (1)", "access node (2)",
                                "home data center (ams-dc)"]
    del res.summary["node_coords"]
    ax = plots.plot_map(res, ax=new_axes())
    assert ax.get_legend() is None and map_insets(ax) == []


def test_links_take_the_short_way_across_the_antimeridian() -> None:
    segs = plots._split_antimeridian(170.0, -40.0, -170.0, -20.0)
    assert segs == [[(170.0, -40.0), (180.0, -30.0)], [(-180.0, -30.0), (-170.0, -20.0)]]
    assert plots._split_antimeridian(10.0, 0.0, 20.0, 5.0) == [[(10.0, 0.0), (20.0, 5.0)]]


# --------------------------------------------------------------------------- deciding level


def test_decided_by_shares_warmup_and_legend(results: Results) -> None:
    ax = plots.plot_decided_by(results, ax=new_axes())
    assert ax.get_title() == "synthetic-test: which addressing level decided (per 1 min)"
    assert ax.get_xlabel() == "time since start (min)"
    assert ax.get_ylabel() == "share of logins (%)"
    assert ax.get_ylim() == (0.0, 100.0)
    win = window_logins(results)
    share = win["decided_by"].astype(str).value_counts(normalize=True) * 100
    assert legend_texts(ax) == [f"{lvl} ({share[lvl]:.1f}%)" for lvl in ("dns", "sdk")]
    texts = [t.get_text() for t in ax.texts]
    assert "warm-up" in texts and "node down fra-1 (10 min)" in texts
    (warm,) = [p for p in ax.patches if p.get_facecolor()[:3] == (1.0, 1.0, 1.0)]
    xs = warm.get_transform().transform(warm.get_path().vertices)[:, 0]  # type: ignore
    x0, x1 = ax.transData.transform([(0.0, 0.0), (WARMUP_S / 60.0, 0.0)])[:, 0]
    assert xs.min() == pytest.approx(x0) and xs.max() == pytest.approx(x1)


def test_decided_by_of_the_tiny_run(tiny: Results) -> None:
    levels = plots.deciding_levels(tiny)
    assert len(levels) > 1  # the figure is drawn for this run
    ax = plots.plot_decided_by(tiny, ax=new_axes())
    assert [t.split(" ")[0] for t in legend_texts(ax)] == levels


# --------------------------------------------------------------------------- comparison


@pytest.fixture
def comparison() -> Comparison:
    """Two hand-built runs whose p95 differs clearly (three replications each)."""
    base = make_results(replications=3, p95_ms=[400.0, 404.0, 398.0])
    slow = make_results(replications=3, seed=2, p95_ms=[600.0, 610.0, 590.0])
    slow.summary["scenario"] = "slow"
    return Comparison(["synthetic-test", "slow"], ["a", "b"], [base, slow])


def all_texts(ax: Axes) -> list[str]:
    texts = [ax.get_title(), ax.get_xlabel(), ax.get_ylabel(), *(t.get_text() for t in ax.texts)]
    legend = ax.get_legend()
    if legend is not None:
        texts += [t.get_text() for t in legend.get_texts()]
    return texts


def test_compare_significance_star_clear_of_the_title(comparison: Comparison) -> None:
    ax = comparison.plot_figure("latency_ms.p95", ax=agg_figure((6.0, 4.0)).add_subplot())
    assert ax.get_title() == ("p95 latency (ms): mean and 95% CI\n* differs from "
                              "synthetic-test (Welch's t-test, p < 0.05)")
    assert ax.get_ylabel() == "p95 latency (ms)"
    (star,) = [t for t in ax.texts if t.get_text() == "*"]
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()  # type: ignore[attr-defined]
    box = star.get_window_extent(renderer)
    assert box.y1 <= ax.get_window_extent(renderer).y1  # inside the axes
    assert not box.overlaps(ax.title.get_window_extent(renderer))
    # It stands on the slow scenario's interval.
    row = comparison.figure("latency_ms.p95").iloc[1]
    assert star.xy == (1, pytest.approx(float(row["ci_high"])))


def test_compare_figures_spell_utilisation_in_percent(comparison: Comparison) -> None:
    ax = comparison.plot_node_load(ax=agg_figure((12.0, 5.5)).add_subplot(), top=3)
    assert ax.get_ylabel() == "peak utilisation (%, largest sample)"
    assert ax.get_title().startswith("per-node peak utilisation: mean and 95% CI")
    t = comparison.table
    peak = t[t["figure"].str.endswith(".peak_utilization")]
    tallest = float(peak["mean"].max()) * 100.0
    assert max(p.get_height() for p in ax.patches) == pytest.approx(tallest)  # type: ignore
    mean_ax = comparison.plot_node_load(ax=new_axes(), metric="utilization")
    assert mean_ax.get_ylabel() == "mean utilisation (%, mean of the samples)"
    for a in (ax, mean_ax, comparison.plot_latency_cdf(ax=new_axes()),
              comparison.plot_region_p95(ax=new_axes()),
              comparison.plot_figure("peak_utilization.busiest_node", ax=new_axes())):
        assert not any("utilization" in text for text in all_texts(a)), all_texts(a)


# --------------------------------------------------------------------------- layering


def test_plots_import_neither_engine_nor_pyplot() -> None:
    code = ("import sys, sim.views.plots; "
            "bad = [m for m in ('sim.engine.loop', 'sim.config.schema', 'sim.model.world', "
            "'matplotlib.pyplot') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parents[1])
    assert out.stdout.strip() == "[]"
