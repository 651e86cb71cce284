"""Latency model: great-circle distance, the fibre floor and typical path RTTs.

Every RTT the simulator uses between two places comes from :func:`path_rtt_ms`; the engine
precomputes tables with it once per run (sites x nodes, nodes x nodes) and never per login.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "EARTH_RADIUS_KM",
    "FIBRE_KM_PER_MS",
    "haversine_km",
    "fibre_floor_rtt_ms",
    "path_rtt_ms",
]

EARTH_RADIUS_KM = 6371.0088
"""Mean Earth radius (IUGG), the R of every great-circle distance in the project."""

FIBRE_KM_PER_MS = 204.19
"""Speed of light in fibre (group index ~1.468), km per ms one way."""

Network = Literal["public", "private"]


def haversine_km(lat_a: ArrayLike, lon_a: ArrayLike, lat_b: ArrayLike,
                 lon_b: ArrayLike) -> NDArray[np.float64]:
    """Great-circle distance in km between points given in degrees (broadcasts).

    Examples
    --------
    >>> round(float(haversine_km(0.0, 0.0, 0.0, 1.0)), 2)
    111.19
    """
    la1, lo1, la2, lo2 = (np.radians(np.asarray(x, dtype=float)) for x in (lat_a, lon_a, lat_b, lon_b))
    h = np.sin((la2 - la1) / 2) ** 2 + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def fibre_floor_rtt_ms(distance_km: ArrayLike) -> NDArray[np.float64]:
    """Round trip over straight fibre along the great circle: the physical floor.

    Examples
    --------
    >>> float(fibre_floor_rtt_ms(204.19))
    2.0
    """
    return 2.0 * np.asarray(distance_km, dtype=float) / FIBRE_KM_PER_MS


# Median fits over 500 km from ../shared/data (see its README): public internet between
# data-center servers (WonderProxy 2020) and a private backbone's P95 (Azure).
_PUBLIC_BASE_MS, _PUBLIC_PER_KM = 13.7, 0.0168
_PRIVATE_BASE_MS, _PRIVATE_PER_KM = 12.3, 0.01562


def path_rtt_ms(lat_a: ArrayLike, lon_a: ArrayLike, lat_b: ArrayLike, lon_b: ArrayLike,
                network: Network = "public") -> NDArray[np.float64]:
    """Typical minimum RTT in ms between two well-connected hosts, without last mile.

    Parameters
    ----------
    lat_a, lon_a, lat_b, lon_b : array_like
        Coordinates in degrees; broadcast against each other.
    network : {"public", "private"}
        ``"public"`` for the public internet, ``"private"`` for the provider's backbone.

    Returns
    -------
    numpy.ndarray
        RTT in ms, never below :func:`fibre_floor_rtt_ms` of the great-circle distance.

    Raises
    ------
    ValueError
        If ``network`` is not one of the two names.
    """
    d = haversine_km(lat_a, lon_a, lat_b, lon_b)
    if network == "public":
        rtt = _PUBLIC_BASE_MS * (1 - np.exp(-d / 300.0)) + 1.0 + _PUBLIC_PER_KM * d
    elif network == "private":
        rtt = _PRIVATE_BASE_MS * (1 - np.exp(-d / 300.0)) + 0.5 + _PRIVATE_PER_KM * d
    else:
        raise ValueError(f"network must be 'public' or 'private', got {network!r}")
    return np.maximum(rtt, fibre_floor_rtt_ms(d))
