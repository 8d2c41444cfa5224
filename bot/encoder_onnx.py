"""The sentence encoder on ONNX Runtime: an int8 graph, the `tokenizers` library, no torch.

The graph (the transformer, mean pooling over the real tokens, L2 normalisation) is
exported once from the model folder's safetensors weights with torch, its attention fused
by ONNX Runtime's transformer optimizer, dynamically quantized to int8 (per-channel weights
of every MatMul and of the fused attention's projections) and kept in the model cache:

    <cache dir>/encoder/<sha256 of model.safetensors>/model.int8.onnx
                                                     /manifest.json

The cache dir is SUMMARY_BOT_MODEL_CACHE_DIR, or the user's cache directory (platformdirs).
The manifest records the source weights' sha256 and the graph's own sha256; both are checked
on every load, so a graph made from other weights, or truncated or altered on disk, is
rebuilt rather than trusted. Building needs torch and transformers (a few seconds) and runs
in a child process, so that a server whose first start builds the graph never holds them;
serving needs only onnxruntime, tokenizers and numpy. `summary-bot prepare-model` builds it ahead of
time (the Dockerfile does, at image build); otherwise the first model load does, saying so.

A call's batches run on `threads` lanes at once, each run on one thread (see
OnnxSentenceEncoder): for these small graphs, whole batches side by side use two cores far
better than one batch's ~200 operators split across them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.inference import BudgetExceeded, check_deadline, on_stop

log = logging.getLogger(__name__)

FORMAT = 2  # bump when the graph's inputs, outputs or quantization change: older caches are rebuilt
GRAPH_FILE = "model.int8.onnx"
MANIFEST_FILE = "manifest.json"
OPSET = 17
MAX_BATCH = 64
BUILD_TIMEOUT = 600  # seconds for the child process that builds the graph (~10 s here)
MAX_SPREAD = 0.10  # a batch's texts differ in length by this share of its width at most (or 2 tokens)
RUN_OVERHEAD_TOKENS = 16  # what one run costs beyond its tokens, in tokens: for sharing batches among lanes
# Fusions ONNX Runtime would make at load that are slower than what they replace: its
# SkipLayerNormalization kernel (1.32) takes 7x the time of the LayerNormalization + Add it
# fuses (416 against 58 us on 5 x 43 x 384, one core): 46 -> 38 ms for the 806-word article.
SLOW_FUSIONS = ["SkipLayerNormFusion"]


class CacheError(Exception):
    """The cached graph is missing, from other weights, or does not match its manifest."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("summary-bot"))


@dataclass
class CachedGraph:
    path: Path  # the int8 graph
    source_sha256: str
    built: bool  # built by this call (not found in the cache)


def graph_dir(cache_dir: Path, source_sha256: str) -> Path:
    return Path(cache_dir) / "encoder" / source_sha256


def check_cached(cache_dir: Path, source_sha256: str) -> Path:
    """The cached graph for these weights, verified; CacheError says why it is not usable."""
    folder = graph_dir(cache_dir, source_sha256)
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CacheError("not built yet") from None
    except (OSError, ValueError) as exc:
        raise CacheError(f"unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CacheError("built by another version")
    if manifest.get("source_sha256") != source_sha256:
        raise CacheError("built from other weights")
    graph = folder / GRAPH_FILE
    try:
        actual = file_sha256(graph)
    except OSError as exc:
        raise CacheError(f"graph unreadable ({exc})") from None
    if actual != manifest.get("graph_sha256"):
        raise CacheError("graph does not match its manifest (truncated or altered)")
    return graph


def ensure_graph(model_dir: Path, cache_dir: Path, source_sha256: str, *, force: bool = False) -> CachedGraph:
    """The verified int8 graph of `model_dir`'s weights, built into the cache first when it
    is missing or not to be trusted (or `force`)."""
    if not force:
        try:
            return CachedGraph(check_cached(cache_dir, source_sha256), source_sha256, built=False)
        except CacheError as exc:
            reason = str(exc)
    else:
        reason = "asked to rebuild"
    folder = graph_dir(cache_dir, source_sha256)
    # One line, on stderr through logging: the first start after an install pays for this once.
    log.warning("building the ONNX sentence encoder in %s (%s); this takes a few seconds, once", folder, reason)
    started = time.perf_counter()
    build_graph(Path(model_dir), folder, source_sha256)
    log.info("built the ONNX sentence encoder in %.1f s", time.perf_counter() - started)
    return CachedGraph(check_cached(cache_dir, source_sha256), source_sha256, built=True)


def build_graph(model_dir: Path, folder: Path, source_sha256: str) -> None:
    """`build_graph_here` in a child process: the export imports torch, transformers and
    onnxruntime's optimizer (about 500 MB, and the optimizer's folder on sys.path), none of
    which a serving process should keep for the rest of its life."""
    command = [sys.executable, "-m", "bot.encoder_onnx", str(model_dir), str(folder), source_sha256]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}  # this process's imports
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"building the ONNX sentence encoder took over {BUILD_TIMEOUT} s") from None
    if done.returncode != 0:
        raise RuntimeError(f"building the ONNX sentence encoder failed:\n{done.stderr[-3000:]}")


