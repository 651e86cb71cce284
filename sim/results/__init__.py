"""Stage 5, what a run produced: per-login records, node time series, summary and statistics."""

from sim.results.results import Results

__all__ = ["Results"]
