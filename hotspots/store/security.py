"""API keys (hashed at rest) with roles, and the append-only audit log.

A key is shown once, when it is created; only its SHA-256 digest is stored.
Keys are 256-bit random tokens, so a plain digest is enough (no password
stretching is needed for high-entropy secrets). The audit log is only ever
inserted into; nothing in the code updates or deletes its rows.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from sqlalchemy import JSON, DateTime, Engine, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from hotspots.errors import Conflict, InvalidInput, NotFound
from hotspots.store.store import Base, check_name

Role = Literal["viewer", "police", "council", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
KEY_PREFIX = "hs_"


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AuditRow(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(256))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


@dataclass(frozen=True)
class KeyRecord:
    """A stored key, without its secret."""

    id: int
    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class Security:
    """Keys and audit log in the metadata database (``engine`` from :class:`Store`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        Base.metadata.create_all(engine)

    def create_key(self, name: str, role: str) -> tuple[KeyRecord, str]:
        """A new key for ``name`` with ``role``; returns the record and the secret (shown once)."""
        check_name(name, "key")
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        with Session(self.engine) as session, session.begin():
            if session.scalar(select(ApiKeyRow).where(ApiKeyRow.name == name)) is not None:
                raise Conflict(f"a key named {name!r} exists already")
            row = ApiKeyRow(name=name, role=role, digest=digest(secret), created_at=datetime.now(UTC))
            session.add(row)
            session.flush()
            return _record(row), secret

    def revoke_key(self, name: str) -> KeyRecord:
        with Session(self.engine) as session, session.begin():
            row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.name == name))
            if row is None:
                raise NotFound(f"no key named {name!r}")
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
            return _record(row)

    def list_keys(self) -> list[KeyRecord]:
        with Session(self.engine) as session:
            return [_record(r) for r in session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id))]

    def verify(self, secret: str) -> KeyRecord | None:
        """The active key with this secret, or ``None``."""
        if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
            return None
        with Session(self.engine) as session:
            row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.digest == digest(secret)))
            if row is None or row.revoked_at is not None:
                return None
            return _record(row)

    def audit(
        self, actor: str, role: str, action: str, target: str, detail: dict[str, Any] | None = None
    ) -> None:
        """Append one entry to the audit log."""
        with Session(self.engine) as session, session.begin():
            session.add(
                AuditRow(
                    at=datetime.now(UTC),
                    actor=actor[:64],
                    role=role[:16],
                    action=action[:64],
                    target=target[:256],
                    detail=detail or {},
                )
            )

    def audit_log(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """Newest first."""
        with Session(self.engine) as session:
            rows = session.scalars(select(AuditRow).order_by(AuditRow.id.desc()).limit(limit).offset(offset))
            return [
                {
                    "id": r.id,
                    "at": r.at.isoformat(),
                    "actor": r.actor,
                    "role": r.role,
                    "action": r.action,
                    "target": r.target,
                    "detail": r.detail,
                }
                for r in rows
            ]


def _record(row: ApiKeyRow) -> KeyRecord:
    return KeyRecord(row.id, row.name, row.role, row.created_at, row.revoked_at)
