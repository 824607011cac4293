"""Embedded storage: incidents as GeoParquet files (one per dataset version), metadata in SQL.

The default is SQLite inside the data directory, so nothing needs to be started;
any SQLAlchemy URL (e.g. PostgreSQL) works for the metadata. File writes are
atomic (write to a temporary file, then rename) and each metadata change is one
transaction: a failed upload leaves no trace.
"""

from hotspots.store.store import DatasetVersion, Store

__all__ = ["DatasetVersion", "Store"]
