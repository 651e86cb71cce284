"""Throughput of one replication of the default global scenario (issue 7).

``scenarios/global-baseline.yaml`` (multi-level addressing, 2M DAU from 12:00 UTC) with
``replications: 1`` and its duration stretched to give about ``--logins`` logins (default
1,000,000). Two cases, each in a fresh process:

- ``engine-<N>``: ``sim.engine.loop.run_replication(world, 0, SeedSequence(seed))`` alone, the
  world built beforehand (the simulation, no result tables, nothing written);
- ``run-<N>``: the whole ``sim.run(...)`` (load, build, simulate, result tables and summary;
  nothing written).

Each prints one JSON line with the floor measured right before and after it.

usage: python benchmarks/throughput.py [--logins N] [--quick]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one case in this (fresh) process; what it measured."""
    return h.simulate(spec["what"], spec["overrides"], spec["seed"])


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if h.serve_child(child, args_in):
        return 0
    p = h.parser(__doc__)
    p.add_argument("--logins", type=int, default=None,
                   help="about how many logins (default 1000000; 50000 with --quick)")
    args = h.parse(p, args_in)
    target = args.logins or (50_000 if args.quick else 1_000_000)
    overrides = h.sized_overrides(target)
    label = h.human(target)
    for what in ("engine", "run"):
        h.emit(h.run_case(f"{what}-{label}", Path(__file__), {
            "what": what, "overrides": overrides, "seed": args.seed},
            floor_logins=args.floor_logins,
            extra={"scenario": "global-baseline", "overrides": overrides,
                   "target_logins": target, "seed": args.seed}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
