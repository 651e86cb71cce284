"""Where to add access or cache nodes, at what cost, for what latency: ``access-sim plan``.

1. Candidates: shipped cities above a population that do not host a node of the kind yet, or
   a candidates file (cities, or named coordinates).
2. Screening on the surrogate (:mod:`sim.runs.surrogate`): greedy forward selection of up to
   ``nodes`` nodes on the objective (the p95 or mean login latency over the scope: every
   site, regions, sites), each prefix then improved by single swaps; or, with a target
   (``p95<=400ms``), the cheapest set the greedy finds that meets it.
3. Verification: the baseline and the best plans are simulated with the scenario's
   replications; each figure is the mean over replications with its 95% interval
   (:func:`sim.analysis.statistics.mean_ci`).
4. Output folder: ``plan.csv``, ``plan.json``, ``pareto.png``, ``map.png`` and one scenario
   variant per plan (``plan-1.yaml``, ...: ``extends:`` the scenario, ``network: add:``),
   which ``access-sim run`` and ``compare`` accept.

>>> import sim.runs.plan as plan_mod
>>> result = plan_mod.plan("scenarios/tiny.yaml", nodes=1, verify=1,
...                        overrides={"duration": "3m"})  # doctest: +SKIP
>>> result.table[["plan", "nodes", "cost_month", "sim_p95_ms"]]  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from sim.analysis import Results
from sim.analysis.folders import write_result_folder
from sim.analysis.results import atomic_write_text, unique_site_names
from sim.analysis.statistics import CONFIDENCE, mean_ci
from sim.config import Scenario, load_scenario
from sim.config.messages import shown, shown_text, suggestion
from sim.config.schema import REGIONS
from sim.config.yaml_io import parse_yaml_any, read_input_text, read_yaml
from sim.errors import LocatedError
from sim.model.network_edits import find_city, nearest_city
from sim.runs.executors import Executor, make_executor, run_worlds
from sim.runs.prepare import prepare_world
from sim.runs.surrogate import Candidate, Surrogate, city_candidates, scenario_with
from sim.views.plan_figures import draw_map, draw_pareto

__all__ = ["PlanResult", "plan", "parse_target", "parse_scope", "load_costs",
           "load_candidates", "NODE_COSTS", "PLAN_FILES"]

NODE_COSTS = Path(__file__).resolve().parents[1] / "data" / "node_costs.yaml"
"""The default cost of a node per month (data the user replaces: ``--costs``)."""
PLAN_FILES = ("plan.csv", "plan.json", "pareto.png", "map.png")


class PlanError(LocatedError):
    """A bad option or input file of ``plan`` (the CLI shows it as one line, exit status 2)."""


# --------------------------------------------------------------------------- inputs


_TARGET = re.compile(r"^\s*(p95|mean)\s*<=\s*([0-9]+(?:\.[0-9]*)?)\s*(ms|s)?\s*$")


def parse_target(text: str) -> tuple[str, float]:
    """``"p95<=400ms"`` -> ``("p95", 400.0)``; ``mean`` and seconds (``0.4s``) too.

    Raises
    ------
    PlanError
        ``--target 'p95<400': expected p95<=NUMBERms or mean<=NUMBERms``.
    """
    m = _TARGET.match(text)
    if m is None:
        raise PlanError(f"--target {text!r}: expected p95<=NUMBERms or mean<=NUMBERms")
    value = float(m.group(2)) * (1000.0 if m.group(3) == "s" else 1.0)
    if value <= 0:
        raise PlanError(f"--target {text!r}: the latency must be > 0")
    return m.group(1), value


def parse_scope(text: str, site_names: Sequence[str]) -> str:
    """``all``, ``region:R`` (a region of the schema) or ``site:NAME`` (a site of the
    scenario), normalised.

    Raises
    ------
    PlanError
        Unknown region or site, or another form.
    """
    kind, sep, value = text.strip().partition(":")
    if kind == "all" and not sep:
        return "all"
    if kind == "region" and sep:
        if value not in REGIONS:
            raise PlanError(f"--scope {text!r}: unknown region {value!r}"
                            f"{suggestion(value, REGIONS)}; known: {', '.join(REGIONS)}")
        return f"region:{value}"
    if kind == "site" and sep:
        if value not in site_names:
            raise PlanError(f"--scope {text!r}: no site {value!r} in the scenario's "
                            f"population{suggestion(value, site_names)}")
        return f"site:{value}"
    raise PlanError(f"--scope {text!r}: expected all, region:NAME or site:NAME")


def load_costs(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """A node cost file: ``currency``, ``per_node_month`` (by kind) and optional
    ``region_factor`` (by region, default 1).

    Raises
    ------
    PlanError
        Missing file, or a missing or negative value (naming the key).
    """
    p = Path(path) if path is not None else NODE_COSTS
    label = shown(p)
    # Read as every input is: regular files only, size-limited, the limited YAML loader.
    doc = read_yaml(p, what="node costs", error_type=PlanError)
    per_node = doc.get("per_node_month")
    if not isinstance(per_node, dict) or not per_node:
        raise PlanError(f"{label}: per_node_month: expected a mapping of node kind to cost")
    for kind, v in per_node.items():
        if kind not in ("access", "cache"):
            raise PlanError(f"{label}: per_node_month.{kind}: expected access or cache")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
            raise PlanError(f"{label}: per_node_month.{kind}: expected a cost >= 0, got {v!r}")
    factors = doc.get("region_factor") or {}
    if not isinstance(factors, dict):
        raise PlanError(f"{label}: region_factor: expected a mapping of region to factor")
    for region, v in factors.items():
        if region not in REGIONS:
            raise PlanError(f"{label}: region_factor.{region}: unknown region")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
            raise PlanError(f"{label}: region_factor.{region}: expected a factor > 0, "
                            f"got {v!r}")
    return {"currency": str(doc.get("currency", "USD")), "per_node_month": per_node,
            "region_factor": factors, "file": label}


def node_cost(costs: Mapping[str, Any], kind: str, region: str) -> float:
    """A node's cost per month: the kind's price times the region's factor."""
    base = costs["per_node_month"].get(kind)
    if base is None:
        raise PlanError(f"{costs['file']}: per_node_month.{kind}: no cost for {kind} nodes")
    return float(base) * float(costs["region_factor"].get(region, 1.0))


