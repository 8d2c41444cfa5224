"""Where a program is put together: the shared resources (the inference service with its
model thread, the extraction processes, the fetcher's HTTP client) are built here once and
passed to the core, never created as module-level singletons."""

from __future__ import annotations

from bot.config import Settings
from bot.core import SummaryBot
from bot.inference import LocalInference
from bot.store import Store


def assemble_bot(settings: Settings, store: Store, *, content=None) -> SummaryBot:
    """The core with an in-process inference service (the model loads on the first job that
    needs it, or on `warm_up`). `content`: a ContentRunner that hands link summaries to the
    job queue's workers (see adapters/queue.py)."""
    from bot.metrics import Metrics
    from bot.pipeline import SummaryPipeline

    metrics = Metrics()
    inference = LocalInference(settings, metrics=metrics)
    pipeline = SummaryPipeline(settings, store, inference, content=content, metrics=metrics)
    return SummaryBot(settings, store, inference, pipeline=pipeline, metrics=metrics)


async def close_bot(bot: SummaryBot) -> None:
    await bot.close()
    bot.inference.close()
