"""The record schema the engine writes and the results read: per-login columns, their
numpy types, the codes of outcomes, triggers and deciding levels, and the raw output of one
replication. Importing it loads numpy only (no SimPy, no networkx)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["OUTCOMES", "DECIDERS", "decider_names", "TRIGGERS", "LOGIN_COLUMNS",
           "LOGIN_DTYPES", "TYPECODES", "NUMPY_TYPES", "DERIVED", "SUMMARY_COLUMNS", "PATH_NAMES",
           "ReplicationOutput"]

OUTCOMES = ("ok", "failed")
DECIDERS = ("region", "nearest", "sticky", "spill", "failover", "random", "round_robin",
            "nearest_geo", "oracle", "anycast", "other")
"""The built-in deciding levels (codes 0..); a run's strategy adds its own after them
(:func:`decider_names`)."""
TRIGGERS = ("arrival", "reconnect")


def decider_names(strategy_name: str, levels: tuple[str, ...] = ()) -> list[str]:
    """The names of the ``decided_by`` codes of a run: the built-in levels, then the
    strategy's own level names, then the strategy's name (for a level it did not declare).

    Parameters
    ----------
    strategy_name : str
        The strategy's registered name.
    levels : tuple of str
        The level names it declares (``Strategy.LEVELS``).
    """
    names = list(DECIDERS)
    for name in (*levels, strategy_name):
        if name not in names:
            names.append(name)
    return names

LOGIN_COLUMNS = ("login_id", "t_start_s", "site", "user", "access", "node", "decided_by",
                 "attempts", "outcome", "latency_ms", "connect_ms", "queue_ms", "service_ms",
                 "backend_ms", "dns_ms", "probe_ms", "rtt_ms", "best_rtt_ms", "last_mile_ms",
                 "trigger", "path", "moved")
TYPECODES = {"login_id": "q", "t_start_s": "d", "site": "i", "user": "q", "access": "b",
             "node": "h", "decided_by": "b", "attempts": "h", "outcome": "b", "trigger": "b",
             "path": "b", "moved": "b"}
"""array typecodes of the columns; the rest are float32 ("f"): milliseconds to 0.1 us."""
NUMPY_TYPES = {"q": np.int64, "i": np.int32, "h": np.int16, "b": np.int8, "d": np.float64,
               "f": np.float32}
LOGIN_DTYPES = {c: np.dtype(NUMPY_TYPES[TYPECODES.get(c, "f")]) for c in LOGIN_COLUMNS}
"""The numpy type of every per-login column."""
DERIVED = ("connect_ms", "rtt_ms", "access", "last_mile_ms")
"""Columns computed from the others when the run ends (not recorded login by login): a
terminal keeps its access type and last mile, so they follow from ``user``."""
SUMMARY_COLUMNS = ("login_id", "t_start_s", "site", "node", "decided_by", "outcome",
                   "latency_ms", "rtt_ms", "best_rtt_ms", "trigger", "path", "moved")
"""The columns kept when per-login records are off: what the summary and figures need."""
PATH_NAMES = ("local", "backbone", "public", "direct")
"""The ``path`` codes: how a login's answer came (the node itself; the home data center over
the private backbone or public transit; the home data center's own edge, straight)."""


@dataclass
class ReplicationOutput:
    """Raw columns of one replication, before :mod:`sim.analysis.results` shapes them."""

    replication: int
    logins: dict[str, np.ndarray]
    node_load: dict[str, np.ndarray]
    node_stats: dict[str, np.ndarray]
    counts: dict[str, int]
    window_s: float
    access_names: list[str]
    decider_names: list[str] = field(default_factory=lambda: list(DECIDERS))
    """The names of the ``decided_by`` codes (:func:`decider_names`)."""
    attempts: list[tuple[float, int, int, int, str]] | None = None
    """With ``trace_attempts``: every connect attempt as (time, login id, user, node,
    result) where result is ``timeout``, ``rejected`` or ``connected``."""
