"""The replication's clock and calendar: :class:`simpy.Environment` with a light calendar of
plain calls merged in, and arrivals fed in time order without an event each.

SimPy keeps one event queue; most of what the login model schedules is a plain call at a
time (a handshake ends, service ends, a backbone trip returns) that needs no
:class:`simpy.Event`. :meth:`SimEnvironment.call_at` puts those on a heap of its own, and
:meth:`SimEnvironment.run_merged` takes the three sources (arrivals, that heap, SimPy's queue)
in time order, ties broken arrival first, then the light calendar, then SimPy. It is a
subclass, as desmod's ``SimEnvironment`` is, so the clock is moved only by the environment
itself.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from typing import Any

import simpy

__all__ = ["SimEnvironment"]


class SimEnvironment(simpy.Environment):
    """A SimPy environment with a light calendar and a feed of arrivals.

    The engine reads the clock as ``_now`` (SimPy's own attribute behind the ``now``
    property) on its hot path: the property costs a call a read, millions a run.

    Parameters
    ----------
    initial_time : float
        The clock's start (seconds).
    """

    def __init__(self, initial_time: float = 0.0):
        super().__init__(initial_time)
        self._calls: list[tuple[float, int, Callable[[Any], None], Any]] = []
        self._calls_seq = 0

    def call_at(self, t: float, handler: Callable[[Any], None], value: Any) -> None:
        """Call ``handler(value)`` at time ``t`` (not before now).

        Parameters
        ----------
        t : float
            Absolute time (seconds).
        handler : callable
            Called with ``value`` when the clock reaches ``t``; calls at the same time run in
            the order they were scheduled.
        value : object
            Passed to ``handler``.
        """
        self._calls_seq += 1
        heapq.heappush(self._calls, (t, self._calls_seq, handler, value))

    def peek(self) -> float:
        """The time of the next SimPy event or light call (``inf`` when there is none)."""
        t_event = super().peek()
        return min(t_event, self._calls[0][0]) if self._calls else t_event

    def advance_to(self, t: float) -> None:
        """Move the clock to ``t`` with nothing scheduled before it (an arrival, or the end of
        a step of :meth:`run_merged`)."""
        if t < self._now:
            raise ValueError(f"cannot move the clock back from {self._now} to {t}")
        self._now = t

    def run_merged(self, until: float, t_arrival: float,
                   arrive: Callable[[], float]) -> float:
        """Run the three sources in time order up to ``until``.

        Parameters
        ----------
        until : float
            Stop before anything later than this; the clock is then at ``until``.
        t_arrival : float
            When the next arrival is due (``inf``: none).
        arrive : callable
            Called with the clock at ``t_arrival``: handles that arrival and returns the time
            of the next one (``inf`` when none is left).

        Returns
        -------
        float
            The time of the next arrival not yet handled.
        """
        queue = self._queue
        calls = self._calls
        step = self.step
        pop = heapq.heappop
        inf = math.inf
        while True:
            t_event = queue[0][0] if queue else inf
            t_call = calls[0][0] if calls else inf
            if t_arrival <= t_call and t_arrival <= t_event:
                if t_arrival > until:
                    break
                self._now = t_arrival
                t_arrival = arrive()
            elif t_call <= t_event:
                if t_call > until:
                    break
                t, _, handler, value = pop(calls)
                self._now = t
                handler(value)
            elif t_event <= until:
                step()
            else:
                break
        self._now = until
        return t_arrival
