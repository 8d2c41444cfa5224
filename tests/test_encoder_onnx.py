"""The ONNX Runtime encoder (issue 21): its cached int8 graph is checked on every load and
rebuilt when it is truncated, altered or made from other weights; its vectors agree with
the float32 torch encoder; the serving path never imports torch; the torch backend still
works; a job's stop reaches a running ONNX call (RunOptions.terminate)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from bot import encoder_onnx
from bot.config import Settings
from bot.encoder import PACKAGED_MODEL_SHA256, encoder_identity, load_encoder, packaged_model_dir, source_weights
from bot.encoder_onnx import GRAPH_FILE, MANIFEST_FILE, CacheError, check_cached, ensure_graph, length_batches
from bot.inference import BudgetExceeded, Deadline, _deadline, on_stop

ROOT = Path(__file__).resolve().parent.parent

# A fixed set of news sentences (the kind the summarizer scores), short and long.
SENTENCES = [
    "The central bank raised interest rates by half a percentage point on Tuesday.",
    "Stocks fell sharply after the announcement, with technology shares leading the decline.",
    "Officials said the talks would resume next week in Geneva.",
    "The company reported a quarterly loss of $1.2 billion, wider than analysts had expected.",
    "Heavy rain caused flooding across the region, forcing thousands of residents to leave their homes.",
    "The new model has a seven-inch touchscreen and supports the Matter smart-home standard.",
    "Sales of the car fell 40 percent in February compared with a year earlier.",
    "The treaty limits the number of deployed strategic nuclear warheads on each side.",
    "A spokesman for the ministry declined to comment on the report.",
    "Scientists warned that the drought could cut this year's wheat harvest by a third.",
    "The prisoner exchange was discussed on the sidelines of the G20 summit.",
    "Chinese brands now account for more than half of new car sales in the country.",
    "The update adds support for more devices and fixes several security problems.",
    "Voters will decide in a referendum next spring whether to change the constitution.",
    "The airline cancelled hundreds of flights because of a strike by air traffic controllers.",
    "Researchers found that the vaccine was 90 percent effective at preventing severe illness.",
    "The mayor said the city would spend $300 million to repair its ageing water pipes.",
    "Police arrested two men in connection with the robbery, which took place late on Friday night.",
    "Inflation slowed for a third month in a row, to 4.1 percent in March.",
    "The football club confirmed that its manager had left by mutual consent.",
]


def _copy_cache(source: Path, target: Path) -> Path:
    shutil.copytree(source / "encoder", target / "encoder")
    return target


def test_cached_graph_is_verified_and_reused(model_cache: Path, tmp_path: Path) -> None:
    cache = _copy_cache(model_cache, tmp_path)
    folder, sha256 = source_weights(None)
    assert sha256 == PACKAGED_MODEL_SHA256
    graph = ensure_graph(folder, cache, sha256)
    assert graph.built is False
    assert graph.path == cache / "encoder" / sha256 / GRAPH_FILE


def test_truncated_graph_is_rebuilt_and_loads(model_cache: Path, tmp_path: Path) -> None:
    cache = _copy_cache(model_cache, tmp_path)
    folder, sha256 = source_weights(None)
    path = cache / "encoder" / sha256 / GRAPH_FILE
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2)
    with pytest.raises(CacheError, match="truncated"):
        check_cached(cache, sha256)
    graph = ensure_graph(folder, cache, sha256)  # the real export and quantization
    assert graph.built is True
    check_cached(cache, sha256)
    encoder = load_encoder(Settings(model_cache_dir=cache))
    vectors = encoder.embed(SENTENCES[:3])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


@pytest.fixture
def counted_builds(monkeypatch, model_cache: Path):
    """build_graph replaced by a copy of the session's graph, counting the builds (the
    decisions under test are when to build, not how): in this process, not a child."""
    built: list[str] = []
    session_graph = next((model_cache / "encoder").glob(f"*/{GRAPH_FILE}"))
    real_build = encoder_onnx.build_graph_here

    def fake_build(model_dir: Path, folder: Path, source_sha256: str) -> None:
        built.append(source_sha256)
        monkeypatch.setattr(encoder_onnx, "export_float32", lambda _dir, out: None)
        monkeypatch.setattr(encoder_onnx, "fuse_attention", lambda _dir, _fp32, out: {})
        monkeypatch.setattr(encoder_onnx, "quantize_int8", lambda _fp32, out: shutil.copyfile(session_graph, out))
        real_build(model_dir, folder, source_sha256)  # the real manifest and atomic renames

    monkeypatch.setattr(encoder_onnx, "build_graph", fake_build)
    return built


def test_weights_with_another_hash_get_their_own_graph(model_cache: Path, tmp_path: Path, counted_builds) -> None:
    cache = _copy_cache(model_cache, tmp_path / "cache")
    model = tmp_path / "model"
    model.mkdir()
    for name in ("tokenizer.json", "config.json"):
        shutil.copyfile(packaged_model_dir() / name, model / name)
    weights = (packaged_model_dir() / "model.safetensors").read_bytes()
    (model / "model.safetensors").write_bytes(weights + b" ")  # other bytes, another hash
    folder, sha256 = source_weights(model)
    assert sha256 != PACKAGED_MODEL_SHA256
    graph = ensure_graph(folder, cache, sha256)
    assert graph.built and counted_builds == [sha256]
    assert json.loads((graph.path.parent / MANIFEST_FILE).read_text())["source_sha256"] == sha256
    assert ensure_graph(folder, cache, sha256).built is False  # and reused from then on


def test_manifest_from_other_weights_or_altered_graph_is_rebuilt(model_cache: Path, tmp_path: Path, counted_builds) -> None:
    cache = _copy_cache(model_cache, tmp_path)
    folder, sha256 = source_weights(None)
    manifest_path = cache / "encoder" / sha256 / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "source_sha256": "0" * 64}))
    assert ensure_graph(folder, cache, sha256).built
    graph = cache / "encoder" / sha256 / GRAPH_FILE
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte changed
    graph.write_bytes(bytes(data))
    assert ensure_graph(folder, cache, sha256).built
    manifest_path.write_text("{not json")
    assert ensure_graph(folder, cache, sha256).built
    manifest_path.unlink()
    assert ensure_graph(folder, cache, sha256).built
    assert len(counted_builds) == 4


def test_packaged_weights_are_checked(monkeypatch) -> None:
    import bot.encoder

    monkeypatch.setattr(bot.encoder, "PACKAGED_MODEL_SHA256", "0" * 64)
    with pytest.raises(bot.encoder.ModelError, match="sha256"):
        source_weights(None)


def test_int8_agrees_with_float32(model_cache: Path) -> None:
    from bot.encoder import load_sentence_encoder

    int8 = load_encoder(Settings()).embed(SENTENCES)
    float32 = load_sentence_encoder(float32=True).embed(SENTENCES)
    cosine = (int8 * float32).sum(axis=1)
    assert cosine.min() >= 0.98, cosine
    # and in the order the batching makes, each row is its own text's
    reordered = load_encoder(Settings()).embed(SENTENCES[::-1])
    assert np.allclose(reordered[::-1], int8, atol=2e-3)


def test_threads_do_not_change_the_vectors(model_cache: Path) -> None:
    """One thread (`summary-bot worker`) or batches on two lanes at once (the in-process
    default): the same vectors, bit for bit, so summaries do not depend on where they ran."""
    one = load_encoder(Settings(), threads=1).embed(SENTENCES)
    pool = load_encoder(Settings(), threads=2)
    assert pool.threads == 2
    assert np.array_equal(pool.embed(SENTENCES), one)


def test_the_served_graph_has_int8_attention_and_no_slow_fusion(model_cache: Path, tmp_path: Path) -> None:
    """The attention is fused and quantized (QAttention), and the runtime's slower
    SkipLayerNormalization fusion (SLOW_FUSIONS) is not made at load."""
    import onnx
    import onnxruntime as ort

    folder, sha256 = source_weights(None)
    graph = check_cached(model_cache, sha256)
    manifest = json.loads((graph.parent / MANIFEST_FILE).read_text())
    assert manifest["fusions"]["Attention"] == 6  # one per layer of MiniLM-L6
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "as-served.onnx")
    ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"],
                         disabled_optimizers=encoder_onnx.SLOW_FUSIONS)  # fmt: skip
    served = {node.op_type for node in onnx.load(str(tmp_path / "as-served.onnx")).graph.node}
    assert "QAttention" in served and "DynamicQuantizeMatMul" in served
    assert "SkipLayerNormalization" not in served and "Attention" not in served


def test_lanes_share_the_batches_evenly() -> None:
    from bot.encoder_onnx import share_among_lanes

    costs = [700, 120, 90, 300, 260, 40, 500, 20]
    groups = share_among_lanes(costs, 2)
    assert sorted(i for group in groups for i in group) == list(range(len(costs)))
    loads = [sum(costs[i] for i in group) for group in groups]
    assert abs(loads[0] - loads[1]) <= max(costs[i] for i in range(len(costs)) if costs[i] < 700)
    assert share_among_lanes([5], 4) == [[0]]  # no empty lanes
    assert share_among_lanes([3, 2, 1], 1) == [[0, 1, 2]]


def test_a_stopped_job_stops_every_lane(model_cache: Path, monkeypatch) -> None:
    """Batches running on the lane threads stop too, and none runs on after the call."""
    encoder = load_encoder(Settings(), threads=2)
    monkeypatch.setattr(encoder_onnx, "check_deadline", lambda: None)
    runs: list[str] = []
    real_run = encoder.session.run

    class Counting:
        def run(self, *args):
            runs.append(threading.current_thread().name)
            return real_run(*args)

        def __getattr__(self, name):
            return getattr(encoder.session, name)

    encoder.session = Counting()
    texts = SENTENCES + [" ".join(SENTENCES[:k]) for k in range(2, 6)]  # several batches
    assert encoder.embed(texts).shape == (len(texts), 384)
    assert any(name.startswith("encoder-lane") for name in runs)  # a second lane did run batches
    runs.clear()
    deadline = Deadline(time.monotonic() + 60)
    token = _deadline.set(deadline)
    try:
        deadline.stop()
        with pytest.raises(BudgetExceeded):
            encoder.embed(texts)
    finally:
        _deadline.reset(token)
    assert runs == []  # terminate was set before any lane ran a batch
    assert encoder._lanes._work_queue.qsize() == 0


def test_batches_are_by_length_with_little_padding() -> None:
    lengths = [30, 5, 31, 6, 29, 64, 5, 12]
    batches = list(length_batches(lengths))
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        widths = [lengths[i] for i in batch]
        assert widths == sorted(widths)
        assert max(widths) - min(widths) <= max(2, 0.10 * max(widths))  # each row's padding
    assert [[lengths[i] for i in batch] for batch in batches] == [[5, 5, 6], [12], [29, 30, 31], [64]]
    assert all(len(batch) <= 2 for batch in length_batches([7] * 6, max_batch=2))


def summarize_in_a_new_process(env: dict | None = None) -> subprocess.CompletedProcess:
    """`summary-bot summarize <seed page>` in a fresh interpreter, which then prints the
    model libraries it imported ("imported: [...]")."""
    page = sorted((ROOT / "seeds" / "news").glob("*.html"))[0]
    script = (
        "import sys\n"
        "from adapters.cli import main\n"
        f"assert main(['summarize', {str(page)!r}, '--format', 'json']) == 0\n"
        "print('imported:', sorted(m for m in ('torch', 'transformers', 'onnxruntime.transformers') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done


def test_the_serving_path_never_imports_torch(model_cache: Path) -> None:
    done = summarize_in_a_new_process()
    assert '"points"' in done.stdout
    assert "imported: []" in done.stdout, done.stdout
    assert "building the ONNX" not in done.stderr  # the session's graph was found and used


def test_a_first_start_builds_the_graph_in_a_child_and_imports_no_torch(tmp_path: Path) -> None:
    """With no graph in the cache, the first summary builds it (saying so) in a child
    process: the serving process still never imports torch or transformers, and the graph
    it built is verified and used by the next start without a build."""
    import os

    for build in (True, False):  # each with a store of its own: the summary is computed, not cached
        done = summarize_in_a_new_process({
            **os.environ, "SUMMARY_BOT_MODEL_CACHE_DIR": str(tmp_path / "cache"),
            "SUMMARY_BOT_SQLITE_PATH": str(tmp_path / f"store-{build}.sqlite3"),
        })  # fmt: skip
        assert "imported: []" in done.stdout, done.stdout
        assert ("building the ONNX" in done.stderr) is build, done.stderr
    folder, sha256 = source_weights(None)
    check_cached(tmp_path / "cache", sha256)


def test_torch_backend_still_works(model_cache: Path) -> None:
    from bot.summarize.extractive import ExtractiveSummarizer

    settings = Settings(encoder_backend="torch", encoder_float32=True)
    encoder = load_encoder(settings)
    assert encoder.backend == "torch"
    vectors = encoder.embed(SENTENCES[:4])
    assert vectors.shape == (4, 384)
    points = ExtractiveSummarizer(encoder).summarize(" ".join(SENTENCES), length="medium")
    assert len(points) == 3 and all(point in SENTENCES for point in points)
    # vectors of one backend are never mistaken for the other's
    assert encoder_identity(settings) != encoder_identity(Settings())


def test_a_stopped_job_terminates_the_running_onnx_call(model_cache: Path, monkeypatch) -> None:
    encoder = load_encoder(Settings())
    # Skip the check between batches, so that only RunOptions.terminate can stop the call.
    monkeypatch.setattr(encoder_onnx, "check_deadline", lambda: None)
    deadline = Deadline(time.monotonic() + 60)
    token = _deadline.set(deadline)
    try:
        assert encoder.embed(SENTENCES[:2]).shape == (2, 384)  # a live job runs
        deadline.stop()
        with pytest.raises(BudgetExceeded):
            encoder.embed(SENTENCES[:2])
    finally:
        _deadline.reset(token)


def test_stop_hooks_run_once_and_only_while_registered() -> None:
    calls: list[str] = []
    with on_stop(lambda: calls.append("outside a job")):
        pass
    deadline = Deadline(time.monotonic() + 60)
    token = _deadline.set(deadline)
    try:
        with on_stop(lambda: calls.append("left")):
            pass
        with on_stop(lambda: calls.append("running")):
            deadline.stop()
            deadline.stop()
        with on_stop(lambda: calls.append("after the stop")):
            pass
    finally:
        _deadline.reset(token)
    assert calls == ["running", "after the stop"]
