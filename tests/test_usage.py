"""A month of usage from a scenario (issue 6, part 2): the counting model against the workload.

Tests against theory come first (agreement with :class:`sim.model.workload.Workload`, the binomial
DAU, conservation in the quotas); seeded regression checks are marked as such at the end.
"""

from __future__ import annotations

import doctest
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim.billing.usage
from sim.billing.price_lists import load_price_list
from sim.billing.rules import monthly_bill
from sim.billing.usage import (
    Usage,
    daily_dau_targets,
    monthly_usage,
    parse_month,
    read_daily_csv,
    usage_from_csv,
)
from sim.config import load_scenario
from sim.config.schema import Scenario
from sim.errors import BillingError
from sim.model.workload import Workload, load_sites
from tests.conftest import SCENARIOS

NOV = "2026-11"  # 30 days, starts on a Sunday


def scenario(dau: int = 4000, logins_per_user: float = 3.0, seed: int = 3,
             billing: dict[str, Any] | None = None) -> Scenario:
    """Three explicit sites of unequal weight in three time zones."""
    raw: dict[str, Any] = {
        "name": "usage", "seed": seed, "duration": "1d", "topology": "unused.yaml",
        "home_datacenter": "dc",
        "population": {
            "source": "sites",
            "sites": [
                {"name": "Singapore", "lat": 1.29, "lon": 103.85, "region": "asia",
                 "weight": 5, "utc_offset_h": 8},
                {"name": "Lagos", "lat": 6.45, "lon": 3.39, "region": "africa", "weight": 2,
                 "utc_offset_h": 1},
                {"name": "Lima", "lat": -12.05, "lon": -77.04, "region": "south_america",
                 "weight": 1, "utc_offset_h": -5},
            ],
            "dau": dau, "logins_per_user_per_day": logins_per_user},
    }
    if billing is not None:
        raw["billing"] = billing
    return Scenario.model_validate(raw)


# --- agreement with the workload model ----------------------------------------------------

def binomial_dau(sc: Scenario) -> tuple[float, float]:
    """Mean and variance of a day's distinct users in the workload's own user pools: with
    Poisson logins split uniformly over a site's N users, each logs in at least once with
    probability 1 - exp(-L/N), independently."""
    workload = Workload(sc, load_sites(sc), np.random.SeedSequence(0))
    pools = workload.users_per_site
    pop = sc.population
    p = -np.expm1(-pop.dau * pop.logins_per_user_per_day * workload.sites.weight / pools)
    return float((pools * p).sum()), float((pools * p * (1 - p)).sum())


def test_a_day_of_usage_agrees_with_a_day_of_workload_logins() -> None:
    """The usage model's day = the workload run for one day (duration 1d, diurnal shape).

    Expected logins: ``dau * logins_per_user_per_day`` in both (the diurnal shape has mean 1
    over a day). The workload's 12 simulated days (different seeds) and the usage model's 30
    days are independent samples of the same day: each mean is within 4 standard errors of the
    theory (Poisson logins, binomial distinct users) and the two mean DAUs within 1%.
    """
    sc = scenario(dau=4000)
    sites = load_sites(sc)
    logins, distinct = [], []
    for k in range(12):
        workload = Workload(sc, sites, np.random.SeedSequence([99, k]))
        users: set[int] = set()
        count = 0
        for chunk in workload.chunks():
            users.update(chunk.user)
            count += len(chunk)
        logins.append(count)
        distinct.append(len(users))
    usage = monthly_usage(sc, NOV)
    assert usage.logins is not None
    expected_logins = 4000 * 3.0
    dau_mean, dau_var = binomial_dau(sc)
    assert abs(dau_mean - 4000) < 4                      # the pools are sized for the DAU
    for day_logins, day_dau in ((np.array(logins), np.array(distinct)),
                                (usage.logins, usage.dau)):
        n = len(day_dau)
        assert abs(day_logins.mean() - expected_logins) < 4 * math.sqrt(expected_logins / n)
        assert abs(day_dau.mean() - dau_mean) < 4 * math.sqrt(dau_var / n)
    assert abs(np.mean(distinct) - usage.dau.mean()) / np.mean(distinct) < 0.01


