"""Compare scenarios: run each (with replications), report every headline figure with a 95%
confidence interval, the difference to the first scenario and whether it is significant.

>>> import sim
>>> cmp = sim.compare(["scenarios/tiny.yaml", "scenarios/tiny-spill-0.5.yaml"],
...                   overrides={"duration": "3m"}, replications=3)  # doctest: +SKIP
>>> cmp.table.query("figure == 'latency_ms.p95'")  # doctest: +SKIP
>>> cmp.plot_latency_cdf()  # doctest: +SKIP

The statistics (see :mod:`sim.analysis.statistics`): each figure is computed per replication; a
scenario's value is the mean over its replications with a Student-t 95% interval; the difference to
the
baseline (the first scenario) is tested with Welch's t-test at ``alpha`` (0.05). Each row is
its own test: with many rows, about one in twenty differences that are really zero will still
be flagged (no correction for multiple comparisons). With one replication there is no spread
to estimate, and intervals and tests read ``n/a``.

Inputs may be scenario files (or :class:`~sim.config.schema.Scenario` objects) to run, or
existing result folders (or :class:`~sim.analysis.Results`) to read; ``overrides`` and
``replications`` apply to the scenarios that are run, not to result folders.

Besides the headline figures, the table holds p50, p95 and p99 per region and, when asked,
per named site (``sites=["Lagos"]``, ``--site``) and country (``countries=["NG"]``,
``--country``), and the p50, p95, p99 and failure share during each time window
(``windows=["event"]`` for each scheduled event, or ``"20m-40m"``) and outside it; each
per replication, with intervals and tests like every other figure.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from sim.config import Scenario, load_scenario
from sim.config.messages import did_you_mean, shown
from sim.config.schema import parse_duration
from sim.analysis.events import describe_event
from sim.analysis.sites import country_figures, site_figures
from sim.errors import ResultsError, ScenarioError
from sim.analysis.results import (
    SUMMARY_FILE,
    Results,
    atomic_write_text,
    check_folder,
    peak_utilization,
    site_names,
)
from sim.analysis.statistics import CONFIDENCE, figure_label, flatten_figures, mean_ci, welch_test
from sim.runs.executors import Executor, make_executor, run_worlds
from sim.runs.prepare import prepare_world
from sim.runs.resume import previous_result
from sim.views.drawing import ci_errors, colours, grouped_bars, new_axes
from sim.views.figure_data import ecdf, str_values, window_s
from sim.views.plots import style_latency_cdf_axes
from sim.views.text import format_interval

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from sim.config.schema import Scenario

__all__ = ["COMPARISON_FILES", "Comparison", "compare", "figure_order", "replicate_table",
           "TimeWindow", "parse_window", "event_windows", "area_label"]

COMPARISON_FILES = ("comparison.csv", "comparison.json", "comparison.md")
"""The files a comparison writes; ``report.html`` (``access-sim report``) may join them."""
TABLE_COLUMNS = ["figure", "label", "scenario", "n", "mean", "ci_low", "ci_high", "diff",
                 "diff_ci_low", "diff_ci_high", "p_value", "significant"]
_CDF_POINTS = 2000
AREA_STATS = ("p50", "p95", "p99")
"""The latency percentiles compared per region, site, country and time window."""
EVENT_WINDOW_S = 600.0
"""An instant event's window: this long after it (as :func:`sim.analysis.events.event_metrics`
takes it)."""


# --------------------------------------------------------------------------- figures


def _group(name: str) -> int:
    if name.startswith("latency_ms.by_region."):
        return 2
    if name.startswith("latency_ms.by_site."):
        return 5
    if name.startswith("latency_ms.by_country."):
        return 6
    if name.startswith(("latency_ms.window.", "logins.window.")):
        return 7
    if name.startswith("latency_ms."):
        return 0
    if name.startswith("nodes.") and name.endswith(".peak_utilization"):
        return 3
    if name.startswith("nodes."):
        return 4
    return 1


_HEADLINE_ORDER = {"logins.failure_share": 0, "addressing.spill_share": 1,
                   "peak_utilization.busiest_node": 2}
_LATENCY_ORDER = {f"latency_ms.{k}": i for i, k in enumerate(("mean", "p50", "p90", "p95",
                                                                "p99"))}


def figure_order(names: Sequence[str]) -> list[str]:
    """Report order: latency, failure and spill shares, latency by region (by name), peak
    utilisation per node, mean utilisation per node (nodes in first-seen order), then the
    named sites, countries and time windows (in the order asked)."""
    first = {n: i for i, n in enumerate(dict.fromkeys(names))}

    def key(n: str) -> tuple[int, Any, int]:
        g = _group(n)
        if g == 0:
            return (g, _LATENCY_ORDER.get(n, 99), first[n])
        if g == 1:
            return (g, _HEADLINE_ORDER.get(n, 99), first[n])
        if g == 2:
            return (g, n, 0)
        return (g, 0, first[n])
    return sorted(first, key=key)


@dataclass(frozen=True)
class TimeWindow:
    """A span of simulated time ``[start_s, end_s)`` whose figures are compared (with those
    of the rest of the measurement window)."""
    label: str
    start_s: float
    end_s: float


def _clock(seconds: float) -> str:
    """``20m``, ``1h30m``, ``45s``: a time of the run, short."""
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    text = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{sec}s" if sec else "")
    return text or "0s"


def parse_window(text: str) -> str | TimeWindow:
    """``"event"`` (each scheduled event's window) or a span ``START-END`` such as
    ``20m-40m`` (durations as the scenario writes them).

    Raises
    ------
    ScenarioError
        Naming ``--window``.
    """
    if text.strip() == "event":
        return "event"
    start, sep, end = text.partition("-")
    try:
        if not sep:
            raise ValueError
        a, b = parse_duration(start.strip()), parse_duration(end.strip())
    except ValueError:
        raise ScenarioError(f"expected 'event' or START-END such as 20m-40m, got {text!r}",
                            path="--window") from None
    if b <= a:
        raise ScenarioError(f"the window {text!r} ends before it starts", path="--window")
    return TimeWindow(f"{_clock(a)}-{_clock(b)}", a, b)


def event_windows(summaries: Sequence[Mapping[str, Any]]) -> list[TimeWindow]:
    """The windows of the scheduled events of the summaries' resolved scenarios (each
    event once, by its label and times; an instant event: the
    :data:`EVENT_WINDOW_S` after it), in time order."""
    found: dict[tuple[str, float, float], None] = {}
    for summary in summaries:
        sc = summary.get("scenario_resolved") or {}
        for ev in sc.get("events") or []:
            start = float(ev["at"])
            end = start + float(ev["for"]) if ev.get("for") is not None \
                else start + EVENT_WINDOW_S
            found.setdefault((describe_event(ev), start, end), None)
    return [TimeWindow(f"{label} {_clock(a)}-{_clock(b)}", a, b)
            for label, a, b in sorted(found, key=lambda k: (k[1], k[2], k[0]))]


def area_label(name: str) -> str:
    """A figure's label: :func:`~sim.analysis.statistics.figure_label`, and for the site,
    country and window figures ``Lagos p50 latency (ms)``, ``p95 latency (ms) during
    node_down access-lagos 20m-40m``, ``failure share outside 20m-40m``."""
    for prefix in ("latency_ms.by_site.", "latency_ms.by_country."):
        if name.startswith(prefix):
            area, _, stat = name[len(prefix):].rpartition(".")
            return f"{area} {stat} latency (ms)"
    for prefix, what in (("latency_ms.window.", "{stat} latency (ms)"),
                         ("logins.window.", "failure share")):
        if name.startswith(prefix):
            rest, _, stat = name[len(prefix):].rpartition(".")
            window, _, side = rest.rpartition(".")
            return f"{what.format(stat=stat)} {side} {window}"
    return figure_label(name)


def _window_rows(results: Results, windows: Sequence[TimeWindow]
                 ) -> dict[int, dict[str, float]]:
    """Per replication (its index), the figures of each window: p50/p95/p99 of the
    successful logins that started in it and its failure share, and the same outside it
    (within the measurement window)."""
    logins = results.logins
    if logins is None or len(logins) == 0 or "latency_ms" not in logins.columns:
        raise ResultsError("--window needs the per-login records, and this result has none "
                           "(outputs.per_login: false)",
                           file=str(results.summary.get("scenario")))
    sc = results.summary.get("scenario_resolved") or {}
    warmup, duration = float(sc.get("warmup", 0.0)), float(sc.get("duration", math.inf))
    t = logins["t_start_s"].to_numpy(dtype=float)
    measured = (t >= warmup) & (t < duration)
    ok = logins["outcome"].astype(str).to_numpy() == "ok"
    lat = logins["latency_ms"].to_numpy(dtype=float)
    rep = logins["replication"].to_numpy() if "replication" in logins.columns \
        else np.zeros(len(t), dtype=np.int64)
    out: dict[int, dict[str, float]] = {}
    for index, r in enumerate(sorted(set(rep.tolist()))):
        mine = measured & (rep == r)
        figs: dict[str, float] = {}
        for w in windows:
            inside = (t >= w.start_s) & (t < w.end_s)
            for side, mask in (("during", mine & inside), ("outside", mine & ~inside)):
                done = lat[mask & ok]
                q = np.percentile(done, [50, 95, 99]) if len(done) else [math.nan] * 3
                for stat, v in zip(AREA_STATS, q):
                    figs[f"latency_ms.window.{w.label}.{side}.{stat}"] = float(v)
                n = int(mask.sum())
                figs[f"logins.window.{w.label}.{side}.failure_share"] = \
                    float((mask & ~ok).sum() / n) if n else math.nan
        out[index] = figs
    return out


def _area_replications(results: Results, key: str) -> list[dict[str, Any]] | None:
    """Each replication's figures per site (``key="sites"``) or country: from the summary,
    or (a folder written before the summary held them) from the per-login records; None
    when neither has them."""
    reps = results.summary.get("replication_figures") or []
    if reps and all(key in r for r in reps):
        return [r[key] for r in reps]
    logins = results.logins
    if logins is None or len(logins) == 0 or "site" not in logins.columns:
        return None
    sc = results.summary.get("scenario_resolved") or {}
    warmup, duration = float(sc.get("warmup", 0.0)), float(sc.get("duration", math.inf))
    rep = logins["replication"].to_numpy() if "replication" in logins.columns \
        else np.zeros(len(logins), dtype=np.int64)
    out = []
    for r in sorted(set(rep.tolist())):
        part = logins[rep == r]
        sites = site_figures(part, warmup_s=warmup, duration_s=duration)
        frame = sites if key == "sites" else country_figures(part, sites, warmup_s=warmup,
                                                             duration_s=duration)
        column = "site" if key == "sites" else "country"
        out.append({str(row[column]): {stat: row[stat] for stat in AREA_STATS}
                    for row in frame.to_dict(orient="records")})
    return out


def replicate_table(name: str, results: Results, *, sites: Sequence[str] = (),
                    countries: Sequence[str] = (),
                    windows: Sequence[TimeWindow] = ()) -> pd.DataFrame:
    """Per-replication headline figures of one result, long form:
    ``scenario, replication, figure, value``.

    Reads ``summary["replication_figures"]``; peak utilisation per node is computed from
    ``node_load`` when a (older) summary does not hold it. With ``sites``, ``countries``
    and ``windows``, also those figures (``latency_ms.by_site.<site>.p50`` ...,
    ``latency_ms.by_country.<country>.p50`` ..., ``latency_ms.window.<label>.during.p50``
    and ``.outside.p50`` ..., ``logins.window.<label>.during.failure_share`` ...).

    Raises
    ------
    ResultsError
        The result lacks the figures asked for (no per-site figures or per-login records).
    """
    reps = results.summary.get("replication_figures")
    if not reps:
        raise ResultsError("summary has no replication_figures: not a result of this "
                           "version of access-sim", file=str(results.summary.get("scenario")))
    sc = results.summary.get("scenario_resolved") or {}
    rows = []
    for r, figs in enumerate(reps):
        if not figs.get("peak_utilization") and len(results.node_load):
            load = results.node_load
            if "replication" in load.columns:
                load = load[load["replication"] == r]
            figs = {**figs, "peak_utilization": peak_utilization(
                load, warmup_s=float(sc.get("warmup", 0.0)),
                duration_s=float(sc.get("duration", math.inf)),
                nodes=list(figs.get("utilization") or {}) or None)}
        for fig, value in flatten_figures(figs).items():
            rows.append((name, r, fig, value))
        for region, stats in (figs.get("by_region") or {}).items():
            for stat in AREA_STATS:
                if stat != "p95":  # p95 comes from by_region_p95 (every version has it)
                    rows.append((name, r, f"latency_ms.by_region.{region}.{stat}",
                                 _value(stats.get(stat))))
    for key, asked, prefix in (("sites", sites, "latency_ms.by_site."),
                               ("countries", countries, "latency_ms.by_country.")):
        if not asked:
            continue
        per_rep = _area_replications(results, key)
        if per_rep is None:
            raise ResultsError(f"--{key[:-1] if key == 'sites' else 'country'}: the result has "
                               f"no per-{'site' if key == 'sites' else 'country'} figures "
                               "(written by an older version without per-login records): "
                               "run it again", file=_where(results))
        for r, areas in enumerate(per_rep):
            for area in asked:
                stats = areas.get(area) or {}
                for stat in AREA_STATS:
                    rows.append((name, r, f"{prefix}{area}.{stat}", _value(stats.get(stat))))
    if windows:
        for r, figs in _window_rows(results, windows).items():
            rows.extend((name, r, fig, value) for fig, value in figs.items())
    return pd.DataFrame(rows, columns=["scenario", "replication", "figure", "value"])


def _value(x: Any) -> float:
    return math.nan if x is None else float(x)


def _where(results: Results) -> str:
    return str(getattr(results, "source", None) or results.summary.get("scenario"))


# --------------------------------------------------------------------------- inputs


@dataclass
class _Input:
    name: str
    source: str
    scenario: Scenario | None = None
    results: Results | None = None


def _as_input(item: Any, overrides: Mapping[str, Any], extra: Mapping[str, Any]) -> _Input:

    if isinstance(item, Results):
        return _Input(str(item.summary.get("scenario")), "results", results=item)
    if isinstance(item, Scenario):
        sc = item.with_overrides({**overrides, **extra}) if overrides or extra else item
        return _Input(sc.name, "scenario", scenario=sc)
    path = Path(item)
    if path.is_dir():
        if not (path / SUMMARY_FILE).is_file() and not (path / SUMMARY_FILE).is_symlink():
            raise ResultsError(f"no {SUMMARY_FILE}: not a result folder (give a scenario "
                               "file or a result folder)", file=str(path))
        res = Results.load(path)
        return _Input(str(res.summary.get("scenario")), str(path), results=res)
    label = shown(path)
    sc = load_scenario(path, {**overrides, **extra})
    return _Input(sc.name, label, scenario=sc)


def _unique_names(names: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        k = seen.get(n, 0) + 1
        seen[n] = k
        out.append(n if k == 1 else f"{n} ({k})")
    return out


def safe_name(name: str) -> str:
    """A folder name for a scenario or point name (letters, digits, ``.=,+-_``)."""
    cleaned = re.sub(r"[^A-Za-z0-9._=,+-]+", "_", name).strip("._") or "run"
    if len(cleaned) > 120:

        cleaned = cleaned[:100] + "-" + hashlib.sha1(name.encode()).hexdigest()[:10]
    return cleaned


# --------------------------------------------------------------------------- the object


class Comparison:
    """Scenarios side by side, with confidence intervals and significance.

    Attributes
    ----------
    names : list of str
        Scenario names, the baseline first.
    sources : list of str
        Where each came from (scenario file or result folder).
    results : dict of str to Results
        Each scenario's results (all replications pooled in the tables).
    replicates : pandas.DataFrame
        ``scenario, replication, figure, value``: every headline figure per replication.
    table : pandas.DataFrame
        One row per figure and scenario: ``figure, label, scenario, n, mean, ci_low,
        ci_high, diff, diff_ci_low, diff_ci_high, p_value, significant`` (``diff`` is the
        scenario minus the baseline; the baseline's difference columns are empty;
        ``significant`` is True, False or None for n/a).
    alpha : float
        Significance level of the tests.
    sites, countries : list of str
        The sites and countries whose p50, p95 and p99 the table also holds.
    windows : list of TimeWindow
        The time windows whose figures (during and outside) the table also holds.
    """

    def __init__(self, names: Sequence[str], sources: Sequence[str],
                 results: Sequence[Results], *, alpha: float = 1.0 - CONFIDENCE,
                 sites: Sequence[str] = (), countries: Sequence[str] = (),
                 windows: Sequence[TimeWindow] = ()):
        if len(names) < 1:
            raise ValueError("a comparison needs at least one scenario")
        self.names = list(names)
        self.sources = list(sources)
        self.results = dict(zip(self.names, results))
        self.alpha = alpha
        self.sites = list(sites)
        self.countries = list(countries)
        self.windows = list(windows)
        self.replicates = pd.concat([replicate_table(n, r, sites=self.sites,
                                                     countries=self.countries,
                                                     windows=self.windows)
                                     for n, r in self.results.items()], ignore_index=True)
        self.table = self._table()

    def __repr__(self) -> str:
        return f"Comparison({', '.join(self.names)}; baseline {self.names[0]!r})"

    @property
    def baseline(self) -> str:
        """The scenario every other one is compared with."""
        return self.names[0]

    def _values(self, name: str, figure: str) -> list[float]:
        rep = self.replicates
        sel = rep[(rep["scenario"] == name) & (rep["figure"] == figure)]
        return sel.sort_values("replication")["value"].tolist()

    def _table(self) -> pd.DataFrame:
        figures = figure_order(self.replicates["figure"].tolist())
        grouped = {key: g.sort_values("replication")["value"].tolist()
                   for key, g in self.replicates.groupby(["scenario", "figure"], sort=False)}
        rows = []
        for fig in figures:
            base = grouped.get((self.baseline, fig), [])
            for name in self.names:
                vals = grouped.get((name, fig), [])
                ci = mean_ci(vals)
                row: dict[str, Any] = {
                    "figure": fig, "label": area_label(fig), "scenario": name, "n": ci.n,
                    "mean": ci.mean, "ci_low": ci.low, "ci_high": ci.high,
                    "diff": None, "diff_ci_low": None, "diff_ci_high": None,
                    "p_value": None, "significant": None}
                if name != self.baseline:
                    w = welch_test(base, vals, alpha=self.alpha)
                    row.update(diff=w.diff, diff_ci_low=w.low, diff_ci_high=w.high,
                               p_value=w.p_value, significant=w.significant)
                rows.append(row)
        table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
        for col in ("mean", "ci_low", "ci_high", "diff", "diff_ci_low", "diff_ci_high"):
            table[col] = [None if v is None or not math.isfinite(v) else round(float(v), 6)
                          for v in table[col]]
            table[col] = table[col].astype("Float64")
        table["p_value"] = pd.array([None if v is None else float(f"{v:.6g}")
                                     for v in table["p_value"]], dtype="Float64")
        table["significant"] = pd.array(table["significant"].tolist(), dtype="boolean")
        table["n"] = table["n"].astype("int64")
        return table

    # ------------------------------------------------------------------ views

    def summary_frame(self, figures: Sequence[str] | None = None) -> pd.DataFrame:
        """Means in a wide table: one row per figure, one column per scenario."""
        t = self.table
        if figures is not None:
            t = t[t["figure"].isin(list(figures))]
        wide = t.pivot(index="figure", columns="scenario", values="mean")
        order = [f for f in figure_order(t["figure"].tolist())]
        return wide.reindex(index=order, columns=self.names)

    def significant(self) -> pd.DataFrame:
        """Rows whose difference to the baseline is statistically significant."""
        return self.table[self.table["significant"].fillna(False).astype(bool)]

    def figure(self, name: str) -> pd.DataFrame:
        """The rows of one figure (``latency_ms.p95`` ...), one per scenario."""
        return self.table[self.table["figure"] == name].reset_index(drop=True)

    # ------------------------------------------------------------------ files

    def to_json(self) -> dict[str, Any]:
        """Everything in ``comparison.json``: scenarios (with their resolved scenario and
        per-replication figures), the table, and ``run`` (timing: differs between runs)."""
        scenarios = []
        for name, source in zip(self.names, self.sources):
            s = self.results[name].summary
            scenarios.append({
                "name": name, "source": source, "seed": s.get("seed"),
                "replications": s.get("replications"), "version": s.get("version"),
                "scenario_resolved": s.get("scenario_resolved"),
                "replication_figures": s.get("replication_figures")})
        records = []
        for row in self.table.to_dict(orient="records"):
            records.append({k: (None if v is pd.NA or (isinstance(v, float) and
                                                        not math.isfinite(v)) else
                                (bool(v) if k == "significant" else
                                 int(v) if k == "n" else v))
                            for k, v in row.items()})
        run = {name: (self.results[name].summary.get("run") or {}) for name in self.names}
        return {"baseline": self.baseline, "confidence": CONFIDENCE, "alpha": self.alpha,
                "test": "Welch's t-test (two-sided) on per-replication values",
                "sites": self.sites, "countries": self.countries,
                "windows": [{"label": w.label, "start_s": w.start_s, "end_s": w.end_s}
                            for w in self.windows],
                "scenarios": scenarios, "figures": records, "run": run}

    def to_csv(self) -> str:
        """``comparison.csv``: the table (empty cells for n/a)."""
        return self.table.to_csv(index=False, lineterminator="\n")

    def to_markdown(self, nodes: bool = True) -> str:
        """``comparison.md``: the scenarios, then one table per group of figures (without
        the per-node tables when ``nodes`` is False)."""
        return _markdown(self, nodes=nodes)

    def save(self, out_dir: str | os.PathLike[str], *, figures: bool = True) -> Path:
        """Write ``comparison.csv``, ``comparison.json``, ``comparison.md`` and (with
        ``figures``) ``figures/latency_cdf.png``, ``figures/region_p95.png``,
        ``figures/node_load.png`` into ``out_dir``."""
        out = Path(out_dir)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ResultsError(f"cannot write: {e.strerror}", file=str(out)) from None
        atomic_write_text(out / "comparison.csv", self.to_csv())
        atomic_write_text(out / "comparison.json",
                          json.dumps(self.to_json(), indent=2, allow_nan=False) + "\n")
        atomic_write_text(out / "comparison.md", self.to_markdown())
        if figures:
            self.save_figures(out / "figures")
        return out

    def save_figures(self, folder: str | os.PathLike[str]) -> list[Path]:
        """The three comparison figures as PNG files (no pyplot needed)."""
        from matplotlib.figure import Figure  # deferred: matplotlib loads for figures only

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, draw, size in (("latency_cdf.png", self.plot_latency_cdf, (8.0, 5.0)),
                                 ("region_p95.png", self.plot_region_p95, (9.0, 5.0)),
                                 ("node_load.png", self.plot_node_load, (12.0, 5.5))):
            fig = Figure(figsize=size, layout="constrained")
            draw(ax=fig.add_subplot())
            fig.savefig(folder / name, dpi=110, facecolor="white")
            fig.clear()
            written.append(folder / name)
        return written

    # ------------------------------------------------------------------ plots

    def plot_latency_cdf(self, ax: Axes | None = None) -> Axes:
        """Overlaid CDFs of login latency (successful logins in the measurement window, all
        replications pooled), one line per scenario, p95 marked."""
        ax = new_axes(ax, (8.0, 5.0))
        palette = colours(len(self.names))
        drawn = 0
        for name, colour in zip(self.names, palette):
            lat = _window_latencies(self.results[name])
            if len(lat) == 0:
                continue
            xs, ys = ecdf(lat, _CDF_POINTS)
            p95 = float(np.percentile(lat, 95))
            ax.plot(xs, ys, drawstyle="steps-post", color=colour, lw=1.8,
                    label=f"{name} (p95 {p95:.0f} ms)")
            ax.plot([p95], [0.95], "o", color=colour, ms=5)
            drawn += 1
        style_latency_cdf_axes(ax)
        ax.axhline(0.95, color="0.6", lw=0.8, ls=":")
        ax.set_title("login latency CDF (successful logins, all replications)")
        if drawn:
            ax.legend(loc="lower right", fontsize="small")
        else:
            ax.text(0.5, 0.5, "no per-login records", transform=ax.transAxes, ha="center")
        return ax

    def plot_figure(self, figure: str, ax: Axes | None = None) -> Axes:
        """One figure (``latency_ms.p95`` ...) per scenario: bars with 95% CIs, significant
        differences to the baseline starred."""
        ax = new_axes(ax, (6.0, 4.0))
        rows = self.figure(figure)
        if len(rows) == 0:
            raise KeyError(f"no figure {figure!r}; known: "
                           f"{', '.join(dict.fromkeys(self.table['figure']))}")
        palette = colours(len(self.names))
        x = np.arange(len(rows))
        means = rows["mean"].to_numpy(dtype=float, na_value=np.nan)
        err = ci_errors(rows)
        ax.bar(x, means, color=palette[:len(rows)], yerr=err, capsize=4, ecolor="0.2")
        # A star stands on its bar's interval, and the y range grows to hold it (it would
        # otherwise run into the title).
        tops = np.where(np.isfinite(means), means + err[1], np.nan)
        starred = [bool(sig is True or (sig is not pd.NA and bool(sig)))
                   for sig in rows["significant"]]
        for xi, (top, star) in enumerate(zip(tops, starred)):
            if star and np.isfinite(top):
                ax.annotate("*", (xi, top), ha="center", va="bottom", fontsize=14,
                            xytext=(0, 1), textcoords="offset points")
        if any(starred) and np.isfinite(tops).any():
            low, high = ax.get_ylim()
            ax.set_ylim(low, max(high, float(np.nanmax(tops)) + 0.15 * (high - low)))
        label = str(rows["label"].iloc[0]) if "label" in rows.columns else figure_label(figure)
        ax.set_xticks(x, rows["scenario"].tolist(), rotation=20, ha="right")
        ax.set_ylabel(label)
        ax.set_title(f"{label}: mean and 95% CI\n* differs from {self.baseline} "
                     f"(Welch's t-test, p < {self.alpha:g})", fontsize="medium")
        ax.grid(True, axis="y", alpha=0.3)
        return ax

    def plot_region_p95(self, ax: Axes | None = None) -> Axes:
        """p95 latency per region: grouped bars (one per scenario) with 95% CIs."""
        ax = new_axes(ax, (9.0, 5.0))
        t = self.table[self.table["figure"].str.startswith("latency_ms.by_region.")
                       & self.table["figure"].str.endswith(".p95")]
        regions = list(dict.fromkeys(t["figure"]))
        grouped_bars(ax, t, regions, self.names,
                      [f.split(".")[2] for f in regions])
        ax.set_ylabel("p95 login latency (ms)")
        ax.set_title("p95 latency by region: mean and 95% CI across replications")
        return ax

    def plot_node_load(self, ax: Axes | None = None, top: int = 15,
                       metric: str = "peak_utilization") -> Axes:
        """Per-node load side by side: grouped bars with 95% CIs for the ``top`` nodes
        busiest in any scenario (``metric``: ``peak_utilization`` or ``utilization``)."""
        if metric not in ("peak_utilization", "utilization"):
            raise ValueError(f"metric must be peak_utilization or utilization, got {metric!r}")
        ax = new_axes(ax, (12.0, 5.5))
        t = self.table[self.table["figure"].str.startswith("nodes.")
                       & self.table["figure"].str.endswith(f".{metric}")]
        busiest = (t.groupby("figure", sort=False)["mean"].max().fillna(0.0)
                   .sort_values(ascending=False, kind="stable"))
        # The labels are figure names (the stubs type index labels Hashable).
        figs = cast("list[str]", [f for f, v in busiest.items() if v > 0][:top])
        # Utilisation in percent, as in the report's tables.
        percent = t.assign(**{c: t[c] * 100.0 for c in ("mean", "ci_low", "ci_high")})
        grouped_bars(ax, percent, figs, self.names, [f[len("nodes."):].rsplit(".", 1)[0]
                                                        for f in figs], rotate=True)
        what = "peak utilisation" if metric == "peak_utilization" else "mean utilisation"
        sampled = "largest sample" if metric == "peak_utilization" else "mean of the samples"
        ax.set_ylabel(f"{what} (%, {sampled})")
        ax.set_ylim(bottom=0.0)
        ax.set_title(f"per-node {what}: mean and 95% CI across replications "
                     f"({len(figs)} busiest nodes)")
        return ax


# --------------------------------------------------------------------------- drawing


def _window_latencies(results: Results) -> np.ndarray:
    """Latencies of the successful logins that started in the measurement window, every one
    (unlike :func:`sim.views.figure_data.ok_latencies`, which drops zero latencies)."""
    logins = results.logins
    if logins is None or len(logins) == 0 or "latency_ms" not in logins.columns:
        return np.array([])
    warmup, duration = window_s(results)
    t = logins["t_start_s"].to_numpy(dtype=float)
    keep = (t >= warmup) & (t < duration)
    keep &= str_values(logins["outcome"]) == "ok"
    return logins["latency_ms"].to_numpy(dtype=float)[keep]


# --------------------------------------------------------------------------- markdown


def _md_rows(cmp: Comparison, figures: Sequence[str]) -> list[str]:
    base = cmp.baseline
    lines = ["| figure | scenario | mean [95% CI] | Δ vs " + base.replace("|", "/")
             + " [95% CI] | p | significant |", "|---|---|---:|---:|---:|:---:|"]
    t = cmp.table.set_index(["figure", "scenario"])
    for fig in figures:
        for k, name in enumerate(cmp.names):
            if (fig, name) not in t.index:
                continue
            # A full key of the (figure, scenario) index picks one row: the stubs type it a
            # scalar.
            r = cast("pd.Series[Any]", t.loc[(fig, name)])
            label = area_label(fig) if k == 0 else ""
            cell = format_interval(fig, r["mean"], r["ci_low"], r["ci_high"])
            if name == base:
                diff = p = sig = ""
            else:
                diff = format_interval(fig, r["diff"], r["diff_ci_low"], r["diff_ci_high"], True)
                p = "n/a" if r["p_value"] is pd.NA else f"{float(r['p_value']):.3g}"
                sig = "n/a" if r["significant"] is pd.NA else (
                    "**yes**" if bool(r["significant"]) else "no")
            lines.append(f"| {label} | {name} | {cell} | {diff} | {p} | {sig} |")
    return lines


def _markdown(cmp: Comparison, *, nodes: bool = True) -> str:
    lines = [f"# Comparison: {', '.join(cmp.names)}", ""]
    reps = sorted({int(cmp.results[n].summary.get("replications") or 0) for n in cmp.names})
    lines += [
        (f"Baseline: **{cmp.baseline}**. Each figure is computed per replication; the table "
         f"gives the mean over replications with its {CONFIDENCE:.0%} confidence interval "
         "(Student t), the difference to the baseline with its interval, and Welch's t-test "
         f"(two-sided, significant when p < {cmp.alpha:g}; each row on its own, no "
         "correction for multiple comparisons). Shares and utilisations are in percent, "
         "their differences in percentage points (pp); latencies in ms. n/a: fewer than two "
         "replications."), "",
        "| scenario | source | replications | seed | logins attempted |",
        "|---|---|---:|---:|---:|"]
    for name, source in zip(cmp.names, cmp.sources):
        s = cmp.results[name].summary
        lines.append(f"| {name} | `{source}` | {s.get('replications')} | {s.get('seed')} | "
                     f"{(s.get('logins') or {}).get('attempted', 0):,} |")
    if len(reps) > 1:
        lines += ["", (f"Note: the scenarios have different numbers of replications "
                       f"({', '.join(map(str, reps))}).")]
    figures = figure_order(cmp.table["figure"].tolist())
    groups = [
        ("Headline figures", [f for f in figures if _group(f) in (0, 1)]),
        ("Latency by region (ms)", [f for f in figures if _group(f) == 2]),
        ("Latency by site (ms)", [f for f in figures if _group(f) == 5]),
        ("Latency by country (ms)", [f for f in figures if _group(f) == 6]),
        ("During and outside each time window", [f for f in figures if _group(f) == 7]),
    ]
    if nodes:
        groups += [("Peak utilisation per node (nodes with load)", _loaded(cmp, figures, 3)),
                   ("Mean utilisation per node (nodes with load)", _loaded(cmp, figures, 4))]
    for title, figs in groups:
        if figs:
            lines += ["", f"## {title}", "", *_md_rows(cmp, figs)]
    return "\n".join(lines) + "\n"


def _known_areas(item: _Input, world: Any) -> tuple[list[str] | None, list[str] | None]:
    """The sites and countries of an input (None: the result does not say)."""
    if world is not None:
        return site_names(world), sorted(set(world.sites.countries))
    assert item.results is not None
    summary = item.results.summary
    if "sites" in summary:
        return list(summary["sites"]), list(summary.get("countries") or {})
    logins = item.results.logins
    if logins is not None and "site" in logins.columns and len(logins):
        table = item.results.sites
        return ([str(s) for s in table["site"]],
                sorted({str(c) for c in table["country"] if str(c)}))
    return None, None


def _resolve_names(asked: Sequence[str], kind: str,
                   known: Sequence[tuple[str, list[str] | None]]) -> list[str]:
    """The names asked for, as the inputs spell them (an exact name, else the one that
    differs only in case), each once.

    Raises
    ------
    ScenarioError
        An input does not have a name (with the closest it has), or says nothing of its
        sites (a folder of an older version without per-login records).
    """
    out: list[str] = []
    for name in asked:
        canonical = name
        for source, names in known:
            if names is None:
                raise ScenarioError(f"the result has no per-{kind} figures (written by an "
                                    "older version without per-login records): run it "
                                    "again", file=source, path=f"--{kind}")
            if canonical in names:
                continue
            folded = [n for n in names if n.casefold() == name.casefold()]
            if len(folded) == 1:
                canonical = folded[0]
                continue
            close = did_you_mean(name, names)
            hint = f" (did you mean {close!r}?)" if close else ""
            raise ScenarioError(f"no {kind} {name!r}{hint}", file=source, path=f"--{kind}")
        if canonical not in out:
            out.append(canonical)
    return out


def _resolve_windows(asked: Sequence[str | TimeWindow], inputs: Sequence[_Input]
                     ) -> list[TimeWindow]:
    out: list[TimeWindow] = []
    for w in asked:
        parsed = parse_window(w) if isinstance(w, str) else w
        if parsed == "event":
            summaries = [i.results.summary if i.results is not None else
                         {"scenario_resolved": i.scenario.resolved()}  # type: ignore[union-attr]
                         for i in inputs]
            found = event_windows(summaries)
            if not found:
                raise ScenarioError("no scenario schedules an event (events:): give a "
                                    "window such as 20m-40m", path="--window")
            spans = found
        else:
            assert isinstance(parsed, TimeWindow)
            spans = [parsed]
        out += [s for s in spans if s not in out]
    return out


def _loaded(cmp: Comparison, figures: Sequence[str], group: int) -> list[str]:
    t = cmp.table
    out = []
    for f in figures:
        if _group(f) != group:
            continue
        m = t.loc[t["figure"] == f, "mean"].astype(float).fillna(0.0)
        if (m > 0).any():
            out.append(f)
    return out


# --------------------------------------------------------------------------- entry point


def compare(items: Sequence[Any], *, overrides: Mapping[str, Any] | None = None,
            replications: int | None = None, seed: int | None = None,
            executor: Executor | str | None = None, jobs: int | None = None,
            scheduler: str | None = None, alpha: float = 1.0 - CONFIDENCE,
            progress: bool | Callable[[float], None] = False,
            out: str | os.PathLike[str] | None = None, figures: bool = True,
            save_runs: bool = True, resume: bool = False, sites: Sequence[str] = (),
            countries: Sequence[str] = (),
            windows: Sequence[str | TimeWindow] = ()) -> Comparison:
    """Run (or read) several scenarios and compare them with the first.

    Parameters
    ----------
    items : sequence
        Scenario files, :class:`~sim.config.schema.Scenario` objects, result folders or
        :class:`~sim.analysis.Results`; the first is the baseline.
    overrides : mapping, optional
        ``{"key.path": value}`` applied to every scenario that is run (``--set``).
    replications, seed : int, optional
        Override every run scenario's ``replications`` / ``seed``.
    executor : Executor or {"local", "dask"}, optional
        Where the runs go (default: local processes); see :mod:`sim.runs.executors`.
    jobs : int, optional
        Local processes, or workers of a local Dask cluster (default: one per core).
    scheduler : str, optional
        Address of a Dask scheduler (implies ``executor="dask"``).
    alpha : float
        Significance level (default 0.05).
    progress : bool or callable
        A progress bar on stderr (True), or a callable given the fraction done.
    out : path-like, optional
        Write the comparison files here, and each run's result folder into
        ``out/runs/<name>/`` (with ``save_runs``), each as soon as it finishes.
    resume : bool
        Reuse the runs in ``out/runs/`` that are results of exactly the same resolved
        scenario (finished before an interruption) instead of running them again.
    figures : bool
        With ``out``: also draw the PNG figures.
    sites, countries : sequence of str
        Also compare these sites' (city names, as in ``sites.csv``) and countries' (ISO
        codes) p50, p95 and p99; a name no scenario has is an error.
    windows : sequence of str or TimeWindow
        Also compare the figures during and outside these time windows: ``"event"`` (each
        scheduled event of any of the scenarios) or ``"20m-40m"``.

    Returns
    -------
    Comparison

    Raises
    ------
    ScenarioError, ResultsError, sim.runs.executors.ExecutorError
    """

    if len(items) < 1:
        raise ScenarioError("compare needs at least one scenario file or result folder")
    if out is not None:
        check_folder(Path(out), (*COMPARISON_FILES, "report.html"), "comparison")
    extra: dict[str, Any] = {}
    if replications is not None:
        extra["replications"] = replications
    if seed is not None:
        extra["seed"] = seed
    inputs = [_as_input(item, overrides or {}, extra) for item in items]
    names = _unique_names([i.name for i in inputs])
    runs_dir = Path(out) / "runs" if out is not None and save_runs else None
    if resume and runs_dir is not None:
        for k, i in enumerate(inputs):
            folder = runs_dir / safe_name(names[k])
            if i.scenario is not None and \
                    previous_result(folder, i.scenario.resolved()) is not None:
                i.results = Results.load(folder)  # finished before an interruption
                i.scenario = None
    to_run = [k for k, i in enumerate(inputs) if i.scenario is not None]
    worlds = [prepare_world(inputs[k].scenario, inputs[k].source)  # type: ignore[arg-type]
              for k in to_run]
    # Names and windows are checked before anything runs.
    known = [_known_areas(i, worlds[to_run.index(k)] if k in to_run else None)
             for k, i in enumerate(inputs)]
    site_list = _resolve_names(sites, "site", [(i.source, kn[0]) for i, kn in
                                               zip(inputs, known)])
    country_list = _resolve_names(countries, "country", [(i.source, kn[1]) for i, kn in
                                                         zip(inputs, known)])
    spans = _resolve_windows(windows, inputs)

    def keep(index: int, res: Results) -> Results:
        # Each scenario's run is saved as soon as it finishes, so an interrupted
        # comparison keeps what finished (``resume=True`` reuses it).
        if runs_dir is not None:
            res.save(runs_dir / safe_name(names[to_run[index]]), overwrite=True)
        return res

    if worlds:
        ex = make_executor(executor, jobs=jobs, scheduler=scheduler)
        try:
            done = run_worlds(worlds, ex, progress=progress, desc="compare", on_done=keep)
        finally:
            if not isinstance(executor, Executor):
                ex.close()
        for k, res in zip(to_run, done):
            inputs[k].results = res
    cmp = Comparison(names, [i.source for i in inputs],
                     [i.results for i in inputs], alpha=alpha,  # type: ignore[misc]
                     sites=site_list, countries=country_list, windows=spans)
    if out is not None:
        cmp.save(out, figures=figures)
    return cmp

