"""OGC API - Features (Part 1: Core, GeoJSON, OpenAPI 3.0) under ``/ogc``, for QGIS, ArcGIS and GDAL.

Four collections of the default analysis (``AnalysisParams()``) of a dataset
(the default sample unless the ``dataset`` query parameter names another):

* ``wards``: ward polygons with incident counts, rates and Getis-Ord Gi*;
* ``boroughs``: borough polygons with incident counts;
* ``hotspots``: DBSCAN hotspot polygons with their summaries;
* ``incidents``: the incident points with month, crime type, ward, borough and
  hotspot id; the feature id is the incident's row number in the stored
  dataset.

Geometries are RFC 7946 GeoJSON in CRS84 (WGS84 longitude, latitude), the
same as the GeoJSON exports. ``bbox`` keeps features whose geometry
intersects the box; ``datetime`` keeps features whose months overlap the
instant or interval (an incident's month; a hotspot's first to last month; a
ward's months of the analysis in which its boundary set was in force; a
borough's months of the analysis). Months are calendar months in UTC.

Parameter errors are ``400`` with an OGC exception body
(``{"code": ..., "description": ...}``) as the standard asks; unknown
collections and features are ``404``. Both come from the one error table in
:mod:`hotspots.api.errors`, which answers every error under ``/ogc`` in that form.
"""

from hotspots.api.routes.ogc.routes import router

__all__ = ["router"]
