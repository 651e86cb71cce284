"""Executors: where replications run (this process, local processes, a Dask cluster).

Every run of the simulator (one scenario's replications, a comparison, a sweep) is cut into
:class:`RunTask` objects, one per (scenario, replication), and handed to an
:class:`Executor`. A task is small and picklable: the resolved scenario as plain data, the
name of its file and the replication's number. The worker rebuilds the
:class:`~sim.model.world.World` from it (once per scenario and process) and derives the
replication's seed from the scenario's seed with :func:`sim.runs.seeds.replication_seeds`, so a
replication's numbers depend on ``(scenario, seed, replication)`` only: not on the executor,
the number of workers or the order in which tasks finish. Callers combine outputs in
replication order.

Executors:

- :class:`LocalExecutor` (the default): a pool of local processes, ``jobs`` of them
  (default: the cores this process may use). With one job, or one task, it runs in this
  process.
- :class:`DaskExecutor`: a Dask distributed cluster, given by its scheduler address
  (``tcp://host:8786``) or started locally. Needs ``pip install 'access-sim[dask]'``;
  remote workers need ``access-sim`` installed. A topology file the workers cannot see at
  the same path is shipped with the task.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import queue as queue_mod
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Self

from sim.addressing.registry import available_strategies, get_strategy, register_strategy
from sim.config.schema import Scenario
from sim.engine.loop import run_replication
from sim.engine.records import ReplicationOutput
from sim.errors import SimError
from sim.model.world import World
from sim.analysis.results import ParquetLogins
from sim.runs.assemble import results_from_outputs
from sim.runs.prepare import prepare_world
from sim.runs.seeds import replication_seeds

__all__ = [
    "DaskExecutor",
    "Executor",
    "ExecutorError",
    "LocalExecutor",
    "RunProgress",
    "RunTask",
    "default_jobs",
    "make_executor",
    "run_task",
    "run_tasks",
    "run_worlds",
    "tasks_for",
]

ProgressFn = Callable[[int, float], None]
"""``on_progress(task_index, fraction_of_that_task_done)``."""


class ExecutorError(SimError):
    """An executor cannot be set up (Dask missing, scheduler unreachable, bad ``--jobs``)."""


def default_jobs() -> int:
    """The number of cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


# --------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class RunTask:
    """One replication of one scenario, as data a worker process can rebuild it from.

    Attributes
    ----------
    scenario : dict
        The resolved scenario (:meth:`sim.config.schema.Scenario.resolved`) with its topology
        path made absolute.
    source : str
        The scenario's file, for error messages.
    replication : int
        Which replication (its seed is spawned from ``scenario["seed"]``).
    topology_text : bytes
        The topology file's content, used when a worker cannot read ``scenario["topology"]``.
    strategy : type, optional
        A user-registered strategy class the worker may not know by name.
    stream_to : str, optional
        With ``outputs.stream``: the Parquet file the worker streams the replication's
        per-login records to (a path the worker can write: local processes and a local
        Dask cluster share the file system).
    """

    scenario: dict[str, Any]
    source: str
    replication: int
    topology_text: bytes = field(default=b"", repr=False)
    strategy: type | None = field(default=None, repr=False)
    stream_to: str | None = None

    @property
    def label(self) -> str:
        """``name#replication`` for messages."""
        return f"{self.scenario.get('name')}#{self.replication}"


def tasks_for(world: World, stream_dir: str | os.PathLike[str] | None = None
              ) -> list[RunTask]:
    """The tasks of every replication of a built world, in replication order; with
    ``stream_dir``, each streams its per-login records to ``replication-<n>.parquet``
    there."""
    sc = world.scenario
    resolved = sc.resolved()
    topo = Path(sc.topology).resolve()
    resolved["topology"] = str(topo)
    resolved = json.loads(json.dumps(resolved))  # plain data, no shared references
    try:
        text = topo.read_bytes()
    except OSError:
        text = b""
    cls = get_strategy(sc.addressing.strategy)
    custom = None if cls.__module__.startswith("sim.") else cls
    return [RunTask(resolved, world.source, r, text, custom,
                    None if stream_dir is None else
                    str(Path(stream_dir) / f"replication-{r}.parquet"))
            for r in range(sc.replications)]


def _world_key(task: RunTask) -> str:
    return json.dumps(task.scenario, sort_keys=True) + "\0" + task.source