def load_candidates(path: str | os.PathLike[str], kind: str) -> list[Candidate]:
    """Candidates from a CSV (columns ``city`` [, ``country``] or ``name, lat, lon``
    [, ``region``]) or a YAML list of such mappings (or of city names).

    Raises
    ------
    PlanError
        Missing file, unknown city, bad coordinates: naming the file and the row.
    """
    p = Path(path)
    label = shown(p)
    # Regular files only, size-limited, UTF-8 (with or without a byte-order mark).
    text = read_input_text(p, what="candidates", error_type=PlanError, label=label,
                           encoding="utf-8-sig")
    rows: list[Any]
    if p.suffix.lower() in (".yaml", ".yml"):
        doc = parse_yaml_any(text, shown=label, error_type=PlanError)
        rows = doc if isinstance(doc, list) else []
        if not rows:
            raise PlanError(f"{label}: expected a list of cities or coordinates")
    else:
        try:
            rows = list(csv.DictReader(io.StringIO(text, newline="")))
        except csv.Error as e:
            raise PlanError(f"invalid CSV: {shown_text(str(e), 120)}", file=label) from None
        if not rows:
            raise PlanError(f"{label}: no candidate (expected a header: city or "
                            "name,lat,lon)")
    out: list[Candidate] = []
    for i, row in enumerate(rows):
        where = f"{label}: row {i + 1}"
        if isinstance(row, str):
            row = {"city": row}
        if not isinstance(row, dict):
            raise PlanError(f"{where}: expected a city name or a mapping")
        row = {str(k).strip(): v for k, v in row.items() if v not in (None, "")}
        if "city" in row:
            name = str(row["city"]).strip()
            if row.get("country"):
                name = f"{name}, {str(row['country']).strip()}"
            try:
                city = find_city(name)
            except ValueError as e:
                raise PlanError(f"{where}: {e}") from None
            out.append(Candidate(city.name, city.country, city.region, city.lat, city.lon,
                                 kind, city.population, ambiguous=True))
            continue
        if not {"name", "lat", "lon"} <= set(row):
            raise PlanError(f"{where}: expected city, or name, lat and lon")
        try:
            lat, lon = float(row["lat"]), float(row["lon"])
        except (TypeError, ValueError):
            raise PlanError(f"{where}: lat and lon must be numbers") from None
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            raise PlanError(f"{where}: lat must be in [-90, 90] and lon in [-180, 180], "
                            f"got {lat:g}, {lon:g}")
        region = str(row.get("region") or nearest_city(lat, lon).region)
        if region not in REGIONS:
            raise PlanError(f"{where}: unknown region {region!r}{suggestion(region, REGIONS)}")
        out.append(Candidate(str(row["name"]), str(row.get("country", "")), region, lat, lon,
                             kind, by_coordinates=True))
    seen: set[str] = set()
    for c in out:
        if c.node_id in seen:
            raise PlanError(f"{label}: {c.city!r} is listed twice (node id {c.node_id!r})")
        seen.add(c.node_id)
    return out


