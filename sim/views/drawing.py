"""Matplotlib helpers shared by the figures: an axes to draw in, a palette, bars with
confidence intervals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes

__all__ = ["new_axes", "colours", "ci_errors", "grouped_bars"]


def new_axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    """``ax``, or the axes of a new pyplot figure of ``size`` inches (for notebooks)."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # deferred: pyplot picks a backend when imported

    _, new = plt.subplots(figsize=size, layout="constrained")
    return new


def colours(n: int) -> list[Any]:
    """``n`` distinct colours (tab10, or tab20 beyond ten)."""
    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def ci_errors(rows: pd.DataFrame) -> np.ndarray:
    """Error bar lengths (below, above) of rows with ``mean``, ``ci_low``, ``ci_high``."""
    means = rows["mean"].to_numpy(dtype=float, na_value=np.nan)
    lo = rows["ci_low"].to_numpy(dtype=float, na_value=np.nan)
    hi = rows["ci_high"].to_numpy(dtype=float, na_value=np.nan)
    err = np.vstack([means - lo, hi - means])
    return np.nan_to_num(err, nan=0.0)


def grouped_bars(ax: Axes, table: pd.DataFrame, figures: Sequence[str],
                 names: Sequence[str], labels: Sequence[str], rotate: bool = False) -> None:
    """One group of bars per figure, one bar per scenario, with its 95% interval."""
    palette = colours(len(names))
    n = len(names)
    width = 0.8 / max(n, 1)
    x = np.arange(len(figures))
    for k, (name, colour) in enumerate(zip(names, palette)):
        rows = table[table["scenario"] == name].set_index("figure").reindex(list(figures))
        rows = rows.reset_index()
        if len(figures) == 0:
            continue
        means = rows["mean"].to_numpy(dtype=float, na_value=np.nan)
        ax.bar(x - 0.4 + width * (k + 0.5), np.nan_to_num(means), width, color=colour,
               yerr=ci_errors(rows), capsize=2, ecolor="0.25", label=name)
    ax.set_xticks(x, list(labels), rotation=45 if rotate else 0,
                  ha="right" if rotate else "center")
    ax.grid(True, axis="y", alpha=0.3)
    if len(figures):
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "nothing to show", transform=ax.transAxes, ha="center")
