"""The fast engine against the straightforward SimPy implementation of the same model.

Same scenario, same seed: every login gets the same node, attempts and latency components.
The scenario loads the nodes (utilisation about 0.7 at the busiest) so that queues form; spill
is left out because the reference does not reproduce published utilisation samples.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.model.world import build_world
from sim.engine.loop import run_replication
from sim.engine.reference import ReferenceEngine
from sim.config import load_scenario
from tests.conftest import SCENARIOS

OVERRIDES = {
    "duration": "4m", "warmup": "0s", "population.dau": 3_000_000,
    "nodes.overrides": {"access-singapore": {"workers": 2, "service_ms": 10.0},
                        "access-tokyo": {"workers": 1, "service_ms": 20.0},
                        "dc-singapore": {"workers": 3, "service_ms": 14.0}},
    "addressing.levels": [{"region": {}}, {"nearest": {}}, {"sticky": {"enabled": False}},
                          {"failover": {}}],
}


@pytest.mark.parametrize("strategy", ["multilevel", "nearest_geo"])
def test_fast_path_equals_reference(strategy: str) -> None:
    scenario = load_scenario(SCENARIOS / "tiny.yaml",
                             {**OVERRIDES, "addressing.strategy": strategy})
    world = build_world(scenario)
    seed = np.random.SeedSequence(11)
    fast = run_replication(world, 0, seed)
    ref = ReferenceEngine(world, 0, np.random.SeedSequence(11)).run(None)
    assert fast.counts == ref.counts
    for col in ("login_id", "site", "user", "node", "decided_by", "attempts", "outcome"):
        np.testing.assert_array_equal(fast.logins[col], ref.logins[col], err_msg=col)
    for col in ("t_start_s", "latency_ms", "connect_ms", "queue_ms", "service_ms",
                "backend_ms"):
        np.testing.assert_allclose(fast.logins[col], ref.logins[col], rtol=0, atol=1e-6,
                                   err_msg=col)
    assert np.mean(fast.logins["queue_ms"] > 0) > 0.1  # the comparison covers queueing
