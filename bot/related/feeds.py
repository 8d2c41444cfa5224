"""Related articles from the feeds a chat follows: their newest stored items (from the
daily digest's feed store, never fetched here), ranked by how similar each item's title
is to the article."""

from __future__ import annotations

import numpy as np

from bot.digest.feeds import recent_feed_items
from bot.models import ChatRef, RelatedLink
from bot.related.vectors import ArticleVectors

CANDIDATES = 50  # newest items considered per digest


class FeedSource:
    """`threshold` is the article search's: a title scores a little lower against a
    title+lead than a title+lead does, which errs towards showing fewer feed items."""

    def __init__(self, store, vectors: ArticleVectors, *, threshold: float):
        self.store = store
        self.vectors = vectors
        self.threshold = threshold

    async def related_for_chat(self, chat: ChatRef, vector: np.ndarray, *, limit: int) -> list[RelatedLink]:
        items = [item for item in await recent_feed_items(self.store, chat, CANDIDATES) if item.title]
        if not items:
            return []
        titles = await self.vectors.vectors_for([item.title for item in items])
        scores = titles @ np.asarray(vector, dtype=np.float32)
        order = np.argsort(-scores, kind="stable")[:limit]
        return [items[i] for i in order if scores[i] >= self.threshold]
