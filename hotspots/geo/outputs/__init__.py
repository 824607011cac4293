"""Writing results: RFC 7946 GeoJSON, formula-safe CSV and GeoPackage (EPSG:27700).

Reads analysis results; computes nothing new.
"""
