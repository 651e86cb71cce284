"""Statistics across replications: confidence intervals and Welch's t-test.

Every headline figure of a run (mean and percentile latency, failure share, spill share,
utilisation and peak utilisation per node, p95 per region) is computed once per replication;
this module turns the per-replication values into a mean with a 95% confidence interval and
compares two scenarios with Welch's unequal-variance t-test.

The Student t distribution is implemented here (regularized incomplete beta function by its
continued fraction, inverted by bisection) instead of importing SciPy: the simulator does not
depend on SciPy at run time, and the numbers are the same bytes whether or not SciPy is
installed. The test suite checks this implementation against ``scipy.stats.t`` to 1e-9.

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


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """Cumulative distribution function of Student's t with ``df`` degrees of freedom.

    Examples
    --------
    >>> round(t_cdf(0.0, 3), 12)
    0.5
    >>> round(t_cdf(2.0, 10), 6)
    0.963306
    """
    if df <= 0 or math.isnan(t) or math.isnan(df):
        raise ValueError(f"t_cdf needs df > 0 and a number, got t={t!r}, df={df!r}")
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """Quantile (inverse CDF) of Student's t, by bisection to full float precision.

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
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


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
    and reduce ``n``.

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
    p = min(1.0, _betainc(df / 2.0, 0.5, df / (df + t * t)))  # two-sided tail
    half = t_quantile(1.0 - alpha / 2.0, df) * se
    return WelchResult(diff, diff - half, diff + half, t, df, p, p < alpha)
