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
    llm = build_llm_summarizer(settings, inference, metrics) if settings.summarizer == "llm" else None
    pipeline = SummaryPipeline(settings, store, inference, content=content, metrics=metrics, llm=llm)
    return SummaryBot(settings, store, inference, pipeline=pipeline, metrics=metrics)


def build_llm_summarizer(settings: Settings, inference, metrics=None):
    """The LLM summarizer with its one client for the configured server (see
    bot/summarize/llm.py): the official `openai` client, no retries of its own (a failure
    falls back to the extractive summary at once), the configured timeout, over an httpx
    client whose transport reads every answer (errors and compressed ones too) to at most
    MAX_ANSWER_BYTES (bot/summarize/llm_http.py)."""
    from openai import AsyncOpenAI

    from bot.summarize.llm import MAX_ANSWER_BYTES, LLMSummarizer
    from bot.summarize.llm_http import capped_http_client

    api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "not-needed"
    client = AsyncOpenAI(base_url=settings.llm_url, api_key=api_key, timeout=settings.llm_timeout, max_retries=0,
        http_client=capped_http_client(MAX_ANSWER_BYTES),
    )  # fmt: skip
    return LLMSummarizer(client, inference, settings, metrics=metrics)


async def close_bot(bot: SummaryBot) -> None:
    await bot.close()
    if bot.pipeline.llm is not None:
        await bot.pipeline.llm.client.close()
    bot.inference.close()
