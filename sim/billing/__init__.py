"""The provider's billing and quota rules, and the usage a scenario or a result implies.

Modules, one concept each: :mod:`~sim.billing.price_lists` (price lists: prices, editions and
their quotas, loading), :mod:`~sim.billing.rules` (the monthly bill), :mod:`~sim.billing.quotas`
(the AVChatRoom quota and trial accounts), :mod:`~sim.billing.usage` (a month of usage from a
scenario or CSV files). Their public names are re-exported here; those of
:mod:`~sim.billing.usage` (which needs numpy and the workload model) are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sim.billing.price_lists import (
    BUILTIN_PRICE_LISTS,
    DEFAULT_PRICE_LIST,
    EDITIONS,
    Edition,
    PriceList,
    PriceListLike,
    UsagePrice,
    load_price_list,
    resolve_price_list,
)
from sim.billing.quotas import Account, AVChatRoomQuota, TrialAccounts
from sim.billing.rules import (
    Bill,
    BillLine,
    MonthLike,
    dau_billable_units,
    deduction_date,
    group_billable_units,
    monthly_bill,
    net_group_counts,
)

if TYPE_CHECKING:
    from sim.billing.usage import (
        STREAMS,
        USAGE_SPAWN_KEY,
        Usage,
        bill_headline,
        daily_dau_targets,
        month_days,
        monthly_usage,
        parse_month,
        read_daily_csv,
        usage_from_csv,
    )

_LAZY = frozenset({"STREAMS", "USAGE_SPAWN_KEY", "Usage", "bill_headline", "daily_dau_targets",
                   "month_days", "monthly_usage", "parse_month", "read_daily_csv",
                   "usage_from_csv"})
"""Names of :mod:`sim.billing.usage` that :func:`__getattr__` imports on first use."""

__all__ = [
    "BUILTIN_PRICE_LISTS",
    "DEFAULT_PRICE_LIST",
    "EDITIONS",
    "AVChatRoomQuota",
    "Account",
    "Bill",
    "BillLine",
    "Edition",
    "MonthLike",
    "PriceList",
    "PriceListLike",
    "TrialAccounts",
    "UsagePrice",
    "dau_billable_units",
    "deduction_date",
    "group_billable_units",
    "load_price_list",
    "monthly_bill",
    "net_group_counts",
    "resolve_price_list",
    "STREAMS",
    "USAGE_SPAWN_KEY",
    "Usage",
    "bill_headline",
    "daily_dau_targets",
    "month_days",
    "monthly_usage",
    "parse_month",
    "read_daily_csv",
    "usage_from_csv",
]


def __getattr__(name: str) -> Any:
    """The public names of :mod:`sim.billing.usage`, imported on first use.

    Parameters
    ----------
    name : str
        An attribute of the package.

    Returns
    -------
    object
        The name from :mod:`sim.billing.usage`.

    Raises
    ------
    AttributeError
        If `name` is not one of them.
    """
    if name not in _LAZY:
        raise AttributeError(f"module 'sim.billing' has no attribute {name!r}")
    return getattr(importlib.import_module("sim.billing.usage"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
