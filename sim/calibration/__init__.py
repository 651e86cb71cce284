"""Fitting and validating the latency model against measured data (not used by a run)."""
