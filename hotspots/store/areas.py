"""Stored areas: how each was made (catalogue districts, a police force, an uploaded boundary set).

The record holds the recipe, not the geometry: a catalogue area is rebuilt from
the shipped catalogue, an uploaded one from its stored boundary set. Each making
of an area gets a fresh ``token``, so results cached for an area that was deleted
and made again under the same name are never served.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, String, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from hotspots.errors import Conflict, NotFound
from hotspots.store.store import Base, Store, check_name


class AreaRow(Base):
    __tablename__ = "areas"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(16))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class AreaRecord:
    """One stored area's recipe."""

    name: str
    title: str
    kind: str
    spec: dict[str, Any]
    token: str
    created_at: datetime


class AreaRegister:
    """The ``areas`` table of a store."""

    def __init__(self, store: Store) -> None:
        self.engine = store.engine
        Base.metadata.create_all(self.engine, tables=[AreaRow.__table__])  # type: ignore[list-item]

    def add(self, name: str, title: str, kind: str, spec: dict[str, Any]) -> AreaRecord:
        """Record a new area; :class:`Conflict` if the name is taken."""
        check_name(name, "area")
        row = AreaRow(
            name=name,
            title=title[:256],
            kind=kind,
            spec=spec,
            token=uuid.uuid4().hex,
            created_at=datetime.now(UTC),
        )
        try:
            with Session(self.engine) as session, session.begin():
                session.add(row)
        except IntegrityError:
            raise Conflict(
                f"an area named {name!r} exists already; delete it first or choose another name"
            ) from None
        return self.get(name)

    def get(self, name: str) -> AreaRecord:
        with Session(self.engine) as session:
            row = session.get(AreaRow, name)
            if row is None:
                raise NotFound(f"no area named {name!r}; known areas: {', '.join(self.names()) or 'none'}")
            return _record(row)

    def names(self) -> list[str]:
        with Session(self.engine) as session:
            return list(session.scalars(select(AreaRow.name).order_by(AreaRow.name)))

    def all(self) -> list[AreaRecord]:
        with Session(self.engine) as session:
            return [_record(r) for r in session.scalars(select(AreaRow).order_by(AreaRow.name))]

    def delete(self, name: str) -> AreaRecord:
        record = self.get(name)
        with Session(self.engine) as session, session.begin():
            session.execute(delete(AreaRow).where(AreaRow.name == name))
        return record


def _record(row: AreaRow) -> AreaRecord:
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    return AreaRecord(row.name, row.title, row.kind, dict(row.spec), row.token, created)
