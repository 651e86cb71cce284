"""16 replications on 1 and 2 local worker processes and on a local Dask cluster (issue 7).

The global scenario (``scenarios/global-baseline.yaml``) with its duration cut to about
``--logins`` logins per replication (default 50,000) and ``replications: 16``. Cases, each
in a fresh process:

- ``local-1``: the project's ``LocalExecutor(jobs=1)``, which runs the replications one
  after another in the calling process;
- ``local-2``: ``LocalExecutor(jobs=2)``, a pool of two worker processes (``forkserver``),
  each rebuilding the world once and sending each replication's output back;
- ``dask-2``: ``DaskExecutor(jobs=2)``, a ``distributed.LocalCluster(n_workers=2,
  threads_per_worker=1, processes=True)`` (skipped when Dask is not installed).

The replications go through :func:`sim.runs.executors.run_tasks` (the path ``sim.run`` takes).
Without ``sim.runs.executors`` (an older tree) the benchmark falls back to
``concurrent.futures.ProcessPoolExecutor`` and ``distributed.Client.submit`` calling
``sim.engine.loop.run_replication`` with the world rebuilt in each worker. ``startup_s`` is the
time to start the executor's worker processes, which import the simulator but build no
world: the local pool (``LocalExecutor.start()``) or the Dask cluster; ``wall_s`` is the
time of the 16 replications on them (each worker's first replication builds its world, as
``local-1``'s first one does); ``total_s`` both. (A tree whose ``LocalExecutor`` has no
``start()`` starts its pool with the first tasks, inside ``wall_s``.)
``speedup_vs_local_1`` and ``speedup_vs_local_2`` compare ``wall_s``; the ``_incl_startup``
variants compare ``total_s``. ``peak_rss_mb`` is the coordinating process;
``peak_group_rss_mb`` the sampled sum over it and its workers.

The floor of a case on N workers is N floor processes run at once (their rates summed), so
``ratio`` compares the case with what the machine offered N processes at the time: on a
shared machine the second core is often partly taken, and the raw speedup then says more
about the neighbours than about the executor. The ``speedup_vs_*_floor_adjusted`` fields
divide a raw speedup by the ratio of the two cases' floors (a 2-process floor over the
1-process floor of ``local-1``; 1 between the two 2-worker cases when the machine held still).

usage: python benchmarks/parallel.py [--logins N] [--replications R] [--quick]
"""

from __future__ import annotations

import sys
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h

# --------------------------------------------------------------------------- fallback path


@lru_cache(maxsize=2)
def _world(overrides_json: str) -> Any:
    import json

    import sim
    from sim.model.world import build_world

    return build_world(sim.load_scenario(h.BASELINE, json.loads(overrides_json)))


def _replicate(overrides_json: str, replication: int) -> Any:
    """One replication in a worker: the world rebuilt once per process, the seed spawned
    from the scenario's as ``sim.run`` does."""
    from sim.runs.api import replication_seeds
    from sim.engine.loop import run_replication

    world = _world(overrides_json)
    sc = world.scenario
    seed = replication_seeds(sc.seed, sc.replications)[replication]
    return run_replication(world, replication, seed)


def _fallback(spec: dict[str, Any]) -> tuple[list[Any], float, float]:
    import json
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    key = json.dumps(spec["overrides"], sort_keys=True)
    reps = range(spec["overrides"]["replications"])
    jobs = spec["jobs"]
    started = time.perf_counter()
    if spec["executor"] == "local" and jobs == 1:
        startup_s = 0.0
        outputs = [_replicate(key, r) for r in reps]
    elif spec["executor"] == "local":
        startup_s = 0.0
        method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        with ProcessPoolExecutor(jobs, mp_context=mp.get_context(method)) as pool:
            outputs = list(pool.map(_replicate, [key] * len(reps), reps))
    else:
        import distributed

        with distributed.LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                      dashboard_address=":0", silence_logs=40) as cluster, \
                distributed.Client(cluster) as client:
            startup_s = time.perf_counter() - started
            started = time.perf_counter()
            futures = [client.submit(_replicate, key, r, pure=False) for r in reps]
            outputs = client.gather(futures)
    return list(outputs), time.perf_counter() - started, startup_s


