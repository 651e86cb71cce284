"""Addressing: how a terminal picks the node it logs in through.

A strategy turns a login (its site, its terminal, the time) into an ordered list of candidate
nodes and the name of the level that decided the first one; the engine then connects to them
in order (failover). ``multilevel`` composes the levels of the scenario (region by geo-DNS,
nearest by SDK-estimated RTT, sticky, load-aware spill, failover); ``random``, ``round_robin``,
``nearest_geo`` and ``oracle`` are baselines. Register your own with
:func:`register_strategy`.
"""

from sim.addressing.base import NodeView, Strategy
from sim.addressing.baselines import Anycast, NearestGeo, Oracle, RandomStrategy, RoundRobin
from sim.addressing.multilevel import MultiLevel
from sim.addressing.registry import available_strategies, get_strategy, register_strategy

__all__ = ["Strategy", "NodeView", "MultiLevel", "RandomStrategy", "RoundRobin", "NearestGeo",
           "Anycast", "Oracle", "register_strategy", "get_strategy", "available_strategies"]
