"""``access-sim explain``: the traced login is the login a normal run records under the same
login_id (node, deciding level, attempts, outcome, latency components), its connect time
adds up from the parts the engine spent, the text is a golden file, and bad input gives one
exact line and exit status 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sim.cli import main
from sim.config import load_scenario
from sim.engine.loop import run_replication
from sim.runs.explain import explain, recorded_row, render_json, render_text
from sim.runs.prepare import prepare_world
from sim.runs.seeds import replication_seeds

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "scenarios" / "tiny.yaml"
GLOBAL = ROOT / "scenarios" / "global-baseline.yaml"
GOLDEN = ROOT / "tests" / "golden" / "explain-tiny.txt"

SHORT = {"duration": "3m", "warmup": "30s"}
FAILOVER = {**SHORT,
            # One probed candidate: no race, so the dead node costs a connect timeout.
            "addressing.levels": [{"region": {}}, {"nearest": {"probe_top_k": 1}},
                                  {"sticky": {"enabled": True}},
                                  {"failover": {"connect_timeout": "3s"}}],
            "events": [{"at": "40s", "node_down": "access-singapore", "for": "100s"}]}
GLOBAL_SHORT = {"duration": "60s", "warmup": "10s", "replications": 1}

CONFIGS: dict[str, tuple[Path, dict[str, Any]]] = {
    "tiny": (TINY, SHORT), "tiny-failover": (TINY, FAILOVER), "global": (GLOBAL, GLOBAL_SHORT)}

_normal: dict[str, tuple[Any, dict[str, np.ndarray], list[str], list[str]]] = {}


def normal_run(config: str) -> tuple[Any, dict[str, np.ndarray], list[str], list[str]]:
    """The scenario and the per-login table of a normal run of replication 0 (cached)."""
    if config not in _normal:
        path, overrides = CONFIGS[config]
        sc = load_scenario(path, overrides)
        world = prepare_world(sc)
        out = run_replication(world, 0, replication_seeds(sc.seed, sc.replications)[0],
                              per_login=True)
        _normal[config] = (sc, out.logins, list(world.topology.node_ids),
                           list(out.decider_names))
    return _normal[config]


CASES = [("tiny", "Singapore", None, None), ("tiny", "London", "wifi", 70.0),
         ("tiny", "Tokyo", "fixed", None), ("tiny", "London", None, None),
         ("tiny-failover", "Singapore", None, 45.0),
         ("tiny-failover", "Singapore", "wifi", 41.0),
         ("global", "Lagos", None, None), ("global", "Lagos", "wifi", 20.0)]


@pytest.mark.parametrize("config,site,access,at_s", CASES)
def test_trace_is_the_login_a_normal_run_records(config: str, site: str, access: str | None,
                                                 at_s: float | None) -> None:
    sc, logins, node_ids, deciders = normal_run(config)
    trace = explain(sc, site=site, access=access, at_s=at_s)
    row = recorded_row(logins, trace.login_id, node_ids, deciders)
    assert trace.row == row  # the traced engine recorded the same row
    assert trace.site == site
    if access is not None:
        assert trace.access == access
    assert trace.t_start_s >= (sc.warmup if at_s is None else at_s)
    # What the hooks collected as the engine decided, against the normal run's row.
    assert (trace.node, trace.decided_by, trace.n_attempts, trace.outcome) == \
        (row["node"], row["decided_by"], row["attempts"], row["outcome"])
    lat = trace.latency
    assert lat is not None
    for name in ("latency_ms", "connect_ms", "queue_ms", "service_ms", "backend_ms",
                 "dns_ms", "probe_ms"):
        got = lat.total_ms if name == "latency_ms" else getattr(lat, name)
        assert got == pytest.approx(row[name], rel=1e-6, abs=1e-3), name
    parts = (lat.dns_ms + lat.probe_ms + lat.waiting_ms + lat.lost_ms + lat.handshake_ms
             + lat.return_ms)
    assert parts == pytest.approx(lat.connect_ms, abs=1e-6)
    connected = [a for a in trace.attempts if a.result == "connected"]
    assert connected and connected[-1].node == row["node"]
    assert trace.rounds[0].dns.dns_ms == pytest.approx(row["dns_ms"], abs=1e-3)
    if row["path"] == "local":
        assert connected[-1].answered_by == "node"
    else:
        assert connected[-1].path == row["path"]
    # The probes shown are those the level ranked: the best one went first.
    for r in trace.rounds:
        for lv in r.levels:
            answered = [p for p in lv.probes if p.measured_ms is not None]
            if lv.level == "nearest" and answered:
                best = min(answered, key=lambda p: p.measured_ms if p.score_ms is None
                           else p.score_ms)
                assert lv.order[0] == best.node


def test_a_dead_node_shows_its_timeout_and_the_failover() -> None:
    sc, *_ = normal_run("tiny-failover")
    trace = explain(sc, site="Singapore", at_s=45.0)
    assert [a.result for a in trace.attempts] == ["timeout", "connected"]
    assert trace.attempts[0].node == "access-singapore"
    # The terminal learns of the timeout failover.connect_timeout after sending.
    sent_ms = 1000.0 * (trace.attempts[0].t_send_s - trace.rounds[0].t_s)
    assert trace.attempts[0].seen_after_ms == pytest.approx(sent_ms + 3000.0, abs=1e-6)
    assert trace.rounds[0].dns.really_down == ["access-singapore"]
    assert trace.decided_by == "failover"
    assert trace.latency is not None and trace.latency.waiting_ms > 3000.0


def test_by_login_id_is_the_same_trace() -> None:
    sc, *_ = normal_run("tiny")
    by_site = explain(sc, site="London", access="wifi", at_s=70.0)
    by_id = explain(sc, login_id=by_site.login_id)
    assert render_json(by_id) == render_json(by_site)


def test_text_is_the_golden_file() -> None:
    sc, *_ = normal_run("tiny")
    text = render_text(explain(sc, site="London"), sc)
    assert text == GOLDEN.read_text("utf-8")


def test_cli_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["explain", str(TINY), "--site", "London", "--set", "duration=3m", "--set",
            "warmup=30s"]
    assert main(args) == 0
    assert capsys.readouterr().out == GOLDEN.read_text("utf-8")
    assert main(args + ["--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["site"] == "London" and data["row"]["login_id"] == data["login_id"]
    assert data["latency"]["total_ms"] == pytest.approx(data["row"]["latency_ms"], abs=1e-3)


@pytest.mark.parametrize("extra,message", [
    (["--site", "Singapre"],
     "error: --site: no site 'Singapre' in scenario 'tiny' (did you mean 'Singapore'?)"),
    (["--site", "London", "--access", "wfi"],
     "error: --access: no access type 'wfi' in scenario 'tiny' (did you mean 'wifi'?); its "
     "access types: fixed, wifi, mobile_4g, mobile_5g"),
    (["--site", "London", "--at", "20m"],
     "error: --at: expected a time from 0 to the end of the arrivals (180 s), got 1200 s"),
    (["--site", "London", "--at", "soon"],
     "error: --at: expected a duration such as 30s, 10m or 2h, got 'soon'"),
    ([], "error: --site: give a site of the scenario (or --login-id N)"),
    (["--login-id", "99999999"],
     "error: --login-id: no login 99999999 in the run (it started 4,066 logins)"),
])
def test_errors(extra: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", str(TINY), "--set", "duration=3m", *extra]) == 2
    assert capsys.readouterr().err == message + "\n"
