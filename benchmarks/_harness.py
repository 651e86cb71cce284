"""What the benchmarks share: sizing a scenario, the SimPy floor, one subprocess per case.

Every case runs in a fresh Python process (so that its peak RSS is its own) and prints one
JSON line. The naive SimPy floor (``../shared/bench/simpy_floor.py``, or
``benchmarks/floor.py`` in a clone without it) runs in a subprocess right before and right
after each case; the case's line reports the mean of the two and ``ratio`` = the case's
logins per second over the floor's. The machine is shared and noisy: the ratio is the number
to compare across runs, not the raw throughput.

While a case runs, the parent watches ``MemAvailable`` in ``/proc/meminfo`` and stops the case
(its own process group, which it started) when the machine is about to run out of memory; the
case's line then says so in ``error`` instead of taking the machine down. It also samples
the resident memory of the case's whole process group (the case and any worker processes it
starts) every 0.25 s: ``peak_group_rss_mb``, next to the case's own ``peak_rss_mb``
(``ru_maxrss``: exact, but for one process).

The benchmarks measure the ``sim`` package of the checkout they are in (its folder goes first
on ``sys.path`` and on the cases' ``PYTHONPATH``), so a clone or a snapshot of another commit
can be measured with the project's virtualenv; each line gives ``sim_path`` and ``commit``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import math
import os
import platform
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "scenarios" / "global-baseline.yaml"
SHARED_FLOOR = REPO.parent / "shared" / "bench" / "simpy_floor.py"
LOCAL_FLOOR = REPO / "benchmarks" / "floor.py"
CHILD_FLAG = "--child"
if str(REPO) not in sys.path:
    # Measure the `sim` of the checkout these files are in, not whichever one is installed
    # (cases and their worker processes get it through PYTHONPATH, see run_child).
    sys.path.insert(0, str(REPO))
MIN_AVAILABLE_MB = 600
"""A case is stopped when the machine's available memory falls below this."""


# --------------------------------------------------------------------------- sizes


