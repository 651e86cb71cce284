"""Last-mile RTT: from a terminal to the provider's edge of the public internet.

:func:`sim.model.latency.path_rtt_ms` gives the RTT between well-connected hosts (servers in data
centres); a terminal adds its access network and metro aggregation on top, drawn here per login.

Each access type has a log-normal RTT (access + metro) given by its median and the sigma of its
logarithm; a Wi-Fi terminal adds a home Wi-Fi hop on top of a fixed line. Sources of the medians:

* Fixed lines, United States: FCC *Measuring Broadband America* (MBA), median idle latency to
  the nearest measurement server by technology, 2023 (``../shared/data/
  fcc_mba_idle_latency_by_technology_yearly.csv``): fibre 9.27 ms, cable 16.30 ms, DSL 26.72 ms.
  The same file gives the median of each test's maximum (fibre 12.0, cable 25.1, DSL 34.6 ms),
  i.e. the spread within a line is about 1.3-1.5x.
* Fixed lines, worldwide (``fixed``): Ookla Speedtest Global Index, median fixed-broadband
  latency 10 ms in 2021 and 2022.
* Mobile: Ookla, median mobile latency worldwide 29 ms (2021) and 28 ms (2022), a mix of 4G and
  early 5G. Early 5G (non-standalone, sharing the 4G core) measured only a little faster than
  4G, far from IMT-2020's 4 ms one-way user-plane target: 4G 30 ms, 5G 25 ms here.
* Wi-Fi hop: a few ms median between the terminal and the home router, with a long tail under
  contention (median 3 ms, sigma 0.8 here: p90 ~8 ms).

The sigmas (spread between terminals of one access type) are assumptions: MBA and Ookla publish
medians, not the spread between users; 0.35-0.5 puts the p90 at 1.6-1.9x the median, in line
with MBA's per-test maxima and the long mobile tails reported below.

Mobile RTT varies strongly by region; :data:`MOBILE_REGION_FACTOR` scales the mobile medians
only. The shared data has no regional mobile measurements, so the factors are indicative, read
from published reports: Opensignal, *The State of Mobile Network Experience* (2019; latency
experience under 40 ms in only 13 of 87 countries, six of the best ten in Europe, East Asia
close behind); Ookla market reports (e.g. Ethiopia 55 ms and an operator in Cameroon at 184 ms
median multi-server latency, Q1 2023), i.e. Sub-Saharan Africa and parts of Latin America and
South Asia well above the worldwide median, Europe, East Asia and mainland China below it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray

__all__ = ["ACCESS_PROFILES", "MOBILE_REGION_FACTOR", "WIFI_HOP", "AccessProfile",
           "last_mile_median_ms", "sample_last_mile_ms"]


@dataclass(frozen=True)
class AccessProfile:
    """Log-normal last-mile RTT of one access type.

    Attributes
    ----------
    median_ms : float
        Median RTT, ms.
    sigma : float
        Standard deviation of the RTT's natural logarithm.
    mobile : bool
        Scaled by :data:`MOBILE_REGION_FACTOR`.
    wifi_hop : bool
        A :data:`WIFI_HOP` is added to each draw.
    source : str
        Where the median comes from.
    """

    median_ms: float
    sigma: float
    mobile: bool = False
    wifi_hop: bool = False
    source: str = ""


WIFI_HOP = AccessProfile(3.0, 0.8, source="home Wi-Fi hop: a few ms, long tail under contention")
"""The extra RTT of the home Wi-Fi hop, added to a fixed line for ``wifi`` terminals."""

ACCESS_PROFILES: dict[str, AccessProfile] = {
    "fiber": AccessProfile(9.3, 0.35, source="FCC MBA 2023, fibre median idle latency 9.27 ms"),
    "cable": AccessProfile(16.3, 0.35, source="FCC MBA 2023, cable median idle latency 16.30 ms"),
    "dsl": AccessProfile(26.7, 0.40, source="FCC MBA 2023, DSL median idle latency 26.72 ms"),
    "fixed": AccessProfile(10.0, 0.45,
                           source="Ookla worldwide median fixed-broadband latency 10 ms, 2021-22"),
    "wifi": AccessProfile(10.0, 0.45, wifi_hop=True,
                          source="an Ookla-median fixed line (10 ms) plus a home Wi-Fi hop"),
    "mobile_4g": AccessProfile(30.0, 0.50, mobile=True,
                               source="Ookla worldwide median mobile latency 28-29 ms, 2021-22"),
    "mobile_5g": AccessProfile(25.0, 0.50, mobile=True,
                               source="early (non-standalone) 5G, a little faster than 4G"),
}
"""Access types a scenario's ``population.access_mix`` may name."""

