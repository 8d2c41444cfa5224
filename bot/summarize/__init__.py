"""Summarizers: text in, key points out. Blocking; callers run them off the event loop.

`build_summarizer(settings, encoder)` loads the configured kind; the inference service
(bot/inference.py) calls it once, on its model thread, before its first job. The LLM
summarizer (`llm.py`) is not one of these: it waits on a server, not on the model thread,
and uses the inference service only to check its points and to fall back, so with
`SUMMARY_BOT_SUMMARIZER=llm` the model thread's summarizer is the extractive one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

Length = Literal["short", "medium", "long"]
POINTS_FOR_LENGTH: dict[str, int] = {"short": 1, "medium": 3, "long": 5}


@dataclass
class Summary:
    """Key points as the pipeline caches and serves them: each point with the article's
    sentence that supports it (None where the point is that sentence, or unknown), and
    which summarizer wrote them ("extractive", "llm:<model>", ...)."""

    points: list[str]
    sources: list[str | None] = field(default_factory=list)
    summarizer: str = ""
    fallback: bool = False  # the configured summarizer failed and a fallback wrote these (not stored)

    def __post_init__(self) -> None:
        self.sources = (list(self.sources) + [None] * len(self.points))[: len(self.points)]

    def to_json(self) -> dict:
        return {"points": list(self.points), "sources": list(self.sources), "summarizer": self.summarizer}

    @classmethod
    def from_json(cls, data, summarizer: str = "") -> Summary:
        """A stored summary; a plain list of points (entries cached before sources and
        summarizers were kept) is read as points written by `summarizer`."""
        if isinstance(data, list):
            return cls([str(p) for p in data], summarizer=summarizer)
        points = [str(p) for p in data.get("points") or []]
        sources = [s if isinstance(s, str) else None for s in data.get("sources") or []]
        return cls(points, sources, str(data.get("summarizer") or summarizer))


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

    return ExtractiveSummarizer(encoder)  # also the model thread's summarizer under "llm"


def summarizer_identity(settings) -> str:
    """Name and version of the configured summarizer without loading its model, for cache
    keys: a cache hit must not pay for a model load. This is the inference service's own
    summarizer; under "llm" that is the extractive fallback, and the pipeline keys its
    cache by `bot.summarize.llm.llm_identity`, which includes this one."""
    if settings.summarizer == "abstractive":
        from bot.summarize.abstractive import AbstractiveSummarizer as cls

        return f"{cls.name}:{cls.version}:{settings.summarizer_model}"
    from bot.encoder import encoder_identity
    from bot.summarize.extractive import ExtractiveSummarizer as cls

    return f"{cls.name}:{cls.version}:{encoder_identity(settings)}"


def summarizer_label(settings) -> str:
    """What a digest's footer says wrote the inference service's points."""
    if settings.summarizer == "abstractive":
        return f"abstractive:{getattr(settings.summarizer_model, 'name', None) or 'local'}"
    return "extractive"
