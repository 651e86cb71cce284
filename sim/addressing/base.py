"""The strategy interface and what a strategy may see of the live network."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, NamedTuple, Protocol, TypeVar

import numpy as np

from sim.config.schema import Addressing

if TYPE_CHECKING:
    from sim.model.world import World

__all__ = ["NodeView", "DnsAnswer", "Strategy", "PlanTrace", "LevelStep", "ProbeResult",
           "ShedCheck", "NodeT"]


class NodeView(Protocol):
    """What the network tells the SDK (and the strategies) about a node right now."""
    up: bool
    workers: int
    busy: int
    util_published: float
    """Utilisation in the node's last load report (:mod:`sim.engine.reports`)."""
    queue_published: int
    """Queue length in the node's last load report."""
    conns_published: int
    """Open connections in the node's last load report."""
    report_seq: int
    """How many load reports the scheduler has received from the node."""
    changes: list[tuple[float, bool]]
    """``(time, up)`` of each time the node went down or came back, in time order."""
    conn_limit: float
    service_s: float
    hit_ratio: float
    free: list[float]
    """When each login worker is free next, a heap: ``free[0]`` is the earliest, so a worker
    is free now exactly when ``free[0] <= now`` (and then no login waits)."""
    waiting: list[float]
    """Service start times of queued logins, including some that have started since: its
    length is an upper bound of :attr:`queue_len`, cheap to read."""
    open_conns: int
    """Open connections, including sessions that ended since they were last counted: an
    upper bound of :meth:`connections`, cheap to read."""

    @property
    def queue_len(self) -> int: ...

    def connections(self, now: float) -> int: ...


class DnsAnswer(NamedTuple):
    """The geo-DNS answer a terminal holds: its region and that region's nodes as DNS knew
    them when the answer was resolved (a node that failed since is still in a stale answer),
    the other regions' nodes DNS knew up then (``others``, nearest first), and what this
    lookup cost (0 when the answer came from the terminal's cache)."""

    region: str
    nodes: tuple[int, ...]
    others: tuple[int, ...]
    dns_ms: float


NodeT = TypeVar("NodeT", int, str)
"""How a plan's records name a node: its index in the topology (what a strategy records),
or its id (what :mod:`sim.engine.trace` shows)."""


@dataclass
class ProbeResult(Generic[NodeT]):
    """One probed candidate of the ``nearest`` level, as the SDK measured it."""
    node: NodeT
    path_rtt_ms: float
    """The path's RTT (no last mile, no noise)."""
    measured_ms: float | None
    """What the probe measured (the path RTT plus its noise); None: no answer."""
    noise_ms: float | None = field(init=False)
    """The probe's noise: what it measured beyond the path's RTT; None: no answer."""
    score_ms: float | None = None
    """With ``rank: end_to_end``: the expected login time it was ranked by."""
    backend_ms: float | None = None
    """With ``rank: end_to_end``: the expected wait for the home data center in that score."""

    def __post_init__(self) -> None:
        self.noise_ms = None if self.measured_ms is None \
            else self.measured_ms - self.path_rtt_ms


@dataclass
class ShedCheck(Generic[NodeT]):
    """One node the ``spill`` level checked: its last load report and this login's draw."""
    node: NodeT
    utilization: float
    queue: int
    connections: int
    share: float
    """The share of its logins the node sheds now (from its reports)."""
    shed: bool
    """Whether it was shed for this login."""


@dataclass
class LevelStep(Generic[NodeT]):
    """What one level did to the candidate list."""
    level: str
    order: list[NodeT]
    """The candidates after the level (failover candidates of other regions included)."""
    changed: bool
    """Whether it changed the first candidate."""
    probes: list[ProbeResult[NodeT]] = field(default_factory=list)
    checks: list[ShedCheck[NodeT]] = field(default_factory=list)
    note: str = ""


