"""Per-login records streamed to Parquet as the run goes (``outputs.stream``).

The engine hands rows over in login order in batches; the saved table must be the table a run
holding everything in memory writes, and the summary must not change.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
import sim.engine.loop as engine
from sim.model.world import build_world
from sim.engine.loop import run_replication
from sim.engine.records import LOGIN_COLUMNS, SUMMARY_COLUMNS
from sim.errors import ScenarioError
from tests.conftest import SCENARIOS

pytest.importorskip("pyarrow")

FAILURES = SCENARIOS / "node-failure.yaml"  # a node down at 20 min: reconnects, failovers
SHORT = {"duration": "25m", "population.dau": 300_000}
OVERRIDES = {**SHORT, "replications": 2, "outputs.format": "parquet", "outputs.figures": False}


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "SINK_ROWS", 500)  # many batches in a short run


def test_the_sink_gets_every_row_once_in_login_order() -> None:
    world = build_world(sim.load_scenario(FAILURES, {**SHORT, "replications": 1}))
    batches: list[dict[str, np.ndarray]] = []
    held = run_replication(world, 0, np.random.SeedSequence(1), per_login=True)
    streamed = run_replication(world, 0, np.random.SeedSequence(1), sink=batches.append)
    assert len(batches) > 10
    assert all(list(b) == list(LOGIN_COLUMNS) for b in batches)
    for c in LOGIN_COLUMNS:
        np.testing.assert_array_equal(np.concatenate([b[c] for b in batches]), held.logins[c],
                                      err_msg=c)
    assert list(streamed.logins) == list(SUMMARY_COLUMNS)
    for c in SUMMARY_COLUMNS:
        np.testing.assert_array_equal(streamed.logins[c], held.logins[c], err_msg=c)
    assert streamed.counts == held.counts
    assert held.counts["reconnects"] > 0  # logins of every kind went through the sink


def test_a_streamed_run_saves_the_same_table_and_summary(tmp_path: Path) -> None:
    held = sim.run(FAILURES, overrides=OVERRIDES, jobs=1)
    streamed = sim.run(FAILURES, overrides={**OVERRIDES, "outputs.stream": True}, jobs=1)
    assert len(streamed.streamed) == 2 and all(p.is_file() for p in streamed.streamed)
    assert list(streamed.logins.columns) == list(held.logins.columns.drop(
        ["access_type", "attempts", "connect_ms", "queue_ms", "service_ms", "backend_ms",
         "dns_ms", "probe_ms", "last_mile_ms", "user"]))
    for key in ("logins", "latency_ms", "nodes", "addressing", "events", "ci95"):
        assert streamed.summary[key] == held.summary[key], key
    held.save(tmp_path / "held")
    streamed.save(tmp_path / "streamed")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "streamed" / "logins.parquet"),
                                  pd.read_parquet(tmp_path / "held" / "logins.parquet"))
    held.save(tmp_path / "held-csv", fmt="csv")
    streamed.save(tmp_path / "streamed-csv", fmt="csv")
    assert (tmp_path / "streamed-csv" / "logins.csv").read_bytes() == \
        (tmp_path / "held-csv" / "logins.csv").read_bytes()
    loaded = sim.Results.load(tmp_path / "streamed")
    assert len(loaded.logins) == len(held.logins)


def test_the_streamed_files_go_with_the_results() -> None:
    import gc

    streamed = sim.run(FAILURES, overrides={**OVERRIDES, "outputs.stream": True,
                                            "replications": 1}, jobs=1)
    folder = streamed.streamed[0].parent
    assert folder.is_dir()
    del streamed
    gc.collect()
    assert not folder.exists()


def test_stream_needs_per_login_records() -> None:
    with pytest.raises(ScenarioError) as e:
        sim.load_scenario(FAILURES, {"outputs.stream": True, "outputs.per_login": False})
    # Both values came from overrides (--set): the message names it, not the file.
    assert str(e.value) == ("--set: outputs: stream: true writes the per-login records as the "
                            "run goes; it needs per_login: true")


def test_worker_processes_stream_the_same_records(tmp_path: Path) -> None:
    """Replications on two local worker processes write their own files; saved, they are
    the table of a run in this process."""
    overrides = {**OVERRIDES, "outputs.stream": True}
    here = sim.run(FAILURES, overrides=overrides, jobs=1)
    pooled = sim.run(FAILURES, overrides=overrides, jobs=2)
    here.save(tmp_path / "here")
    pooled.save(tmp_path / "pooled")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "pooled" / "logins.parquet"),
                                  pd.read_parquet(tmp_path / "here" / "logins.parquet"))


def test_the_cli_writes_a_streamed_result_with_figures(tmp_path: Path, capsys) -> None:
    from sim.cli import main

    out = tmp_path / "res"
    rc = main(["run", str(SCENARIOS / "tiny.yaml"), "--out", str(out), "--quiet",
               "--set", "duration=2m", "--set", "warmup=0s", "--set", "replications=2",
               "--set", "outputs.stream=true", "--set", "outputs.format=parquet"])
    assert rc == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == [".access-sim-result", "figures",
                                                     "logins.parquet",
                                                     "node_load.csv", "sites.csv",
                                                     "summary.json"]
    logins = pd.read_parquet(out / "logins.parquet")
    assert list(logins.columns[:6]) == ["login_id", "t_start_s", "site", "region",
                                        "terminal_lat", "terminal_lon"]
    assert sorted(logins["replication"].unique()) == [0, 1]
    assert (logins.groupby("replication")["login_id"].diff().dropna() > 0).all()
    assert any((out / "figures").iterdir())


def test_records_streamed_out_of_reach_are_an_input_error(tmp_path: Path) -> None:
    """A remote cluster's workers write to their own disks: the run says so in one line
    rather than failing when the result is saved."""
    import dataclasses

    from sim.runs.executors import Executor, run_task

    class Elsewhere(Executor):
        def as_completed(self, tasks, on_progress=None):
            for i, task in enumerate(tasks):
                yield i, run_task(dataclasses.replace(
                    task, stream_to=str(tmp_path / f"worker-disk-{i}.parquet")))

    with pytest.raises(ScenarioError) as e:
        sim.run(FAILURES, overrides={**OVERRIDES, "outputs.stream": True}, executor=Elsewhere())
    assert str(e.value).endswith("node-failure.yaml: outputs.stream: the workers wrote the "
                                 "streamed records where this process cannot read them (a "
                                 "remote cluster needs a shared folder)")