MOBILE_REGION_FACTOR: dict[str, float] = {
    "china": 0.9,
    "asia": 1.1,
    "europe": 0.9,
    "north_america": 1.0,
    "south_america": 1.25,
    "oceania": 1.0,
    "africa": 1.6,
}
"""Mobile latency relative to the worldwide median, by service region (indicative: see the
module docstring). A region not listed takes 1.0."""


def last_mile_median_ms(access_type: str, region: str) -> float:
    """Median last-mile RTT in ms of one access type in one service region.

    For ``wifi``, the median of the sum of the fixed line and the Wi-Fi hop (computed
    numerically; a little above the sum of the two medians).

    Examples
    --------
    >>> last_mile_median_ms("mobile_4g", "africa")
    48.0
    >>> round(last_mile_median_ms("wifi", "europe"), 1)
    13.9
    """
    profile = _profile(access_type)
    median = profile.median_ms
    if profile.mobile:
        median *= MOBILE_REGION_FACTOR.get(region, 1.0)
    if profile.wifi_hop:
        return _median_of_sum(median, profile.sigma, WIFI_HOP.median_ms, WIFI_HOP.sigma)
    return median


def _median_of_sum(m1: float, s1: float, m2: float, s2: float) -> float:
    """Median of the sum of two independent log-normals (bisection on the CDF)."""
    normal = NormalDist()
    # the second variable at 2,000 evenly spaced quantiles
    y = [m2 * math.exp(s2 * normal.inv_cdf((i + 0.5) / 2000)) for i in range(2000)]

    def cdf(x: float) -> float:
        return sum(normal.cdf(math.log(x - v) / s1 - math.log(m1) / s1) if x > v else 0.0
                   for v in y) / len(y)

    lo, hi = m1, m1 + 10.0 * m2
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if cdf(mid) < 0.5 else (lo, mid)
    return 0.5 * (lo + hi)


def _profile(access_type: str) -> AccessProfile:
    try:
        return ACCESS_PROFILES[access_type]
    except KeyError:
        raise ValueError(f"unknown access type {access_type!r}; expected one of "
                         f"{', '.join(ACCESS_PROFILES)}") from None


def sample_last_mile_ms(rng: np.random.Generator, access_type: str, region: str,
                        size: int) -> NDArray[np.float64]:
    """Draw ``size`` last-mile RTTs in ms for one access type in one service region.

    Parameters
    ----------
    rng : numpy.random.Generator
        The last-mile random stream.
    access_type : str
        A key of :data:`ACCESS_PROFILES`.
    region : str
        A service region (a key of :data:`MOBILE_REGION_FACTOR`; others count as 1.0).
    size : int
        Number of draws.

    Returns
    -------
    numpy.ndarray
        Positive RTTs, ms.

    Raises
    ------
    ValueError
        If the access type is unknown.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = sample_last_mile_ms(rng, "fiber", "europe", 10_000)
    >>> 8.8 < float(np.median(x)) < 9.8
    True
    """
    profile = _profile(access_type)
    median = profile.median_ms
    if profile.mobile:
        median *= MOBILE_REGION_FACTOR.get(region, 1.0)
    out = median * np.exp(profile.sigma * rng.standard_normal(size))
    if profile.wifi_hop:
        out += WIFI_HOP.median_ms * np.exp(WIFI_HOP.sigma * rng.standard_normal(size))
    return out
