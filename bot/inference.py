"""All model work of a process goes through one `InferenceService`, built once where the
program is assembled and passed to the pipeline, the related finder and the digest.

`LocalInference` is the embedded default: one model thread runs one job at a time (torch
already spreads each call over the cores; two calls at once would only fight for them),
jobs wait in a bounded queue (when it is full, `ModelBusy`: the chat is told to try again,
memory never grows), and each job has a time budget counted from its start. A job over
budget is stopped at its next check (`check_deadline`, called between encoder batches and
generation chunks) and answered with `ModelTimeout`; if it does not come back, a fresh model
thread takes the next job anyway, so no job starts later than one budget after the one
before it. The model is loaded by the model thread before its first job (or by `warm_up`),
outside any budget; a process that only serves cached summaries never loads it.

The service is thread-based rather than tied to one event loop, so a test session or a
benchmark can share one loaded model across loops.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np

from bot.config import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


class ModelBusy(Exception):
    """Too much model work is queued; str(exc) is a friendly sentence for the chat."""

    def __init__(self) -> None:
        super().__init__("I'm busy with a lot of summaries right now. Please try again in a minute.")


class ModelTimeout(Exception):
    """A job ran over its time budget; str(exc) is a friendly sentence for the chat."""

    def __init__(self, budget: float) -> None:
        super().__init__(f"Summarizing that took longer than {budget:g} seconds, so I gave up on it.")


class BudgetExceeded(Exception):
    """Raised inside model work by `check_deadline` once its job's budget is spent."""


@dataclass
class Deadline:
    at: float  # time.monotonic()
    stopped: threading.Event = field(default_factory=threading.Event)

    def expired(self) -> bool:
        return self.stopped.is_set() or time.monotonic() > self.at


_deadline: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("model_deadline", default=None)


def check_deadline() -> None:
    """Stop the current model job if its budget is spent. Cheap: call it between batches."""
    deadline = _deadline.get()
    if deadline is not None and deadline.expired():
        raise BudgetExceeded()


def time_left() -> float | None:
    """Seconds left in the current model job's budget; None outside a job (no budget)."""
    deadline = _deadline.get()
    if deadline is None:
        return None
    return 0.0 if deadline.stopped.is_set() else deadline.at - time.monotonic()


class InferenceService(Protocol):
    summarizer_identity: str  # name:version:model of the summarizer, for cache keys (no model load)
    encoder_identity: str  # which encoder made a stored vector

    async def summarize(self, text: str, *, title: str | None, length: str) -> list[str]: ...

    async def embed(self, texts: list[str]) -> np.ndarray:
        """One L2-normalised float32 row per text."""
        ...

    async def warm_up(self) -> None:
        """Load the model now rather than on the first job."""
        ...

    def close(self) -> None: ...


@dataclass
class _Job:
    work: Callable[[Any], Any]  # called on the model thread with the loaded models
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    deadline: Deadline | None = None
    abandoned: bool = False  # the caller went away before it started

    def deliver(self, result: Any = None, error: BaseException | None = None) -> None:
        def settle() -> None:
            if self.future.done():
                return
            if error is not None:
                self.future.set_exception(error)
            else:
                self.future.set_result(result)

        try:
            self.loop.call_soon_threadsafe(settle)
        except RuntimeError:  # the caller's loop is closed: nobody is waiting any more
            pass


class Models:
    """The loaded encoder and summarizer (built on the model thread)."""

    def __init__(self, settings: Settings):
        from bot.encoder import load_sentence_encoder
        from bot.summarize import build_summarizer

        self.encoder = load_sentence_encoder(settings.encoder_model, float32=settings.encoder_float32)
        self.summarizer = build_summarizer(settings, self.encoder)