@lru_cache(maxsize=4)
def _cached_world(key: str, topology_text: bytes) -> World:
    data_text, _, source = key.partition("\0")
    data = json.loads(data_text)
    topo = Path(data["topology"])
    if not topo.is_file() and topology_text:
        # A worker on another machine: use the shipped copy (same name, so same format).
        folder = Path(tempfile.mkdtemp(prefix="access-sim-topology-"))
        (folder / topo.name).write_bytes(topology_text)
        data["topology"] = str(folder / topo.name)
    return prepare_world(Scenario.model_validate(data), source)


def _ensure_strategy(task: RunTask) -> None:
    if task.strategy is None:
        return
    name = task.scenario["addressing"]["strategy"]
    if name not in available_strategies():
        register_strategy(name)(task.strategy)


def run_task(task: RunTask, progress: Callable[[float], None] | None = None
             ) -> ReplicationOutput:
    """Run one task: rebuild (or reuse) its world, derive its seed, simulate.

    Parameters
    ----------
    task : RunTask
    progress : callable, optional
        Called with the fraction of the replication's simulated time done.
    """
    _ensure_strategy(task)
    world = _cached_world(_world_key(task), task.topology_text)
    sc = world.scenario
    seed = replication_seeds(sc.seed, sc.replications)[task.replication]
    if task.stream_to is None:
        return run_replication(world, task.replication, seed, progress=progress)
    sink = ParquetLogins(world, task.replication, task.stream_to)
    out = run_replication(world, task.replication, seed, progress=progress, sink=sink)
    sink.close()
    return out


# --------------------------------------------------------------------------- executors


class Executor:
    """Runs :class:`RunTask` objects. Use as a context manager, or call :meth:`close`.

    Subclasses implement :meth:`as_completed`; :func:`run_tasks` collects its outputs in
    task order.
    """

    name = "executor"

    def as_completed(self, tasks: Sequence[RunTask], on_progress: ProgressFn | None = None
                     ) -> Iterator[tuple[int, ReplicationOutput]]:
        """Yield ``(task index, output)`` as tasks finish, in any order.

        ``on_progress(index, fraction)`` reports a task's progress (at least when it
        finishes). Closing the generator early cancels the tasks not yet started.
        """
        raise NotImplementedError

    def close(self) -> None:
        """Release workers and connections."""

    def describe(self) -> str:
        """One line for messages: what runs the tasks."""
        return self.name

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _serial(tasks: Sequence[RunTask], on_progress: ProgressFn | None
            ) -> Iterator[tuple[int, ReplicationOutput]]:
    for i, task in enumerate(tasks):
        def step(frac: float, i: int = i) -> None:
            if on_progress is not None:
                on_progress(i, frac)
        yield i, run_task(task, step)


# Modules a worker process imports when it starts, before its first task (the local pool's
# forkserver preloads the same): the first replication then only builds its world.
_WORKER_PRELOAD = ("sim.runs.api", "sim.runs.executors")

# Set in each pool process by the initializer: where progress messages go.
_worker_progress: Any = None


def _init_worker(progress_queue: Any) -> None:
    global _worker_progress
    _worker_progress = progress_queue


def _run_in_worker(index: int, task: RunTask) -> ReplicationOutput:
    q = _worker_progress
    last = [0.0]

    def step(frac: float) -> None:
        if q is not None and (frac - last[0] >= 0.02 or frac >= 1.0):
            last[0] = frac
            with contextlib.suppress(queue_mod.Full, OSError, ValueError):
                q.put_nowait((index, frac))  # progress is best effort
    return run_task(task, step)