def test_dau_is_binomial_over_each_sites_pool() -> None:
    """The usage model's DAU has the binomial mean and variance summed over the workload's
    pools. 30 days x 40 seeds of a flat month; mean within 4 standard errors, variance within
    15% (its relative sd is about 4% with 1,200 samples)."""
    sc = scenario(dau=2000, logins_per_user=2.5)
    mean, var = binomial_dau(sc)
    days = np.concatenate([monthly_usage(sc, NOV, seed=s).dau for s in range(40)])
    assert abs(days.mean() - mean) < 4 * math.sqrt(var / len(days))
    assert days.var(ddof=1) == pytest.approx(var, rel=0.15)


def test_repeated_logins_do_not_add_dau() -> None:
    usage = monthly_usage(scenario(dau=50_000, logins_per_user=6.0), NOV)
    assert usage.logins is not None
    assert (usage.logins >= usage.dau).all()
    assert usage.logins.sum() / usage.dau.sum() == pytest.approx(6.0, rel=0.01)
    # One login per user-day on average can still not create more users than the pools hold.
    one = monthly_usage(scenario(dau=50_000, logins_per_user=1.0), NOV)
    assert one.logins is not None and (one.logins >= one.dau).all()


def test_small_sites_draw_their_logins_exactly() -> None:
    """Sites with at most 100 active users get their logins drawn one by one; the mean logins
    per active user is the zero-truncated Poisson mean lambda / (1 - exp(-lambda))."""
    sc = scenario(dau=40, logins_per_user=3.0)
    usage = [monthly_usage(sc, NOV, seed=s) for s in range(30)]
    logins = np.concatenate([u.logins for u in usage if u.logins is not None])
    dau = np.concatenate([u.dau for u in usage])
    assert logins.mean() == pytest.approx(40 * 3.0, rel=0.02)
    assert (logins >= dau).all() and dau.min() > 0


# --- growth and the weekly pattern --------------------------------------------------------

def test_targets_follow_growth_and_the_weekly_pattern() -> None:
    pattern = [1.0, 1.0, 1.0, 1.0, 1.2, 0.6, 0.6]       # mean 0.9142857...
    sc = scenario(dau=10_000, billing={"dau_growth_per_day": 0.01, "weekly_pattern": pattern})
    targets = daily_dau_targets(sc, NOV)
    assert len(targets) == 30
    weekly = np.array(pattern) / np.mean(pattern)
    # 2026-11-01 is a Sunday (index 6), the 2nd a Monday.
    assert targets[0] == pytest.approx(10_000 * weekly[6])
    assert targets[1] == pytest.approx(10_000 * 1.01 * weekly[0])
    assert targets[29] == pytest.approx(10_000 * 1.01 ** 29 * weekly[0])
    flat = daily_dau_targets(scenario(dau=10_000, billing={"weekly_pattern": [3.0] * 7}), NOV)
    assert flat.tolist() == [10_000.0] * 30


def test_large_populations_follow_their_targets_closely() -> None:
    sc = scenario(dau=2_000_000, billing={"dau_growth_per_day": 0.03,
                                          "weekly_pattern": [1, 1, 1, 1, 1, 0.7, 0.7]})
    usage = monthly_usage(sc, "2026-02")
    assert usage.expected_dau is not None and len(usage.dau) == 28
    assert np.abs(usage.dau / usage.expected_dau - 1).max() < 0.005


def test_peak_dau_decides_the_bill() -> None:
    sc = scenario(dau=9_000, billing={"dau_growth_per_day": 0.02})
    usage = monthly_usage(sc, NOV)
    bill = usage.bill()
    assert bill == monthly_bill(usage.dau.tolist(), usage.groups.tolist(), NOV)
    line = bill.line("dau")
    assert line.peak_value == usage.dau.max()
    assert line.peak_day == usage.dates[int(usage.dau.argmax())]
    assert usage.bill("china-cny").currency == "CNY"


# --- groups ---------------------------------------------------------------------------------

def test_groups_are_a_net_count_that_never_goes_below_zero() -> None:
    grow = monthly_usage(scenario(billing={"groups": {"initial": 1000, "created_per_day": 50}}),
                         NOV)
    assert (np.diff(grow.groups) >= 0).all() and grow.groups[0] >= 1000
    assert grow.groups[-1] - 1000 == pytest.approx(30 * 50, abs=4 * math.sqrt(30 * 50))
    shrink = monthly_usage(scenario(billing={"groups": {"initial": 100, "created_per_day": 1,
                                                        "removed_per_day": 20}}), NOV)
    assert (shrink.groups >= 0).all() and shrink.groups[-1] < 20
    still = monthly_usage(scenario(billing={"groups": {"initial": 123}}), NOV)
    assert still.groups.tolist() == [123] * 30