class LocalInference:
    """The in-process `InferenceService` (see the module's docstring)."""

    def __init__(
        self,
        settings: Settings,
        *,
        queue_size: int | None = None,
        budget: float | None = None,
        load_models: Callable[[Settings], Any] = Models,
        metrics=None,
    ):
        from bot.summarize import summarizer_identity

        self.settings = settings
        self.queue_size = queue_size or settings.model_queue_size
        self.budget = budget or settings.model_job_budget
        self.summarizer_identity = summarizer_identity(settings)
        self.encoder_identity = str(settings.encoder_model or "packaged")
        self._load_models = load_models
        self._models: Any = None
        self._load_error: BaseException | None = None
        self._loaded = threading.Event()
        self._jobs: queue.Queue[_Job] = queue.Queue(maxsize=self.queue_size)
        self._cond = threading.Condition()
        self._running: tuple[_Job, int] | None = None  # (job, generation of its thread)
        self._generation = 0
        self._started = False
        self._closed = False
        # counters, for benchmarks and /metrics
        self.jobs_done = 0
        self.jobs_timed_out = 0
        self.jobs_refused = 0
        self.threads_abandoned = 0
        self.metrics = metrics  # bot.metrics.Metrics, if the program keeps them
        if metrics is not None:
            metrics.watch_model_queue(lambda: self.queue_depth)

    # -- InferenceService ---------------------------------------------------------------
    async def summarize(self, text: str, *, title: str | None, length: str) -> list[str]:
        return await self.run(lambda models: models.summarizer.summarize(text, title=title, length=length))

    async def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return await self.run(lambda models: models.encoder.embed(texts))

    async def warm_up(self) -> None:
        self._start()
        await asyncio.get_running_loop().run_in_executor(None, self._loaded.wait)
        if self._load_error is not None:
            raise self._load_error

    @property
    def model_loaded(self) -> bool:
        return self._loaded.is_set() and self._load_error is None

    @property
    def queue_depth(self) -> int:
        return self._jobs.qsize()

    def close(self) -> None:
        """Stop the model thread after its current job; queued jobs are dropped."""
        with self._cond:
            self._closed = True
            self._generation += 1
            self._cond.notify_all()
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            job.deliver(error=ModelBusy())
        try:
            self._jobs.put_nowait(None)  # type: ignore[arg-type]  # wakes the model thread
        except queue.Full:
            pass

    # -- running jobs --------------------------------------------------------------------
    async def run(self, work: Callable[[Any], T]) -> T:
        """`work(models)` on the model thread, within the budget. Raises ModelBusy when the
        queue is full, ModelTimeout when the budget runs out."""
        if self._closed:
            raise ModelBusy()
        loop = asyncio.get_running_loop()
        job = _Job(work, loop, loop.create_future())
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            self.jobs_refused += 1
            self._count("refused")
            raise ModelBusy() from None
        self._start()
        try:
            return await job.future
        except asyncio.CancelledError:
            job.abandoned = True  # skipped if not started; stopped at its next check if running
            if job.deadline is not None:
                job.deadline.stopped.set()
            raise

    def _start(self) -> None:
        with self._cond:
            if self._started or self._closed:
                return
            self._started = True
            self._spawn_model_thread()
            threading.Thread(target=self._watch, name="model-watchdog", daemon=True).start()

    def _count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.model_jobs.labels(outcome).inc()

    def _spawn_model_thread(self) -> None:  # with self._cond held
        self._generation += 1
        threading.Thread(
            target=self._model_thread, args=(self._generation,), name=f"model-{self._generation}", daemon=True
        ).start()

    def _model_thread(self, generation: int) -> None:
        if not self._loaded.is_set():
            try:
                self._models = self._load_models(self.settings)
            except BaseException as exc:  # every job will report it
                log.exception("loading the model failed")
                self._load_error = exc
            self._loaded.set()
        while True:
            job = self._jobs.get()
            with self._cond:
                if self._generation != generation or self._closed or job is None:
                    if job is not None:  # a newer thread serves the queue: hand the job back
                        self._requeue(job)
                    return
                if job.abandoned:
                    continue
                job.deadline = Deadline(time.monotonic() + self.budget)
                self._running = (job, generation)
                self._cond.notify_all()
            self._run_one(job)
            with self._cond:
                if self._running is not None and self._running[0] is job:
                    self._running = None
                if self._generation != generation:
                    return  # this thread was given up on while the job ran

    def _requeue(self, job: _Job) -> None:
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            job.deliver(error=ModelBusy())

    def _run_one(self, job: _Job) -> None:
        if self._load_error is not None:
            job.deliver(error=RuntimeError(f"the model could not be loaded: {self._load_error}"))
            return
        token = _deadline.set(job.deadline)
        try:
            result = job.work(self._models)
        except BudgetExceeded:
            self.jobs_timed_out += 1
            self._count("timeout")
            job.deliver(error=ModelTimeout(self.budget))
        except BaseException as exc:
            job.deliver(error=exc)
        else:
            self.jobs_done += 1
            self._count("done")
            job.deliver(result)
        finally:
            _deadline.reset(token)

    def _watch(self) -> None:
        """Answers a job that overruns its budget and, if its thread is stuck, starts a
        fresh model thread so the queue moves on."""
        grace = min(1.0, self.budget / 10)  # time for a cooperative stop before giving up on the thread
        with self._cond:
            while not self._closed:
                if self._running is None:
                    self._cond.wait()
                    continue
                job, generation = self._running
                remaining = job.deadline.at - time.monotonic()
                if remaining > 0:
                    self._cond.wait(remaining)
                    continue
                job.deadline.stopped.set()
                self._cond.wait(grace)
                if self._running is not None and self._running[0] is job and self._generation == generation:
                    log.warning("a model job is stuck past its %ss budget; starting a fresh model thread", self.budget)
                    self.threads_abandoned += 1
                    self.jobs_timed_out += 1
                    self._count("timeout")
                    job.deliver(error=ModelTimeout(self.budget))
                    self._running = None
                    self._spawn_model_thread()
