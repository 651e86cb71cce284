"""The provider's billing and quota rules: monthly DAU and group fees, AVChatRooms, trial accounts.

Everything here follows the provider's documentation (DESIGN.md, "Billing and quotas"):

- Fees beyond the free quota of the professional or flagship package are based on **DAU** and
  **peak group count**, each at its **peak within the calendar month**, postpaid, and deducted
  on the **third day of the next month** (:func:`monthly_bill`, :func:`deduction_date`).
- DAU: no fee if every day's DAU is at most 10,000; otherwise the month's highest DAU is billed
  per 10,000, part-units rounded up (:func:`dau_billable_units`). Whether the first 10,000 stay
  free once the threshold is exceeded depends on the price list (``dau.free_units_when_exceeded``).
- Groups: the count is net (disbanded groups do not count); above 100,000, per 100,000 of the
  excess, a part billed as a whole 100,000 (:func:`group_billable_units`, :func:`net_group_counts`).
- AVChatRooms: a net count with a limit per edition (:class:`AVChatRoomQuota`).
- Trial edition: up to 100 accounts; a deleted account cannot be recovered (:class:`TrialAccounts`).

Prices are data, not code: a price list is a YAML file (:func:`load_price_list`). Three ship with
the package under ``sim/data/price_lists/``: ``international-usd`` (the default), ``china-cny``
and ``overseas-cny``; a user can pass the path of their own file instead.

Money is :class:`decimal.Decimal` throughout; every amount is rounded to cents (half up), and
JSON output (:meth:`Bill.to_dict`) writes money as strings such as ``"149.99"`` so that no binary
floating point ever touches an amount (``Decimal(s)`` reads them back exactly).

Errors: malformed input (usage series, month, price list) raises
:class:`~sim.errors.BillingError`, located as ``file: key.path: message``; a quota refusing an
operation raises :class:`~sim.errors.QuotaError`.
"""

from __future__ import annotations

import calendar
import datetime as dt
import difflib
import math
import numbers
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from importlib import resources
from typing import Any, ClassVar, TypeAlias

import yaml

from sim.errors import BillingError, QuotaError

__all__ = [
    "BUILTIN_PRICE_LISTS",
    "DEFAULT_PRICE_LIST",
    "EDITIONS",
    "AVChatRoomQuota",
    "Account",
    "Bill",
    "BillLine",
    "Edition",
    "PriceList",
    "TrialAccounts",
    "UsagePrice",
    "dau_billable_units",
    "deduction_date",
    "group_billable_units",
    "load_price_list",
    "monthly_bill",
    "net_group_counts",
]

DEFAULT_PRICE_LIST = "international-usd"
"""Name of the price list :func:`monthly_bill` uses when none is given."""

BUILTIN_PRICE_LISTS = ("china-cny", "international-usd", "overseas-cny")
"""Names :func:`load_price_list` accepts for the lists shipped in ``sim/data/price_lists/``."""

EDITIONS = ("trial", "professional", "flagship")
"""The provider's editions; every price list defines the quotas of each."""

CENT = Decimal("0.01")

MonthLike: TypeAlias = str | dt.date | tuple[int, int]


# --------------------------------------------------------------------------------------------
# Price lists
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UsagePrice:
    """How one usage item (DAU or groups) is charged in a price list.

    Attributes
    ----------
    free_up_to : int
        No fee for the month if every day's value is at most this (10,000 DAU; 100,000 groups).
    free_units_when_exceeded : int
        Once a day exceeds ``free_up_to``, this many (DAU or groups, not billing units) are
        deducted from the month's peak before billing. ``10000`` for DAU in the older
        international list ("first 10,000 free"); ``0`` for the newer rule ("the month is
        charged on its highest DAU"). Between 0 and ``free_up_to``; defaults to ``free_up_to``.
    unit_size : int
        Billed per this many (10,000 DAU; 100,000 groups), part-units rounded up.
    unit_price : decimal.Decimal
        Price of one unit for one month, in the price list's currency.
    """

    free_up_to: int
    free_units_when_exceeded: int
    unit_size: int
    unit_price: Decimal


