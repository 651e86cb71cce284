"""Latency model: great-circle distance, the fibre floor and typical path RTTs.

Every RTT the simulator uses between two places comes from :func:`path_rtt_ms`; the engine
precomputes tables with it once per run (sites x nodes, nodes x nodes) and never per login.

The model (see ``docs/latency.md`` for the derivation, the sources and the validation):

* Every coordinate belongs to a **region**, a peering domain such as ``europe``,
  ``north_america``, ``india``, ``nigeria`` or ``japan``: the region of the nearest of a
  shipped set of reference points (``hubs.csv`` and ``anchors.csv`` in ``sim/data/latency/``,
  public knowledge of where interconnection hubs and large cities are). Regions where local
  peering is good are continent-sized; where traffic between neighbouring countries still
  detours through Europe or the US (much of Africa, the Middle East, parts of Asia and Latin
  America), every country is its own region.
* Two places in the **same region** are joined directly:
  ``rtt = a0 + a1 * (1 - exp(-d / L)) + b * floor(d) + c * (floor(dA) + floor(dB))``, with
  ``floor(x)`` the fibre floor of ``x`` km, ``d`` the great-circle distance, ``dA`` and ``dB``
  the distances from each end to the nearest core hub of the region, ``(a0, a1, b)`` fitted per
  class of region and ``c = core_stretch``. With ``b >= 1 >= c`` it grows with distance
  whichever way the far end moves, so within one region the RTT is monotone along any great
  circle.
* Two places in **different regions** are joined over a graph of interconnection hubs (real
  metros where networks exchange traffic, linked by terrestrial backbones inside a region and
  by the submarine-cable and transit routes between regions, drawn along their approximate
  course). A host reaches each core (tier-1) hub of its own region at
  ``access_stretch x floor(d)``; each link costs ``link_stretch x floor(length) + hop_ms``;
  links into or out of mainland China add ``border_ms``, links marked ``weak`` (routes that
  carried little public transit) ``weak_ms``, and links marked ``private`` exist on the private
  backbone only; each end adds the ``access_ms`` of its class of region. The RTT is the cheapest
  such path, so detours such as Lagos-Europe-Accra or Bogota-Miami-Lima emerge from the missing
  links rather than from per-pair numbers.
* Nothing is ever below the fibre floor, and the result is exactly symmetric (path sums are
  taken on a 2**-20 ms grid, where floating-point addition is exact).
* Both networks give the typical **minimum** RTT (the backbone is fitted on Azure's P95 less
  the 95th percentile of its assumed extra delay); :func:`variance_params` holds the laws of
  the extra delay above the minimum, :func:`china_border_ms` the ordinary (public) and premium
  (backbone) cost into mainland China. On the backbone, China is a destination, never a
  transit between two other places.

Fitted parameters live in ``sim/data/latency_params.json`` (written by
``scripts/fit_latency.py``); the structure tables (regions, hubs, anchors, links) live in
``sim/data/latency/`` (:data:`TABLES_DIR`, described in its ``README.md``) and are hand-made
from public knowledge.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "EARTH_RADIUS_KM",
    "FIBRE_KM_PER_MS",
    "REGION_CLASSES",
    "BorderOption",
    "Geography",
    "LatencyModel",
    "NetworkParams",
    "default_model",
    "fibre_floor_rtt_ms",
    "china_border_ms",
    "geography",
    "haversine_km",
    "load_params",
    "path_rtt_ms",
    "region_of",
    "variance_params",
]

EARTH_RADIUS_KM = 6371.0088
"""Mean Earth radius (IUGG), the R of every great-circle distance in the project."""

FIBRE_KM_PER_MS = 204.19
"""Speed of light in fibre (group index ~1.468), km per ms one way."""

Network = Literal["public", "private"]
"""The two networks the model knows."""

BorderOption = Literal["ordinary", "premium"]
"""Transit into mainland China: ``ordinary`` (what the public internet's servers got in 2020) or
``premium`` (a CN2-GIA-like carrier, what a provider buys for its backbone)."""

PARAMS_PATH = Path(__file__).resolve().parents[1] / "data" / "latency_params.json"
"""Where the fitted parameters are shipped."""

REGION_CLASSES = ("north_america", "latin_america", "europe", "middle_east", "africa",
                  "south_asia", "southeast_asia", "east_asia", "china", "oceania")
"""Classes of regions that share parameters (access overhead, in-region curve)."""

_GRID = 1048576.0  # 2**20: path sums are exact on this grid, so results are exactly symmetric


def haversine_km(lat_a: ArrayLike, lon_a: ArrayLike, lat_b: ArrayLike,
                 lon_b: ArrayLike) -> NDArray[np.float64]:
    """Great-circle distance in km between points given in degrees (broadcasts).

    Examples
    --------
    >>> round(float(haversine_km(0.0, 0.0, 0.0, 1.0)), 3)
    111.195
    """
    la1, lo1, la2, lo2 = (np.radians(np.asarray(x, dtype=float))
                          for x in (lat_a, lon_a, lat_b, lon_b))
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


# --- Structure: hand-made from public knowledge, not fitted -------------------------------

TABLES_DIR = Path(__file__).resolve().parents[1] / "data" / "latency"
"""Where the structure tables are shipped: ``regions.csv``, ``hubs.csv``, ``anchors.csv`` and
``links.csv`` (columns, units and sources in the ``README.md`` beside them)."""


@lru_cache(maxsize=None)
def _table(name: str, columns: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """Rows of the shipped table ``name``, as text, read once per process (immutable).

    The header must be exactly ``columns`` and every row must have that many fields; blank lines
    are skipped. Values stay text: callers convert them (``float`` on the same text the tables
    always held, so the numbers are the same bit for bit).
    """
    path = TABLES_DIR / name
    rows: list[tuple[str, ...]] = []
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = tuple(next(reader, ()))
        if header != columns:
            raise ValueError(f"{path}: expected columns {list(columns)}, found {list(header)}")
        for row in reader:
            if not row:
                continue
            if len(row) != len(columns):
                raise ValueError(f"{path}, line {reader.line_num}: expected {len(columns)} "
                                 f"fields, found {len(row)}")
            rows.append(tuple(row))
    return tuple(rows)


def _flag(value: str, column: str) -> bool:
    """A ``0``/``1`` column of ``links.csv``."""
    if value not in ("0", "1"):
        raise ValueError(f"links.csv: {column} must be 0 or 1, found {value!r}")
    return value == "1"


def _waypoints(via: str) -> list[tuple[float, float]]:
    """The ``via`` column of ``links.csv``: ``"lat lon;lat lon;..."`` in degrees, or empty."""
    points: list[tuple[float, float]] = []
    for point in via.split(";") if via else ():
        lat, lon = point.split()
        points.append((float(lat), float(lon)))
    return points


# --- Parsed structure --------------------------------------------------------------------------


def _unit_xyz(lat: NDArray[np.float64], lon: NDArray[np.float64]) -> NDArray[np.float64]:
    la, lo = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


@dataclass(frozen=True, eq=False)
class Geography:
    """The parsed structure tables: regions, hubs, reference points and links (immutable)."""
    region_names: tuple[str, ...]
    region_class: tuple[str, ...]
    hub_names: tuple[str, ...]
    hub_lat: NDArray[np.float64]
    hub_lon: NDArray[np.float64]
    hub_region: NDArray[np.int64]
    hub_core: NDArray[np.bool_]
    region_hubs: tuple[NDArray[np.int64], ...]
    """Per region, its core hubs: where its hosts attach."""
    ref_xyz: NDArray[np.float64]
    ref_region: NDArray[np.int64]
    link_a: NDArray[np.int64]
    link_b: NDArray[np.int64]
    link_km: NDArray[np.float64]
    link_border: NDArray[np.bool_]
    link_weak: NDArray[np.bool_]
    link_private: NDArray[np.bool_]
    """Links only the private backbone has (a cloud provider's own capacity on cables whose
    public transit went elsewhere)."""

    def region_index(self, lat: ArrayLike, lon: ArrayLike) -> NDArray[np.int64]:
        """Index into :attr:`region_names` of each coordinate (nearest reference point)."""
        xyz = _unit_xyz(np.asarray(lat, dtype=float), np.asarray(lon, dtype=float))
        shape = xyz.shape[:-1]
        flat = xyz.reshape(-1, 3)
        out = np.empty(len(flat), dtype=np.int64)
        for start in range(0, len(flat), 4096):  # bounded memory for huge inputs
            block = flat[start:start + 4096]
            out[start:start + 4096] = self.ref_region[np.argmax(block @ self.ref_xyz.T, axis=1)]
        return out.reshape(shape)


def _polyline_km(points: list[tuple[float, float]]) -> float:
    lat = np.array([p[0] for p in points])
    lon = np.array([p[1] for p in points])
    return float(np.sum(haversine_km(lat[:-1], lon[:-1], lat[1:], lon[1:])))


@lru_cache(maxsize=1)
def geography() -> Geography:
    """The model's structure, read from the shipped tables once per process.

    Returns
    -------
    Geography
        Regions, hubs, reference points and the hub graph's links, built from
        ``regions.csv``, ``hubs.csv``, ``anchors.csv`` and ``links.csv`` in :data:`TABLES_DIR`
        plus the automatic regional mesh. Cached: every call returns the same object, whose
        arrays are read-only.

    Raises
    ------
    ValueError
        If a table has unexpected columns or a malformed row, or names an unknown class of
        region.
    KeyError
        If a table names a region or hub that is not defined.

    Examples
    --------
    >>> geo = geography()
    >>> len(geo.region_names), len(geo.hub_names)
    (60, 150)
    """
    regions = _table("regions.csv", ("name", "class", "mesh_radius_km"))
    region_names = tuple(r[0] for r in regions)
    region_class = tuple(r[1] for r in regions)
    mesh_km = np.array([float(r[2]) for r in regions])
    unknown = set(region_class) - set(REGION_CLASSES)
    if unknown:
        raise ValueError(f"unknown region classes {sorted(unknown)}")
    ridx = {n: i for i, n in enumerate(region_names)}
    hubs = _table("hubs.csv", ("name", "lat_deg", "lon_deg", "region", "tier"))
    hub_names = tuple(h[0] for h in hubs)
    hidx = {n: i for i, n in enumerate(hub_names)}
    hub_lat = np.array([float(h[1]) for h in hubs])
    hub_lon = np.array([float(h[2]) for h in hubs])
    hub_region = np.array([ridx[h[3]] for h in hubs], dtype=np.int64)
    hub_core = np.array([h[4] == "1" for h in hubs])
    anchors = _table("anchors.csv", ("name", "lat_deg", "lon_deg", "region"))
    ref_lat = np.concatenate([hub_lat, [float(a[1]) for a in anchors]])
    ref_lon = np.concatenate([hub_lon, [float(a[2]) for a in anchors]])
    ref_region = np.concatenate([hub_region, [ridx[a[3]] for a in anchors]]).astype(np.int64)

    links: dict[tuple[int, int], float] = {}
    weak: set[tuple[int, int]] = set()
    private: set[tuple[int, int]] = set()
    n = len(hub_names)
    km = haversine_km(hub_lat[:, None], hub_lon[:, None], hub_lat[None, :], hub_lon[None, :])
    for i in range(n):
        for j in range(i + 1, n):
            r = hub_region[i]
            if r == hub_region[j] and km[i, j] <= mesh_km[r]:
                links[(i, j)] = float(km[i, j])
    china = ridx["china"]
    for name_a, name_b, is_weak, is_private, via_text in _table(
            "links.csv", ("a", "b", "weak", "private", "via")):
        a, b = hidx[name_a], hidx[name_b]
        key = (min(a, b), max(a, b))
        if _flag(is_weak, "weak"):
            weak.add(key)
        if _flag(is_private, "private"):
            private.add(key)
        via = _waypoints(via_text)
        length = _polyline_km([(hub_lat[a], hub_lon[a]), *via, (hub_lat[b], hub_lon[b])])
        links[key] = min(length, links.get(key, math.inf))
    keys = sorted(links)
    link_a = np.array([k[0] for k in keys], dtype=np.int64)
    link_b = np.array([k[1] for k in keys], dtype=np.int64)
    geo = Geography(
        region_names=region_names, region_class=region_class, hub_names=hub_names,
        hub_lat=hub_lat, hub_lon=hub_lon, hub_region=hub_region, hub_core=hub_core,
        region_hubs=tuple(np.flatnonzero((hub_region == r) & hub_core)
                          for r in range(len(region_names))),
        ref_xyz=_unit_xyz(ref_lat, ref_lon), ref_region=ref_region,
        link_a=link_a, link_b=link_b, link_km=np.array([links[k] for k in keys]),
        link_border=(hub_region[link_a] == china) != (hub_region[link_b] == china),
        link_weak=np.array([k in weak for k in keys], dtype=bool),
        link_private=np.array([k in private for k in keys], dtype=bool),
    )
    for value in vars(geo).values():  # cached for the process: make its arrays read-only
        for array in (value if isinstance(value, tuple) else (value,)):
            if isinstance(array, np.ndarray):
                array.setflags(write=False)
    return geo


def region_of(lat: ArrayLike, lon: ArrayLike) -> NDArray[np.str_]:
    """Name of the model's region (peering domain) of each coordinate.

    Examples
    --------
    >>> [str(r) for r in region_of([48.1, 6.5, -1.3], [11.6, 3.4, 36.8])]
    ['europe', 'nigeria', 'kenya']
    """
    geo = geography()
    return np.asarray(geo.region_names)[geo.region_index(lat, lon)]


# --- Parameters --------------------------------------------------------------------------------


@dataclass(frozen=True)
class NetworkParams:
    """Fitted parameters of one network (``public`` or ``private``).

    Attributes
    ----------
    link_stretch : float
        Route length over great-circle length on hub-to-hub links (multiplies the fibre floor).
    hop_ms : float
        Cost of each link (routers, exchange fabric), ms.
    access_stretch : float
        The same stretch from a host to a hub of its region.
    border_ms : float
        Extra RTT on a link into or out of mainland China (the border filtering and the few
        international gateways), ms.
    weak_ms : float
        Extra RTT on links marked ``weak``: regional routes that existed but carried little
        public transit (most traffic still went round through the US or Europe), ms.
    intra_scale_km : float
        Distance ``L`` over which the in-region overhead ``a1`` builds up.
    core_stretch : float
        In-region paths also pay this times the fibre floor from each end to the nearest core
        hub of its region (hosts far from a major exchange are worse connected); at most 1, so
        that the in-region RTT stays monotone in distance.
    access_ms : mapping of str to float
        Per class of region, the RTT each end adds on a path between regions, ms.
    intra : mapping of str to (float, float, float)
        Per class of region, ``(a0, a1, b)`` of the in-region curve
        ``a0 + a1 * (1 - exp(-d / L)) + b * floor(d)``.
    """

    link_stretch: float
    hop_ms: float
    access_stretch: float
    border_ms: float
    weak_ms: float
    intra_scale_km: float
    core_stretch: float
    access_ms: Mapping[str, float] = field(default_factory=dict)
    intra: Mapping[str, tuple[float, float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [c for c in REGION_CLASSES if c not in self.access_ms or c not in self.intra]
        if missing:
            raise ValueError(f"latency parameters lack region classes {missing}")
        if self.link_stretch < 1.0 or self.access_stretch < 1.0:
            raise ValueError("stretches must be >= 1 (nothing is faster than straight fibre)")
        if not 0.0 <= self.core_stretch <= 1.0:
            raise ValueError("core_stretch must be in [0, 1]")
        if any(b < 1.0 or a0 < 0 or a1 < 0 for a0, a1, b in self.intra.values()):
            raise ValueError("in-region curves need a0, a1 >= 0 and b >= 1")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NetworkParams:
        """Build from the JSON form written by :meth:`to_dict`."""
        return cls(
            link_stretch=float(data["link_stretch"]), hop_ms=float(data["hop_ms"]),
            access_stretch=float(data["access_stretch"]), border_ms=float(data["border_ms"]),
            weak_ms=float(data["weak_ms"]),
            intra_scale_km=float(data["intra_scale_km"]),
            core_stretch=float(data["core_stretch"]),
            access_ms={str(k): float(v) for k, v in data["access_ms"].items()},
            intra={str(k): (float(v[0]), float(v[1]), float(v[2]))
                   for k, v in data["intra"].items()},
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (rounded to 4 decimals)."""
        return {
            "link_stretch": round(self.link_stretch, 4), "hop_ms": round(self.hop_ms, 4),
            "access_stretch": round(self.access_stretch, 4),
            "border_ms": round(self.border_ms, 4), "weak_ms": round(self.weak_ms, 4),
            "intra_scale_km": round(self.intra_scale_km, 4),
            "core_stretch": round(self.core_stretch, 4),
            "access_ms": {c: round(self.access_ms[c], 4) for c in REGION_CLASSES},
            "intra": {c: [round(x, 4) for x in self.intra[c]] for c in REGION_CLASSES},
        }


def load_params(path: Path | str = PARAMS_PATH) -> dict[str, NetworkParams]:
    """Read fitted parameters: ``{"public": ..., "private": ...}``.

    Both networks give the typical **minimum** RTT. When the file has a ``"china_border"``
    entry, the private backbone's ``border_ms`` is its ``premium_ms`` (a provider buys premium
    transit into mainland China for its backbone; the Azure data has no Chinese site, so the
    backbone fit cannot tell it) and the public one's is its ``ordinary_ms``.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    params = {net: NetworkParams.from_dict(data[net]) for net in ("public", "private")}
    border = data.get("china_border")
    if border is not None:
        params["public"] = replace(params["public"], border_ms=float(border["ordinary_ms"]))
        params["private"] = replace(params["private"], border_ms=float(border["premium_ms"]))
    return params


@lru_cache(maxsize=1)
def _shipped() -> Mapping[str, Any]:
    return cast(Mapping[str, Any], json.loads(PARAMS_PATH.read_text(encoding="utf-8")))


def variance_params() -> dict[str, dict[str, float]]:
    """Fitted laws of the extra delay above the minimum RTT, per kind of path.

    Each law is a log-normal of an **additive** extra delay in ms: ``median_ms`` and ``sigma``
    (the log-sigma), so that the extra delay's ``q``-quantile is
    ``median_ms * exp(sigma * z_q)``. The entries (``sim/data/latency_params.json``, key
    ``"variance"``, written by ``scripts/fit_latency.py``; derivation in ``docs/latency.md``):

    * ``"public"``: server-to-server public transit outside mainland China. Fitted on the p50
      and p90 of ``rtt_avg_ms - rtt_min_ms`` of the WonderProxy 2020 pairs with no end in
      mainland China. The average is over the 30 pings of an hour, so this is the *mean* extra
      delay of an hour (what a login sees on average), not one packet's.
    * ``"china_ordinary"``: the same on the pairs with exactly one end in mainland China
      (ordinary cross-border transit).
    * ``"private"``: ``J_private``, the backbone's per-trip extra delay (an assumption, not a
      measurement: the shared data has no per-percentile backbone numbers). Shape (``sigma``)
      of the public law, scaled down so that its 95th percentile ``q95_ms`` fits under Azure's
      tightest P95 (the public law itself is taken as an upper bound). The private model is
      fitted on ``P95 = min + q95_ms``.

    Besides ``median_ms`` and ``sigma`` an entry may hold a few more numbers (``q95_ms``, the
    data quantiles it was fitted to, ``pairs``). Read once per process; each call returns a new
    copy, so callers cannot change the shipped values.

    Examples
    --------
    >>> law = variance_params()["public"]
    >>> 0 < law["median_ms"] < 5 and law["sigma"] > 0
    True
    """
    return {name: {k: float(v) for k, v in law.items()}
            for name, law in _shipped()["variance"].items()}


def china_border_ms(option: BorderOption = "ordinary") -> float:
    """Extra RTT in ms of a path into or out of mainland China.

    ``"ordinary"``: the public model's fitted ``border_ms`` (WonderProxy 2020, all pairs with one
    end in mainland China). ``"premium"``: a CN2-GIA-like carrier, from the fast quarter of
    those pairs (see ``docs/latency.md``); the private backbone uses it.

    Examples
    --------
    >>> china_border_ms("premium") < china_border_ms("ordinary")
    True
    """
    if option not in ("ordinary", "premium"):
        raise ValueError(f"option must be 'ordinary' or 'premium', got {option!r}")
    return float(_shipped()["china_border"][f"{option}_ms"])


# --- The model ---------------------------------------------------------------------------------


def _grid(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.round(x * _GRID) / _GRID


@dataclass(frozen=True, eq=False)
class Points:
    """Per-point quantities the model needs, computed once for a set of coordinates."""
    lat: NDArray[np.float64]
    lon: NDArray[np.float64]
    region: NDArray[np.int64]
    hub_floor_ms: NDArray[np.float64]
    """``n x k``: fibre floor to each core hub of the point's region (``inf`` padding), ms."""


