"""Dataset versions and uploaded boundary sets, on disk and in the metadata database."""

from __future__ import annotations

import os
import re
import tempfile
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy import (
    JSON,
    DateTime,
    Integer,
    String,
    UniqueConstraint,
    create_engine,
    delete,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from hotspots.boundaries.model import BoundarySet, StoredBoundarySet, summary_of
from hotspots.crs import BNG, WGS84
from hotspots.errors import Conflict, InvalidInput, NotFound
from hotspots.geo.inputs.ingest import INCIDENT_COLUMNS, IngestReport

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
NAME_RULE = "1-64 characters: lower-case letters, digits, '-' or '_', starting with a letter or digit"
MAX_VERSION = 2**31 - 1
"""Largest version number (the column is a 32-bit integer in every database); a larger one is
simply not found."""
VERSION_RE = re.compile(r"^[0-9]{1,20}$")
VERSION_ATTEMPTS = 100
"""How often :meth:`Store.add_dataset` tries the next version number when writers race."""


class Base(DeclarativeBase):
    pass


class DatasetRow(Base):
    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    path: Mapped[str] = mapped_column(String(512))
    rows: Mapped[int] = mapped_column(Integer)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)


class BoundaryRow(Base):
    __tablename__ = "boundary_sets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    path: Mapped[str] = mapped_column(String(512))
    valid_from: Mapped[str | None] = mapped_column(String(7), nullable=True)
    valid_to: Mapped[str | None] = mapped_column(String(7), nullable=True)
    source: Mapped[str] = mapped_column(String(512))
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """Ward count, boroughs, area, notes: what a listing needs without reading the file."""


@dataclass(frozen=True)
class DatasetVersion:
    """One stored version of a dataset: ``ref`` is ``name@version``."""

    id: int
    name: str
    version: int
    created_at: datetime
    rows: int
    report: dict[str, Any]
    path: Path

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def key(self) -> str:
        """An identity never reused, for cache keys: the version's file, unique per write.

        Not :attr:`id` (SQLite hands a deleted row's id to the next insert) and not
        :attr:`ref` (a deleted version's number is given again).
        """
        return str(self.path)

    def describe(self) -> dict[str, Any]:
        return {
            "dataset": self.name,
            "version": self.version,
            "ref": self.ref,
            "created_at": self.created_at.isoformat(),
            "rows": self.rows,
            "months": self.report.get("months", []),
            "crime_types": self.report.get("crime_types", {}),
            "report": self.report,
        }


