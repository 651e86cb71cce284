"""Latency model (issue 5): properties, last mile, and the held-out-city validation.

Property tests (symmetry, fibre floor, monotone in distance within a region, vectorised equals
scalar) hold by construction and run everywhere. The validation refits the model on some cities
and tests it on pairs that touch the others; it needs the calibration data in
``../shared/data`` (outside the project) and skips with a reason when it is absent. Its
thresholds are issue 5's targets, not seeded regression numbers.
"""

from __future__ import annotations

import dataclasses
import doctest
import json
import math
import time
from functools import lru_cache
from statistics import NormalDist
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sim.model import lastmile, latency
from sim.calibration import validation as lv
from sim.errors import SimError

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_data = pytest.mark.skipif(
    not (DATA / lv.PUBLIC_PAIRS).is_file(),
    reason=f"calibration data not found at {DATA} (../shared/data is not part of the project)")

lat_st = st.floats(-85.0, 85.0, allow_nan=False)
lon_st = st.floats(-180.0, 180.0, allow_nan=False)
network_st = st.sampled_from(["public", "private"])


# --- Properties ----------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(lat_st, lon_st, lat_st, lon_st, network_st)
def test_symmetric_exactly(la: float, lo: float, lb: float, lob: float, network: str) -> None:
    assert latency.path_rtt_ms(la, lo, lb, lob, network) == latency.path_rtt_ms(
        lb, lob, la, lo, network)


@settings(max_examples=200, deadline=None)
@given(lat_st, lon_st, lat_st, lon_st, network_st)
def test_never_below_fibre_floor(la: float, lo: float, lb: float, lob: float,
                                 network: str) -> None:
    rtt = float(latency.path_rtt_ms(la, lo, lb, lob, network))
    floor = float(latency.fibre_floor_rtt_ms(latency.haversine_km(la, lo, lb, lob)))
    assert rtt >= floor
    assert rtt > 0


