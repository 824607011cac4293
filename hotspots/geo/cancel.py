"""Cooperative cancellation: long computations stop when nobody waits for them any more.

A thread cannot be killed, so long loops (the rolling evaluation's test months, a
comparison's two periods, the stages of an analysis) call :func:`checkpoint` between
steps. It raises :class:`Cancelled` when the computation running in this context has
been abandoned (see :func:`cancellable`); outside one it does nothing, so the CLI and
library callers are never cancelled.

:data:`caller_gone` is set by the web front door for each request: an event that is
set when the request's client disconnects. The service's cache gives a computation
shared by several waiting requests up only when every one of them has gone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from hotspots.errors import HotspotError


class Cancelled(HotspotError):
    """The computation was given up: every client waiting for it left."""


caller_gone: ContextVar[threading.Event | None] = ContextVar("caller_gone", default=None)
"""Set for the current request by the API: an event set when its client disconnects."""

_abandoned: ContextVar[Callable[[], bool] | None] = ContextVar("abandoned", default=None)


def checkpoint() -> None:
    """Raise :class:`Cancelled` if the computation running here has been abandoned."""
    abandoned = _abandoned.get()
    if abandoned is not None and abandoned():
        raise Cancelled("the computation was cancelled: every client waiting for it left")


@contextmanager
def cancellable(abandoned: Callable[[], bool]) -> Iterator[None]:
    """Run the block with :func:`checkpoint` consulting ``abandoned``."""
    token = _abandoned.set(abandoned)
    try:
        yield
    finally:
        _abandoned.reset(token)
