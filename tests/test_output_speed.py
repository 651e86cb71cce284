"""What users see after the simulation (issue 17): the Arrow CSV writer gives pandas' bytes,
result files honour the umask, the summary keeps full precision (so a comparison does not
mistake rounding for a difference), counts say what they include, and the CLI's messages."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.analysis.results import Results, _headline, atomic_write_text, summarize, write_csv
from sim.cli import build_parser, main
from tests.conftest import SCENARIOS

SHORT = ["--set", "duration=2m", "--set", "warmup=30s", "--set", "replications=1"]


def _pandas_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, float_format="%.4f").encode("utf-8")


def _arrow_csv(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    write_csv(frame, buf)
    return buf.getvalue()


def test_arrow_csv_is_byte_for_byte_pandas() -> None:
    rng = np.random.default_rng(0)
    n = 20_000
    halves = np.array([0.00005, 0.00015, 1.00005, 2.50005, 0.12345, 1e-5, 123456.78905])
    frame = pd.DataFrame({
        "id": np.arange(n, dtype=np.int64),
        "t": np.concatenate([halves, rng.uniform(0, 4000, n - len(halves))]),
        "f32": rng.normal(0, 100, n).astype(np.float32),
        "with_nan": np.where(rng.random(n) < 0.1, np.nan, rng.exponential(50, n)),
        "cat": pd.Categorical.from_codes(rng.integers(-1, 3, n),
                                         categories=["a", "", "Bao'an"]),
        "small": rng.integers(-5, 5, n).astype(np.int8),
    })
    assert _arrow_csv(frame) == _pandas_csv(frame)
    assert _arrow_csv(frame.iloc[:0]) == _pandas_csv(frame.iloc[:0])


@pytest.mark.parametrize("column", [
    pd.Series([-0.00001, 1.0]),                                  # -0.0000
    pd.Series([np.inf, 1.0]),                                    # inf
    pd.Categorical(["Washington, D.C.", "x"]),                   # needs quotes
    pd.Series(['say "hi"', "x"]),                                # a quote
    pd.Series([True, False]),                                    # True / False
], ids=["negative-zero", "inf", "comma", "quote", "bool"])
def test_values_arrow_cannot_show_like_pandas_go_to_pandas(column) -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": column})
    assert _arrow_csv(frame) == _pandas_csv(frame)


def test_results_honour_the_umask(tmp_path: Path, capsys) -> None:
    old = os.umask(0o027)
    try:
        out = tmp_path / "res"
        assert main(["run", str(SCENARIOS / "tiny.yaml"), "--out", str(out), "--quiet",
                     *SHORT]) == 0
        schema = tmp_path / "schema.json"
        assert main(["schema", "--out", str(schema)]) == 0
        atomic_write_text(tmp_path / "t.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o750
    assert stat.S_IMODE((out / "figures").stat().st_mode) == 0o750
    for f in [*out.iterdir(), *(out / "figures").iterdir(), schema, tmp_path / "t.txt"]:
        if f.is_file():
            assert stat.S_IMODE(f.stat().st_mode) == 0o640, f.name


def test_counts_say_what_they_include_and_add_up(tmp_path: Path, capsys) -> None:
    out = tmp_path / "res"
    assert main(["run", str(SCENARIOS / "tiny.yaml"), "--out", str(out), "--quiet",
                 "--no-figures", *SHORT]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["counts_include"]) == {"logins", "logins.whole_run", "nodes"}
    assert "30 s" in summary["counts_include"]["logins"]
    lg = summary["logins"]
    assert lg["attempted"] == lg["succeeded"] + lg["failed"] + lg["in_flight"]
    assert lg["attempted"] < lg["whole_run"]["attempted"]  # the warm-up is left out
    nodes = summary["nodes"].values()
    edge = sum(s["logins"] for s in nodes if s["kind"] != "datacenter") \
        + sum(s.get("edge_logins", 0) for s in nodes if s["kind"] == "datacenter")
    assert edge == lg["whole_run"]["succeeded"]
    # validate states both counts; its window estimate is what run reports.
    capsys.readouterr()
    assert main(["validate", str(SCENARIOS / "tiny.yaml"), *SHORT]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert "in the measurement window" in line and "with the warm-up" in line
    window = float(line.split("about ")[1].split(" logins")[0].replace(",", ""))
    assert abs(window - lg["attempted"]) < 0.1 * lg["attempted"]


def _rep(utilization: float) -> dict:
    logins = pd.DataFrame({
        "t_start_s": [10.0], "outcome": pd.Categorical(["ok"], categories=["ok", "failed"]),
        "latency_ms": [100.0], "region": pd.Categorical(["asia"]),
        "decided_by": pd.Categorical(["nearest"]), "rtt_ms": [10.0], "best_rtt_ms": [10.0]})
    summary = summarize(logins, {"n1": {"kind": "access", "utilization": utilization}},
                        warmup_s=0.0, duration_s=60.0, counts={})
    return _headline(summary)


def test_summary_keeps_full_precision_and_compare_sees_no_rounding_difference() -> None:
    from sim.analysis.statistics import welch_test
    from sim.runs.compare import Comparison

    a = [0.00146, 0.00149, 0.00142]  # 0.001 at 3 decimals
    b = [0.00151, 0.00153, 0.00150]  # 0.002 at 3 decimals
    reps = {"a": [_rep(u) for u in a], "b": [_rep(u) for u in b]}
    assert [r["utilization"]["n1"] for r in reps["a"]] == a  # not rounded
    # Rounded, the two look exact and different: p = 0, "significant".
    assert welch_test([round(u, 3) for u in a], [round(u, 3) for u in b]).p_value == 0.0
    results = [Results({"scenario": k, "replication_figures": v,
                        "scenario_resolved": {"warmup": 0.0, "duration": 60.0}},
                       pd.DataFrame(), pd.DataFrame()) for k, v in reps.items()]
    table = Comparison(["a", "b"], ["a", "b"], results).table
    row = table[(table["figure"] == "nodes.n1.utilization") & (table["scenario"] == "b")]
    assert len(row) == 1
    assert not bool(row["significant"].iloc[0])
    assert float(row["p_value"].iloc[0]) > 0.05


def test_compare_help_shows_one_percent_sign(capsys) -> None:
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["compare", "--help"])
    text = capsys.readouterr().out
    assert "95% confidence" in " ".join(text.split()) and "%%" not in text


def test_validate_latency_says_what_data_it_needs(tmp_path: Path, capsys) -> None:
    assert main(["validate-latency", "--data", str(tmp_path / "none"), "--no-figures"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    for name in ("wonderproxy_2020_pairs_train.csv", "azure_interregion_p95_train.csv",
                 "--data FOLDER"):
        assert name in err
    assert "../shared" not in err