def _along_great_circle(lat0: float, lon0: float, bearing_deg: float,
                        km: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points at distances ``km`` from a start point along the great circle of a bearing."""
    phi, lam, theta = np.radians(lat0), np.radians(lon0), np.radians(bearing_deg)
    delta = km / latency.EARTH_RADIUS_KM
    phi2 = np.arcsin(np.sin(phi) * np.cos(delta) + np.cos(phi) * np.sin(delta) * np.cos(theta))
    lam2 = lam + np.arctan2(np.sin(theta) * np.sin(delta) * np.cos(phi),
                            np.cos(delta) - np.sin(phi) * np.sin(phi2))
    return np.degrees(phi2), (np.degrees(lam2) + 540.0) % 360.0 - 180.0


@settings(max_examples=150, deadline=None)
@given(lat_st, lon_st, st.floats(0.0, 360.0), network_st)
def test_monotone_along_great_circle_within_a_region(lat0: float, lon0: float, bearing: float,
                                                     network: str) -> None:
    km = np.linspace(0.0, 6000.0, 121)
    lat, lon = _along_great_circle(lat0, lon0, bearing, km)
    region = latency.region_of(lat, lon)
    inside = region == region[0]
    run = int(np.argmin(inside)) if not inside.all() else len(km)  # contiguous stretch
    assume(run >= 3)
    rtt = latency.path_rtt_ms(lat0, lon0, lat[:run], lon[:run], network)
    assert np.all(np.diff(rtt) >= -1e-9), (region[0], rtt)


def test_monotone_across_europe_and_north_america() -> None:
    """The two continent-sized regions: Frankfurt eastwards, New York westwards."""
    for (lat0, lon0), bearing in (((50.11, 8.68), 80.0), ((40.71, -74.01), 275.0)):
        lat, lon = _along_great_circle(lat0, lon0, bearing, np.linspace(0, 2500, 51))
        assert len(set(latency.region_of(lat, lon))) == 1
        rtt = latency.path_rtt_ms(lat0, lon0, lat, lon)
        assert np.all(np.diff(rtt) > 0)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(lat_st, lon_st), min_size=1, max_size=12),
       st.lists(st.tuples(lat_st, lon_st), min_size=1, max_size=6), network_st)
def test_vectorised_equals_scalar(a: list[tuple[float, float]], b: list[tuple[float, float]],
                                  network: str) -> None:
    la, loa = np.array(a).T
    lb, lob = np.array(b).T
    table = latency.path_rtt_ms(la[:, None], loa[:, None], lb[None, :], lob[None, :], network)
    assert table.shape == (len(a), len(b))
    scalar = np.array([[float(latency.path_rtt_ms(x, y, u, v, network)) for u, v in b]
                       for x, y in a])
    np.testing.assert_array_equal(table, scalar)
    # the same pairs given as flat arrays
    flat = latency.path_rtt_ms(np.repeat(la, len(b)), np.repeat(loa, len(b)),
                               np.tile(lb, len(a)), np.tile(lob, len(a)), network)
    np.testing.assert_array_equal(flat.reshape(table.shape), table)


def test_scalars_lists_and_shapes() -> None:
    rtt = latency.path_rtt_ms(52.37, 4.90, 40.71, -74.01)
    assert isinstance(rtt, float) and np.ndim(rtt) == 0
    out = latency.path_rtt_ms([52.37, 48.86], [4.90, 2.35], 40.71, -74.01, network="private")
    assert out.shape == (2,)
    assert latency.path_rtt_ms(np.zeros((3, 1)), np.zeros((3, 1)), np.ones((1, 4)),
                               np.ones((1, 4))).shape == (3, 4)
    assert latency.path_rtt_ms(np.zeros(0), np.zeros(0), 1.0, 1.0).shape == (0,)
    assert math.isnan(float(latency.path_rtt_ms(np.nan, 0.0, 1.0, 1.0)))
    with pytest.raises(ValueError, match="network"):
        latency.path_rtt_ms(0.0, 0.0, 1.0, 1.0, network="satellite")  # type: ignore[arg-type]


def test_fast_enough_for_the_engine() -> None:
    """A 5,000 x 50 table (sites x nodes) in well under a second."""
    rng = np.random.default_rng(1)
    sites = rng.uniform([-50, -180], [70, 180], size=(5000, 2))
    nodes = rng.uniform([-40, -180], [60, 180], size=(50, 2))
    for network in ("public", "private"):
        latency.path_rtt_ms(0.0, 0.0, 1.0, 1.0, network)  # build the model once
        best = math.inf
        for _ in range(3):
            t0 = time.perf_counter()
            table = latency.path_rtt_ms(sites[:, :1], sites[:, 1:], nodes[None, :, 0],
                                        nodes[None, :, 1], network)
            best = min(best, time.perf_counter() - t0)
        assert table.shape == (5000, 50)
        assert best < 1.0, f"{network}: {best:.2f} s"


def test_detours_emerge_from_the_hub_graph() -> None:
    """Neighbours whose networks exchanged traffic abroad in 2020 are far apart in RTT."""
    rtt = latency.path_rtt_ms
    lagos, accra, london = (6.52, 3.38), (5.60, -0.19), (51.51, -0.13)
    assert rtt(*lagos, *accra) > rtt(*lagos, *london)  # West Africa via Europe
    bogota, lima, miami = (4.71, -74.07), (-12.05, -77.04), (25.76, -80.19)
    assert rtt(*bogota, *lima) > 0.8 * (rtt(*bogota, *miami) + rtt(*miami, *lima))
    # ... while neighbours inside one well-peered region are close.
    assert rtt(50.11, 8.68, 48.86, 2.35) < 25.0  # Frankfurt-Paris


def test_regions_of_world_cities() -> None:
    """The reference points put well-known cities in their country's region, and most of the
    ~6,000 cities of sim/data/cities.csv in the region of their country's majority."""
    expected = {
        (6.45, 3.40): "nigeria", (5.60, -0.19): "ghana", (-1.29, 36.82): "kenya",
        (-23.55, -46.63): "brazil", (35.68, 139.69): "japan", (37.57, 126.98): "korea",
        (39.90, 116.41): "china", (22.32, 114.17): "hong_kong", (19.08, 72.88): "india",
        (24.86, 67.01): "pakistan", (25.20, 55.27): "gulf", (41.01, 28.98): "europe",
        (55.76, 37.62): "europe", (-33.87, 151.21): "oceania", (-36.85, 174.76): "oceania",
        (19.43, -99.13): "mexico", (4.71, -74.07): "colombia", (-12.05, -77.04): "peru",
        (-33.45, -70.67): "chile", (-34.60, -58.38): "argentina", (30.04, 31.24): "egypt",
        (33.57, -7.59): "maghreb_west", (-26.20, 28.05): "south_africa",
        (1.35, 103.82): "singapore", (-6.21, 106.85): "indonesia", (13.76, 100.50): "thailand",
        (14.60, 120.98): "philippines", (21.03, 105.85): "vietnam", (25.03, 121.57): "taiwan",
        (32.08, 34.78): "israel", (24.71, 46.68): "saudi_arabia", (41.72, 44.79): "caucasus",
        (43.24, 76.95): "central_asia", (64.15, -21.94): "europe", (21.31, -157.86):
            "north_america", (61.22, -149.90): "north_america", (23.11, -82.37): "caribbean",
        (23.13, 113.26): "china", (31.63, 74.87): "india", (36.72, -4.42): "europe",
    }
    coords = np.array(list(expected))
    got = latency.region_of(coords[:, 0], coords[:, 1])
    wrong = {k: (g, e) for (k, e), g in zip(expected.items(), got) if g != e}
    assert not wrong
    cities = pd.read_csv(Path(latency.__file__).parents[1] / "data" / "cities.csv",
                         keep_default_na=False)
    cities["model_region"] = latency.region_of(cities["lat"].to_numpy(), cities["lon"].to_numpy())
    agree = cities.groupby("country")["model_region"].transform(
        lambda r: r == r.value_counts().index[0])
    assert agree.mean() > 0.95


def test_every_region_has_a_core_hub_and_the_graph_is_connected() -> None:
    geo = latency.geography()
    assert all(len(h) >= 1 for h in geo.region_hubs)
    for network in ("public", "private"):
        model = latency.default_model(network)  # type: ignore[arg-type]
        assert np.isfinite(model.hub_ms).all(), network
        np.testing.assert_array_equal(model.hub_ms, model.hub_ms.T)


def test_shipped_parameters_name_their_sources() -> None:
    data = json.loads(latency.PARAMS_PATH.read_text(encoding="utf-8"))
    assert "WonderProxy" in data["sources"]["public"]
    assert "CC BY 4.0" in data["sources"]["private"]
    params = latency.load_params()
    assert set(params) == {"public", "private"}
    for p in params.values():
        assert p.to_dict() == latency.NetworkParams.from_dict(p.to_dict()).to_dict()


def test_parameters_are_checked() -> None:
    good = latency.load_params()["public"].to_dict()
    with pytest.raises(ValueError, match="stretch"):
        latency.NetworkParams.from_dict({**good, "link_stretch": 0.9})
    with pytest.raises(ValueError, match="classes"):
        latency.NetworkParams.from_dict({**good, "access_ms": {"europe": 1.0}})


def test_variance_params_are_read_only_copies() -> None:
    laws = latency.variance_params()
    assert {"public", "china_ordinary", "private"} <= set(laws)
    for law in laws.values():
        assert law["median_ms"] > 0 and law["sigma"] > 0
    laws["public"]["median_ms"] = -1.0  # a copy: the shipped values do not change
    assert latency.variance_params()["public"]["median_ms"] > 0
    # J_private: the public law's shape, bounded above by the public law
    china, priv = laws["china_ordinary"], latency.variance_params()["private"]
    z95 = NormalDist().inv_cdf(0.95)
    assert priv["q95_ms"] == pytest.approx(priv["median_ms"] * math.exp(priv["sigma"] * z95),
                                           rel=1e-3)
    assert priv["q95_ms"] <= priv["q95_upper_bound_ms"] + 1e-9
    assert priv["sigma"] == latency.variance_params()["public"]["sigma"]
    assert china["median_ms"] > 10 * latency.variance_params()["public"]["median_ms"]


def test_china_border_premium_and_ordinary() -> None:
    ordinary, premium = latency.china_border_ms("ordinary"), latency.china_border_ms("premium")
    assert 0 <= premium < ordinary
    params = latency.load_params()
    assert params["public"].border_ms == ordinary
    assert params["private"].border_ms == premium
    with pytest.raises(ValueError, match="option"):
        latency.china_border_ms("cn2")  # type: ignore[arg-type]


def test_private_backbone_does_not_transit_china() -> None:
    """Premium transit is bought to reach China: Tokyo-Frankfurt on the backbone is the same
    with a free border (no path through China), while Tokyo-Shanghai gets cheaper."""
    base = latency.default_model("private")
    free = latency.LatencyModel(dataclasses.replace(base.params, border_ms=0.0),
                                network="private")
    tokyo, frankfurt, shanghai = (35.68, 139.69), (50.11, 8.68), (31.23, 121.47)
    assert free.rtt_ms(*tokyo, *frankfurt) == base.rtt_ms(*tokyo, *frankfurt)
    assert free.rtt_ms(*tokyo, *shanghai) < base.rtt_ms(*tokyo, *shanghai)


def test_doctests() -> None:
    for module in (latency, lastmile, lv):
        result = doctest.testmod(module)
        assert result.failed == 0, module.__name__


# --- Last mile -----------------------------------------------------------------------------------


@pytest.mark.parametrize("access", sorted(lastmile.ACCESS_PROFILES))
def test_last_mile_medians_follow_the_sources(access: str) -> None:
    rng = np.random.default_rng(7)
    x = lastmile.sample_last_mile_ms(rng, access, "north_america", 40_000)
    assert (x > 0).all()
    assert np.median(x) == pytest.approx(lastmile.last_mile_median_ms(access, "north_america"),
                                         rel=0.05)


def test_last_mile_orders_and_regions() -> None:
    med = lastmile.last_mile_median_ms
    assert med("fiber", "europe") < med("cable", "europe") < med("dsl", "europe")
    assert med("wifi", "europe") > med("fixed", "europe")
    assert med("mobile_5g", "africa") < med("mobile_4g", "africa")
    assert med("mobile_4g", "africa") > med("mobile_4g", "north_america") > med("mobile_4g",
                                                                                "europe")
    assert med("fiber", "africa") == med("fiber", "europe")  # only mobile varies by region
    assert set(lastmile.MOBILE_REGION_FACTOR) == {"china", "asia", "europe", "north_america",
                                                  "south_america", "oceania", "africa"}
    assert set(lastmile.ACCESS_PROFILES) == {"fiber", "cable", "dsl", "fixed", "wifi",
                                             "mobile_4g", "mobile_5g"}
    with pytest.raises(ValueError, match="unknown access type"):
        lastmile.sample_last_mile_ms(np.random.default_rng(0), "pigeon", "europe", 1)


def test_last_mile_same_seed_same_draws() -> None:
    a = lastmile.sample_last_mile_ms(np.random.default_rng(3), "wifi", "asia", 100)
    b = lastmile.sample_last_mile_ms(np.random.default_rng(3), "wifi", "asia", 100)
    np.testing.assert_array_equal(a, b)
    assert lastmile.sample_last_mile_ms(np.random.default_rng(3), "dsl", "asia", 0).shape == (0,)


def test_fcc_medians_match_the_shipped_profiles() -> None:
    if not (DATA / "fcc_mba_idle_latency_by_technology_yearly.csv").is_file():
        pytest.skip(f"calibration data not found at {DATA}")
    fcc = pd.read_csv(DATA / "fcc_mba_idle_latency_by_technology_yearly.csv")
    latest = fcc[fcc["year"] == fcc["year"].max()].set_index("technology")
    for tech, access in (("Fiber", "fiber"), ("Cable", "cable"), ("DSL", "dsl")):
        assert lastmile.ACCESS_PROFILES[access].median_ms == pytest.approx(
            latest.loc[tech, "median_of_rtt_avg_ms"], abs=0.1)


# --- Validation on held-out cities (needs ../shared/data) --------------------------------------


def test_missing_data_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SimError, match="calibration data not found"):
        lv.validate_latency(tmp_path)


