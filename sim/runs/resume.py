"""Resuming an interrupted comparison or sweep: a result folder is reused when it holds a
finished result of exactly the same resolved scenario."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sim.analysis.folders import recover_missing
from sim.analysis.results import SUMMARY_FILE
from sim.analysis.summary_shape import read_summary
from sim.errors import ResultsError

__all__ = ["previous_result"]


def previous_result(folder: Path, resolved: dict[str, Any]) -> dict[str, Any] | None:
    """The summary in ``folder`` when it is a complete result of exactly this resolved
    scenario (a summary of the wrong shape, or a folder missing its tables, is not: the point
    is run again)."""
    recover_missing(folder)  # a writer killed between its two renames
    path = folder / SUMMARY_FILE
    if not path.is_file():
        return None
    try:
        summary = read_summary(path)
    except ResultsError:
        return None
    if summary.get("scenario_resolved") != resolved:
        return None
    if not (folder / "node_load.csv").is_file():
        return None
    return summary
