"""Stage 7, what users look at: figures, the map and text tables, drawn from results only."""