def check_name(name: str, what: str = "dataset") -> str:
    if not NAME_RE.match(name):
        raise InvalidInput(f"{what} name {name!r} is not allowed: {NAME_RULE}")
    return name


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``name`` -> (name, None); ``name@3`` -> (name, 3).

    :class:`InvalidInput` unless the version is a whole number written in ASCII digits;
    :class:`NotFound` for a number above :data:`MAX_VERSION` (no version can have it).
    """
    name, at, version = ref.partition("@")
    if not at:
        return name, None
    if not VERSION_RE.match(version):
        shown = version if len(version) <= 40 else version[:40] + "..."
        raise InvalidInput(f"dataset version must be a whole number, got {shown!r}")
    number = int(version)
    if number > MAX_VERSION:
        raise NotFound(f"no dataset {name}@{version}: versions go up to {MAX_VERSION}")
    return name, number


class Store:
    """Datasets and boundary sets under ``data_dir``, metadata at ``url`` (SQLAlchemy)."""

    def __init__(self, data_dir: Path, url: str, cache_size: int = 8) -> None:
        self.data_dir = Path(data_dir)
        (self.data_dir / "datasets").mkdir(parents=True, exist_ok=True)
        (self.data_dir / "boundaries").mkdir(parents=True, exist_ok=True)
        # Writers in other processes (the CLI next to the server) hold SQLite's write lock for
        # a moment: wait for it rather than fail at once.
        connect_args = {"timeout": 30} if url.startswith("sqlite") else {}
        self.engine = create_engine(url, connect_args=connect_args)
        Base.metadata.create_all(self.engine)
        _add_missing_columns(self.engine)
        self._lock = threading.Lock()
        self._frames: OrderedDict[str, pd.DataFrame] = OrderedDict()
        self._cache_size = cache_size

    # ---- datasets -------------------------------------------------------------------
    def add_dataset(self, name: str, incidents: pd.DataFrame, report: IngestReport) -> DatasetVersion:
        """Store a validated incidents frame as the next version of ``name`` (atomically).

        Safe with other writers, in this process or others (the CLI beside the server): the
        file is written first, under a name no other write uses (``v{n}-{uuid}.parquet``);
        the database hands out the version number (the unique constraint on name and
        version refuses a taken one, and the next number is tried); the file takes its
        final name only once the row is in, and a failed write removes only its own file.
        """
        check_name(name)
        folder = self.data_dir / "datasets" / name
        token = uuid.uuid4().hex
        tmp = folder / f".tmp-{token}.parquet"
        _write_geoparquet(incidents, tmp)
        final: Path | None = None
        try:
            for _ in range(VERSION_ATTEMPTS):
                with Session(self.engine) as session:
                    latest = session.scalar(
                        select(DatasetRow.version)
                        .where(DatasetRow.name == name)
                        .order_by(DatasetRow.version.desc())
                        .limit(1)
                    )
                    version = (latest or 0) + 1
                    rel = Path("datasets") / name / f"v{version}-{token}.parquet"
                    row = DatasetRow(
                        name=name,
                        version=version,
                        created_at=datetime.now(UTC),
                        path=str(rel),
                        rows=len(incidents),
                        report=report.as_dict(),
                    )
                    session.add(row)
                    try:
                        session.flush()  # claims the version (or raises if another writer has it)
                    except IntegrityError:
                        session.rollback()
                        continue
                    final = self.data_dir / rel
                    os.replace(tmp, final)
                    session.commit()
                    return self._version(row)
            raise Conflict(f"dataset {name!r}: could not claim a version number, too many writers at once")
        except BaseException:
            tmp.unlink(missing_ok=True)
            if final is not None:
                final.unlink(missing_ok=True)
            raise

    def list_datasets(self) -> list[DatasetVersion]:
        with Session(self.engine) as session:
            rows = session.scalars(select(DatasetRow).order_by(DatasetRow.name, DatasetRow.version)).all()
            return [self._version(r) for r in rows]

    def get_dataset(self, ref: str) -> DatasetVersion:
        """``name`` (latest version) or ``name@version``."""
        name, version = parse_ref(ref)
        with Session(self.engine) as session:
            query = select(DatasetRow).where(DatasetRow.name == name)
            if version is not None:
                query = query.where(DatasetRow.version == version)
            row = session.scalars(query.order_by(DatasetRow.version.desc())).first()
            if row is None:
                known = sorted({d.name for d in self.list_datasets()})
                raise NotFound(f"no dataset {ref!r}; known datasets: {', '.join(known) or 'none'}")
            return self._version(row)

    def load_incidents(self, version: DatasetVersion) -> pd.DataFrame:
        """The stored incidents of a version (cached in memory; treat as read-only).

        :class:`NotFound` if the version was deleted meanwhile (its file is gone).
        """
        key = version.key
        with self._lock:
            if key in self._frames:
                self._frames.move_to_end(key)
                return self._frames[key]
        try:
            frame = pd.read_parquet(version.path, columns=INCIDENT_COLUMNS)
        except FileNotFoundError:
            raise NotFound(f"dataset {version.ref} was deleted") from None
        with self._lock:
            self._frames[key] = frame
            while len(self._frames) > self._cache_size:
                self._frames.popitem(last=False)
        return frame

    def forget(self, versions: list[DatasetVersion]) -> None:
        """Drop cached frames of deleted versions."""
        with self._lock:
            for v in versions:
                self._frames.pop(v.key, None)

    def _version(self, row: DatasetRow) -> DatasetVersion:
        return DatasetVersion(
            id=row.id,
            name=row.name,
            version=row.version,
            # SQLite hands DateTime(timezone=True) back naive; it was stored as UTC
            created_at=row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC),
            rows=row.rows,
            report=row.report,
            path=self.data_dir / row.path,
        )

    # ---- boundary sets --------------------------------------------------------------
    def add_boundary_set(self, bset: BoundarySet, reserved: set[str]) -> None:
        check_name(bset.name, "boundary set")
        if bset.name in reserved:
            raise Conflict(f"boundary set {bset.name!r} is shipped with the service; choose another name")
        with self._lock, Session(self.engine) as session, session.begin():
            if session.get(BoundaryRow, bset.name) is not None:
                raise Conflict(f"boundary set {bset.name!r} exists already")
            rel = Path("boundaries") / f"{bset.name}.parquet"
            _atomic_parquet(bset.wards, self.data_dir / rel)
            session.add(
                BoundaryRow(
                    name=bset.name,
                    title=bset.title,
                    created_at=datetime.now(UTC),
                    path=str(rel),
                    valid_from=bset.valid_from,
                    valid_to=bset.valid_to,
                    source=bset.source,
                    summary=summary_of(bset),
                )
            )

    def boundary_sets(self) -> list[BoundarySet]:
        """The uploaded sets, oldest first, from their metadata rows only.

        Each set reads its GeoParquet file on first use of its wards (once, under a lock).
        """
        with Session(self.engine) as session:
            rows = session.scalars(select(BoundaryRow).order_by(BoundaryRow.created_at)).all()
            out: list[BoundarySet] = []
            for r in rows:
                summary = r.summary or None
                out.append(
                    StoredBoundarySet(
                        name=r.name,
                        title=r.title,
                        load=_ward_loader(self.data_dir / r.path),
                        summary=summary,
                        valid_from=r.valid_from,
                        valid_to=r.valid_to,
                        source=r.source,
                        notes=list((summary or {}).get("notes") or []),
                        population_source=(summary or {}).get("population_source"),
                        stamp=(r.path, r.created_at),
                    )
                )
            return out

    def delete_boundary_set(self, name: str) -> bool:
        """Delete an uploaded set's row, then its file; False if there was no such set."""
        with self._lock, Session(self.engine) as session, session.begin():
            row = session.get(BoundaryRow, name)
            if row is None:
                return False
            path = self.data_dir / row.path
            session.execute(delete(BoundaryRow).where(BoundaryRow.name == name))
        path.unlink(missing_ok=True)
        return True


