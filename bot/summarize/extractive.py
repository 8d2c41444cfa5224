"""The default summarizer: picks the article's own sentences.

Each sentence of the article's opening (the first MAX_SENTENCES) is embedded with the shared
sentence encoder, and scores by

    score(i) = -position_decay * log(1 + i) + sum_k weight_k * z_k(i)

where i is the sentence's place in the text and z_k are the sentence's features,
standardised within the article: centrality (mean similarity to the other sentences),
similarity to the opening sentence, length, whether it opens with or holds a quotation,
and how many digits it has. The decay and weights (and the shortest sentence worth a
point, and how similar two points may be) are fitted to reference summaries by
`summary-bot bench train` (ROUGE-1 and ROUGE-Lsum directly, by coordinate search) and
ship in `scorer_weights.json`, which names the data it was fitted on. Points are the best
sentences, a near-duplicate of a chosen one skipped, returned in reading order.

The position term is a prior, not a rule: news states its point first, and the fitted
decay reflects that, but a later sentence that is central, numeric and not a quotation can
outrank an early one, and text with short opening lines (a greeting, a subject line, chat
messages) yields its substantial sentences instead.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bot.limits import MAX_POINT_CHARS, shorten
from bot.sentences import split_sentences, word_count
from bot.summarize import POINTS_FOR_LENGTH, Length

WEIGHTS_PATH = Path(__file__).with_name("scorer_weights.json")
MAX_SENTENCES = 20  # the opening that is embedded and scored: bounds the work (see the notes)
MAX_WORDS = 60  # longer "sentences" are run-ons (captions glued to text, lists)
FALLBACK_MIN_WORDS = 3  # when too few sentences are long enough

FEATURES = ("centrality", "first_similarity", "log_words", "quote_start", "has_quote", "digits")
_QUOTE_RE = re.compile(r"[\"'`‘’“”«»„]")


@dataclass
class ScorerWeights:
    """The fitted part of the summarizer (see `summary-bot bench train`)."""

    position_decay: float = 3.0
    min_words: int = 8
    max_similarity: float = 0.9  # a candidate this similar to a chosen point is skipped
    weights: dict[str, float] = field(default_factory=lambda: dict.fromkeys(FEATURES, 0.0))
    trained_on: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    notes: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | str = WEIGHTS_PATH) -> ScorerWeights:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        weights = cls(**known)
        unknown = set(weights.weights) - set(FEATURES)
        if unknown:
            raise ValueError(f"{path}: unknown features {sorted(unknown)}")
        weights.weights = {name: float(weights.weights.get(name, 0.0)) for name in FEATURES}
        return weights

    def save(self, path: Path | str) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")

    def vector(self) -> np.ndarray:
        return np.array([self.weights[name] for name in FEATURES], dtype=np.float32)


def sentence_features(sentences: list[str], embeddings: np.ndarray) -> np.ndarray:
    """Features of each sentence (rows) in FEATURES order, standardised within the text."""
    n = len(sentences)
    similarity = embeddings @ embeddings.T
    centrality = (similarity.sum(axis=1) - np.diag(similarity)) / max(n - 1, 1)
    columns = [
        centrality,
        similarity[:, 0],
        np.log1p([word_count(s) for s in sentences]),
        [bool(_QUOTE_RE.match(s.lstrip("([-–— "))) for s in sentences],
        [bool(_QUOTE_RE.search(s)) for s in sentences],
        [sum(ch.isdigit() for ch in s) / max(len(s), 1) for s in sentences],
    ]
    raw = np.stack([np.asarray(c, dtype=np.float32) for c in columns], axis=1)
    spread = raw.std(axis=0)
    return (raw - raw.mean(axis=0)) / np.where(spread > 1e-6, spread, 1.0)


def position_prior(n: int, decay: float) -> np.ndarray:
    return -decay * np.log1p(np.arange(n, dtype=np.float32))


def choose(
    score: np.ndarray, embeddings: np.ndarray, candidates: list[int], wanted: int, max_similarity: float
) -> list[int]:
    """The `wanted` best candidates by score, skipping near-duplicates of chosen ones
    (unless nothing else is left), in reading order."""
    ranked = sorted(candidates, key=lambda i: (-score[i], i))
    chosen: list[int] = []
    for i in ranked:
        if len(chosen) == wanted:
            break
        if all(float(embeddings[i] @ embeddings[j]) <= max_similarity for j in chosen):
            chosen.append(i)
    for i in ranked:  # everything left is a near-duplicate: better that than too few points
        if len(chosen) == wanted:
            break
        if i not in chosen:
            chosen.append(i)
    return sorted(chosen)


def _same_text(a: str, b: str) -> bool:
    return re.findall(r"\w+", a.lower()) == re.findall(r"\w+", b.lower())


def candidates_of(counts: list[int], min_words: int, wanted: int) -> list[int]:
    """Sentences (by word counts) long enough to be a point and short enough not to be a
    run-on; shorter ones too when there are fewer than `wanted`."""
    for shortest in (min_words, FALLBACK_MIN_WORDS, 1):
        found = [i for i, c in enumerate(counts) if shortest <= c <= MAX_WORDS]
        if len(found) >= wanted:
            return found
    found = [i for i, c in enumerate(counts) if c >= 1]  # only run-ons (or fragments) left
    return found or list(range(len(counts)))


class ExtractiveSummarizer:
    name = "extractive-minilm"
    version = "3"

    def __init__(self, encoder, weights: Path | str | ScorerWeights | None = None):
        self.encoder = encoder  # a loaded SentenceEncoder (bot.encoder), shared with related search
        if isinstance(weights, ScorerWeights):
            self.weights = weights
        else:
            self.weights = ScorerWeights.load(weights or WEIGHTS_PATH)

    def summarize(self, text: str, *, title: str | None = None, length: Length = "medium") -> list[str]:
        wanted = POINTS_FOR_LENGTH[length]
        sentences = split_sentences(text, limit=MAX_SENTENCES)  # the rest of the text is never split
        if not sentences:
            return []
        counts = [word_count(s) for s in sentences]
        if title:  # a line that only repeats the title (a pasted text's subject line) is no point
            counts = [0 if _same_text(s, title) else c for s, c in zip(sentences, counts)]
        candidates = candidates_of(counts, self.weights.min_words, wanted)
        if len(candidates) <= wanted:
            return [shorten(sentences[i], MAX_POINT_CHARS) for i in candidates]
        embeddings = self.encoder.embed(sentences)
        score = self.score(sentences, embeddings)
        chosen = choose(score, embeddings, candidates, wanted, self.weights.max_similarity)
        return [shorten(sentences[i], MAX_POINT_CHARS) for i in chosen]  # a point is one safe line

    def score(self, sentences: list[str], embeddings: np.ndarray) -> np.ndarray:
        features = sentence_features(sentences, embeddings)
        return position_prior(len(sentences), self.weights.position_decay) + features @ self.weights.vector()

