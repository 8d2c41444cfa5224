"""`summary-bot bench rouge|extraction|latency|train` on tiny data made here (never ../shared)."""

from __future__ import annotations

import gzip
import json

import pytest

from adapters.cli import main
from benchmarks.extraction import page_tp_fp_fn, score_pages
from benchmarks.rouge import lead, reference_lines
from model_support import shared_models

ARTICLES = [
    {
        "id": "a1",
        "article": "The council approved a river clean-up plan on Tuesday. It will cost $4.5 million. "
        "Nitrate levels have doubled since 2015. Farmers will get grants to change how they spread fertiliser. "
        "Work starts in the spring. Residents can check readings online.",
        "highlights": "Council approves $4.5 million river clean-up plan . Nitrate levels have doubled since 2015 .",
    },
    {
        "id": "a2",
        "article": "Chelsea have made an offer for the team 's young forward . He has one goal in 11 games for Japan . "
        "The club signed a sponsorship deal in February . He graduated from university two weeks ago . "
        "' It is an honour , ' he said .",
        "highlights": "Chelsea have made an offer for the forward . He has one goal in 11 games .",
    },
    {
        "id": "a3",
        "article": "A new library opened in the town centre on Saturday. Thousands of visitors came on the first day. "
        "The building has a cafe and a children's floor. It was paid for by a local charity. "
        "Opening hours are longer than at the old library.",
        "highlights": "New library opens in the town centre . It was paid for by a charity .",
    },
]

PAGE = """<!doctype html><html><head><title>{title}</title></head><body>
<nav><a href="/">Home</a> <a href="/news">News</a></nav>
<article><h1>{title}</h1>{body}</article><footer>Copyright 2024 Example News</footer></body></html>"""


def _paragraphs(topic: str) -> str:
    return "".join(
        f"<p>Paragraph {i} about the {topic} explains what the council decided and why residents "
        f"of district {i} will notice the change before the summer holidays begin this year.</p>"
        for i in range(8)
    )


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "tiny.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in ARTICLES) + "\n", encoding="utf-8")
    return path


def _json_out(capsys, argv) -> object:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


# -- rouge ----------------------------------------------------------------------------------
def test_reference_lines_split_on_spaced_full_stops():
    assert reference_lines("One thing . Another thing . Last") == "One thing\nAnother thing\nLast"


def test_lead_uses_the_sentence_splitter():
    assert lead("Mr. Smith came. He left. Then rain. More rain.") == ["Mr. Smith came.", "He left.", "Then rain."]


def test_bench_rouge_json(capsys, data_file):
    results = _json_out(capsys, ["bench", "rouge", "--data", str(data_file), "--format", "json", "--limit", "2"])
    assert isinstance(results, list) and len(results) == 1
    result = results[0]
    assert result["data"] == str(data_file) and result["n"] == 2
    assert set(result["system"]) >= {"rouge1", "rouge2", "rougeLsum", "p50_ms", "p95_ms"}
    assert set(result["lead3"]) >= {"rouge1", "rouge2", "rougeLsum"}
    for scores in (result["system"], result["lead3"]):
        assert all(0 <= scores[m] <= 100 for m in ("rouge1", "rouge2", "rougeLsum"))
    assert result["lead3"]["rouge1"] > 20  # the references echo the openings


def test_bench_rouge_text_table(capsys, data_file):
    assert main(["bench", "rouge", "--data", str(data_file), str(data_file), "--length", "short"]) == 0
    out = capsys.readouterr().out
    assert out.count("tiny.jsonl") == 2 and "lead-3" in out and "R1" in out and "RLsum" in out


def test_bench_rouge_missing_file(capsys, tmp_path):
    assert main(["bench", "rouge", "--data", str(tmp_path / "nope.jsonl")]) == 2


# -- extraction -----------------------------------------------------------------------------
def test_shingle_scoring_matches_the_benchmark_method():
    text = "one two three four five six seven"
    assert page_tp_fp_fn(text, text) == (1.0, 0.0, 0.0)
    assert page_tp_fp_fn(text, "") == (0.0, 0.0, 1.0)
    tp, fp, fn = page_tp_fp_fn(text, "one two three four five extra words here")
    assert tp > 0 and fp > 0 and fn > 0 and abs(tp + fp + fn - 1) < 1e-9
    perfect = score_pages([(1.0, 0.0, 0.0), (1.0, 0.0, 0.0)])
    assert perfect == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    half = score_pages([(1.0, 0.0, 0.0), (0.0, 0.0, 1.0)])  # one page perfect, one missed
    assert half["precision"] == 1.0 and half["recall"] == 0.5


def test_bench_extraction_json(capsys, tmp_path):
    pages = tmp_path / "html"
    pages.mkdir()
    truth = {}
    for number, topic in enumerate(["river plan", "library opening"]):
        body = _paragraphs(topic)
        html = PAGE.format(title=f"News about the {topic}", body=body)
        page_id = f"page{number}"
        if number == 0:
            (pages / f"{page_id}.html.gz").write_bytes(gzip.compress(html.encode()))
        else:
            (pages / f"{page_id}.html").write_text(html, encoding="utf-8")
        text = body.replace("</p>", "\n").replace("<p>", "")
        truth[page_id] = {"articleBody": text, "url": f"https://news.example/{page_id}"}
    truth_file = tmp_path / "ground-truth.json"
    truth_file.write_text(json.dumps(truth), encoding="utf-8")
    result = _json_out(capsys, ["bench", "extraction", "--pages", str(pages), "--truth", str(truth_file), "--format", "json"])
    assert set(result) >= {"n", "precision", "recall", "f1", "pages_per_s"}
    assert result["n"] == 2 and result["f1"] > 0.9


# -- latency --------------------------------------------------------------------------------
def test_bench_latency_json(capsys):
    result = _json_out(capsys, ["bench", "latency", "--backends", "onnx", "--rounds", "2", "--format", "json"])
    assert set(result["stages"]) == {"fetch", "extract", "summarize", "render"}
    for row in result["stages"].values():
        assert set(row) >= {"cold_ms", "warm_p50_ms", "warm_p95_ms"}
    assert result["model_load"]["summarizer"].startswith("extractive")
    assert result["summarize_800_words"]["words"] >= 700
    assert result["pages"] == len(result["words_per_page"]) >= 1
    # the benchmark stops with an error unless every repeated request came from the cache
    assert set(result["end_to_end"]["cache_hit_handle"]) >= {"p50_ms", "p95_ms"}


# -- train ----------------------------------------------------------------------------------
def test_bench_train_writes_weights_naming_their_data(capsys, tmp_path, data_file, monkeypatch):
    from benchmarks import train
    from bot.summarize.extractive import ExtractiveSummarizer, ScorerWeights

    monkeypatch.setattr(train, "ROUNDS", 1)
    held_out = tmp_path / "held_out.jsonl"
    held_out.write_text(json.dumps(ARTICLES[2]) + "\n", encoding="utf-8")
    out = tmp_path / "weights.json"
    assert main(["bench", "train", "--data", str(data_file), "--exclude", str(held_out), "--out", str(out)]) == 0
    weights = ScorerWeights.load(out)
    assert weights.trained_on == ["tiny.jsonl"] and weights.excluded == ["held_out.jsonl"]
    assert weights.notes["left_out_overlapping"] == 1 and weights.notes["articles"] == 2
    assert len(ExtractiveSummarizer(shared_models().encoder, weights=out).summarize(ARTICLES[0]["article"])) == 3
