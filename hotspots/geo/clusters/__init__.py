"""Clustering and hotspot shapes: DBSCAN on distinct locations, HDBSCAN, outlines and summaries.

May import :mod:`hotspots.geo.inputs` and the shared helpers at the top of :mod:`hotspots.geo`;
trend tests come from :mod:`hotspots.geo.stats.trend`.
"""
