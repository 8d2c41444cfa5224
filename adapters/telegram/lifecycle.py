"""The chat's lifecycle (issue 18), through the core's privacy service (bot.privacy).

The bot removed from a group, supergroup or channel, or blocked by a private chat's user
(`my_chat_member` left/kicked), erases that chat's data; so does a send refused with 403
for one of those reasons (`ChatGone`, sending.py: a daily digest stops there, never
retried). A group upgraded to a supergroup (its service messages, or `ChatMigrated` on
send) has its data moved to the new id.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import ChatMemberUpdated
from telegram.ext import Application

from adapters.telegram.updates import removed_chat
from bot.models import ChatRef

log = logging.getLogger(__name__)


class Lifecycle:
    def __init__(self, application: Application, privacy):
        self.application = application
        self.privacy = privacy  # the core's erasure and migration service (bot.privacy)
        self._moving = asyncio.Lock()  # a group's two migration messages arrive together

    async def on_membership(self, change: ChatMemberUpdated) -> None:
        """The bot left, was removed from, or was blocked in a chat: erase that chat."""
        chat = removed_chat(change, self.application.bot.id)
        if chat is not None:
            log.info("telegram: the bot is out of a %s chat (%s); erasing its data", chat.kind, change.new_chat_member.status)
            await self.privacy.erase_chat(chat)

    async def move(self, old: ChatRef, new: ChatRef) -> None:
        """A group became a supergroup: its data to the new id. Both the old group's and the
        new supergroup's service message say so; whichever comes second finds nothing left."""
        async with self._moving:
            if (await self.privacy.inventory(old)).empty:
                return
            moved = await self.privacy.move_chat(old, new)
        log.info("telegram: group %s became supergroup %s; moved %d keys", old.chat_id, new.chat_id, moved)
