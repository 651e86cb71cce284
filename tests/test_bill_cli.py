"""``access-sim bill`` and the bill in ``access-sim run`` (issue 6, part 3).

The bill table of a fixed CSV input is compared with a golden file (tests/golden/); set
``UPDATE_GOLDEN=1`` to rewrite it after an intended change, and review the diff. Every bad
input gives one exact line on stderr and exit status 2.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sim.cli import main
from sim.config import load_scenario
from sim.config.messages import shown as _shown
from sim.billing.usage import monthly_usage
from tests.conftest import ROOT, SCENARIOS

GOLDEN = Path(__file__).parent / "golden"
DAU_CSV = GOLDEN / "bill-dau.csv"
GROUPS_CSV = GOLDEN / "bill-groups.csv"
COST = SCENARIOS / "cost-growth.yaml"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def test_bill_from_csv_matches_the_golden_table(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    rc = main(["bill", "--dau-csv", str(DAU_CSV), "--groups-csv", str(GROUPS_CSV),
               "--month", "2026-11"])
    out, err = capsys.readouterr()
    assert (rc, err) == (0, "")
    check_golden("bill-2026-11.txt", out)
    bill = json.loads((tmp_path / "bill.json").read_text())       # CSV input: current folder
    assert bill["total"] == "899.94" and bill["currency"] == "USD"
    assert [(line["item"], line["peak_value"], line["peak_day"]) for line in bill["lines"]] == \
        [("dau", 40_123, "2026-11-14"), ("groups", 227_500, "2026-11-19")]
    assert bill["quota_events"] is None and bill["edition"] is None
    assert bill["source"]["kind"] == "csv"
    assert bill["daily"]["date"][0] == "2026-11-01" and len(bill["daily"]["dau"]) == 30
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # no temp file left


def test_price_list_by_name_or_file(tmp_path: Path, capsys) -> None:
    assert main(["bill", "--dau-csv", str(DAU_CSV), "--month", "2026-11", "--out",
                 str(tmp_path), "--price-list", "china-cny"]) == 0
    bill = json.loads((tmp_path / "bill.json").read_text())
    # Newer rule: the whole peak (40,123 DAU) is billed, 5 units of 1,000 CNY; no groups file.
    assert (bill["currency"], bill["total"]) == ("CNY", "5000.00")
    assert "(price list china-cny, amounts in CNY)" in capsys.readouterr().out
    own = tmp_path / "mine.yaml"
    own.write_text((ROOT / "sim/data/price_lists/international-usd.yaml").read_text()
                   .replace("unit_price: 149.99                # USD per 10,000 DAU",
                            "unit_price: 100  # per 10,000 DAU"))
    assert main(["bill", "--dau-csv", str(DAU_CSV), "--month", "2026-11", "--out",
                 str(tmp_path), "--price-list", str(own)]) == 0
    assert json.loads((tmp_path / "bill.json").read_text())["total"] == "400.00"


def test_bill_from_a_scenario(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["bill", str(COST)]) == 0
    out = capsys.readouterr().out
    path = tmp_path / "results" / "cost-growth-bill-2026-11" / "bill.json"
    assert out.startswith("Bill for 2026-11 (price list international-usd, amounts in USD)\n")
    assert "Quota events (professional edition, limits of price list international-usd):" in out
    assert "AVChatRoom creations refused" in out and "(limit: 50 rooms)" in out
    assert out.endswith(f"\nwrote {Path('results/cost-growth-bill-2026-11/bill.json')}\n")
    written = json.loads(path.read_text())
    expected = monthly_usage(load_scenario(COST), source=_shown(COST)).report()
    assert written == json.loads(json.dumps(expected))
    assert written["quota_events"]["refused_avchatrooms"] > 0


def test_month_price_list_and_set_override_the_scenario(tmp_path: Path, capsys) -> None:
    rc = main(["bill", str(COST), "--month", "2027-02", "--price-list", "overseas-cny",
               "--out", str(tmp_path), "--set", "billing.edition=trial",
               "--set", "billing.avchatrooms.initial=5",
               "--set", "billing.trial_accounts={initial: 95, created_per_day: 2}"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "Quota events (trial edition, limits of price list overseas-cny):" in out
    assert "The trial edition itself is free of charge" in out
    bill = json.loads((tmp_path / "bill.json").read_text())
    assert (bill["month"], bill["currency"], bill["edition"]) == ("2027-02", "CNY", "trial")
    assert len(bill["daily"]["dau"]) == 28
    events = bill["quota_events"]
    assert events["account_limit"] == 100 and events["avchatroom_limit"] == 10
    assert events["refused_trial_accounts"] > 0 and events["refused_avchatrooms"] > 0
    assert max(bill["daily"]["trial_accounts"]) == 100


def test_a_scenario_without_a_billing_section(tmp_path: Path, capsys) -> None:
    assert main(["bill", str(SCENARIOS / "tiny.yaml"), "--month", "2026-11",
                 "--out", str(tmp_path)]) == 0
    bill = json.loads((tmp_path / "bill.json").read_text())
    assert bill["lines"][0]["peak_value"] > 490_000 and bill["lines"][1]["peak_value"] == 0
    assert bill["quota_events"]["refused_avchatrooms"] == 0


def _tiny_cost_copy(tmp_path: Path) -> Path:
    path = tmp_path / "cost.yaml"
    path.write_text(COST.read_text().replace("../topologies/", f"{ROOT / 'topologies'}/"))
    return path


CSV_ERRORS = [
    # (contents of dau.csv, expected message after "error: dau.csv: ")
    ("", "empty file: expected a header line date,dau"),
    ("day,dau\n2026-11-01,5\n", "line 1: expected the columns date,dau, got day,dau"),
    ("date,dau,groups\n", "line 1: expected the columns date,dau, got date,dau,groups"),
    ("date,dau\n2026-11-01,5,6\n", "line 2: expected 2 values (date,dau), got 3"),
    ("date,dau\n2026/11/01,5\n",
     "line 2, column date: expected a date as YYYY-MM-DD, got '2026/11/01'"),
    ("date,dau\n2026-11-31,5\n",
     "line 2, column date: expected a date as YYYY-MM-DD, got '2026-11-31'"),
    ("date,dau\n2026-11-01,-5\n", "line 2, column dau: expected a whole number >= 0, got '-5'"),
    ("date,dau\n2026-11-01,1.5\n",
     "line 2, column dau: expected a whole number >= 0, got '1.5'"),
    ("date,dau\n\n2026-11-01,5\n2026-11-01,6\n",
     "line 4, column date: 2026-11-01 appears twice (first on line 3)"),
    ("date,dau\n" + "".join(f"2026-11-{d:02d},5\n" for d in range(1, 30)),
     "no row for 1 of the 30 days of 2026-11: 2026-11-30"),
    ("dau,date\n5,2026-10-01\n",
     "no row for 30 of the 30 days of 2026-11: 2026-11-01, 2026-11-02, 2026-11-03 and 27 more"),
]


@pytest.mark.parametrize("contents,expected", CSV_ERRORS, ids=[e[1][:40] for e in CSV_ERRORS])
def test_bad_csv_gives_one_line_and_status_2(contents: str, expected: str, tmp_path: Path,
                                             capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("dau.csv").write_text(contents)
    rc = main(["bill", "--dau-csv", "dau.csv", "--month", "2026-11"])
    assert (rc, capsys.readouterr().err) == (2, f"error: dau.csv: {expected}\n")
    assert not Path("bill.json").exists()


ARG_ERRORS = [
    (["bill"], "give a SCENARIO, or --dau-csv FILE (and --groups-csv FILE) with --month YYYY-MM"),
    (["bill", "--groups-csv", "g.csv", "--month", "2026-11"], "--groups-csv needs --dau-csv FILE"),
    (["bill", "{scenario}", "--dau-csv", "dau.csv"],
     "give either a SCENARIO or --dau-csv (and --groups-csv), not both"),
    (["bill", "--dau-csv", "dau.csv"], "--month YYYY-MM is required with --dau-csv"),
    (["bill", "--dau-csv", "dau.csv", "--month", "2026-13"],
     "--month: expected a month as YYYY-MM, got '2026-13'"),
    (["bill", "--dau-csv", "dau.csv", "--month", "2026-11", "--set", "seed=1"],
     "--set applies to a SCENARIO, not to CSV input"),
    (["bill", "--dau-csv", "nope.csv", "--month", "2026-11"], "nope.csv: CSV file not found"),
    (["bill", "--dau-csv", "dau.csv", "--groups-csv", "dau.csv", "--month", "2026-11"],
     "dau.csv: line 1: expected the columns date,groups, got date,dau"),
    (["bill", "--dau-csv", "dau.csv", "--month", "2026-11", "--price-list", "euro"],
     ("no built-in price list named 'euro'; built-in lists: china-cny, international-usd, "
      "overseas-cny (or give the path of a .yaml file)")),
    (["bill", "--dau-csv", "dau.csv", "--month", "2026-11", "--price-list", "prices.yaml"],
     "prices.yaml: dau.unit_price: must be > 0, got -1"),
    (["bill", "--dau-csv", "dau.csv", "--month", "2026-11", "--out", "taken"],
     "taken: exists and is not a folder"),
    (["bill", "{scenario}", "--set", "billing.month=null"],
     ("{scenario}: billing.month: no month to bill: set billing.month, or give a month "
      "(access-sim bill --month YYYY-MM)")),
    (["bill", "{scenario}", "--set", "billing.edition=gold"],
     ("--set: billing.edition: expected one of 'trial', 'professional' or 'flagship', "
      "got 'gold'")),
    (["bill", "{scenario}", "--set", "billing.avchatrooms.initial=51"],
     ("{scenario}: billing.avchatrooms.initial: must be at most the professional edition's "
      "limit of 50 AVChatRooms (price list international-usd), got 51")),
    (["validate", "{scenario}", "--set", "billing.price_list=nope.yaml"],
     "nope.yaml: price list file not found"),
]


@pytest.mark.parametrize("args,expected", ARG_ERRORS, ids=[e[1][:40] for e in ARG_ERRORS])
def test_bad_arguments_give_one_line_and_status_2(args: list[str], expected: str,
                                                  tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(DAU_CSV, "dau.csv")
    Path("taken").write_text("a file")
    Path("prices.yaml").write_text((ROOT / "sim/data/price_lists/international-usd.yaml")
                                   .read_text().replace("unit_price: 149.99", "unit_price: -1", 1))
    scenario = _tiny_cost_copy(tmp_path).name
    rc = main([a.format(scenario=scenario) for a in args])
    assert (rc, capsys.readouterr().err) == (2, f"error: {expected.format(scenario=scenario)}\n")
    assert not Path("bill.json").exists() and not Path("results").exists()


def test_run_adds_the_bill_to_its_summary(tmp_path: Path, capsys) -> None:
    short = ["--set", "duration=2m", "--set", "warmup=0s", "--no-figures"]
    out = tmp_path / "run"
    assert main(["run", str(COST), "--out", str(out), *short]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    bill = summary["bill"]
    expected = monthly_usage(load_scenario(COST)).report(daily=False)
    assert {k: v for k, v in bill.items() if k != "source"} == \
        json.loads(json.dumps({k: v for k, v in expected.items() if k != "source"}))
    assert "daily" not in bill and bill["quota_events"]["refused_avchatrooms"] > 0
    assert f"\nbill for 2026-11: {bill['total']} USD (peak DAU " in printed
    # No billing month, no bill.
    plain = tmp_path / "plain"
    assert main(["run", str(COST), "--out", str(plain), "--quiet", *short,
                 "--set", "billing.month=null"]) == 0
    assert "bill" not in json.loads((plain / "summary.json").read_text())


def test_bill_help_is_fast_and_lists_the_options() -> None:
    code = ("import sys, time; t = time.perf_counter(); from sim.cli import build_parser; "
            "build_parser(); print(time.perf_counter() - t); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('numpy', 'pandas', 'yaml', 'pydantic', 'simpy')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    assert done.stdout.splitlines()[1] == "[]"             # no heavy import for --help
    helped = subprocess.run([sys.executable, "-m", "sim", "bill", "--help"],
                            capture_output=True, text=True, cwd=ROOT, check=True).stdout
    for option in ("--month YYYY-MM", "--price-list NAME|FILE", "--dau-csv FILE",
                   "--groups-csv FILE", "--out DIR", "--set KEY.PATH=VALUE"):
        assert option in helped
