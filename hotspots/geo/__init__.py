"""Domain code: ingest, ward join, DBSCAN hotspots, summaries and exports (no web imports)."""
