"""Price lists: what DAU and groups cost, and the quotas of each edition.

Prices are data, not code: a price list is a YAML file (:func:`load_price_list`). Three ship with
the package under ``sim/data/price_lists/``: ``international-usd`` (the default), ``china-cny``
and ``overseas-cny``; a user can pass the path of their own file instead.

A file is read by the project's one YAML reader (:mod:`sim.config.yaml_io`) and checked by
strict pydantic models (:class:`sim.config.schema.StrictModel`: unknown keys refused, no
``true``/``false`` for a number); an error is one line naming the file and the key path, worded
as every input error of the simulator (:mod:`sim.config.messages`)::

    prices.yaml: dau.unit_price: must be > 0, got -1

The checked list is a frozen :class:`PriceList` of dataclasses, prices as
:class:`decimal.Decimal`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, TypeAlias

from pydantic import (
    Field,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sim.billing.quotas import AVChatRoomQuota, TrialAccounts
from sim.config.messages import raise_validation_error, shown, shown_value
from sim.config.schema import StrictModel
from sim.config.yaml_io import parse_yaml_text, read_yaml
from sim.errors import BillingError

__all__ = [
    "BUILTIN_PRICE_LISTS",
    "DEFAULT_PRICE_LIST",
    "EDITIONS",
    "Edition",
    "PriceList",
    "PriceListLike",
    "UsagePrice",
    "load_price_list",
    "resolve_price_list",
]

DEFAULT_PRICE_LIST = "international-usd"
"""Name of the price list :func:`sim.billing.rules.monthly_bill` uses when none is given."""

BUILTIN_PRICE_LISTS = ("china-cny", "international-usd", "overseas-cny")
"""Names :func:`load_price_list` accepts for the lists shipped in ``sim/data/price_lists/``."""

EDITIONS = ("trial", "professional", "flagship")
"""The provider's editions; every price list defines the quotas of each."""


