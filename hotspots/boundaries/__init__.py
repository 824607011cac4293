"""Boundary sets: the shipped demo wards and boroughs, the national catalogue, uploads."""

from hotspots.boundaries.catalogue import (
    Catalogue,
    District,
    Force,
    national_catalogue,
    resolve_districts,
    resolve_force,
)
from hotspots.boundaries.essex import essex_boundary_set
from hotspots.boundaries.model import BoundarySet
from hotspots.boundaries.shipped import shipped_boundary_sets
from hotspots.boundaries.upload import read_boundary_file

__all__ = [
    "BoundarySet",
    "Catalogue",
    "District",
    "Force",
    "essex_boundary_set",
    "national_catalogue",
    "read_boundary_file",
    "resolve_districts",
    "resolve_force",
    "shipped_boundary_sets",
]
