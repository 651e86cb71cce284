"""``access-sim explain``: one login of a scenario, level by level, with its latency.

:func:`explain` runs the scenario's own engine (its settings, its seed, the replication's
streams: :func:`sim.runs.seeds.replication_seeds`) with a tracer on one login
(:class:`sim.engine.trace.TracingEngine`) and stops once that login has finished; the login
is the same one a full run records under the same ``login_id``, and the trace carries the
row the engine recorded for it. :func:`render_text` and :func:`render_json` show the trace.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from sim.config import Scenario
from sim.config.messages import suggestion
from sim.config.schema import SpillLevelSpec
from sim.engine.records import OUTCOMES, PATH_NAMES, TRIGGERS
from sim.engine.trace import LevelTrace, LoginTrace, LoginTracer, TracingEngine
from sim.errors import ScenarioError
from sim.model.world import World
from sim.runs.prepare import prepare_world
from sim.runs.seeds import replication_seeds

__all__ = ["explain", "recorded_row", "render_text", "render_json", "ROW_COLUMNS"]

ROW_COLUMNS = ("login_id", "t_start_s", "node", "decided_by", "attempts", "outcome",
               "latency_ms", "connect_ms", "queue_ms", "service_ms", "backend_ms", "dns_ms",
               "probe_ms", "path", "trigger")
"""The recorded columns an explanation shows (and checks against its trace)."""


def explain(scenario: Scenario, *, world: World | None = None, source: str = "scenario",
            site: str | None = None,
            access: str | None = None, at_s: float | None = None,
            login_id: int | None = None, replication: int = 0) -> LoginTrace:
    """Trace one login of ``scenario``.

    Parameters
    ----------
    scenario : Scenario
        The scenario, as it would run (its seed and settings; overrides applied).
    world : World, optional
        Its world, when built already (:func:`sim.runs.prepare.prepare_world`).
    source : str
        Its file, for messages.
    site : str, optional
        A site of the scenario: trace the first login of a terminal there (needed unless
        ``login_id`` is given).
    access : str, optional
        Its access type (default: the site's most common among its terminals).
    at_s : float, optional
        The earliest start of the login (default: the end of the warm-up).
    login_id : int, optional
        Trace this login instead (``access`` and ``at_s`` are then not used).
    replication : int
        Which replication's streams.

    Returns
    -------
    LoginTrace
        With ``row``: the columns the engine recorded for the login (:data:`ROW_COLUMNS`).

    Raises
    ------
    ScenarioError
        An unknown site or access type (with the close match), a time outside the arrival
        window, or no such login in the run.
    """
    if world is None:
        world = prepare_world(scenario, source)
    names = list(world.sites.names)
    s_idx: int | None = None
    if site is not None:
        if site not in names:
            raise ScenarioError(f"no site {site!r} in scenario {scenario.name!r}"
                                f"{suggestion(site, names)}", file="--site")
        s_idx = names.index(site)
    elif login_id is None:
        raise ScenarioError("give --site NAME (or --login-id N)", file="--site")
    if at_s is None:
        at_s = scenario.warmup if login_id is None else 0.0
    if not 0.0 <= at_s < scenario.duration:
        raise ScenarioError(f"expected a time from 0 to the end of the arrivals "
                            f"({scenario.duration:g} s), got {at_s:g} s", file="--at")
    if not 0 <= replication < scenario.replications:
        raise ScenarioError(f"expected 0 to {scenario.replications - 1}, got {replication}",
                            file="--replication")
    seed = replication_seeds(scenario.seed, scenario.replications)[replication]
    tracer = LoginTracer(login_id=login_id, at_s=at_s)
    engine = TracingEngine(world, replication, seed, tracer)
    wl = engine.workload
    a_idx: int | None = None
    if s_idx is not None:
        counts = np.bincount(wl.terminal_access[wl.terminal_site == s_idx],
                             minlength=len(wl.access_names))
        if access is None:
            a_idx = int(np.argmax(counts))
        elif access not in wl.access_names:
            raise ScenarioError(f"no access type {access!r} in scenario {scenario.name!r}"
                                f"{suggestion(access, wl.access_names)}; its access types: "
                                f"{', '.join(wl.access_names)}", file="--access")
        else:
            a_idx = wl.access_names.index(access)
            if not counts[a_idx]:
                used = [a for a, k in zip(wl.access_names, counts) if k]
                raise ScenarioError(f"no terminal of {site} uses {access} (its access "
                                    f"types: {', '.join(used)})", file="--access")
    tracer.site, tracer.access = s_idx, a_idx
    out = engine.run_traced()
    trace = tracer.trace
    if not tracer.done or trace is None:
        if login_id is not None:
            raise ScenarioError(f"no login {login_id} in the run (it started "
                                f"{out.counts['attempted']:,} logins)", file="--login-id")
        raise ScenarioError(f"no login of {site} on {wl.access_names[a_idx or 0]} started "
                            f"from {at_s:g} s to the end of the arrivals "
                            f"({scenario.duration:g} s)", file="--at")
    trace.row = recorded_row(out.logins, trace.login_id, world.topology.node_ids,
                     out.decider_names)
    return trace


def recorded_row(logins: dict[str, np.ndarray], login_id: int, node_ids: Sequence[str],
         deciders: Sequence[str]) -> dict[str, Any]:
    """The recorded row of ``login_id``, with names for the codes."""
    i = int(np.flatnonzero(logins["login_id"] == login_id)[0])
    row: dict[str, Any] = {}
    for c in ROW_COLUMNS:
        v = logins[c][i].item()
        if c == "node":
            v = node_ids[v] if v >= 0 else None
        elif c == "decided_by":
            v = deciders[v]
        elif c == "outcome":
            v = OUTCOMES[v]
        elif c == "path":
            v = PATH_NAMES[v]
        elif c == "trigger":
            v = TRIGGERS[v]
        row[c] = v
    if row["outcome"] != "ok":
        row["node"] = None
    return row


# ---------------------------------------------------------------------- rendering


def _ms(x: float | None) -> str:
    return "-" if x is None else ("timeout" if math.isinf(x) else f"{x:.1f}")


def _nodes(nodes: Sequence[str], most: int = 6) -> str:
    """The first ``most`` node names, and how many more."""
    text = ", ".join(nodes[:most]) or "none"
    return text + (f" (+{len(nodes) - most} more)" if len(nodes) > most else "")


def _level_lines(lv: LevelTrace, spill: SpillLevelSpec | None,
                 rounds: float | None) -> list[str]:
    first = lv.order[0] if lv.order else "-"
    head = f"    {lv.level:<8} "
    if lv.level == "region":
        return [head + f"{lv.note}: {_nodes(lv.order)}"]
    lines = []
    if lv.level == "nearest":
        if not lv.probes:
            return [head + (lv.note or "no probe") + f": {first} first"]
        e2e = any(p.score_ms is not None for p in lv.probes)
        rank = "rank by RTT"
        if e2e:
            rank = "rank end_to_end: score = " + (f"{rounds:g} round trips x measured"
                                                   if rounds is not None else "measured")
            rank += " + backend"
        lines.append(head + f"probes ({rank}):")
        lines.append("             node                     path  noise  measured"
                     + ("  backend    score" if e2e else ""))
        for p in lv.probes:
            line = (f"             {p.node:<22} {p.path_rtt_ms:6.1f} {_ms(p.noise_ms):>6} "
                    f"{_ms(p.measured_ms) if p.measured_ms is not None else 'silent':>9}")
            if e2e:
                line += f" {_ms(p.backend_ms):>8} {_ms(p.score_ms):>8}"
            lines.append(line)
        lines.append(f"             -> {first} first")
        return lines
    if lv.level == "sticky":
        return [head + f"{lv.note}: " + (f"{first} goes first" if lv.changed
                                          else "order kept")]
    if lv.level == "spill":
        limits = []
        if spill is not None:
            if spill.max_utilization is not None:
                limits.append(f"utilization {spill.max_utilization:g}")
            if spill.max_queue is not None:
                limits.append(f"queue {spill.max_queue:g}")
            if spill.max_connection_share is not None:
                limits.append(f"connection share {spill.max_connection_share:g}")
        lines.append(head + "thresholds: " + (", ".join(limits) or "none"))
        for c in lv.checks:
            lines.append(f"             {c.node:<22} reported utilization {c.utilization:.3f}, "
                         f"queue {c.queue}, connections {c.connections}: sheds "
                         f"{100 * c.share:.1f}% -> {'shed' if c.shed else 'kept'}")
        lines.append(f"             -> {first} first" + (" (spilled)" if lv.changed else ""))
        return lines
    return [head + f"{first} first" + (" (changed)" if lv.changed else "")]


def render_text(trace: LoginTrace, scenario: Scenario | None = None) -> str:
    """The trace as text: the login, each addressing round, each attempt, the outcome and
    the latency's components (and the row the engine recorded)."""
    t = trace
    spill = scenario.addressing.level("spill") if scenario is not None else None
    spill = spill if isinstance(spill, SpillLevelSpec) else None
    # The leg's round trips in a login (handshakes, then the request): the score's factor.
    rounds = scenario.protocol.handshake_rtts + 1.0 if scenario is not None else None
    out = [f"login {t.login_id} of scenario {t.scenario} (seed {t.seed}, replication "
           f"{t.replication}): {t.site}, {t.access} terminal {t.user}, {t.trigger} at "
           f"{t.t_start_s:.3f} s",
           f"  last mile {t.last_mile_ms:.1f} ms; extra delay {t.extra_delay_ms:.1f} ms on "
           "each round trip of its leg"]
    for r in t.rounds:
        d = r.dns
        out.append("")
        out.append(f"addressing round {r.round} at {r.t_s:.3f} s ({r.planned} plan)")
        ecs = "" if d.ecs is None else (", with client subnet" if d.ecs else
                                        ", no client subnet")
        out.append(f"  DNS: {d.resolver}{ecs}, located at {d.located_at}; answered from "
                   f"{d.source}: {d.dns_ms:.1f} ms")
        keep = f"the terminal keeps it until {d.cached_until_s:.1f} s" \
            if d.cached_until_s is not None else "the terminal does not keep it"
        fresh = "" if d.resolver_fresh_until_s is None else \
            f"; the resolver's entry is fresh until {d.resolver_fresh_until_s:.1f} s" \
            + (" (it stretches TTLs)" if d.stretched else "")
        out.append(f"       TTL {d.ttl_s:g} s, {keep}{fresh}")
        health = "every node of the region passes its health checks" \
            if not d.believed_down else f"health checks dropped {', '.join(d.believed_down)}"
        down = f"; really down: {', '.join(d.really_down)}" if d.really_down else ""
        out.append(f"       region {d.region}: {', '.join(d.nodes) or 'no node'} ({health}"
                   f"{down})")
        if r.levels:
            out.append("  levels:")
            for lv in r.levels:
                out.extend(_level_lines(lv, spill, rounds))
        out.append(f"  plan: {_nodes(r.candidates)}; decided by {r.decided_by}"
                   + ("; the end-to-end ranking moved it off the nearest by RTT"
                      if r.moved else ""))
        if r.probe_wait_ms:
            out.append(f"  waits for its probe round: {_ms(r.probe_wait_ms)} ms")
        if r.race is not None:
            rc = r.race
            won = f"{rc.winner} connected after {rc.connect_ms:.1f} ms" if rc.winner else \
                "none connected"
            out.append(f"  race: {', '.join(rc.racers)}; {rc.started} started; {won}")
    events: list[tuple[float, int, list[str]]] = []
    for a in t.attempts:
        lines = [f"attempt {a.number}: {a.node}, sent at {a.t_send_s:.3f} s, RTT "
                 f"{a.rtt_ms:.1f} ms, lost before the handshake {a.lost_ms:.1f} ms: "
                 f"{a.result}"]
        if a.result != "connected":
            lines[0] += f" (seen after {_ms(a.seen_after_ms)} ms)"
        else:
            lines.append(f"  handshakes: {a.handshake_rtts:g} round trips and the request's "
                         f"way there, {_ms(a.handshake_ms)} ms")
            if a.queue_ms is not None:
                lines.append(f"  at the node: queue {a.queue_ms:.1f} ms, service "
                             f"{_ms(a.service_ms)} ms; {a.cache}")
            if a.answered_by == "home data center" and a.path != "direct":
                lines.append(f"  to the home data center over {a.path}: RTT "
                             f"{_ms(a.backend_rtt_ms)} ms, trip {_ms(a.backend_trip_ms)} ms"
                             + (f" (waited {_ms(a.dark_wait_ms)} ms for the routes)"
                                if a.dark_wait_ms else ""))
            if a.datacenter_ms is not None:
                lines.append(f"  at the home data center{' (direct)' if a.path == 'direct' else ''}"
                             f": queue and service {a.datacenter_ms:.1f} ms")
            if a.answered_by == "node":
                lines.append("  answered by the node itself (path local)")
        events.append((a.t_send_s, 0, lines))
    for n in t.notes:
        events.append((n.t_s, 1, [f"at {n.t_s:.3f} s: {n.text}"]))
    for _, _, lines in sorted(events, key=lambda e: (e[0], e[1])):
        out.append("")
        out.extend(lines)
    out.append("")
    out.append(f"outcome: {t.outcome}" + (f" at {t.node}" if t.node else "")
               + f", decided by {t.decided_by}, {t.n_attempts} attempt"
               + ("s" if t.n_attempts != 1 else "")
               + (f", ended at {t.t_end_s:.3f} s" if t.t_end_s is not None else ""))
    lat = t.latency
    if lat is not None:
        out.append(f"latency {lat.total_ms:.1f} ms")
        parts = [("connect", lat.connect_ms, ""),
                 ("  dns", lat.dns_ms, "the first DNS lookup"),
                 ("  probe", lat.probe_ms, "the first probe round"),
                 ("  waiting", lat.waiting_ms,
                  "failed connects, backoffs, later rounds, a raced start"),
                 ("  lost", lat.lost_ms, "radio wake-up, lost SYNs and data round trips"),
                 ("  handshakes", lat.handshake_ms, "handshake round trips, request there"),
                 ("  return", lat.return_ms, "the answer's way back"),
                 ("queue", lat.queue_ms, "at the node"),
                 ("service", lat.service_ms, "at the node"),
                 ("backend", lat.backend_ms, "trip to the home data center and its work")]
        for name, v, what in parts:
            out.append(f"  {name:<13}{v:9.1f} ms" + (f"  ({what})" if what else ""))
    if t.row:
        out.append("")
        out.append("recorded: " + ", ".join(
            f"{c} {_value(t.row[c])}" for c in ROW_COLUMNS if c in t.row))
    return "\n".join(out) + "\n"


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}" if v == v else "nan"
    return str(v)


def _plain(x: Any) -> Any:
    """JSON-safe: non-finite numbers as None."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def render_json(trace: LoginTrace) -> str:
    """The trace as JSON (non-finite numbers as null)."""
    return json.dumps(_plain(dataclasses.asdict(trace)), indent=2) + "\n"
