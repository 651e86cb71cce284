"""Numbers as the text tables show them: shares in percent (differences in percentage
points), everything else to one decimal, n/a for what is missing."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

__all__ = ["is_share", "format_figure", "format_interval"]


def is_share(name: str) -> bool:
    """Whether a figure is a share (0..1): every figure but the latencies."""
    return not name.startswith("latency_ms.")


def format_figure(name: str, v: Any, signed: bool = False) -> str:
    """A figure's value as text: ``12.34%`` for a share (``+1.20 pp`` signed), ``95.3`` for a
    latency in ms, ``n/a`` when missing or not finite."""
    if v is None or v is pd.NA or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    v = float(v)
    sign = "+" if signed and v > 0 else ""
    if is_share(name):
        unit = " pp" if signed else "%"
        text = f"{sign}{100 * v:.2f}"
    else:
        unit = ""
        text = f"{sign}{v:.1f}"
    if text.lstrip("+-").strip("0.") == "":
        text = text.lstrip("+-")  # no -0.0 or +0.00
    return text + unit


def format_interval(name: str, mean: Any, lo: Any, hi: Any, signed: bool = False) -> str:
    """``mean [low, high]`` formatted as :func:`format_figure` does."""
    m = format_figure(name, mean, signed)
    if m == "n/a":
        return m
    if lo is None or lo is pd.NA:
        return f"{m} [n/a]"
    return f"{m} [{format_figure(name, lo, signed)}, {format_figure(name, hi, signed)}]"
