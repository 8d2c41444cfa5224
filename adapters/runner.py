"""`summary-bot run`: every chat platform whose credentials are set, in one process.

Each platform is a `ChatService`. Services that receive HTTP (Telegram webhooks, Slack
events) add routes to one shared aiohttp application, served on SUMMARY_BOT_HTTP_PORT,
with `/healthz`: 200 once the process can do its job (the model loaded; on a front of a
scaled-out deployment, Redis reachable), 503 before, and 503 again if its model gets stuck
(bot/inference.py: model jobs are refused until the stuck job lets go or a restart).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web

from bot.config import Settings, load_settings
from bot.core import SummaryBot
from bot.digest.scheduler import DigestScheduler
from bot.models import ChatRef, Reply
from bot.retention import RetentionSweeper

log = logging.getLogger(__name__)


class ChatService(Protocol):
    platform: str  # matches ChatRef.platform of the chats it serves

    def add_routes(self, app: web.Application) -> None:
        """Register HTTP endpoints (webhooks, events) on the shared server, if any."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, chat: ChatRef, replies: list[Reply]) -> None:
        """Post replies to a chat unprompted (daily digests); raise if not accepted."""


@dataclass
class Health:
    """What a readiness check found: true when the process can do its job. /healthz says
    its `notes` either way, one a line (a Redis that would lose acknowledged work on a
    restart: 200 still, with a warning)."""

    ok: bool
    notes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.ok


Readiness = Callable[[], Awaitable["bool | Health"]]


def configured_services(settings: Settings, bot: SummaryBot, *, queue=None) -> list[ChatService]:
    """The platforms whose credentials are set (each platform's settings are read here, with
    one-line errors). With a `queue` (a front of a scaled-out deployment) they enqueue what
    they receive instead of answering it."""
    from adapters.slack.settings import SlackSettings
    from adapters.telegram.settings import TelegramSettings

    services: list[ChatService] = []
    if queue is not None:
        queue.redis.metrics = bot.metrics  # Redis's memory, read by the front's checks, in its /metrics
    telegram = load_settings(TelegramSettings)
    if telegram.configured:
        from adapters.telegram import TelegramService

        services.append(TelegramService(telegram, bot, queue=queue))
    slack = load_settings(SlackSettings)
    if slack.configured:
        from adapters.slack import SlackService

        services.append(SlackService(slack, bot, queue=queue))
    return services


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
            pass


def health_route(ready: Readiness | None, inference=None) -> Callable[[web.Request], Awaitable[web.Response]]:
    """/healthz: 503 until `ready()`, and 503 whenever `inference` (the process's inference
    service) is unhealthy: a stuck model job holds the model and model jobs are refused."""

    async def healthz(request: web.Request) -> web.Response:
        if inference is not None and not getattr(inference, "healthy", True):
            return web.Response(status=503, text="model stuck")
        found = await ready() if ready is not None else True
        notes = [f"warning: {note}" for note in getattr(found, "notes", ())]
        if not found:
            return web.Response(status=503, text="\n".join(["unavailable", *notes] if notes else ["starting"]))
        return web.Response(text="\n".join(["ok", *notes]))

    return healthz


def metrics_route(metrics, refresh: Readiness | None = None) -> Callable[[web.Request], Awaitable[web.Response]]:
    """/metrics; `refresh` first reads what is measured elsewhere (Redis's memory)."""

    async def serve_metrics(request: web.Request) -> web.Response:
        if refresh is not None:
            try:
                await refresh()
            except Exception:  # the process's own metrics still count
                log.exception("reading metrics for /metrics failed")
        return web.Response(body=metrics.render(), headers={"Content-Type": metrics.content_type})

    return serve_metrics


async def run_services(
    settings: Settings,
    bot: SummaryBot,
    services: list[ChatService],
    stop: asyncio.Event | None = None,
    *,
    ready: Readiness | None = None,
    schedule_digests: bool = True,
) -> None:
    """Start the services (and the HTTP server if any of them needs it), run until `stop`
    is set or the process gets SIGINT/SIGTERM, then shut everything down. `ready` answers
    /healthz; `schedule_digests` False where workers send the daily digests."""
    stop = stop or asyncio.Event()
    stop_on_signals(stop)

    app = web.Application()
    app.router.add_get("/healthz", health_route(ready, bot.inference))
    app.router.add_get("/metrics", metrics_route(bot.metrics, refresh=ready))  # a front's check reads Redis's memory
    for service in services:
        service.add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    started: list[ChatService] = []
    # Every process runs the digest scheduler; the store makes sure each digest goes out once.
    scheduler = DigestScheduler(
        bot.digests, {service.platform: service.send for service in services}, metrics=bot.metrics,
        on_chat_gone=bot.privacy.erase_chat, on_chat_moved=bot.privacy.move_chat,  # blocked/removed; migrated
        fenced=bot.privacy.fenced,  # erased while its digest goes out: nothing of it stays
    )
    scheduler_task: asyncio.Task | None = None
    sweeper_task: asyncio.Task | None = None
    try:
        site = web.TCPSite(runner, settings.http_host, settings.http_port)
        await site.start()
        log.info("listening on %s", site.name)
        for service in services:
            await service.start()
            started.append(service)
            log.info("%s adapter started", service.platform)
        if schedule_digests:
            scheduler_task = asyncio.create_task(scheduler.run(stop))
            # retention runs where digests are scheduled (bot/retention.py)
            sweeper_task = asyncio.create_task(RetentionSweeper.of(bot).run(stop))
        await stop.wait()
    finally:
        for task in (scheduler_task, sweeper_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        for service in reversed(started):
            try:
                await service.stop()
            except Exception:
                log.exception("stopping the %s adapter failed", service.platform)
        await runner.cleanup()
