"""Summarizers: text in, key points out. Blocking; callers run them off the event loop.

`build_summarizer(settings, encoder)` loads the configured kind; the inference service
(bot/inference.py) calls it once, on its model thread, before its first job.
"""

from __future__ import annotations

from typing import Literal, Protocol

Length = Literal["short", "medium", "long"]
POINTS_FOR_LENGTH: dict[str, int] = {"short": 1, "medium": 3, "long": 5}


class Summarizer(Protocol):
    name: str
    version: str  # bump when output for the same input changes: it keys the summary cache

    def summarize(self, text: str, *, title: str | None = None, length: Length = "medium") -> list[str]:
        """Key points of `text`, each a sentence, in reading order."""
        ...


def build_summarizer(settings, encoder) -> Summarizer:
    """The configured summarizer, its model loaded now; `encoder` is the process's sentence
    encoder (the inference service builds both, once)."""
    if settings.summarizer == "abstractive":
        from bot.summarize.abstractive import AbstractiveSummarizer

        if not settings.summarizer_model:
            raise ValueError("SUMMARY_BOT_SUMMARIZER_MODEL must name a local model folder")
        return AbstractiveSummarizer(settings.summarizer_model)
    from bot.summarize.extractive import ExtractiveSummarizer

    return ExtractiveSummarizer(encoder)


def summarizer_identity(settings) -> str:
    """Name and version of the configured summarizer without loading its model, for cache
    keys: a cache hit must not pay for a model load."""
    if settings.summarizer == "abstractive":
        from bot.summarize.abstractive import AbstractiveSummarizer as cls

        return f"{cls.name}:{cls.version}:{settings.summarizer_model}"
    from bot.summarize.extractive import ExtractiveSummarizer as cls

    return f"{cls.name}:{cls.version}:{settings.encoder_model or 'packaged'}"
