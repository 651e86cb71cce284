"""Stage 5, analysis of a run: per-login records, node time series, summary, statistics."""

from sim.analysis.results import Results

__all__ = ["Results"]
