"""Boundary sets: the shipped tri-borough wards and boroughs, and user uploads."""

from hotspots.boundaries.model import BoundarySet
from hotspots.boundaries.shipped import shipped_boundary_sets
from hotspots.boundaries.upload import read_boundary_file

__all__ = ["BoundarySet", "read_boundary_file", "shipped_boundary_sets"]
