"""An aiohttp application served on 127.0.0.1: the sample site, and (in benchmarks/ and
tests/) the platform stand-ins and the tests' local sites."""

from __future__ import annotations

import ipaddress

from aiohttp import web


class LocalServer:
    """Subclasses build their application in `build_app`; `base_url` is set once started.

    Handlers are cancelled when their client hangs up and shutdown waits at most half a
    second, so a handler that stalls on purpose never holds up `stop`.
    """

    def __init__(self, port: int = 0, host: str = "127.0.0.1"):
        self.port = port  # 0: any free port
        self.host = host
        self.base_url = ""  # "http://127.0.0.1:PORT", no trailing slash
        self.endpoint: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int] | None = None  # (address, port)
        self._runner: web.AppRunner | None = None

    def build_app(self) -> web.Application:
        raise NotImplementedError

    async def start(self) -> str:
        self._runner = web.AppRunner(self.build_app(), access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        shown = f"[{self.host}]" if ":" in self.host else self.host
        port = self._runner.addresses[0][1]
        self.base_url = f"http://{shown}:{port}"
        self.endpoint = (ipaddress.ip_address(self.host), port)  # what the fetcher may be allowed to reach
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self):
        await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()
