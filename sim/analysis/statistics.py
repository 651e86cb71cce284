"""Statistics across replications: confidence intervals and Welch's t-test.

Every headline figure of a run (mean and percentile latency, failure share, spill share,
utilisation and peak utilisation per node, p95 per region) is computed once per replication;
this module turns the per-replication values into a mean with a 95% confidence interval and
compares two scenarios with Welch's unequal-variance t-test.

The Student t distribution (quantiles for the intervals, tail probabilities for the
p-values) comes from :data:`scipy.stats.t`. Means, standard deviations, the t statistic and
the Welch-Satterthwaite degrees of freedom are computed here, with :func:`math.fsum`, so that
the edge cases below are decided before SciPy is called.

With fewer than two replications there is no spread to estimate: intervals and tests are
reported as not available (``None`` in data, ``n/a`` in tables), never as zero-width.

Figure names are the dotted paths of the corresponding figure in ``summary.json``:
``latency_ms.p95``, ``logins.failure_share``, ``addressing.spill_share``,
``latency_ms.by_region.<region>.p95``, ``nodes.<node>.utilization`` and
``nodes.<node>.peak_utilization`` (the largest sampled utilisation in the measurement window),
and ``peak_utilization.busiest_node`` (the largest of those, over nodes).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scipy import stats

__all__ = [
    "CONFIDENCE",
    "HEADLINE_FIGURES",
    "MeanCI",
    "WelchResult",
    "figure_label",
    "flatten_figures",
    "mean_ci",
    "t_cdf",
    "t_quantile",
    "welch_test",
]

CONFIDENCE = 0.95
"""Level of every confidence interval reported."""

HEADLINE_FIGURES: tuple[str, ...] = (
    "latency_ms.mean", "latency_ms.p50", "latency_ms.p95", "latency_ms.p99",
    "logins.failure_share", "addressing.spill_share", "peak_utilization.busiest_node",
)
"""Scalar headline figures, in report order (per-node and per-region figures follow)."""

_LABELS = {
    "latency_ms.mean": "mean latency (ms)",
    "latency_ms.p50": "p50 latency (ms)",
    "latency_ms.p90": "p90 latency (ms)",
    "latency_ms.p95": "p95 latency (ms)",
    "latency_ms.p99": "p99 latency (ms)",
    "logins.failure_share": "failure share",
    "addressing.spill_share": "spill share",
    "peak_utilization.busiest_node": "busiest node's peak utilisation",
}


def figure_label(name: str) -> str:
    """A short human label for a figure name.

    Examples
    --------
    >>> figure_label("latency_ms.p95")
    'p95 latency (ms)'
    >>> figure_label("nodes.access-lagos.peak_utilization")
    'access-lagos peak utilisation'
    >>> figure_label("latency_ms.by_region.africa.p95")
    'africa p95 latency (ms)'
    """
    if name in _LABELS:
        return _LABELS[name]
    if name.startswith("nodes."):
        node, _, what = name[len("nodes."):].rpartition(".")
        return f"{node} {'peak utilisation' if what == 'peak_utilization' else 'utilisation'}"
    if name.startswith("latency_ms.by_region."):
        region, _, what = name[len("latency_ms.by_region."):].rpartition(".")
        return f"{region} {what} latency (ms)"
    return name


def flatten_figures(figures: Mapping[str, Any]) -> dict[str, float]:
    """One replication's headline figures (an item of ``summary["replication_figures"]``)
    as ``{figure name: value}``; a missing or null value becomes NaN.

    Examples
    --------
    >>> flatten_figures({"latency_ms": {"mean": 1.0, "p50": 0.5}, "failure_share": 0.0,
    ...                  "spill_share": None, "utilization": {"a": 0.2},
    ...                  "peak_utilization": {"a": 0.5}, "by_region_p95": {"asia": 3.0}})
    ... # doctest: +NORMALIZE_WHITESPACE
    {'latency_ms.mean': 1.0, 'latency_ms.p50': 0.5, 'logins.failure_share': 0.0,
     'addressing.spill_share': nan, 'latency_ms.by_region.asia.p95': 3.0,
     'peak_utilization.busiest_node': 0.5, 'nodes.a.utilization': 0.2,
     'nodes.a.peak_utilization': 0.5}
    """
    out: dict[str, float] = {}
    for key, value in (figures.get("latency_ms") or {}).items():
        out[f"latency_ms.{key}"] = _num(value)
    out["logins.failure_share"] = _num(figures.get("failure_share"))
    out["addressing.spill_share"] = _num(figures.get("spill_share"))
    for region, value in (figures.get("by_region_p95") or {}).items():
        out[f"latency_ms.by_region.{region}.p95"] = _num(value)
    util = figures.get("utilization") or {}
    peak = figures.get("peak_utilization") or {}
    if peak:
        values = [_num(v) for v in peak.values()]
        finite = [v for v in values if math.isfinite(v)]
        out["peak_utilization.busiest_node"] = max(finite) if finite else math.nan
    for node in _ordered_union(util, peak):
        if node in util:
            out[f"nodes.{node}.utilization"] = _num(util[node])
        if node in peak:
            out[f"nodes.{node}.peak_utilization"] = _num(peak[node])
    return out


def _ordered_union(*maps: Mapping[str, Any]) -> list[str]:
    seen: dict[str, None] = {}
    for m in maps:
        for k in m:
            seen.setdefault(k, None)
    return list(seen)


def _num(x: Any) -> float:
    return math.nan if x is None else float(x)


# --------------------------------------------------------------------------- Student t


def t_cdf(t: float, df: float) -> float:
    """Cumulative distribution function of Student's t, from :data:`scipy.stats.t`.

    Parameters
    ----------
    t : float
        Where to evaluate; ``-inf`` and ``inf`` give 0 and 1.
    df : float
        Degrees of freedom, ``> 0`` (need not be an integer).

    Returns
    -------
    float
        ``P(T <= t)``.

    Raises
    ------
    ValueError
        If ``df <= 0`` or ``t`` or ``df`` is NaN.

    Examples
    --------
    >>> round(t_cdf(0.0, 3), 12)
    0.5
    >>> round(t_cdf(2.0, 10), 6)
    0.963306
    """
    if df <= 0 or math.isnan(t) or math.isnan(df):
        raise ValueError(f"t_cdf needs df > 0 and a number, got t={t!r}, df={df!r}")
    return float(stats.t.cdf(t, df))


def t_quantile(p: float, df: float) -> float:
    """Quantile (inverse CDF) of Student's t, from :data:`scipy.stats.t`.

    Parameters
    ----------
    p : float
        Probability, ``0 < p < 1``.
    df : float
        Degrees of freedom, ``> 0`` (need not be an integer).

    Returns
    -------
    float
        The ``t`` with ``P(T <= t) = p``.

    Raises
    ------
    ValueError
        If ``p`` is not strictly between 0 and 1, or ``df`` is not ``> 0`` (NaN included).

    Examples
    --------
    >>> round(t_quantile(0.975, 1), 4)
    12.7062
    >>> round(t_quantile(0.975, 4), 4)
    2.7764
    >>> round(t_quantile(0.975, 1e9), 4)
    1.96
    """
    if not 0.0 < p < 1.0 or not df > 0:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df > 0, got p={p!r}, df={df!r}")
    return float(stats.t.ppf(p, df))


# --------------------------------------------------------------------------- intervals


@dataclass(frozen=True)
class MeanCI:
    """Mean of per-replication values with its confidence interval.

    ``low``, ``high`` and ``half_width`` are None with fewer than two finite values.
    """

    n: int
    mean: float | None
    low: float | None
    high: float | None
    half_width: float | None
    sd: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"n", "mean", "low", "high", "half_width", "sd"}``."""
        return {"n": self.n, "mean": self.mean, "low": self.low, "high": self.high,
                "half_width": self.half_width, "sd": self.sd}


