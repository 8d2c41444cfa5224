"""Summarizers: text in, key points out. Blocking; callers run them off the event loop.

`get_summarizer(settings)` returns the process-wide instance for the configured kind,
loading its model on first use only (a cache hit never loads a model).
"""

from __future__ import annotations

import threading
from typing import Literal, Protocol

Length = Literal["short", "medium", "long"]
POINTS_FOR_LENGTH: dict[str, int] = {"short": 1, "medium": 3, "long": 5}


class Summarizer(Protocol):
    name: str
    version: str  # bump when output for the same input changes: it keys the summary cache

    def summarize(self, text: str, *, title: str | None = None, length: Length = "medium") -> list[str]:
        """Key points of `text`, each a sentence, in reading order."""
        ...


_lock = threading.Lock()
_instances: dict[tuple, Summarizer] = {}


def get_summarizer(settings) -> Summarizer:
    key = (settings.summarizer, str(settings.summarizer_model or ""), str(settings.encoder_model or ""))
    with _lock:
        if key not in _instances:
            _instances[key] = _build(settings)
        return _instances[key]


def _build(settings) -> Summarizer:
    if settings.summarizer == "abstractive":
        from bot.summarize.abstractive import AbstractiveSummarizer

        if not settings.summarizer_model:
            raise ValueError("SUMMARY_BOT_SUMMARIZER_MODEL must name a local model folder")
        return AbstractiveSummarizer(settings.summarizer_model)
    from bot.summarize.extractive import ExtractiveSummarizer

    return ExtractiveSummarizer(settings.encoder_model)


def summarizer_identity(settings) -> str:
    """Name and version of the configured summarizer without loading its model, for cache
    keys: a cache hit must not pay for a model load."""
    if settings.summarizer == "abstractive":
        from bot.summarize.abstractive import AbstractiveSummarizer as cls

        return f"{cls.name}:{cls.version}:{settings.summarizer_model}"
    from bot.summarize.extractive import ExtractiveSummarizer as cls

    return f"{cls.name}:{cls.version}:{settings.encoder_model or 'packaged'}"
