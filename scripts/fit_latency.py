#!/usr/bin/env python3
"""Fit the latency model on all calibration rows and write ``sim/data/latency_params.json``.

Usage::

    .venv/bin/python scripts/fit_latency.py [--data ../shared/data]
                                            [--out sim/data/latency_params.json] [--validate]

The measured rows stay in ``../shared/data`` (WonderProxy's may not be copied into the project);
only the fitted parameters, with their sources, are written. ``--validate`` also runs the
held-out cross-validation (held-out cities, and held-out countries) and stores its headline
numbers next to the parameters.

Order: the variance laws first (the backbone's J_private bounds come from WonderProxy and
Azure), then the public fit and from it the ordinary and premium China border, then the
backbone fit on Azure's P95 less q95(J_private) with the premium border.
Deterministic: the same data gives the same file.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim.model import latency as lat  # noqa: E402 (after the sys.path line)
from sim.calibration import validation as lv  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=lv.default_data_dir(),
                        help="calibration data folder (default: ../shared/data)")
    parser.add_argument("--out", type=Path, default=lat.PARAMS_PATH,
                        help="parameters file to write")
    parser.add_argument("--validate", action="store_true",
                        help="also cross-validate and record the headline numbers")
    args = parser.parse_args(argv)

    doc: dict = {
        "description": (
            "Fitted parameters of sim.model.latency (see docs/latency.md). 'public': the public "
            "internet between well-connected hosts; 'private': the provider's backbone between "
            "its sites. Both give the typical minimum RTT; 'variance' holds the laws of the "
            "extra delay above it, 'china_border' the ordinary and premium costs into mainland "
            "China. Written by scripts/fit_latency.py."),
        "sources": {
            "public": lv.PUBLIC_SOURCE + " (fitted parameters only; the rows are not copied)",
            "private": lv.PRIVATE_SOURCE + (
                " (fitted on P95 = minimum + q95 of the backbone's extra delay, "
                "variance.private.q95_ms)"),
            "variance": ("WonderProxy 2020 rtt_avg_ms - rtt_min_ms (hourly mean of 30 pings "
                         "minus the minimum), fitted on its p50 and p90; private: an assumption "
                         "bounded by it (see variance_fit)"),
            "structure": ("hubs, regions and links: hand-made from public knowledge "
                          "(PeeringDB exchange locations, TeleGeography's public submarine-cable "
                          "map), in sim/data/latency/*.csv"),
        },
        "fitted_on": {},
    }
    var = lv.fit_variance(args.data, lv.load_private(args.data, offset_ms=0.0))
    q95 = var["variance"]["private"]["q95_ms"]
    public = lv.load_public(args.data)
    params = lv.fit_params(public)
    border = lv.fit_china_border(public, params)
    doc["public"] = params.to_dict()
    doc["fitted_on"]["public"] = {"pairs": len(public), "sites": len(public.site_name)}
    private = lv.load_private(args.data, offset_ms=q95)
    priv = lv.fit_params(private, border_ms=border["premium_ms"])
    doc["private"] = priv.to_dict()
    doc["fitted_on"]["private"] = {"pairs": len(private), "sites": len(private.site_name),
                                   "statistic": f"P95 - {q95} ms (q95 of J_private)"}
    doc["china_border"] = border
    doc["variance"] = var["variance"]
    doc["variance_fit"] = var["fit"]
    ratio = {}
    for name, meas in (("azure_pairs", private), ("wonderproxy_pairs", public)):
        mpub = lat.LatencyModel(params, network="public")
        mpriv = lat.LatencyModel(priv, network="private")
        pts = mpub.points(meas.site_lat, meas.site_lon)
        r = (mpub.pair_rtt_ms(pts, pts, meas.a, meas.b)
             / mpriv.pair_rtt_ms(pts, pts, meas.a, meas.b))
        ratio[name] = round(float(np.median(r)), 4)
    doc["public_over_private_median"] = ratio
    for network in ("public", "private"):
        print(f"{network}: {doc['fitted_on'][network]}", file=sys.stderr)
    print(f"china border {border['ordinary_ms']:.1f} / {border['premium_ms']:.1f} ms, "
          f"J_private q95 {q95:.2f} ms, public/private median {ratio}", file=sys.stderr)
    if args.validate:
        _write(args.out, doc)  # the validation reads the shipped offset and premium border
        lat._shipped.cache_clear()
        report = lv.validate_latency(args.data, None, figures=False)
        doc["validation"] = {
            "method": (f"{report.folds}-fold cross-validation over sites (seed {report.seed}), "
                       "continent pairs weighted equally; absolute percentage error; the "
                       "backbone's model is min + q95(J_private) against Azure's P95"),
            "headline": {n: {k: round(v, 4) for k, v in report.headline(n).items()}
                         for n in ("public", "private")},
        }
        if report.holdout_tables:
            doc["validation"]["headline_by_holdout"] = {
                mode: {n: {k: round(v, 4) for k, v in report.headline(n, mode).items()
                           if k.startswith("model")}
                       for n in ("public", "private")}
                for mode in report.holdout_tables}
        print(report.to_markdown(), file=sys.stderr)
    _write(args.out, doc)
    return 0


def _write(out: Path, doc: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=2)
    # one line per in-region curve: [a0, a1, b]
    text = re.sub(r"\[\s+([-\d.e]+),\s+([-\d.e]+),\s+([-\d.e]+)\s+\]", r"[\1, \2, \3]", text)
    out.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