def _finite(values: Iterable[Any]) -> list[float]:
    out = []
    for v in values:
        if v is None:
            continue
        f = float(v)
        if math.isfinite(f):
            out.append(f)
    return out


def _mean_var(x: Sequence[float]) -> tuple[float, float]:
    n = len(x)
    mean = math.fsum(x) / n
    var = math.fsum((v - mean) ** 2 for v in x) / (n - 1) if n > 1 else math.nan
    return mean, var


def mean_ci(values: Iterable[Any], confidence: float = CONFIDENCE) -> MeanCI:
    """Mean and t-based confidence interval of independent replications' values.

    NaN and None (a replication without the figure, e.g. no logins in a region) are left out
    and reduce ``n``; so are infinite values.

    Parameters
    ----------
    values : iterable of float or None
        One value per replication.
    confidence : float, default :data:`CONFIDENCE`
        Level of the interval, ``0 < confidence < 1``.

    Returns
    -------
    MeanCI
        ``n`` finite values, their mean, the interval ``mean -/+ half_width`` with
        ``half_width = t_{(1 + confidence) / 2, n - 1} * sd / sqrt(n)`` (the t quantile from
        :data:`scipy.stats.t`) and the sample standard deviation ``sd``. With no finite value
        every field but ``n = 0`` is None; with one, only ``n`` and ``mean`` are set.

    Raises
    ------
    ValueError
        If ``confidence`` is not strictly between 0 and 1 (and there are two values or more).

    Examples
    --------
    >>> ci = mean_ci([10.0, 12.0, 11.0])
    >>> ci.mean, round(ci.low, 4), round(ci.high, 4)
    (11.0, 8.5159, 13.4841)
    >>> mean_ci([5.0]).low is None
    True
    """
    x = _finite(values)
    n = len(x)
    if n == 0:
        return MeanCI(0, None, None, None, None, None)
    mean, var = _mean_var(x)
    if n < 2:
        return MeanCI(n, mean, None, None, None, None)
    sd = math.sqrt(var)
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * sd / math.sqrt(n)
    return MeanCI(n, mean, mean - half, mean + half, half, sd)


