"""The related articles on the seed pages are the same with either encoder backend (issue
21): the ONNX int8 default finds the neighbours, in the order, that torch found.

Each seed page is shared in one group chat, then each is asked for again with all the
others remembered: the replies' related links, and the chat memory's own nearest
articles (the part the encoder decides), must agree between the backends."""

from __future__ import annotations

from pathlib import Path

from adapters.seed_site import SeedSite, seed_pages
from bot.config import Settings
from bot.inference import LocalInference, Models
from bot.models import ChatRef
from bot.pipeline import SummaryPipeline
from bot.related.finder import MAX_RELATED, SIMILARITY_THRESHOLD, memory_scope
from bot.store.sqlite_store import SQLiteStore
from model_support import shared_extractor, shared_inference

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
# The same-topic pairs among the seed pages (see bot/related/finder.py).
TOPICAL = {
    "apple-homepod-7-inch-touchscreen-rumors.html": ["google-nest-hub-matter-update.html"],
    "google-nest-hub-matter-update.html": ["apple-homepod-7-inch-touchscreen-rumors.html"],
    "chinese-brands-russia-car-market.html": ["moskvich-february-2023-sales.html"],
    "moskvich-february-2023-sales.html": ["chinese-brands-russia-car-market.html"],
    "new-start-suspension-arms-control.html": ["russia-us-prisoner-exchange-talks-g20.html"],
    "russia-us-prisoner-exchange-talks-g20.html": ["new-start-suspension-arms-control.html"],
}


async def _neighbours(inference, tmp_path: Path, name: str) -> dict[str, dict[str, list]]:
    settings = Settings(fetch_allow_private=["127.0.0.0/8"], user_rate_limit=0)
    store = await SQLiteStore.open(tmp_path / f"{name}.sqlite3")
    pipeline = SummaryPipeline(settings, store, inference, extractor=shared_extractor())
    chat = ChatRef("test", f"readers-{name}", kind="group")
    found: dict[str, dict[str, list]] = {}
    try:
        async with SeedSite(SEEDS) as site:
            urls = [f"{site.base_url}/{page.as_posix()}" for page in seed_pages(SEEDS) if page.parts[0] == "news"]
            for url in urls:  # the chat reads every seed page once
                await pipeline.digest_link(url, chat=chat)
            scope = memory_scope(chat, settings.related_scope)
            for url in urls:  # then asks for each again, with all the others remembered
                digest = await pipeline.digest_link(url, chat=chat)
                vector = (await pipeline.related.memory.view(scope)).vector_of(url)
                hits = await pipeline.related.memory.search(
                    scope, vector, limit=MAX_RELATED, threshold=SIMILARITY_THRESHOLD, exclude=[url]
                )
                page = url.rsplit("/", 1)[1]
                found[page] = {
                    "reply": [(link.url.rsplit("/", 1)[1], link.kind) for link in digest.related],
                    "memory": [hit.link.url.rsplit("/", 1)[1] for hit in hits],
                }
    finally:
        await pipeline.close()
        await store.close()
    return found


async def test_seed_pages_have_the_same_related_articles_with_onnx_and_torch(tmp_path: Path) -> None:
    onnx = shared_inference()  # the default backend, loaded once for the session
    assert await onnx.run(lambda models: models.encoder.backend) == "onnx"
    torch_settings = Settings(encoder_backend="torch")
    torch = LocalInference(torch_settings, load_models=Models)
    try:
        with_onnx = await _neighbours(onnx, tmp_path, "onnx")
        assert await torch.run(lambda models: models.encoder.backend) == "torch"
        with_torch = await _neighbours(torch, tmp_path, "torch")
    finally:
        torch.close()
    assert {page: row["memory"] for page, row in with_onnx.items()} == TOPICAL
    assert with_onnx == with_torch
