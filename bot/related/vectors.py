"""An article's embedding for related-article search: title plus lead, by the sentence
encoder the summarizer already uses, cached in the store by a hash of that text.

The cache is what keeps a cache hit cheap: an article seen before (in any chat, by any
process sharing the store) gets its vector back with one read, and the model is loaded
only for text it has never embedded. The key is a hash of the text, so the cache tells
nothing about who shared what.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np

from bot.inference import InferenceService
from bot.sentences import iter_sentences
from bot.store.keys import related_vector

LEAD_WORDS = 60  # the encoder reads 128 tokens: a title and a lead of about this size fit
DTYPE = np.dtype("<f2")  # float16: half the bytes, and cosine scores change by < 0.001


def embedding_text(title: str, text: str) -> str:
    """Title and the first sentences of `text`, up to about LEAD_WORDS words: what a story
    is about, without the long tail that dilutes a mean-pooled embedding."""
    lead: list[str] = []
    words = 0
    for sentence in iter_sentences(text[:4000]):  # lazily: only the lead is split
        if words and words + len(sentence.split()) > LEAD_WORDS:
            break
        lead.append(sentence)
        words += len(sentence.split())
    return f"{title.strip()}\n{' '.join(lead)}".strip()


def pack_vector(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=DTYPE).tobytes()


def unpack_vector(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=DTYPE).astype(np.float32)


class ArticleVectors:
    """Embeddings of texts, from this process's recent ones, else the store's cache, else
    computed by the inference service, all missing ones in one job."""

    RECENT = 4096  # vectors kept in process: feed titles come back with every digest

    def __init__(self, store, inference: InferenceService, *, ttl: float):
        self.store = store
        self.inference = inference
        self.ttl = ttl
        self.computed = 0  # embeddings this process had to compute (not cached)
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()

    async def vector_for(self, title: str, text: str) -> np.ndarray:
        """An article's vector: its title and lead."""
        return (await self.vectors_for([embedding_text(title, text)]))[0]

    async def vectors_for(self, contents: list[str]) -> np.ndarray:
        """One unit vector per text, as the rows of a float32 matrix."""
        keys = [self._key(content) for content in contents]
        found: dict[str, np.ndarray] = {}
        for key in dict.fromkeys(keys):
            vector = self._recent.get(key)
            if vector is None:
                cached = await self.store.get(key)
                vector = unpack_vector(cached) if cached is not None else None
            if vector is not None:
                found[key] = vector
        missing = list(dict.fromkeys((key, content) for key, content in zip(keys, contents) if key not in found))
        if missing:
            computed = await self.inference.embed([content for _, content in missing])
            self.computed += len(missing)
            for (key, _), vector in zip(missing, computed):
                vector = unpack_vector(pack_vector(vector))  # as a later cache hit will see it
                found[key] = vector
                await self.store.set(key, pack_vector(vector), ttl=self.ttl)
        for key in keys:
            self._recent[key] = found[key]
            self._recent.move_to_end(key)
        while len(self._recent) > self.RECENT:
            self._recent.popitem(last=False)
        return np.stack([found[key] for key in keys]) if keys else np.zeros((0, 0), dtype=np.float32)

    def _key(self, content: str) -> str:
        model = self.inference.encoder_identity
        digest = hashlib.sha256(f"{model}\x00{content}".encode("utf-8", "surrogatepass")).hexdigest()
        return related_vector(digest)