@dataclass(frozen=True)
class WelchResult:
    """Welch's t-test of ``b - a``; None fields when either side has fewer than two values."""
    diff: float | None
    low: float | None
    high: float | None
    t: float | None
    df: float | None
    p_value: float | None
    significant: bool | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"diff": self.diff, "diff_low": self.low, "diff_high": self.high, "t": self.t,
                "df": self.df, "p_value": self.p_value, "significant": self.significant}


def welch_test(a: Iterable[Any], b: Iterable[Any], *, alpha: float = 1.0 - CONFIDENCE
               ) -> WelchResult:
    """Welch's unequal-variance t-test of the difference ``mean(b) - mean(a)``.

    Returns the difference, its ``1 - alpha`` confidence interval, the t statistic, the
    Welch-Satterthwaite degrees of freedom, the two-sided p-value and whether
    ``p < alpha``. When both samples have no spread the difference is exact: significant if
    it is not zero (p = 0), not significant if it is (p = 1).

    Means and variances are computed here (as for :func:`mean_ci`); the p-value,
    ``2 * P(T > |t|)``, and the interval's t quantile come from :data:`scipy.stats.t`. The
    numbers agree with ``scipy.stats.ttest_ind(b, a, equal_var=False)``, which is not called
    because it does not give the edge cases above (it warns, and returns NaN or an infinite
    statistic).

    Parameters
    ----------
    a, b : iterable of float or None
        Per-replication values of the two scenarios; None, NaN and infinite values are left
        out.
    alpha : float, default ``1 - CONFIDENCE``
        Significance level (e.g. 0.05); the interval has level ``1 - alpha``.

    Returns
    -------
    WelchResult
        All fields None if either side has no finite value; only ``diff`` if either side has
        one; ``t`` and ``df`` None (and ``low = high = diff``) if neither side has spread.

    Raises
    ------
    ValueError
        If ``alpha`` is not strictly between 0 and 2 (checked only when a t quantile is needed).

    Examples
    --------
    >>> r = welch_test([10.0, 11.0, 12.0], [10.0, 11.0, 12.0])
    >>> r.diff, r.p_value, r.significant
    (0.0, 1.0, False)
    >>> welch_test([1.0, 1.1, 0.9], [2.0, 2.1, 1.9]).significant
    True
    >>> welch_test([1.0], [2.0]).significant is None
    True
    """
    xa, xb = _finite(a), _finite(b)
    if len(xa) == 0 or len(xb) == 0:
        return WelchResult(None, None, None, None, None, None, None)
    ma, va = _mean_var(xa)
    mb, vb = _mean_var(xb)
    diff = mb - ma
    if len(xa) < 2 or len(xb) < 2:
        return WelchResult(diff, None, None, None, None, None, None)
    sa, sb = va / len(xa), vb / len(xb)
    se2 = sa + sb
    if se2 <= 0.0:
        exact = diff == 0.0
        return WelchResult(diff, diff, diff, None, None, 1.0 if exact else 0.0, not exact)
    se = math.sqrt(se2)
    df = se2 * se2 / ((sa * sa / (len(xa) - 1) if sa else 0.0)
                      + (sb * sb / (len(xb) - 1) if sb else 0.0))
    t = diff / se
    p = min(1.0, 2.0 * float(stats.t.sf(abs(t), df)))  # two-sided tail
    half = t_quantile(1.0 - alpha / 2.0, df) * se
    return WelchResult(diff, diff - half, diff + half, t, df, p, p < alpha)
