"""The strategy interface and what a strategy may see of the live network."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

import numpy as np

from sim.scenario import Addressing

if TYPE_CHECKING:
    from sim.build import World

__all__ = ["NodeView", "DnsAnswer", "Strategy", "NormalDraws"]


class NodeView(Protocol):
    """What the network tells the SDK (and the strategies) about a node right now."""

    up: bool
    workers: int
    busy: int
    util_published: float
    conn_limit: float
    service_s: float
    hit_ratio: float

    @property
    def queue_len(self) -> int: ...

    def connections(self, now: float) -> int: ...


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    """The geo-DNS answer a terminal holds: its region and that region's nodes as DNS knew
    them when the answer was resolved (a node that failed since is still in a stale answer)."""

    region: str
    nodes: tuple[int, ...]
    dns_ms: float


class NormalDraws:
    """Standard normal draws from one stream, in blocks (cheap one at a time)."""

    __slots__ = ("_rng", "_buf", "_pos")

    def __init__(self, rng: np.random.Generator, block: int = 8192):
        self._rng = rng
        self._buf: list[float] = []
        self._pos = 0

    def next(self) -> float:
        """The next draw."""
        if self._pos >= len(self._buf):
            self._buf = self._rng.standard_normal(8192).tolist()
            self._pos = 0
        x = self._buf[self._pos]
        self._pos += 1
        return x


class Strategy(ABC):
    """Base class of every addressing strategy.

    Parameters
    ----------
    world : World
        The run's static tables (RTTs, candidate orders, node capacities).
    spec : Addressing
        The scenario's ``addressing`` section (``options`` holds strategy-specific settings).
    nodes : sequence of NodeView
        Live node state, indexed like the topology.
    rng : numpy.random.Generator
        This strategy's own random stream.
    """

    name: ClassVar[str] = "strategy"
    OPTIONS: ClassVar[dict[str, float]] = {}
    """Numeric settings the strategy reads from ``addressing.options``, with defaults."""

    def __init__(self, world: World, spec: Addressing, nodes: Sequence[NodeView],
                 rng: np.random.Generator):
        self.world = world
        self.spec = spec
        self.nodes = nodes
        self.rng = rng

    @abstractmethod
    def plan(self, site: int, user: int, now: float, answer: DnsAnswer) -> tuple[list[int], str]:
        """Candidate nodes in the order to try them, and the level that decided the first."""

    def on_success(self, user: int, node: int) -> None:  # noqa: B027 - optional hook
        """Called when a terminal logged in through ``node``."""
