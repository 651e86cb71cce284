"""A month of billable usage: daily active users, groups, AVChatRooms and trial accounts.

The provider bills a month on its daily DAU and its daily net group count
(:mod:`sim.billing.rules`); the AVChatRoom and trial-account quotas
(:mod:`sim.billing.quotas`) refuse creations beyond an edition's limit. This module turns a
scenario into those daily series with a fast counting model, one value per calendar day,
instead of a SimPy run per login; or reads them from CSV files (:func:`usage_from_csv`).

DAU: the workload's model, counted
    Day ``d`` (0 for the 1st of the month) behaves like the scenario's workload
    (:mod:`sim.model.workload`) run for one day with ``population.dau`` replaced by the day's target

        ``dau_d = population.dau * (1 + billing.dau_growth_per_day) ** d * w[weekday(d)]``

    where ``w`` is ``billing.weekly_pattern`` (Monday first) divided by its mean, or all 1.
    Exactly as in the workload, site ``s`` (``sim.model.workload.load_sites``) has a pool of
    ``N_s = max(1, round(weight_s * user_pool_size(dau_d, logins_per_user_per_day)))`` users;
    its logins of the day are Poisson with mean ``lambda_s = dau_d * logins_per_user_per_day *
    weight_s`` (the diurnal shape has mean 1 over a day), and each login picks one of the
    site's users uniformly. Poisson splitting then makes each user's login count an
    independent Poisson(``lambda_s / N_s``) variable, so the day's distinct users at the site
    are **exactly** ``Binomial(N_s, 1 - exp(-lambda_s / N_s))``, and DAU is their sum over the
    sites: no approximation in the billed series. The day's logins, given the site's ``D_s``
    distinct users, are the sum of ``D_s`` zero-truncated Poisson(``lambda_s / N_s``) counts:
    drawn exactly when ``D_s <= 100`` and otherwise from the normal distribution with that
    sum's exact mean and variance (rounded, at least ``D_s``). Events (flash crowds, failures)
    of the scenario are not part of the month: they describe the simulated hours only.

Groups
    ``initial`` groups, then each day Poisson(``created_per_day``) creations and
    Poisson(``removed_per_day``) disbands (never more than exist); the net count at the end of
    each day (:func:`sim.billing.rules.net_group_counts`) is what is billed.

AVChatRooms and trial accounts
    The same daily Poisson creations and removals, applied one operation at a time, in a random
    order within the day, to the edition's :class:`~sim.billing.quotas.AVChatRoomQuota` and
    account register (:class:`~sim.billing.quotas.TrialAccounts`), with the limits of
    ``billing.edition`` in the price list: a creation the quota refuses is counted
    (``refused_avchatrooms``,
    ``refused_trial_accounts``) and does not happen; a removal disbands the oldest room or
    deletes the oldest account, and is skipped when none exists. Values are end-of-day counts.
    Cost is one Python call per operation: fine for thousands of operations a day.

Random streams: one per input (``dau``, ``logins``, ``groups``, ``avchatrooms``,
``trial_accounts``), spawned from ``numpy.random.SeedSequence(seed, spawn_key=(2**31,))``, the
child of ``SeedSequence(seed)`` reserved for usage (replications use children ``0, 1, ...``,
so a month of usage never shares a stream with a simulated replication).
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import io
import os
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from sim.billing.price_lists import PriceList, PriceListLike, load_price_list
from sim.billing.quotas import AVChatRoomQuota, TrialAccounts
from sim.billing.rules import Bill, monthly_bill, net_group_counts
from sim.config.limits import MAX_CSV_VALUE, month_problem
from sim.config.messages import shown_text, shown_value
from sim.config.schema import Billing, Rates, Scenario
from sim.config.yaml_io import read_input_text
from sim.errors import BillingError, QuotaError
from sim.model.workload import Sites, load_sites, user_pool_size
from sim.version import package_version

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
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

STREAMS = ("dau", "logins", "groups", "avchatrooms", "trial_accounts")
"""The random inputs of the usage model, one stream each, in this spawn order."""

USAGE_SPAWN_KEY = 2 ** 31
"""Child of ``SeedSequence(seed)`` whose children are the usage streams (see module notes)."""

_EXACT_LOGINS_MAX_USERS = 100
"""Sites with at most this many distinct users a day get their logins drawn one by one."""

_MONTH_RE = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")

IntArray = NDArray[np.int64]


# --------------------------------------------------------------------------------------------
# Months
# --------------------------------------------------------------------------------------------

def parse_month(month: str | dt.date | tuple[int, int], *, where: str = "month") -> str:
    """A month as ``"YYYY-MM"``, from that string, a date in it or a ``(year, month)`` pair.

    Parameters
    ----------
    month : str, datetime.date or (int, int)
    where : str
        Named in the error message: ``"--month"``, ``"billing.month"`` ...

    Raises
    ------
    BillingError
        ``where: expected a month as YYYY-MM, got '2026-13'``.

    Examples
    --------
    >>> parse_month("2026-11"), parse_month((2027, 2)), parse_month(dt.date(2026, 12, 24))
    ('2026-11', '2027-02', '2026-12')
    """
    pair: tuple[int, int] | None = None
    if isinstance(month, dt.date):
        pair = month.year, month.month
    elif (isinstance(month, tuple) and len(month) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in month)
            and 1 <= month[0] <= 9999 and 1 <= month[1] <= 12):
        pair = month[0], month[1]
    elif isinstance(month, str):
        match = _MONTH_RE.fullmatch(month.strip()[:16])
        if match:
            pair = int(match[1]), int(match[2])
    if pair is None:
        raise BillingError(f"expected a month as YYYY-MM, got {shown_value(month)}",
                           file=where)
    problem = month_problem(*pair)
    if problem is not None:
        raise BillingError(f"{problem}, got {shown_value(month)}", file=where)
    return f"{pair[0]:04d}-{pair[1]:02d}"


def month_days(month: str) -> tuple[dt.date, ...]:
    """Every date of a ``"YYYY-MM"`` month, in order.

    Examples
    --------
    >>> days = month_days("2026-02")
    >>> len(days), days[0], days[-1]
    (28, datetime.date(2026, 2, 1), datetime.date(2026, 2, 28))
    """
    year, number = int(month[:4]), int(month[5:7])
    return tuple(dt.date(year, number, day)
                 for day in range(1, calendar.monthrange(year, number)[1] + 1))


# --------------------------------------------------------------------------------------------
# The usage of a month
# --------------------------------------------------------------------------------------------

def _frozen(values: Any, dtype: Any = np.int64) -> Any:
    array = np.array(values, dtype=dtype)
    array.flags.writeable = False
    return array


@dataclass(frozen=True)
class Usage:
    """One calendar month of daily usage, and what the month costs (:meth:`bill`).

    Every series has one value per day of :attr:`dates`. Arrays are read-only.

    Attributes
    ----------
    month : str
        ``"YYYY-MM"``.
    dates : tuple of datetime.date
        Every day of the month.
    dau : numpy.ndarray of int
        Distinct users who logged in each day (repeated logins do not add).
    groups : numpy.ndarray of int
        Net group count at the end of each day.
    price_list : PriceList
        The list the quotas came from and :meth:`bill` charges by default.
    edition : str or None
        The edition whose quotas applied (``None`` for CSV input: no quotas were simulated).
    logins : numpy.ndarray of int or None
        Logins each day (``None`` for CSV input; likewise the fields below).
    avchatrooms : numpy.ndarray of int or None
        AVChatRooms that exist at the end of each day (net: disbanded rooms do not count).
    trial_accounts : numpy.ndarray of int or None
        Accounts that exist at the end of each day.
    refused_avchatrooms, refused_trial_accounts : numpy.ndarray of int or None
        Creations the quota refused each day (quota events).
    expected_dau : numpy.ndarray of float or None
        The model's target DAU of each day (``dau_d`` in the module notes).
    source : dict
        Where the numbers come from: scenario name and file, seed, model; or the CSV files.
    """

    month: str
    dates: tuple[dt.date, ...]
    dau: IntArray
    groups: IntArray
    price_list: PriceList
    edition: str | None = None
    logins: IntArray | None = None
    avchatrooms: IntArray | None = None
    trial_accounts: IntArray | None = None
    refused_avchatrooms: IntArray | None = None
    refused_trial_accounts: IntArray | None = None
    expected_dau: NDArray[np.float64] | None = None
    source: dict[str, Any] = field(default_factory=dict)

    def bill(self, price_list: PriceListLike | None = None) -> Bill:
        """The month's bill (:func:`sim.billing.rules.monthly_bill`) on the peak DAU and groups.

        Parameters
        ----------
        price_list : PriceList, str, os.PathLike or None
            Defaults to :attr:`price_list`.
        """
        return monthly_bill(self.dau.tolist(), self.groups.tolist(), self.month,
                            self.price_list if price_list is None else price_list)

    def quota_events(self) -> dict[str, Any] | None:
        """Quota refusals over the month and the limits that caused them (``None`` for CSV).

        Returns
        -------
        dict or None
            ``{"edition", "refused_avchatrooms", "refused_trial_accounts",
            "avchatroom_limit", "account_limit"}``; a limit of ``None`` means unlimited.
        """
        if self.edition is None or self.refused_avchatrooms is None \
                or self.refused_trial_accounts is None:
            return None
        edition = self.price_list.edition(self.edition)
        return {
            "edition": self.edition,
            "refused_avchatrooms": int(self.refused_avchatrooms.sum()),
            "refused_trial_accounts": int(self.refused_trial_accounts.sum()),
            "avchatroom_limit": edition.avchatroom_limit,
            "account_limit": edition.account_limit,
        }

    def daily(self) -> dict[str, list[Any]]:
        """The daily series as JSON-ready columns (``date`` first; only the known series)."""
        columns: dict[str, list[Any]] = {"date": [d.isoformat() for d in self.dates],
                                         "dau": self.dau.tolist()}
        for name in ("logins", "groups", "avchatrooms", "trial_accounts",
                     "refused_avchatrooms", "refused_trial_accounts"):
            values = getattr(self, name)
            if values is not None:
                columns[name] = values.tolist()
        if self.expected_dau is not None:
            columns["expected_dau"] = [round(float(x), 1) for x in self.expected_dau]
        return columns

    def to_frame(self) -> pd.DataFrame:
        """The daily series as a :class:`pandas.DataFrame` indexed by date.

        Returns
        -------
        pandas.DataFrame
            One column per known series (:meth:`daily`), indexed by ``date``.
        """
        import pandas as pd  # deferred: pandas is slow to import and only to_frame needs it

        columns = self.daily()
        index = pd.DatetimeIndex(columns.pop("date"), name="date")
        return pd.DataFrame(columns, index=index)

    def report(self, *, daily: bool = True,
               price_list: PriceListLike | None = None) -> dict[str, Any]:
        """The bill with its provenance: what ``bill.json`` holds and ``summary["bill"]``.

        Returns
        -------
        dict
            :meth:`Bill.to_dict <sim.billing.rules.Bill.to_dict>` (money as decimal strings), plus
            ``edition``, ``quota_events`` (:meth:`quota_events`, ``None`` for CSV input),
            ``source`` and, when `daily`, ``daily`` (:meth:`daily`).
        """
        out = {**self.bill(price_list).to_dict(), "edition": self.edition,
               "quota_events": self.quota_events(), "source": dict(self.source)}
        if daily:
            out["daily"] = self.daily()
        return out

    def format_report(self, price_list: PriceListLike | None = None) -> str:
        """The bill as a table (:meth:`Bill.format_table <sim.billing.rules.Bill.format_table>`)
        followed by the quota events, as ``access-sim bill`` prints it."""
        lines = [self.bill(price_list).format_table()]
        events = self.quota_events()
        if events is not None:
            lines += ["", (f"Quota events ({events['edition']} edition, limits of price list "
                           f"{self.price_list.name}):"),
                      _event_line("AVChatRoom creations refused",
                                  events["refused_avchatrooms"], events["avchatroom_limit"],
                                  "rooms"),
                      _event_line("trial accounts refused", events["refused_trial_accounts"],
                                  events["account_limit"], "accounts")]
            if events["edition"] == "trial":
                lines += ["  The trial edition itself is free of charge; the fees above are those",
                          "  of the professional and flagship packages for this usage."]
        return "\n".join(lines)


def bill_headline(report: dict[str, Any]) -> str:
    """One line for a :meth:`Usage.report` dict (``summary["bill"]``), as ``access-sim run``
    prints it.

    Examples
    --------
    >>> bill = monthly_bill([40_000] * 30, [0] * 30, "2026-11")
    >>> print(bill_headline({**bill.to_dict(), "quota_events": {"refused_avchatrooms": 2,
    ...                      "refused_trial_accounts": 0}}))
    bill for 2026-11: 449.97 USD (peak DAU 40,000 on 2026-11-01, peak groups 0), deducted on \
