"""``plan --size``: the fewest login workers per node that keep the p99 queue wait under a
target at the scenario's peak arrival rate, from Erlang C (:mod:`sim.runs.erlang`, where
the formulas and their sources are), checked by simulation: the proposal must meet the
target and one worker fewer at a resized node must not.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml
from numpy.typing import ArrayLike, NDArray

from sim.analysis.folders import write_result_folder
from sim.analysis.results import atomic_write_text
from sim.analysis.statistics import mean_ci
from sim.config import Scenario
from sim.config.schema import parse_duration
from sim.errors import SimError
from sim.runs.executors import Executor, make_executor, run_worlds
from sim.runs.api import run_world
from sim.runs.erlang import (MAX_WORKERS, erlang_c, wait_exceeds, wait_quantile_s,
                              workers_for_wait)
from sim.runs.plan import load_run_scenario, variant_document
from sim.runs.prepare import prepare_world
from sim.runs.surrogate import scenario_with

if TYPE_CHECKING:
    from sim.analysis import Results

__all__ = ["erlang_c", "wait_exceeds", "wait_quantile_s", "workers_for_wait", "NodeSizing",
           "SizingResult", "size_nodes", "parse_wait", "peak_rates", "MAX_WORKERS"]

@dataclass(frozen=True)
class NodeSizing:
    """One node's proposal: its peak arrival rate, current and proposed workers, and the
    predicted and simulated p99 queue waits (ms)."""
    node: str
    peak_rate: float
    service_ms: float
    distribution: str
    workers: int
    proposed: int
    predicted_p99_ms: float
    simulated_p99_ms: tuple[float | None, float | None, float | None] = (None, None, None)
    """Mean over replications and its 95% interval (low, high)."""
    simulated_fewer_p99_ms: tuple[float | None, float | None, float | None] = \
        (None, None, None)
    """The same with one worker fewer than proposed."""


def peak_rates(node: Sequence[int], t_s: ArrayLike, n_nodes: int, start_s: float,
               end_s: float, bin_s: float = 300.0) -> NDArray[np.float64]:
    """Each node's highest arrival rate (logins/s) over bins of ``bin_s`` in a window."""
    n_bins = max(1, int(math.ceil((end_s - start_s) / bin_s)))
    width = (end_s - start_s) / n_bins
    t = np.asarray(t_s, dtype=float)
    nodes = np.asarray(node, dtype=np.int64)
    keep = (t >= start_s) & (t < end_s)
    b = np.minimum(((t[keep] - start_s) / width).astype(np.int64), n_bins - 1)
    counts = np.zeros((n_nodes, n_bins))
    np.add.at(counts, (nodes[keep], b), 1.0)
    return counts.max(axis=1) / width


# --------------------------------------------------------------------------- plan --size


class SizingError(SimError):
    """A bad option of ``plan --size`` (one line, exit status 2)."""


def parse_wait(text: str) -> float:
    """``--p99-wait``: a duration (``50ms``, ``0.2s``) > 0, in seconds.

    Raises
    ------
    SizingError
        ``--p99-wait 'fast': expected a duration such as 50ms, got 'fast'``.
    """
    try:
        value = parse_duration(text)
    except ValueError:
        raise SizingError(f"--p99-wait {text!r}: expected a duration such as 50ms") from None
    if value <= 0:
        raise SizingError(f"--p99-wait {text!r}: expected a wait > 0")
    return value


@dataclass
class SizingResult:
    """Every edge node's proposal, and the variant that applies them."""
    scenario: str
    target_ms: float
    nodes: list[NodeSizing]
    variant: dict[str, Any]
    wall_s: float = 0.0

    @property
    def table(self) -> pd.DataFrame:
        rows = []
        for n in self.nodes:
            rows.append({"node": n.node, "peak_logins_per_s": round(n.peak_rate, 2),
                         "service_ms": n.service_ms, "service_distribution": n.distribution,
                         "workers": n.workers, "proposed": n.proposed,
                         "predicted_p99_wait_ms": round(n.predicted_p99_ms, 1),
                         "sim_p99_wait_ms": _r(n.simulated_p99_ms[0]),
                         "sim_p99_wait_ci_low": _r(n.simulated_p99_ms[1]),
                         "sim_p99_wait_ci_high": _r(n.simulated_p99_ms[2]),
                         "fewer_sim_p99_wait_ms": _r(n.simulated_fewer_p99_ms[0]),
                         "fewer_sim_p99_wait_ci_low": _r(n.simulated_fewer_p99_ms[1]),
                         "fewer_sim_p99_wait_ci_high": _r(n.simulated_fewer_p99_ms[2])})
        return pd.DataFrame(rows)

    def to_markdown(self) -> str:
        """One row per node: workers now and proposed, p99 waits predicted and simulated."""
        lines = [f"p99 queue wait target: {self.target_ms:g} ms",
                 "| node | peak logins/s | workers | proposed | predicted p99 wait (ms) | "
                 "simulated p99 wait (ms), 95% CI | with one fewer (ms) |",
                 "|---|---:|---:|---:|---:|---:|---:|"]
        for n in self.nodes:
            lines.append(f"| {n.node} | {n.peak_rate:.1f} | {n.workers} | {n.proposed} | "
                         f"{n.predicted_p99_ms:.1f} | {_ci_text(n.simulated_p99_ms)} | "
                         f"{_ci_text(n.simulated_fewer_p99_ms)} |")
        return "\n".join(lines)


def _r(v: float | None) -> float | None:
    return None if v is None else round(float(v), 1)


def _ci_text(ci: tuple[float | None, float | None, float | None]) -> str:
    mean, low, high = ci
    if mean is None:
        return "n/a"
    if low is None or high is None:
        return f"{mean:.1f}"
    return f"{mean:.1f} [{low:.1f}, {high:.1f}]"


