"""Shared test helpers: small scenarios written into a temporary folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TOPOLOGIES = ROOT / "topologies"
SCENARIOS = ROOT / "scenarios"
SHARED_DATA = ROOT.parent / "shared" / "data"


def single_node_scenario(*, rate_per_s: float, workers: int, service_ms: float,
                         duration_s: float, warmup_s: float, seed: int = 1,
                         distribution: str = "exponential") -> dict[str, Any]:
    """One site beside one access node that answers every login from cache (no backend):
    an M/M/c queue fed by Poisson arrivals at ``rate_per_s``."""
    return {
        "name": "mmc",
        "seed": seed,
        "duration": duration_s,
        "warmup": warmup_s,
        "topology": str(TOPOLOGIES / "tiny.yaml"),
        "home_datacenter": "dc-singapore",
        "population": {
            "source": "sites",
            "sites": [{"name": "Singapore", "lat": 1.29, "lon": 103.85, "region": "asia"}],
            "dau": max(1, round(rate_per_s * 86400 / 3.0)),
            "logins_per_user_per_day": 3.0,
            "diurnal": {"amplitude": 0.0},
        },
        "nodes": {"access": {"workers": 1, "service_ms": 1.0},
                  "overrides": {"access-singapore": {
                      "workers": workers, "service_ms": service_ms,
                      "service_distribution": distribution, "cache_hit_ratio": 1.0,
                      "connection_limit": 10_000_000}}},
        "addressing": {"strategy": "multilevel",
                       "levels": [{"region": {"public_resolver_share": 0.0}},
                                  {"nearest": {"probe_top_k": 1, "probe_noise_ms": 0.0}}]},
        "outputs": {"figures": False},
    }


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def tiny_scenario() -> Path:
    return SCENARIOS / "tiny.yaml"


# The longest tests (tens of seconds each: notebooks, queueing theory at high load) start
# first, so that the two workers of `make test` finish together instead of one idling while
# the other runs a long test it picked up last. The sort is stable: the rest keeps its order.
_LONG_FIRST = ("tests/test_notebooks.py::test_notebook_runs",
               "tests/test_queueing_theory.py::test_mmc_mean_wait_matches_erlang_c",
               "tests/test_dynamics.py::test_more_capacity_on_the_spill_target",
               "tests/test_reliability.py::test_an_interrupted_sweep",
               "tests/test_cli.py::test_validate_latency_on_the_shared_data")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(_LONG_FIRST))
