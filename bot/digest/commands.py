"""The digest's chat commands: /subscribe, /unsubscribe, /digest and /feeds.

Registered in SummaryBot.commands, so they behave the same on every platform. A command
with bad input answers with a friendly error and changes nothing. Who may run them
(/subscribe, /unsubscribe, /feeds add|remove: chat admins, outside private chats) is
checked by the core before they run (bot.acl).
"""

from __future__ import annotations

from datetime import time
from typing import Awaitable, Callable

from bot.commands import Command
from bot.digest.feeds import FeedError
from bot.digest.localtime import LocalTimeError, parse_time_of_day, parse_time_zone
from bot.digest.service import DigestService
from bot.i18n import N_, Languages
from bot.models import Incoming, Reply

DEFAULT_TIME = time(8, 0)
SUBSCRIBE_USAGE = N_("Usage: /subscribe [HH:MM] [Area/City], e.g. /subscribe 08:00 Europe/Berlin.")
FEEDS_USAGE = N_("Usage: /feeds add <feed URL>, /feeds remove <feed URL> or /feeds list.")


class DigestCommands:
    def __init__(self, digests: DigestService, languages: Languages):
        self.digests = digests
        self.languages = languages

    def handlers(self) -> dict[str, Callable[[Incoming, Command], Awaitable[list[Reply]]]]:
        return {
            "subscribe": self.subscribe,
            "unsubscribe": self.unsubscribe,
            "digest": self.digest,
            "feeds": self.feeds,
        }

    # -- /subscribe and /unsubscribe ------------------------------------------------------
    async def subscribe(self, message: Incoming, command: Command) -> list[Reply]:
        t = self.languages.get(message.language)
        words = command.words
        times = [word for word in words if word[:1].isdigit()]
        zones = [word for word in words if not word[:1].isdigit()]
        if len(times) > 1 or len(zones) > 1:
            return [Reply(error=t._(SUBSCRIBE_USAGE))]
        try:  # both parsed before anything is stored
            at = parse_time_of_day(times[0]) if times else None
            zone = parse_time_zone(zones[0]) if zones else None
        except LocalTimeError as exc:
            return [Reply(error=f"{t.text(exc.args[0])} {t._(SUBSCRIBE_USAGE)}")]
        chat = message.chat
        if at is None:  # `/subscribe Europe/Berlin` keeps the time already chosen
            current = await self.digests.subscriptions.get(chat.key)
            at = current.at if current else DEFAULT_TIME
        if zone is not None:
            await self.digests.remember_zone(chat, zone)
        else:
            zone = await self.digests.chat_zone(chat)
        now = self.digests.clock()
        subscription = await self.digests.subscriptions.subscribe(chat, at, zone, now, t.code)
        first = subscription.next_due(now)[1].astimezone(zone)
        return [
            Reply(
                text=t._(
                    "OK, every day at {when} I'll post a digest of the links shared here and of new items in "
                    "this chat's feeds (/feeds). The first comes on {day} at {time}. /unsubscribe stops it.",
                    when=subscription.describe(),
                    day=t.date(first),
                    time=f"{first:%H:%M}",
                )
            )
        ]

    async def unsubscribe(self, message: Incoming, command: Command) -> list[Reply]:
        t = self.languages.get(message.language)
        if not await self.digests.subscriptions.unsubscribe(message.chat):
            return [Reply(error=t._("This chat has no daily digest to stop. /subscribe starts one."))]
        return [Reply(text=t._("OK, no more daily digests here. /subscribe brings them back."))]

    # -- /digest --------------------------------------------------------------------------
    async def digest(self, message: Incoming, command: Command) -> list[Reply]:
        t = self.languages.get(message.language)
        pending = await self.digests.digest_until(message.chat, self.digests.clock(), daily=False, t=t)
        if pending is None:
            return [Reply(text=t._("Nothing new has been shared here since the last digest (or in the last day)."))]
        return [Reply(daily=pending.daily)]

    # -- /feeds ---------------------------------------------------------------------------
    async def feeds(self, message: Incoming, command: Command) -> list[Reply]:
        t = self.languages.get(message.language)
        words = command.words
        action = words[0].lower() if words else "list"
        if action == "list" and len(words) <= 1:
            return [await self._list_feeds(message)]
        if action not in ("add", "remove") or len(words) != 2:
            return [Reply(error=t._(FEEDS_USAGE))]
        feeds, url = self.digests.feeds, words[1]
        if action == "remove":
            if await feeds.remove(message.chat, url):
                return [Reply(text=t._("OK, this chat no longer follows {url}.", url=url))]
            return [Reply(error=t._("This chat doesn't follow {url}. /feeds list shows the feeds it follows.", url=url))]
        try:
            state = await feeds.add(message.chat, url, self.digests.clock())
        except FeedError as exc:
            return [Reply(error=t.text(exc.args[0]) if exc.args and isinstance(exc.args[0], str) else str(exc))]
        return [
            Reply(
                text=t.ngettext(
                    "OK, this chat now follows “{title}” ({count} item so far). "
                    "New items will appear in its daily digest (/subscribe to get one).",
                    "OK, this chat now follows “{title}” ({count} items so far). "
                    "New items will appear in its daily digest (/subscribe to get one).",
                    len(state.items),
                    title=state.title,
                )
            )
        ]

    async def _list_feeds(self, message: Incoming) -> Reply:
        t = self.languages.get(message.language)
        followed = await self.digests.feeds.followed(message.chat)
        if not followed:
            return Reply(text=t._("This chat follows no feeds. Add one with /feeds add <feed URL>."))
        lines = [f"• {entry['title'] or entry['url']} – {entry['url']}" for entry in followed.values()]
        return Reply(text=t._("This chat follows:") + "\n" + "\n".join(lines))
