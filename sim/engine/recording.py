"""Recording: each finished login becomes one row of typed columns, kept in login order
and handed to a sink in batches when the records are streamed."""

from __future__ import annotations

from array import array
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sim.engine.login import Login
from sim.engine.records import (
    DERIVED,
    LOGIN_COLUMNS,
    LOGIN_DTYPES,
    NUMPY_TYPES,
    SUMMARY_COLUMNS,
    TYPECODES,
)

__all__ = ["Recorder", "SINK_ROWS"]

SINK_ROWS = 250_000
"""With a sink, rows are handed over once at least this many are recorded (checked 50 times
a run), so the records held in memory stay around this size."""


def _discard(_: object) -> None:
    """Stands in for a column's append when per-login records are off."""


class Recorder:
    """The per-login columns of one replication.

    Parameters
    ----------
    site_node_rtt_ms : numpy.ndarray
        The world's site-to-node RTT table (for the derived ``rtt_ms`` column).
    per_login : bool
        Keep every column (:data:`~sim.engine.records.LOGIN_COLUMNS`); off, only the
        summary's (:data:`~sim.engine.records.SUMMARY_COLUMNS`).
    deciders : list of str
        The names of the ``decided_by`` codes (:func:`~sim.engine.records.decider_names`):
        a level name not among them is recorded as the last (the strategy's own name).
    sink : callable, optional
        Hand every column of every login to ``sink(columns)`` in login order, in batches.
    terminal_access, terminal_last_mile : numpy.ndarray, optional
        Each terminal's access type code and last mile (ms), for the derived ``access`` and
        ``last_mile_ms`` columns (required when every column is kept).
    """

    def __init__(self, site_node_rtt_ms: NDArray[np.float64], per_login: bool,
                 deciders: list[str],
                 sink: Callable[[dict[str, np.ndarray]], None] | None = None,
                 terminal_access: NDArray[np.int8] | None = None,
                 terminal_last_mile: NDArray[np.float32] | None = None):
        self.site_node_rtt_ms = site_node_rtt_ms
        self.terminal_access = terminal_access
        self.terminal_last_mile = terminal_last_mile
        self.sink = sink
        self.kept = LOGIN_COLUMNS if per_login or sink is not None else SUMMARY_COLUMNS
        self.cols: dict[str, array[Any]] = {c: array(TYPECODES.get(c, "f")) for c in self.kept
                                            if c not in DERIVED}
        # With a sink, rows already handed over (their summary columns only) and the next
        # login id not handed over yet.
        self._sunk: dict[str, list[np.ndarray]] = {c: [] for c in SUMMARY_COLUMNS}
        self._sunk_upto = 0
        self._bind_appenders()
        self.decider_names = list(deciders)
        self.decider_code = {d: i for i, d in enumerate(deciders)}
        self._own_level = len(deciders) - 1

    def _bind_appenders(self) -> None:
        self._appenders = tuple(self.cols[c].append if c in self.cols else _discard
                                for c in LOGIN_COLUMNS if c not in DERIVED)

    def __len__(self) -> int:
        return len(self.cols["login_id"])

    def decider(self, name: str) -> int:
        """The code of a deciding level's name (an undeclared one: the strategy's own)."""
        return self.decider_code.get(name, self._own_level)

    def record(self, lg: Login, t_end: float, outcome: int, best_rtt_ms: float) -> None:
        """One finished login: ``outcome`` 0 ok, 1 failed, at ``t_end``."""
        (a_id, a_t0, a_site, a_user, a_node, a_dec, a_att, a_out, a_lat,
         a_queue, a_svc, a_back, a_dns, a_probe, a_best, a_trig, a_path, a_moved) = \
            self._appenders
        if outcome == 0:
            a_dec(self.decider_code.get(lg.tag if lg.attempts == 1 else "failover",
                                        self._own_level))
            a_queue(lg.queue_ms)
            a_svc(lg.service_ms)
            a_back(lg.backend_ms)
        else:
            a_dec(self.decider(lg.tag))
            a_queue(0.0)
            a_svc(0.0)
            a_back(0.0)
        a_id(lg.id)
        a_t0(lg.t0)
        a_site(lg.site)
        a_user(lg.user)
        a_node(lg.node)
        a_att(lg.attempts)
        a_out(outcome)
        a_lat(1000.0 * (t_end - lg.t0))
        a_dns(lg.dns_ms)
        a_probe(lg.probe_ms)
        a_best(best_rtt_ms)
        a_trig(lg.trigger)
        a_path(lg.path if outcome == 0 else 0)
        a_moved(lg.moved)

    def sorted_rows(self, upto: int | None) -> dict[str, np.ndarray]:
        """Take recorded rows out of the columns in login order, with the derived columns.

        Records are in completion order. ``upto=None`` takes the rows of logins all of whose
        predecessors have finished (the next ones may still be in flight) and keeps the rest
        recorded; a number takes that many rows, all of them. Columns are sorted one at a
        time, each released as soon as its sorted copy exists (peak memory: the records plus
        one column, not twice the records).
        """
        cols = self.cols
        ids = np.frombuffer(cols["login_id"], dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        if upto is None:  # the longest run of consecutive ids from the first not taken
            gaps = np.flatnonzero(ids[order] != self._sunk_upto + np.arange(len(ids)))
            upto = int(gaps[0]) if len(gaps) else len(ids)
        del ids
        take, keep = order[:upto], order[upto:]
        logins = {}
        for c in list(cols):
            a = cols.pop(c)
            col = np.frombuffer(a, dtype=NUMPY_TYPES[a.typecode])
            logins[c] = col[take]
            if len(keep):
                cols[c] = array(a.typecode, col[keep].tobytes())
            else:
                cols[c] = array(a.typecode)
            del col, a
        self._bind_appenders()
        # Derived columns, in float32 like the others (no float64 temporaries of every row).
        failed = logins["outcome"] != 0
        if "rtt_ms" in self.kept:  # the path's RTT (no last mile) to the node it logged in at
            node = logins["node"].copy()
            node[failed] = 0
            rtt = self.site_node_rtt_ms.astype(np.float32)[logins["site"], node]
            del node
            rtt[failed] = np.nan
            logins["rtt_ms"] = rtt
        if "access" in self.kept:  # a terminal keeps its network: from the user column
            assert self.terminal_access is not None and self.terminal_last_mile is not None
            logins["access"] = self.terminal_access[logins["user"]]
            logins["last_mile_ms"] = self.terminal_last_mile[logins["user"]]
        if "connect_ms" in self.kept:  # the rest of the latency: DNS, handshakes, legs
            connect = logins["latency_ms"].copy()
            for c in ("queue_ms", "service_ms", "backend_ms"):
                connect -= logins[c]
            logins["connect_ms"] = connect
        del failed
        return {c: logins[c] for c in self.kept}

    def to_sink(self, final: bool) -> None:
        """Hand the rows that are complete in login order to the sink; keep their summary
        columns."""
        rows = self.sorted_rows(len(self.cols["login_id"]) if final else None)
        n = len(rows["login_id"])
        if n == 0:
            return
        self._sunk_upto = int(rows["login_id"][-1]) + 1
        for c, parts in self._sunk.items():
            parts.append(rows[c])
        assert self.sink is not None
        self.sink(rows)


    def logins(self) -> dict[str, np.ndarray]:
        """Every recorded row in login order (with a sink: the summary columns only)."""
        if self.sink is not None:
            self.to_sink(final=True)
            logins = {}
            for c in list(self._sunk):  # one column at a time, its parts released at once
                parts = self._sunk.pop(c)
                logins[c] = np.concatenate(parts) if parts else np.empty(0, LOGIN_DTYPES[c])
                del parts
        else:
            logins = self.sorted_rows(len(self.cols["login_id"]))
        self._appenders = ()
        return logins
