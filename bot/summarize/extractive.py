"""The default summarizer: picks the article's own sentences.

Each sentence is embedded with the shared sentence encoder. A sentence scores by
  - directed centrality (PacSum-style): how strongly later sentences echo it, since news
    states a point and then elaborates it;
  - position: a soft preference for early sentences, never a "first N" rule, so that
    pasted notes and chat text still yield their central sentences;
  - closeness to the title (or to the whole text when there is none).
Sentences are then chosen greedily with a redundancy penalty (maximal marginal
relevance) and returned in reading order.
"""

from __future__ import annotations

import numpy as np

from bot.encoder import load_encoder
from bot.sentences import split_sentences, word_count
from bot.summarize import POINTS_FOR_LENGTH, Length

MAX_CANDIDATES = 250  # bounds work on huge inputs; key points of an article come early
MIN_WORDS = 4
MAX_WORDS = 60


class ExtractiveSummarizer:
    name = "extractive-minilm"
    version = "1"

    # Weights of the score's parts (tuned on the data named in the closing notes).
    centrality_weight = 0.4
    position_weight = 0.35
    title_weight = 0.25
    forward_weight, backward_weight = 1.0, 0.3
    edge_threshold = 0.6  # fraction of the similarity range under which an edge counts 0
    redundancy = 0.5  # MMR penalty on similarity to what was already chosen

    def __init__(self, encoder_model=None):
        self.encoder = load_encoder(encoder_model)

    def summarize(self, text: str, *, title: str | None = None, length: Length = "medium") -> list[str]:
        wanted = POINTS_FOR_LENGTH[length]
        sentences = split_sentences(text)
        candidates = [i for i, s in enumerate(sentences) if MIN_WORDS <= word_count(s) <= MAX_WORDS]
        if len(candidates) < wanted:  # odd input (one line, fragments): use what there is
            candidates = list(range(len(sentences)))
        candidates = candidates[:MAX_CANDIDATES]
        if len(candidates) <= wanted:
            return [sentences[i] for i in candidates]
        chosen = self.rank([sentences[i] for i in candidates], title=title, wanted=wanted)
        return [sentences[candidates[i]] for i in sorted(chosen)]

    def rank(self, sentences: list[str], *, title: str | None, wanted: int) -> list[int]:
        """Indices of the `wanted` best sentences, best first."""
        embeddings = self.encoder.embed(sentences + ([title] if title else []))
        if title:
            embeddings, title_vec = embeddings[:-1], embeddings[-1]
        else:
            title_vec = embeddings.mean(axis=0)
        similarity = embeddings @ embeddings.T
        score = (
            self.centrality_weight * _normalise(self._centrality(similarity))
            + self.position_weight * _normalise(1.0 / np.sqrt(1.0 + np.arange(len(sentences))))
            + self.title_weight * _normalise(embeddings @ title_vec)
        )
        return _select(score, similarity, wanted, self.redundancy)

    def _centrality(self, similarity: np.ndarray) -> np.ndarray:
        n = len(similarity)
        off_diagonal = similarity[~np.eye(n, dtype=bool)]
        low, high = off_diagonal.min(), off_diagonal.max()
        edges = np.clip(similarity - (low + self.edge_threshold * (high - low)), 0.0, None)
        np.fill_diagonal(edges, 0.0)
        forward = np.triu(edges, 1).sum(axis=1)  # echoed by later sentences
        backward = np.tril(edges, -1).sum(axis=1)
        return self.forward_weight * forward + self.backward_weight * backward


def _normalise(values: np.ndarray) -> np.ndarray:
    spread = values.max() - values.min()
    return (values - values.min()) / spread if spread > 1e-9 else np.zeros_like(values)


def _select(score: np.ndarray, similarity: np.ndarray, wanted: int, redundancy: float) -> list[int]:
    chosen: list[int] = []
    remaining = set(range(len(score)))
    while remaining and len(chosen) < wanted:
        def marginal(i: int) -> float:
            overlap = max((similarity[i, j] for j in chosen), default=0.0)
            return score[i] - redundancy * overlap

        best = max(remaining, key=marginal)
        chosen.append(best)
        remaining.discard(best)
    return chosen