class LatencyModel:
    """RTTs for one parameter set; hub-to-hub path costs are computed once, at construction.

    Parameters
    ----------
    params : NetworkParams
        Fitted parameters.
    geo : Geography, optional
        Structure; the module's tables by default.
    network : {"public", "private"}
        Which links exist: the private backbone also has the links marked ``private``.
    """

    def __init__(self, params: NetworkParams, geo: Geography | None = None,
                 network: Network = "public"):
        if network not in ("public", "private"):
            raise ValueError(f"network must be 'public' or 'private', got {network!r}")
        self.params = params
        self.network = network
        self.geo = geo = geo if geo is not None else geography()
        n = len(geo.hub_names)
        w = _grid(params.link_stretch * fibre_floor_rtt_ms(geo.link_km) + params.hop_ms
                  + params.border_ms * geo.link_border + params.weak_ms * geo.link_weak)
        use = np.ones(len(w), dtype=bool) if network == "private" else ~geo.link_private
        dist = np.full((n, n), np.inf)
        np.fill_diagonal(dist, 0.0)
        dist[geo.link_a[use], geo.link_b[use]] = w[use]
        dist[geo.link_b[use], geo.link_a[use]] = w[use]
        # Floyd-Warshall; ~150 hubs, a few ms. On the private backbone, mainland China is a
        # destination, not a transit: its premium transit is bought to reach China, and a
        # backbone does not carry Asia-Europe traffic across it. So paths between two hubs
        # outside China use intermediate hubs outside China only (the state of the algorithm
        # after those intermediates), and paths with an end in China may use any.
        china = np.asarray(geo.hub_region) == geo.region_names.index("china")
        order = np.concatenate([np.flatnonzero(~china), np.flatnonzero(china)])
        outside = dist
        for step, k in enumerate(order):
            if network == "private" and step == int((~china).sum()):
                outside = dist.copy()
            np.minimum(dist, dist[:, k, None] + dist[None, k, :], out=dist)
        if network == "private":
            dist = np.where(china[:, None] | china[None, :], dist, outside)
        dist.setflags(write=False)  # shared by every run in the process: read-only
        self.hub_ms = dist
        cls = geo.region_class
        self._access_ms = _grid(np.array([params.access_ms[c] for c in cls]))
        intra = np.array([params.intra[c] for c in cls])
        self._a0, self._a1, self._b = intra[:, 0], intra[:, 1], intra[:, 2]
        self._kmax = max(len(h) for h in geo.region_hubs)

    def points(self, lat: ArrayLike, lon: ArrayLike) -> Points:
        """Region and distance to the region's hubs of each of a 1-D set of coordinates."""
        geo = self.geo
        lat = np.asarray(lat, dtype=float).ravel()
        lon = np.asarray(lon, dtype=float).ravel()
        region = geo.region_index(lat, lon)
        floor = np.full((len(lat), self._kmax), np.inf)
        for r in np.unique(region):
            sel = np.flatnonzero(region == r)
            hubs = geo.region_hubs[r]
            floor[sel, :len(hubs)] = fibre_floor_rtt_ms(haversine_km(
                lat[sel, None], lon[sel, None], geo.hub_lat[None, hubs], geo.hub_lon[None, hubs]))
        return Points(lat=lat, lon=lon, region=region, hub_floor_ms=floor)

    def _to_hubs(self, pts: Points, rows: NDArray[np.int64]) -> NDArray[np.float64]:
        """``len(rows) x n_hubs``: cheapest cost from each point to every hub."""
        geo = self.geo
        out = np.empty((len(rows), len(geo.hub_names)))
        acc = _grid(self.params.access_stretch * pts.hub_floor_ms[rows])
        reg = pts.region[rows]
        for r in np.unique(reg):
            sel = np.flatnonzero(reg == r)
            hubs = geo.region_hubs[r]
            # (points, own hubs, all hubs) -> min over own hubs
            out[sel] = np.min(acc[sel, :len(hubs), None] + self.hub_ms[hubs][None, :, :], axis=1)
        return out

    def pair_rtt_ms(self, pa: Points, pb: Points, ia: NDArray[np.int64],
                    ib: NDArray[np.int64]) -> NDArray[np.float64]:
        """RTT in ms of the pairs ``(pa[ia[k]], pb[ib[k]])``."""
        p = self.params
        d = haversine_km(pa.lat[ia], pa.lon[ia], pb.lat[ib], pb.lon[ib])
        floor = fibre_floor_rtt_ms(d)
        ra, rb = pa.region[ia], pb.region[ib]
        same = ra == rb
        out = np.empty(len(ia))
        r = ra[same]
        core = _grid(p.core_stretch * np.min(pa.hub_floor_ms[ia[same]], axis=1)) + _grid(
            p.core_stretch * np.min(pb.hub_floor_ms[ib[same]], axis=1))
        out[same] = (self._a0[r] + self._a1[r] * -np.expm1(-d[same] / p.intra_scale_km)
                     + self._b[r] * floor[same]) + core
        cross = np.flatnonzero(~same)
        if len(cross):
            # Cost to every hub from the side with fewer points, then close the path on the other.
            if len(pb.lat) <= len(pa.lat):
                near, far, inear, ifar = pb, pa, ib[cross], ia[cross]
            else:
                near, far, inear, ifar = pa, pb, ia[cross], ib[cross]
            acc_far = _grid(p.access_stretch * far.hub_floor_ms)
            used, pos = np.unique(inear, return_inverse=True)
            best = np.empty(len(cross))
            for start in range(0, len(used), 2048):  # bounded memory for huge inputs
                stop = min(start + 2048, len(used))
                to_hubs = self._to_hubs(near, used[start:stop])
                rows = np.flatnonzero((pos >= start) & (pos < stop))
                rfar = far.region[ifar[rows]]
                order = np.argsort(rfar, kind="stable")
                rows, rfar = rows[order], rfar[order]
                for sel in np.split(rows, np.flatnonzero(np.diff(rfar)) + 1):
                    hubs = self.geo.region_hubs[far.region[ifar[sel[0]]]]
                    best[sel] = np.min(acc_far[ifar[sel], :len(hubs)]
                                       + to_hubs[(pos[sel] - start)[:, None], hubs[None, :]],
                                       axis=1)
            out[cross] = best + (self._access_ms[ra[cross]] + self._access_ms[rb[cross]])
        return np.maximum(out, floor)

    def rtt_ms(self, lat_a: ArrayLike, lon_a: ArrayLike, lat_b: ArrayLike,
               lon_b: ArrayLike) -> NDArray[np.float64]:
        """RTT in ms between coordinates that broadcast against each other."""
        arrays = [np.asarray(x, dtype=float) for x in (lat_a, lon_a, lat_b, lon_b)]
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        sides = []
        for lat, lon in (arrays[:2], arrays[2:]):
            lat, lon = np.broadcast_arrays(lat, lon)
            bad = ~(np.isfinite(lat) & np.isfinite(lon))
            key = np.where(bad, 0.0, lat).ravel() + 1j * np.where(bad, 0.0, lon).ravel()
            uniq, inverse = np.unique(key, return_inverse=True)
            idx = np.broadcast_to(inverse.reshape(lat.shape), shape).ravel()
            sides.append((self.points(uniq.real, uniq.imag), idx,
                          np.broadcast_to(bad, shape).ravel()))
        (pa, ia, bad_a), (pb, ib, bad_b) = sides
        if len(ia) == 0:
            return np.empty(shape)
        out = self.pair_rtt_ms(pa, pb, ia, ib)
        out[bad_a | bad_b] = np.nan
        return out.reshape(shape)


