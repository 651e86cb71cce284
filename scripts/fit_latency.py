#!/usr/bin/env python3
"""Fit the latency model on all calibration rows and write ``sim/data/latency_params.json``.

Usage::

    .venv/bin/python scripts/fit_latency.py [--data ../shared/data] [--out sim/data/latency_params.json]
                                            [--validate]

The measured rows stay in ``../shared/data`` (WonderProxy's may not be copied into the project);
only the fitted parameters, with their sources, are written. ``--validate`` also runs the
held-out-city cross-validation and stores its headline numbers next to the parameters.
Deterministic: the same data gives the same file.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim.model import latency as lat
from sim.calibration import validation as lv


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
            "internet between well-connected hosts (typical minimum RTT); 'private': the "
            "provider's backbone between its sites. Written by scripts/fit_latency.py."),
        "sources": {
            "public": lv.PUBLIC_SOURCE + " (fitted parameters only; the rows are not copied)",
            "private": lv.PRIVATE_SOURCE,
            "structure": ("hubs, regions and links: hand-made from public knowledge "
                          "(PeeringDB exchange locations, TeleGeography's public submarine-cable "
                          "map), in sim/latency.py"),
        },
        "fitted_on": {},
    }
    for network, loader in (("public", lv.load_public), ("private", lv.load_private)):
        meas = loader(args.data)
        params = lv.fit_params(meas)
        doc[network] = params.to_dict()
        doc["fitted_on"][network] = {"pairs": len(meas), "sites": len(meas.site_name)}
        print(f"{network}: {len(meas)} pairs, {len(meas.site_name)} sites", file=sys.stderr)
    if args.validate:
        report = lv.validate_latency(args.data, None, figures=False)
        doc["validation"] = {
            "method": (f"{report.folds}-fold cross-validation over sites (seed {report.seed}), "
                       "continent pairs weighted equally; absolute percentage error"),
            "headline": {n: {k: round(v, 4) for k, v in report.headline(n).items()}
                         for n in ("public", "private")},
        }
        print(report.to_markdown(), file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=2)
    # one line per in-region curve: [a0, a1, b]
    text = re.sub(r"\[\s+([-\d.e]+),\s+([-\d.e]+),\s+([-\d.e]+)\s+\]", r"[\1, \2, \3]", text)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
