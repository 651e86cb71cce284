"""Running a scenario: ``run`` (a scenario or its file) and ``run_world`` (a built world)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import weakref
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sim.config import Scenario, load_scenario
from sim.config.messages import shown
from sim.errors import ScenarioError
from sim.model.world import World
from sim.analysis import Results
from sim.runs.assemble import results_from_outputs
from sim.runs.executors import Executor, make_executor, run_tasks, tasks_for
from sim.runs.prepare import prepare_world

__all__ = ["run", "run_world"]


def run(scenario: Scenario | str | os.PathLike[str], *,
        overrides: Mapping[str, Any] | None = None,
        seed: int | None = None,
        replications: int | None = None,
        progress: Callable[[float], None] | None = None,
        executor: Executor | str | None = None,
        jobs: int | None = None) -> Results:
    """Run a scenario and return its :class:`~sim.analysis.Results`.

    Parameters
    ----------
    scenario : Scenario or path
        A loaded scenario or a scenario file.
    overrides : mapping, optional
        ``{"key.path": value}`` changes (like ``--set``).
    seed, replications : int, optional
        Shorthands for overriding ``seed`` and ``replications``.
    progress : callable, optional
        Called with the fraction done (0..1) as the run proceeds.
    executor : Executor or {"local", "dask"}, optional
        Where replications run (see :mod:`sim.runs.executors`); default local processes.
    jobs : int, optional
        Processes (or Dask workers) for an executor made here; default one per core.

    Examples
    --------
    >>> import sim
    >>> res = sim.run("scenarios/tiny.yaml", overrides={"duration": "2m"})  # doctest: +SKIP
    >>> res.summary["latency_ms"]["p95"]  # doctest: +SKIP
    """
    source = "scenario"
    if not isinstance(scenario, Scenario):
        source = shown(scenario)
        scenario = load_scenario(scenario, overrides)
    elif overrides:
        scenario = scenario.with_overrides(overrides)
    extra: dict[str, Any] = {}
    if seed is not None:
        extra["seed"] = seed
    if replications is not None:
        extra["replications"] = replications
    if extra:
        scenario = scenario.with_overrides(extra)
    world = prepare_world(scenario, source)
    if isinstance(executor, Executor) or (executor is None and jobs is None):
        return run_world(world, progress=progress, executor=executor)

    with make_executor(executor, jobs=jobs) as ex:
        return run_world(world, progress=progress, executor=ex)


def run_world(world: World, *, progress: Callable[[float], None] | None = None,
              executor: Executor | None = None,
              on_step: Callable[[str, float], None] | None = None) -> Results:
    """Run every replication of a built world through an executor.

    Parameters
    ----------
    world : World
        From :func:`sim.model.world.build_world`.
    progress : callable, optional
        Called with the fraction done (0..1).
    executor : sim.runs.executors.Executor, optional
        Where the replications run (default: local processes, one per core; a single
        replication runs in this process). The numbers do not depend on it.
    """
    started = time.perf_counter()
    created = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    stream_dir = _stream_dir(world) if world.scenario.outputs.stream else None
    try:
        outputs = run_tasks(tasks_for(world, stream_dir), executor, progress=progress)
        simulated = time.perf_counter()
        if on_step is not None:
            on_step("simulate", simulated - started)
        if stream_dir is not None and len(list(stream_dir.iterdir())) < len(outputs):
            raise ScenarioError("the workers wrote the streamed records where this process "
                                "cannot read them (a remote cluster needs a shared folder)",
                                file=world.source, path="outputs.stream")
        results = results_from_outputs(world, outputs, wall_s=time.perf_counter() - started,
                                       created_utc=created)
        if on_step is not None:
            on_step("summary", time.perf_counter() - simulated)
    except BaseException:
        if stream_dir is not None:
            shutil.rmtree(stream_dir, ignore_errors=True)
        raise
    if stream_dir is not None:
        results.streamed = [stream_dir / f"replication-{r}.parquet"
                            for r in range(world.scenario.replications)]
        # The files go when the results do (save() copies them into the result folder).
        weakref.finalize(results, shutil.rmtree, stream_dir, True)
    return results


def _stream_dir(world: World) -> Path:
    """A temporary folder for streamed per-login records (pyarrow is needed to write them)."""
    try:
        import pyarrow  # noqa: F401 - optional (the parquet extra): only a check here
    except ImportError:
        raise ScenarioError("streaming the records to Parquet needs pyarrow: "
                            "pip install 'access-sim[parquet]'", file=world.source,
                            path="outputs.stream") from None
    return Path(tempfile.mkdtemp(prefix="access-sim-logins-"))


