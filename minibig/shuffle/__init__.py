"""The shuffle: partitioning, map-side combine, block files and fetching."""
