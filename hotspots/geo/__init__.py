"""Domain code: no web framework, no Folium. Metric work in British National Grid (EPSG:27700).

The rooms, by concern (each may import the rooms above it in this list, and
:mod:`hotspots.boundaries`, :mod:`hotspots.crs` and :mod:`hotspots.errors`; never
:mod:`hotspots.service`, :mod:`hotspots.maps` or :mod:`hotspots.api`):

- :mod:`hotspots.geo.inputs`: reading and validating incident files, the ward join;
- :mod:`hotspots.geo.clusters`: DBSCAN, HDBSCAN, hotspot shapes and summaries;
- :mod:`hotspots.geo.stats`: significance (Gi*), emerging hot spots, trends, harm, hotspot quality
  (PAI, PEI, RRI), period comparison, parameter help;
- :mod:`hotspots.geo.outputs`: GeoJSON, CSV and GeoPackage writers;
- :mod:`hotspots.geo.scale`: the distributed (Dask) path;
- :mod:`hotspots.geo.plans`: patrol plans.

At the top of the package: :mod:`~hotspots.geo.params` (the one parameter contract),
:mod:`~hotspots.geo.analysis` (one analysis from filter to summaries), :mod:`~hotspots.geo.disclosure`
(the cell key gate), :mod:`~hotspots.geo.cancel` and :mod:`~hotspots.geo.geos` (cancellation and
thread-safe GEOS use, shared by every room).
"""
