"""Stage 2, the world: topology graph, latency and last mile, sites and workload, the World."""