# --------------------------------------------------------------------------------------------
# The price list callers see
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
        """A fresh, empty AVChatRoom quota with this edition's limit.

        Returns
        -------
        sim.billing.quotas.AVChatRoomQuota
        """
        return AVChatRoomQuota(limit=self.avchatroom_limit)

    def account_quota(self) -> TrialAccounts:
        """A fresh, empty account register with this edition's limit.

        Returns
        -------
        sim.billing.quotas.TrialAccounts
        """
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
        """The edition called `name`.

        Parameters
        ----------
        name : str
            ``"trial"``, ``"professional"`` or ``"flagship"``.

        Returns
        -------
        Edition

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
"""What :func:`sim.billing.rules.monthly_bill` accepts as a price list: a loaded one, a
built-in name or a path."""


# --------------------------------------------------------------------------------------------
# The file's schema
# --------------------------------------------------------------------------------------------

def _price(value: Any) -> Decimal:
    """A price > 0 from a YAML number or a quoted decimal string, exactly."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expected a number, got {value!r}")
    try:
        # repr() of a float is its shortest round-tripping decimal: 149.99 -> "149.99".
        amount = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        raise ValueError(f"expected a number, got {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"expected a finite number, got {value!r}")
    if amount <= 0:
        raise ValueError(f"must be > 0, got {value!r}")
    return amount


def _limit(value: Any) -> int | None:
    """A quota: an integer >= 0, or None (YAML ``null``) for unlimited."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer or null (unlimited), got {value!r}")
    if value < 0:
        raise ValueError(f"must be >= 0 or null (unlimited), got {value!r}")
    return value


Count = Annotated[int, Field(strict=True, ge=0)]
"""An integer >= 0, written as one: ``10000``, not ``10000.0`` or ``"10000"``."""
Size = Annotated[int, Field(strict=True, ge=1)]
Price = Annotated[Decimal, PlainValidator(_price)]
Limit = Annotated[int | None, PlainValidator(_limit)]


class _UsageSpec(StrictModel):
    """``dau:`` or ``groups:``."""
    free_up_to: Count
    free_units_when_exceeded: Count
    unit_size: Size
    unit_price: Price

    @model_validator(mode="before")
    @classmethod
    def _free_units_default(cls, data: Any) -> Any:
        # Left out, free_units_when_exceeded is free_up_to: the allowance stays free.
        if (isinstance(data, dict) and "free_units_when_exceeded" not in data
                and "free_up_to" in data):
            return {**data, "free_units_when_exceeded": data["free_up_to"]}
        return data

    @field_validator("free_units_when_exceeded")
    @classmethod
    def _within_the_allowance(cls, v: int, info: ValidationInfo) -> int:
        free_up_to = info.data.get("free_up_to")
        if free_up_to is not None and v > free_up_to:
            raise ValueError(f"must be at most free_up_to ({free_up_to}), got {v}")
        return v

    def to_usage_price(self) -> UsagePrice:
        """The checked section as the dataclass callers use."""
        return UsagePrice(free_up_to=self.free_up_to,
                          free_units_when_exceeded=self.free_units_when_exceeded,
                          unit_size=self.unit_size, unit_price=self.unit_price)


class _EditionSpec(StrictModel):
    """One entry of ``editions:``; ``null`` = unlimited."""
    account_limit: Limit
    avchatroom_limit: Limit


class _EditionsSpec(StrictModel):
    """``editions:``: exactly the three of :data:`EDITIONS`."""
    trial: _EditionSpec
    professional: _EditionSpec
    flagship: _EditionSpec


class _PriceListSpec(StrictModel):
    """A price list file."""
    name: str | None = Field(None, validate_default=False)
    currency: str
    source: str | None = Field(None, validate_default=False)
    dau: _UsageSpec
    groups: _UsageSpec
    editions: _EditionsSpec

    @field_validator("name", "source", mode="before")
    @classmethod
    def _text(cls, v: Any) -> str:
        # Optional, but when given (null included) a non-empty string.
        if not isinstance(v, str) or not v.strip():
            raise ValueError(f"must be a non-empty string, got {v!r}")
        return v.strip()

    @field_validator("currency", mode="before")
    @classmethod
    def _currency_code(cls, v: Any) -> str:
        if not isinstance(v, str) or not re.fullmatch(r"[A-Z]{3}", v.strip()):
            raise ValueError(f"must be a 3-letter currency code such as 'USD', got {v!r}")
        return v.strip()

    def to_price_list(self, default_name: str) -> PriceList:
        """The checked file as the dataclass callers use (`default_name` when no ``name``)."""
        editions = tuple(Edition(name=name, account_limit=entry.account_limit,
                                 avchatroom_limit=entry.avchatroom_limit)
                         for name, entry in ((n, getattr(self.editions, n)) for n in EDITIONS))
        return PriceList(name=default_name if self.name is None else self.name,
                         currency=self.currency, dau=self.dau.to_usage_price(),
                         groups=self.groups.to_usage_price(), editions=editions,
                         source=self.source or "")


def _typo_first(error: ValidationError) -> ValidationError:
    """The error to report: an unknown key rather than the required key it misspells.

    Every key of a price list is required, so ``unit_prize: 1`` is both a missing
    ``unit_price`` (which pydantic lists first) and an unknown ``unit_prize``; the second,
    with its "did you mean", is what the user needs to see.
    """
    errors = error.errors(include_url=False)
    first = errors[0]
    if first["type"] != "missing":
        return error
    parent = tuple(first["loc"][:-1])
    for err in errors:
        if err["type"] == "extra_forbidden" and tuple(err["loc"][:-1]) == parent:
            return ValidationError.from_exception_data(
                error.title, [{"type": "extra_forbidden", "loc": err["loc"],
                               "input": err["input"]}])
    return error


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------

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
        If the name is not that of a built-in list (no file named), or the file cannot be read
        or parsed, holds an unknown key, misses a required key or has an impossible value; the
        message names the file and the key path, for example
        ``prices.yaml: dau.unit_price: must be > 0, got -1``.

    Notes
    -----
    The file is read with :func:`sim.config.yaml_io.read_yaml` (safe loading). Schema (every
    key required unless marked)::

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
            raise BillingError(f"no built-in price list named {shown_value(path_or_name)}; "
                               "built-in lists: " + ", ".join(BUILTIN_PRICE_LISTS)
                               + " (or give the path of a .yaml file)")
        label = f"sim/data/price_lists/{path_or_name}.yaml"
        text = (resources.files("sim").joinpath("data", "price_lists", f"{path_or_name}.yaml")
                .read_text(encoding="utf-8"))
        raw = parse_yaml_text(text, shown=label, what="price list", error_type=BillingError)
        stem = path_or_name
    else:
        path = Path(path_or_name)
        label = shown(path)
        raw = read_yaml(path, what="price list", error_type=BillingError)
        stem = path.stem
    try:
        spec = _PriceListSpec.model_validate(raw)
    except ValidationError as e:
        raise_validation_error(_typo_first(e), _PriceListSpec, BillingError, label)
    return spec.to_price_list(default_name=stem)


def resolve_price_list(price_list: PriceListLike | None) -> PriceList:
    """A price list from what :func:`sim.billing.rules.monthly_bill` accepts.

    Parameters
    ----------
    price_list : PriceList, str, os.PathLike or None
        A loaded list (returned as it is), a built-in name or a YAML path
        (:func:`load_price_list`); ``None`` = :data:`DEFAULT_PRICE_LIST`.

    Returns
    -------
    PriceList

    Raises
    ------
    BillingError
        If the list cannot be loaded (:func:`load_price_list`).
    TypeError
        If `price_list` is none of these.

    Examples
    --------
    >>> resolve_price_list(None).name
    'international-usd'
    """
    if price_list is None:
        return load_price_list(DEFAULT_PRICE_LIST)
    if isinstance(price_list, PriceList):
        return price_list
    if isinstance(price_list, (str, os.PathLike)):
        return load_price_list(price_list)
    raise TypeError("price_list must be a PriceList, a built-in name or a path, "
                    f"got {type(price_list).__name__}")
