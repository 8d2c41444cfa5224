"""A local web site for tests: pages and misbehaving handlers on 127.0.0.1.

    async with serve_site({"/": page("<html>...</html>"), "/old": redirect("/")}) as site:
        page = await fetcher.fetch(site.url("/old"))
        assert site.hits["/"] == 1

A route is a `(status, headers, body)` tuple (use `page`, `redirect`) or an aiohttp handler
`async def handler(request) -> web.StreamResponse`. Routes may be added to `site.routes`
after the site has started. Every request is recorded in `site.requests`.

`serve_raw` is for answers aiohttp's server will not produce (no Content-Type, broken
headers): it writes the given bytes verbatim to every connection.

Fetching from these sites needs `Settings(fetch_allow_private=["127.0.0.0/8"])`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from adapters.local_server import LocalServer

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Route = tuple[int, Mapping[str, str], bytes | str] | Handler


def page(body: bytes | str, content_type: str = "text/html; charset=utf-8", status: int = 200, **headers: str):
    """A static route: `body` with this Content-Type (a str body is sent as UTF-8)."""
    return status, {"Content-Type": content_type, **headers}, body


def redirect(location: str, status: int = 302):
    return status, {"Location": location}, b""


class HeldPages:
    """Pages that answer only once the test sets `release`, counting how many are being
    fetched at once (`fetching`) and the most ever (`most`): for tests of concurrency bounds."""

    def __init__(self, html: str):
        self.html = html
        self.release = asyncio.Event()
        self.fetching = 0
        self.most = 0

    def routes(self, count: int, prefix: str = "/story") -> dict[str, Route]:
        return {f"{prefix}{n}": self._held for n in range(count)}

    async def _held(self, request: web.Request) -> web.Response:
        self.fetching += 1
        self.most = max(self.most, self.fetching)
        try:
            await self.release.wait()
        finally:
            self.fetching -= 1
        return web.Response(text=self.html, content_type="text/html")


@dataclass
class LocalSite:
    base_url: str  # "http://127.0.0.1:PORT", no trailing slash
    routes: dict[str, Route]
    hits: Counter[str] = field(default_factory=Counter)  # path -> requests served
    requests: list[web.Request] = field(default_factory=list)

    def url(self, path: str = "/") -> str:
        return self.base_url + path


def _respond(route: Route, request: web.Request) -> Awaitable[web.StreamResponse] | web.StreamResponse:
    if callable(route):
        return route(request)
    status, headers, body = route
    return web.Response(status=status, headers=dict(headers), body=body.encode() if isinstance(body, str) else body)


class _RoutesServer(LocalServer):
    """Serves a `LocalSite`'s routes, recording every request in it."""

    def __init__(self, site: LocalSite, host: str):
        super().__init__(host=host)
        self.site = site

    def build_app(self) -> web.Application:
        site = self.site

        async def dispatch(request: web.Request) -> web.StreamResponse:
            site.hits[request.path] += 1
            site.requests.append(request)
            route = site.routes.get(request.path_qs) or site.routes.get(request.path)
            if route is None:
                return web.Response(status=404, text="not found")
            response = _respond(route, request)
            return await response if inspect.isawaitable(response) else response

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", dispatch)
        return app


@asynccontextmanager
async def serve_site(routes: Mapping[str, Route] | None = None, *, host: str = "127.0.0.1") -> AsyncIterator[LocalSite]:
    """Serve `routes` (path, or path with query, -> route) on `host` and a free port, with
    the bot's own `LocalServer` (a handler stalling on purpose ends when the client hangs
    up, so closing the site never waits for it)."""
    site = LocalSite("", dict(routes or {}))
    async with _RoutesServer(site, host) as server:
        site.base_url = server.base_url
        yield site


@asynccontextmanager
async def serve_raw(response: bytes, *, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Answer every request with `response` verbatim, then close; yields the base URL."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(response)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, host, 0)
    try:
        port = server.sockets[0].getsockname()[1]
        yield f"http://{host}:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def raw_post(port: int, path: str, headers: bytes, body: bytes, *, length: int | None = None) -> int:
    """POST raw bytes (header values aiohttp's client would not send); the status line's
    code. With `length` larger than the body, the rest never comes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {length or len(body)}\r\n".encode()
        writer.write(head + headers + b"\r\n" + body)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 30)
        return int(status_line.split()[1])
    finally:
        writer.close()
