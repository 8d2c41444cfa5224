"""The abstractive option: a transformers sequence-to-sequence model (BART, PEGASUS, T5 ...)
from a local folder writes the summary in its own words.

Turned on with `SUMMARY_BOT_SUMMARIZER=abstractive` and
`SUMMARY_BOT_SUMMARIZER_MODEL=<folder>` (a `save_pretrained` folder or a HuggingFace cache
snapshot, e.g. of sshleifer/distilbart-cnn-12-6). Nothing is downloaded. Articles longer
than the model's input are cut, at sentence boundaries, into chunks that fit; each chunk
is summarized (beam search) and the key points are drawn from the chunks in turn. On this
project's 2-core reference machine a distilbart-cnn-12-6 costs seconds per article
(`summary-bot bench latency --abstractive-cost`), against tens of milliseconds for the
extractive default.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from bot.inference import check_deadline
from bot.sentences import split_sentences, word_count
from bot.summarize import POINTS_FOR_LENGTH, Length

log = logging.getLogger(__name__)

NEW_TOKENS_FOR_LENGTH = {"short": 40, "medium": 90, "long": 150}
MAX_CHUNKS = 3  # an article's key points are early; later chunks would only add cost
NUM_BEAMS = 4
FALLBACK_MAX_INPUT = 1024


class AbstractiveSummarizer:
    name = "abstractive"
    version = "1"

    def __init__(self, model_dir: Path | str):
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise ValueError(f"SUMMARY_BOT_SUMMARIZER_MODEL: {model_dir} is not a folder")
        started = time.perf_counter()
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        self.model = AutoModelForSeq2SeqLM.from_pretrained(model_dir, local_files_only=True).eval()
        self.model_name = model_dir.name
        self.max_input_tokens = self._max_input_tokens()
        self.load_seconds = time.perf_counter() - started
        self._lock = threading.Lock()
        log.info("loaded seq2seq model %s in %.2fs", self.model_name, self.load_seconds)

    def _max_input_tokens(self) -> int:
        limits = [FALLBACK_MAX_INPUT * 64]
        tokenizer_limit = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(tokenizer_limit, int) and 0 < tokenizer_limit < 1_000_000:
            limits.append(tokenizer_limit)
        positions = getattr(self.model.config, "max_position_embeddings", None)
        if isinstance(positions, int) and positions > 0:
            limits.append(positions)
        limit = min(limits)
        return limit if limit < FALLBACK_MAX_INPUT * 64 else FALLBACK_MAX_INPUT

    # -- summarizing ----------------------------------------------------------------------
    def summarize(self, text: str, *, title: str | None = None, length: Length = "medium") -> list[str]:
        wanted = POINTS_FOR_LENGTH[length]
        sentences = split_sentences(text)
        if not sentences:
            return []
        chunks = self.chunks(sentences)[:MAX_CHUNKS]
        with self._lock:
            outputs = []
            for chunk in chunks:
                check_deadline()  # a job over its budget stops between chunks
                outputs.append(self._generate(chunk, NEW_TOKENS_FOR_LENGTH[length]))
        points = _interleave([_points_of(output) for output in outputs], wanted)
        # A model that says nothing (a broken or untrained one) still gets the reader an
        # answer: the text's own opening.
        return points or sentences[:wanted]

    def chunks(self, sentences: list[str]) -> list[str]:
        """Consecutive sentences packed into pieces that fit the model's input (a sentence
        too long on its own is a piece of its own, truncated by the tokenizer)."""
        budget = max(16, self.max_input_tokens - 8)  # room for special tokens and prefixes
        lengths = [len(ids) for ids in self.tokenizer(sentences, add_special_tokens=False)["input_ids"]]
        pieces: list[list[str]] = [[]]
        used = 0
        for sentence, size in zip(sentences, lengths):
            if pieces[-1] and used + size > budget:
                pieces.append([])
                used = 0
            pieces[-1].append(sentence)
            used += size
        return [" ".join(piece) for piece in pieces if piece]

    def _generate(self, chunk: str, new_tokens: int) -> str:
        torch = self._torch
        prefix = getattr(self.model.config, "prefix", None) or ""  # T5 wants "summarize: "
        batch = self.tokenizer(
            [prefix + chunk], truncation=True, max_length=self.max_input_tokens, return_tensors="pt"
        )
        batch.pop("token_type_ids", None)
        with torch.inference_mode():
            output = self.model.generate(
                **batch,
                num_beams=NUM_BEAMS,
                max_new_tokens=new_tokens,
                min_new_tokens=min(10, new_tokens),
                no_repeat_ngram_size=3,
                length_penalty=1.0,
                early_stopping=True,
            )
        return self.tokenizer.decode(output[0], skip_special_tokens=True, clean_up_tokenization_spaces=True).strip()


def _points_of(output: str) -> list[str]:
    seen: set[str] = set()
    points = []
    for sentence in split_sentences(output):
        key = " ".join(sentence.lower().split())
        if word_count(sentence) >= 2 and key not in seen:
            seen.add(key)
            points.append(sentence)
    return points


def _interleave(per_chunk: list[list[str]], wanted: int) -> list[str]:
    """Up to `wanted` points taken from the chunks in turn (first sentences first), shown
    in reading order."""
    picked: list[tuple[int, int]] = []
    depth = 0
    while len(picked) < wanted and any(depth < len(points) for points in per_chunk):
        for chunk, points in enumerate(per_chunk):
            if depth < len(points) and len(picked) < wanted:
                picked.append((chunk, depth))
        depth += 1
    return [per_chunk[chunk][i] for chunk, i in sorted(picked)]
