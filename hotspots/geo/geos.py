"""Prepared geometries are private to the thread that prepared them.

GEOS prepared geometries are not thread-safe: ``shapely.prepare`` stores the prepared
geometry on the object itself, and the prepared geometry builds its indexes lazily on
first use, without a lock (libgeos/geos#825). Two threads preparing or querying the same
object at once can free what the other is reading (a general protection fault). The
boundary sets (ward polygons, outlines) and cached analysis results are shared by every
request thread, so code here never prepares a geometry it was given: it prepares a copy
of its own (:func:`prepared_copy`), or, for an object kept across calls, one copy per
thread (:class:`PerThread`).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import shapely


def private_copy(geoms: Any) -> Any:
    """A new GEOS object (or array of them) equal to ``geoms``, sharing nothing with it.

    Through WKB: exact doubles, Z kept; ``None`` stays ``None``.
    """
    if geoms is None:
        return None
    if isinstance(geoms, shapely.Geometry):
        return shapely.from_wkb(shapely.to_wkb(geoms))
    arr = np.asarray(geoms, dtype=object)
    return shapely.from_wkb(shapely.to_wkb(arr))


def prepared_copy(geoms: Any) -> Any:
    """:func:`private_copy`, prepared: for fast predicates in this thread only."""
    out = private_copy(geoms)
    if out is not None:
        shapely.prepare(out)
    return out


class PerThread:
    """Prepared copies of geometries kept across calls: one copy per thread, made on first use.

    ``template`` is a private copy that is never prepared nor queried; each thread gets its
    own prepared copy of it.
    """

    def __init__(self, geoms: Any) -> None:
        self._template = private_copy(geoms)
        self._local = threading.local()

    def get(self) -> Any:
        mine = getattr(self._local, "geoms", None)
        if mine is None:
            mine = prepared_copy(self._template)
            self._local.geoms = mine
        return mine
