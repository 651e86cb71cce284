"""Billing and quota rules (issue 6): one test per sentence of the provider's rules.

The rules are quoted from DESIGN.md, "Billing and quotas". Amounts are exact (Decimal), so
these are tests against the documentation, not regression tests of seeded numbers.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import doctest
import json
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim.billing.usage
from sim.billing.price_lists import BUILTIN_PRICE_LISTS, PriceList, load_price_list
from sim.billing.quotas import AVChatRoomQuota, TrialAccounts
from sim.billing.rules import (
    Bill,
    dau_billable_units,
    deduction_date,
    group_billable_units,
    monthly_bill,
    net_group_counts,
)
from sim.errors import BillingError, QuotaError, SimError

USD = load_price_list("international-usd")
CNY_CHINA = load_price_list("china-cny")
CNY_OVERSEAS = load_price_list("overseas-cny")

NOV = "2026-11"          # 30 days
NO_GROUPS = [0] * 30


def dau_bill(daily_dau: list[int], month: str = NOV, price_list: PriceList = USD) -> Bill:
    days = calendar.monthrange(int(month[:4]), int(month[5:]))[1]
    return monthly_bill(daily_dau, [0] * days, month, price_list)


def groups_bill(daily_groups: list[int], month: str = NOV, price_list: PriceList = USD) -> Bill:
    days = calendar.monthrange(int(month[:4]), int(month[5:]))[1]
    return monthly_bill([0] * days, daily_groups, month, price_list)


def with_peak(base: int, peak: int, day_index: int, days: int = 30) -> list[int]:
    series = [base] * days
    series[day_index] = peak
    return series


# --- DAU -------------------------------------------------------------------------------------

def test_month_with_every_day_below_10000_costs_nothing() -> None:
    bill = dau_bill([9_999] * 30)
    assert bill.line("dau").billable_units == 0
    assert bill.line("dau").amount == Decimal("0.00")
    assert bill.total == Decimal("0.00")


def test_exactly_10000_dau_costs_nothing() -> None:
    bill = dau_bill([10_000] * 30)
    assert bill.line("dau").amount == Decimal("0.00")


def test_10001_on_one_day_is_billed_on_that_days_value_and_reports_the_day() -> None:
    bill = dau_bill(with_peak(5_000, 10_001, day_index=16))
    line = bill.line("dau")
    assert line.peak_value == 10_001
    assert line.peak_day == dt.date(2026, 11, 17)
    assert line.billable_units == 1          # older list: first 10,000 free, 1 DAU -> one unit
    assert line.amount == Decimal("149.99")


def test_the_peak_not_the_average_is_billed() -> None:
    series = with_peak(1_000, 35_000, day_index=3)     # average about 2,130
    line = dau_bill(series).line("dau")
    assert line.peak_value == 35_000
    assert line.billable_units == 3                    # (35,000 - 10,000) / 10,000 -> 2.5 -> 3
    assert line.amount == Decimal("449.97")


def test_part_units_are_rounded_up() -> None:
    assert dau_bill([20_000] * 30).line("dau").billable_units == 1
    assert dau_bill([20_001] * 30).line("dau").billable_units == 2


def test_a_tied_peak_reports_its_first_day() -> None:
    series = [12_000 if day in (4, 20) else 0 for day in range(30)]
    assert dau_bill(series).line("dau").peak_day == dt.date(2026, 11, 5)


def test_free_units_when_exceeded_zero_bills_the_whole_peak() -> None:
    newer = dataclasses.replace(USD, dau=dataclasses.replace(USD.dau, free_units_when_exceeded=0))
    assert dau_bill([10_000] * 30, price_list=newer).total == Decimal("0.00")
    assert dau_bill([10_001] * 30, price_list=newer).line("dau").billable_units == 2
    assert dau_billable_units(40_000, newer.dau) == 4
    assert dau_billable_units(40_000, USD.dau) == 3


def test_free_units_when_exceeded_defaults_to_the_older_behaviour(tmp_path: Path) -> None:
    text = (PRICE_LIST_YAML.replace("  free_units_when_exceeded: 10000\n", ""))
    assert "free_units_when_exceeded: 10000" not in text
    prices = load_price_list(write(tmp_path, text))
    assert prices.dau.free_units_when_exceeded == 10_000
    assert dau_billable_units(10_001, prices.dau) == 1


# --- Groups ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("groups", "units", "amount"), [
    (100_000, 0, "0.00"),
    (100_001, 1, "149.99"),
    (200_000, 1, "149.99"),
    (200_001, 2, "299.98"),
])
def test_groups_above_100000_are_billed_per_started_100000(groups: int, units: int,
                                                           amount: str) -> None:
    line = groups_bill([groups] * 30).line("groups")
    assert line.billable_units == units
    assert line.amount == Decimal(amount)
    assert group_billable_units(groups, USD.groups) == units


def test_groups_are_billed_on_the_months_peak() -> None:
    line = groups_bill(with_peak(50_000, 150_000, day_index=29)).line("groups")
    assert (line.peak_value, line.peak_day, line.billable_units) == (150_000,
                                                                     dt.date(2026, 11, 30), 1)


def test_disbanded_groups_do_not_count() -> None:
    created = [150_000] + [0] * 29
    disbanded = [60_000] + [0] * 29          # created and disbanded the same day
    daily = net_group_counts(created, disbanded)
    assert daily[0] == 90_000
    assert groups_bill(daily).total == Decimal("0.00")


def test_net_group_counts_refuse_disbanding_more_than_exist() -> None:
    with pytest.raises(BillingError) as info:
        net_group_counts([5, 0], [0, 6])
    assert str(info.value) == "disbanded[1]: disbands 6 groups but only 5 exist"


# --- Postpaid, deducted on the third day of the next month ------------------------------------

def test_deduction_is_on_the_third_day_of_the_next_month() -> None:
    assert dau_bill([0] * 30).deduction_date == dt.date(2026, 12, 3)


def test_december_is_deducted_on_3_january_of_the_next_year() -> None:
    bill = monthly_bill([0] * 31, [0] * 31, "2026-12")
    assert bill.deduction_date == dt.date(2027, 1, 3)
    assert deduction_date(dt.date(2026, 12, 31)) == dt.date(2027, 1, 3)


@pytest.mark.parametrize("month", ["2026-11", dt.date(2026, 11, 17), (2026, 11)])
def test_month_accepts_a_string_a_date_or_a_pair(month: object) -> None:
    bill = monthly_bill([0] * 30, [0] * 30, month)  # type: ignore[arg-type]
    assert bill.month == "2026-11"


@pytest.mark.parametrize("month", ["2026-13", "2026/11", "26-11", (2026, 0), 202611, None])
def test_a_malformed_month_is_an_error(month: object) -> None:
    with pytest.raises(BillingError) as info:
        monthly_bill([0] * 30, [0] * 30, month)  # type: ignore[arg-type]
    assert str(info.value) == ("month: expected 'YYYY-MM', a datetime.date or a (year, month) "
                               f"pair, got {month!r}")


# --- One value per day of the calendar month ------------------------------------------------

def test_february_of_a_leap_year_has_29_days() -> None:
    with pytest.raises(BillingError):
        monthly_bill([0] * 28, [0] * 28, "2028-02")
    assert monthly_bill([0] * 29, [0] * 29, "2028-02").deduction_date == dt.date(2028, 3, 3)


def test_february_of_a_common_year_has_28_days() -> None:
    assert monthly_bill([0] * 28, [0] * 28, "2027-02").month == "2027-02"
    with pytest.raises(BillingError):
        monthly_bill([0] * 29, [0] * 29, "2027-02")


def test_wrong_length_message_is_exact() -> None:
    with pytest.raises(BillingError) as info:
        monthly_bill([0] * 28, [0] * 29, "2028-02")
    assert str(info.value) == "daily_dau: expected 29 values (one per day of 2028-02), got 28"
    with pytest.raises(BillingError) as info:
        monthly_bill([0] * 29, [0] * 31, "2028-02")
    assert str(info.value) == "daily_groups: expected 29 values (one per day of 2028-02), got 31"


@pytest.mark.parametrize("bad", [-1, 1.5, "12", True, None, float("nan")])
def test_a_value_that_is_not_a_whole_number_is_an_error(bad: object) -> None:
    series: list[object] = [0] * 30
    series[6] = bad
    with pytest.raises(BillingError) as info:
        monthly_bill(series, NO_GROUPS, NOV)  # type: ignore[arg-type]
    assert str(info.value) == f"daily_dau[6]: must be a whole number >= 0, got {bad!r}"


def test_whole_floats_and_numpy_integers_are_accepted() -> None:
    np = pytest.importorskip("numpy")
    bill = monthly_bill(np.full(30, 12_000, dtype=np.int64),
                        [100_001.0] * 30, NOV)  # type: ignore[list-item]
    assert bill.line("dau").peak_value == 12_000
    assert bill.line("groups").peak_value == 100_001


# --- The bill as data and as text -----------------------------------------------------------

def test_bill_is_frozen_and_sums_its_lines() -> None:
    bill = monthly_bill(with_peak(0, 40_000, 13), [250_000] * 30, NOV)
    with pytest.raises(dataclasses.FrozenInstanceError):
        bill.total = Decimal(0)  # type: ignore[misc]
    assert [line.item for line in bill.lines] == ["dau", "groups"]
    assert bill.total == sum(line.amount for line in bill.lines) == Decimal("749.95")
    assert bill.currency == "USD"


def test_to_dict_is_json_ready_with_money_as_strings() -> None:
    bill = monthly_bill(with_peak(0, 40_000, 13), [250_000] * 30, NOV, CNY_CHINA)
    data = json.loads(json.dumps(bill.to_dict()))
    assert data == {
        "month": "2026-11",
        "price_list": "china-cny",
        "currency": "CNY",
        "lines": [
            {"item": "dau", "peak_value": 40_000, "peak_day": "2026-11-14", "billable_units": 4,
             "unit_size": 10_000, "unit_price": "1000.00", "amount": "4000.00"},
            {"item": "groups", "peak_value": 250_000, "peak_day": "2026-11-01",
             "billable_units": 2, "unit_size": 100_000, "unit_price": "1000.00",
             "amount": "2000.00"},
        ],
        "total": "6000.00",
        "deduction_date": "2026-12-03",
    }


def test_format_table_shows_every_line_and_the_total() -> None:
    text = monthly_bill(with_peak(0, 40_000, 13), NO_GROUPS, NOV).format_table()
    assert text.splitlines()[0] == "Bill for 2026-11 (price list international-usd, amounts in USD)"
    assert "2026-11-14" in text and "449.97" in text
    assert text.splitlines()[-2].split() == ["total", "449.97"]
    assert text.splitlines()[-1] == "Deducted on 2026-12-03."


# --- Price lists ------------------------------------------------------------------------------

def test_the_default_price_list_is_the_international_usd_list() -> None:
    assert monthly_bill([20_001] * 30, NO_GROUPS, NOV) == monthly_bill([20_001] * 30, NO_GROUPS,
                                                                       NOV, USD)
    assert USD.dau.unit_price == USD.groups.unit_price == Decimal("149.99")


@pytest.mark.parametrize(("prices", "unit_price"), [(CNY_CHINA, "1000.00"),
                                                     (CNY_OVERSEAS, "3000.00")])
def test_cny_lists_give_the_stated_prices(prices: PriceList, unit_price: str) -> None:
    price = Decimal(unit_price)
    assert prices.currency == "CNY"
    # per 10,000 DAU: the newer rule bills the whole peak once a day exceeds 10,000
    assert dau_bill([10_000] * 30, price_list=prices).total == 0
    assert dau_bill([20_000] * 30, price_list=prices).total == 2 * price
    assert dau_bill([20_001] * 30, price_list=prices).total == 3 * price
    # per 100,000 groups above 100,000
    assert groups_bill([100_000] * 30, price_list=prices).total == 0
    assert groups_bill([100_001] * 30, price_list=prices).total == price
    assert groups_bill([200_001] * 30, price_list=prices).total == 2 * price


def test_editions_and_their_quotas() -> None:
    for prices in (USD, CNY_CHINA, CNY_OVERSEAS):
        assert [e.name for e in prices.editions] == ["trial", "professional", "flagship"]
        assert prices.edition("trial").account_limit == 100
        assert prices.edition("trial").avchatroom_limit == 10
        assert prices.edition("professional").avchatroom_limit == 50
    assert USD.edition("flagship").avchatroom_limit == 50
    assert CNY_CHINA.edition("flagship").avchatroom_limit is None      # unlimited
    assert CNY_CHINA.edition("flagship").avchatroom_quota().remaining is None
    assert USD.edition("trial").account_quota().remaining == 100
    with pytest.raises(BillingError) as info:
        USD.edition("enterprise")
    assert str(info.value) == "edition: unknown edition 'enterprise'; editions: trial, " \
                              "professional, flagship"


def test_every_builtin_price_list_loads_by_name() -> None:
    for name in BUILTIN_PRICE_LISTS:
        assert load_price_list(name).name == name


PRICE_LIST_YAML = textwrap.dedent("""\
    name: test-list
    currency: USD
    dau:
      free_up_to: 10000
      free_units_when_exceeded: 10000
      unit_size: 10000
      unit_price: 149.99
    groups:
      free_up_to: 100000
      unit_size: 100000
      unit_price: 149.99
    editions:
      trial: {account_limit: 100, avchatroom_limit: 10}
      professional: {account_limit: null, avchatroom_limit: 50}
      flagship: {account_limit: null, avchatroom_limit: null}
    """)


def write(tmp_path: Path, text: str, name: str = "prices.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_user_price_list_replaces_the_default(tmp_path: Path) -> None:
    path = write(tmp_path, PRICE_LIST_YAML.replace("unit_price: 149.99\ngroups",
                                                   "unit_price: '0.10'\ngroups"))
    prices = load_price_list(path)
    assert prices.dau.unit_price == Decimal("0.10")
    assert prices.groups.free_units_when_exceeded == 100_000      # defaults to free_up_to
    assert monthly_bill([20_001] * 30, NO_GROUPS, NOV, path).total == Decimal("0.20")
    assert monthly_bill([20_001] * 30, NO_GROUPS, NOV, str(path)).total == Decimal("0.20")


def test_non_positive_price_message_names_file_and_key(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, PRICE_LIST_YAML.replace("unit_price: 149.99\ngroups",
                                            "unit_price: -1\ngroups"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BillingError) as info:
        load_price_list("prices.yaml")
    assert str(info.value) == "prices.yaml: dau.unit_price: must be > 0, got -1"
    assert (info.value.file, info.value.path) == ("prices.yaml", "dau.unit_price")


@pytest.mark.parametrize(("old", "new", "message"), [
    ("  unit_price: 149.99\neditions", "  unit_price: 0\neditions",
     "groups.unit_price: must be > 0, got 0"),
    ("  unit_price: 149.99\ngroups", "  unit_price: '-1'\ngroups",
     "dau.unit_price: must be > 0, got '-1'"),
    ("  unit_price: 149.99\ngroups", "  unit_price: abc\ngroups",
     "dau.unit_price: expected a number, got 'abc'"),
    ("  unit_price: 149.99\ngroups", "  unit_price: true\ngroups",
     "dau.unit_price: expected a number, got True"),
    ("  unit_price: 149.99\ngroups", "  unit_price: .inf\ngroups",
     "dau.unit_price: expected a finite number, got inf"),
    ("  unit_price: 149.99\ngroups", "  unit_prize: 149.99\ngroups",
     "dau.unit_prize: unknown key (did you mean 'unit_price'?)"),
    ("  unit_price: 149.99\ngroups", "  colour: red\ngroups",
     ("dau.colour: unknown key (expected one of: free_up_to, free_units_when_exceeded, "
      "unit_size, unit_price)")),
    ("  unit_price: 149.99\ngroups", "groups",
     "dau.unit_price: required key is missing"),
    ("currency: USD\n", "curency: USD\n", "curency: unknown key (did you mean 'currency'?)"),
    ("currency: USD\n", "", "currency: required key is missing"),
    ("currency: USD\n", "currency: dollars\n",
     "currency: must be a 3-letter currency code such as 'USD', got 'dollars'"),
    ("currency: USD\n", "currency: 840\n",
     "currency: must be a 3-letter currency code such as 'USD', got 840"),
    ("name: test-list\n", "name: null\n", "name: must be a non-empty string, got None"),
    ("  unit_size: 10000\n", "  unit_size: 0\n", "dau.unit_size: must be >= 1, got 0"),
    ("  unit_size: 10000\n", "  unit_size: 1.5\n",
     "dau.unit_size: expected an integer, got 1.5"),
    ("  unit_size: 10000\n", "  unit_size: '10000'\n",
     "dau.unit_size: expected an integer, got '10000'"),
    ("  unit_size: 10000\n", "  unit_size: true\n", "dau.unit_size: expected a number, got True"),
    ("  free_up_to: 10000\n", "  free_up_to: -5\n", "dau.free_up_to: must be >= 0, got -5"),
    ("  free_units_when_exceeded: 10000\n", "  free_units_when_exceeded: 20000\n",
     "dau.free_units_when_exceeded: must be at most free_up_to (10000), got 20000"),
    ("  free_units_when_exceeded: 10000\n", "  free_units_when_exceeded: null\n",
     "dau.free_units_when_exceeded: expected an integer, got None"),
    ("  trial: {account_limit: 100,", "  trial: {account_limit: -1,",
     "editions.trial.account_limit: must be >= 0 or null (unlimited), got -1"),
    ("  trial: {account_limit: 100,", "  trial: {account_limit: '100',",
     "editions.trial.account_limit: expected an integer or null (unlimited), got '100'"),
    ("  flagship: {account_limit: null, avchatroom_limit: null}\n", "",
     "editions.flagship: required key is missing"),
    ("  flagship:", "  flagshp:", "editions.flagshp: unknown key (did you mean 'flagship'?)"),
    ("editions:\n", "editions:\n  enterprise: {account_limit: 1, avchatroom_limit: 1}\n",
     "editions.enterprise: unknown key (expected one of: trial, professional, flagship)"),
    ("  trial: {account_limit: 100, avchatroom_limit: 10}",
     "  trial: {account_limit: 100}", "editions.trial.avchatroom_limit: required key is missing"),
    ("groups:\n  free_up_to: 100000\n  unit_size: 100000\n  unit_price: 149.99\n",
     "groups: [1, 2]\n", "groups: expected a mapping, got [1, 2]"),
])
def test_price_list_errors_have_exact_messages(tmp_path: Path, old: str, new: str,
                                               message: str) -> None:
    text = PRICE_LIST_YAML.replace(old, new, 1)
    assert text != PRICE_LIST_YAML, f"test setup: {old!r} not found"
    path = write(tmp_path, text)
    with pytest.raises(BillingError) as info:
        load_price_list(path)
    assert str(info.value) == f"{path}: {message}"


def test_an_empty_price_list_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    with pytest.raises(BillingError) as info:
        load_price_list(path)
    assert str(info.value) == f"{path}: empty price list file"


def test_invalid_yaml_is_an_error_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "currency: USD\ndau: [unclosed\n")
    with pytest.raises(BillingError) as info:
        load_price_list(path)
    assert str(info.value).startswith(f"{path}: invalid YAML: ")
    assert "line 3" in str(info.value)


def test_a_missing_file_and_an_unknown_name_are_errors(tmp_path: Path) -> None:
    with pytest.raises(BillingError) as info:
        load_price_list(tmp_path / "nope.yaml")
    assert str(info.value) == f"{tmp_path / 'nope.yaml'}: price list file not found"
    with pytest.raises(BillingError) as info:
        load_price_list("japan-jpy")
    assert str(info.value) == ("no built-in price list named 'japan-jpy'; built-in lists: "
                               "china-cny, international-usd, overseas-cny "
                               "(or give the path of a .yaml file)")


def test_a_price_list_that_is_not_a_mapping_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "- currency: USD\n")
    with pytest.raises(BillingError) as info:
        load_price_list(path)
    assert str(info.value) == f"{path}: expected a mapping at the top level, got list"


def test_name_and_source_are_optional_and_stripped(tmp_path: Path) -> None:
    text = PRICE_LIST_YAML.replace("name: test-list\n", "source: '  from us  '\n")
    prices = load_price_list(write(tmp_path, text, "mine.yaml"))
    assert (prices.name, prices.source) == ("mine", "from us")
    assert load_price_list(write(tmp_path, PRICE_LIST_YAML)).source == ""


def test_yaml_tags_are_not_executed(tmp_path: Path) -> None:
    path = write(tmp_path, "currency: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(BillingError, match="invalid YAML"):
        load_price_list(path)


def test_docstring_examples() -> None:
    for module in (sim.billing.price_lists, sim.billing.rules, sim.billing.quotas):
        failures, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert tried > 0 and failures == 0, module.__name__


def test_the_package_re_exports_the_public_names() -> None:
    modules = (sim.billing.price_lists, sim.billing.rules, sim.billing.quotas, sim.billing.usage)
    for module in modules:
        for name in module.__all__:
            assert getattr(sim.billing, name) is getattr(module, name), name
    assert sorted(sim.billing.__all__) == sorted(n for m in modules for n in m.__all__)


# --- AVChatRooms ------------------------------------------------------------------------------

def test_3_rooms_created_and_3_disbanded_leave_50_available() -> None:
    quota = AVChatRoomQuota(limit=50)
    rooms = [quota.create() for _ in range(3)]
    for room in rooms:
        quota.disband(room)
    assert quota.count == 0
    assert quota.remaining == 50
    for _ in range(50):
        quota.create()
    assert quota.remaining == 0
    assert quota.refused == 0


def test_an_empty_room_that_was_not_disbanded_still_counts() -> None:
    quota = AVChatRoomQuota(limit=2)
    lobby = quota.create("lobby")
    quota.join(lobby, "alice")
    quota.leave(lobby, "alice")
    assert quota.members(lobby) == frozenset()
    quota.create()
    assert quota.count == 2 and quota.remaining == 0
    with pytest.raises(QuotaError) as info:
        quota.create()
    assert str(info.value) == ("AVChatRoom limit reached: 2 of 2 rooms exist (empty rooms count "
                               "until disbanded); disband a room before creating another")
    assert quota.refused == 1


def test_creating_beyond_the_limit_is_refused_and_counted() -> None:
    quota = AVChatRoomQuota()              # default limit 50
    for _ in range(50):
        quota.create()
    for _ in range(3):
        with pytest.raises(QuotaError):
            quota.create()
    assert (quota.count, quota.remaining, quota.refused) == (50, 0, 3)
    assert isinstance(QuotaError("x"), SimError)


def test_disbanding_a_room_that_does_not_exist_is_an_error() -> None:
    quota = AVChatRoomQuota()
    room = quota.create()
    quota.disband(room)
    with pytest.raises(QuotaError) as info:
        quota.disband(room)
    assert str(info.value) == (f"cannot disband AVChatRoom {room!r}: no such room "
                               "(never created or already disbanded)")
    with pytest.raises(QuotaError):
        quota.disband("never-made")
    assert quota.refused == 0


def test_a_room_id_cannot_exist_twice() -> None:
    quota = AVChatRoomQuota()
    quota.create("lobby")
    with pytest.raises(QuotaError, match="'lobby' already exists"):
        quota.create("lobby")


def test_unlimited_rooms() -> None:
    quota = AVChatRoomQuota(limit=None)
    for _ in range(500):
        quota.create()
    assert (quota.count, quota.remaining, quota.refused) == (500, None, 0)


def test_trial_edition_has_10_rooms() -> None:
    quota = USD.edition("trial").avchatroom_quota()
    for _ in range(10):
        quota.create()
    with pytest.raises(QuotaError):
        quota.create()


@pytest.mark.parametrize("limit", [-1, 1.5, True])
def test_a_bad_limit_is_a_value_error(limit: object) -> None:
    with pytest.raises(ValueError):
        AVChatRoomQuota(limit=limit)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        TrialAccounts(limit=limit)  # type: ignore[arg-type]


# --- Trial accounts ---------------------------------------------------------------------------

def test_the_101st_trial_account_is_refused() -> None:
    accounts = TrialAccounts()
    for number in range(100):
        accounts.create(f"user-{number}")
    with pytest.raises(QuotaError) as info:
        accounts.create("user-100")
    assert str(info.value) == ("trial edition account limit reached: 100 of 100 accounts used; "
                               "cannot create 'user-100' (delete an account to free a place)")
    assert (accounts.count, accounts.remaining, accounts.refused) == (100, 0, 1)
    assert "user-100" not in accounts


def test_a_deleted_accounts_data_is_gone_when_re_created() -> None:
    accounts = TrialAccounts()
    alice = accounts.create("alice")
    alice.data["friends"] = ["bob"]
    accounts.delete("alice")
    assert alice.deleted and alice.data == {}          # even an old handle shows nothing
    with pytest.raises(QuotaError, match="no account 'alice'"):
        accounts.get("alice")
    again = accounts.create("alice")
    assert again is not alice
    assert again.data == {} and again.generation == 2 and not again.deleted
    assert accounts.get("alice") is again


def test_deleting_an_account_that_does_not_exist_is_an_error() -> None:
    accounts = TrialAccounts()
    with pytest.raises(QuotaError) as info:
        accounts.delete("ghost")
    assert str(info.value) == "cannot delete account 'ghost': no such account"


def test_deleted_accounts_free_a_slot_by_default() -> None:
    accounts = TrialAccounts(limit=100)
    for number in range(100):
        accounts.create(f"user-{number}")
    accounts.delete("user-0")
    assert accounts.remaining == 1
    accounts.create("user-100")
    assert accounts.count == 100


def test_deleted_accounts_can_be_made_to_keep_their_slot() -> None:
    accounts = TrialAccounts(limit=2, deleted_accounts_free_slots=False)
    accounts.create("a")
    accounts.delete("a")
    accounts.create("b")
    assert (accounts.count, accounts.used, accounts.remaining) == (1, 2, 0)
    with pytest.raises(QuotaError, match="deleted accounts still count"):
        accounts.create("a")
    assert accounts.refused == 1


def test_an_existing_account_cannot_be_created_twice() -> None:
    accounts = TrialAccounts()
    accounts.create("alice")
    with pytest.raises(QuotaError, match="'alice' already exists"):
        accounts.create("alice")
    assert accounts.refused == 0


# --- Properties -------------------------------------------------------------------------------

daily_values = st.integers(min_value=0, max_value=3_000_000)
month_of_30 = st.lists(daily_values, min_size=30, max_size=30)
price_lists = st.sampled_from([USD, CNY_CHINA, CNY_OVERSEAS])


@settings(max_examples=200, deadline=None)
@given(dau=month_of_30, groups=month_of_30, day=st.integers(0, 29),
       extra=st.integers(0, 1_000_000), prices=price_lists)
def test_bill_is_monotone_in_usage(dau: list[int], groups: list[int], day: int, extra: int,
                                   prices: PriceList) -> None:
    before = monthly_bill(dau, groups, NOV, prices)
    more_dau = list(dau)
    more_dau[day] += extra
    more_groups = list(groups)
    more_groups[day] += extra
    assert monthly_bill(more_dau, groups, NOV, prices).total >= before.total
    assert monthly_bill(dau, more_groups, NOV, prices).total >= before.total


@settings(max_examples=200, deadline=None)
@given(dau=month_of_30, groups=month_of_30, prices=price_lists, data=st.data())
def test_bill_only_depends_on_the_maximum_of_each_series(dau: list[int], groups: list[int],
                                                         prices: PriceList,
                                                         data: st.DataObject) -> None:
    bill = monthly_bill(dau, groups, NOV, prices)
    shuffled = data.draw(st.permutations(dau))
    flat = monthly_bill([max(dau)] * 30, [max(groups)] * 30, NOV, prices)
    assert monthly_bill(shuffled, groups, NOV, prices).total == bill.total
    assert flat.total == bill.total
    for line in bill.lines:
        assert line.amount == line.unit_price * line.billable_units      # exact, in cents
        assert line.amount == line.amount.quantize(Decimal("0.01"))
    assert bill.total == sum(line.amount for line in bill.lines)


@given(peak=st.integers(0, 10_000_000), prices=price_lists)
def test_units_cover_the_billable_usage_with_less_than_one_unit_to_spare(peak: int,
                                                                         prices: PriceList
                                                                         ) -> None:
    rule = prices.dau
    units = dau_billable_units(peak, rule)
    if peak <= rule.free_up_to:
        assert units == 0
    else:
        billable = peak - rule.free_units_when_exceeded
        assert (units - 1) * rule.unit_size < billable <= units * rule.unit_size
