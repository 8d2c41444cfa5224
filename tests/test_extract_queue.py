"""The extraction queue is bounded: past the bound a page is refused at once, politely."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.core import FRIENDLY_ERRORS
from bot.extract import ExtractionBusy, Extractor
from bot.inference import ModelBusy

ARTICLE = "<html><body><article>" + "<p>The ferry runs every hour from the harbour.</p>" * 20 + "</article></body></html>"


async def test_pages_past_the_bound_are_refused_at_once_with_the_busy_sentence():
    """One process kept busy, two pages waiting (the bound): the next page is refused at
    once with the model queue's "busy" sentence, nothing more is held, and once the work is
    gone pages are read again. Fails before the fix: every page joined an unbounded queue
    (each up to 5 MB, kept until its turn); there was no `max_waiting`."""
    extractor = Extractor(workers=1, timeout=120, min_chars=0, max_waiting=2)
    try:
        slow = [asyncio.ensure_future(extractor.run(time.sleep, 120)) for _ in range(3)]
        await asyncio.sleep(0)  # each has entered `run`
        assert extractor.pending == 3
        with pytest.raises(ExtractionBusy) as refused:
            await extractor.extract(ARTICLE, "https://example.org/next")
        assert str(refused.value) == str(ModelBusy())
        assert isinstance(refused.value, FRIENDLY_ERRORS)  # the chat gets that sentence
        with pytest.raises(ExtractionBusy):
            await extractor.run(abs, -1)  # feeds queue here too
        assert extractor.pending == 3 and extractor.refused_busy == 2

        for job in slow:
            job.cancel()
        await asyncio.gather(*slow, return_exceptions=True)
        assert extractor.pending == 0
        assert await extractor.run(abs, -1) == 1
    finally:
        extractor.close()


def test_a_full_extraction_queue_is_counted_and_carried_as_busy():
    """A refusal for a full extraction queue is a "busy" error in /metrics and on the job
    queue, as the model queue's is. Fails before the fix: it was counted, and carried from a
    worker, as an extraction error (a bad page)."""
    from adapters.queue import content_error, content_from_result
    from bot.metrics import Metrics

    assert content_error(ExtractionBusy())["kind"] == "busy"
    with pytest.raises(ModelBusy) as carried:
        content_from_result(content_error(ExtractionBusy()))
    assert str(carried.value) == str(ModelBusy())

    from bot.handlers.summarizing import failure_reply

    metrics = Metrics()
    from bot.i18n import Languages

    reply = failure_reply(metrics, ExtractionBusy(), Languages().get("en"))
    assert reply.error == str(ModelBusy())
    assert metrics.errors.labels("busy")._value.get() == 1
    assert metrics.errors.labels("extract")._value.get() == 0