class LocalExecutor(Executor):
    """A pool of local worker processes.

    Parameters
    ----------
    jobs : int, optional
        Worker processes (default: :func:`default_jobs`). With ``jobs=1``, or a single task,
        tasks run in this process. The pool is started on first use, sized to
        ``min(jobs, tasks)``, and kept until :meth:`close`.

    Notes
    -----
    Workers are started with the ``forkserver`` method where available (``spawn``
    elsewhere), never plain ``fork``, which is unsafe in a process with threads (Jupyter,
    Dask, progress bars). A strategy class defined in ``__main__`` (a notebook cell) cannot
    be imported by a worker process; such runs fall back to this process with a warning.
    """

    name = "local"

    def __init__(self, jobs: int | None = None):
        if jobs is not None and jobs < 1:
            raise ExecutorError(f"--jobs: expected a number of processes >= 1, got {jobs}")
        self.jobs = jobs or default_jobs()
        self._pool: ProcessPoolExecutor | None = None
        self._pool_size = 0
        self._queue: Any = None

    def describe(self) -> str:
        return f"local, {self.jobs} process{'es' if self.jobs != 1 else ''}"

    def _ensure_pool(self, size: int) -> ProcessPoolExecutor:
        if self._pool is not None and self._pool_size >= size:
            return self._pool
        self.close()
        methods = mp.get_all_start_methods()
        ctx = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
        if ctx.get_start_method() == "forkserver":
            ctx.set_forkserver_preload(list(_WORKER_PRELOAD))
        self._queue = ctx.Queue()
        self._pool = ProcessPoolExecutor(max_workers=size, mp_context=ctx,
                                         initializer=_init_worker, initargs=(self._queue,))
        self._pool_size = size
        return self._pool

    def start(self, size: int | None = None) -> Self:
        """Start the worker processes now instead of with the first tasks.

        With ``jobs > 1``, starts ``min(jobs, size)`` processes (default ``jobs``) and waits
        until they answer; they import the simulator but build no world. Nothing to do with
        ``jobs=1``. Returns the executor.
        """
        if self.jobs > 1:
            pool = self._ensure_pool(min(self.jobs, size or self.jobs))
            for fut in [pool.submit(os.getpid) for _ in range(self._pool_size)]:
                fut.result()
        return self

    def as_completed(self, tasks: Sequence[RunTask], on_progress: ProgressFn | None = None
                     ) -> Iterator[tuple[int, ReplicationOutput]]:
        in_main = [t.strategy for t in tasks if t.strategy is not None
                   and t.strategy.__module__ == "__main__"]
        if in_main and self.jobs > 1 and len(tasks) > 1:
            warnings.warn(f"strategy {in_main[0].__name__!r} is defined in __main__, "
                          "which worker processes cannot import: running in this process "
                          "(define it in a module to run in parallel)", stacklevel=3)
        if self.jobs == 1 or len(tasks) <= 1 or in_main:
            yield from _serial(tasks, on_progress)
            return
        pool = self._ensure_pool(min(self.jobs, len(tasks)))
        futures: dict[Future[ReplicationOutput], int] = {
            pool.submit(_run_in_worker, i, t): i for i, t in enumerate(tasks)}
        pending = set(futures)
        finished = False
        try:
            while pending:
                done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
                self._drain(on_progress)
                for fut in sorted(done, key=lambda f: futures[f]):
                    i = futures[fut]
                    try:
                        out = fut.result()
                    except BrokenProcessPool:
                        raise ExecutorError(
                            "a worker process died before finishing its run (out of memory, "
                            "killed, or it could not start: a script that calls sim must "
                            "guard its code with `if __name__ == \"__main__\":`, as "
                            "multiprocessing requires; or use --jobs 1 / jobs=1)") from None
                    if on_progress is not None:
                        on_progress(i, 1.0)
                    yield i, out
            finished = True
        finally:
            if not finished:
                for fut in pending:
                    fut.cancel()
                self._abort()

    def _drain(self, on_progress: ProgressFn | None) -> None:
        q = self._queue
        if q is None:
            return
        while True:
            try:
                i, frac = q.get_nowait()
            except (queue_mod.Empty, OSError, ValueError, EOFError):
                return
            if on_progress is not None:
                on_progress(i, frac)

    def _abort(self) -> None:
        """Stop the pool now (an error or an interrupt): running tasks are not awaited."""
        pool = self._pool
        if pool is None:
            return
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:  # our own worker processes, by handle
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=5)
        self._pool = None
        self._pool_size = 0
        self._close_queue()

    def _close_queue(self) -> None:
        if self._queue is not None:
            self._queue.close()
            self._queue.join_thread()
            self._queue = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self._pool_size = 0
        self._close_queue()


# Dask settings for the local cluster DaskExecutor starts itself (a cluster given by address
# keeps its own). A replication holds the GIL for its whole run, and on a machine with as
# many cores as workers every cycle the cluster's housekeeping takes is taken from a
# replication. With Dask's defaults, 16 replications of ~50,000 logins on 2 workers spent
# about 3 s of CPU more than on 2 local processes (11.8 s against 8.6 s; 9.8 s with these):
# 0.3-0.4 s per worker in threads other than the task's, 0.4 s more in the scheduler's
# process, and replications 10-20% slower (benchmarks/README.md, "parallel.py").
_LOCAL_CLUSTER_CONFIG: dict[str, Any] = {
    # The statistical profiler samples the running task's stack every 10 ms (for the
    # dashboard's profile page): each sample takes the GIL from the replication.
    "distributed.worker.profile.enabled": False,
    # Event-loop health checks, every 20 ms in the scheduler, each nanny and each worker
    # (they only warn when a loop is blocked for seconds).
    "distributed.admin.tick.interval": "500ms",
    # psutil samples for the dashboard (every 500 ms) and the nannies' memory checks (every
    # 100 ms): still often enough to stop a worker that runs out of memory.
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "500ms",
    # Nannies make glibc give freed memory back to the system at once (a 64 kB trim
    # threshold), which makes a replication's many short-lived arrays page-fault again;
    # local processes keep glibc's default, and so do these workers.
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
}


