"""The naive SimPy floor, for a clone without ``../shared/bench/simpy_floor.py``.

The benchmarks compare the project's throughput with the simplest SimPy model of logins
anyone would write first. The reference copy of that model lives outside the repository, in
``../shared/bench/simpy_floor.py``, and the benchmarks run it when it is there. This file is a
re-implementation of the same model with the same parameters, so that ``make bench`` also
works in a fresh clone: for the same ``LOGINS`` and ``SEED`` it draws the same random numbers
in the same order and gives the same ``p99_ms``.

The model: 500 sites and 30 access nodes with RTTs drawn uniformly from 5 to 250 ms; each
site logs in to its nearest node. Logins arrive as a Poisson stream at 2000 per simulated
second; each is one SimPy process: a request leg (one RTT), a FIFO queue for one of the node's
8 workers (``simpy.Resource``), exponential service with a 2 ms mean, a response leg (one RTT).
It models far less than ``sim`` does; it answers "how fast is a SimPy model of logins at all".

usage: python benchmarks/floor.py [LOGINS] [SEED]      prints one JSON line
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

ARRIVALS_PER_S = 2000.0
MEAN_SERVICE_S = 0.002
WORKERS_PER_NODE = 8


def floor(logins: int = 200_000, seed: int = 1, nodes: int = 30,
          sites: int = 500) -> dict[str, Any]:
    """Run the naive model and return its throughput.

    Parameters
    ----------
    logins : int
        Logins to simulate.
    seed : int
        Seed of the one random generator (drawn in a fixed order: RTTs, sites, gaps,
        service times).
    nodes, sites : int
        Access nodes and terminal sites.

    Returns
    -------
    dict
        ``model``, ``logins``, ``wall_s`` (the event loop only), ``logins_per_s`` and
        ``p99_ms`` (the 99th percentile login latency, a check that the model ran).
    """
    rng = np.random.default_rng(seed)
    rtt_s = rng.uniform(0.005, 0.25, size=(sites, nodes))
    nearest_node = rtt_s.argmin(axis=1)
    login_site = rng.integers(0, sites, logins)
    gap_s = rng.exponential(1.0 / ARRIVALS_PER_S, logins)
    service_s = rng.exponential(MEAN_SERVICE_S, logins)

    env = simpy.Environment()
    node_workers = [simpy.Resource(env, capacity=WORKERS_PER_NODE) for _ in range(nodes)]
    latency_s = np.empty(logins)

    def login(i: int) -> Generator[simpy.Event, Any, None]:
        started = env.now
        site = login_site[i]
        node = nearest_node[site]
        leg_s = rtt_s[site, node]
        yield env.timeout(leg_s)                      # request to the node
        with node_workers[node].request() as worker:
            yield worker                              # FIFO wait for a worker
            yield env.timeout(service_s[i])           # the login's processing
        yield env.timeout(leg_s)                      # response to the terminal
        latency_s[i] = env.now - started

    def arrivals() -> Generator[simpy.Event, Any, None]:
        for i in range(logins):
            yield env.timeout(gap_s[i])
            env.process(login(i))

    env.process(arrivals())
    started = time.perf_counter()
    env.run()
    wall_s = time.perf_counter() - started
    return {"model": "naive-simpy-floor", "logins": logins, "wall_s": round(wall_s, 3),
            "logins_per_s": round(logins / wall_s),
            "p99_ms": round(float(np.percentile(latency_s, 99)) * 1000, 2)}


if __name__ == "__main__":
    n_logins = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    seed_arg = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    print(json.dumps(floor(n_logins, seed_arg)))