def test_weighted_quantile() -> None:
    assert lv.weighted_quantile([3.0, 1.0, 2.0], [1.0, 1.0, 1.0], 0.5) == 2.0
    assert lv.weighted_quantile([1.0, 10.0], [9.0, 1.0], 0.9) == 1.0
    assert lv.weighted_quantile([1.0, 10.0], [8.9, 1.1], 0.9) == 10.0


@lru_cache(maxsize=4)
def _held_out(network: str, folds: int, holdout: str = "sites") -> pd.DataFrame:
    meas = lv.load_public(DATA) if network == "public" else lv.load_private(DATA)
    return lv.summarize(lv.cross_validate(meas, folds=folds, seed=0, holdout=holdout))


def _wonderproxy_extra(china_ends: int) -> np.ndarray:
    pairs = pd.read_csv(DATA / lv.PUBLIC_PAIRS)
    ends = (pairs["country_a"] == "China").astype(int) + (pairs["country_b"] == "China")
    sel = ends.to_numpy() == china_ends
    return (pairs["rtt_avg_ms"] - pairs["rtt_min_ms"]).to_numpy()[sel]


@needs_data
@pytest.mark.parametrize(("name", "china_ends", "p99_tolerance"),
                         [("public", 0, 0.05), ("china_ordinary", 1, 0.40)])
