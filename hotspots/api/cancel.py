"""Notice when a client leaves, so the service can give up work nobody waits for.

A pure ASGI middleware: for each GET/HEAD request it sets
:data:`hotspots.geo.cancel.caller_gone` to an event, reads the request's messages itself
(handing them on to the app), and sets the event when the server reports
``http.disconnect`` before the response has been sent. The handler runs in a worker
thread with a copy of this context, so the service sees the event of its caller.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hotspots.geo.cancel import caller_gone


class DisconnectWatch:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        gone = threading.Event()
        done = False
        queue: asyncio.Queue[Message] = asyncio.Queue()

        async def read() -> None:
            while True:
                message = await receive()
                await queue.put(message)
                if message["type"] == "http.disconnect":
                    if not done:
                        gone.set()
                    return

        async def handed_on() -> Message:
            return await queue.get()

        async def sending(message: Message) -> None:
            nonlocal done
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                done = True
            await send(message)

        reader = asyncio.create_task(read())
        token = caller_gone.set(gone)
        try:
            await self.app(scope, handed_on, sending)
        finally:
            caller_gone.reset(token)
            reader.cancel()


def watch_disconnects(app: Any) -> None:
    """Install :class:`DisconnectWatch` on a FastAPI app."""
    app.add_middleware(DisconnectWatch)
