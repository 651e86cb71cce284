"""Resuming an interrupted comparison or sweep: a result folder is reused when it holds a
finished result of exactly the same resolved scenario."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sim.analysis.results import SUMMARY_FILE

__all__ = ["previous_result"]


def previous_result(folder: Path, resolved: dict[str, Any]) -> dict[str, Any] | None:
    """The summary in ``folder`` when it is a result of exactly this resolved scenario."""
    path = folder / SUMMARY_FILE
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(summary, dict) or summary.get("scenario_resolved") != resolved:
        return None
    if not summary.get("replication_figures"):
        return None
    return summary