# --------------------------------------------------------------------------- search


@dataclass
class _Plan:
    chosen: tuple[int, ...]
    objective_ms: float
    cost: float
    label: str = ""


def greedy(sur: Surrogate, pool: Sequence[int], mask: np.ndarray, statistic: str,
           max_nodes: int, costs: Sequence[float], target_ms: float | None = None
           ) -> list[_Plan]:
    """Greedy forward selection on the surrogate, each step's set improved by single swaps.

    Without a target: the best set of each size 1..``max_nodes`` (stopping early when no
    candidate helps). With ``target_ms``: each step adds the node with the largest gain per
    cost, until the objective meets the target; then swaps lower the cost where the target
    still holds. Returns the plans in order of size.
    """
    def f(chosen: Sequence[int]) -> float:
        return sur.objective(list(chosen), mask, statistic)

    def cost(chosen: Sequence[int]) -> float:
        return float(sum(costs[k] for k in chosen))

    plans: list[_Plan] = []
    current: list[int] = []
    value = f(current)
    for _ in range(max_nodes):
        best: tuple[float, float, int] | None = None
        for k in pool:
            if k in current:
                continue
            v = f([*current, k])
            gain = value - v
            if target_ms is None:
                key = (v, costs[k], k)
            else:
                key = (-gain / max(costs[k], 1e-9), v, k)
            if gain > 1e-9 and (best is None or key < best):
                best = (key[0], key[1], k)
        if best is None:
            break
        current.append(best[2])
        value = f(current)
        current, value = _swap_pass(f, cost, pool, current, value, target_ms)
        plans.append(_Plan(tuple(current), value, cost(current)))
        if target_ms is not None and value <= target_ms:
            break
    return plans


def _swap_pass(f: Callable[[Sequence[int]], float], cost: Callable[[Sequence[int]], float],
               pool: Sequence[int], current: list[int], value: float,
               target_ms: float | None, max_rounds: int = 3) -> tuple[list[int], float]:
    """Single swaps (one member for one non-member) while one improves the objective
    (with a target met: lowers the cost and keeps it met)."""
    for _ in range(max_rounds):
        improved = False
        for i in range(len(current)):
            for k in pool:
                if k in current:
                    continue
                trial = [*current[:i], k, *current[i + 1:]]
                v = f(trial)
                if target_ms is not None and value <= target_ms:
                    better = v <= target_ms and cost(trial) < cost(current) - 1e-9
                else:
                    better = v < value - 1e-6
                if better:
                    current, value, improved = trial, v, True
        if not improved:
            break
    return current, value


# --------------------------------------------------------------------------- result


@dataclass
class PlanResult:
    """What ``plan`` found: the plans (baseline first) with surrogate and simulated figures."""
    scenario: str
    statistic: str
    scopes: tuple[str, ...]
    currency: str
    table: pd.DataFrame
    plans: list[dict[str, Any]]
    wall_s: dict[str, float] = field(default_factory=dict)
    source: str = ""
    existing: list[dict[str, Any]] = field(default_factory=list)
    """The network's access and cache nodes: ``id``, ``kind``, ``lat``, ``lon``."""

    def to_markdown(self) -> str:
        """The table as Markdown: one row per plan, simulated figures with their CI."""
        scope = " + ".join(self.scopes)
        lines = [f"| plan | nodes | cost/month ({self.currency}) | surrogate {self.statistic} "
                 f"({scope}) | simulated {self.statistic} ({scope}), 95% CI | simulated p95 "
                 "(all) |", "|---|---|---:|---:|---:|---:|"]
        for p in self.plans:
            sim_s = _ci_text(p.get("sim_scope"))
            sim_a = _ci_text(p.get("sim_p95_all"))
            lines.append(f"| {p['plan']} | {', '.join(p['nodes']) or '(baseline)'} | "
                         f"{p['cost_month']:,.0f} | {p['surrogate_scope_ms']:.1f} | {sim_s} | "
                         f"{sim_a} |")
        return "\n".join(lines)


