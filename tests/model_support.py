"""One loaded model for the whole test session.

The inference service is what a program builds once at assembly; the test session is one
program, so its tests share one (thread-based, it serves every test's event loop)."""

from __future__ import annotations

import functools

from bot.config import Settings
from bot.core import SummaryBot
from bot.extract import Extractor
from bot.inference import LocalInference, Models
from bot.pipeline import SummaryPipeline


@functools.cache
def shared_models() -> Models:
    """The default encoder and extractive summarizer, loaded once."""
    return Models(Settings())


@functools.cache
def shared_inference() -> LocalInference:
    return LocalInference(Settings(), load_models=lambda settings: shared_models())


@functools.cache
def shared_extractor() -> Extractor:
    """Extraction processes for the session's tests that use the default extraction settings
    (starting them costs a second or so)."""
    defaults = Settings()
    return Extractor(workers=defaults.extract_workers, timeout=defaults.extract_timeout, min_chars=defaults.min_article_chars)


def make_summary_bot(settings: Settings, store) -> SummaryBot:
    """The core as a program assembles it, with the session's inference service (and its
    extraction processes, where the settings are the default ones)."""
    defaults = Settings()
    extraction = ("extract_workers", "extract_timeout", "min_article_chars")
    same = all(getattr(settings, name) == getattr(defaults, name) for name in extraction)
    pipeline = SummaryPipeline(settings, store, shared_inference(), extractor=shared_extractor() if same else None)
    return SummaryBot(settings, store, shared_inference(), pipeline=pipeline)
