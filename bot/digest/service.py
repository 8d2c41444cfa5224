"""The daily digest's parts, wired together once per process (SummaryBot owns one).

Commands, the scheduler, the CLI preview and the core's share recording all go through
this object, so they read and write the same keys the same way.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.digest.compose import DigestComposer, PendingDigest
from bot.digest.feeds import Feeds
from bot.digest.history import ShareHistory
from bot.digest.localtime import Clock, LocalTimeError, parse_time_zone, utc_now
from bot.digest.subscriptions import Subscriptions, subscription_key
from bot.extract import Extractor
from bot.fetch import Fetcher
from bot.i18n import Languages, Translator, normalize
from bot.inference import InferenceService
from bot.related.vectors import ArticleVectors
from bot.models import ChatRef
from bot.store import Store, keys

FIRST_PERIOD = timedelta(days=1)  # what a chat's first digest looks back over


def chat_settings_key(chat: ChatRef) -> str:
    return keys.chat_settings(chat.key)  # the per-chat settings hash of bot.core (autosummary, tz)


class DigestService:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        fetcher: Fetcher,
        extractor: Extractor,
        inference: InferenceService,
        clock: Clock = utc_now,
        languages: Languages | None = None,
    ):
        self.settings = settings
        self.languages = languages or Languages()
        self.store = store
        self.clock = clock
        self.subscriptions = Subscriptions(store)
        vectors = ArticleVectors(store, inference, ttl=settings.summary_cache_ttl)
        self.history = ShareHistory(store, settings.history_days, vectors)
        self.feeds = Feeds(store, fetcher, extractor)
        self.composer = DigestComposer(settings, self.history, self.feeds, vectors)

    async def chat_zone(self, chat: ChatRef) -> ZoneInfo:
        """The time zone stored for the chat (by /subscribe), else UTC."""
        stored = await self.store.hget(chat_settings_key(chat), "tz")
        try:
            return parse_time_zone(stored.decode()) if stored else ZoneInfo("UTC")
        except LocalTimeError:  # a zone the system's tz database no longer has
            return ZoneInfo("UTC")

    async def remember_zone(self, chat: ChatRef, zone: ZoneInfo) -> None:
        await self.store.hset(chat_settings_key(chat), "tz", zone.key.encode())

    async def language(self, chat: ChatRef) -> str:
        """A scheduled digest's language: the chat's choice (/language), else that of whoever
        subscribed, else English."""
        for key in (chat_settings_key(chat), subscription_key(chat.key)):
            raw = await self.store.hget(key, "language")
            if code := normalize(raw.decode(errors="replace") if raw else None):
                return code
        return "en"

    async def digest_until(
        self, chat: ChatRef, now: datetime, *, daily: bool, t: Translator | None = None
    ) -> PendingDigest | None:
        """The chat's digest of everything since its last one (or the last day), up to
        `now`, as the scheduler would compose it (in `t`'s language, else the chat's);
        None when there is nothing new."""
        t = t or self.languages.get(await self.language(chat))
        subscription = await self.subscriptions.get(chat.key)
        zone = subscription.zone if subscription else await self.chat_zone(chat)
        since = subscription.last_sent if subscription and subscription.last_sent else now - FIRST_PERIOD
        return await self.composer.compose(chat, since, now, zone, daily=daily, t=t)
