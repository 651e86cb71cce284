"""Queueing theory for login workers: Erlang C, the tail of the queue wait, the fewest workers
for a wait target (used by the surrogate and by ``plan --size``).

A node with ``c`` login workers, each serving at rate ``mu`` (1 / mean service time), fed by
Poisson logins at rate ``lambda`` (offered load ``a = lambda / mu``) is an M/M/c queue. Its
probability of waiting is Erlang's C formula and the wait is exponential beyond 0:

    P(W > t) = C(c, a) * exp(-(c mu - lambda) t)

(Kleinrock, *Queueing Systems* vol. 1, 1975, sec. 3.5; Gross and Harris, *Fundamentals of
Queueing Theory*, eq. 2.33). With deterministic service (M/D/c) the tail decays about twice as
fast: the heavy-traffic approximation of Whitt (1993, "Approximations for the GI/G/m queue",
Production and Operations Management 2(2)) scales the decay rate by ``2 / (c_a^2 + c_s^2)``,
2 for Poisson arrivals (``c_a^2 = 1``) and constant service (``c_s^2 = 0``); the probability
of waiting is kept at Erlang C, which overstates it for M/D/c, so the estimate errs towards
more workers. ``plan --size`` checks every proposal by simulation.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["erlang_c", "wait_exceeds", "wait_quantile_s", "workers_for_wait", "MAX_WORKERS"]

MAX_WORKERS = 100_000
"""The schema's largest ``workers``."""


def erlang_c(c: ArrayLike, a: ArrayLike) -> NDArray[np.float64]:
    """Erlang's C formula: the probability that a login waits in an M/M/c queue.

    Parameters
    ----------
    c : array_like of int
        Servers (login workers), at least 1.
    a : array_like of float
        Offered load ``lambda / mu`` in Erlangs; ``a >= c`` (unstable) gives 1.

    Returns
    -------
    numpy.ndarray
        ``C(c, a)``, computed through the stable Erlang B recursion
        ``B(k) = a B(k-1) / (k + a B(k-1))``, ``C = c B / (c - a (1 - B))``.

    Examples
    --------
    >>> round(float(erlang_c(2, 1.0)), 6)      # 2 servers at 50%: 1/3
    0.333333
    >>> round(float(erlang_c(10, 8.0)), 4)     # a textbook table value
    0.4092
    """
    c_arr, a_arr = np.broadcast_arrays(np.asarray(c, dtype=float), np.asarray(a, dtype=float))
    c_arr = np.maximum(np.rint(c_arr), 1.0)
    b = np.ones(c_arr.shape)
    top = int(c_arr.max()) if c_arr.size else 0
    for k in range(1, top + 1):
        step = k <= c_arr
        b = np.where(step, a_arr * b / (k + a_arr * b), b)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = c_arr * b / (c_arr - a_arr * (1.0 - b))
    return np.where(a_arr >= c_arr, 1.0, np.clip(np.nan_to_num(out, nan=1.0), 0.0, 1.0))


def _decay_rate(c: float, rate: float, mu: float, deterministic: bool) -> float:
    return (2.0 if deterministic else 1.0) * (c * mu - rate)


def wait_exceeds(c: int, rate: float, service_s: float, t_s: float, *,
                 deterministic: bool = False) -> float:
    """``P(W > t)`` of a login's queue wait at a node (module docstring)."""
    mu = 1.0 / service_s
    if rate >= c * mu:
        return 1.0
    p = float(erlang_c(c, rate / mu))
    return p * math.exp(-_decay_rate(c, rate, mu, deterministic) * t_s)


def wait_quantile_s(c: int, rate: float, service_s: float, q: float, *,
                    deterministic: bool = False) -> float:
    """The ``q`` quantile of the queue wait in seconds (0 when ``P(W > 0) <= 1 - q``;
    ``inf`` for an unstable node)."""
    mu = 1.0 / service_s
    if rate >= c * mu:
        return math.inf
    p = float(erlang_c(c, rate / mu))
    if p <= 1.0 - q:
        return 0.0
    return math.log(p / (1.0 - q)) / _decay_rate(c, rate, mu, deterministic)


def workers_for_wait(rate: float, service_s: float, target_s: float, q: float = 0.99, *,
                     deterministic: bool = False, max_workers: int = MAX_WORKERS) -> int:
    """The fewest workers whose ``q`` quantile of the queue wait is at most ``target_s``.

    Raises
    ------
    ValueError
        No count up to ``max_workers`` meets the target.

    Examples
    --------
    >>> workers_for_wait(33.0, 0.060, 0.050)   # 33 logins/s of 60 ms, p99 wait <= 50 ms
    5
    """
    c = max(1, math.floor(rate * service_s) + 1)  # the fewest that are stable
    while c <= max_workers:
        if wait_quantile_s(c, rate, service_s, q, deterministic=deterministic) <= target_s:
            return c
        c += 1
    raise ValueError(f"more than {max_workers} workers needed")
