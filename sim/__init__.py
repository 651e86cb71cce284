"""access-sim: an access-node latency simulator for global instant-messaging networks.

>>> import sim
>>> scenario = sim.load_scenario("scenarios/global-baseline.yaml")  # doctest: +SKIP
>>> results = sim.run(scenario)  # doctest: +SKIP
>>> results.summary["latency_ms"]["p95"]  # doctest: +SKIP

Names are imported on first use, so ``import sim`` (and ``access-sim --help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sim.version import package_version

if TYPE_CHECKING:
    from sim.config import Scenario, load_scenario
    from sim.errors import ScenarioError, SimError, TopologyError
    from sim.analysis.results import Results
    from sim.runs.api import run
    from sim.runs.compare import compare
    from sim.runs.sweep import sweep
    from sim.version import package_version as version

__all__ = ["load_scenario", "run", "Results", "Scenario", "SimError", "ScenarioError",
           "TopologyError", "version"]

_LAZY = {
    "run": "sim.runs.api", "Results": "sim.analysis.results",
    "Scenario": "sim.config", "load_scenario": "sim.config", "SimError": "sim.errors",
    "ScenarioError": "sim.errors", "TopologyError": "sim.errors",
    "compare": "sim.runs.compare", "sweep": "sim.runs.sweep",
}
__all__ += ["compare", "sweep"]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        return package_version()
    if name == "version":
        return package_version
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*__all__, "__version__"])