2026-12-03; quota events: 2 AVChatRoom creations refused, 0 trial accounts refused
    """
    peaks = {line["item"]: line for line in report["lines"]}
    text = (f"bill for {report['month']}: {report['total']} {report['currency']} "
            f"(peak DAU {peaks['dau']['peak_value']:,} on {peaks['dau']['peak_day']}, "
            f"peak groups {peaks['groups']['peak_value']:,}), "
            f"deducted on {report['deduction_date']}")
    events = report.get("quota_events")
    if events:
        text += (f"; quota events: {events['refused_avchatrooms']:,} AVChatRoom creations "
                 f"refused, {events['refused_trial_accounts']:,} trial accounts refused")
    return text


def _event_line(label: str, count: int, limit: int | None, unit: str) -> str:
    shown = "unlimited" if limit is None else f"{limit:,} {unit}"
    return f"  {label:<30} {count:>7,}  (limit: {shown})"


# --------------------------------------------------------------------------------------------
# From a scenario
# --------------------------------------------------------------------------------------------

def daily_dau_targets(scenario: Scenario, month: str) -> NDArray[np.float64]:
    """The model's target DAU for each day of `month` (before the random draw).

    ``population.dau * (1 + dau_growth_per_day) ** d * w[weekday]``, with ``d = 0`` on the
    1st and ``w`` the weekly pattern (Monday first) divided by its mean.

    Examples
    --------
    >>> from sim.config.schema import Scenario
    >>> sc = Scenario.model_validate({"name": "x", "topology": "t.yaml",
    ...     "home_datacenter": "dc", "population": {"dau": 10000},
    ...     "billing": {"dau_growth_per_day": 0.1}})
    >>> daily_dau_targets(sc, "2026-11")[:3].round(1).tolist()
    [10000.0, 11000.0, 12100.0]
    """
    billing = scenario.billing or Billing()
    days = month_days(month)
    growth = (1.0 + billing.dau_growth_per_day) ** np.arange(len(days), dtype=float)
    if billing.weekly_pattern is not None:
        pattern = np.array(billing.weekly_pattern, dtype=float)
        weekly = (pattern / pattern.mean())[[d.weekday() for d in days]]
    else:
        weekly = np.ones(len(days))
    targets: NDArray[np.float64] = scenario.population.dau * growth * weekly
    return targets


def _site_pools(dau: float, logins_per_user: float, weight: NDArray[np.float64]) -> IntArray:
    """Users per site, exactly as :class:`sim.model.workload.Workload` sizes them."""
    pool = user_pool_size(max(1, round(dau)), logins_per_user)
    pools: IntArray = np.maximum(1, np.round(weight * pool)).astype(np.int64)
    return pools


def _draw_dau_and_logins(targets: NDArray[np.float64], logins_per_user: float,
                         weight: NDArray[np.float64], rng_dau: np.random.Generator,
                         rng_logins: np.random.Generator) -> tuple[IntArray, IntArray]:
    """Daily distinct users and logins, summed over the sites (see the module notes)."""
    pools = np.stack([_site_pools(t, logins_per_user, weight) for t in targets])  # day x site
    mean_logins = targets[:, None] * logins_per_user * weight[None, :]
    per_user = mean_logins / pools                                    # Poisson mean per user
    active_share = -np.expm1(-per_user)                              # P(at least one login)
    distinct = rng_dau.binomial(pools, active_share)

    # Logins given the distinct users: each active user's count is zero-truncated Poisson.
    ztp_mean = np.divide(per_user, active_share, out=np.ones_like(per_user),
                         where=active_share > 0)
    ztp_var = np.maximum(ztp_mean * (1.0 + per_user - ztp_mean), 0.0)
    normal = rng_logins.standard_normal(distinct.shape)
    logins = np.maximum(distinct, np.rint(distinct * ztp_mean
                                          + np.sqrt(distinct * ztp_var) * normal)).astype(np.int64)
    small = (distinct > 0) & (distinct <= _EXACT_LOGINS_MAX_USERS)
    if small.any():
        counts = distinct[small]
        mu = np.repeat(per_user[small], counts)
        draws = rng_logins.poisson(mu)
        zero = draws == 0
        while zero.any():                                 # rejection: redraw the zeros
            draws[zero] = rng_logins.poisson(mu[zero])
            zero = draws == 0
        cell = np.repeat(np.arange(len(counts)), counts)
        logins[small] = np.bincount(cell, weights=draws, minlength=len(counts)).astype(np.int64)
    return distinct.sum(axis=1).astype(np.int64), logins.sum(axis=1).astype(np.int64)


def _draw_groups(rates: Rates, days: int, rng: np.random.Generator) -> IntArray:
    created = rng.poisson(rates.created_per_day, days)
    removed = rng.poisson(rates.removed_per_day, days)
    count = rates.initial
    disbanded = []
    for plus, minus in zip(created.tolist(), removed.tolist()):
        gone = min(minus, count + plus)                  # never disband more than exist
        count += plus - gone
        disbanded.append(gone)
    return _frozen(net_group_counts(created.tolist(), disbanded, start=rates.initial))


def _drive_quota(rates: Rates, days: int, rng: np.random.Generator,
                 create: Callable[[int], str], remove: Callable[[str], None],
                 count: Callable[[], int], refused: Callable[[], int]) -> tuple[IntArray, IntArray]:
    """Apply each day's creations and removals, in random order, to a quota object."""
    live: deque[str] = deque()
    serial = 0
    for _ in range(rates.initial):
        live.append(create(serial))
        serial += 1
    end_counts, refusals = [], []
    for _ in range(days):
        before = refused()
        n_create = int(rng.poisson(rates.created_per_day))
        n_remove = int(rng.poisson(rates.removed_per_day))
        ops = np.zeros(n_create + n_remove, dtype=bool)
        ops[:n_create] = True
        for is_create in rng.permutation(ops).tolist():
            if is_create:
                try:
                    live.append(create(serial))
                except QuotaError:
                    pass                                  # counted by the quota object
                serial += 1
            elif live:
                remove(live.popleft())
        end_counts.append(count())
        refusals.append(refused() - before)
    return _frozen(end_counts), _frozen(refusals)