def build_graph_here(model_dir: Path, folder: Path, source_sha256: str) -> None:
    """Export `model_dir` with torch, quantize to int8, and write graph then manifest into
    `folder`, each by an atomic rename (two processes building at once both succeed)."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".build-") as tmp:
        fp32 = Path(tmp) / "model.fp32.onnx"
        int8 = Path(tmp) / GRAPH_FILE
        fused = Path(tmp) / "model.fused.onnx"
        export_float32(model_dir, fp32)
        fusions = fuse_attention(model_dir, fp32, fused)
        quantize_int8(fused, int8)
        graph_sha256 = file_sha256(int8)
        os.replace(int8, folder / GRAPH_FILE)
    import onnxruntime

    manifest = {
        "format": FORMAT,
        "source_sha256": source_sha256,
        "graph_sha256": graph_sha256,
        "opset": OPSET,
        "quantization": "dynamic int8, per-channel, MatMul and Attention (QAttention)",
        "fusions": fusions,
        "onnxruntime": onnxruntime.__version__,
    }
    fd, tmp_manifest = tempfile.mkstemp(dir=folder, prefix=".manifest-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2)
    os.chmod(tmp_manifest, 0o644)  # built as root in an image, read by the runtime user
    os.replace(tmp_manifest, folder / MANIFEST_FILE)


def export_float32(model_dir: Path, out: Path) -> None:
    """The float32 graph: token ids and mask in, mean-pooled L2-normalised vectors out."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    # Offline by design: local files only, never a model hub. Eager attention exports plainly.
    model = AutoModel.from_pretrained(model_dir, local_files_only=True, attn_implementation="eager").eval()

    class Pooled(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            hidden = self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    ids = torch.ones((2, 8), dtype=torch.long)
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on traced Python conditions
        # The TorchScript exporter (dynamo=False) needs neither onnxscript nor a Python graph tracer.
        torch.onnx.export(
            Pooled(model), (ids, torch.ones_like(ids)), str(out),
            input_names=["input_ids", "attention_mask"], output_names=["embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                          "embedding": {0: "batch"}},
            opset_version=OPSET, dynamo=False,
        )  # fmt: skip


def fuse_attention(model_dir: Path, fp32: Path, out: Path) -> dict[str, int]:
    """Each layer's attention (Q/K/V projections, scores, mask, softmax, context) as one
    Attention node, by ONNX Runtime's transformer optimizer; the rest stays as exported.
    Returns the fused operators' counts (none found: the graph is kept unfused)."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    config = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    options = FusionOptions("bert")
    # Measured slower than the operators they replace on this runtime (see SLOW_FUSIONS);
    # the embedding's fusion gains nothing and wants token type ids.
    options.enable_skip_layer_norm = False
    options.enable_bias_skip_layer_norm = False
    options.enable_bias_gelu = False
    options.enable_embed_layer_norm = False
    model = optimize_model(
        str(fp32), model_type="bert", num_heads=int(config.get("num_attention_heads", 0)),
        hidden_size=int(config.get("hidden_size", 0)), optimization_options=options, opt_level=0,
    )  # fmt: skip
    model.save_model_to_file(str(out))
    return {op: n for op, n in model.get_fused_operator_statistics().items() if n}


def quantize_int8(fp32: Path, out: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    onnx.checker.check_model(str(fp32))
    # Per-channel int8 weights keep the vectors within 0.98 cosine of float32 on news
    # sentences (per-tensor drops to ~0.93); activations are quantized per call (dynamic).
    # A fused Attention becomes QAttention (its Q/K/V projections in int8).
    root = logging.getLogger()
    quiet = _DropPreprocessHint()
    root.addFilter(quiet)  # the quantizer logs a hint about static quantization on the root logger
    try:
        quantize_dynamic(
            str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True,
            op_types_to_quantize=["MatMul", "Attention"],
            # the contrib Attention's outputs have no inferred type: they are float
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )  # fmt: skip
    finally:
        root.removeFilter(quiet)


class _DropPreprocessHint(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


def length_batches(lengths: list[int], max_batch: int = MAX_BATCH) -> Iterator[list[int]]:
    """Indexes of `lengths` sorted by length and cut into batches whose padding stays small."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    batch: list[int] = []
    for i in order:
        width = lengths[i]  # sorted: the longest so far, so every row is padded to it
        if batch and (len(batch) >= max_batch or width - lengths[batch[0]] > max(2, MAX_SPREAD * width)):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def share_among_lanes(costs: list[int], lanes: int) -> list[list[int]]:
    """Indexes of `costs` in `lanes` groups of about equal total (the costliest first, each
    to the least loaded lane); empty groups dropped."""
    groups: list[list[int]] = [[] for _ in range(max(1, lanes))]
    load = [0] * len(groups)
    for i in sorted(range(len(costs)), key=lambda i: -costs[i]):
        lane = load.index(min(load))
        groups[lane].append(i)
        load[lane] += costs[i]
    return [group for group in groups if group]


class OnnxSentenceEncoder:
    """Texts in, L2-normalised embeddings out (numpy float32, one row per text), on the
    cached int8 graph. Same interface as bot.encoder.SentenceEncoder.

    `threads` (0: the cores this process may use) is how many batches run at once: the
    calling thread and `threads - 1` lane threads, each ONNX Runtime run on one thread. A
    batch's rows are the same whatever the lanes, so the vectors are too."""

    backend = "onnx"

    def __init__(self, model_dir: Path, graph: Path, *, max_tokens: int, threads: int = 0, name: str = ""):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        started = time.perf_counter()
        self._ort = ort
        self.tokenizer = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
        self.tokenizer.no_padding()  # batches are padded here, by length
        self.tokenizer.enable_truncation(max_tokens)
        options = ort.SessionOptions()
        # One thread per run: splitting one run's small operators across threads, woken per
        # operator or spinning between them, gained far less than running batches side by side
        # (the 806-word article on 2 cores: 36 ms with a pool of 2, 21 ms as 2 lanes).
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(graph), options, providers=["CPUExecutionProvider"], disabled_optimizers=SLOW_FUSIONS
        )
        self.name = name or "all-MiniLM-L6-v2"
        self.dimension = int(self.session.get_outputs()[0].shape[-1] or 384)
        self.dtype = "int8"
        self.threads = threads or available_cores()
        self._lanes = ThreadPoolExecutor(self.threads - 1, "encoder-lane") if self.threads > 1 else None
        self.load_seconds = time.perf_counter() - started
        log.info("loaded sentence encoder %s (ONNX int8, %d lanes) in %.2fs", self.name, self.threads, self.load_seconds)

    def embed(self, texts: list[str], batch_size: int = MAX_BATCH) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(list(texts))
        lengths = [len(e.ids) for e in encodings]
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        batches = list(length_batches(lengths, max_batch=max(1, batch_size)))
        feeds = []
        for batch in batches:
            width = lengths[batch[-1]]
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                ids[row, : lengths[i]] = encodings[i].ids
                mask[row, : lengths[i]] = 1
            feeds.append({"input_ids": ids, "attention_mask": mask})
        costs = [f["input_ids"].size + RUN_OVERHEAD_TOKENS for f in feeds]
        lanes = share_among_lanes(costs, self.threads)  # one lane: no pool, lanes[1:] is empty
        # One RunOptions for the call's runs: the job's budget running out sets terminate,
        # and every run in flight stops.
        run_options = self._ort.RunOptions()

        def stop() -> None:
            run_options.terminate = True

        def run_lane(lane: list[int], caller: bool) -> None:
            for k in lane:
                if caller:
                    check_deadline()  # a job over its budget stops between batches
                if run_options.terminate:
                    raise BudgetExceeded()
                try:
                    out[batches[k]] = self.session.run(None, feeds[k], run_options)[0]
                except Exception:
                    if run_options.terminate:
                        raise BudgetExceeded() from None
                    raise

        with on_stop(stop):
            others = [self._lanes.submit(run_lane, lane, False) for lane in lanes[1:]]
            try:
                run_lane(lanes[0], True)
            except BaseException:
                stop()  # the other lanes stop too: nothing runs on after this call
                raise
            finally:
                wait(others)
            for lane in others:
                lane.result()
        return out


if __name__ == "__main__":  # build_graph's child: python -m bot.encoder_onnx <model dir> <folder> <sha256>
    logging.basicConfig(level=logging.WARNING)
    build_graph_here(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
