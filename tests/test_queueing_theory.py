"""The engine against queueing theory: Erlang C and Little's law.

These are tests against theory, not regression tests: they hold for any correct M/M/c
implementation, whatever the seed, within the stated tolerances.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import sim
from sim.config.schema import Scenario
from tests.conftest import single_node_scenario


def erlang_c_wait_s(lam: float, mean_service_s: float, c: int) -> float:
    """Mean wait in queue of an M/M/c queue (Erlang C)."""
    a = lam * mean_service_s
    rho = a / c
    assert rho < 1
    tail = a ** c / math.factorial(c) / (1 - rho)
    p_wait = tail / (sum(a ** k / math.factorial(k) for k in range(c)) + tail)
    return p_wait * mean_service_s / (c - a)


def _mean_wait_ms(rho: float, seeds: list[int]) -> tuple[float, float]:
    c, service_ms = 4, 10.0
    lam = rho * c / (service_ms / 1000.0)
    waits = []
    for seed in seeds:
        raw = single_node_scenario(rate_per_s=lam, workers=c, service_ms=service_ms,
                                   duration_s=1500.0, warmup_s=100.0, seed=seed)
        res = sim.run(Scenario.model_validate(raw))
        L = res.logins
        window = L[(L.t_start_s >= 100.0) & (L.outcome == "ok")]
        waits.append(window.queue_ms.mean())
    theory_ms = 1000.0 * erlang_c_wait_s(lam, service_ms / 1000.0, c)
    return float(np.mean(waits)), theory_ms


@pytest.mark.parametrize("rho", [0.5, 0.8, 0.9])
def test_mmc_mean_wait_matches_erlang_c(rho: float) -> None:
    # Tolerance 5% on the mean over several seeds; at rho = 0.9 the wait's variance is large,
    # so more seeds there. Warm-up (100 s, about 10^4 service times) is cut.
    seeds = [1, 2, 3] if rho < 0.85 else [1, 2, 3, 4, 5]
    sim_ms, theory_ms = _mean_wait_ms(rho, seeds)
    assert sim_ms == pytest.approx(theory_ms, rel=0.05), (sim_ms, theory_ms)


def test_littles_law_on_every_node_of_a_loaded_run(tiny_scenario) -> None:
    # Load the tiny network to utilisation 0.7-0.8 on the busy nodes so that queues form.
    res = sim.run(tiny_scenario, overrides={
        "population.dau": 6_000_000, "duration": "10m",
        "nodes.overrides": {
            "access-singapore": {"workers": 3, "service_ms": 12.0},
            "access-tokyo": {"workers": 1, "service_ms": 20.0},
            "access-frankfurt": {"workers": 1, "service_ms": 40.0},
            "dc-singapore": {"workers": 4, "service_ms": 14.0},
        },
        "addressing.levels": [{"region": {}}, {"nearest": {}}],
    })
    queued = 0
    for node, st in res.summary["nodes"].items():
        if st["arrival_rate_per_s"] == 0:
            continue
        # L = lambda * W for the waiting line of every node that saw traffic (5%, or 0.002
        # logins absolute for nodes that hardly queue).
        little = st["arrival_rate_per_s"] * st["mean_wait_ms"] / 1000.0
        assert st["mean_queue_len"] == pytest.approx(little, rel=0.05, abs=0.002), node
        queued += st["mean_queue_len"] > 0.1
    assert queued >= 3