def _ci_text(ci: Mapping[str, Any] | None) -> str:
    if not ci or ci.get("mean") is None:
        return "not simulated"
    if ci.get("low") is None:
        return f"{ci['mean']:.1f}"
    return f"{ci['mean']:.1f} [{ci['low']:.1f}, {ci['high']:.1f}]"


# --------------------------------------------------------------------------- verification


def _window_ok(results: Results, scenario: Scenario) -> pd.DataFrame:
    logins = results.logins
    t = logins["t_start_s"].to_numpy(dtype=float)
    keep = (t >= scenario.warmup) & (t < scenario.duration)
    keep &= logins["outcome"].astype(str).to_numpy() == "ok"
    return logins[keep]


def replicate_figures(results: Results, scenario: Scenario, scopes: Sequence[str],
                      statistic: str) -> dict[str, Any]:
    """Per replication: the objective over the scopes, p95 over all logins and per region;
    each as the mean over replications with its 95% interval."""
    ok = _window_ok(results, scenario)
    reps = ok["replication"].to_numpy() if "replication" in ok.columns else \
        np.zeros(len(ok), dtype=int)
    lat = ok["latency_ms"].to_numpy(dtype=float)
    region = ok["region"].astype(str).to_numpy()
    site = ok["site"].astype(str).to_numpy()
    mask = np.zeros(len(ok), dtype=bool)
    for scope in scopes:
        kind, _, value = scope.partition(":")
        mask |= True if kind == "all" else (region == value if kind == "region"
                                            else site == value)

    def stat(x: np.ndarray, name: str) -> float | None:
        if not len(x):
            return None
        return float(np.mean(x)) if name == "mean" else float(np.percentile(x, 95))

    n_rep = scenario.replications
    out: dict[str, Any] = {
        "sim_scope": mean_ci([stat(lat[(reps == r) & mask], statistic) for r in range(n_rep)]
                             ).as_dict(),
        "sim_p95_all": mean_ci([stat(lat[reps == r], "p95") for r in range(n_rep)]).as_dict(),
        "sim_by_region": {}}
    for reg in sorted(set(region.tolist())):
        m = region == reg
        out["sim_by_region"][reg] = mean_ci([stat(lat[(reps == r) & m], "p95")
                                             for r in range(n_rep)]).as_dict()
    return out


def load_run_scenario(scenario: Scenario | str | os.PathLike[str],
                      overrides: Mapping[str, Any] | None = None,
                      replications: int | None = None) -> tuple[Scenario, Path | None, str]:
    """The scenario a planning command runs, from its file or as given.

    Parameters
    ----------
    scenario : Scenario or path
        A scenario file (loaded with ``overrides``) or a scenario (``overrides`` applied).
    overrides : mapping, optional
        ``--set`` changes.
    replications : int, optional
        Overrides the scenario's replications.

    Returns
    -------
    scenario : Scenario
    scenario_file : Path or None
        Its file (None: given as a scenario), for the variants written next to a plan.
    source : str
        How messages name it.

    Raises
    ------
    ScenarioError
        The file or an override is bad.
    """
    scenario_file: Path | None = None
    source = "scenario"
    if not isinstance(scenario, Scenario):
        scenario_file = Path(scenario)
        source = shown(scenario_file)
        scenario = load_scenario(scenario_file, overrides)
    elif overrides:
        scenario = scenario.with_overrides(overrides)
    if replications is not None:
        scenario = scenario.with_overrides({"replications": replications})
    return scenario, scenario_file, source