class DaskExecutor(Executor):
    """Tasks on a Dask distributed cluster.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``). When omitted, a local cluster
        of ``jobs`` single-threaded worker processes is started and closed with the
        executor.
    jobs : int, optional
        Workers of the local cluster (default: :func:`default_jobs`).
    client : distributed.Client, optional
        An existing client to use (not closed by :meth:`close`).
    timeout_s : float
        How long to wait for the scheduler to answer.

    Raises
    ------
    ExecutorError
        Dask is not installed, or the scheduler cannot be reached.
    """

    name = "dask"

    def __init__(self, scheduler: str | None = None, *, jobs: int | None = None,
                 client: Any = None, timeout_s: float = 20.0):
        try:
            import distributed  # deferred: dask is optional (the dask extra)
        except ImportError:
            raise ExecutorError("the dask executor needs dask.distributed: "
                                "pip install 'access-sim[dask]'") from None
        self._own_client = client is None
        self._cluster = None
        self.scheduler = scheduler
        if client is not None:
            self.client = client
        elif scheduler:
            try:
                self.client = distributed.Client(scheduler, timeout=timeout_s)
            except (OSError, TimeoutError) as e:
                raise ExecutorError(f"--scheduler {scheduler}: cannot connect: {e}") from None
        else:
            if jobs is not None and jobs < 1:
                raise ExecutorError(f"--jobs: expected a number of workers >= 1, got {jobs}")
            import dask  # deferred: dask is optional (the dask extra)

            with dask.config.set(_LOCAL_CLUSTER_CONFIG):
                self._cluster = distributed.LocalCluster(
                    n_workers=jobs or default_jobs(), threads_per_worker=1, processes=True,
                    dashboard_address=":0", silence_logs=40, preload=list(_WORKER_PRELOAD))
                self.client = distributed.Client(self._cluster)

    def describe(self) -> str:
        workers = len(self.client.scheduler_info().get("workers", {}))
        where = self.scheduler or "local cluster"
        return f"dask ({where}, {workers} worker{'s' if workers != 1 else ''})"

    def as_completed(self, tasks: Sequence[RunTask], on_progress: ProgressFn | None = None
                     ) -> Iterator[tuple[int, ReplicationOutput]]:
        import distributed  # deferred: dask is optional (the dask extra)

        if not tasks:
            return
        batch = uuid.uuid4().hex[:12]
        futures = [self.client.submit(run_task, t, key=f"access-sim-{batch}-{i}", pure=False)
                   for i, t in enumerate(tasks)]
        index = {f.key: i for i, f in enumerate(futures)}
        finished = False
        try:
            for fut in distributed.as_completed(futures):
                i = index[fut.key]
                out = fut.result()
                fut.release()
                if on_progress is not None:
                    on_progress(i, 1.0)
                yield i, out
            finished = True
        finally:
            if not finished:
                self.client.cancel(futures)

    def close(self) -> None:
        if self._own_client:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def make_executor(kind: str | Executor | None = None, *, jobs: int | None = None,
                  scheduler: str | None = None) -> Executor:
    """An executor by name: ``"local"`` (default) or ``"dask"``.

    A ``scheduler`` address implies ``"dask"``. An :class:`Executor` is returned as is.

    Raises
    ------
    ExecutorError
        Unknown kind, or Dask cannot be set up.
    """
    if isinstance(kind, Executor):
        return kind
    kind = kind or ("dask" if scheduler else "local")
    if kind == "local":
        if scheduler:
            raise ExecutorError("--scheduler needs --executor dask")
        return LocalExecutor(jobs)
    if kind == "dask":
        return DaskExecutor(scheduler, jobs=jobs)
    raise ExecutorError(f"--executor: expected local or dask, got {kind!r}")


# --------------------------------------------------------------------------- progress