def _ward_loader(path: Path) -> Callable[[], gpd.GeoDataFrame]:
    def load() -> gpd.GeoDataFrame:
        return gpd.read_parquet(path).to_crs(BNG)

    return load


def _add_missing_columns(engine: Engine) -> None:
    """Columns added since a database was created (``create_all`` only makes missing tables)."""
    have = {c["name"] for c in inspect(engine).get_columns(BoundaryRow.__tablename__)}
    if "summary" not in have:
        with engine.begin() as con:
            con.execute(text(f"ALTER TABLE {BoundaryRow.__tablename__} ADD COLUMN summary JSON"))


def _write_geoparquet(incidents: pd.DataFrame, final: Path) -> None:
    geometry = gpd.points_from_xy(incidents["longitude"], incidents["latitude"], crs=WGS84)
    missing = ~incidents["has_location"].to_numpy(dtype=bool)
    if missing.any():
        geometry[missing] = None
    gdf = gpd.GeoDataFrame(incidents[INCIDENT_COLUMNS].copy(), geometry=geometry, crs=WGS84)
    for c in gdf.columns:
        if str(gdf[c].dtype) in ("string", "str"):
            gdf[c] = gdf[c].astype(object)
    _atomic_parquet(gdf, final)


def _atomic_parquet(gdf: gpd.GeoDataFrame, final: Path) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``final``."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".tmp-", suffix=".parquet")
    os.close(fd)
    try:
        gdf.to_parquet(tmp, compression="zstd", write_covering_bbox=True)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