def variant_document(scenario_file: Path | None, folder: Path, scenario: Scenario,
                     additions: Sequence[Mapping[str, Any]],
                     resize: Mapping[str, Mapping[str, Any]] | None, name: str,
                     description: str) -> dict[str, Any]:
    """A scenario variant file's content: ``extends:`` the scenario (relative to
    ``folder``) and the ``network:`` edits. A scenario given as an object (no file) is
    written out in full instead."""
    network: dict[str, Any] = {}
    overridden = scenario.nodes.overrides
    if additions:
        network["add"] = [dict(a) for a in additions]
    if resize and any(k not in overridden for k in resize):
        network["resize"] = {k: dict(v) for k, v in resize.items() if k not in overridden}
    node_overrides = {k: {**overridden[k].model_dump(exclude_none=True), **v}
                      for k, v in (resize or {}).items() if k in overridden}
    if scenario_file is None:
        doc = scenario_with(scenario, additions, resize, name=name).resolved()
        doc.pop("extends", None)
        doc["description"] = description
        return doc
    rel = os.path.relpath(scenario_file.resolve(), folder.resolve())
    doc = {"extends": Path(rel).as_posix(), "name": name, "description": description}
    if scenario.network is not None:
        # The scenario's own edits are inherited through extends:; a list is replaced, not
        # merged, so the variant repeats the scenario's additions before its own.
        base = scenario.model_dump(mode="json", exclude_none=True).get("network") or {}
        if base.get("add") and additions:
            network["add"] = [*base["add"], *network["add"]]
    if network:
        doc["network"] = network
    if node_overrides:
        doc["nodes"] = {"overrides": node_overrides}
    return doc


def _dump(doc: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(doc), sort_keys=False, allow_unicode=True, width=100)


# --------------------------------------------------------------------------- plan


