"""Where the time of `make run` goes (issue 17): setup aside, simulation against the rest.

One case, ``make-run``: the command `make run` runs, ``access-sim run
scenarios/global-baseline.yaml --out DIR --overwrite``, in a fresh process (into a temporary
folder), with its step lines read off stderr. The line reports the process's wall time and
the steps the command prints:

- ``simulate_s``: the replications (``simulated N replications in X s``);
- ``summary_s``: the summary and the result tables (``summarised in X s``);
- ``write_s``: ``logins.csv``, ``node_load.csv``, ``summary.json`` and the rest (every
  ``wrote ... in X s`` line);
- ``figures_s``: the PNG figures (``drew the figures in X s``), drawn while ``logins.csv``
  is written, so ``write_s + figures_s`` may exceed the time they took together;
- ``end_to_end_over_simulation``: wall time over ``simulate_s``. The target is at most 1.3.

Setup (the virtual environment) is not part of it: `make run` skips it once ``.venv`` exists.
``--quick`` runs 10 simulated minutes instead of the scenario's hour; ``--replications N``
overrides the scenario's 3. The floor runs before and after the case as for every benchmark;
``ratio`` is logins per second (the warm-up included) over the floor's.

usage: python benchmarks/make_run.py [--quick] [--replications N]
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h

_STEPS = {
    "simulate_s": re.compile(r"simulated \d+ replications? in ([0-9.]+) s"),
    "summary_s": re.compile(r"^summarised in ([0-9.]+) s", re.M),
    "write_s": re.compile(r"^wrote (?!.*/ in )\S+ in ([0-9.]+) s", re.M),
    "figures_s": re.compile(r"^drew the figures in ([0-9.]+) s", re.M),
}


def step_times(stderr: str) -> dict[str, float]:
    """The step durations `access-sim run` printed (``write_s`` sums every file written)."""
    out: dict[str, float] = {}
    for key, pattern in _STEPS.items():
        found = [float(v) for v in pattern.findall(stderr)]
        if found:
            out[key] = round(sum(found), 3)
    return out


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the command once in a fresh process; its wall time and steps."""
    import json

    cli = Path(sys.executable).with_name("access-sim")
    command = [str(cli) if cli.exists() else sys.executable, *([] if cli.exists() else
               ["-m", "sim"]), "run", str(h.BASELINE)]
    for key, value in spec["overrides"].items():
        command += ["--set", f"{key}={value}"]
    with tempfile.TemporaryDirectory(prefix="access-sim-bench-") as folder:
        out = Path(folder) / "result"
        started = time.perf_counter()
        done = subprocess.run([*command, "--out", str(out), "--overwrite"], text=True,
                              capture_output=True, check=False)
        wall_s = time.perf_counter() - started
        if done.returncode != 0:
            tail = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
            raise SystemExit(f"make-run failed: {tail[0]}")
        summary = json.loads((out / "summary.json").read_text())
        logins_mb = round(sum(p.stat().st_size for p in out.glob("logins.*")) / 2**20, 1)
    steps = step_times(done.stderr)
    counts = summary["logins"].get("whole_run", summary["logins"])
    simulate_s = steps.get("simulate_s")
    return {"logins": int(counts["attempted"]), "wall_s": round(wall_s, 3),
            "peak_rss_mb": round(h.children_peak_rss_mb(), 1), **steps,
            "end_to_end_over_simulation": round(wall_s / simulate_s, 3) if simulate_s
            else None,
            "replications": summary.get("replications"), "logins_file_mb": logins_mb}


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if h.serve_child(child, args_in):
        return 0
    p = h.parser(__doc__)
    p.add_argument("--replications", type=int, default=None,
                   help="replications (default: the scenario's, 3)")
    args = h.parse(p, args_in)
    overrides: dict[str, Any] = {"seed": args.seed}
    if args.quick:
        overrides["duration"] = "10m"
    if args.replications:
        overrides["replications"] = args.replications
    h.emit(h.run_case("make-run", Path(__file__), {"overrides": overrides},
                      floor_logins=args.floor_logins,
                      extra={"scenario": "global-baseline", "overrides": overrides}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