def _node_p99_waits(results: Results, scenario: Scenario, nodes: Sequence[str]
                    ) -> dict[str, tuple[float | None, float | None, float | None]]:
    """Per node: the p99 of ``queue_ms`` of its logins in the measurement window, per
    replication, as the mean with its 95% interval."""
    logins = results.logins
    t = logins["t_start_s"].to_numpy(dtype=float)
    keep = (t >= scenario.warmup) & (t < scenario.duration)
    logins = logins[keep]
    node = logins["node"].astype(str).to_numpy()
    queue = logins["queue_ms"].to_numpy(dtype=float)
    reps = logins["replication"].to_numpy() if "replication" in logins.columns else \
        np.zeros(len(logins), dtype=int)
    out = {}
    for n in nodes:
        values = []
        for r in range(scenario.replications):
            x = queue[(node == n) & (reps == r)]
            values.append(float(np.percentile(x, 99)) if len(x) else None)
        ci = mean_ci(values)
        out[n] = (ci.mean, ci.low, ci.high)
    return out


def size_nodes(scenario: Scenario | str | os.PathLike[str], target_s: float, *,
               overrides: Mapping[str, Any] | None = None, replications: int | None = None,
               executor: Executor | str | None = None, jobs: int | None = None,
               scheduler: str | None = None, progress: bool | Callable[[float], None] = False,
               out: str | os.PathLike[str] | None = None, overwrite: bool = False,
               check: bool = True, say: Callable[[str], None] | None = None) -> SizingResult:
    """Propose each access and cache node's login workers for a p99 queue wait target.

    The peak arrival rate of each node is the highest rate over 5-minute bins of a one-
    replication run of the scenario (its measurement window); the proposal is
    :func:`workers_for_wait` at that rate. With ``check``, the variant with the proposals
    and the one with one worker fewer at every resized node are simulated with the
    scenario's replications, and each node's simulated p99 wait is reported with its 95%
    interval. Written to ``out`` as ``size.csv``, ``size.json`` and ``size.yaml`` (a
    scenario variant with ``network: resize:``).

    Raises
    ------
    SizingError, ScenarioError
    """
    started = time.perf_counter()
    note = say or (lambda text: None)
    scenario, scenario_file, source = load_run_scenario(scenario, overrides, replications)
    world = prepare_world(scenario.with_overrides({"replications": 1}), source)
    ex = make_executor(executor, jobs=jobs, scheduler=scheduler)  # a given one as is
    try:
        note("sizing: one replication for the peak arrival rates ...")
        base = run_world(world, executor=ex)
        topo = world.topology
        logins = base.logins
        rates = peak_rates([topo.index[n] for n in logins["node"].astype(str)],
                           logins["t_start_s"].to_numpy(dtype=float), len(topo.node_ids),
                           scenario.warmup, scenario.duration)
        k = scenario.population.sample_one_in
        sizing = []
        for i in world.edge_nodes:
            if topo.kinds[i] not in ("access", "cache"):
                continue
            svc = world.params.service_s[i]
            det = world.params.service_distribution[i] == "deterministic"
            try:
                c = workers_for_wait(rates[i], svc, target_s, deterministic=det)
            except ValueError:
                raise SizingError(f"{topo.node_ids[i]}: more than {MAX_WORKERS} workers "
                                  "needed for the target") from None
            sizing.append(NodeSizing(
                topo.node_ids[i], float(rates[i]) * k, svc * 1000.0,
                world.params.service_distribution[i], world.params.workers[i] * k, c * k,
                1000.0 * wait_quantile_s(c, rates[i], svc, 0.99, deterministic=det)))
        resize = {n.node: {"workers": n.proposed} for n in sizing if n.proposed != n.workers}
        if check:
            fewer = {n.node: {"workers": n.proposed - k} for n in sizing if n.proposed > k}
            variants = [scenario_with(scenario, (), resize, source=source),
                        scenario_with(scenario, (), fewer, source=source)]
            note(f"check: 2 scenario(s) x {scenario.replications} replication(s) ...")
            names = [n.node for n in sizing]
            done = run_worlds([prepare_world(v, source) for v in variants], ex,
                              progress=progress, desc="size",
                              on_done=lambda w, res: _node_p99_waits(res, scenario, names))
            sizing = [replace(n, simulated_p99_ms=done[0][n.node],
                              simulated_fewer_p99_ms=done[1][n.node]) if n.proposed > k
                      else replace(n, simulated_p99_ms=done[0][n.node]) for n in sizing]
    finally:
        if not isinstance(executor, Executor):
            ex.close()
    variant = variant_document(scenario_file, Path(out) if out is not None else Path.cwd(),
                               scenario, (), resize, f"{scenario.name}-sized",
                               f"{scenario.name} with login workers sized for a p99 queue "
                               f"wait of {target_s * 1000:g} ms, proposed by access-sim plan")
    result = SizingResult(scenario.name, target_s * 1000.0, sizing, variant,
                          time.perf_counter() - started)
    if out is not None:
        def write(tmp: Path) -> None:
            atomic_write_text(tmp / "size.csv", result.table.to_csv(index=False))
            atomic_write_text(tmp / "size.json", json.dumps(
                {"scenario": scenario.name, "target_p99_wait_ms": result.target_ms,
                 "nodes": [asdict(n) for n in sizing], "wall_s": result.wall_s},
                indent=2) + "\n")
            atomic_write_text(tmp / "size.yaml", yaml.safe_dump(variant, sort_keys=False))
        write_result_folder(Path(out), write, overwrite=overwrite)
    return result