def plan(scenario: Scenario | str | os.PathLike[str], *, kind: str = "access",
         nodes: int = 3, candidates: Sequence[Candidate] | str | os.PathLike[str] | None = None,
         min_population: float = 1_000_000, costs: str | os.PathLike[str] | None = None,
         objective: str = "p95", scopes: Sequence[str] = ("all",), target: str | None = None,
         verify: int = 3, overrides: Mapping[str, Any] | None = None,
         replications: int | None = None, executor: Executor | str | None = None,
         jobs: int | None = None, scheduler: str | None = None,
         progress: bool | Callable[[float], None] = False,
         out: str | os.PathLike[str] | None = None, figures: bool = True,
         overwrite: bool = False, say: Callable[[str], None] | None = None) -> PlanResult:
    """Propose nodes to add: screen on the surrogate, verify the best plans by simulation.

    Parameters
    ----------
    scenario : Scenario or path
    kind : {"access", "cache"}
    nodes : int
        The most nodes a plan adds.
    candidates : sequence of Candidate or path, optional
        Default: shipped cities of at least ``min_population`` without a node of ``kind``.
    costs : path, optional
        Node costs per month (default :data:`NODE_COSTS`).
    objective : {"p95", "mean"}
    scopes : sequence of str
        ``all``, ``region:R``, ``site:NAME``: the objective is over their logins together.
    target : str, optional
        ``"p95<=400ms"``: the cheapest plan the greedy finds that meets it.
    verify : int
        Plans simulated (besides the baseline), with the scenario's replications.
    overrides, replications : optional
        ``--set`` changes and a replications override, for every run.
    executor, jobs, scheduler, progress
        As :func:`sim.runs.compare.compare`.
    out : path, optional
        Write the plan folder here.

    Returns
    -------
    PlanResult

    Raises
    ------
    PlanError, ScenarioError
        Bad options or input.
    """
    started = time.perf_counter()
    wall: dict[str, float] = {}
    if kind not in ("access", "cache"):
        raise PlanError(f"--kind: expected access or cache, got {kind!r}")
    if objective not in ("p95", "mean"):
        raise PlanError(f"--objective: expected p95 or mean, got {objective!r}")
    if not isinstance(nodes, int) or nodes < 1 or nodes > 50:
        raise PlanError(f"--nodes: expected 1 to 50 nodes, got {nodes}")
    if verify < 0:
        raise PlanError(f"--verify: expected 0 or more plans, got {verify}")
    if not min_population >= 0:
        raise PlanError(f"--min-population: expected a number >= 0, got {min_population:g}")
    target_ms = None
    if target is not None:
        objective, target_ms = parse_target(target)
    cost_table = load_costs(costs)
    scenario, scenario_file, source = load_run_scenario(scenario, overrides, replications)
    base_world = prepare_world(scenario, source)
    site_names = unique_site_names(base_world.sites.names)
    scopes = tuple(dict.fromkeys(parse_scope(s, site_names) for s in (scopes or ("all",))))
    if isinstance(candidates, (str, os.PathLike)):
        pool_cands = load_candidates(candidates, kind)
    elif candidates is not None:
        pool_cands = list(candidates)
    else:
        pool_cands = city_candidates(base_world.topology, kind, min_population)
    taken = set(base_world.topology.node_ids)
    pool_cands = [c for c in pool_cands if c.node_id not in taken]
    if not pool_cands:
        raise PlanError("no candidate: every candidate city already hosts a node "
                        "(lower --min-population or give --candidates)")
    cand_costs = [node_cost(cost_table, c.kind, c.region) for c in pool_cands]
    note = say or (lambda text: None)

    note(f"surrogate: one baseline replication and {len(pool_cands)} candidates ...")
    t0 = time.perf_counter()
    ex = make_executor(executor, jobs=jobs, scheduler=scheduler)  # a given one as is
    try:
        sur = Surrogate(scenario, pool_cands, source=source, executor=ex)
        wall["surrogate_setup_s"] = time.perf_counter() - t0
        mask = sur.scope_mask(scopes)
        if not mask.any():
            raise PlanError(f"--scope {' + '.join(scopes)}: no login in the baseline "
                            "simulation")
        t0 = time.perf_counter()
        pool = sur.useful(mask)
        found = greedy(sur, pool, mask, objective, nodes, cand_costs, target_ms)
        wall["search_s"] = time.perf_counter() - t0
        note(f"search: {len(pool)} candidates would take logins in scope; "
             f"{len(found)} plan(s) in {wall['search_s']:.1f} s")
        if target_ms is not None and (not found or found[-1].objective_ms > target_ms):
            best = found[-1].objective_ms if found else sur.objective([], mask, objective)
            raise PlanError(f"--target {target}: not met with up to {nodes} node(s) "
                            f"(best estimate {best:.0f} ms); raise --nodes or the target")
        rows = [_Plan((), sur.objective([], mask, objective), 0.0, "baseline"), *found]
        for i, p in enumerate(rows[1:], start=1):
            p.label = f"plan-{i}"
        estimates = [sur.evaluate(list(p.chosen)) for p in rows]
        # Verify: the plans with the most nodes first (the search's answer), then smaller.
        order = sorted(range(1, len(rows)), key=lambda i: (-len(rows[i].chosen), i))
        to_verify = [0, *sorted(order[:verify])] if verify else []
        t0 = time.perf_counter()
        sims: dict[int, dict[str, Any]] = {}
        if to_verify:
            worlds = []
            for i in to_verify:
                adds = [pool_cands[k].addition() for k in rows[i].chosen]
                variant = scenario_with(scenario, adds, name=f"{scenario.name}-{rows[i].label}",
                                        source=source) if adds else scenario
                worlds.append(prepare_world(variant, source))
            note(f"verify: {len(to_verify)} scenario(s) x {scenario.replications} "
                 f"replication(s) ...")
            done = run_worlds(worlds, ex, progress=progress, desc="plan",
                              on_done=lambda w, res: replicate_figures(
                                  res, scenario, scopes, objective))
            sims = dict(zip(to_verify, done))
        wall["verify_s"] = time.perf_counter() - t0
    finally:
        if not isinstance(executor, Executor):
            ex.close()

    plans = []
    for i, (p, est) in enumerate(zip(rows, estimates)):
        picked = [pool_cands[k] for k in p.chosen]
        entry: dict[str, Any] = {
            "plan": p.label, "nodes": [c.node_id for c in picked],
            "cities": [f"{c.city}, {c.country}" if c.country else c.city for c in picked],
            "regions": [c.region for c in picked],
            "lat": [c.lat for c in picked], "lon": [c.lon for c in picked],
            "additions": [c.addition() for c in picked],
            "node_costs": [cand_costs[k] for k in p.chosen],
            "cost_month": p.cost, "surrogate_scope_ms": p.objective_ms,
            "surrogate_p95_all_ms": est.p95_ms,
            "surrogate_by_region": {r: v["p95"] for r, v in est.by_region.items()},
            "verified": i in sims}
        entry.update(sims.get(i, {}))
        plans.append(entry)
    wall["total_s"] = time.perf_counter() - started
    table = _table(plans, objective)
    topo = base_world.topology
    existing = [{"id": topo.node_ids[i], "kind": topo.kinds[i], "lat": float(topo.lat[i]),
                 "lon": float(topo.lon[i])} for i in base_world.edge_nodes
                if topo.kinds[i] in ("access", "cache")]
    result = PlanResult(scenario.name, objective, scopes, cost_table["currency"], table, plans,
                        wall, source, existing)
    if out is not None:
        save_plan(result, Path(out), scenario, scenario_file, figures=figures,
                  overwrite=overwrite, target=target, kind=kind, costs=cost_table)
    return result