@dataclass(frozen=True)
class Edition:
    """An edition (package) of the provider's service and its quotas.

    The usage fees of a price list (its ``dau`` and ``groups`` free allowances and prices) are
    those of the professional and flagship packages and apply to both alike. The trial edition
    is free of charge and capped by its quotas instead (100 accounts, 10 AVChatRooms).

    Attributes
    ----------
    name : str
        One of :data:`EDITIONS`.
    account_limit : int or None
        Most accounts that may exist at once; ``None`` = unlimited (trial: 100).
    avchatroom_limit : int or None
        Most AVChatRooms that may exist at once; ``None`` = unlimited (trial 10, professional
        50, flagship 50 or unlimited depending on the price list).
    """

    name: str
    account_limit: int | None
    avchatroom_limit: int | None

    def avchatroom_quota(self) -> AVChatRoomQuota:
        """A fresh, empty :class:`AVChatRoomQuota` with this edition's limit."""
        return AVChatRoomQuota(limit=self.avchatroom_limit)

    def account_quota(self) -> TrialAccounts:
        """A fresh, empty account register (:class:`TrialAccounts`) with this edition's limit."""
        return TrialAccounts(limit=self.account_limit)


@dataclass(frozen=True)
class PriceList:
    """A validated price list: currency, DAU and group prices, and the editions' quotas.

    Build one with :func:`load_price_list`; make a variant with :func:`dataclasses.replace`.

    Attributes
    ----------
    name : str
        The list's ``name`` key, or the file's stem when the key is absent.
    currency : str
        ISO 4217 code of every price and amount, e.g. ``"USD"``.
    dau, groups : UsagePrice
        How the month's peak DAU and peak net group count are charged.
    editions : tuple of Edition
        One per name in :data:`EDITIONS`, in that order; see :meth:`edition`.
    source : str
        Where the numbers come from (free text, may be empty).
    """

    name: str
    currency: str
    dau: UsagePrice
    groups: UsagePrice
    editions: tuple[Edition, ...]
    source: str = ""

    def edition(self, name: str) -> Edition:
        """The edition called `name` (``"trial"``, ``"professional"`` or ``"flagship"``).

        Raises
        ------
        BillingError
            If the price list has no such edition.

        Examples
        --------
        >>> load_price_list("international-usd").edition("trial").account_limit
        100
        """
        for edition in self.editions:
            if edition.name == name:
                return edition
        raise BillingError(f"unknown edition {name!r}; editions: "
                           + ", ".join(e.name for e in self.editions), path="edition")


PriceListLike: TypeAlias = PriceList | str | os.PathLike[str]
"""What :func:`monthly_bill` accepts as a price list: a loaded one, a built-in name or a path."""


def _price_list_resource(name: str) -> Any:
    return resources.files("sim").joinpath("data", "price_lists", f"{name}.yaml")


def _is_builtin_name(spec: str) -> bool:
    return not (os.sep in spec or "/" in spec or spec.endswith((".yaml", ".yml")))


