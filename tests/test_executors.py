"""Executors: the same seeds give the same numbers in this process, in local worker
processes and on a real Dask cluster (scheduler and worker processes)."""

from __future__ import annotations

import dataclasses
import filecmp
import itertools
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd
import pytest

import sim
from sim.addressing import register_strategy
from sim.addressing.baselines import NearestGeo
from sim.model.world import build_world
from sim.cli import main
from sim.runs.executors import (
    Executor,
    ExecutorError,
    LocalExecutor,
    RunTask,
    make_executor,
    run_task,
    run_tasks,
    tasks_for,
)
from tests.conftest import SCENARIOS

SHORT = {"duration": "2m", "warmup": "20s"}
BUSY = SCENARIOS / "tiny-busy-singapore.yaml"
BUSY_HALF = SCENARIOS / "tiny-busy-singapore-half.yaml"


class NearestGeoCopy(NearestGeo):
    """A user strategy from an importable module (this one), registered by a test only (the
    registry is global: other tests list the known strategies)."""


@pytest.fixture
def user_strategy() -> Iterator[str]:
    from sim.addressing import registry

    name = "test_nearest_geo_copy"
    register_strategy(name)(NearestGeoCopy)
    try:
        yield name
    finally:
        registry._REGISTRY.pop(name, None)


def _strip_run(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k != "run"}


def _same_results(a: sim.Results, b: sim.Results) -> None:
    pd.testing.assert_frame_equal(a.logins, b.logins)
    pd.testing.assert_frame_equal(a.node_load, b.node_load)
    assert _strip_run(a.summary) == _strip_run(b.summary)


def test_processes_give_the_numbers_of_this_process(tiny_scenario: Path) -> None:
    serial = sim.run(tiny_scenario, overrides=SHORT, replications=3, jobs=1)
    with LocalExecutor(jobs=2) as ex:
        pooled = sim.run(tiny_scenario, overrides=SHORT, replications=3, executor=ex)
        assert ex._pool is not None  # it really used worker processes
    _same_results(serial, pooled)


def test_started_pool_is_used_by_runs(tiny_scenario: Path) -> None:
    with LocalExecutor(jobs=2) as ex:
        assert ex.start() is ex
        pool = ex._pool
        assert pool is not None and len(pool._processes) == 2  # started before any task
        pooled = sim.run(tiny_scenario, overrides=SHORT, replications=2, executor=ex)
        assert ex._pool is pool  # the same processes ran the replications
    serial = sim.run(tiny_scenario, overrides=SHORT, replications=2, jobs=1)
    _same_results(serial, pooled)
    assert LocalExecutor(jobs=1).start()._pool is None  # one job: runs in this process


class _Reversed(Executor):
    """Finishes tasks last to first, as a busy cluster might."""

    def as_completed(self, tasks: Sequence[RunTask], on_progress=None) -> Iterator:
        for i in reversed(range(len(tasks))):
            yield i, run_task(tasks[i])


def test_completion_order_does_not_matter(tiny_scenario: Path) -> None:
    world = build_world(sim.load_scenario(tiny_scenario, {**SHORT, "replications": 3}))
    tasks = tasks_for(world)
    ordered = run_tasks(tasks, LocalExecutor(jobs=1))
    backwards = run_tasks(tasks, _Reversed())
    assert [o.replication for o in backwards] == [0, 1, 2]
    for a, b in zip(ordered, backwards):
        assert a.counts == b.counts
        for col in a.logins:
            assert (a.logins[col] == b.logins[col]).all()


def test_tasks_are_small_and_self_contained(tiny_scenario: Path, tmp_path: Path) -> None:
    import pickle

    world = build_world(sim.load_scenario(tiny_scenario, SHORT))
    (task,) = tasks_for(world)
    assert Path(task.scenario["topology"]).is_absolute()
    assert len(pickle.dumps(task)) < 20_000
    # A worker that cannot see the topology file uses the copy shipped with the task.
    moved = dataclasses.replace(task, scenario={**task.scenario,
                                                "topology": str(tmp_path / "gone" / "tiny.yaml")})
    a, b = run_task(task), run_task(moved)
    assert a.counts == b.counts and (a.logins["latency_ms"] == b.logins["latency_ms"]).all()


def test_user_strategy_runs_in_worker_processes(tiny_scenario: Path, user_strategy: str
                                                ) -> None:
    over = {**SHORT, "addressing.strategy": user_strategy}
    pooled = sim.run(tiny_scenario, overrides=over, replications=2, jobs=2)
    serial = sim.run(tiny_scenario, overrides=over, replications=2, jobs=1)
    _same_results(serial, pooled)
    assert pooled.summary["scenario_resolved"]["addressing"]["strategy"] == \
        "test_nearest_geo_copy"


