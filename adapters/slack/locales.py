"""Each Slack user's language (`users.info` with `include_locale`: "ru-RU"), the hint the
core uses where a channel chose none (`/summary language <code>`). Cached in memory, per
process: a locale rarely changes and every message would otherwise cost a Web API call.
Needs the `users:read` scope; without it (or on any failure) the hint is None: English."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict

from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

LOCALE_TTL = 3600.0  # seconds a user's locale is trusted
MAX_USERS = 10_000  # the cache's bound: the least recently asked go first


class UserLocales:
    def __init__(self, ttl: float = LOCALE_TTL, size: int = MAX_USERS):
        self.ttl = ttl
        self.size = size
        self._known: OrderedDict[tuple[str, str], tuple[float, str | None]] = OrderedDict()

    async def of(self, client: AsyncWebClient, team_id: str | None, user_id: str) -> str | None:
        """The user's Slack locale ("de-DE"), or None where Slack would not tell."""
        if not user_id:
            return None
        key = (team_id or "", user_id)
        now = time.monotonic()
        cached = self._known.get(key)
        if cached is not None and now - cached[0] < self.ttl:
            self._known.move_to_end(key)
            return cached[1]
        try:
            user = (await client.users_info(user=user_id, include_locale=True)).get("user") or {}
            locale = user.get("locale") if isinstance(user.get("locale"), str) else None
        except Exception as exc:  # noqa: BLE001 - no scope, no user, Slack down: English it is
            log.debug("slack: no locale for a user: %s", exc)
            locale = None
        self._known[key] = (now, locale)
        self._known.move_to_end(key)
        while len(self._known) > self.size:
            self._known.popitem(last=False)
        return locale
