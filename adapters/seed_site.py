"""A local web server for the sample pages in `seeds/`, so the bot can be tried offline."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from adapters.local_server import LocalServer


def find_seeds_dir(configured: Path | None = None) -> Path | None:
    """`configured` (SUMMARY_BOT_SEEDS_DIR, `Settings.seeds_dir`), else `seeds/` of the
    source checkout, else `./seeds`: the first that holds an index.html."""
    candidates = [configured, Path(__file__).resolve().parents[1] / "seeds", Path.cwd() / "seeds"]
    for candidate in candidates:
        if candidate and Path(candidate, "index.html").is_file():
            return Path(candidate)
    return None


def seed_pages(seeds_dir: Path) -> list[Path]:
    """The article pages, as paths relative to `seeds_dir`."""
    return sorted(p.relative_to(seeds_dir) for p in seeds_dir.rglob("*.html") if p.name != "index.html")


class SeedSite(LocalServer):
    """Serves `seeds_dir` on 127.0.0.1."""

    def __init__(self, seeds_dir: Path, port: int = 0):
        super().__init__(port)
        self.seeds_dir = seeds_dir

    def build_app(self) -> web.Application:
        app = web.Application()

        async def index(request: web.Request) -> web.FileResponse:
            return web.FileResponse(self.seeds_dir / "index.html")

        app.router.add_get("/", index)
        app.router.add_static("/", self.seeds_dir, show_index=False)
        return app

