"""Parameter sweeps: a scenario run at every point of a grid of ``key.path`` values.

>>> import sim
>>> sw = sim.sweep("scenarios/tiny.yaml",
...                {"nodes.overrides.access-singapore.workers": [1, 2, 4]},
...                overrides={"duration": "3m"}, replications=3,
...                out="results/sweep-sg")  # doctest: +SKIP
>>> sw.table[["nodes.overrides.access-singapore.workers", "latency_ms.p95",
...           "latency_ms.p95.ci_low", "latency_ms.p95.ci_high"]]  # doctest: +SKIP
>>> sw.plot("latency_ms.p95")  # doctest: +SKIP

The grid is the cartesian product of the values of every key (the first key varies
slowest). Each point runs with replications and is written to its own result folder under
``out``, named by its parameters (``key=value,key=value``); ``out`` also gets
``sweep.csv``, ``sweep.json``, ``sweep.md`` and a plot of each headline figure against each
swept parameter in ``figures/``. A point whose folder already holds a result of the same
resolved scenario is not run again (``force=True`` reruns it), so an interrupted sweep
finishes only the missing points.

A sweep can also be described in a YAML file (keys relative to the file)::

    scenario: ../global-baseline.yaml
    grid:
      addressing.levels[3].spill.max_utilization: [0.6, 0.7, 0.8, 0.9]
    set: {duration: 10m}     # optional overrides applied to every point
    replications: 3          # optional
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, SupportsInt, cast

import pandas as pd
import yaml

from sim.config import Scenario, load_scenario
from sim.config.messages import shown, shown_value
from sim.config.yaml_io import YamlLimitError, load_yaml, read_input_text, read_yaml
from sim.errors import ResultsError, ScenarioError, SimError
from sim.analysis.results import Results, atomic_write_text, check_folder
from sim.analysis.statistics import CONFIDENCE, HEADLINE_FIGURES, figure_label, mean_ci
from sim.runs.compare import figure_order, replicate_table, safe_name
from sim.runs.executors import Executor, make_executor, run_worlds
from sim.runs.prepare import prepare_world
from sim.runs.resume import previous_result
from sim.views.drawing import colours, new_axes
from sim.views.text import format_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from sim.config.schema import Scenario

__all__ = [
    "SWEEP_FILES",
    "Sweep",
    "SweepSpec",
    "is_sweep_file",
    "load_sweep_file",
    "parse_grid",
    "sweep",
]

SWEEP_FILES = ("sweep.csv", "sweep.json", "sweep.md")
_SWEEP_KEYS = {"name", "description", "scenario", "grid", "set", "replications", "seed"}


# --------------------------------------------------------------------------- grid


def _split_top(text: str) -> list[str]:
    """Split at commas outside brackets, braces and quotes."""
    parts, depth, quote, cur = [], 0, "", []
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts]


def _parse_value(text: str) -> Any:
    try:
        return load_yaml(text) if text.strip() else text
    except YamlLimitError as e:  # too deep, too many aliases: an error, not a string
        raise ScenarioError(f"value {shown_value(text)}: {e.message}", file="--grid") from None
    except yaml.YAMLError:
        return text


def parse_grid(specs: Sequence[str]) -> dict[str, list[Any]]:
    """``["key.path=v1,v2,v3", ...]`` (the CLI's ``--grid``) as ``{key: [values]}``.

    Values are read as YAML scalars (``0.7``, ``true``, ``10m``); commas inside ``[...]`` or
    ``{...}`` do not split.

    Examples
    --------
    >>> parse_grid(["population.dau=1e5,2e5", "addressing.strategy=multilevel,oracle"])
    {'population.dau': [100000.0, 200000.0], 'addressing.strategy': ['multilevel', 'oracle']}

    Raises
    ------
    ScenarioError
        A spec without ``=``, a key given twice, or no values.
    """
    grid: dict[str, list[Any]] = {}
    for spec in specs:
        key, sep, values = spec.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ScenarioError(f"{spec}: expected key.path=v1,v2,...", file="--grid")
        if key in grid:
            raise ScenarioError("given twice", file="--grid", path=key)
        items = [v for v in _split_top(values) if v != ""]
        if not items:
            raise ScenarioError("no values", file="--grid", path=key)
        grid[key] = [_parse_value(v) for v in items]
    return grid


def _value_text(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer() and abs(v) >= 1e4:
        return str(int(v))
    if isinstance(v, (int, float)):
        return f"{v:g}" if isinstance(v, float) else str(v)
    text: str = yaml.safe_dump(v, default_flow_style=True, sort_keys=False)
    return text.strip().removesuffix("...").strip()


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep file holds: the scenario, the grid and fixed overrides."""
    scenario: Path
    grid: dict[str, list[Any]]
    overrides: dict[str, Any]
    replications: int | None = None
    seed: int | None = None
    name: str | None = None


def is_sweep_file(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a YAML mapping with a ``grid`` key (not a scenario)."""
    p = Path(path)
    if not p.is_file():
        return False
    try:  # (within the size and YAML limits; a file that breaks them is the loader's to report)
        data = load_yaml(read_input_text(p, what="sweep"))
    except (SimError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and "grid" in data


def load_sweep_file(path: str | os.PathLike[str]) -> SweepSpec:
    """Read a sweep YAML file (``scenario``, ``grid``, optional ``set``, ``replications``,
    ``seed``, ``name``, ``description``).

    Raises
    ------
    ScenarioError
        With the file and key.
    """

    p = Path(path)
    label = shown(p)
    data = read_yaml(p, what="sweep")
    for key in data:
        if key not in _SWEEP_KEYS:
            raise ScenarioError(f"unknown key (expected one of: {', '.join(sorted(_SWEEP_KEYS))})",
                                file=label, path=str(key))
    scenario = data.get("scenario")
    if not isinstance(scenario, str) or not scenario.strip():
        raise ScenarioError("expected the scenario file this sweep runs", file=label,
                            path="scenario")
    grid = data.get("grid")
    if not isinstance(grid, dict) or not grid:
        raise ScenarioError("expected a mapping of key.path: [values]", file=label, path="grid")
    out: dict[str, list[Any]] = {}
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ScenarioError(f"expected a non-empty list of values, got {values!r}",
                                file=label, path=f"grid.{key}")
        out[str(key)] = list(values)
    fixed = data.get("set") or {}
    if not isinstance(fixed, dict):
        raise ScenarioError(f"expected a mapping of key.path: value, got {fixed!r}",
                            file=label, path="set")
    reps = data.get("replications")
    if reps is not None and (not isinstance(reps, int) or isinstance(reps, bool) or reps < 1):
        raise ScenarioError(f"must be an integer >= 1, got {reps!r}", file=label,
                            path="replications")
    seed = data.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise ScenarioError(f"must be an integer >= 0, got {seed!r}", file=label, path="seed")
    return SweepSpec(p.parent / scenario, out, {str(k): v for k, v in fixed.items()}, reps,
                     seed, data.get("name"))


# --------------------------------------------------------------------------- the object


@dataclass
class _Point:
    params: dict[str, Any]
    name: str
    folder: Path | None
    scenario: Scenario
    status: str = "pending"
    summary: dict[str, Any] | None = None


class Sweep:
    """The points of a sweep and their figures.

    Attributes
    ----------
    params : list of str
        The swept key paths.
    points : pandas.DataFrame
        One row per point: the parameters, ``point`` (its name), ``folder``, ``status``
        (``ran`` or ``reused``) and ``replications``.
    long : pandas.DataFrame
        One row per point and figure: parameters, ``point``, ``figure``, ``label``, ``n``,
        ``mean``, ``ci_low``, ``ci_high``.
    table : pandas.DataFrame
        One row per point: parameters, ``point``, ``status`` and for every figure its mean
        and ``<figure>.ci_low`` / ``<figure>.ci_high``.
    summaries : list of dict
        Each point's ``summary.json``.
    """

    def __init__(self, params: Sequence[str], points: Sequence[_Point], *,
                 source: str = "", overrides: Mapping[str, Any] | None = None):
        self.params = list(params)
        self.source = source
        self.overrides = dict(overrides or {})
        self._points = list(points)
        self.summaries = [p.summary or {} for p in self._points]
        self.points = pd.DataFrame([{**p.params, "point": p.name,
                                     "folder": str(p.folder) if p.folder else None,
                                     "status": p.status,
                                     "replications": (p.summary or {}).get("replications")}
                                    for p in self._points])
        rows = []
        for p in self._points:
            rep = replicate_table(p.name, Results(p.summary or {}, pd.DataFrame(),
                                                  pd.DataFrame()))
            # The keys are figure names (the stubs type group keys as any scalar).
            grouped = {cast(str, f): g.sort_values("replication")["value"].tolist()
                       for f, g in rep.groupby("figure", sort=False)}
            for fig in figure_order(list(grouped)):
                ci = mean_ci(grouped[fig])
                rows.append({**p.params, "point": p.name, "figure": fig,
                             "label": figure_label(fig), "n": ci.n,
                             "mean": _round(ci.mean), "ci_low": _round(ci.low),
                             "ci_high": _round(ci.high)})
        self.long = pd.DataFrame(rows)
        self.table = self._wide()

    def __repr__(self) -> str:
        return f"Sweep({', '.join(self.params)}; {len(self._points)} points)"

    def _wide(self) -> pd.DataFrame:
        base = self.points[[*self.params, "point", "status", "replications"]].copy()
        if len(self.long) == 0:
            return base
        figures = figure_order(self.long["figure"].tolist())
        cols: dict[str, list[Any]] = {}
        index = {name: i for i, name in enumerate(base["point"])}
        for fig in figures:
            for suffix, col in (("", "mean"), (".ci_low", "ci_low"), (".ci_high", "ci_high")):
                cols[fig + suffix] = [None] * len(base)
        for row in self.long.itertuples(index=False):
            assert isinstance(row.figure, str)  # the stubs type a row's fields as any scalar
            i = index[row.point]
            cols[row.figure][i] = row.mean
            cols[row.figure + ".ci_low"][i] = row.ci_low
            cols[row.figure + ".ci_high"][i] = row.ci_high
        extra = pd.DataFrame({k: pd.array(v, dtype="Float64") for k, v in cols.items()})
        return pd.concat([base.reset_index(drop=True), extra], axis=1)

    @property
    def ran(self) -> list[str]:
        """Names of the points run this time."""
        return [p.name for p in self._points if p.status == "ran"]

    @property
    def reused(self) -> list[str]:
        """Names of the points whose earlier result was reused."""
        return [p.name for p in self._points if p.status == "reused"]

    def results(self, point: str | int) -> Results:
        """The full results of a point (read from its folder)."""
        p = self._points[point] if isinstance(point, int) else next(
            (q for q in self._points if q.name == point), None)
        if p is None:
            raise KeyError(f"no point {point!r}")
        if p.folder is None:
            raise ResultsError("this sweep was not saved (no out folder)", file=p.name)
        return Results.load(p.folder)

    # ------------------------------------------------------------------ plots

    def plot(self, figure: str = "latency_ms.p95", param: str | None = None,
             ax: Axes | None = None) -> Axes:
        """A figure (mean and 95% CI) against a swept parameter; with more than one
        parameter, one line per combination of the others.

        Parameters
        ----------
        figure : str
            A figure name (``latency_ms.p95``, ``addressing.spill_share``,
            ``nodes.<node>.peak_utilization`` ...; see :mod:`sim.analysis.statistics`).
        param : str, optional
            The swept key for the x axis (default: the first).
        ax : matplotlib.axes.Axes, optional
            Where to draw.
        """
        param = param or self.params[0]
        if param not in self.params:
            raise KeyError(f"{param!r} is not swept; swept: {', '.join(self.params)}")
        rows = self.long[self.long["figure"] == figure]
        if len(rows) == 0:
            known = ", ".join(dict.fromkeys(self.long["figure"])) if len(self.long) else "none"
            raise KeyError(f"no figure {figure!r}; known: {known}")
        ax = new_axes(ax, (7.0, 4.5))
        others = [p for p in self.params if p != param]
        values = list(dict.fromkeys(_hashable(v) for v in self.points[param]))
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        groups = ([((), rows)] if not others else
                  list(rows.groupby([rows[o].map(_hashable) for o in others], sort=False)))
        palette = colours(max(len(groups), 1))
        for (key, g), colour in zip(groups, palette):
            g = g.assign(_x=g[param].map(_hashable))
            order = sorted(g.index, key=lambda i: values.index(g.at[i, "_x"]))
            g = g.loc[order]
            x = (g["_x"].astype(float).to_numpy() if numeric
                 else [values.index(v) for v in g["_x"]])
            mean = g["mean"].astype(float).to_numpy()
            lo = g["ci_low"].astype(float).fillna(g["mean"].astype(float)).to_numpy()
            hi = g["ci_high"].astype(float).fillna(g["mean"].astype(float)).to_numpy()
            label = None
            if others:
                parts = key if isinstance(key, tuple) else (key,)
                label = ", ".join(f"{o}={_value_text(v)}" for o, v in zip(others, parts))
            ax.errorbar(x, mean, yerr=[mean - lo, hi - mean], marker="o", capsize=4,
                        color=colour, label=label)
        if not numeric:
            ax.set_xticks(range(len(values)), [_value_text(v) for v in values])
        ax.set_xlabel(param)
        ax.set_ylabel(figure_label(figure))
        ax.set_title(f"{figure_label(figure)} vs {param.rsplit('.', 1)[-1]} "
                     f"(mean, {CONFIDENCE:.0%} CI)", fontsize="medium")
        ax.grid(True, alpha=0.3)
        if others:
            ax.legend(fontsize="small")
        return ax

    plot_figure = plot  # the name Comparison uses

    def save_figures(self, folder: str | os.PathLike[str],
                     figures: Sequence[str] = HEADLINE_FIGURES) -> list[Path]:
        """One PNG per headline figure and swept parameter:
        ``<figure>__vs__<param>.png``."""
        from matplotlib.figure import Figure  # deferred: matplotlib loads for figures only

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        known = set(self.long["figure"]) if len(self.long) else set()
        written = []
        for fig_name in figures:
            if fig_name not in known:
                continue
            for param in self.params:
                fig = Figure(figsize=(7.0, 4.5), layout="constrained")
                self.plot(fig_name, param, ax=fig.add_subplot())
                path = folder / f"{safe_name(fig_name)}__vs__{safe_name(param)}.png"
                fig.savefig(path, dpi=110, facecolor="white")
                fig.clear()
                written.append(path)
        return written

    # ------------------------------------------------------------------ files

    def to_json(self) -> dict[str, Any]:
        """``sweep.json``: the grid, and per point its parameters, folder, status and
        figures (mean and CI); ``run`` holds timing (differs between runs)."""
        points = []
        for p, summary in zip(self._points, self.summaries):
            rows = self.long[self.long["point"] == p.name] if len(self.long) else self.long
            points.append({
                "point": p.name, "params": p.params,
                "folder": p.folder.name if p.folder else None, "status": p.status,
                "replications": summary.get("replications"), "seed": summary.get("seed"),
                "figures": {r.figure: {"n": int(cast(SupportsInt, r.n)), "mean": _none(r.mean),
                                       "low": _none(r.ci_low), "high": _none(r.ci_high)}
                            for r in rows.itertuples(index=False)}})
        return {"scenario": self.source, "params": self.params, "overrides": self.overrides,
                "confidence": CONFIDENCE, "points": points,
                "run": {p.name: (s.get("run") or {}) for p, s in zip(self._points,
                                                                      self.summaries)}}

    def to_csv(self) -> str:
        """``sweep.csv``: :attr:`table` without the status column (identical bytes when
        points are reused)."""
        table = self.table.drop(columns=["status"])
        for p in self.params:
            table[p] = table[p].map(_value_text)
        return table.to_csv(index=False, lineterminator="\n")

    def to_markdown(self) -> str:
        """``sweep.md``: the headline figures of every point (mean [95% CI])."""
        figs = [f for f in HEADLINE_FIGURES if len(self.long) and f in set(self.long["figure"])]
        header = [*self.params, *[figure_label(f) for f in figs]]
        lines = [f"# Sweep of {self.source or 'a scenario'}", "",
                 (f"{len(self._points)} points; mean over replications with its "
                  f"{CONFIDENCE:.0%} confidence interval. Each point's full result is in its "
                  "folder (named by its parameters)."), "",
                 "| " + " | ".join(header) + " |",
                 "|" + "---|" * len(self.params) + "---:|" * len(figs)]
        for _, row in self.table.iterrows():
            cells = [_value_text(row[p]) for p in self.params]
            for f in figs:
                m, lo, hi = row.get(f), row.get(f + ".ci_low"), row.get(f + ".ci_high")
                text = format_figure(f, None if m is pd.NA else m)
                if text != "n/a":
                    text += (" [n/a]" if lo is pd.NA or lo is None else
                             f" [{format_figure(f, lo)}, {format_figure(f, hi)}]")
                cells.append(text)
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def save(self, out_dir: str | os.PathLike[str], *, figures: bool = True) -> Path:
        """Write ``sweep.csv``, ``sweep.json``, ``sweep.md`` and (with ``figures``)
        ``figures/*.png`` into ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "sweep.csv", self.to_csv())
        atomic_write_text(out / "sweep.json",
                          json.dumps(self.to_json(), indent=2, allow_nan=False,
                                     default=_json_default) + "\n")
        atomic_write_text(out / "sweep.md", self.to_markdown())
        if figures:
            self.save_figures(out / "figures")
        return out


def _round(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), 6)


def _none(v: Any) -> Any:
    if v is None or v is pd.NA:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _hashable(x)) for k, x in v.items()))
    return v


def _json_default(v: Any) -> Any:
    if isinstance(v, tuple):
        return list(v)
    return str(v)


# --------------------------------------------------------------------------- entry point


def _point_name(params: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={_value_text(v)}" for k, v in params.items())


def sweep(scenario: str | os.PathLike[str] | Scenario,
          grid: Mapping[str, Sequence[Any]] | None = None, *,
          out: str | os.PathLike[str] | None = None,
          overrides: Mapping[str, Any] | None = None,
          replications: int | None = None, seed: int | None = None, force: bool = False,
          executor: Executor | str | None = None, jobs: int | None = None,
          scheduler: str | None = None,
          progress: bool | Callable[[float], None] = False,
          figures: bool = True,
          on_point: Callable[[str, Results], None] | None = None) -> Sweep:
    """Run a scenario at every point of a grid.

    Parameters
    ----------
    scenario : path-like or Scenario
        A scenario file, a :class:`~sim.config.schema.Scenario`, or a sweep YAML file (then
        ``grid`` adds to its grid, ``overrides`` to its ``set``).
    grid : mapping of str to sequence
        ``{"key.path": [values]}``; the cartesian product is run.
    out : path-like, optional
        The sweep folder: one result folder per point, plus ``sweep.csv/json/md`` and
        ``figures/``. Without it nothing is written and nothing can be reused.
    overrides : mapping, optional
        Fixed ``{"key.path": value}`` changes applied to every point (``--set``).
    replications, seed : int, optional
        Override the scenario's.
    force : bool
        Rerun points whose folder already holds a result of the same resolved scenario.
    executor, jobs, scheduler
        Where the runs go (see :func:`sim.runs.compare.compare`).
    progress : bool or callable
        A progress bar (True) or a callable given the fraction done.
    figures : bool
        With ``out``: draw the plots.
    on_point : callable, optional
        ``on_point(name, results)`` after each point that ran has been saved.

    Returns
    -------
    Sweep

    Raises
    ------
    ScenarioError, ResultsError, sim.runs.executors.ExecutorError
    """

    if out is not None:
        check_folder(Path(out), SWEEP_FILES, "sweep")
    fixed: dict[str, Any] = {}
    full_grid: dict[str, list[Any]] = {}
    if not isinstance(scenario, Scenario) and is_sweep_file(scenario):
        spec = load_sweep_file(scenario)
        full_grid.update(spec.grid)
        fixed.update(spec.overrides)
        replications = replications if replications is not None else spec.replications
        seed = seed if seed is not None else spec.seed
        base: str | os.PathLike[str] | Scenario = spec.scenario
    else:
        base = scenario
    for key, values in (grid or {}).items():
        if key in full_grid:
            raise ScenarioError("swept twice (in the sweep file and in the grid)",
                                file="--grid", path=key)
        full_grid[key] = list(values)
    if not full_grid:
        raise ScenarioError("nothing to sweep: give --grid key.path=v1,v2,... or a sweep file",
                            file="--grid")
    for key, values in full_grid.items():
        if not values:
            raise ScenarioError("no values", file="--grid", path=key)
    fixed.update(overrides or {})
    if replications is not None:
        fixed["replications"] = replications
    if seed is not None:
        fixed["seed"] = seed
    swept = set(full_grid)
    clash = sorted(swept & set(fixed))
    if clash:
        raise ScenarioError("both swept and set to a fixed value", file="--grid",
                            path=clash[0])

    source = "scenario" if isinstance(base, Scenario) else shown(base)
    keys = list(full_grid)
    points: list[_Point] = []
    used: dict[str, int] = {}
    for combo in itertools.product(*(full_grid[k] for k in keys)):
        params = dict(zip(keys, combo))
        changes = {**fixed, **params}
        try:
            sc = (base.with_overrides(changes) if isinstance(base, Scenario)
                  else load_scenario(base, changes))
        except ScenarioError as e:
            raise ScenarioError(f"point {_point_name(params)}: {e}") from None
        name = _point_name(params)
        folder_name = safe_name(name)
        k = used.get(folder_name, 0)
        used[folder_name] = k + 1
        if k:
            folder_name = f"{folder_name}_{k + 1}"
        folder = Path(out) / folder_name if out is not None else None
        points.append(_Point(params, name, folder, sc))

    todo: list[_Point] = []
    for p in points:
        prev = None if force or p.folder is None else \
            previous_result(p.folder, p.scenario.resolved())
        if prev is not None:
            p.summary, p.status = prev, "reused"
        else:
            todo.append(p)
    if todo:
        worlds = [prepare_world(p.scenario, source) for p in todo]

        def done(i: int, res: Results) -> Results:
            p = todo[i]
            if p.folder is not None:
                res.save(p.folder)
            p.summary, p.status = res.summary, "ran"
            if on_point is not None:
                on_point(p.name, res)
            return Results(res.summary, pd.DataFrame(), pd.DataFrame())  # keep the summary

        ex = make_executor(executor, jobs=jobs, scheduler=scheduler)
        try:
            run_worlds(worlds, ex, progress=progress, desc="sweep", on_done=done)
        finally:
            if not isinstance(executor, Executor):
                ex.close()
    result = Sweep(keys, points, source=source, overrides=fixed)
    if out is not None:
        result.save(out, figures=figures)
    return result

