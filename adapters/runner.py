"""`summary-bot run`: every chat platform whose credentials are set, in one process.

Each platform is a `ChatService`. Services that receive HTTP (Telegram webhooks, Slack
events) add routes to one shared aiohttp application, served on SUMMARY_BOT_HTTP_PORT.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Protocol

from aiohttp import web

from bot.config import Settings
from bot.core import SummaryBot
from bot.digest.scheduler import DigestScheduler
from bot.models import ChatRef, Reply

log = logging.getLogger(__name__)


class ChatService(Protocol):
    platform: str  # matches ChatRef.platform of the chats it serves

    def add_routes(self, app: web.Application) -> None:
        """Register HTTP endpoints (webhooks, events) on the shared server, if any."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, chat: ChatRef, replies: list[Reply]) -> None:
        """Post replies to a chat unprompted (daily digests); raise if not accepted."""


def configured_services(settings: Settings, bot: SummaryBot) -> list[ChatService]:
    services: list[ChatService] = []
    if settings.telegram_token:
        from adapters.telegram import TelegramService

        services.append(TelegramService(settings, bot))
    if settings.slack_bot_token or (settings.slack_client_id and settings.slack_client_secret):
        from adapters.slack import SlackService

        services.append(SlackService(settings, bot))
    return services


async def run_services(
    settings: Settings, bot: SummaryBot, services: list[ChatService], stop: asyncio.Event | None = None
) -> None:
    """Start the services (and the HTTP server if any of them needs it), run until `stop`
    is set or the process gets SIGINT/SIGTERM, then shut everything down."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
            pass

    app = web.Application()
    app.router.add_get("/healthz", _healthz)
    for service in services:
        service.add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    started: list[ChatService] = []
    # Every process runs the digest scheduler; the store makes sure each digest goes out once.
    scheduler = DigestScheduler(bot.digests, {service.platform: service.send for service in services})
    scheduler_task: asyncio.Task | None = None
    try:
        if len(app.router.routes()) > 1:  # more than the health check
            await web.TCPSite(runner, settings.http_host, settings.http_port).start()
            log.info("listening on %s:%s", settings.http_host, settings.http_port)
        for service in services:
            await service.start()
            started.append(service)
            log.info("%s adapter started", service.platform)
        scheduler_task = asyncio.create_task(scheduler.run(stop))
        await stop.wait()
    finally:
        if scheduler_task is not None:
            scheduler_task.cancel()
            await asyncio.gather(scheduler_task, return_exceptions=True)
        for service in reversed(started):
            try:
                await service.stop()
            except Exception:
                log.exception("stopping the %s adapter failed", service.platform)
        await runner.cleanup()


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")
