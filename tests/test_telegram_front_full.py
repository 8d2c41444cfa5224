"""A front's webhook when Redis is full: 503 (Telegram delivers the update again), and one
log line a minute, not a traceback per update."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from adapters.telegram.webhook import SECRET_HEADER, Webhook
from bot.store.redis_store import StoreFull


class FullQueue:
    async def submit(self, key, platform, payload):
        raise StoreFull()


async def test_a_full_redis_is_one_log_line_a_minute_and_503(caplog):
    """Fails before the fix: every refused update logged StoreFull with a full traceback."""
    webhook = Webhook(SimpleNamespace(bot=None), "s3cret", "123456", inline=None, queue=FullQueue())
    app = web.Application()
    app.router.add_post("/hook", webhook.on_webhook)
    message = {"message_id": 1, "date": 0, "chat": {"id": 7, "type": "private"}, "text": "https://example.org/a"}
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        with caplog.at_level(logging.INFO, logger="adapters.telegram.webhook"):
            for n in range(3):
                answer = await client.post(
                    "/hook", data=json.dumps({"update_id": n, "message": message}), headers={SECRET_HEADER: "s3cret"}
                )
                assert answer.status == 503
    records = [r for r in caplog.records if r.name == "adapters.telegram.webhook"]
    assert len(records) == 1 and records[0].exc_info is None
    assert str(StoreFull()) in records[0].getMessage()