def test_groups_crossing_100000_are_billed() -> None:
    usage = monthly_usage(scenario(billing={"groups": {"initial": 99_900,
                                                       "created_per_day": 100}}), NOV)
    assert usage.groups.max() > 100_000
    assert usage.bill().line("groups").billable_units == 1


# --- quotas -----------------------------------------------------------------------------------

def test_avchatrooms_stop_at_the_edition_limit_and_refusals_are_counted() -> None:
    rooms = {"initial": 45, "created_per_day": 4, "removed_per_day": 0}
    usage = monthly_usage(scenario(billing={"avchatrooms": rooms}), NOV)
    assert usage.avchatrooms is not None and usage.refused_avchatrooms is not None
    assert usage.avchatrooms.max() == 50 and usage.avchatrooms[-1] == 50
    assert (np.diff(usage.avchatrooms) >= 0).all()
    # Before the quota is full nothing is refused; once full, every creation is.
    full = int(np.argmax(usage.avchatrooms == 50))
    assert usage.refused_avchatrooms[:full].sum() == 0
    assert usage.refused_avchatrooms.sum() == pytest.approx(30 * 4 - 5, abs=4 * math.sqrt(120))
    events = usage.quota_events()
    assert events == {"edition": "professional", "avchatroom_limit": 50, "account_limit": None,
                      "refused_avchatrooms": int(usage.refused_avchatrooms.sum()),
                      "refused_trial_accounts": 0}


def test_disbanded_rooms_free_their_places() -> None:
    """Net count: create and disband at the same rate around the limit, and only the days'
    surplus is refused; an unlimited edition refuses nothing."""
    rooms = {"initial": 50, "created_per_day": 5, "removed_per_day": 5}
    usage = monthly_usage(scenario(billing={"avchatrooms": rooms}), NOV)
    assert usage.avchatrooms is not None and usage.refused_avchatrooms is not None
    assert usage.avchatrooms.max() <= 50 and usage.avchatrooms.min() > 20
    assert 0 < usage.refused_avchatrooms.sum() < 30 * 5
    flagship = monthly_usage(scenario(billing={"avchatrooms": rooms, "edition": "flagship",
                                               "price_list": "china-cny"}), NOV)
    assert flagship.refused_avchatrooms is not None and flagship.avchatrooms is not None
    assert flagship.refused_avchatrooms.sum() == 0 and flagship.avchatrooms.max() > 50


def test_trial_edition_accounts_stop_at_100() -> None:
    billing = {"edition": "trial", "trial_accounts": {"initial": 90, "created_per_day": 3,
                                                      "removed_per_day": 0}}
    usage = monthly_usage(scenario(billing=billing), NOV)
    assert usage.trial_accounts is not None and usage.refused_trial_accounts is not None
    assert usage.trial_accounts[-1] == 100
    created = usage.refused_trial_accounts.sum() + 10
    assert created == pytest.approx(90, abs=4 * math.sqrt(90))
    pro = monthly_usage(scenario(billing={**billing, "edition": "professional"}), NOV)
    assert pro.refused_trial_accounts is not None and pro.refused_trial_accounts.sum() == 0


def test_initial_counts_above_the_limit_are_an_error() -> None:
    sc = scenario(billing={"edition": "trial", "avchatrooms": {"initial": 11}})
    with pytest.raises(BillingError) as info:
        monthly_usage(sc, NOV, source="x.yaml")
    assert str(info.value) == ("x.yaml: billing.avchatrooms.initial: must be at most the trial "
                               "edition's limit of 10 AVChatRooms (price list "
                               "international-usd), got 11")
    sc = scenario(billing={"edition": "trial", "trial_accounts": {"initial": 101}})
    with pytest.raises(BillingError, match=r"billing\.trial_accounts\.initial: must be at "
                                           r"most the trial edition's limit of 100 accounts"):
        monthly_usage(sc, NOV)


# --- inputs, streams, determinism ---------------------------------------------------------------

