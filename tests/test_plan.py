"""``access-sim plan``: the surrogate against simulation, the search against brute force,
Erlang C against textbook values, sizing checked by simulation, and the CLI's messages."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from scipy.stats import spearmanr

from sim import load_scenario
from sim.cli import main
from sim.runs.executors import LocalExecutor, run_worlds
from sim.runs.plan import load_costs, parse_target, plan, replicate_figures
from sim.runs.prepare import prepare_world
from sim.runs.sizing import erlang_c, size_nodes, wait_exceeds, workers_for_wait
from sim.runs.surrogate import Surrogate, city_candidates, scenario_with, weighted_quantile
from sim.views.plan_figures import plot_pareto, plot_plan_map

TINY = "scenarios/tiny.yaml"
SHORT = {"duration": "3m"}


@pytest.fixture(scope="module")
def single_node_plans():
    """20 one-node plans on the tiny network: the surrogate's estimates and a simulation of
    each (same seed: common random numbers)."""
    sc = load_scenario(TINY, SHORT)
    world = prepare_world(sc, TINY)
    cands = city_candidates(world.topology, "access", 2e6, regions=["asia", "europe"])
    sur = Surrogate(sc, cands, source=TINY)
    mask = sur.scope_mask(["all"])
    useful = sur.useful(mask)[:20]
    assert len(useful) == 20
    estimates = [sur.objective([k], mask) for k in useful]
    worlds = [prepare_world(scenario_with(sc, [cands[k].addition()]), TINY) for k in useful]
    with LocalExecutor(2) as ex:
        figs = run_worlds(worlds, ex, on_done=lambda i, r: replicate_figures(
            r, sc, ["all"], "p95"))
    simulated = [f["sim_scope"]["mean"] for f in figs]
    return sc, [cands[k] for k in useful], estimates, simulated


# --------------------------------------------------------------------------- surrogate


def test_surrogate_ranking_agrees_with_simulation(single_node_plans):
    _, _, estimates, simulated = single_node_plans
    rho = spearmanr(estimates, simulated).statistic
    print(f"Spearman rho of 20 one-node plans, surrogate against simulation: {rho:.3f}")
    assert rho >= 0.9, rho


def test_surrogate_without_nodes_reproduces_the_baseline():
    """No node added: every login keeps its node and components; only the queue wait is
    redrawn from Erlang C, which on the lightly loaded tiny network is about nothing."""
    sc = load_scenario(TINY, SHORT)
    cands = city_candidates(prepare_world(sc, TINY).topology, "access", 5e6,
                            regions=["asia"])
    sur = Surrogate(sc, cands, source=TINY)
    lat, weight, _ = sur.latencies([])
    base = weighted_quantile(sur.l_base_latency, sur.l_weight, 0.95)
    assert weighted_quantile(lat, weight, 0.95) == pytest.approx(base, rel=0.01)


def test_a_nearer_node_never_raises_the_estimate_of_its_sites():
    """Metamorphic: a node added where logins would move lowers their terminal legs."""
    sc = load_scenario(TINY, SHORT)
    cands = city_candidates(prepare_world(sc, TINY).topology, "access", 2e6,
                            regions=["asia"])
    sur = Surrogate(sc, cands, source=TINY)
    k = next(i for i, c in enumerate(cands) if c.city == "Mumbai")
    site = "Mumbai"
    before = sur.evaluate([]).by_site[site]["mean"]
    after = sur.evaluate([k]).by_site[site]["mean"]
    assert after < before


# --------------------------------------------------------------------------- search


def test_plan_finds_the_brute_force_best_node(single_node_plans):
    sc, cands, _, simulated = single_node_plans
    result = plan(sc, candidates=cands, nodes=1, verify=0)
    chosen = result.plans[1]["nodes"][0]
    best = int(np.argmin(simulated))
    by_id = {c.node_id: s for c, s in zip(cands, simulated)}
    # The best by simulation, or one within 1% of it (a single replication's p95).
    print(f"plan chose {chosen} ({by_id[chosen]:.1f} ms); brute force best "
          f"{cands[best].node_id} ({simulated[best]:.1f} ms)")
    assert by_id[chosen] <= simulated[best] * 1.01, (chosen, cands[best].node_id)


def test_plan_writes_variants_that_load(tmp_path):
    out = tmp_path / "plan"
    result = plan(TINY, nodes=2, verify=1, overrides=SHORT, min_population=5e6, out=out,
                  figures=False)
    assert (out / "plan.csv").exists() and (out / "plan.json").exists()
    first = result.plans[1]
    doc = yaml.safe_load((out / "plan-1.yaml").read_text())
    assert doc["network"]["add"] == first["additions"]
    variant = load_scenario(out / "plan-1.yaml")
    world = prepare_world(variant)
    assert set(first["nodes"]) <= set(world.topology.node_ids)
    # The verified plan carries the simulated figures; the costs add up.
    verified = [p for p in result.plans if p["verified"] and p["nodes"]]
    assert verified and verified[0]["sim_scope"]["mean"] > 0
    costs = load_costs()
    assert first["cost_month"] == pytest.approx(sum(
        costs["per_node_month"]["access"] * costs["region_factor"].get(r, 1.0)
        for r in first["regions"]))
    # The figures, read off their objects: titles, units, legends that name what is drawn.
    fig = plot_pareto(result)
    left, right = fig.axes[:2]
    assert fig.get_suptitle() == f"{result.scenario}: cost against latency"
    assert left.get_xlabel() == "added cost per month (USD)" == right.get_xlabel()
    assert left.get_ylabel() == "p95 login latency, all (ms)"
    assert right.get_ylabel() == "p95 login latency by region (ms)"
    assert [t.get_text() for t in left.get_legend().get_texts()] == \
        ["surrogate estimate", "simulated (95% CI)"]
    assert {t.get_text().split(" ")[0] for t in right.get_legend().get_texts()} <= \
        {"asia", "europe"}
    assert {t.get_text() for t in left.texts} == {p["plan"] for p in result.plans}
    ax = plot_plan_map(result).axes[0]
    assert ax.get_title() == f"{result.scenario}: proposed nodes"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("longitude (°E)", "latitude (°N)")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == "existing access/cache nodes" and "plan-1 adds" in labels
    assert {t.get_text() for t in ax.texts} == {c.split(",")[0] for p in result.plans
                                                for c in p["cities"]}


def test_target_is_the_least_cost_plan_meeting_it():
    sc = load_scenario(TINY, SHORT)
    cands = city_candidates(prepare_world(sc, TINY).topology, "access", 2e6,
                            regions=["asia", "europe"])
    open_plan = plan(sc, candidates=cands, nodes=2, verify=0)
    goal = open_plan.plans[1]["surrogate_scope_ms"] + 0.5
    met = plan(sc, candidates=cands, nodes=3, verify=0, target=f"p95<={goal}ms")
    assert met.plans[-1]["surrogate_scope_ms"] <= goal
    assert len(met.plans[-1]["nodes"]) == 1


# --------------------------------------------------------------------------- queueing


def test_erlang_c_textbook_values():
    # Kleinrock vol. 1, sec. 3.5: M/M/2 at a = 1 waits with probability 1/3; the
    # call-centre tables' 10 agents at 8 Erlangs, 40.9%.
    assert float(erlang_c(2, 1.0)) == pytest.approx(1.0 / 3.0)
    assert float(erlang_c(10, 8.0)) == pytest.approx(0.4092, abs=5e-5)
    assert float(erlang_c(1, 0.5)) == pytest.approx(0.5)  # M/M/1: rho
    assert float(erlang_c(3, 3.0)) == 1.0  # unstable
    # P(W > t) = C exp(-(c mu - lambda) t), M/M/1 at rho 0.5, mu 10/s, t = 0.1 s.
    assert wait_exceeds(1, 5.0, 0.1, 0.1) == pytest.approx(0.5 * math.exp(-0.5))


def test_more_workers_never_wait_longer():
    waits = [wait_exceeds(c, 30.0, 0.1, 0.05) for c in range(4, 12)]
    assert all(a >= b for a, b in zip(waits, waits[1:]))
    assert workers_for_wait(30.0, 0.1, 0.05, deterministic=True) <= \
        workers_for_wait(30.0, 0.1, 0.05)


def test_sizing_meets_the_target_and_one_fewer_does_not():
    """tiny-busy-singapore: access-singapore's 2 workers at 60 ms are about 50% busy."""
    sized = size_nodes("scenarios/tiny-busy-singapore.yaml", 0.050)
    node = next(n for n in sized.nodes if n.node == "access-singapore")
    assert node.proposed > node.workers
    assert node.simulated_p99_ms[0] is not None and node.simulated_p99_ms[0] <= 50.0
    assert node.simulated_fewer_p99_ms[0] is not None and \
        node.simulated_fewer_p99_ms[0] > 50.0
    assert sized.variant["nodes"]["overrides"]["access-singapore"]["workers"] == \
        node.proposed


