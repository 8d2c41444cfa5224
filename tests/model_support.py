"""One loaded model for the whole test session.

The inference service is what a program builds once at assembly; the test session is one
program, so its tests share one (thread-based, it serves every test's event loop)."""

from __future__ import annotations

import functools

from bot.config import Settings
from bot.core import SummaryBot
from bot.inference import LocalInference, Models


@functools.cache
def shared_models() -> Models:
    """The default encoder and extractive summarizer, loaded once."""
    return Models(Settings())


@functools.cache
def shared_inference() -> LocalInference:
    return LocalInference(Settings(), load_models=lambda settings: shared_models())


def make_summary_bot(settings: Settings, store) -> SummaryBot:
    """The core as a program assembles it, with the session's inference service."""
    return SummaryBot(settings, store, shared_inference())
