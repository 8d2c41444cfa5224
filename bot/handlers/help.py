"""/help (and /start): the help text from the command registry, and /start's deep links
from inline mode (bot/inline.py)."""

from __future__ import annotations

import re

from bot.commands import Command, CommandInfo, help_lines
from bot.config import Settings
from bot.handlers import Handler
from bot.handlers.summarizing import Summarizer
from bot.i18n import N_, Languages
from bot.inline import INLINE_ID, InlineDigests
from bot.models import Incoming, Reply

# The command lines come from the one command registry (bot.commands.REGISTRY).
HELP_TEXT = N_("""\
I summarize articles. Send me a link (or several, up to {max_links}) or paste a long text, \
and I reply with the title, source, key points, reading time and related articles.

Commands:
{commands}

In groups: with privacy mode on (the default for Telegram bots) I only see commands, \
mentions and replies to my messages, so use /summary <link> there, or make me an admin \
(or turn privacy mode off with @BotFather) to have shared links summarized automatically.""")
INLINE_EXPIRED = N_("That link has expired. Send it to me here and I'll summarize it.")


class HelpCommand:
    def __init__(
        self,
        settings: Settings,
        registry: tuple[CommandInfo, ...],
        inline: InlineDigests,
        summarizer: Summarizer,
        languages: Languages,
    ):
        self.settings = settings
        self.registry = registry
        self.inline = inline
        self.summarizer = summarizer
        self.languages = languages

    def handlers(self) -> dict[str, Handler]:
        return {"help": self.help}

    def help_text(self, language: str | None = None) -> str:
        t = self.languages.get(language)
        return t._(HELP_TEXT, max_links=self.settings.max_links_per_message, commands=help_lines(self.registry, t._))

    async def help(self, message: Incoming, command: Command) -> list[Reply]:
        if command.name == "start" and command.args:  # a deep link's start parameter (t.me/<bot>?start=<id>)
            return await self._start_link(message, command.args)
        return [Reply(text=self.help_text(message.language))]

    async def _start_link(self, message: Incoming, start_id: str) -> list[Reply]:
        """`/start <id>` in a private chat: the digest of the link an inline query's button
        stands for (bot/inline.py), as a private request (nothing kept under the chat; not
        counted again: the inline query was). Any other start parameter is /help."""
        if message.chat.kind != "private" or not re.fullmatch(INLINE_ID, start_id):
            return [Reply(text=self.help_text(message.language))]
        url = await self.inline.link_of(start_id)
        if url is None:
            return [Reply(error=self.languages.get(message.language)._(INLINE_EXPIRED))]
        return [await self.summarizer.summarize_link(url, None, message, False)]
