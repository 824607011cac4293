"""Stored interventions: what was done, by whom, when and where.

One row per intervention in the ``interventions`` table, next to the dataset
metadata (same database, one transaction per change; the service writes the
audit log). The place is always stored as a frozen geometry (WKB, EPSG:27700),
whatever it was made from: a drawn or uploaded polygon, hotspots of an analysis
(their shapes copied at the time of recording, so a later analysis with other
parameters does not move the intervention) or wards (their shapes copied too).
``source`` says how it was made (hotspot ids and the analysis, or ward codes).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import JSON, DateTime, LargeBinary, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from hotspots.errors import NotFound
from hotspots.store.store import Base, Store

MAX_INTERVENTIONS = 10_000


class InterventionRow(Base):
    __tablename__ = "interventions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    partner: Mapped[str] = mapped_column(String(200))
    start: Mapped[str] = mapped_column(String(7))
    end: Mapped[str | None] = mapped_column(String(7), nullable=True)
    area: Mapped[str] = mapped_column(String(64))
    where_kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[dict[str, Any]] = mapped_column(JSON)
    geometry: Mapped[bytes] = mapped_column(LargeBinary)
    control: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    notes: Mapped[str] = mapped_column(String(2000))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class Intervention:
    """One recorded intervention; ``geometry`` and ``control`` in EPSG:27700."""

    id: str
    name: str
    kind: str
    partner: str
    start: str
    end: str | None
    area: str
    where_kind: str
    source: dict[str, Any]
    geometry: BaseGeometry
    control: BaseGeometry | None
    notes: str
    created_by: str
    created_at: datetime

    def describe(self) -> dict[str, Any]:
        """JSON-ready, without the geometry (see :meth:`feature`)."""
        return {
            "id": self.id,
            "name": self.name,
            "type": self.kind,
            "partner": self.partner,
            "start": self.start,
            "end": self.end,
            "area": self.area,
            "where": {"kind": self.where_kind, **self.source},
            "area_km2": round(float(self.geometry.area) / 1e6, 4),
            "has_control": self.control is not None,
            "notes": self.notes,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }


class InterventionRegister:
    """The ``interventions`` table of a store."""

    def __init__(self, store: Store) -> None:
        self.engine = store.engine
        Base.metadata.create_all(self.engine, tables=[InterventionRow.__table__])  # type: ignore[list-item]

    def add(
        self,
        *,
        name: str,
        kind: str,
        partner: str,
        start: str,
        end: str | None,
        area: str,
        where_kind: str,
        source: dict[str, Any],
        geometry: BaseGeometry,
        control: BaseGeometry | None,
        notes: str,
        created_by: str,
    ) -> Intervention:
        """Record one intervention (one transaction) and return it."""
        ident = uuid.uuid4().hex
        row = InterventionRow(
            id=ident,
            name=name[:200],
            kind=kind,
            partner=partner[:200],
            start=start,
            end=end,
            area=area,
            where_kind=where_kind,
            source=source,
            geometry=shapely.to_wkb(geometry),
            control=shapely.to_wkb(control) if control is not None else None,
            notes=notes[:2000],
            created_by=created_by[:64],
            created_at=datetime.now(UTC),
        )
        with Session(self.engine) as session, session.begin():
            session.add(row)
        return self.get(ident)

    def get(self, ident: str) -> Intervention:
        with Session(self.engine) as session:
            row = session.get(InterventionRow, ident[:32])
            if row is None:
                raise NotFound(f"no intervention {ident[:40]!r}")
            return _record(row)

    def all(self) -> list[Intervention]:
        with Session(self.engine) as session:
            query = select(InterventionRow).order_by(InterventionRow.start.desc(), InterventionRow.name)
            return [_record(r) for r in session.scalars(query.limit(MAX_INTERVENTIONS))]

    def ids(self) -> list[str]:
        """The ids of every intervention (no geometry read)."""
        with Session(self.engine) as session:
            return list(session.scalars(select(InterventionRow.id).limit(MAX_INTERVENTIONS)))

    def delete(self, ident: str) -> Intervention:
        record = self.get(ident)
        with Session(self.engine) as session, session.begin():
            session.execute(delete(InterventionRow).where(InterventionRow.id == record.id))
        return record


def _record(row: InterventionRow) -> Intervention:
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    return Intervention(
        id=row.id,
        name=row.name,
        kind=row.kind,
        partner=row.partner,
        start=row.start,
        end=row.end,
        area=row.area,
        where_kind=row.where_kind,
        source=dict(row.source),
        geometry=shapely.from_wkb(row.geometry),
        control=shapely.from_wkb(row.control) if row.control is not None else None,
        notes=row.notes,
        created_by=row.created_by,
        created_at=created,
    )