# --------------------------------------------------------------------------- CLI


@pytest.mark.parametrize("args, message", [
    (["--target", "p95<400"],
     "error: --target 'p95<400': expected p95<=NUMBERms or mean<=NUMBERms"),
    (["--scope", "region:atlantis"],
     "error: --scope 'region:atlantis': unknown region 'atlantis'; known: china, asia, "
     "europe, north_america, south_america, oceania, africa"),
    (["--scope", "site:Lagos"],
     "error: --scope 'site:Lagos': no site 'Lagos' in the scenario's population"),
    (["--scope", "Lagos"], "error: --scope 'Lagos': expected all, region:NAME or site:NAME"),
    (["--nodes", "0"], "error: --nodes: expected 1 to 50 nodes, got 0"),
    (["--verify", "-1"], "error: --verify: expected 0 or more plans, got -1"),
    (["--size", "--p99-wait", "fast"],
     "error: --p99-wait 'fast': expected a duration such as 50ms"),
])
def test_cli_errors(args, message, capsys, tmp_path):
    code = main(["plan", TINY, "--out", str(tmp_path / "p"), "--quiet", *args])
    assert code == 2
    assert capsys.readouterr().err.strip() == message


def test_cli_unknown_candidate_city(capsys, tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("city\nMumbai\nNairobbi\n")
    code = main(["plan", TINY, "--candidates", str(path), "--quiet",
                 "--out", str(tmp_path / "p")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {path}: row 2: unknown city 'Nairobbi'")


def test_cli_bad_costs_file(capsys, tmp_path):
    path = tmp_path / "costs.yaml"
    path.write_text("per_node_month: {access: -5}\n")
    code = main(["plan", TINY, "--costs", str(path), "--quiet", "--out", str(tmp_path / "p")])
    assert code == 2
    assert capsys.readouterr().err.strip() == \
        f"error: {path}: per_node_month.access: expected a cost >= 0, got -5"


def _hostile(tmp_path, kind):
    """A hostile input file of each kind the readers must refuse in one line."""
    import os

    path = tmp_path / {"fifo": "f.csv", "binary": "b.csv", "large": "l.csv",
                       "field": "w.csv", "dup": "d.yaml", "dir": "dir"}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "binary":
        path.write_bytes(b"\xff\xfe\x00city\n")
    elif kind == "large":
        path.write_bytes(b"city\n" + b"a" * (5 * 2 ** 20))
    elif kind == "field":
        path.write_text("city\n" + "a" * 200_000 + "\n")
    elif kind == "dup":
        path.write_text("per_node_month: {access: 1}\nper_node_month: {access: 2}\n")
    else:
        path.mkdir()
    return path


@pytest.mark.parametrize("option, kind, message", [
    ("--candidates", "fifo", "expected a candidates file, found a FIFO (named pipe)"),
    ("--candidates", "binary", "not UTF-8 text (byte 0)"),
    ("--candidates", "large", "file too large: 5,242,885 bytes (a candidates file may hold "
                              "at most 4,194,304 bytes)"),
    ("--candidates", "field", "invalid CSV: field larger than field limit (131072)"),
    ("--candidates", "dir", "expected a candidates file, found a directory"),
    ("--costs", "fifo", "expected a node costs file, found a FIFO (named pipe)"),
    ("--costs", "dup", "per_node_month: duplicate key 'per_node_month' (lines 1 and 2)"),
])
def test_cli_hostile_input_files(option, kind, message, capsys, tmp_path):
    """Special, binary, oversized and malformed files: one line naming the file, exit 2,
    without blocking on a FIFO or reading past the limit."""
    path = _hostile(tmp_path, kind)
    code = main(["plan", TINY, option, str(path), "--quiet", "--out", str(tmp_path / "p")])
    assert code == 2
    assert capsys.readouterr().err.strip() == f"error: {path}: {message}"
    assert not (tmp_path / "p").exists()


def test_parse_target_units():
    assert parse_target("p95<=400ms") == ("p95", 400.0)
    assert parse_target("mean <= 0.25s") == ("mean", 250.0)
