"""The LLM summarizer as benchmarks call a summarizer: a blocking `summarize(text, title,
length) -> points`, made from a worker thread while the event loop that owns the client
serves the requests (as `asyncio.to_thread(measure, ...)` runs them).

It is the program's own path (adapters.assembly.build_llm_summarizer: the openai client
for SUMMARY_BOT_LLM_URL, grounding and the extractive fallback through an in-process
inference service), so a benchmark measures what the bot serves, against whatever server
is configured; `outcomes()` says how the requests and points went.
"""

from __future__ import annotations

import asyncio


def llm_settings_problem(settings) -> str | None:
    """Why the LLM summarizer cannot run with `settings`, in one line, or None."""
    if not settings.llm_url or not settings.llm_model:
        return "summary-bot: the llm summarizer needs SUMMARY_BOT_LLM_URL and SUMMARY_BOT_LLM_MODEL"
    return None


class BenchLLMSummarizer:
    def __init__(self, settings):
        from adapters.assembly import build_llm_summarizer
        from bot.inference import LocalInference
        from bot.metrics import Metrics

        settings = settings.model_copy(update={"summarizer": "llm"})
        self.metrics = Metrics()
        self.inference = LocalInference(settings, metrics=self.metrics)
        self.llm = build_llm_summarizer(settings, self.inference, self.metrics)
        self.name = self.llm.label
        self.labels: list[str] = []  # who wrote each summary: the LLM or the extractive fallback
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> BenchLLMSummarizer:
        self._loop = asyncio.get_running_loop()
        await self.inference.warm_up()  # the model loads outside any timing
        return self

    def summarize(self, text: str, title: str | None, length: str) -> list[str]:
        """Blocking; call it from a thread other than the event loop's."""
        future = asyncio.run_coroutine_threadsafe(self.llm.summarize(text, title=title, length=length), self._loop)
        summary = future.result()
        self.labels.append(summary.summarizer)
        return summary.points

    def outcomes(self) -> dict:
        def counts(counter) -> dict:
            return {s.labels["outcome"]: int(s.value) for m in counter.collect() for s in m.samples if s.name.endswith("_total")}

        return {
            "requests": counts(self.metrics.llm_requests),
            "points": counts(self.metrics.llm_points),
            "summaries_by": {label: self.labels.count(label) for label in sorted(set(self.labels))},
        }

    def describe(self) -> str:
        o = self.outcomes()
        fmt = lambda d: ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "none"  # noqa: E731
        return f"{self.name}: requests {fmt(o['requests'])}; points {fmt(o['points'])}; summaries by {fmt(o['summaries_by'])}"

    async def close(self) -> None:
        await self.llm.client.close()
        self.inference.close()
