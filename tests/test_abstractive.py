"""The abstractive option through its real loading path, with a tiny randomly initialised
BART that the test builds and saves to a temporary folder (no model hub, no network)."""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.summarize import build_summarizer, summarizer_identity

ARTICLE = (
    "The river council measured water quality in every district this spring. "
    "Nitrate levels fell by a third after new filters were installed at the treatment works. "
    "Farmers upstream changed how they spread fertiliser, which also helped. "
    "The council will publish monthly figures from June. "
    "Residents can check the readings for their own street on the council website. "
    "Officials said the work would cost less than expected."
)


@pytest.fixture(autouse=True)
def few_new_tokens(monkeypatch):
    """A random model never stops early: keep its answers short so the tests stay quick
    (generation itself, beam search included, runs as in production)."""
    from bot.summarize import abstractive

    monkeypatch.setattr(abstractive, "NEW_TOKENS_FOR_LENGTH", {"short": 12, "medium": 16, "long": 24})


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Generation is hundreds of tiny operations: on a busy 2-core machine, waking a second
    thread for each costs far more than the work itself."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_bart(tmp_path_factory) -> str:
    """A 2-layer BART with d_model 16 and a word-level tokenizer trained on a few lines."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import BartConfig, BartForConditionalGeneration, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bart")
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator([ARTICLE] * 3, trainers.WordLevelTrainer(special_tokens=specials))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
        model_max_length=48,  # small, so that the test article is cut into chunks
    )  # fmt: skip
    fast.save_pretrained(folder)
    config = BartConfig(
        vocab_size=fast.vocab_size, d_model=16, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
        max_position_embeddings=64, pad_token_id=1, bos_token_id=0, eos_token_id=2,
        decoder_start_token_id=2, forced_eos_token_id=2,
    )  # fmt: skip
    torch.manual_seed(0)
    BartForConditionalGeneration(config).save_pretrained(folder)
    return str(folder)


def test_loads_through_build_summarizer_and_returns_points(tiny_bart):
    settings = Settings(summarizer="abstractive", summarizer_model=tiny_bart)
    summarizer = build_summarizer(settings, encoder=None)
    assert summarizer.name == "abstractive" and summarizer.version
    for length, most in (("short", 1), ("medium", 3), ("long", 5)):
        points = summarizer.summarize(ARTICLE, title="Water quality", length=length)
        assert 1 <= len(points) <= most
        assert all(isinstance(p, str) and p.strip() for p in points)
    assert summarizer.summarize(ARTICLE) == summarizer.summarize(ARTICLE)  # beam search: deterministic


def test_long_articles_are_cut_into_chunks_that_fit(tiny_bart):
    from bot.sentences import split_sentences

    summarizer = build_summarizer(Settings(summarizer="abstractive", summarizer_model=tiny_bart), encoder=None)
    chunks = summarizer.chunks(split_sentences(ARTICLE))
    assert len(chunks) > 1
    assert " ".join(chunks) == " ".join(split_sentences(ARTICLE))  # nothing lost, order kept
    for chunk in chunks:
        assert len(summarizer.tokenizer(chunk)["input_ids"]) <= summarizer.max_input_tokens


def test_odd_input(tiny_bart):
    summarizer = build_summarizer(Settings(summarizer="abstractive", summarizer_model=tiny_bart), encoder=None)
    assert summarizer.summarize("") == []
    assert summarizer.summarize("   \n ") == []
    assert summarizer.summarize("just one line without an ending")  # something, not a crash


def test_identity_names_the_model_without_loading_it(tiny_bart):
    identity = summarizer_identity(Settings(summarizer="abstractive", summarizer_model=tiny_bart))
    assert identity.startswith("abstractive:") and identity.endswith(tiny_bart)


def test_missing_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="SUMMARY_BOT_SUMMARIZER_MODEL"):
        build_summarizer(Settings(summarizer="abstractive", summarizer_model=tmp_path / "nowhere"), encoder=None)


async def test_pipeline_uses_the_cache_on_the_second_call(tiny_bart, tmp_path):
    from bot.inference import LocalInference
    from bot.pipeline import SummaryPipeline
    from bot.store.sqlite_store import SQLiteStore

    settings = Settings(summarizer="abstractive", summarizer_model=tiny_bart, sqlite_path=tmp_path / "s.sqlite3")
    store = await SQLiteStore.open(settings.sqlite_path)
    inference = LocalInference(settings)
    pipeline = SummaryPipeline(settings, store, inference)
    try:
        first = await pipeline.digest_text(ARTICLE)
        second = await pipeline.digest_text(ARTICLE)
    finally:
        await pipeline.close()
        inference.close()
        await store.close()
    assert first.points and all(isinstance(p, str) for p in first.points)
    assert first.title and first.reading_minutes >= 1
    assert not first.cached and second.cached
    assert second.points == first.points
    assert pipeline.model_runs == 1