def _table(plans: Sequence[Mapping[str, Any]], statistic: str) -> pd.DataFrame:
    rows = []
    regions = sorted({r for p in plans for r in p["surrogate_by_region"]})
    for p in plans:
        scope = p.get("sim_scope") or {}
        all_ci = p.get("sim_p95_all") or {}
        row: dict[str, Any] = {
            "plan": p["plan"], "nodes": " ".join(p["nodes"]),
            "cities": "; ".join(p["cities"]), "n_nodes": len(p["nodes"]),
            "cost_month": round(p["cost_month"], 2),
            f"surrogate_{statistic}_scope_ms": round(p["surrogate_scope_ms"], 1),
            f"sim_{statistic}_scope_ms": _r(scope.get("mean")),
            f"sim_{statistic}_scope_ci_low": _r(scope.get("low")),
            f"sim_{statistic}_scope_ci_high": _r(scope.get("high")),
            "surrogate_p95_ms": round(p["surrogate_p95_all_ms"], 1),
            "sim_p95_ms": _r(all_ci.get("mean")), "sim_p95_ci_low": _r(all_ci.get("low")),
            "sim_p95_ci_high": _r(all_ci.get("high"))}
        for r in regions:
            row[f"surrogate_p95_{r}_ms"] = _r(p["surrogate_by_region"].get(r))
            ci = (p.get("sim_by_region") or {}).get(r) or {}
            row[f"sim_p95_{r}_ms"] = _r(ci.get("mean"))
            row[f"sim_p95_{r}_ci_low"] = _r(ci.get("low"))
            row[f"sim_p95_{r}_ci_high"] = _r(ci.get("high"))
        rows.append(row)
    return pd.DataFrame(rows)


def _r(v: Any) -> float | None:
    return None if v is None or not math.isfinite(float(v)) else round(float(v), 1)


def save_plan(result: PlanResult, out: Path, scenario: Scenario, scenario_file: Path | None,
              *, figures: bool = True, overwrite: bool = False, target: str | None = None,
              kind: str = "access", costs: Mapping[str, Any] | None = None) -> Path:
    """Write the plan folder (atomically, marked as a result folder)."""
    def write(tmp: Path) -> None:
        atomic_write_text(tmp / "plan.csv", result.table.to_csv(index=False))
        meta = {"scenario": result.scenario, "source": result.source, "kind": kind,
                "objective": result.statistic, "scopes": list(result.scopes),
                "target": target, "confidence": CONFIDENCE,
                "costs": {k: v for k, v in (costs or {}).items()},
                "wall_s": result.wall_s, "plans": result.plans}
        atomic_write_text(tmp / "plan.json", json.dumps(meta, indent=2, default=_json) + "\n")
        for p in result.plans[1:]:
            doc = variant_document(scenario_file, out, scenario, p["additions"], None,
                                   f"{scenario.name}-{p['plan']}",
                                   f"{scenario.name} with {', '.join(p['cities'])} "
                                   f"({kind}), proposed by access-sim plan")
            atomic_write_text(tmp / f"{p['plan']}.yaml", _dump(doc))
        if figures:
            draw_pareto(result, tmp / "pareto.png")
            draw_map(result, tmp / "map.png")
    return write_result_folder(out, write, overwrite=overwrite)


def _json(v: Any) -> Any:
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, Path):
        return str(v)
    raise TypeError(type(v).__name__)
