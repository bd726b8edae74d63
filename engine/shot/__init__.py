"""Shot work: analysis, tracks, the frame layer, rendering, farm jobs."""
