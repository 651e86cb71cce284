"""Stage 6, running: the run API, seeds, executors (local, Dask), comparisons and sweeps."""
