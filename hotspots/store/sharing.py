"""Data-sharing records and dataset lifecycle: who owns a dataset, why it is held, until when.

Under the Serious Violence Duty police, councils, health (A&E assault data, as in
the Cardiff Model), education and probation pool data under data-sharing
agreements. Each dataset name records its owner organisation, source type and
agreement (purpose, reference, retention end date). Past its retention date a
dataset is deleted by :func:`purge_expired`; every deletion is audited by the
caller. Deleting removes the metadata row first (in a transaction) and then the
file, so a crash in between leaves an unreferenced file that
:func:`remove_orphans` clears at the next start, never a row without its file.
A file being written by another process has no row yet either: orphans younger
than :data:`ORPHAN_GRACE_S` are left alone.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from sqlalchemy import Date, DateTime, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from hotspots.errors import InvalidInput, NotFound
from hotspots.store.store import Base, DatasetRow, DatasetVersion, Store, parse_ref

SourceType = Literal["police", "council", "health", "education", "probation", "other"]
SOURCE_TYPES: tuple[str, ...] = get_args(SourceType)
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ORPHAN_GRACE_S = 3600.0
"""A dataset file without a row is removed only once it is this old (seconds): a younger one
may belong to a write still under way in another process."""


class SharingRow(Base):
    __tablename__ = "dataset_sharing"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    source_type: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(1000))
    agreement: Mapped[str] = mapped_column(String(200))
    retention_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class Sharing:
    """The data-sharing record of a dataset (all its versions)."""

    owner: str = "unspecified"
    source_type: str = "police"
    purpose: str = ""
    agreement: str = ""
    retention_until: date | None = None

    @classmethod
    def parse(
        cls,
        owner: str | None = None,
        source_type: str | None = None,
        purpose: str | None = None,
        agreement: str | None = None,
        retention_until: str | None = None,
    ) -> Sharing:
        """Validate form values (``retention_until`` as ``YYYY-MM-DD``)."""
        source = (source_type or "police").strip().lower()
        if source not in SOURCE_TYPES:
            raise InvalidInput(f"source_type must be one of {', '.join(SOURCE_TYPES)}, got {source_type!r}")
        until = None
        if retention_until:
            if not DATE_RE.match(retention_until.strip()):
                raise InvalidInput(f"retention_until must be a date YYYY-MM-DD, got {retention_until!r}")
            try:
                until = date.fromisoformat(retention_until.strip())
            except ValueError:
                raise InvalidInput(f"retention_until is not a real date: {retention_until!r}") from None
        return cls(
            owner=(owner or "unspecified").strip()[:200] or "unspecified",
            source_type=source,
            purpose=(purpose or "").strip()[:1000],
            agreement=(agreement or "").strip()[:200],
            retention_until=until,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "source_type": self.source_type,
            "purpose": self.purpose,
            "agreement": self.agreement,
            "retention_until": self.retention_until.isoformat() if self.retention_until else None,
        }


class SharingRegister:
    """Sharing records next to the dataset metadata (same database)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        Base.metadata.create_all(store.engine)

    def set(self, name: str, sharing: Sharing) -> None:
        with Session(self.store.engine) as session, session.begin():
            row = session.get(SharingRow, name)
            if row is None:
                row = SharingRow(name=name)
                session.add(row)
            row.owner = sharing.owner
            row.source_type = sharing.source_type
            row.purpose = sharing.purpose
            row.agreement = sharing.agreement
            row.retention_until = sharing.retention_until
            row.updated_at = datetime.now(UTC)

    def get(self, name: str) -> Sharing:
        with Session(self.store.engine) as session:
            row = session.get(SharingRow, name)
            if row is None:
                return Sharing()
            return Sharing(row.owner, row.source_type, row.purpose, row.agreement, row.retention_until)

    def expired(self, today: date) -> list[str]:
        """Dataset names whose retention date has passed."""
        with Session(self.store.engine) as session:
            rows = session.scalars(select(SharingRow.name).where(SharingRow.retention_until < today))
            return sorted(rows)


def delete_dataset(store: Store, ref: str) -> list[DatasetVersion]:
    """Delete one version (``name@3``) or every version (``name``) of a dataset; returns what went."""
    name, version = parse_ref(ref)
    with Session(store.engine) as session, session.begin():
        query = select(DatasetRow).where(DatasetRow.name == name)
        if version is not None:
            query = query.where(DatasetRow.version == version)
        rows = list(session.scalars(query))
        if not rows:
            raise NotFound(f"no dataset {ref!r}")
        gone = [store._version(r) for r in rows]
        session.execute(delete(DatasetRow).where(DatasetRow.id.in_([r.id for r in rows])))
        if version is None or not session.scalar(select(DatasetRow.id).where(DatasetRow.name == name)):
            session.execute(delete(SharingRow).where(SharingRow.name == name))
    store.forget(gone)
    for v in gone:
        v.path.unlink(missing_ok=True)
    return gone


def remove_orphans(store: Store, grace_s: float = ORPHAN_GRACE_S) -> list[Path]:
    """Remove dataset files no metadata row points at, and leftover temporary files.

    Only files older than ``grace_s`` seconds: a younger one may be another process's
    write, whose row is not committed yet.
    """
    cutoff = time.time() - grace_s
    candidates = list((store.data_dir / "datasets").glob("*/*.parquet"))
    # The rows are read after listing the files, so a write committed in between is known.
    with Session(store.engine) as session:
        known = {str(store.data_dir / p) for p in session.scalars(select(DatasetRow.path))}
    removed = []
    for path in candidates:
        if str(path) in known:
            continue
        try:
            if path.stat().st_mtime > cutoff:
                continue
        except FileNotFoundError:
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed
