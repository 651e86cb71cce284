"""The Python API the CLI and notebooks share: ``load_scenario``, ``run``."""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.model.world import World, build_world
from sim.results.results import Results
from sim.config.schema import Scenario, load_scenario

if TYPE_CHECKING:
    from sim.engine.loop import ReplicationOutput
    from sim.runs.executors import Executor

__all__ = ["run", "replication_seeds", "version", "run_world", "results_from_outputs"]


def version() -> str:
    """The installed package version."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _v

    try:
        return _v("access-sim")
    except PackageNotFoundError:  # running from a source tree without installing
        return "0+unknown"


def replication_seeds(seed: int, replications: int) -> list[np.random.SeedSequence]:
    """Independent seeds of a scenario's replications, spawned from its seed."""
    return np.random.SeedSequence(seed).spawn(replications)


def run(scenario: Scenario | str | os.PathLike[str], *,
        overrides: Mapping[str, Any] | None = None,
        seed: int | None = None,
        replications: int | None = None,
        progress: Callable[[float], None] | None = None,
        executor: Executor | str | None = None,
        jobs: int | None = None) -> Results:
    """Run a scenario and return its :class:`~sim.results.Results`.

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
        source = _shown(scenario)
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
    world = build_world(scenario, source)
    from sim.runs.executors import Executor, make_executor

    if isinstance(executor, Executor) or (executor is None and jobs is None):
        return run_world(world, progress=progress, executor=executor)

    with make_executor(executor, jobs=jobs) as ex:
        return run_world(world, progress=progress, executor=ex)


def run_world(world: World, *, progress: Callable[[float], None] | None = None,
              executor: Executor | None = None) -> Results:
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
    from sim.runs.executors import run_tasks, tasks_for

    started = time.perf_counter()
    created = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    stream_dir = _stream_dir(world) if world.scenario.outputs.stream else None
    try:
        outputs = run_tasks(tasks_for(world, stream_dir), executor, progress=progress)
        if stream_dir is not None and len(list(stream_dir.iterdir())) < len(outputs):
            from sim.errors import ScenarioError

            raise ScenarioError("the workers wrote the streamed records where this process "
                                "cannot read them (a remote cluster needs a shared folder)",
                                file=world.source, path="outputs.stream")
        results = results_from_outputs(world, outputs, wall_s=time.perf_counter() - started,
                                       created_utc=created)
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
        import pyarrow  # noqa: F401
    except ImportError:
        from sim.errors import ScenarioError

        raise ScenarioError("streaming the records to Parquet needs pyarrow: "
                            "pip install 'access-sim[parquet]'", file=world.source,
                            path="outputs.stream") from None
    return Path(tempfile.mkdtemp(prefix="access-sim-logins-"))


def results_from_outputs(world: World, outputs: Sequence[ReplicationOutput], *,
                         wall_s: float, created_utc: str) -> Results:
    """Combine a world's replication outputs (in replication order) into its Results."""
    sc = world.scenario
    wall = wall_s
    created = created_utc
    attempted = sum(o.counts["attempted"] for o in outputs)
    provenance = {
        "scenario": sc.name,
        "seed": sc.seed,
        "replications": sc.replications,
        "version": version(),
        "scenario_file": world.source,
        "topology": world.topology.name,
        "topology_sha256": _sha256(sc.topology),
        "run": {"created_utc": created, "wall_s": round(wall, 3),
                "logins_per_wall_s": round(attempted / wall) if wall > 0 else None,
                "python": platform.python_version(), "platform": platform.platform(),
                "libraries": _library_versions()},
        "scenario_resolved": sc.resolved(),
    }
    results = Results.from_outputs(world, outputs, provenance)
    if sc.billing is not None and sc.billing.month is not None:
        from sim.billing.usage import monthly_usage  # the month's bill (docs/billing.md)

        usage = monthly_usage(sc, sites=world.sites, source=world.source)
        results.summary["bill"] = usage.report(daily=False)
    return results


def _sha256(path: str) -> str | None:
    """The topology file's digest: with the resolved scenario and the seed, what a result
    needs to be reproduced (the file may change after the run)."""
    import hashlib

    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def _library_versions() -> dict[str, str]:
    """Versions of the libraries whose algorithms shape the numbers (random streams, SimPy)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _v

    out = {}
    for name in ("numpy", "simpy", "networkx", "pandas", "pydantic"):
        try:
            out[name] = _v(name)
        except PackageNotFoundError:
            out[name] = "unknown"
    return out


def _shown(path: str | os.PathLike[str]) -> str:
    from sim.config.schema import _shown as shown

    return shown(Path(path).resolve())
