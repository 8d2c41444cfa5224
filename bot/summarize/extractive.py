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

from bot.inference import time_left
from bot.limits import MAX_POINT_CHARS, shorten
from bot.sentences import iter_sentences, word_count
from bot.summarize import POINTS_FOR_LENGTH, Length
from bot.summarize.points import as_point, needs_end_punctuation

WEIGHTS_PATH = Path(__file__).with_name("scorer_weights.json")
MAX_SENTENCES = 20  # the opening that is embedded and scored: bounds the work (see the notes)
# Only a long digest ("/summary long", 5 points) of a long text takes points from past the
# opening: for 3 points the opening's own stay better (R-1 on the news sets fell 0.4-0.5
# below the opening-only version, and below Lead-3, when a medium digest did it).
WHOLE_TEXT_MIN_POINTS = 5
LONG_TEXT_SENTENCES = 40  # a text with more sentences than this is a long read: see _from_whole_text
LONG_TEXT_MAX_SCANNED = 4000  # sentences of a long text looked at, at most (splitting is linear)
LONG_TEXT_MAX_LATER = 96  # later sentences embedded, at most, spread over the rest of the text
LONG_TEXT_BATCH = 16
LONG_TEXT_RESERVE_S = 1.0  # later sentences are embedded only while this much of the job's budget is left
MAX_WORDS = 60  # longer "sentences" are run-ons (captions glued to text, lists)
FALLBACK_MIN_WORDS = 4  # when too few sentences are long enough; a shorter one is no point

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


def point_sentences(text: str, title: str | None) -> tuple[list[str], list[str]]:
    """The sentences of `text` that may be key points (see bot.summarize.points), in
    order: the opening (the first MAX_SENTENCES of them), and for a long text (more than
    LONG_TEXT_SENTENCES sentences) the later ones, up to LONG_TEXT_MAX_SCANNED sentences
    in all. A text none of whose sentences qualifies (chat messages without punctuation,
    a list) gives its sentences as they are, the title line aside."""
    title_words = re.findall(r"\w+", title.lower()) if title else None
    punctuated = needs_end_punctuation(text)
    points: list[str] = []
    raw: list[str] = []
    scanned = 0
    for sentence in iter_sentences(text):
        scanned += 1
        point = as_point(sentence, title_words=title_words, punctuated=punctuated)
        if point is not None:
            points.append(point)
        elif len(raw) < MAX_SENTENCES and (loose := as_point(sentence, title_words=title_words, strict=False)):
            raw.append(loose)
        if scanned >= LONG_TEXT_MAX_SCANNED:
            break
    if not points:
        return raw, []
    if scanned <= LONG_TEXT_SENTENCES:
        return points[:MAX_SENTENCES], []
    return points[:MAX_SENTENCES], points[MAX_SENTENCES:]


_NO_SPACE_SCRIPTS = re.compile(r"[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")


def point_size(sentence: str) -> int:
    """A sentence's length in words; in scripts written without spaces between words
    (Chinese, Japanese, Thai, ...) one word for every two characters."""
    if _NO_SPACE_SCRIPTS.search(sentence):
        return len("".join(sentence.split())) // 2
    return word_count(sentence)


def _spread(items: list[str], most: int) -> list[str]:
    """At most `most` of `items`, evenly spread over them, in order."""
    if len(items) <= most:
        return items
    step = len(items) / most
    return [items[int(k * step)] for k in range(most)]


def candidates_of(counts: list[int], min_words: int, wanted: int) -> list[int]:
    """Sentences (by word counts) long enough to be a point and short enough not to be a
    run-on; shorter ones too (down to FALLBACK_MIN_WORDS) when there are fewer than
    `wanted`, then run-ons; fewer than `wanted` rather than fragments ("Palm Bay d."),
    unless there is nothing else."""
    for shortest in (min_words, FALLBACK_MIN_WORDS):
        found = [i for i, c in enumerate(counts) if shortest <= c <= MAX_WORDS]
        if len(found) >= wanted:
            return found
    found = [i for i, c in enumerate(counts) if c >= FALLBACK_MIN_WORDS]
    if found:
        return found
    found = [i for i, c in enumerate(counts) if c >= 1]  # only fragments left
    return found or list(range(len(counts)))


