"""A run's outputs become its :class:`~sim.analysis.Results`: the replications' columns,
the provenance (scenario, seed, versions, run time) and, with ``billing.month``, the bill."""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Sequence
from pathlib import Path

from sim.billing.usage import monthly_usage
from sim.engine.records import ReplicationOutput
from sim.model.world import World
from sim.analysis import Results
from sim.version import library_version, package_version

__all__ = ["results_from_outputs"]


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
        "version": package_version(),
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
        usage = monthly_usage(sc, sites=world.sites, source=world.source)
        results.summary["bill"] = usage.report(daily=False)
    return results


def _sha256(path: str) -> str | None:
    """The topology file's digest: with the resolved scenario and the seed, what a result
    needs to be reproduced (the file may change after the run)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def _library_versions() -> dict[str, str]:
    """Versions of the libraries whose algorithms shape the numbers (random streams, SimPy)."""
    return {name: library_version(name)
            for name in ("numpy", "simpy", "networkx", "pandas", "pydantic")}