def test_variance_fits_match_the_data_quantiles(name: str, china_ends: int,
                                                p99_tolerance: float) -> None:
    """The log-normal laws of avg - min reproduce the p50 and p90 they were fitted to (within
    1%, the rounding of the shipped values) and the p99 within a stated tolerance (public: 5%,
    measured 0.4%; China cross-border: 40%, measured +34%, the law's tail is too heavy there)."""
    law = latency.variance_params()[name]
    extra = _wonderproxy_extra(china_ends)
    assert len(extra) == law["pairs"]
    for q, tol in ((0.5, 0.01), (0.9, 0.01), (0.99, p99_tolerance)):
        fitted = law["median_ms"] * math.exp(law["sigma"] * NormalDist().inv_cdf(q))
        assert fitted == pytest.approx(float(np.quantile(extra, q)), rel=tol), q


@needs_data
def test_private_faster_than_public_at_the_same_statistic() -> None:
    """Both networks give the typical minimum: over the calibration pairs (Azure regions and
    WonderProxy servers) the backbone is faster than the public internet at the median."""
    for meas in (lv.load_private(DATA), lv.load_public(DATA)):
        pub, priv = latency.default_model("public"), latency.default_model("private")
        pts = pub.points(meas.site_lat, meas.site_lon)
        ratio = (pub.pair_rtt_ms(pts, pts, meas.a, meas.b)
                 / priv.pair_rtt_ms(pts, pts, meas.a, meas.b))
        assert np.median(ratio) > 1.10
    # J_private's q95 fits under Azure's tightest pair: P95 >= fibre floor + q95
    azure = lv.load_private(DATA, offset_ms=0.0)
    floor = latency.fibre_floor_rtt_ms(azure.km)
    assert np.all(azure.rtt_ms - floor >= latency.variance_params()["private"]["q95_ms"] - 1e-3)


