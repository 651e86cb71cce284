"""The provider's billing rules: the monthly bill on peak DAU and peak net group count.

Everything here follows the provider's documentation (DESIGN.md, "Billing and quotas"):

- Fees beyond the free quota of the professional or flagship package are based on **DAU** and
  **peak group count**, each at its **peak within the calendar month**, postpaid, and deducted
  on the **third day of the next month** (:func:`monthly_bill`, :func:`deduction_date`).
- DAU: no fee if every day's DAU is at most 10,000; otherwise the month's highest DAU is billed
  per 10,000, part-units rounded up (:func:`dau_billable_units`). Whether the first 10,000 stay
  free once the threshold is exceeded depends on the price list (``dau.free_units_when_exceeded``).
- Groups: the count is net (disbanded groups do not count); above 100,000, per 100,000 of the
  excess, a part billed as a whole 100,000 (:func:`group_billable_units`, :func:`net_group_counts`).

The prices come from a price list (:mod:`sim.billing.price_lists`); the AVChatRoom and
trial-account quotas are in :mod:`sim.billing.quotas`.

Money is :class:`decimal.Decimal` throughout; every amount is rounded to cents (half up), and
JSON output (:meth:`Bill.to_dict`) writes money as strings such as ``"149.99"`` so that no binary
floating point ever touches an amount (``Decimal(s)`` reads them back exactly).

Errors: malformed input (usage series, month, price list) raises
:class:`~sim.errors.BillingError`, located as ``file: key.path: message``.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import numbers
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeAlias

from sim.billing.price_lists import PriceListLike, UsagePrice, resolve_price_list
from sim.config.limits import month_problem
from sim.config.messages import shown_value
from sim.errors import BillingError

__all__ = [
    "Bill",
    "BillLine",
    "MonthLike",
    "dau_billable_units",
    "deduction_date",
    "group_billable_units",
    "monthly_bill",
    "net_group_counts",
]

CENT = Decimal("0.01")

MonthLike: TypeAlias = str | dt.date | tuple[int, int]
"""A month: ``"YYYY-MM"``, any date in it, or a ``(year, month)`` pair."""


# --------------------------------------------------------------------------------------------
# The rules
# --------------------------------------------------------------------------------------------

def _units_over_allowance(peak: int, rule: UsagePrice) -> int:
    if peak <= rule.free_up_to:
        return 0
    billable = peak - rule.free_units_when_exceeded
    return -(-billable // rule.unit_size)          # ceiling division on integers


def dau_billable_units(peak_dau: int, rule: UsagePrice) -> int:
    """Billing units for a month whose highest daily DAU is `peak_dau`.

    The provider's wording: "If every day's DAU in a month is below 10,000, there is no DAU
    fee; if any day exceeds 10,000, the month is charged on its highest DAU (older price list:
    first 10,000 free, then 149.99 USD per 10,000 DAU, part-units rounded up). A DAU is one user
    who logged in that day; repeated logins the same day do not add to it."

    A day of exactly 10,000 (``rule.free_up_to``) does not exceed it, so costs nothing. Above it,
    ``rule.free_units_when_exceeded`` DAU are deducted from the peak (10,000 in the older list,
    0 under the newer rule) and the rest is billed per ``rule.unit_size``, rounded up.

    Parameters
    ----------
    peak_dau : int
        The month's highest daily DAU.
    rule : UsagePrice
        The price list's ``dau`` section.

    Returns
    -------
    int
        Whole billing units, 0 when no fee is due.

    Examples
    --------
    >>> older = UsagePrice(free_up_to=10_000, free_units_when_exceeded=10_000,
    ...                    unit_size=10_000, unit_price=Decimal("149.99"))
    >>> [dau_billable_units(n, older) for n in (9_999, 10_000, 10_001, 20_000, 20_001)]
    [0, 0, 1, 1, 2]
    >>> newer = UsagePrice(free_up_to=10_000, free_units_when_exceeded=0,
    ...                    unit_size=10_000, unit_price=Decimal("1000"))
    >>> [dau_billable_units(n, newer) for n in (10_000, 10_001, 20_000, 20_001)]
    [0, 2, 2, 3]
    """
    return _units_over_allowance(peak_dau, rule)


def group_billable_units(peak_groups: int, rule: UsagePrice) -> int:
    """Billing units for a month whose peak net group count is `peak_groups`.

    The provider's wording: "Groups: unrestricted in number; the cumulative group count is net
    (disbanded groups do not count). Above 100,000 groups, 149.99 USD/month per 100,000 groups,
    and a part below 100,000 is billed as a full 100,000." The count billed is the month's peak.

    Parameters
    ----------
    peak_groups : int
        The month's highest daily net group count (see :func:`net_group_counts`).
    rule : UsagePrice
        The price list's ``groups`` section.

    Returns
    -------
    int
        Whole billing units, 0 when no fee is due.

    Examples
    --------
    >>> rule = UsagePrice(free_up_to=100_000, free_units_when_exceeded=100_000,
    ...                   unit_size=100_000, unit_price=Decimal("149.99"))
    >>> [group_billable_units(n, rule) for n in (100_000, 100_001, 200_000, 200_001)]
    [0, 1, 1, 2]
    """
    return _units_over_allowance(peak_groups, rule)


def net_group_counts(created: Iterable[int], disbanded: Iterable[int], *,
                     start: int = 0) -> list[int]:
    """Net group count at the end of each day: groups created minus groups disbanded.

    "The cumulative group count is net (disbanded groups do not count)." Feed the result to
    :func:`monthly_bill` as `daily_groups`.

    Parameters
    ----------
    created, disbanded : iterable of int
        Groups created and disbanded on each day; the same length.
    start : int
        Groups that existed before the first day.

    Returns
    -------
    list of int

    Raises
    ------
    BillingError
        If the lengths differ, a value is negative, or a day disbands more groups than exist.

    Examples
    --------
    >>> net_group_counts([150_000, 0, 10], [0, 60_000, 0])
    [150000, 90000, 90010]
    """
    made, gone = list(created), list(disbanded)
    if len(made) != len(gone):
        raise BillingError(f"created has {len(made)} days but disbanded has {len(gone)}",
                           path="disbanded")
    count = _whole_number(start, "start")
    counts = []
    for day, (plus, minus) in enumerate(zip(made, gone)):
        count += _whole_number(plus, f"created[{day}]")
        count -= _whole_number(minus, f"disbanded[{day}]")
        if count < 0:
            raise BillingError(f"disbands {minus} groups but only {count + minus} exist",
                               path=f"disbanded[{day}]")
        counts.append(count)
    return counts


def deduction_date(month: MonthLike) -> dt.date:
    """The day a month's postpaid fees are deducted: "the third day of the next month".

    Parameters
    ----------
    month : str, datetime.date or (int, int)
        ``"YYYY-MM"``, any date in the month, or a ``(year, month)`` pair.

    Returns
    -------
    datetime.date

    Raises
    ------
    BillingError
        If `month` is malformed.

    Examples
    --------
    >>> deduction_date("2026-11")
    datetime.date(2026, 12, 3)
    >>> deduction_date((2026, 12))
    datetime.date(2027, 1, 3)
    """
    year, number = _parse_month(month)
    return dt.date(year + number // 12, number % 12 + 1, 3)


def _parse_month(month: MonthLike) -> tuple[int, int]:
    expected = "expected 'YYYY-MM', a datetime.date or a (year, month) pair"
    pair: tuple[int, int] | None = None
    if isinstance(month, dt.date):
        pair = month.year, month.month
    elif isinstance(month, str):
        match = re.fullmatch(r"(\d{4})-(\d{2})", month.strip()[:16])
        if match and 1 <= int(match[2]) <= 12:
            pair = int(match[1]), int(match[2])
    elif (isinstance(month, tuple) and len(month) == 2
          and all(isinstance(x, int) and not isinstance(x, bool) for x in month)
          and 1 <= month[0] <= 9999 and 1 <= month[1] <= 12):
        pair = month[0], month[1]
    if pair is None:
        raise BillingError(f"{expected}, got {shown_value(month)}", path="month")
    problem = month_problem(*pair)
    if problem is not None:
        raise BillingError(f"{problem}, got {shown_value(month)}", path="month")
    return pair


def _whole_number(value: Any, path: str) -> int:
    whole = (isinstance(value, numbers.Integral)
             or (isinstance(value, numbers.Real) and math.isfinite(float(value))
                 and float(value).is_integer()))
    if isinstance(value, bool) or not whole or value < 0:
        raise BillingError(f"must be a whole number >= 0, got {value!r}", path=path)
    return int(value)


def _daily_series(values: Iterable[Any], name: str, year: int, month: int) -> tuple[int, ...]:
    series = tuple(values)
    days = calendar.monthrange(year, month)[1]
    if len(series) != days:
        raise BillingError(f"expected {days} values (one per day of {year:04d}-{month:02d}), "
                           f"got {len(series)}", path=name)
    return tuple(_whole_number(v, f"{name}[{i}]") for i, v in enumerate(series))


# --------------------------------------------------------------------------------------------
# The bill
# --------------------------------------------------------------------------------------------

def _money(amount: Decimal) -> str:
    """Money as a string with at least two decimals: 1000 -> '1000.00', 0.005 -> '0.005'."""
    cents = amount.quantize(CENT)
    return str(cents) if cents == amount else str(amount)


def _money_display(amount: Decimal) -> str:
    """Money for people: thousands separated, e.g. 372000 -> '372,000.00'."""
    cents = amount.quantize(CENT)
    return f"{cents:,.2f}" if cents == amount else f"{amount:,}"


@dataclass(frozen=True)
class BillLine:
    """One charged item of a :class:`Bill`.

    Attributes
    ----------
    item : str
        ``"dau"`` or ``"groups"``.
    peak_value : int
        The month's highest daily value.
    peak_day : datetime.date
        The first day of the month on which `peak_value` was reached.
    billable_units : int
        Units charged (0 when the peak is within the free allowance).
    unit_size : int
        DAU or groups per unit.
    unit_price : decimal.Decimal
        Price of one unit, in the bill's currency.
    amount : decimal.Decimal
        ``billable_units * unit_price`` rounded to cents (half up).
    """

    item: str
    peak_value: int
    peak_day: dt.date
    billable_units: int
    unit_size: int
    unit_price: Decimal
    amount: Decimal

    def to_dict(self) -> dict[str, Any]:
        """The line as plain JSON types.

        Returns
        -------
        dict
            Dates in ISO format, money as decimal strings (see :meth:`Bill.to_dict`).
        """
        return {
            "item": self.item,
            "peak_value": self.peak_value,
            "peak_day": self.peak_day.isoformat(),
            "billable_units": self.billable_units,
            "unit_size": self.unit_size,
            "unit_price": _money(self.unit_price),
            "amount": _money(self.amount),
        }


_ITEM_LABELS = {"dau": "DAU", "groups": "groups"}


@dataclass(frozen=True)
class Bill:
    """A month's postpaid bill: one :class:`BillLine` per item, the total and when it is paid.

    Attributes
    ----------
    month : str
        ``"YYYY-MM"``.
    price_list : str
        Name of the price list used.
    currency : str
        Currency of every amount.
    lines : tuple of BillLine
        DAU first, then groups.
    total : decimal.Decimal
        Sum of the lines' amounts.
    deduction_date : datetime.date
        The third day of the next month.
    """

    month: str
    price_list: str
    currency: str
    lines: tuple[BillLine, ...]
    total: Decimal
    deduction_date: dt.date

    def line(self, item: str) -> BillLine:
        """The line for one item.

        Parameters
        ----------
        item : str
            ``"dau"`` or ``"groups"``.

        Returns
        -------
        BillLine

        Raises
        ------
        KeyError
            If the bill has no such line.
        """
        for line in self.lines:
            if line.item == item:
                return line
        raise KeyError(item)

    def to_dict(self) -> dict[str, Any]:
        """The bill as plain JSON types.

        Money (``unit_price``, ``amount``, ``total``) is written as decimal **strings** with at
        least two decimals (``"149.99"``, ``"1000.00"``), never floats, so amounts survive a
        JSON round trip exactly; counts are integers and dates ISO strings.

        Returns
        -------
        dict
            ``month``, ``price_list``, ``currency``, ``lines`` (:meth:`BillLine.to_dict`),
            ``total`` and ``deduction_date``.

        Examples
        --------
        >>> import json
        >>> bill = monthly_bill([12_000] * 30, [0] * 30, "2026-11")
        >>> print(json.dumps(bill.to_dict()["lines"][0]))
        {"item": "dau", "peak_value": 12000, "peak_day": "2026-11-01", "billable_units": 1, \
"unit_size": 10000, "unit_price": "149.99", "amount": "149.99"}
        >>> bill.to_dict()["total"], bill.to_dict()["deduction_date"]
        ('149.99', '2026-12-03')
        """
        return {
            "month": self.month,
            "price_list": self.price_list,
            "currency": self.currency,
            "lines": [line.to_dict() for line in self.lines],
            "total": _money(self.total),
            "deduction_date": self.deduction_date.isoformat(),
        }

    def format_table(self) -> str:
        """The bill as a plain-text table, one row per item and a total.

        Returns
        -------
        str
            A title line, the table and the deduction date; no trailing newline.

        Examples
        --------
        >>> dau = [8_000] * 30
        >>> dau[13] = 40_000
        >>> groups = [250_000] * 30
        >>> print(monthly_bill(dau, groups, "2026-11").format_table())
        Bill for 2026-11 (price list international-usd, amounts in USD)
        item    peak value  peak day    units  unit size  unit price  amount
        ------  ----------  ----------  -----  ---------  ----------  ------
        DAU         40,000  2026-11-14      3     10,000      149.99  449.97
        groups     250,000  2026-11-01      2    100,000      149.99  299.98
        total                                                         749.95
        Deducted on 2026-12-03.
        """
        header = ("item", "peak value", "peak day", "units", "unit size", "unit price", "amount")
        rows = [(_ITEM_LABELS.get(line.item, line.item), f"{line.peak_value:,}",
                 line.peak_day.isoformat(), f"{line.billable_units:,}", f"{line.unit_size:,}",
                 _money_display(line.unit_price), _money_display(line.amount))
                for line in self.lines]
        total_row = ("total", "", "", "", "", "", _money_display(self.total))
        widths = [max(len(row[i]) for row in (header, *rows, total_row))
                  for i in range(len(header))]
        left = {0, 2}

        def render(row: Sequence[str]) -> str:
            cells = [cell.ljust(w) if i in left else cell.rjust(w)
                     for i, (cell, w) in enumerate(zip(row, widths))]
            return "  ".join(cells).rstrip()

        return "\n".join([
            f"Bill for {self.month} (price list {self.price_list}, amounts in {self.currency})",
            render(header),
            render(["-" * w for w in widths]),
            *(render(row) for row in rows),
            render(total_row),
            f"Deducted on {self.deduction_date.isoformat()}.",
        ])


def _peak(series: Sequence[int], year: int, month: int) -> tuple[int, dt.date]:
    value = max(series)
    return value, dt.date(year, month, series.index(value) + 1)


def monthly_bill(daily_dau: Iterable[int], daily_groups: Iterable[int], month: MonthLike,
                 price_list: PriceListLike | None = None) -> Bill:
    """The postpaid bill for one calendar month of usage.

    "Fees beyond the free quota of the professional or flagship package are based on DAU and
    peak group count, each at its peak within the calendar month, postpaid, and deducted on the
    third day of the next month." DAU is charged by :func:`dau_billable_units`, groups by
    :func:`group_billable_units`; only each series' maximum matters, never its average.

    Parameters
    ----------
    daily_dau : iterable of int
        DAU of each day of the month (a user who logged in that day counts once, however many
        times they logged in): exactly one value per day.
    daily_groups : iterable of int
        Net group count of each day (:func:`net_group_counts`): one value per day.
    month : str, datetime.date or (int, int)
        ``"YYYY-MM"``, any date in the month, or a ``(year, month)`` pair.
    price_list : PriceList, str, os.PathLike or None
        A loaded list, a built-in name or a YAML path
        (:func:`~sim.billing.price_lists.load_price_list`); ``None`` =
        :data:`~sim.billing.price_lists.DEFAULT_PRICE_LIST` (international, USD, "first
        10,000 DAU free" once exceeded).

    Returns
    -------
    Bill

    Raises
    ------
    BillingError
        If `month` is malformed, a series does not have one value per day of the month, a
        value is not a whole number >= 0, or the price list is invalid.

    Examples
    --------
    >>> bill = monthly_bill([9_000] * 29 + [25_000] + [9_000], [120_000] * 31, "2026-12")
    >>> [(l.item, l.peak_value, str(l.peak_day), l.billable_units, str(l.amount))
    ...  for l in bill.lines]
    [('dau', 25000, '2026-12-30', 2, '299.98'), ('groups', 120000, '2026-12-01', 1, '149.99')]
    >>> bill.total, bill.currency, bill.deduction_date
    (Decimal('449.97'), 'USD', datetime.date(2027, 1, 3))
    >>> monthly_bill([25_000] * 31, [0] * 31, "2026-12", "china-cny").total
    Decimal('3000.00')
    """
    year, number = _parse_month(month)
    prices = resolve_price_list(price_list)
    series = {"dau": _daily_series(daily_dau, "daily_dau", year, number),
              "groups": _daily_series(daily_groups, "daily_groups", year, number)}
    rules = {"dau": (prices.dau, dau_billable_units),
             "groups": (prices.groups, group_billable_units)}
    lines = []
    for item, values in series.items():
        rule, billable_units = rules[item]
        peak_value, peak_day = _peak(values, year, number)
        units = billable_units(peak_value, rule)
        lines.append(BillLine(
            item=item, peak_value=peak_value, peak_day=peak_day, billable_units=units,
            unit_size=rule.unit_size, unit_price=rule.unit_price,
            amount=(rule.unit_price * units).quantize(CENT, rounding=ROUND_HALF_UP),
        ))
    return Bill(
        month=f"{year:04d}-{number:02d}",
        price_list=prices.name,
        currency=prices.currency,
        lines=tuple(lines),
        total=sum((line.amount for line in lines), Decimal("0.00")),
        deduction_date=deduction_date((year, number)),
    )
