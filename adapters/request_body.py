"""Reading a request body sent by a stranger: within a time limit, since aiohttp has none
and a client sending one byte a minute would hold its connection and buffer for ever."""

from __future__ import annotations

import asyncio

from aiohttp import web

BODY_READ_SECONDS = 10  # a body still arriving after this is dropped


async def read_body(request: web.Request) -> bytes | None:
    """The body, or None if it is still arriving after BODY_READ_SECONDS (answer `too_slow()`)."""
    try:
        async with asyncio.timeout(BODY_READ_SECONDS):
            return await request.read()
    except TimeoutError:
        return None


def too_slow() -> web.Response:
    return web.Response(status=408, text="the body came too slowly")
