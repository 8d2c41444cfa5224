"""The process's Prometheus metrics (prometheus-client), served on /metrics.

One `Metrics` is built where the program is assembled, in a registry of its own (not the
library's global one), and passed to whatever counts: the core (messages, errors), the
pipeline (summaries, stage latencies), the scheduler (digests), the adapters (429s).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

STAGE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.messages = Counter(
            "summary_bot_messages", "Messages handled, by platform and kind (link, text, command name, chatter)",
            ["platform", "kind"], registry=registry,
        )  # fmt: skip
        self.summaries = Counter(
            "summary_bot_summaries", "Summaries served, by source: cached or computed", ["source"], registry=registry
        )
        self.stage_seconds = Histogram(
            "summary_bot_stage_seconds", "Time spent per stage: fetch, extract, summarize", ["stage"],
            buckets=STAGE_BUCKETS, registry=registry,
        )  # fmt: skip
        self.errors = Counter(
            "summary_bot_errors", "Errors answered, by kind: fetch, extract, busy, timeout, internal",
            ["kind"], registry=registry,
        )  # fmt: skip
        self.model_queue_depth = Gauge(
            "summary_bot_model_queue_depth", "Model jobs waiting for the model thread", registry=registry
        )
        self.model_threads_stuck = Gauge(
            "summary_bot_model_threads_stuck", "Model threads given up on (a job past its budget that did not stop) "
            "whose work still runs and holds the model: 0 or 1", registry=registry,
        )  # fmt: skip
        self.model_healthy = Gauge(
            "summary_bot_model_healthy", "1 while the model takes jobs; 0 once a stuck job has held it past the next "
            "job's budget: model jobs are refused and /healthz says 503 until it lets go or the process restarts",
            registry=registry,
        )  # fmt: skip
        self.model_jobs = Counter(
            "summary_bot_model_jobs", "Model jobs finished, by outcome: done, timeout, refused", ["outcome"],
            registry=registry,
        )  # fmt: skip
        self.digests = Counter(
            "summary_bot_digests", "Daily digests, by outcome: sent, empty, skipped, failed", ["outcome"],
            registry=registry,
        )  # fmt: skip
        self.llm_requests = Counter(
            "summary_bot_llm_requests", "Requests to the LLM server, by outcome: ok, timeout, rate_limited, error, "
            "unreachable, empty, unparseable (all but ok fall back to the extractive summary)", ["outcome"],
            registry=registry,
        )  # fmt: skip
        self.llm_points = Counter(
            "summary_bot_llm_points", "Points the LLM wrote, by outcome: kept, dropped (the article does not "
            "support them), duplicate", ["outcome"], registry=registry,
        )  # fmt: skip
        self.platform_429s = Counter(
            "summary_bot_platform_429", "Rate-limit answers (429) from a chat platform's API", ["platform"],
            registry=registry,
        )  # fmt: skip
        # Scaled out (adapters/queue.py, adapters/worker.py); read when /healthz or /metrics is asked.
        self.redis_used_memory = Gauge(
            "summary_bot_redis_used_memory_bytes", "Memory Redis uses (INFO memory used_memory)", registry=registry
        )
        self.redis_max_memory = Gauge(
            "summary_bot_redis_maxmemory_bytes", "Redis's maxmemory (0: no limit)", registry=registry
        )
        self.redis_full = Gauge(
            "summary_bot_redis_full", "1 while Redis refuses writes for memory (/healthz says 503)", registry=registry
        )
        self.foreign_messages = Counter(
            "summary_bot_foreign_messages", "Message jobs for a platform this worker has no credentials for, by "
            "platform and outcome: left (back in the queue for a worker that has them), dropped (no worker took "
            "it in time)", ["platform", "outcome"], registry=registry,
        )  # fmt: skip

    def watch_model_queue(self, depth: Callable[[], int]) -> None:
        self.model_queue_depth.set_function(depth)

    def watch_model_health(self, stuck: Callable[[], int], healthy: Callable[[], bool]) -> None:
        self.model_threads_stuck.set_function(stuck)
        self.model_healthy.set_function(lambda: 1.0 if healthy() else 0.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
