"""/summary: a link or a text summarized on request, at a length, or privately; and
`/summary reaction`, a setting routed to bot.handlers.settings."""

from __future__ import annotations

from bot.commands import Command
from bot.handlers import Handler
from bot.handlers.buttons import LengthButtons
from bot.handlers.settings import ChatSettingsCommands
from bot.handlers.summarizing import LENGTHS, MIN_PASTED_WORDS, ONLY_WEB_LINKS, Summarizer
from bot.i18n import Languages
from bot.links import find_urls, other_scheme
from bot.models import Incoming, Reply
from bot.sentences import word_count


class SummaryCommand:
    def __init__(
        self, summarizer: Summarizer, buttons: LengthButtons, chat_settings: ChatSettingsCommands, languages: Languages
    ):
        self.summarizer = summarizer
        self.buttons = buttons
        self.chat_settings = chat_settings
        self.languages = languages

    def handlers(self) -> dict[str, Handler]:
        return {"summary": self.summary}

    async def summary(self, message: Incoming, command: Command) -> list[Reply]:
        words = command.words
        if 1 <= len(words) <= 2 and words[0].lower() == "reaction":  # a setting (its ACL: bot.commands)
            return await self.chat_settings.reaction(message, words[1:])
        length, private = None, False
        while words and words[0].lower() in (*LENGTHS, "private"):
            option = words.pop(0).lower()
            if option == "private":
                private = True
            else:
                length = option
        target = " ".join(words) if words else (message.reply_to_text or "")
        if not target.strip():
            return [Reply(error=self.languages.get(message.language)._("Usage: /summary <link or text>, or reply /summary to a message with a link."))]
        t = self.languages.get(message.language)
        urls = find_urls(target)
        if urls:
            replies = await self.summarizer.summarize_links(message, urls, length, record_history=not private)
            if not private:  # a private request's link would stay behind the buttons
                await self.buttons.attach(message, replies, length)
        elif word_count(target) < MIN_PASTED_WORDS and (scheme := other_scheme(target)):  # as in a message
            replies = [Reply(error=t._(ONLY_WEB_LINKS, scheme=scheme))]
        elif word_count(target) < 5:
            replies = [Reply(error=t._("That's too short to summarize. Send a link or a longer text."))]
        else:
            replies = await self.summarizer.summarize_text(message, target, length)
        for reply in replies:
            reply.private = private
        return replies
