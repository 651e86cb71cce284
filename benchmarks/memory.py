"""Peak memory and wall time at 1M and 10M logins, per-login records off and on (issue 7).

10M logins is the busy part of a day of a 10-million-DAU app: the global scenario
(``scenarios/global-baseline.yaml``) with ``population.dau: 10000000`` (3 logins per user
per day, as in the scenario) and ``replications: 1``, its duration set to give about 1M or
10M logins (38 min and 6.1 h from 12:00 UTC, the busy evening of Asia and Europe). Both sizes
use the same DAU, so only the length of the run differs. Cases, each in a fresh process so
that each peak RSS is its own:

- ``run-<N>-per_login_off`` / ``run-<N>-per_login_on``: the whole ``sim.run(...)`` with
  ``outputs.per_login`` false / true (nothing written). ``login_rows`` says how many
  per-login rows the results still hold in memory.
- ``run-<N>-per_login_stream``: ``sim.run(...)`` with per-login records on, streamed to
  Parquet as the run goes (``outputs.stream: true``, ``outputs.format: parquet``), then
  ``Results.save`` into a temporary folder (its wall time included; ``file_mb`` is the size
  of the saved ``logins.parquet``).
- ``engine-<N>-per_login_off``: ``sim.engine.loop.run_replication(..., per_login=False)`` alone
  (no result tables); ``login_rows`` is the number of rows it still returns.

The 10M lines add ``wall_ratio_vs_1M`` (and the same ratio corrected for the floor measured
next to each case) and ``rss_ratio_vs_1M``. ``--quick`` uses 100k and 1M logins.

usage: python benchmarks/memory.py [--quick]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h

DAU = 10_000_000


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one case in this (fresh) process; what it measured."""
    return h.simulate(spec["what"], spec["overrides"], spec["seed"])


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if h.serve_child(child, args_in):
        return 0
    p = h.parser(__doc__)
    args = h.parse(p, args_in)
    sizes = (100_000, 1_000_000) if args.quick else (1_000_000, 10_000_000)
    first: dict[str, dict[str, Any]] = {}
    for size in sizes:
        sized = h.sized_overrides(size, {"population.dau": DAU})
        label = h.human(size)
        for what, records in (("engine", "off"), ("run", "off"), ("run", "on"),
                              ("run", "stream")):
            overrides = {**sized, "outputs.per_login": records != "off",
                         "outputs.figures": False}
            if records == "stream":
                overrides.update({"outputs.stream": True, "outputs.format": "parquet"})
            per_login = records != "off"
            kind = f"{what}-per_login_{records}"
            record = h.run_case(f"{what}-{label}-per_login_{records}",
                                Path(__file__),
                                {"what": what, "overrides": overrides, "seed": args.seed},
                                floor_logins=args.floor_logins, timeout_s=4 * 3600,
                                extra={"scenario": "global-baseline", "overrides": overrides,
                                       "per_login": per_login, "target_logins": size,
                                       "seed": args.seed})
            small = first.setdefault(kind, record)
            if small is not record:
                record.update(_scaling(small, record, h.human(sizes[0])))
            h.emit(record)
    return 0


def _scaling(small: dict[str, Any], large: dict[str, Any], label: str) -> dict[str, Any]:
    """How the larger case compares with the smaller one of the same kind."""
    if not (small.get("wall_s") and large.get("wall_s")):
        return {}
    wall_ratio = large["wall_s"] / small["wall_s"]
    out: dict[str, Any] = {
        f"logins_ratio_vs_{label}": round(large["logins"] / small["logins"], 3),
        f"wall_ratio_vs_{label}": round(wall_ratio, 3),
        # the same ratio had both run on a machine as fast as at the small case's floor
        f"wall_ratio_vs_{label}_floor_adjusted": round(
            wall_ratio * large["floor_logins_per_s"] / small["floor_logins_per_s"], 3),
    }
    if small.get("peak_rss_mb") and large.get("peak_rss_mb"):
        out[f"rss_ratio_vs_{label}"] = round(large["peak_rss_mb"] / small["peak_rss_mb"], 3)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