@dataclass
class PlanTrace:
    """The levels of one login's plan, filled in by the strategy as it decides (only for
    the login a tracer follows: :attr:`Strategy.trace`)."""
    steps: list[LevelStep[int]] = field(default_factory=list)
    probes: list[ProbeResult[int]] = field(default_factory=list)
    """The ``nearest`` level's probes, until its step is added."""
    checks: list[ShedCheck[int]] = field(default_factory=list)
    """The ``spill`` level's checks, until its step is added."""

    def step(self, level: str, order: Sequence[int], first_before: int,
             note: str = "") -> None:
        """Add a level's step with the probes and checks gathered for it."""
        self.steps.append(LevelStep(level, list(order), bool(order) and
                                    order[0] != first_before, self.probes, self.checks,
                                    note))
        self.probes, self.checks = [], []


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
    LEVELS: ClassVar[tuple[str, ...]] = ()
    """The level names :meth:`plan` may return besides the built-in ones
    (:data:`sim.engine.records.DECIDERS`); any other name it returns is recorded under the
    strategy's own ``name``."""
    OPTIONS: ClassVar[dict[str, float]] = {}
    """Numeric settings the strategy reads from ``addressing.options``, with defaults."""

    # What the engine reads of the SDK's connect behaviour (plain attributes: a strategy
    # sets them in ``__init__``, and ``probe_ms`` in each plan).
    race_k: int = 1
    """The engine races this many of the first candidates (1: no race)."""
    race_delay_s: float = 0.0
    """Time between the starts of two raced connects (RFC 8305's connection attempt delay)."""
    connect_noise_ms: float = 0.0
    """Mean exponential extra delay of a connect's round trip."""
    probe_staleness_s: float = 0.0
    """How old the strategy's knowledge of which nodes answer may be (prepared plans are
    used only when no node changed state for this long)."""
    probe_ms: float = 0.0
    """Set by :meth:`plan` / :meth:`plan_prepared`: the probe round the login waits for
    before connecting, network part in ms (the engine adds the last mile and jitter;
    ``inf``: the round lasted the probe timeout)."""
    probe_timeout_ms: float = 0.0
    """What an ``inf`` probe round costs."""
    moved: int = 0
    """Set by :meth:`plan` / :meth:`plan_prepared`: 1 when ranking by the expected login
    time end to end chose another node than ranking the same probes by RTT would have."""
    trace: PlanTrace | None = None
    """Set by the engine's tracer (``access-sim explain``) around the :meth:`plan` call of
    the one login it follows, else None: a strategy may add the steps it takes (see
    :class:`sim.addressing.multilevel.MultiLevel`); one ``is not None`` check per decision,
    outside the per-candidate loops."""

    def __init__(self, world: World, spec: Addressing, nodes: Sequence[NodeView],
                 rng: np.random.Generator):
        self.world = world
        self.spec = spec
        self.nodes = nodes
        self.rng = rng

    @abstractmethod
    def plan(self, site: int, user: int, now: float,
             answer: DnsAnswer) -> tuple[Sequence[int], str]:
        """Candidate nodes in the order to try them, and the level that decided the first."""

    def prepare(self, sites: np.ndarray, regions: np.ndarray,
                view: Callable[[int, int], tuple[tuple[int, ...], tuple[int, ...]]]
                ) -> Sequence[Any] | None:
        """Optional batch work, ahead of time, for the next logins to arrive (the hot path).

        ``sites`` and ``regions`` (answer codes, below 65,536: the region and where geo-DNS
        located the query) are those logins' sites and what their DNS answers map them to;
        ``view(site, code)`` is the ``(nodes, others)`` of a :class:`DnsAnswer` resolved
        while every node was up. A strategy that can do part of
        its planning in numpy returns one token per login; the engine then calls
        :meth:`plan_prepared` with a login's token instead of :meth:`plan`, but only while
        every node is up and none changed state for :attr:`probe_staleness_s`, and the
        terminal's answer was resolved while every node was believed up (so the answer is
        ``view(site, code)``). The engine also calls it at t = 0 for the sessions a run
        starts with. The default does nothing (returns None).
        """
        return None

    def plan_prepared(self, token: Any, site: int, user: int,
                      now: float) -> tuple[Sequence[int], str]:
        """:meth:`plan` for a login :meth:`prepare` saw, from its token (see there)."""
        raise NotImplementedError(f"{type(self).__name__}.prepare returned tokens but "
                                  "plan_prepared is not implemented")

    def first_nodes(self, sites: np.ndarray, regions: np.ndarray,
                    view: Callable[[int, int], tuple[tuple[int, ...], tuple[int, ...]]]
                    ) -> np.ndarray | None:
        """Optional: the first node each of many terminals' plans would give at t = 0 (no
        load reported, no last node), in numpy; the same inputs as :meth:`prepare`. The
        engine uses it to start every terminal's memory in steady state; None (the
        default) makes it take the prepared plans' first nodes instead."""
        return None

    def on_success(self, user: int, node: int) -> None:  # noqa: B027 - optional hook
        """Called when a terminal logged in through ``node``."""

    def on_failure(self, user: int, node: int) -> None:  # noqa: B027 - optional hook
        """Called when a terminal saw ``node`` fail: a connect to it timed out, or its
        session there dropped."""

    def on_backend(self, expected_ms: Sequence[float]) -> None:  # noqa: B027 - optional
        """Called when the backbone's routes moved (a link failed, degraded or came back,
        after the convergence delay): each node's expected trip to the home data center now,
        ms, as the provider publishes it."""

    def on_success_many(self, users: np.ndarray, nodes: np.ndarray) -> None:
        """:meth:`on_success` for many terminals at once (the sessions a run starts with);
        override it to do the same in numpy."""
        for user, node in zip(users.tolist(), nodes.tolist()):
            self.on_success(user, node)