@needs_data
def test_premium_border_from_the_fast_quarter() -> None:
    """Refitting the premium border on the data gives the shipped value; at the median the same
    construction gives about the ordinary (fitted) border."""
    meas = lv.load_public(DATA)
    params = latency.load_params()["public"]
    border = lv.fit_china_border(meas, params)
    assert border["premium_ms"] == pytest.approx(latency.china_border_ms("premium"), abs=0.5)
    assert border["pairs"] > 500
    median = lv.fit_china_border(meas, params, quantile=0.5)["premium_ms"]
    assert median == pytest.approx(params.border_ms, rel=0.1)


@needs_data
@pytest.mark.parametrize("holdout", ["countries", "regions"])
def test_group_folds_hold_out_whole_groups(holdout: str) -> None:
    meas = lv.load_public(DATA)
    fold = lv.site_folds(meas, 5, 0, holdout)
    group = lv.site_groups(meas, holdout)
    for g in np.unique(group):
        assert len(set(fold[group == g])) == 1
    assert len(set(fold)) == 5


@needs_data
def test_public_targets_on_held_out_cities() -> None:
    """Issue 5: median <= 10% on held-out cities, continent pairs weighted equally, and far
    better than both simple baselines (the same 5-fold cross-validation as the CLI)."""
    table = _held_out("public", 5)
    head = table.loc["all, continent pairs equal"]
    assert head["model_median"] <= 0.10
    assert head["model_median"] < 0.5 * min(head["floor_x2_median"], head["linear_median"])
    assert head["model_p90"] < 0.7 * min(head["floor_x2_p90"], head["linear_p90"])
    pairs = table.drop(index=["all, continent pairs equal", "all, every pair equal"])
    assert len(pairs) == 21
    assert (pairs["model_median"] < pairs["linear_median"]).sum() >= 19
    # How close to the p90 target (30%, the strict xfail below) the model gets.
    assert head["model_p90"] <= 0.40


