"""A local web server for the sample pages in `seeds/`, so the bot can be tried offline."""

from __future__ import annotations

import os
from pathlib import Path

from aiohttp import web

from adapters.local_server import LocalServer

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


class SeedEditions(LocalServer):
    """The sample pages in numbered editions at /e{N}/{page}: the same article with
    "Edition N." before its first paragraph, so every edition is new text to the article
    and summary caches. For benchmarks of uncached work."""

    def __init__(self, seeds_dir: Path):
        super().__init__()
        self.pages = {page.as_posix(): (seeds_dir / page).read_text(encoding="utf-8") for page in seed_pages(seeds_dir)}
        self.paths = sorted(self.pages)

    def url(self, edition: int, page: int) -> str:
        return f"{self.base_url}/e{edition}/{self.paths[page % len(self.paths)]}"

    def build_app(self) -> web.Application:
        async def edition(request: web.Request) -> web.Response:
            html = self.pages.get(request.match_info["page"])
            if html is None:
                raise web.HTTPNotFound()
            return web.Response(text=with_edition(html, int(request.match_info["number"])), content_type="text/html")

        app = web.Application()
        app.router.add_get(r"/e{number:\d+}/{page:.+}", edition)
        return app


def with_edition(html: str, number: int) -> str:
    article = html.find("<article")
    paragraph = html.index("<p>", max(article, 0))
    return f"{html[:paragraph]}<p>Edition {number}. {html[paragraph + 3:]}"
