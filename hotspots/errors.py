"""The project's one error family.

Domain code (``geo``, ``boundaries``, ``store``) raises these; only
``hotspots.api.errors`` knows which HTTP status each maps to, and the CLI
prints them without a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RowError:
    """One problem in one row of an input file.

    ``line`` is the 1-based physical line number in the file (the header is
    line 1), ``column`` the column name as written in the file, or ``None`` when
    the problem concerns the whole row or file.
    """

    line: int | None
    column: str | None
    message: str
    value: str | None = None

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column:
            where.append(f"column '{self.column}'")
        prefix = ", ".join(where)
        value = f" (value {self.value!r})" if self.value is not None else ""
        return f"{prefix}: {self.message}{value}" if prefix else f"{self.message}{value}"

    def as_dict(self) -> dict[str, object]:
        return {"line": self.line, "column": self.column, "message": self.message, "value": self.value}


class HotspotError(Exception):
    """Base class of every error this project raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(HotspotError):
    """Input that cannot be accepted: a bad file, a bad parameter.

    ``errors`` lists the row-level problems (possibly truncated); ``total_errors``
    counts all of them.
    """

    def __init__(
        self, message: str, errors: list[RowError] | None = None, total_errors: int | None = None
    ) -> None:
        super().__init__(message)
        self.errors = errors or []
        self.total_errors = total_errors if total_errors is not None else len(self.errors)

    def __str__(self) -> str:
        lines = [self.message]
        lines += [f"  {e}" for e in self.errors]
        if self.total_errors > len(self.errors):
            lines.append(f"  ... and {self.total_errors - len(self.errors)} more")
        return "\n".join(lines)


class InvalidParameter(InvalidInput):
    """A query parameter that a standard's clients must get 400 for (OGC API - Features)."""


class PayloadTooLarge(InvalidInput):
    """An upload or file above the configured size limit."""


class NotFound(HotspotError):
    """A dataset, boundary set, layer or hotspot that does not exist."""


class Unauthorized(HotspotError):
    """No valid API key was given where one is needed."""


class Forbidden(HotspotError):
    """The caller's role may not do this."""


class Conflict(HotspotError):
    """A request that clashes with what is stored (e.g. a duplicate name)."""


class Unavailable(HotspotError):
    """A feature whose system library is missing on this machine (e.g. Pango for PDF output)."""


@dataclass
class ErrorCollector:
    """Collects row errors up to a limit while still counting all of them."""

    limit: int = 100
    errors: list[RowError] = field(default_factory=list)
    total: int = 0
    file: str | None = None
    """When set (several input files), each message starts with this file name."""

    def add(self, error: RowError) -> None:
        self.total += 1
        if len(self.errors) < self.limit:
            if self.file:
                error = RowError(error.line, error.column, f"{self.file}: {error.message}", error.value)
            self.errors.append(error)

    def __bool__(self) -> bool:
        return self.total > 0
