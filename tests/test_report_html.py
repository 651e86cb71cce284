"""``access-sim report`` and ``run --report``: one self-contained HTML file, checked in a real
browser (headless Chromium) for what it draws, what it logs and what it fetches (nothing)."""

from __future__ import annotations

import json
import math
import os
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from sim.analysis.results import Results
from sim.cli import main
from sim.views.html_report import COMPARISON_FILE, REPORT_FILE, result_report
from tests.browser import NO_CHROMIUM, Browser, find_chromium
from tests.conftest import SCENARIOS

TINY = str(SCENARIOS / "tiny.yaml")
WINDOW = ["--set", "replications=2", "--set", "duration=4m", "--set", "warmup=30s",
          "--jobs", "1", "--quiet", "--no-figures"]
OUTAGE = "events=[{at: 120, for: 60, node_down: access-frankfurt}]"
GONE = "events=[{at: 1, node_down: access-frankfurt}]"  # down from the first second on
RESULT_PLOTS = ("plot-map", "plot-cdf", "plot-cdf-region", "plot-node-load", "plot-decided")

_PLOTS_JS = """() => Array.from(document.querySelectorAll('div.plot')).map(d => {
  const traces = Array.from(d.querySelectorAll('.scatterlayer .trace'));
  const drawn = sel => Array.from(d.querySelectorAll(sel))  // paths with a segment
      .filter(p => /[LHVCZ]/.test(p.getAttribute('d') || '')).length;
  return {id: d.id, svg: d.querySelectorAll('.main-svg').length,
          names: (d.data || []).map(t => t.name),
          points: traces.map(t => t.querySelectorAll('.point').length),
          lines: drawn('.scatterlayer path.js-line'), fills: drawn('.scatterlayer path.js-fill'),
          shapes: d.querySelectorAll('.shapelayer path').length,
          notes: Array.from(d.querySelectorAll('.annotation-text')).map(a => a.textContent),
          width: d.getBoundingClientRect().width, height: d.getBoundingClientRect().height};
})"""


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two tiny runs (2 replications each; ``a`` with a one-minute outage of
    access-frankfurt, written with ``--report``; ``b`` with access-frankfurt down all run)
    and their comparison."""
    base = tmp_path_factory.mktemp("report")
    a, b, cmp = base / "a", base / "b", base / "cmp"
    assert main(["run", TINY, "--out", str(a), "--report", *WINDOW, "--set", OUTAGE]) == 0
    assert main(["run", TINY, "--out", str(b), *WINDOW, "--set", "name=tiny-no-frankfurt",
                 "--set", GONE]) == 0
    assert main(["compare", str(a), str(b), "--out", str(cmp), "--quiet",
                 "--no-figures"]) == 0
    return {"a": a, "b": b, "cmp": cmp}


@pytest.fixture(scope="module")
def browser() -> Any:
    executable = find_chromium()
    if executable is None:
        pytest.skip(NO_CHROMIUM)
    b = Browser(executable)
    yield b
    b.close()


def _plots(page: Any) -> dict[str, dict[str, Any]]:
    return {p["id"]: p for p in page.evaluate(_PLOTS_JS)}


def _only_the_file(log: Any, path: Path) -> None:
    assert log.requests == [path.resolve().as_uri()], log.requests
    assert log.console_errors == [] and log.page_errors == [] and log.dialogs == [], log


def _check_screenshot(png: Path, *, min_height: int) -> tuple[int, int, int, float]:
    """Size, distinct colours and share of non-white pixels of a full-page screenshot."""
    assert png.stat().st_size > 100_000
    with Image.open(png) as im:
        rgb = im.convert("RGB")
    width, height = rgb.size
    assert width == 1400 and height >= min_height, rgb.size
    colours = rgb.getcolors(maxcolors=1 << 24)
    assert colours is not None
    pixels = np.asarray(rgb)
    non_white = float((pixels.min(axis=2) < 240).mean())
    # A blank or a failed page has a handful of colours and is nearly all white.
    assert len(colours) > 500, len(colours)
    assert non_white > 0.10, non_white
    return width, height, len(colours), non_white


def _site_to_hover(res: Results) -> tuple[str, float, float, float]:
    """A busy site with no node and no other site within 4 degrees (a clean hover target):
    its name, lon, lat and p95."""
    nodes = [(float(c[1]), float(c[0])) for c in res.summary["node_coords"].values()]
    sites = res.sites[res.sites["p95"].notna()].sort_values("logins", ascending=False)
    spots = list(zip(sites["lon"].astype(float), sites["lat"].astype(float)))
    for row in sites.itertuples(index=False):
        lon, lat = float(row.lon), float(row.lat)
        near = [p for p in nodes + spots if abs(p[0] - lon) < 4 and abs(p[1] - lat) < 4]
        if len(near) == 1:  # itself
            return str(row.site), lon, lat, float(row.p95)
    raise AssertionError("no isolated site to hover")


# --------------------------------------------------------------------------- a result


def test_run_report_renders_offline_in_chromium(folders: dict[str, Path], browser: Browser,
                                                tmp_path: Path) -> None:
    report = folders["a"] / REPORT_FILE
    res = Results.load(folders["a"])
    with browser.open(report) as (page, log):
        plots = _plots(page)
        name, lon, lat, p95 = _site_to_hover(res)
        # Hover the site: its tooltip names it and shows its p95.
        gd = page.locator("#plot-map")
        gd.scroll_into_view_if_needed()
        x, y = page.evaluate("""([lon, lat]) => {
            const gd = document.getElementById('plot-map'), fl = gd._fullLayout;
            const box = gd.getBoundingClientRect();
            return [box.left + fl.xaxis._offset + fl.xaxis.l2p(lon),
                    box.top + fl.yaxis._offset + fl.yaxis.l2p(lat)];
        }""", [lon, lat])
        page.mouse.move(x, y)
        page.wait_for_timeout(200)
        hover = page.evaluate("document.querySelector('#plot-map .hoverlayer').textContent")
        png = tmp_path / "report.png"
        page.screenshot(path=str(png), full_page=True)
        _only_the_file(log, report)
    assert list(plots) == list(RESULT_PLOTS)
    for p in plots.values():
        assert p["svg"] >= 1 and p["width"] > 800 and p["height"] > 300, p
    # The map: land, every site with a p95, every node.
    m = plots["plot-map"]
    n_sites = int(res.sites["p95"].notna().sum())
    site_trace = next(i for i, n in enumerate(m["names"]) if n.startswith("sites ("))
    assert m["names"][0] == "land" and m["fills"] >= 1
    assert m["points"][site_trace] == n_sites > 20
    node_traces = [i for i, n in enumerate(m["names"]) if " node (" in n]
    assert sum(m["points"][i] for i in node_traces) == len(res.summary["node_coords"])
    assert name in hover and f"p95 {p95:,.1f} ms" in hover, hover
    # CDFs: the overall line with p50/p95/p99, then one line per region.
    assert plots["plot-cdf"]["lines"] == 1 and plots["plot-cdf"]["points"] == [0, 3]
    regions = res.summary["latency_ms"]["by_region"]
    assert plots["plot-cdf-region"]["lines"] == 1 + len(regions)
    # Node load: the busiest nodes (all 7 here), the warm-up and the outage marked.
    load = plots["plot-node-load"]
    assert load["lines"] == min(10, len(res.summary["nodes"])) == 7
    assert load["shapes"] == 3  # warm-up, the outage's span and its start line
    assert "node down access-frankfurt (1 min)" in load["notes"]
    decided = plots["plot-decided"]
    levels = res.summary["addressing"]["decided_by"]
    assert decided["fills"] == len(decided["names"]) >= len(levels) >= 2
    assert set(levels) <= set(decided["names"])
    _check_screenshot(png, min_height=3500)


def test_report_html_is_self_contained(folders: dict[str, Path]) -> None:
    text = (folders["a"] / REPORT_FILE).read_text(encoding="utf-8")

    class Sources(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.found: list[tuple[str, str, str]] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.found += [(tag, k, v or "") for k, v in attrs if k in ("src", "href")]

    parser = Sources()
    parser.feed(text)
    scripts = text.count("<script")
    assert scripts == 2  # Plotly once (not once per chart), then the figures
    assert text.count("plotly.js v") == 1
    assert [s for s in parser.found if s[2].startswith(("http:", "https:", "//"))] == []
    assert [s for s in parser.found if s[0] in ("script", "link", "img", "iframe")] == []
    assert all(v.startswith("#") for _, _, v in parser.found)  # only the page's own anchors
    assert 4.5e6 < len(text.encode()) < 8e6


def test_run_report_is_part_of_the_result(folders: dict[str, Path], tmp_path: Path) -> None:
    marker = json.loads((folders["a"] / ".access-sim-result").read_text())
    assert REPORT_FILE in marker["files"]
    # A report written later into a result folder belongs to it as well: running into the
    # folder again replaces it without --overwrite.
    run = tmp_path / "run"
    shutil.copytree(folders["b"], run)
    assert main(["report", str(run)]) == 0
    assert REPORT_FILE not in json.loads((run / ".access-sim-result").read_text())["files"]
    assert main(["run", TINY, "--out", str(run), "--quiet", "--no-figures", "--set",
                 "duration=1m", "--set", "warmup=0s"]) == 0
    assert not (run / REPORT_FILE).exists()


def test_report_escapes_what_the_data_holds(folders: dict[str, Path]) -> None:
    res = Results.load(folders["a"])
    hostile = "</script><script>alert(1)</script>"
    sites = res.sites.copy()
    sites.loc[0, "site"] = hostile
    res.sites = sites
    res.summary["scenario_resolved"]["description"] = "<b>bold</b> & </pre>"
    text = result_report(res)
    assert hostile not in text and "<b>bold</b>" not in text
    assert "alert(1)" in text  # the name is there, escaped


# --------------------------------------------------------------------------- a comparison


def test_comparison_report_renders_offline_in_chromium(folders: dict[str, Path],
                                                       browser: Browser, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    out = tmp_path / "cmp.html"
    assert main(["report", str(folders["cmp"]), "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out} (")
    with browser.open(out) as (page, log):
        plots = _plots(page)
        cells = page.evaluate("Array.from(document.querySelectorAll('#figures tr'))"
                              ".map(r => Array.from(r.children).map(c => c.textContent))")
        png = tmp_path / "cmp.png"
        page.screenshot(path=str(png), full_page=True)
        _only_the_file(log, out)
    assert list(plots) == ["plot-cdf", "plot-diff-map-1"]
    assert plots["plot-cdf"]["lines"] == 2
    assert plots["plot-cdf"]["names"][1].startswith("tiny-no-frankfurt (n=")
    diff = plots["plot-diff-map-1"]
    site_trace = next(i for i, n in enumerate(diff["names"]) if n.startswith("sites ("))
    assert diff["points"][site_trace] > 20
    # Side by side: the baseline, the other scenario, its difference and the p-value.
    assert cells[0] == ["figure", "tiny (baseline)", "tiny-no-frankfurt",
                        "tiny-no-frankfurt − baseline", "p"]
    data = json.loads((folders["cmp"] / COMPARISON_FILE).read_text())
    p95 = {r["scenario"]: r for r in data["figures"] if r["figure"] == "latency_ms.p95"}
    row = next(c for c in cells if c[0] == "p95 latency (ms)")
    assert row[1].startswith(f"{p95['tiny']['mean']:.1f} [")
    assert row[4] == f"{p95['tiny-no-frankfurt']['p_value']:.3g}"
    _check_screenshot(png, min_height=1800)


def test_comparison_report_finds_the_runs_by_their_scenario(folders: dict[str, Path],
                                                            tmp_path: Path) -> None:
    # The result folders the comparison read are gone; copies of them in runs/ (as compare
    # keeps its own runs) are found by their resolved scenario, whatever their names.
    cmp = tmp_path / "cmp"
    shutil.copytree(folders["cmp"], cmp)
    data = json.loads((cmp / COMPARISON_FILE).read_text())
    for sc, name in zip(data["scenarios"], ("x", "y")):
        sc["source"] = str(tmp_path / "moved" / name)
    (cmp / COMPARISON_FILE).write_text(json.dumps(data))
    (cmp / "runs").mkdir()
    shutil.copytree(folders["b"], cmp / "runs" / "first")
    shutil.copytree(folders["a"], cmp / "runs" / "second")
    assert main(["report", str(cmp)]) == 0
    text = (cmp / REPORT_FILE).read_text()
    assert 'id="plot-diff-map-1"' in text and "No per-login records" not in text
    # Without them the table stays; the charts say what is missing.
    shutil.rmtree(cmp / "runs")
    assert main(["report", str(cmp)]) == 0
    text = (cmp / REPORT_FILE).read_text()
    assert 'class="plot"' not in text
    assert "No per-login records found for tiny, tiny-no-frankfurt" in text
    assert "p95 latency (ms)" in text


# --------------------------------------------------------------------------- errors


def _error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1, captured.err
    return captured.err


def test_a_folder_that_is_neither_is_one_line_and_exit_2(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    other = tmp_path / "thesis"
    other.mkdir()
    (other / "chapter1.md").write_text("mine")
    assert _error(capsys, "report", str(other)) == (
        f"error: {other}: neither a result folder (summary.json) nor a comparison folder "
        "(comparison.json): give a folder written by access-sim run or access-sim compare "
        "--out\n")
    assert not (other / REPORT_FILE).exists()
    assert _error(capsys, "report", str(tmp_path / "nowhere")) == \
        f"error: {tmp_path / 'nowhere'}: no such folder\n"
    assert _error(capsys, "report", str(other / "chapter1.md")) == \
        f"error: {other / 'chapter1.md'}: not a folder: give a result folder or a " \
        "comparison folder\n"


def test_damaged_folders_and_bad_targets_are_one_line(folders: dict[str, Path], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "summary.json").write_bytes(b"\xff\xfe not json")
    assert _error(capsys, "report", str(bad)) == \
        f"error: {bad / 'summary.json'}: not UTF-8 text (byte 0)\n"
    cmp = tmp_path / "cmp"
    cmp.mkdir()
    (cmp / COMPARISON_FILE).write_text('{"scenarios": [], "figures": []}')
    assert _error(capsys, "report", str(cmp)) == (
        f"error: {cmp / COMPARISON_FILE}: scenarios: expected a non-empty list: not a "
        "comparison written by access-sim compare\n")
    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / COMPARISON_FILE)  # never opened: a special file is not a comparison
    assert _error(capsys, "report", str(fifo)).startswith(
        f"error: {fifo}: neither a result folder (summary.json) nor a comparison folder")
    assert _error(capsys, "report", str(folders["a"]), "--out", str(tmp_path)) == \
        f"error: {tmp_path}: expected a file name for the report, found a folder\n"
    (tmp_path / "file").write_text("x")
    target = tmp_path / "file" / "r.html"
    assert _error(capsys, "report", str(folders["a"]), "--out", str(target)) == \
        f"error: {target}: cannot write the report: {tmp_path / 'file'} is not a folder\n"


def test_report_without_per_login_records(tmp_path: Path) -> None:
    out = tmp_path / "lean"
    assert main(["run", TINY, "--out", str(out), "--report", "--quiet", "--no-figures",
                 "--set", "duration=1m", "--set", "warmup=0s",
                 "--set", "outputs.per_login=false"]) == 0
    # The run still had its records in memory when it wrote the report ...
    assert 'id="plot-cdf"' in (out / REPORT_FILE).read_text()
    # ... the folder has none: the node-load chart and the map (with the sites from the
    # summary) remain.
    res = Results.load(out)
    assert len(res.logins) == 0 and len(res.sites) > 20
    assert main(["report", str(out), "--out", str(tmp_path / "lean.html")]) == 0
    text = (tmp_path / "lean.html").read_text()
    assert 'id="plot-node-load"' in text and 'id="plot-map"' in text
    assert 'id="plot-cdf"' not in text and 'id="plot-decided"' not in text
    assert "No successful logins with per-login records" in text
    assert "the deciding level is not known" in text
    assert math.isfinite(res.summary["latency_ms"]["p95"])