def load_price_list(path_or_name: str | os.PathLike[str]) -> PriceList:
    """Read and validate a price list YAML file.

    Parameters
    ----------
    path_or_name : str or os.PathLike
        The name of a built-in list (:data:`BUILTIN_PRICE_LISTS`: a string with no ``/`` and
        no ``.yaml``/``.yml`` suffix), or the path of a YAML file.

    Returns
    -------
    PriceList

    Raises
    ------
    BillingError
        If the file cannot be read or parsed, or holds an unknown key, misses a required key or
        has an impossible value; the message names the file and the key path, for example
        ``prices.yaml: dau.unit_price: must be > 0, got -1``.

    Notes
    -----
    The file is read with :func:`yaml.safe_load`. Schema (every key required unless marked)::

        name: international-usd      # optional, defaults to the file's stem
        currency: USD                # three capital letters
        source: "..."                # optional free text
        dau:                         # and the same keys under groups:
          free_up_to: 10000          # integer >= 0
          free_units_when_exceeded: 10000   # optional, 0..free_up_to, default free_up_to
          unit_size: 10000           # integer > 0
          unit_price: 149.99         # number (or quoted decimal string) > 0
        editions:                    # exactly trial, professional, flagship
          trial: {account_limit: 100, avchatroom_limit: 10}   # integer >= 0 or null
          ...

    Examples
    --------
    >>> usd = load_price_list("international-usd")
    >>> usd.currency, usd.dau.unit_price, usd.groups.unit_size
    ('USD', Decimal('149.99'), 100000)
    >>> load_price_list("china-cny").dau.unit_price
    Decimal('1000')
    """
    if isinstance(path_or_name, str) and _is_builtin_name(path_or_name):
        if path_or_name not in BUILTIN_PRICE_LISTS:
            raise BillingError(f"no built-in price list named {path_or_name!r}; built-in lists: "
                               + ", ".join(BUILTIN_PRICE_LISTS)
                               + " (or give the path of a .yaml file)")
        resource = _price_list_resource(path_or_name)
        label = f"sim/data/price_lists/{path_or_name}.yaml"
        text = resource.read_text(encoding="utf-8")
        stem = path_or_name
    else:
        label = os.fspath(path_or_name)
        try:
            with open(label, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise BillingError(f"cannot read price list: {exc.strerror or exc}",
                               file=label) from exc
        stem = os.path.splitext(os.path.basename(label))[0]
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise BillingError(f"invalid YAML: {problem}{where}", file=label) from exc
    return _PriceListReader(label).read(document, default_name=stem)


class _PriceListReader:
    """Validates a parsed price list document, naming the file and the key path on errors."""

    _TOP_KEYS: ClassVar[Mapping[str, bool]] = {
        "name": False, "currency": True, "source": False, "dau": True, "groups": True,
        "editions": True}
    _USAGE_KEYS: ClassVar[Mapping[str, bool]] = {
        "free_up_to": True, "free_units_when_exceeded": False, "unit_size": True,
        "unit_price": True}
    _EDITION_KEYS: ClassVar[Mapping[str, bool]] = {"account_limit": True, "avchatroom_limit": True}

    def __init__(self, label: str):
        self.label = label

    def error(self, path: str | None, message: str) -> BillingError:
        return BillingError(message, file=self.label, path=path)

    def mapping(self, value: Any, path: str | None, keys: Mapping[str, bool]) -> dict[str, Any]:
        """Check `value` is a mapping with no unknown and no missing required keys."""
        if not isinstance(value, dict):
            what = "empty" if value is None else type(value).__name__
            raise self.error(path, f"must be a mapping, got {what}")
        allowed = list(keys)
        for key in value:
            if key not in keys:
                key_path = f"{path}.{key}" if path else str(key)
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = (f", did you mean {close[0]!r}?" if close
                        else "; allowed keys: " + ", ".join(allowed))
                raise self.error(key_path, "unknown key" + hint)
        for key, required in keys.items():
            if required and key not in value:
                raise self.error(f"{path}.{key}" if path else key, "missing required key")
        return value

    def integer(self, value: Any, path: str, *, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(path, f"must be an integer, got {value!r}")
        if value < minimum:
            raise self.error(path, f"must be >= {minimum}, got {value!r}")
        return value

    def limit(self, value: Any, path: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(path, f"must be an integer or null (unlimited), got {value!r}")
        if value < 0:
            raise self.error(path, f"must be >= 0 or null (unlimited), got {value!r}")
        return value

    def price(self, value: Any, path: str) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise self.error(path, f"must be a number, got {value!r}")
        try:
            # repr() of a float is its shortest round-tripping decimal: 149.99 -> "149.99".
            amount = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
        except InvalidOperation:
            raise self.error(path, f"must be a number, got {value!r}") from None
        if not amount.is_finite():
            raise self.error(path, f"must be a finite number, got {value!r}")
        if amount <= 0:
            raise self.error(path, f"must be > 0, got {value!r}")
        return amount

    def text(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.error(path, f"must be a non-empty string, got {value!r}")
        return value.strip()

    def usage(self, value: Any, path: str) -> UsagePrice:
        section = self.mapping(value, path, self._USAGE_KEYS)
        free_up_to = self.integer(section["free_up_to"], f"{path}.free_up_to", minimum=0)
        free_when_exceeded = free_up_to
        if "free_units_when_exceeded" in section:
            key = f"{path}.free_units_when_exceeded"
            free_when_exceeded = self.integer(section["free_units_when_exceeded"], key, minimum=0)
            if free_when_exceeded > free_up_to:
                raise self.error(key, f"must be at most {path}.free_up_to ({free_up_to}), "
                                      f"got {free_when_exceeded!r}")
        return UsagePrice(
            free_up_to=free_up_to,
            free_units_when_exceeded=free_when_exceeded,
            unit_size=self.integer(section["unit_size"], f"{path}.unit_size", minimum=1),
            unit_price=self.price(section["unit_price"], f"{path}.unit_price"),
        )

    def read(self, document: Any, *, default_name: str) -> PriceList:
        top = self.mapping(document, None, self._TOP_KEYS)
        currency = self.text(top["currency"], "currency")
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise self.error("currency", "must be a 3-letter currency code such as 'USD', "
                                         f"got {top['currency']!r}")
        editions_section = self.mapping(top["editions"], "editions",
                                        dict.fromkeys(EDITIONS, True))
        editions = []
        for name in EDITIONS:
            path = f"editions.{name}"
            entry = self.mapping(editions_section[name], path, self._EDITION_KEYS)
            editions.append(Edition(
                name=name,
                account_limit=self.limit(entry["account_limit"], f"{path}.account_limit"),
                avchatroom_limit=self.limit(entry["avchatroom_limit"],
                                            f"{path}.avchatroom_limit"),
            ))
        return PriceList(
            name=self.text(top["name"], "name") if "name" in top else default_name,
            currency=currency,
            dau=self.usage(top["dau"], "dau"),
            groups=self.usage(top["groups"], "groups"),
            editions=tuple(editions),
            source=self.text(top["source"], "source") if "source" in top else "",
        )


def _resolve_price_list(price_list: PriceListLike | None) -> PriceList:
    if price_list is None:
        return load_price_list(DEFAULT_PRICE_LIST)
    if isinstance(price_list, PriceList):
        return price_list
    if isinstance(price_list, (str, os.PathLike)):
        return load_price_list(price_list)
    raise TypeError("price_list must be a PriceList, a built-in name or a path, "
                    f"got {type(price_list).__name__}")


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
    if isinstance(month, dt.date):
        return month.year, month.month
    if isinstance(month, str):
        match = re.fullmatch(r"(\d{4})-(\d{2})", month.strip())
        if match and 1 <= int(match[2]) <= 12:
            return int(match[1]), int(match[2])
    elif (isinstance(month, tuple) and len(month) == 2
          and all(isinstance(x, int) and not isinstance(x, bool) for x in month)
          and 1 <= month[0] <= 9999 and 1 <= month[1] <= 12):
        return month[0], month[1]
    raise BillingError(f"{expected}, got {month!r}", path="month")


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
        """JSON-ready: dates in ISO format, money as strings (see :meth:`Bill.to_dict`)."""
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
        """The line for `item` (``"dau"`` or ``"groups"``)."""
        for line in self.lines:
            if line.item == item:
                return line
        raise KeyError(item)

    def to_dict(self) -> dict[str, Any]:
        """The bill as plain JSON types.

        Money (``unit_price``, ``amount``, ``total``) is written as decimal **strings** with at
        least two decimals (``"149.99"``, ``"1000.00"``), never floats, so amounts survive a
        JSON round trip exactly; counts are integers and dates ISO strings.

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
        A loaded list, a built-in name or a YAML path; ``None`` = :data:`DEFAULT_PRICE_LIST`
        (international, USD, "first 10,000 DAU free" once exceeded).

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
    prices = _resolve_price_list(price_list)
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


# --------------------------------------------------------------------------------------------
# Quotas
# --------------------------------------------------------------------------------------------

def _check_limit(limit: int | None) -> int | None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or limit < 0):
        raise ValueError(f"limit must be an integer >= 0 or None (unlimited), got {limit!r}")
    return limit


class AVChatRoomQuota:
    """The AVChatRoom (audio-video chat room) quota of one app: a net count with a limit.

    The provider's wording: "AVChatRooms: up to 50 (trial 10, flagship unlimited in one price
    list); a net count: create 3 and disband 3 and you can still create 50; an empty room that
    was not disbanded still counts."

    Every refused operation raises :class:`~sim.errors.QuotaError`. Creations refused because
    the quota is full are also counted in :attr:`refused`, so simulated usage can report them;
    mistakes such as disbanding a room that does not exist raise but are not counted.

    Parameters
    ----------
    limit : int or None
        Most rooms that may exist at once; ``None`` = unlimited.

    Examples
    --------
    >>> quota = AVChatRoomQuota(limit=50)
    >>> rooms = [quota.create() for _ in range(3)]
    >>> for room in rooms:
    ...     quota.disband(room)
    >>> quota.count, quota.remaining
    (0, 50)
    >>> room = quota.create("lobby")          # nobody joins: an empty room still counts
    >>> quota.count, quota.remaining
    (1, 49)
    """

    def __init__(self, limit: int | None = 50):
        self.limit = _check_limit(limit)
        self.refused = 0
        """Creations refused because the quota was full."""
        self._rooms: dict[str, set[str]] = {}
        self._next_number = 1

    @property
    def count(self) -> int:
        """Rooms that exist now: created and not disbanded, empty or not."""
        return len(self._rooms)

    @property
    def remaining(self) -> int | None:
        """Rooms that can still be created; ``None`` when unlimited."""
        return None if self.limit is None else self.limit - self.count

    def __contains__(self, room_id: object) -> bool:
        return room_id in self._rooms

    def create(self, room_id: str | None = None) -> str:
        """Create a room and return its ID (``"avchatroom-1"``, ... when `room_id` is None).

        Raises
        ------
        QuotaError
            If the limit is reached (counted in :attr:`refused`) or `room_id` already exists.
        """
        if room_id is not None and room_id in self._rooms:
            raise QuotaError(f"AVChatRoom {room_id!r} already exists")
        if self.limit is not None and self.count >= self.limit:
            self.refused += 1
            raise QuotaError(
                f"AVChatRoom limit reached: {self.count} of {self.limit} rooms exist "
                "(empty rooms count until disbanded); disband a room before creating another")
        if room_id is None:
            while f"avchatroom-{self._next_number}" in self._rooms:
                self._next_number += 1
            room_id = f"avchatroom-{self._next_number}"
            self._next_number += 1
        self._rooms[room_id] = set()
        return room_id

    def disband(self, room_id: str) -> None:
        """Disband a room, freeing its place in the quota.

        Raises
        ------
        QuotaError
            If no room `room_id` exists (never created, or already disbanded).
        """
        if room_id not in self._rooms:
            raise QuotaError(f"cannot disband AVChatRoom {room_id!r}: no such room "
                             "(never created or already disbanded)")
        del self._rooms[room_id]

    def join(self, room_id: str, member_id: str) -> None:
        """Add `member_id` to a room (members do not affect the quota)."""
        self._room(room_id).add(member_id)

    def leave(self, room_id: str, member_id: str) -> None:
        """Remove `member_id` from a room; the room stays, and counts, even when empty."""
        self._room(room_id).discard(member_id)

    def members(self, room_id: str) -> frozenset[str]:
        """The members of a room now."""
        return frozenset(self._room(room_id))

    def _room(self, room_id: str) -> set[str]:
        try:
            return self._rooms[room_id]
        except KeyError:
            raise QuotaError(f"no AVChatRoom {room_id!r}") from None


@dataclass(eq=False)
class Account:
    """One account of an app, with the (minimal) data the provider stores for it.

    Attributes
    ----------
    account_id : str
        The UserID.
    generation : int
        1 for the first account created with this ID, 2 for the account created with it after
        the first was deleted, and so on: a re-created ID is a different account.
    data : dict
        Stand-in for the account's profile, relationship chain, groups and sessions; emptied
        when the account is deleted.
    deleted : bool
        Set when the account is deleted; a deleted account never comes back.
    """

    account_id: str
    generation: int
    data: dict[str, Any] = field(default_factory=dict)
    deleted: bool = False


class TrialAccounts:
    """The accounts of a trial-edition app: "up to 100 accounts; a deleted account cannot be
    recovered."

    Creating an account beyond the limit raises :class:`~sim.errors.QuotaError` and is counted
    in :attr:`refused`. Deleting an account erases its data for good: there is no undelete, and
    creating the same ID again makes a new, empty account (its :attr:`Account.generation` goes
    up), as the provider's account-deletion API describes ("the user's data will be
    irrecoverable"; the trial edition allows importing a deleted UserID again).

    **Do deleted accounts free a slot?** Yes, by default: the limit counts accounts that exist
    now, a net count like the AVChatRoom quota. The provider's documentation only caps accounts
    and says deletion removes the account with all its data; it does not say a deleted account
    keeps occupying the quota, and re-importing a deleted UserID on the trial edition (which
    the provider allows) would be impossible at the cap if it did. Pass
    ``deleted_accounts_free_slots=False`` for the conservative reading, where every account
    ever created counts towards the limit.

    Parameters
    ----------
    limit : int or None
        Most accounts (default 100, the trial edition); ``None`` = unlimited.
    deleted_accounts_free_slots : bool
        Whether deleting an account gives its place in the quota back.

    Examples
    --------
    >>> accounts = TrialAccounts(limit=100)
    >>> alice = accounts.create("alice")
    >>> alice.data["nickname"] = "Alice"
    >>> accounts.delete("alice")
    >>> again = accounts.create("alice")
    >>> again.data, again.generation
    ({}, 2)
    """

    def __init__(self, limit: int | None = 100, *, deleted_accounts_free_slots: bool = True):
        self.limit = _check_limit(limit)
        self.deleted_accounts_free_slots = deleted_accounts_free_slots
        self.refused = 0
        """Creations refused because the quota was full."""
        self.deleted = 0
        """Accounts deleted so far."""
        self._accounts: dict[str, Account] = {}
        self._generations: dict[str, int] = {}

    @property
    def count(self) -> int:
        """Accounts that exist now (not deleted)."""
        return len(self._accounts)

    @property
    def used(self) -> int:
        """Places of the quota taken: :attr:`count`, plus deleted accounts if they keep theirs."""
        return self.count + (0 if self.deleted_accounts_free_slots else self.deleted)

    @property
    def remaining(self) -> int | None:
        """Accounts that can still be created; ``None`` when unlimited."""
        return None if self.limit is None else self.limit - self.used

    def __contains__(self, account_id: object) -> bool:
        return account_id in self._accounts

    def create(self, account_id: str) -> Account:
        """Create an account; a previously deleted ID gives a new account with no data.

        Raises
        ------
        QuotaError
            If the limit is reached (counted in :attr:`refused`) or the account exists.
        """
        if account_id in self._accounts:
            raise QuotaError(f"account {account_id!r} already exists")
        if self.limit is not None and self.used >= self.limit:
            self.refused += 1
            freed = ("delete an account to free a place" if self.deleted_accounts_free_slots
                     else "deleted accounts still count")
            raise QuotaError(f"trial edition account limit reached: {self.used} of "
                             f"{self.limit} accounts used; cannot create {account_id!r} "
                             f"({freed})")
        generation = self._generations.get(account_id, 0) + 1
        self._generations[account_id] = generation
        account = Account(account_id=account_id, generation=generation)
        self._accounts[account_id] = account
        return account

    def delete(self, account_id: str) -> None:
        """Delete an account and erase its data; it cannot be recovered.

        Raises
        ------
        QuotaError
            If no account `account_id` exists.
        """
        account = self._accounts.pop(account_id, None)
        if account is None:
            raise QuotaError(f"cannot delete account {account_id!r}: no such account")
        account.data.clear()
        account.deleted = True
        self.deleted += 1

    def get(self, account_id: str) -> Account:
        """The existing account `account_id`.

        Raises
        ------
        QuotaError
            If it does not exist (never created, or deleted: deleted accounts are gone).
        """
        try:
            return self._accounts[account_id]
        except KeyError:
            raise QuotaError(f"no account {account_id!r}") from None