@needs_data
@pytest.mark.xfail(strict=True, reason=(
    "issue 5's public p90 target (30%) is out of reach on held-out cities: the model reaches "
    "~35-36%. The tail is pairs whose route depends on the two servers' providers, not on "
    "geography (Asia-Asia, Asia-Oceania, Africa-Africa; short hops in Europe and North America "
    "that hairpin through a distant exchange); see docs/latency.md"))
def test_public_p90_target_on_held_out_cities() -> None:
    head = _held_out("public", 5).loc["all, continent pairs equal"]
    assert head["model_p90"] <= 0.30


@needs_data
def test_backbone_target_on_held_out_regions() -> None:
    for holdout in ("sites", "regions"):
        table = _held_out("private", 5, holdout)
        head = table.loc["all, continent pairs equal"]
        assert head["model_median"] <= 0.10, holdout
        assert head["model_median"] < 0.5 * min(head["floor_x2_median"],
                                                head["linear_median"])


@needs_data
def test_report_markdown_and_files(tmp_path: Path) -> None:
    meas = lv.load_private(DATA)
    report = lv.validate_latency(DATA, tmp_path, folds=2, networks=("private",),
                                 holdouts=("sites", "regions"))
    assert set(report.targets) == {"private median"}
    assert set(report.holdout_tables) == {"regions"}
    assert report.headline("private", "regions")["model_median"] > 0
    text = report.to_markdown()
    assert "Private backbone" in text and "| **all, continent pairs equal** |" in text
    assert "held-out regions" in text
    assert (tmp_path / "latency_validation.md").is_file()
    saved = json.loads((tmp_path / "latency_validation.json").read_text(encoding="utf-8"))
    assert saved["folds"] == 2 and "private" in saved["params_fitted_on_all_rows"]
    assert "private" in saved["headline_by_holdout"]["regions"]
    assert len(report.predictions) >= len(meas)  # every pair is held out at least once