class RunProgress:
    """One progress bar for a set of runs (points x replications), with an ETA.

    Parameters
    ----------
    total : int
        Number of tasks.
    desc : str
        The bar's label.
    enabled : bool
        False: nothing is shown (the callbacks still work).
    callback : callable, optional
        Also called with the overall fraction done (0..1).
    """

    def __init__(self, total: int, desc: str = "runs", *, enabled: bool = True,
                 callback: Callable[[float], None] | None = None):
        self.total = total
        self._done = [0.0] * total
        self._sum = 0.0
        self._callback = callback
        self._lock = threading.Lock()
        self._bar = None
        if enabled and total > 0:
            from tqdm.auto import tqdm  # deferred: only a progress bar needs it

            self._bar = tqdm(total=total, desc=desc, unit="run", file=sys.stderr,
                             delay=1.0, leave=False, dynamic_ncols=True,
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| "
                                        "{n:.1f}/{total} runs [{elapsed}<{remaining}]")

    def update(self, index: int, frac: float) -> None:
        """Task ``index`` is ``frac`` done (never goes back)."""
        with self._lock:
            frac = min(max(frac, 0.0), 1.0)
            step = frac - self._done[index]
            if step <= 0:
                return
            self._done[index] = frac
            self._sum += step
            if self._bar is not None:
                self._bar.update(step)
            if self._callback is not None:
                self._callback(min(self._sum / self.total, 1.0))

    def close(self) -> None:
        """Remove the bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_tasks(tasks: Sequence[RunTask], executor: Executor | None = None, *,
              progress: Callable[[float], None] | None = None) -> list[ReplicationOutput]:
    """Run tasks and return their outputs in task order (whatever order they finish in).

    Parameters
    ----------
    tasks : sequence of RunTask
    executor : Executor, optional
        Default: a :class:`LocalExecutor` for this call.
    progress : callable, optional
        Called with the overall fraction done (0..1).
    """
    own = executor is None
    ex = executor if executor is not None else LocalExecutor()
    tracker = RunProgress(len(tasks), enabled=False, callback=progress)
    outputs: list[ReplicationOutput | None] = [None] * len(tasks)
    try:
        for i, out in ex.as_completed(tasks, tracker.update):
            outputs[i] = out
    finally:
        if own:
            ex.close()
    missing = [tasks[i].label for i, o in enumerate(outputs) if o is None]
    if missing:
        raise ExecutorError(f"{ex.describe()}: no output for {', '.join(missing)}")
    return [o for o in outputs if o is not None]


def run_worlds(worlds: Sequence[World], executor: Executor | None = None, *,
               progress: bool | Callable[[float], None] = False, desc: str = "runs",
               on_done: Callable[[int, Any], Any] | None = None) -> list[Any]:
    """Run every replication of several worlds as one batch; one Results per world.

    All ``worlds x replications`` tasks go to the executor at once (one progress bar for
    the set). A world's :class:`~sim.analysis.Results` is assembled, from its outputs in
    replication order, as soon as its last replication finishes, and passed to
    ``on_done(world_index, results)`` (a sweep saves its point there, so an interrupted
    sweep keeps what finished).

    Parameters
    ----------
    worlds : sequence of World
    executor : Executor, optional
        Default: a :class:`LocalExecutor` for this call.
    progress : bool or callable
        True: a progress bar on stderr; a callable gets the overall fraction done.
    desc : str
        The progress bar's label.
    on_done : callable, optional
        ``on_done(index, results)`` for each world, in the order they finish; what it
        returns, when not None, is kept instead of the results (a sweep keeps a summary
        only, to free the per-login tables).

    Returns
    -------
    list
        One Results (or what ``on_done`` returned) per world, in the order of ``worlds``.
    """

    tasks: list[RunTask] = []
    owner: list[int] = []
    for w, world in enumerate(worlds):
        for task in tasks_for(world):
            tasks.append(task)
            owner.append(w)
    outputs: list[list[Any]] = [[None] * world.scenario.replications for world in worlds]
    left = [world.scenario.replications for world in worlds]
    results: list[Any] = [None] * len(worlds)
    own = executor is None
    ex = executor if executor is not None else LocalExecutor()
    started = time.perf_counter()
    created = datetime.now(UTC).replace(microsecond=0).isoformat()
    callback = progress if callable(progress) else None
    tracker = RunProgress(len(tasks), desc, enabled=progress is True, callback=callback)
    try:
        for i, out in ex.as_completed(tasks, tracker.update):
            w = owner[i]
            outputs[w][tasks[i].replication] = out
            left[w] -= 1
            if left[w] == 0:
                res = results_from_outputs(worlds[w], outputs[w],
                                           wall_s=time.perf_counter() - started,
                                           created_utc=created)
                res.summary["run"]["executor"] = ex.describe()
                outputs[w] = []  # free the raw columns
                results[w] = res
                if on_done is not None:
                    kept = on_done(w, res)
                    if kept is not None:
                        results[w] = kept
    finally:
        tracker.close()
        if own:
            ex.close()
    return results
