"""Sampling terminals at 1/k with capacities scaled by 1/k keeps latency percentiles.

A mid-sized, lightly loaded scenario run in full and sampled 1 in 10 and 1 in 100: the p50 and
p95 login latency of each sample agree with the full run within their 95% confidence
intervals (the intervals overlap). Counts shrink k-fold, within Poisson noise.
"""

from __future__ import annotations

import math

import pytest

import sim
from tests.conftest import SCENARIOS

BASE = {"duration": "10m", "warmup": "1m", "population.dau": 2_000_000}


def _run(k: int, replications: int):
    return sim.run(SCENARIOS / "tiny.yaml", jobs=1, overrides={
        **BASE, "population.sample_one_in": k, "replications": replications})


@pytest.fixture(scope="module")
def full():
    return _run(1, 3)


@pytest.mark.parametrize("k,replications", [(10, 4), (100, 8)])
def test_sampled_percentiles_agree_with_the_full_run(full, k: int, replications: int) -> None:
    sampled = _run(k, replications)
    for figure in ("latency_ms.p50", "latency_ms.p95"):
        a, b = full.summary["ci95"][figure], sampled.summary["ci95"][figure]
        # Rounding workers to k-fold fewer is a small bias of its own: 1 in 100 leaves the
        # data center one worker instead of 16, and an M/M/1 queue waits longer than an
        # M/M/16 one at the same load (a few ms here). Allow 1% of the figure for it.
        slack = 0.01 * a["mean"]
        assert a["low"] - slack <= b["high"] and b["low"] <= a["high"] + slack, (figure, a, b)
    per_rep_full = full.summary["logins"]["attempted"] / 3
    per_rep = sampled.summary["logins"]["attempted"] / replications
    expected = per_rep_full / k
    assert abs(per_rep - expected) < 5 * math.sqrt(expected / replications) + 0.02 * expected