def _check_initial(rates: Rates, limit: int | None, key: str, what: str, edition: str,
                   prices: PriceList, source: str) -> None:
    if limit is not None and rates.initial > limit:
        raise BillingError(f"must be at most the {edition} edition's limit of {limit:,} {what} "
                           f"(price list {prices.name}), got {rates.initial:,}",
                           file=source, path=f"billing.{key}.initial")


def monthly_usage(scenario: Scenario, month: str | dt.date | tuple[int, int] | None = None,
                  seed: int | None = None, *, price_list: PriceListLike | None = None,
                  sites: Sites | None = None, source: str = "scenario") -> Usage:
    """A month of usage drawn from a scenario's population and its ``billing`` section.

    The counting model is described in the module notes (:mod:`sim.billing.usage`): DAU is the
    number of distinct users the workload's logins hit each day, drawn exactly; groups,
    AVChatRooms and trial accounts follow ``billing.groups``, ``billing.avchatrooms`` and
    ``billing.trial_accounts``, the last two through the edition's quotas.

    Parameters
    ----------
    scenario : Scenario
        A scenario without a ``billing`` section uses its defaults (no growth, flat week,
        no groups, rooms or accounts, professional edition, ``international-usd``).
    month : str, datetime.date or (int, int), optional
        The month; defaults to ``billing.month``.
    seed : int, optional
        Defaults to the scenario's seed.
    price_list : PriceList, str or os.PathLike, optional
        Overrides ``billing.price_list``: its edition limits drive the quotas and
        :meth:`Usage.bill` charges by it.
    sites : Sites, optional
        The scenario's sites if already loaded (``World.sites``); loaded otherwise.
    source : str
        The scenario file, named in error messages.

    Returns
    -------
    Usage

    Raises
    ------
    BillingError
        No month (neither `month` nor ``billing.month``), a malformed month, a bad price list,
        or an ``initial`` count above the edition's limit.

    Examples
    --------
    >>> import sim
    >>> sc = sim.load_scenario("scenarios/cost-growth.yaml")  # doctest: +SKIP
    >>> usage = monthly_usage(sc, "2026-11")                    # doctest: +SKIP
    >>> print(usage.bill().format_table())                     # doctest: +SKIP
    """
    billing = scenario.billing or Billing()
    if month is None:
        if billing.month is None:
            raise BillingError("no month to bill: set billing.month, or give a month "
                               "(access-sim bill --month YYYY-MM)", file=source,
                               path="billing.month")
        month = billing.month
    month = parse_month(month)
    prices = (price_list if isinstance(price_list, PriceList)
              else load_price_list(price_list if price_list is not None else billing.price_list))
    edition = prices.edition(billing.edition)
    _check_initial(billing.avchatrooms, edition.avchatroom_limit, "avchatrooms", "AVChatRooms",
                   edition.name, prices, source)
    _check_initial(billing.trial_accounts, edition.account_limit, "trial_accounts", "accounts",
                   edition.name, prices, source)
    seed = scenario.seed if seed is None else seed
    streams = np.random.SeedSequence(seed, spawn_key=(USAGE_SPAWN_KEY,)).spawn(len(STREAMS))
    rng = dict(zip(STREAMS, (np.random.default_rng(s) for s in streams)))

    dates = month_days(month)
    if sites is None:
        sites = load_sites(scenario, source)
    targets = daily_dau_targets(scenario, month)
    dau, logins = _draw_dau_and_logins(targets, scenario.population.logins_per_user_per_day,
                                       sites.weight, rng["dau"], rng["logins"])
    groups = _draw_groups(billing.groups, len(dates), rng["groups"])

    rooms: AVChatRoomQuota = edition.avchatroom_quota()
    room_counts, room_refusals = _drive_quota(
        billing.avchatrooms, len(dates), rng["avchatrooms"],
        create=lambda _: rooms.create(), remove=rooms.disband,
        count=lambda: rooms.count, refused=lambda: rooms.refused)
    accounts: TrialAccounts = edition.account_quota()

    def create_account(serial: int) -> str:
        return accounts.create(f"user-{serial + 1}").account_id

    account_counts, account_refusals = _drive_quota(
        billing.trial_accounts, len(dates), rng["trial_accounts"],
        create=create_account, remove=accounts.delete,
        count=lambda: accounts.count, refused=lambda: accounts.refused)

    return Usage(
        month=month, dates=dates, dau=_frozen(dau), groups=groups, price_list=prices,
        edition=edition.name, logins=_frozen(logins), avchatrooms=room_counts,
        trial_accounts=account_counts, refused_avchatrooms=room_refusals,
        refused_trial_accounts=account_refusals, expected_dau=_frozen(targets, float),
        source={"kind": "scenario", "scenario": scenario.name, "file": source, "seed": seed,
                "model": "sim.billing.usage counting model", "version": package_version(),
                "billing": billing.model_dump(mode="json")},
    )


