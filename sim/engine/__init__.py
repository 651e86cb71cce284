"""Stage 4, the SimPy model: nodes, the login lifecycle, disruptions, sampling and recording."""