# --------------------------------------------------------------------------- cases


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one case in this (fresh) process; what it measured."""
    try:
        from sim.runs.executors import DaskExecutor, LocalExecutor, run_tasks, tasks_for
    except ImportError:
        outputs, wall_s, startup_s = _fallback(spec)
        via = "fallback: ProcessPoolExecutor / Client.submit -> run_replication"
    else:
        import sim
        from sim.model.world import build_world

        world = build_world(sim.load_scenario(h.BASELINE, spec["overrides"]))
        tasks = tasks_for(world)
        started = time.perf_counter()
        if spec["executor"] == "local":
            executor: Any = LocalExecutor(spec["jobs"])
            # Start the pool's processes here, as DaskExecutor starts its cluster's, so that
            # wall_s is the replications alone in every case (a tree without start() starts
            # them with the first tasks, inside wall_s).
            if hasattr(executor, "start"):
                executor.start()
        else:
            executor = DaskExecutor(jobs=spec["jobs"])
        startup_s = time.perf_counter() - started
        with executor:
            started = time.perf_counter()
            outputs = run_tasks(tasks, executor)
            wall_s = time.perf_counter() - started
        via = f"sim.runs.executors.run_tasks on {type(executor).__name__}(jobs={spec['jobs']})"
    logins = sum(int(o.counts["attempted"]) for o in outputs)
    return {"logins": logins, "wall_s": round(wall_s, 3), "peak_rss_mb": h.peak_rss_mb(),
            "children_peak_rss_mb": h.children_peak_rss_mb(),
            "startup_s": round(startup_s, 3), "total_s": round(wall_s + startup_s, 3),
            "replications": len(outputs), "via": via}


def _dask_installed() -> bool:
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if h.serve_child(child, args_in):
        return 0
    p = h.parser(__doc__)
    p.add_argument("--logins", type=int, default=None,
                   help="about how many logins per replication (default 50000; 10000 with "
                        "--quick)")
    p.add_argument("--replications", type=int, default=None,
                   help="replications (default 16; 4 with --quick)")
    args = h.parse(p, args_in)
    per_rep = args.logins or (10_000 if args.quick else 50_000)
    reps = args.replications or (4 if args.quick else 16)
    overrides = h.sized_overrides(per_rep, {"replications": reps, "seed": args.seed})
    cases = [("local", 1), ("local", 2)]
    if _dask_installed():
        cases.append(("dask", 2))
    else:
        print("dask is not installed: the dask-2 case is skipped "
              "(pip install 'access-sim[dask]')", file=sys.stderr)
    done: dict[str, dict[str, Any]] = {}
    for executor, jobs in cases:
        name = f"{executor}-{jobs}"
        record = h.run_case(name, Path(__file__),
                            {"executor": executor, "jobs": jobs, "overrides": overrides},
                            floor_logins=args.floor_logins, floor_procs=jobs, timeout_s=3600,
                            extra={"scenario": "global-baseline", "overrides": overrides,
                                   "workers": jobs, "logins_per_replication": per_rep})
        for ref in ("local-1", "local-2"):
            if ref in done and ref != name:
                record.update(_speedup(done[ref], record, ref.replace("-", "_")))
        done[name] = record
        h.emit(record)
    return 0


def _speedup(ref: dict[str, Any], case: dict[str, Any], label: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if ref.get("wall_s") and case.get("wall_s"):
        speedup = ref["wall_s"] / case["wall_s"]
        out[f"speedup_vs_{label}"] = round(speedup, 3)
        floor_gain = case["floor_logins_per_s"] / ref["floor_logins_per_s"]
        out[f"speedup_vs_{label}_floor_adjusted"] = round(speedup / floor_gain, 3)
    if ref.get("total_s") and case.get("total_s"):
        out[f"speedup_vs_{label}_incl_startup"] = round(ref["total_s"] / case["total_s"], 3)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