def test_month_comes_from_the_argument_or_the_scenario() -> None:
    assert monthly_usage(scenario(billing={"month": "2027-02"})).month == "2027-02"
    assert monthly_usage(scenario(billing={"month": "2027-02"}), (2026, 12)).month == "2026-12"
    with pytest.raises(BillingError) as info:
        monthly_usage(scenario(), source="s.yaml")
    assert str(info.value) == ("s.yaml: billing.month: no month to bill: set billing.month, or "
                               "give a month (access-sim bill --month YYYY-MM)")
    with pytest.raises(BillingError) as info:
        parse_month("2026-13", where="--month")
    assert str(info.value) == "--month: expected a month as YYYY-MM, got '2026-13'"


def test_same_seed_same_usage_and_one_stream_per_input() -> None:
    base = {"groups": {"initial": 10, "created_per_day": 3, "removed_per_day": 1},
            "avchatrooms": {"created_per_day": 2, "removed_per_day": 1}}
    a = monthly_usage(scenario(billing=base), NOV)
    b = monthly_usage(scenario(billing=base), NOV)
    for name in ("dau", "logins", "groups", "avchatrooms", "refused_avchatrooms"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.dau, monthly_usage(scenario(billing=base), NOV, seed=4).dau)
    # Changing the group rates leaves DAU, logins and rooms untouched (separate streams).
    other = monthly_usage(scenario(billing={**base, "groups": {"created_per_day": 900}}), NOV)
    assert np.array_equal(a.dau, other.dau) and np.array_equal(a.logins, other.logins)
    assert np.array_equal(a.avchatrooms, other.avchatrooms)
    assert not np.array_equal(a.groups, other.groups)


def test_usage_is_immutable_and_reports_json_ready_data() -> None:
    usage = monthly_usage(scenario(billing={"month": NOV}))
    with pytest.raises(ValueError):
        usage.dau[0] = 1
    report = usage.report()
    assert report["total"] == str(usage.bill().total)
    assert report["quota_events"]["refused_avchatrooms"] == 0
    assert report["source"]["seed"] == 3 and report["source"]["kind"] == "scenario"
    assert report["daily"]["date"][0] == "2026-11-01" and len(report["daily"]["dau"]) == 30
    assert "daily" not in usage.report(daily=False)
    frame = usage.to_frame()
    assert list(frame.index.strftime("%Y-%m-%d"))[-1] == "2026-11-30"
    assert frame["dau"].tolist() == usage.dau.tolist()


def test_shipped_cost_scenario_hits_the_room_quota() -> None:
    """Regression check (seeded): the shipped cost scenario shows a fee on both items and
    refused AVChatRoom creations."""
    usage = monthly_usage(load_scenario(SCENARIOS / "cost-growth.yaml"))
    bill = usage.bill()
    assert usage.month == NOV
    assert bill.line("dau").billable_units >= 3 and bill.line("groups").billable_units == 1
    events = usage.quota_events()
    assert events is not None and events["refused_avchatrooms"] > 0


# --- CSV input ------------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.integers(0, 10**9), min_size=30, max_size=30),
       order=st.permutations(list(range(30))), extra_days=st.integers(0, 5))
def test_csv_round_trip_in_any_row_order(values: list[int], order: list[int],
                                         extra_days: int, tmp_path_factory) -> None:
    path: Path = tmp_path_factory.mktemp("csv") / "dau.csv"
    rows = [f"2026-11-{i + 1:02d},{values[i]}" for i in order]
    rows += [f"2026-12-{d + 1:02d},7" for d in range(extra_days)]   # other months are ignored
    path.write_text("date,dau\n" + "\n".join(rows) + "\n")
    assert read_daily_csv(path, "dau", NOV).tolist() == values


def test_usage_from_csv_has_no_quota_events(tmp_path: Path) -> None:
    dau = tmp_path / "dau.csv"
    dau.write_text("date,dau\n" + "".join(f"2026-11-{d:02d},{12_000 + d}\n"
                                          for d in range(1, 31)))
    usage = usage_from_csv(dau, None, NOV, load_price_list("overseas-cny"))
    assert isinstance(usage, Usage)
    assert usage.groups.tolist() == [0] * 30 and usage.quota_events() is None
    assert usage.bill().line("dau").peak_value == 12_030
    report = usage.report()
    assert report["quota_events"] is None and report["edition"] is None
    assert report["daily"].keys() == {"date", "dau", "groups"}


def test_docstring_examples() -> None:
    failures, tried = doctest.testmod(sim.billing.usage, optionflags=doctest.ELLIPSIS)
    assert tried >= 5 and failures == 0
