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
