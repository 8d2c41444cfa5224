"""The webhook route on the shared HTTP server: Telegram's secret header checked, the body
read (bounded in time) and parsed as an update before anything else sees it.

In-process, the update goes on the application's own queue and Telegram is answered at
once. Scaled out (SUMMARY_BOT_WORKERS=external), a front puts the update on the job queue
(`MessageQueue`) and answers Telegram only once it is there (503 otherwise, so that
Telegram delivers it again); a worker then answers it (`Dispatch.answer_job`). An inline
query is answered here from the cache where it can be, and queued with a deadline if not.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import time

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from adapters.queue import FULL_LOG_SECONDS
from adapters.request_body import read_body, too_slow
from adapters.telegram.inline import InlineMode
from adapters.telegram.updates import PLATFORM
from bot.store.redis_store import StoreFull

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what Telegram accepts as a secret_token


class Webhook:
    def __init__(self, application: Application, secret: str, bot_id: str, inline: InlineMode, queue=None):
        self.application = application
        self.secret = secret
        self.bot_id = bot_id
        self.inline = inline
        self.queue = queue  # a MessageQueue on a front; None where this process answers itself
        self._full_logged = -FULL_LOG_SECONDS

    async def on_webhook(self, request: web.Request) -> web.Response:
        secret = request.headers.get(SECRET_HEADER, "")
        if not (secret.isascii() and hmac.compare_digest(secret.encode(), self.secret.encode())):
            return web.Response(status=403, text="forbidden")
        raw = await read_body(request)
        if raw is None:
            return too_slow()
        try:
            data = json.loads(raw)  # whatever the Content-Type claims: Telegram sends UTF-8 JSON
            update = Update.de_json(data, self.application.bot)
        except (ValueError, TypeError, KeyError, AttributeError):
            return web.Response(status=400, text="not a Telegram update")
        if update is None:
            return web.Response(status=400, text="not a Telegram update")
        if self.queue is None:
            # Answer Telegram at once; the update is handled in the background like a polled one.
            await self.application.update_queue.put(update)
            return web.Response(text="ok")
        payload = {"update": data}
        if update.inline_query is not None:
            payload = await self.inline.on_front(update.inline_query, data)
            if payload is None:
                return web.Response(text="ok")  # answered here, from the cache
        try:
            fresh = await self.queue.submit(f"telegram:{self.bot_id}:{update.update_id}", PLATFORM, payload)
        except StoreFull as exc:  # one line, once a minute: not a traceback per update
            now = time.monotonic()
            if now - self._full_logged >= FULL_LOG_SECONDS:
                self._full_logged = now
                log.error("telegram: could not enqueue update %s (%s); Telegram will deliver it again", update.update_id, exc)
            return web.Response(status=503, text="try again")
        except Exception:
            log.exception("telegram: could not enqueue update %s; Telegram will deliver it again", update.update_id)
            return web.Response(status=503, text="try again")
        if not fresh:
            log.info("telegram: update %s was delivered again; it is already queued or answered", update.update_id)
        return web.Response(text="ok")
