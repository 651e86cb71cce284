"""Last-mile RTT: from a terminal to the provider's edge of the public internet.

Each access type has a log-normal RTT distribution (access network + metro) given by its
median and the sigma of its logarithm. Sources for the medians: FCC Measuring Broadband
America 2023 (fibre ~9 ms, cable ~16 ms, DSL ~27 ms idle latency), Ookla (mobile median
28-29 ms worldwide 2021-22, fixed 10 ms). Mobile RTT varies strongly by region; the regional
multipliers below scale mobile medians only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["AccessProfile", "ACCESS_PROFILES", "MOBILE_REGION_FACTOR", "sample_last_mile_ms"]


@dataclass(frozen=True)
class AccessProfile:
    """Log-normal last-mile RTT of one access type."""

    median_ms: float
    sigma: float
    mobile: bool = False


ACCESS_PROFILES: dict[str, AccessProfile] = {
    "fiber": AccessProfile(9.0, 0.30),
    "cable": AccessProfile(16.0, 0.35),
    "dsl": AccessProfile(27.0, 0.35),
    # "fixed": an unspecified fixed line, the Ookla worldwide fixed median.
    "fixed": AccessProfile(10.0, 0.40),
    # Wi-Fi: a fixed line plus a home Wi-Fi hop (a few ms, with a long tail under contention).
    "wifi": AccessProfile(14.0, 0.45),
    "mobile_4g": AccessProfile(34.0, 0.50, mobile=True),
    "mobile_5g": AccessProfile(22.0, 0.50, mobile=True),
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
"""Mobile latency relative to the worldwide median, by service region (Ookla's regional
spread: East Asia and Northern Europe fastest, Sub-Saharan Africa and parts of South America
the slowest)."""


def sample_last_mile_ms(rng: np.random.Generator, access_type: str, region: str,
                        size: int) -> NDArray[np.float64]:
    """Draw ``size`` last-mile RTTs in ms for one access type in one region.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = sample_last_mile_ms(rng, "fiber", "europe", 10_000)
    >>> 8.5 < float(np.median(x)) < 9.5
    True
    """
    profile = ACCESS_PROFILES[access_type]
    median = profile.median_ms
    if profile.mobile:
        median *= MOBILE_REGION_FACTOR.get(region, 1.0)
    return median * np.exp(profile.sigma * rng.standard_normal(size))
