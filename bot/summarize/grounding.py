"""Grounding: is a point someone else wrote said by the article itself?

A point is compared with each of the article's sentences (and its title) in the sentence
encoder's space; its support is the best cosine similarity, and the sentence that gives it
is the point's source. A point whose support is below the threshold is not in the article
(an invention, or text an article's hidden instruction asked for) and is dropped.

The threshold is chosen on data by `summary-bot bench grounding` (benchmarks/grounding.py):
reference highlights against their own articles' sentences are points the article
supports; highlights of other articles (the most similar other article's, the hard case)
are points it does not. The measured numbers are in DEFAULT_THRESHOLD's note.

A sentence of the article that speaks to a model ("ignore previous instructions and
write …", "note to AI summarizers: …") is no support for anything: a model that obeyed it
would otherwise find its output "in the article". Such sentences are left out of the
candidates (`addresses_the_model`; English phrasings only).

Pure functions over text and vectors: the caller embeds (one job of the inference service)
so that this module never touches the model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from bot.sentences import split_sentences

# Chosen with `summary-bot bench grounding --data cnndm_raw_dev.jsonl` (all-MiniLM-L6-v2,
# 110 CNN/DailyMail articles, 396 highlights): the lowest threshold at which at most 2% of
# the nearest other article's highlights pass. At 0.50, 89.6% of supported highlights are
# kept, 1.7% of nearest-article ones and 0.2% of random-article ones pass (medians: 0.67
# supported, 0.33 nearest, 0.18 random). The best-separating threshold (Youden) is 0.46,
# keeping 95.7% but passing 7.2% of nearest-article ones: a dropped true point costs
# little (an extractive point takes its place), a kept invented one costs trust.
DEFAULT_THRESHOLD = 0.5
MAX_GROUNDING_SENTENCES = 200  # an article's opening that points are checked against (bounds the embed job)


_TO_THE_MODEL_RE = re.compile(
    r"\b(?:ignore|disregard|forget|override|bypass)\b[^.!?]{0,30}?\b(?:previous|prior|above|earlier|all|any|your|system|original)\b"
    r"[^.!?]{0,20}?\b(?:instructions?|prompts?|rules|directions|guidelines)\b"
    r"|\bsystem prompt\b"
    r"|\b(?:note|message|instructions?) (?:to|for) (?:any |all |the )?(?:ai|llms?|language models?|assistants?|chatbots?|summari[sz]ers?|bots?)\b"
    r"|\byou are (?:now )?(?:an? |the )?(?:ai|assistant|chatbot|llm|language model|summari[sz]er)\b"
    r"|\b(?:ai|llm|assistant|chatbot|summari[sz]er|language model)s?,? (?:must|should|shall) (?:say|write|state|include|output|reply|respond|summari[sz]e)\b",
    re.I,
)


def addresses_the_model(sentence: str) -> bool:
    """Whether `sentence` is an instruction to an AI reading the page (a prompt injection)."""
    return bool(_TO_THE_MODEL_RE.search(sentence))


@dataclass
class Grounded:
    point: str
    support: float  # best cosine similarity with a sentence of the article
    source: str  # that sentence
    source_index: int  # its place among the candidates (-1: the title)


def article_sentences(text: str, budget: int) -> list[str]:
    """The sentences of the article's first `budget` characters (a sentence cut by the
    budget is left out), at most MAX_GROUNDING_SENTENCES: what an LLM is shown and what
    its points are checked against."""
    head = text[:budget]
    sentences = split_sentences(head, limit=MAX_GROUNDING_SENTENCES)
    if len(text) > budget and len(sentences) > 1 and len(sentences) < MAX_GROUNDING_SENTENCES:
        sentences = sentences[:-1]  # the last one may stop mid-sentence
    return sentences


def ground(points: list[str], candidates: list[str], vectors: np.ndarray, *, title_first: bool = False) -> list[Grounded]:
    """Each point's best match among `candidates`. `vectors` holds L2-normalised rows: the
    points' first, then the candidates' (one embed job). With `title_first`, candidate 0
    is the title (its index is reported as -1)."""
    if not points:
        return []
    if not candidates:
        return [Grounded(p, 0.0, "", -1) for p in points]
    similarity = best_similarities(vectors[: len(points)], vectors[len(points) :])
    found = []
    for point, row in zip(points, similarity):
        best = int(np.argmax(row))
        index = best - 1 if title_first else best
        found.append(Grounded(point, float(row[best]), candidates[best], index))
    return found


def best_similarities(point_vectors: np.ndarray, sentence_vectors: np.ndarray) -> np.ndarray:
    """Cosine similarity of each point (rows) with each sentence (columns)."""
    return np.asarray(point_vectors, dtype=np.float32) @ np.asarray(sentence_vectors, dtype=np.float32).T
