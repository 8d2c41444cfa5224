"""All model work of a process goes through one `InferenceService`, built once where the
program is assembled and passed to the pipeline, the related finder and the digest.

`LocalInference` is the embedded default: one model thread runs one job at a time (torch
already spreads each call over the cores; two calls at once would only fight for them),
jobs wait in a bounded queue (when it is full, `ModelBusy`: the chat is told to try again,
memory never grows), and each job has a time budget counted from its start. A job over
budget is stopped at its next check (`check_deadline`, called between encoder batches and
generation chunks) and answered with `ModelTimeout`; a call that cannot check (one ONNX
Runtime run) registers `on_stop` to be told, and sets its RunOptions.terminate. The model is loaded by the model thread
before its first job (or by `warm_up`), outside any budget; a process that only serves
cached summaries never loads it.

A job that does not come back (stuck in one long call that never checks its deadline) is
answered with `ModelTimeout` and its thread is given up on: a Python thread cannot be
killed, so it goes on running, and a fresh model thread takes the queue. The models are
never used from two threads at once (the fast tokenizer fails with "Already borrowed" when
it is, and two torch calls would fight for the cores anyway): a thread holds the models,
under the service's lock, for as long as its job's work runs, and a thread given up on
keeps holding them until its work returns. The fresh thread's job waits for them within
its own budget. A second copy of the models for the fresh thread would double the memory
and take a model load, for a case that usually means the process needs a restart anyway.

So at most one thread is ever given up on at a time. If the next job's budget also runs
out waiting for the models, the stuck job has held them for two budgets and is not coming
back soon: the service is unhealthy (`healthy` False, the `summary_bot_model_healthy`
gauge 0). Queued and new jobs are then refused at once with `ModelStuck`, /healthz answers
503 and a worker exits for its supervisor to restart it. If the stuck job does come back,
the models are free again and the service is healthy again. Each job is counted once: a
job given up on counts as a timeout, whatever its thread does later.

The service is thread-based rather than tied to one event loop, so a test session or a
benchmark can share one loaded model across loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np

from bot.config import Settings
from bot.i18n import Msg

log = logging.getLogger(__name__)
T = TypeVar("T")

BUSY = Msg("I'm busy with a lot of summaries right now. Please try again in a minute.")
CLOSING = Msg("I'm restarting, so I couldn't summarize that. Please try again in a minute.")
STUCK = Msg(
    "My summarizer is stuck and needs a restart, so I can't summarize anything right now. "
    "Please try again in a few minutes."
)


class ModelBusy(Exception):
    """The model cannot take the job now (too much queued, the service closing or stuck);
    str(exc) is a friendly sentence for the chat."""

    def __init__(self, message: str = BUSY) -> None:
        super().__init__(message)


class ModelStuck(ModelBusy):
    """The service is unhealthy: a job that would not stop holds the models (see the
    module's docstring). Refused at once; the process needs a restart."""

    def __init__(self) -> None:
        super().__init__(STUCK)


class ModelTimeout(Exception):
    """A job ran over its time budget; str(exc) is a friendly sentence for the chat."""

    def __init__(self, budget: float) -> None:
        super().__init__(Msg("Summarizing that took longer than {seconds} seconds, so I gave up on it.", seconds=f"{budget:g}"))


class BudgetExceeded(Exception):
    """Raised inside model work by `check_deadline` once its job's budget is spent."""


@dataclass
class Deadline:
    at: float  # time.monotonic()
    stopped: threading.Event = field(default_factory=threading.Event)
    # called once by stop(): how a call that does not return between checks (an ONNX
    # Runtime run) is told to stop, e.g. by setting its RunOptions.terminate
    _on_stop: list[Callable[[], None]] = field(default_factory=list)
    _hooks_lock: threading.Lock = field(default_factory=threading.Lock)

    def expired(self) -> bool:
        return self.stopped.is_set() or time.monotonic() > self.at

    def stop(self) -> None:
        """The job is to stop: `check_deadline` raises from now on and the running call's
        stop hooks run (quick, non-blocking: the watchdog calls this under its lock)."""
        with self._hooks_lock:
            self.stopped.set()
            hooks, self._on_stop = self._on_stop, []
        for hook in hooks:
            hook()


_deadline: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("model_deadline", default=None)


def check_deadline() -> None:
    """Stop the current model job if its budget is spent. Cheap: call it between batches."""
    deadline = _deadline.get()
    if deadline is not None and deadline.expired():
        raise BudgetExceeded()


@contextlib.contextmanager
def on_stop(hook: Callable[[], None]) -> Iterator[None]:
    """Within the block, `hook()` is called if the current model job is stopped (its budget
    spent, its caller gone); at once if it already is. Outside a job, nothing."""
    deadline = _deadline.get()
    if deadline is None:
        yield
        return
    with deadline._hooks_lock:
        registered = not deadline.stopped.is_set()
        if registered:
            deadline._on_stop.append(hook)
    if not registered:
        hook()
    try:
        yield
    finally:
        with deadline._hooks_lock:
            if hook in deadline._on_stop:
                deadline._on_stop.remove(hook)


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

    @property
    def healthy(self) -> bool:
        """False while the service refuses all work until the process restarts (/healthz 503)."""
        ...

    def close(self) -> None: ...


@dataclass
class _Job:
    work: Callable[[Any], Any]  # called on the model thread with the loaded models
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    deadline: Deadline | None = None
    caller_gone: bool = False  # skipped if not started yet, stopped at its next check if running

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
    """The loaded encoder and summarizer (built on the model thread). The encoder's backend
    and threads come from the settings (SUMMARY_BOT_ENCODER_BACKEND, _ENCODER_THREADS)."""

    def __init__(self, settings: Settings):
        from bot.encoder import load_encoder
        from bot.summarize import build_summarizer

        self.encoder = load_encoder(settings)
        self.summarizer = build_summarizer(settings, self.encoder)


class LocalInference:
    """The in-process `InferenceService` (see the module's docstring).

    Everything the threads share (the queue, the running job, who holds the models, the
    health) changes only under `_cond`; the model work itself runs outside it."""

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
        from bot.encoder import encoder_identity

        self.encoder_identity = encoder_identity(settings)
        self._load_models = load_models
        self._models: Any = None
        self._load_error: BaseException | None = None
        self._loaded = threading.Event()
        self._cond = threading.Condition()
        self._jobs: deque[_Job] = deque()  # at most queue_size
        self._running: tuple[_Job, int] | None = None  # (job, generation of its thread), from its start
        self._generation = 0  # of the thread that serves the queue
        self._models_holder: int | None = None  # generation of the thread whose job's work is running
        self._given_up: dict[int, float] = {}  # generation -> when, for threads given up on still in model work
        self._stuck = False  # unhealthy: a job ran out of budget waiting for models a given-up thread holds
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
            metrics.watch_model_health(lambda: self.threads_stuck, lambda: self.healthy)

    # -- InferenceService ---------------------------------------------------------------
    async def summarize(self, text: str, *, title: str | None, length: str) -> list[str]:
        return await self.run(lambda models: models.summarizer.summarize(text, title=title, length=length))

    async def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return await self.run(lambda models: models.encoder.embed(texts))

    async def warm_up(self) -> None:
        with self._cond:
            if self._closed and not self._started:
                raise ModelBusy(CLOSING)  # nothing will ever load it
            self._start()
        await asyncio.get_running_loop().run_in_executor(None, self._loaded.wait)
        if self._load_error is not None:
            raise self._load_error

    @property
    def model_loaded(self) -> bool:
        return self._loaded.is_set() and self._load_error is None

    @property
    def healthy(self) -> bool:
        """False while a job that would not stop holds the models and the job after it ran
        out of budget waiting for them: all work is refused (`ModelStuck`) until it lets go."""
        return not self._stuck

    @property
    def threads_stuck(self) -> int:
        """Model threads given up on whose work is still running (0 or 1)."""
        return len(self._given_up)

    @property
    def queue_depth(self) -> int:
        return len(self._jobs)

    async def until_unhealthy(self, poll: float = 1.0) -> None:
        """Returns once the service is unhealthy: for a process that should then exit and
        be restarted by its supervisor."""
        while self.healthy:
            await asyncio.sleep(poll)

    def close(self) -> None:
        """Stop the model thread after its current job; queued jobs, and any job asked for
        from now on, are answered with `ModelBusy` at once."""
        with self._cond:
            self._closed = True
            dropped = list(self._jobs)
            self._jobs.clear()
            self._cond.notify_all()
        for job in dropped:
            job.deliver(error=ModelBusy(CLOSING))

    # -- running jobs --------------------------------------------------------------------
    async def run(self, work: Callable[[Any], T]) -> T:
        """`work(models)` on the model thread, within the budget. Raises ModelBusy when the
        queue is full or the service is closed, ModelStuck (a ModelBusy) when it is
        unhealthy, ModelTimeout when the budget runs out."""
        loop = asyncio.get_running_loop()
        job = _Job(work, loop, loop.create_future())
        with self._cond:  # one step with close(): a job is either queued for a live thread or refused
            if self._closed:
                raise ModelBusy(CLOSING)
            if self._stuck or len(self._jobs) >= self.queue_size:
                self.jobs_refused += 1
                self._count("refused")
                raise ModelStuck() if self._stuck else ModelBusy()
            self._jobs.append(job)
            self._start()
            self._cond.notify_all()
        try:
            return await job.future
        except asyncio.CancelledError:
            with self._cond:
                job.caller_gone = True
                if job.deadline is not None:  # running: stopped at its next check
                    job.deadline.stop()
                    self._cond.notify_all()
                else:  # still queued: its place is free at once
                    try:
                        self._jobs.remove(job)
                    except ValueError:
                        pass
            raise

    def _start(self) -> None:  # with self._cond held
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
        if not self._loaded.is_set():  # only the first thread loads, before any job starts
            try:
                self._models = self._load_models(self.settings)
            except BaseException as exc:  # every job will report it
                log.exception("loading the model failed")
                self._load_error = exc
            self._loaded.set()
        while True:
            job = self._take_job(generation)
            if job is None:
                return
            if not self._run_one(job, generation):
                return  # given up on while the job ran: a fresh thread serves the queue

    def _take_job(self, generation: int) -> _Job | None:
        """The next job, started (its budget counting) and holding the models; None when
        this thread should end (closed, or replaced by a fresh thread)."""
        with self._cond:
            while True:
                while not self._closed and self._generation == generation and (self._stuck or not self._jobs):
                    self._cond.wait()
                if self._closed or self._generation != generation:
                    return None
                job = self._jobs.popleft()
                if job.caller_gone:
                    continue
                if self._load_error is not None:
                    job.deliver(error=RuntimeError(f"the model could not be loaded: {self._load_error}"))
                    continue
                job.deadline = Deadline(time.monotonic() + self.budget)
                self._running = (job, generation)
                self._cond.notify_all()  # the watchdog
                # A thread given up on may still hold the models: wait for them, within the budget.
                while self._models_holder is not None and not job.deadline.expired() and not self._closed:
                    self._cond.wait(max(0.0, job.deadline.at - time.monotonic()))
                if self._models_holder is None and not job.deadline.expired() and not self._closed:
                    self._models_holder = generation
                    return job
                self._running = None
                self._cond.notify_all()
                if self._closed:
                    job.deliver(error=ModelBusy(CLOSING))
                    return None
                if job.caller_gone:
                    continue
                self.jobs_timed_out += 1
                self._count("timeout")
                if self._models_holder is not None and self._given_up:
                    self._become_unhealthy()
                    job.deliver(error=ModelStuck())
                else:  # the budget ran out just as the models came free
                    job.deliver(error=ModelTimeout(self.budget))

    def _become_unhealthy(self) -> None:  # with self._cond held
        if self._stuck:
            return
        self._stuck = True
        since = time.monotonic() - min(self._given_up.values())
        log.error(
            "the model is stuck: a job given up on %.0f s ago still holds it and the next job ran out of "
            "its %gs budget waiting; refusing model jobs until it lets go (a restart frees it)", since, self.budget
        )  # fmt: skip
        dropped = list(self._jobs)
        self._jobs.clear()
        for job in dropped:
            self.jobs_refused += 1
            self._count("refused")
            job.deliver(error=ModelStuck())

    def _run_one(self, job: _Job, generation: int) -> bool:
        """Run `job` (this thread holds the models) and answer it, unless the watchdog gave
        up on it meanwhile. False when this thread was given up on and should end."""
        assert job.deadline is not None
        token = _deadline.set(job.deadline)
        result: Any = None
        error: BaseException | None = None
        outcome = "done"
        try:
            result = job.work(self._models)
        except BudgetExceeded:
            outcome, error = "timeout", ModelTimeout(self.budget)
        except BaseException as exc:
            outcome, error = "error", exc
        finally:
            _deadline.reset(token)
        with self._cond:
            self._models_holder = None
            self._cond.notify_all()  # a fresh thread's job may be waiting for the models
            given_up_at = self._given_up.pop(generation, None)
            if given_up_at is not None:
                # Answered and counted by the watchdog already; the models are free again.
                since = time.monotonic() - given_up_at
                log.warning("a model job given up on came back %.0f s later; the model is free again", since)
                if self._stuck:
                    self._stuck = False
                    log.warning("the model is healthy again: taking model jobs")
                return False
            if self._running is not None and self._running[0] is job:
                self._running = None
            if outcome == "done":
                self.jobs_done += 1
                self._count("done")
            elif outcome == "timeout":
                self.jobs_timed_out += 1
                self._count("timeout")
        job.deliver(result, error)
        return True

    def _watch(self) -> None:
        """Answers a job that overruns its budget and, if its thread is stuck in model work,
        gives up on that thread and starts a fresh one for the queue. Runs until the service
        is closed and no job is running."""
        grace = min(1.0, self.budget / 10)  # time for a cooperative stop before giving up on the thread
        with self._cond:
            while True:
                if self._running is None:
                    if self._closed:
                        return
                    self._cond.wait()
                    continue
                job, generation = self._running
                assert job.deadline is not None
                now = time.monotonic()
                if now < job.deadline.at:
                    self._cond.wait(job.deadline.at - now)
                    continue
                if not job.deadline.stopped.is_set():
                    job.deadline.stop()
                    self._cond.notify_all()  # a job waiting for the models gives up on them
                if now < job.deadline.at + grace or self._models_holder != generation:
                    # Not yet past the grace, or its thread is not in model work (it answers the job itself).
                    self._cond.wait(max(job.deadline.at + grace - now, grace / 10))
                    continue
                log.warning("a model job is stuck past its %gs budget; giving up on its thread", self.budget)
                self._given_up[generation] = now
                self.threads_abandoned += 1
                self.jobs_timed_out += 1
                self._count("timeout")
                self._running = None
                job.deliver(error=ModelTimeout(self.budget))
                if not self._closed:
                    self._spawn_model_thread()
