"""Numbered, never-cached editions of the sample pages, for benchmarks of uncached work."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from adapters.local_server import LocalServer
from adapters.seed_site import find_seeds_dir, seed_pages
from bot.config import ConfigError


def require_seeds_dir(settings, given: Path | None = None) -> Path:
    """`given` (a benchmark's --seeds), else the sample pages the bot would serve; stops
    with one line when there are none."""
    seeds_dir = Path(given) if given else find_seeds_dir(settings.seeds_dir)
    if seeds_dir is None or not seeds_dir.is_dir():
        raise ConfigError("summary-bot: no sample pages found (set SUMMARY_BOT_SEEDS_DIR or pass --seeds)")
    return seeds_dir


class SeedEditions(LocalServer):
    """The sample pages in numbered editions at /e{N}/{page}: the same article with
    "Edition N." before its first paragraph, so every edition is new text to the article
    and summary caches."""

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