@lru_cache(maxsize=2)
def default_model(network: Network = "public") -> LatencyModel:
    """The shipped model of one network, built once per process (immutable)."""
    if network not in ("public", "private"):
        raise ValueError(f"network must be 'public' or 'private', got {network!r}")
    return LatencyModel(load_params()[network], network=network)


def path_rtt_ms(lat_a: ArrayLike, lon_a: ArrayLike, lat_b: ArrayLike, lon_b: ArrayLike,
                network: Network = "public") -> NDArray[np.float64]:
    """Typical minimum RTT in ms between two well-connected hosts, without last mile.

    Parameters
    ----------
    lat_a, lon_a, lat_b, lon_b : array_like
        Coordinates in degrees; broadcast against each other (e.g. ``sites[:, None]`` against
        ``nodes[None, :]`` for a table).
    network : {"public", "private"}
        ``"public"``: the public internet between servers in data centres (the minimum RTT
        of a ping, calibrated on WonderProxy 2020). ``"private"``: the provider's backbone
        between its sites, also the typical minimum (calibrated on Azure's region-to-region
        P95 less the 95th percentile of the backbone's extra delay,
        ``variance_params()["private"]["q95_ms"]``). The variation above the minimum is in
        :func:`variance_params`.

    Returns
    -------
    numpy.ndarray
        RTT in ms with the broadcast shape (a NumPy scalar for scalar input); never below
        :func:`fibre_floor_rtt_ms` of the great-circle distance, symmetric in its two ends,
        and ``nan`` where a coordinate is not finite.

    Raises
    ------
    ValueError
        If ``network`` is not one of the two names.

    Examples
    --------
    >>> rtt = path_rtt_ms(52.37, 4.90, 40.71, -74.01)  # Amsterdam - New York
    >>> 60 < float(rtt) < 100
    True
    >>> path_rtt_ms([48.86, 51.51], [2.35, -0.13], 1.35, 103.82).shape
    (2,)
    """
    out = default_model(network).rtt_ms(lat_a, lon_a, lat_b, lon_b)
    return out[()] if out.ndim == 0 else out