# --------------------------------------------------------------------------------------------
# From CSV files
# --------------------------------------------------------------------------------------------

def read_daily_csv(path: str | os.PathLike[str], column: str, month: str) -> IntArray:
    """One whole number per day of `month` from a CSV file with the columns ``date,<column>``.

    Format: a header line ``date,dau`` (or ``date,groups``: the columns in either order, no
    others), then one row per day, ``2026-11-01,12345``: the date as ``YYYY-MM-DD`` and a
    whole number >= 0. Rows of other months are allowed and ignored (an export may span
    several months); every day of `month` must appear exactly once. Blank lines are skipped.

    Parameters
    ----------
    path : path-like
        The CSV file (UTF-8; a byte-order mark is ignored).
    column : str
        The value column, ``"dau"`` or ``"groups"``.
    month : str
        ``"YYYY-MM"``.

    Returns
    -------
    numpy.ndarray of int
        In date order.

    Raises
    ------
    BillingError
        Located as ``FILE: line N, column C: message`` (or ``FILE: message``).
    """
    label = os.fspath(path)

    def error(message: str, where: str | None = None) -> BillingError:
        return BillingError(message, file=label, path=where)

    text = read_input_text(path, what="CSV", error_type=BillingError, label=label,
                           encoding="utf-8-sig")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise error(f"invalid CSV: {shown_text(str(exc), 120)}") from None
    numbered = [(n, row) for n, row in enumerate(rows, start=1) if any(c.strip() for c in row)]
    expected = f"date,{column}"
    if not numbered:
        raise error(f"empty file: expected a header line {expected}")
    header_line, header = numbered[0]
    names = [c.strip() for c in header]
    if sorted(names) != sorted(["date", column]):
        raise error(f"expected the columns {expected}, got {shown_text(','.join(names), 80)}",
                    f"line {header_line}")
    date_at, value_at = names.index("date"), names.index(column)
    wanted = set(month_days(month))
    seen: dict[dt.date, int] = {}
    values: dict[dt.date, int] = {}
    for line, row in numbered[1:]:
        if len(row) != 2:
            raise error(f"expected 2 values ({expected}), got {len(row)}", f"line {line}")
        date_text = row[date_at].strip()
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date_text):
                raise ValueError
            day = dt.date.fromisoformat(date_text)
        except ValueError:
            raise error(f"expected a date as YYYY-MM-DD, got {shown_value(date_text)}",
                        f"line {line}, column date") from None
        if day in seen:
            raise error(f"{day.isoformat()} appears twice (first on line {seen[day]})",
                        f"line {line}, column date")
        seen[day] = line
        raw = row[value_at].strip()
        if not re.fullmatch(r"\d+", raw):
            raise error(f"expected a whole number >= 0, got {shown_value(raw)}",
                        f"line {line}, column {column}")
        if len(raw.lstrip("0")) > 11 or int(raw) > MAX_CSV_VALUE:
            raise error(f"must be at most {MAX_CSV_VALUE:,}, got {shown_value(raw)}",
                        f"line {line}, column {column}")
        if day in wanted:
            values[day] = int(raw)
    missing = sorted(wanted - set(values))
    if missing:
        shown = ", ".join(d.isoformat() for d in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise error(f"no row for {len(missing)} of the {len(wanted)} days of {month}: "
                    f"{shown}{more}")
    return _frozen([values[d] for d in sorted(values)])


def usage_from_csv(dau_csv: str | os.PathLike[str], groups_csv: str | os.PathLike[str] | None,
                   month: str | dt.date | tuple[int, int],
                   price_list: PriceListLike | None = None) -> Usage:
    """A month of measured usage from CSV files (:func:`read_daily_csv`).

    Parameters
    ----------
    dau_csv : path-like
        Columns ``date,dau``.
    groups_csv : path-like or None
        Columns ``date,groups`` (net group count at the end of each day); ``None`` = no groups.
    month : str, datetime.date or (int, int)
    price_list : PriceList, str, os.PathLike or None
        Defaults to ``international-usd``.

    Returns
    -------
    Usage
        With ``dau`` and ``groups`` only: no quota events are known from such files.
    """
    month = parse_month(month)
    prices = (price_list if isinstance(price_list, PriceList)
              else load_price_list(price_list if price_list is not None
                                   else Billing().price_list))
    dau = read_daily_csv(dau_csv, "dau", month)
    groups = (read_daily_csv(groups_csv, "groups", month) if groups_csv is not None
              else _frozen(np.zeros(len(dau), dtype=np.int64)))
    return Usage(month=month, dates=month_days(month), dau=dau, groups=groups,
                 price_list=prices,
                 source={"kind": "csv", "dau_csv": os.fspath(dau_csv),
                         "groups_csv": None if groups_csv is None else os.fspath(groups_csv),
                         "version": package_version()})