def test_progress_reaches_one(tiny_scenario: Path) -> None:
    seen: list[float] = []
    sim.run(tiny_scenario, overrides=SHORT, replications=2, jobs=2, progress=seen.append)
    assert seen and seen[-1] == pytest.approx(1.0)
    assert all(b >= a for a, b in itertools.pairwise(seen))


def test_executor_errors() -> None:
    with pytest.raises(ExecutorError, match="--jobs"):
        LocalExecutor(jobs=0)
    with pytest.raises(ExecutorError, match="expected local or dask"):
        make_executor("threads")
    with pytest.raises(ExecutorError, match="--scheduler needs --executor dask"):
        make_executor("local", scheduler="tcp://127.0.0.1:1")


# --------------------------------------------------------------------------- Dask


@pytest.fixture(scope="module")
def dask_scheduler() -> Iterator[str]:
    """A real Dask cluster: a scheduler and two single-threaded worker processes."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=40)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def _compare_cli(out: Path, *extra: str) -> None:
    rc = main(["compare", str(BUSY), str(BUSY_HALF), "--out", str(out), "--replications", "3",
               "--set", "duration=2m", "--set", "warmup=20s", "--quiet", "--no-figures",
               *extra])
    assert rc == 0


def test_local_and_dask_give_byte_identical_comparisons(dask_scheduler: str,
                                                        tmp_path: Path) -> None:
    _compare_cli(tmp_path / "local", "--jobs", "2")
    _compare_cli(tmp_path / "dask", "--executor", "dask", "--scheduler", dask_scheduler)
    for name in ("comparison.csv", "comparison.md"):
        assert filecmp.cmp(tmp_path / "local" / name, tmp_path / "dask" / name, shallow=False)
    local = json.loads((tmp_path / "local" / "comparison.json").read_text())
    dask = json.loads((tmp_path / "dask" / "comparison.json").read_text())
    assert dask["run"]["tiny-busy-singapore"]["executor"].startswith("dask (tcp://")
    assert local.pop("run") != dask.pop("run")  # timing fields differ ...
    assert local == dask  # ... and nothing else
    for run in ("tiny-busy-singapore", "tiny-busy-singapore-half"):
        assert filecmp.cmp(tmp_path / "local" / "runs" / run / "logins.csv",
                           tmp_path / "dask" / "runs" / run / "logins.csv", shallow=False)


def test_dask_run_matches_this_process(dask_scheduler: str, tiny_scenario: Path) -> None:
    with make_executor("dask", scheduler=dask_scheduler) as ex:
        assert "2 workers" in ex.describe()
        on_dask = sim.run(tiny_scenario, overrides=SHORT, replications=2, executor=ex)
    here = sim.run(tiny_scenario, overrides=SHORT, replications=2, jobs=1)
    _same_results(here, on_dask)


def test_dask_without_scheduler_starts_a_local_cluster(tiny_scenario: Path,
                                                       tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    out = tmp_path / "r"
    assert main(["run", str(tiny_scenario), "--out", str(out), "--quiet", "--no-figures",
                 "--executor", "dask", "--jobs", "1", "--replications", "2",
                 "--set", "duration=1m", "--set", "warmup=0s"]) == 0
    assert json.loads((out / "summary.json").read_text())["replications"] == 2


def _worker_state() -> dict:
    import os
    import sys

    import dask

    return {"profile": dask.config.get("distributed.worker.profile.enabled"),
            "tick": dask.config.get("distributed.admin.tick.interval"),
            "preloaded": "sim.runs.api" in sys.modules,
            "malloc_trim": os.environ.get("MALLOC_TRIM_THRESHOLD_")}


def test_own_local_cluster_spares_the_workers(tiny_scenario: Path) -> None:
    """A cluster DaskExecutor starts has the simulator imported in its workers and Dask's
    profiler off; the settings stay with that cluster."""
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    import os

    from sim.runs.executors import DaskExecutor

    inherited = os.environ.get("MALLOC_TRIM_THRESHOLD_")  # another cluster may have set it
    before = dask.config.get("distributed.worker.profile.enabled")
    with DaskExecutor(jobs=1) as ex:
        (state,) = ex.client.run(_worker_state).values()
        on_dask = sim.run(tiny_scenario, overrides=SHORT, replications=2, executor=ex)
    assert state["profile"] is False and state["preloaded"]
    assert state["tick"] == "500ms"
    assert state["malloc_trim"] == inherited
    assert dask.config.get("distributed.worker.profile.enabled") == before
    _same_results(sim.run(tiny_scenario, overrides=SHORT, replications=2, jobs=1), on_dask)


def test_unreachable_scheduler_is_an_input_error() -> None:
    pytest.importorskip("distributed")
    from sim.runs.executors import DaskExecutor

    with pytest.raises(ExecutorError, match="cannot connect"):
        DaskExecutor("tcp://127.0.0.1:9", timeout_s=1.0)