class ExtractiveSummarizer:
    name = "extractive-minilm"
    version = "4"

    def __init__(self, encoder, weights: Path | str | ScorerWeights | None = None):
        self.encoder = encoder  # a loaded SentenceEncoder (bot.encoder), shared with related search
        if isinstance(weights, ScorerWeights):
            self.weights = weights
        else:
            self.weights = ScorerWeights.load(weights or WEIGHTS_PATH)

    def summarize(self, text: str, *, title: str | None = None, length: Length = "medium") -> list[str]:
        wanted = POINTS_FOR_LENGTH[length]
        opening, rest = point_sentences(text, title)
        if not opening:
            return []
        counts = [point_size(s) for s in opening]
        candidates = candidates_of(counts, self.weights.min_words, wanted)
        if len(candidates) <= wanted and not rest:
            return [shorten(opening[i], MAX_POINT_CHARS) for i in candidates]
        embeddings = self.encoder.embed(opening)
        score = self.score(opening, embeddings)
        if rest and wanted >= WHOLE_TEXT_MIN_POINTS:
            return self._from_whole_text(opening, rest, embeddings, score, candidates, wanted)
        chosen = choose(score, embeddings, candidates, wanted, self.weights.max_similarity)
        return [shorten(opening[i], MAX_POINT_CHARS) for i in chosen]  # a point is one safe line

    def _from_whole_text(self, opening, rest, embeddings, score, candidates, wanted) -> list[str]:
        """Points of a long text: the best of its opening, and for the last third of them
        (at least one) the later sentences most like the whole text, where they are more
        like it than the opening's own choices they would replace (news states its point
        first, and then those stay). As many of the later sentences are embedded as the
        job's time allows (`check_deadline` stops a job that overruns; this stops short
        of that, keeping what it has)."""
        later = max(1, wanted // 3)
        full = choose(score, embeddings, candidates, wanted, self.weights.max_similarity)
        head = choose(score, embeddings, candidates, wanted - later, self.weights.max_similarity)
        replaceable = [i for i in full if i not in head]
        pool = [s for s in rest if self.weights.min_words <= point_size(s) <= MAX_WORDS] or rest
        pool = _spread(pool, LONG_TEXT_MAX_LATER)
        embedded: list[np.ndarray] = []
        for start in range(0, len(pool), LONG_TEXT_BATCH):
            left = time_left()
            if left is not None and left < LONG_TEXT_RESERVE_S:
                break
            embedded.append(self.encoder.embed(pool[start : start + LONG_TEXT_BATCH]))
        if not embedded:
            return [shorten(opening[i], MAX_POINT_CHARS) for i in
                    choose(score, embeddings, candidates, wanted, self.weights.max_similarity)]  # fmt: skip
        later_embeddings = np.concatenate(embedded)
        pool = pool[: len(later_embeddings)]
        whole = np.concatenate([embeddings, later_embeddings]).mean(axis=0)
        closeness = later_embeddings @ whole
        bar = sorted(float(embeddings[i] @ whole) for i in replaceable)
        picked: list[int] = []
        for j in np.argsort(-closeness):
            if len(picked) == later or (len(picked) < len(bar) and float(closeness[j]) <= bar[len(picked)]):
                break
            vectors = [embeddings[i] for i in head] + [later_embeddings[k] for k in picked]
            if all(float(later_embeddings[j] @ v) <= self.weights.max_similarity for v in vectors):
                picked.append(int(j))
        kept = sorted(replaceable, key=lambda i: -float(embeddings[i] @ whole))[: later - len(picked)]
        points = [opening[i] for i in sorted([*head, *kept])] + [pool[k] for k in sorted(picked)]
        return [shorten(p, MAX_POINT_CHARS) for p in points]

    def score(self, sentences: list[str], embeddings: np.ndarray) -> np.ndarray:
        features = sentence_features(sentences, embeddings)
        return position_prior(len(sentences), self.weights.position_decay) + features @ self.weights.vector()

