"""Retry storms and metastable overload (Bronson et al., "Metastable Failures in Distributed
Systems", HotOS 2021; Huang et al., "Metastable Failures in the Wild", OSDI 2022).

The shipped ``retry-storm`` scenario: the home data center at about 60% of its capacity is
slowed down four times for one minute. Logins queue past the SDK's answer timeout; the SDK
abandons them but the data center serves them all the same, and the retries add load. With
aggressive retries (no backoff, no retry budget, ten attempts) the offered work stays above
capacity after the trigger has gone: the data center stays saturated and almost no login
succeeds, while the arrival rate has not changed. With the SDK's defaults (gRPC backoff, a
Finagle retry budget at each edge node, a 60-s deadline) the same minute passes.
"""

from __future__ import annotations

import numpy as np
import pytest

import sim
from tests.conftest import SCENARIOS

# A 1-in-4 sample (a quarter of the terminals and of every node's workers): the same loads.
SHORT = {"duration": "10m", "warmup": "0s", "replications": 1,
         "population.sample_one_in": 4}
AGGRESSIVE = {"addressing.levels": [
    {"region": {}}, {"nearest": {}}, {"sticky": {}}, {"spill": {}},
    {"failover": {"backoff": {"base": 0}, "retry_budget": None, "max_attempts": 10}}]}
TRIGGER = (240.0, 300.0)  # the scenario's slowdown


def _per_minute(res) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrivals, successful logins (by when they finished) and the home data center's
    utilisation, per minute."""
    L = res.logins
    bins = np.arange(0.0, 601.0, 60.0)
    offered = np.histogram(L.t_start_s[L.trigger == "arrival"], bins)[0] / 60.0
    ok = L.outcome == "ok"
    done = (L.t_start_s + L.latency_ms / 1000.0)[ok]
    goodput = np.histogram(done, bins)[0] / 60.0
    dc = res.node_load[res.node_load.node == "dc-singapore"]
    util = np.array([dc.utilization[(dc.t_s > lo) & (dc.t_s <= lo + 60)].mean()
                     for lo in bins[:-1]])
    return offered, goodput, util


@pytest.fixture(scope="module")
def storms():
    safe = sim.run(SCENARIOS / "retry-storm.yaml", overrides=SHORT)
    aggressive = sim.run(SCENARIOS / "retry-storm.yaml", overrides={**SHORT, **AGGRESSIVE})
    return safe, aggressive


def test_aggressive_retries_outlive_the_trigger(storms) -> None:
    _, aggressive = storms
    offered, goodput, util = _per_minute(aggressive)
    before, after = slice(0, 4), slice(6, 10)  # minutes before the trigger, and after it
    assert np.all(goodput[before] > 0.95 * offered[before])
    assert np.all(util[before] < 0.75)
    # Minutes after the slowdown ended: offered load as before, throughput collapsed, the
    # data center busy with work no terminal waits for any more.
    assert np.all(offered[after] > 0.95 * offered[before].mean())
    assert np.all(goodput[after] < 0.05 * offered[after])
    assert np.all(util[after] > 0.99)
    whole = aggressive.summary["logins"]["whole_run"]
    assert whole["expired_attempts"] > 2 * whole["attempted"]  # each login tries again


def test_backoff_and_a_retry_budget_pass_the_same_trigger(storms) -> None:
    safe, _ = storms
    offered, goodput, util = _per_minute(safe)
    assert goodput[4] < 0.5 * offered[4]  # the slowdown itself still hurts
    recovered = slice(7, 10)  # from the second minute after it
    assert np.all(goodput[recovered] > 0.95 * offered[recovered])
    assert np.all(util[recovered] < 0.75)
    whole = safe.summary["logins"]["whole_run"]
    assert whole["budget_refusals"] > 0  # the budget was needed
    # No successful login took longer than the SDK's total deadline.
    L = safe.logins
    assert L.latency_ms[L.outcome == "ok"].max() <= 60_000.0