def human(n: int) -> str:
    """``1000000 -> "1M"``, ``50000 -> "50k"``: case names."""
    for unit, div in (("M", 1_000_000), ("k", 1_000)):
        if n >= div and n % (div // 10) == 0:
            text = f"{n / div:g}"
            return f"{text}{unit}"
    return str(n)


def expected_logins(scenario: Any) -> float:
    """Expected logins of one replication: the arrival rate integrated over the run.

    The same integral ``access-sim validate`` prints (per replication): the population's
    DAU x logins per user per day, shaped by the diurnal curve in each city's local time.
    """
    import numpy as np

    from sim.model.workload import Workload, load_sites

    workload = Workload(scenario, load_sites(scenario), np.random.SeedSequence(0))
    edges = workload.bin_edges()
    return float(sum(workload.rate_per_s((a + b) / 2).sum() * (b - a)
                     for a, b in itertools.pairwise(edges)))


def sized_overrides(target_logins: int, overrides: Mapping[str, Any] | None = None,
                    scenario_path: Path = BASELINE) -> dict[str, Any]:
    """Overrides of a scenario that make one replication about ``target_logins`` logins.

    The duration (whole seconds, from the scenario's ``start_utc_hour``) is found by
    bisection on :func:`expected_logins`; ``replications`` is set to 1 unless ``overrides``
    says otherwise. A warm-up that would not fit the shorter run is cut to a tenth of it.
    """
    import sim

    fixed = {"replications": 1, **(overrides or {})}
    base = sim.load_scenario(scenario_path, fixed)

    def count(duration_s: int) -> float:
        changes: dict[str, Any] = {"duration": f"{duration_s}s"}
        if base.warmup >= duration_s:
            changes["warmup"] = f"{duration_s / 10:.3f}s"
        return expected_logins(base.with_overrides(changes))

    lo, hi = 1, 60
    while count(hi) < target_logins:
        lo, hi = hi, hi * 2
        if hi > 400 * 86400:
            raise ValueError(f"{target_logins} logins need more than 400 simulated days")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if count(mid) < target_logins:
            lo = mid
        else:
            hi = mid
    duration_s = lo if abs(count(lo) - target_logins) < abs(count(hi) - target_logins) else hi
    out = {**fixed, "duration": f"{duration_s}s"}
    if base.warmup >= duration_s:
        out["warmup"] = f"{duration_s / 10:.3f}s"
    return out


# --------------------------------------------------------------------------- machine


def peak_rss_mb() -> float:
    """This process's peak resident set size (Linux reports kilobytes)."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kb / 1024.0, 1)


def children_peak_rss_mb() -> float:
    """The largest peak RSS of the child processes this one has waited for."""
    kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(kb / 1024.0, 1)


def available_mb() -> float:
    """``MemAvailable`` from ``/proc/meminfo`` (infinite where there is none)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return math.inf


_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20 if hasattr(os, "sysconf") else 4096 / 2**20


def group_rss_mb(pgid: int) -> float:
    """Resident memory of every process in a process group now (summed; shared pages count
    once per process). 0 where ``/proc`` is not available."""
    total_pages = 0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0.0
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue  # it ended meanwhile
        fields = stat[stat.rfind(")") + 2:].split()
        # after "pid (comm) ": state ppid pgrp session ... rss is the 22nd of these
        if len(fields) > 21 and int(fields[2]) == pgid:
            total_pages += int(fields[21])
    return total_pages * _PAGE_MB


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                              timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def machine() -> dict[str, Any]:
    """What the numbers were measured on and with: printed with every case."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = _git("status", "--porcelain", "--", "sim")
    try:
        from importlib.metadata import version

        simpy_version = version("simpy")
    except Exception:  # noqa: BLE001 - provenance only
        simpy_version = None
    import sim

    return {"python": platform.python_version(), "simpy": simpy_version,
            "sim_path": str(Path(sim.__file__).resolve().parent),
            "cpu_count": os.cpu_count(), "nproc": usable,
            "platform": platform.platform(),
            "date_utc": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "commit": commit, "sim_uncommitted_changes": bool(dirty) if dirty is not None
            else None}


# --------------------------------------------------------------------------- floor


def floor_script() -> Path:
    """The shared floor when it is there, else the copy in this folder."""
    return SHARED_FLOOR if SHARED_FLOOR.is_file() else LOCAL_FLOOR


def measure_floor(logins: int, seed: int = 1, procs: int = 1) -> dict[str, Any]:
    """Run the floor in ``procs`` fresh processes at once; the combined rate.

    With one process this is the floor's own JSON line. With several (for cases that use
    several cores) ``logins_per_s`` is the sum of their rates: what this machine offers that
    many processes right now, which on a shared machine can be well under ``procs`` times one.
    """
    script = floor_script()
    runs = [subprocess.Popen([sys.executable, str(script), str(logins), str(seed)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(procs)]
    lines = []
    for run in runs:
        stdout, stderr = run.communicate(timeout=3600)
        if run.returncode != 0:
            raise RuntimeError(f"{script} failed ({run.returncode}): {stderr.strip()}")
        lines.append(json.loads(stdout.strip().splitlines()[-1]))
    if procs == 1:
        return dict(lines[0])
    return {"model": lines[0]["model"], "logins": sum(x["logins"] for x in lines),
            "logins_per_s": sum(x["logins_per_s"] for x in lines),
            "per_process_logins_per_s": [x["logins_per_s"] for x in lines]}


# --------------------------------------------------------------------------- cases


def _stop(proc: subprocess.Popen[str]) -> None:
    """Stop a case's process group (the case and any workers it started)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def run_child(script: Path, spec: Mapping[str, Any], *, timeout_s: float) -> dict[str, Any]:
    """Run one case in a fresh process: ``script --child SPEC``; its last JSON line.

    The child runs in its own session (process group) so that the case and any worker
    processes it starts can be stopped together. Returns ``{"error": ...}`` when the case
    fails, times out or is stopped for lack of memory.
    """
    if available_mb() < MIN_AVAILABLE_MB * 2:
        return {"error": f"not started: only {available_mb():.0f} MB of memory available"}
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    proc = subprocess.Popen([sys.executable, str(script), CHILD_FLAG, json.dumps(spec)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, cwd=REPO, env=env)
    started = time.monotonic()
    lowest_mb = available_mb()
    group_peak_mb = 0.0
    reason = None
    while proc.poll() is None:
        time.sleep(0.25)
        group_peak_mb = max(group_peak_mb, group_rss_mb(proc.pid))
        free_mb = available_mb()
        lowest_mb = min(lowest_mb, free_mb)
        if free_mb < MIN_AVAILABLE_MB:
            reason = (f"stopped: the machine's available memory fell to {free_mb:.0f} MB "
                      f"after {time.monotonic() - started:.0f} s")
        elif time.monotonic() - started > timeout_s:
            reason = f"stopped: took longer than {timeout_s:.0f} s"
        if reason is not None:
            _stop(proc)
            break
    stdout, stderr = proc.communicate()
    if reason is not None:
        return {"error": reason}
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        return {"error": f"case failed: {tail[0]}"}
    result = dict(json.loads(lines[-1]))
    result["peak_group_rss_mb"] = round(group_peak_mb, 1)
    result["min_available_mb"] = round(lowest_mb)
    return result


def run_case(case: str, script: Path, spec: Mapping[str, Any], *, floor_logins: int,
             floor_procs: int = 1, timeout_s: float = 7200.0,
             extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Floor, the case in its own process, floor again: the case's JSON record.

    The record starts with the fields every benchmark prints (``case``, ``logins``,
    ``wall_s``, ``logins_per_s``, ``floor_logins_per_s``, ``ratio``, ``peak_rss_mb``), then
    what the case reported and where it ran. ``floor_procs``: floor processes run at once
    (the number of cores the case uses), see :func:`measure_floor`.
    """
    provenance = machine()  # the code the case runs is the code as it starts
    before = measure_floor(floor_logins, procs=floor_procs)
    measured = run_child(script, spec, timeout_s=timeout_s)
    after = measure_floor(floor_logins, procs=floor_procs)
    floor_rate = (before["logins_per_s"] + after["logins_per_s"]) / 2
    logins = measured.pop("logins", None)
    wall_s = measured.pop("wall_s", None)
    rate = round(logins / wall_s) if logins and wall_s else None
    record: dict[str, Any] = {
        "case": case, "logins": logins, "wall_s": wall_s, "logins_per_s": rate,
        "floor_logins_per_s": round(floor_rate),
        "ratio": round(rate / floor_rate, 3) if rate else None,
        "peak_rss_mb": measured.pop("peak_rss_mb", None),
        **measured,
        **(extra or {}),
        "floor_runs_logins_per_s": [before["logins_per_s"], after["logins_per_s"]],
        "floor_logins": floor_logins,
        "floor_procs": floor_procs,
        "floor_source": str(floor_script().relative_to(REPO.parent)
                            if floor_script().is_relative_to(REPO.parent) else floor_script()),
        **provenance,
    }
    return record


def emit(record: Mapping[str, Any]) -> None:
    """Print one JSON line now (the runs are long; lines appear as cases finish)."""
    print(json.dumps(record), flush=True)


def simulate(what: str, overrides: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """One case of the default scenario with ``overrides``, in this (fresh) process.

    ``what`` is ``engine`` (``run_replication`` on a world built beforehand; per-login records
    as ``outputs.per_login`` says) or ``run`` (the whole ``sim.run``; with ``outputs.stream``
    the result is also saved into a temporary folder, ``file_mb`` being its
    ``logins.parquet``). The fields every case reports: logins (all, the warm-up included),
    wall time, peak RSS, failures and the per-login rows still held in memory.
    """
    import tempfile

    import numpy as np

    import sim

    extra: dict[str, Any] = {}
    if what == "engine":
        from sim.model.world import build_world
        from sim.engine.loop import run_replication

        world = build_world(sim.load_scenario(BASELINE, dict(overrides)))
        started = time.perf_counter()
        out = run_replication(world, 0, np.random.SeedSequence(seed),
                              per_login=overrides.get("outputs.per_login"))
        wall_s = time.perf_counter() - started
        counts = out.counts
        rows = len(out.logins["login_id"])
    else:
        started = time.perf_counter()
        results = sim.run(BASELINE, overrides=dict(overrides), seed=seed)
        if overrides.get("outputs.stream"):
            with tempfile.TemporaryDirectory(prefix="access-sim-bench-") as folder:
                saved = results.save(Path(folder) / "result")
                extra["file_mb"] = round((saved / "logins.parquet").stat().st_size / 2**20, 1)
        wall_s = time.perf_counter() - started
        # "whole_run": every login, the warm-up included (the headline counts leave it out)
        counts = results.summary["logins"].get("whole_run", results.summary["logins"])
        rows = len(results.logins)
    return {"logins": int(counts["attempted"]), "wall_s": round(wall_s, 3),
            "peak_rss_mb": peak_rss_mb(), "login_rows": rows, "failed": int(counts["failed"]),
            **extra}


def serve_child(child: Any, argv: Sequence[str]) -> bool:
    """When this process is a case's child (``--child SPEC``): run ``child(spec)``, print its
    line and return True; else False (this process is the benchmark's parent)."""
    spec = child_spec(argv)
    if spec is None:
        return False
    emit(child(spec))
    return True


def child_spec(argv: Sequence[str]) -> dict[str, Any] | None:
    """The case to run when this process is a case's child (``--child SPEC``), else None."""
    if len(argv) == 2 and argv[0] == CHILD_FLAG:
        return dict(json.loads(argv[1]))
    return None


def parser(description: str | None) -> argparse.ArgumentParser:
    """The options every benchmark takes."""
    p = argparse.ArgumentParser(description=(description or "").split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="a short smoke run (small sizes) to check that the benchmark works")
    p.add_argument("--floor-logins", type=int, default=None,
                   help="logins per floor run (default 200000; 50000 with --quick)")
    p.add_argument("--seed", type=int, default=42, help="the replication seed (default 42)")
    return p


def parse(p: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """``p``'s options from ``argv`` (a :func:`parser`'s), ``--floor-logins`` defaulting to
    200000 (50000 with ``--quick``)."""
    args = p.parse_args(list(argv))
    if not args.floor_logins:
        args.floor_logins = 50_000 if args.quick else 200_000
    return args
