"""A local web server for the sample pages in `seeds/`, so the bot can be tried offline."""

from __future__ import annotations

import os
from pathlib import Path

from aiohttp import web

SEEDS_ENV = "SUMMARY_BOT_SEEDS_DIR"


def find_seeds_dir() -> Path | None:
    """`$SUMMARY_BOT_SEEDS_DIR`, else `seeds/` of the source checkout, else `./seeds`."""
    candidates = [os.environ.get(SEEDS_ENV), Path(__file__).resolve().parents[1] / "seeds", Path.cwd() / "seeds"]
    for candidate in candidates:
        if candidate and Path(candidate, "index.html").is_file():
            return Path(candidate)
    return None


def seed_pages(seeds_dir: Path) -> list[Path]:
    """The article pages, as paths relative to `seeds_dir`."""
    return sorted(p.relative_to(seeds_dir) for p in seeds_dir.rglob("*.html") if p.name != "index.html")


class SeedSite:
    """Serves `seeds_dir` on 127.0.0.1; `base_url` is set once started."""

    def __init__(self, seeds_dir: Path, port: int = 0):
        self.seeds_dir = seeds_dir
        self.port = port
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()

        async def index(request: web.Request) -> web.FileResponse:
            return web.FileResponse(self.seeds_dir / "index.html")

        app.router.add_get("/", index)
        app.router.add_static("/", self.seeds_dir, show_index=False)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> SeedSite:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()
