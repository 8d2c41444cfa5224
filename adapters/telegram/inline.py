"""Inline mode (`@bot <link>` in any chat, bot/inline.py): answerInlineQuery.

The query is answered with one article result whose message is the digest as a reply
would show it, from the cache at once or within `budget` seconds
(TelegramSettings.telegram_inline_budget); past it, with a button that opens a private chat
with the bot (`/start <id>`), where the digest follows. Scaled out, a front answers from
the cache and queues the rest with a deadline for a worker.
"""

from __future__ import annotations

import hashlib
import logging
import time

from telegram import InlineQuery, InlineQueryResultArticle, InlineQueryResultsButton, InputTextMessageContent
from telegram.constants import ParseMode
from telegram.error import TelegramError

from adapters.telegram.render import MAX_BUTTON_LABEL, inline_texts
from adapters.telegram.sending import NO_PREVIEW
from adapters.telegram.updates import PLATFORM
from bot.core import SummaryBot
from bot.i18n import N_
from bot.inline import InlineResult
from bot.limits import shorten

log = logging.getLogger(__name__)

# answerInlineQuery's cache_time: a digest depends only on its link, so Telegram may serve it
# to anyone typing that link (is_personal false) for a while; a button or a notice is for that
# asker, now (the digest may be ready a moment later); a query without a link has no answer.
INLINE_DIGEST_CACHE = 300
INLINE_RETRY_CACHE = 0
INLINE_NOTHING_CACHE = 30
INLINE_BUTTON = N_("Summarize in a private chat")
INLINE_HELP = "inline"  # start parameter of a notice's button: the private chat shows /help


class InlineMode:
    def __init__(self, bot: SummaryBot, budget: float):
        self.bot = bot
        self.budget = budget  # seconds an answer may wait for the digest

    async def on_inline(self, query: InlineQuery, *, budget: float, counted: bool = False) -> None:
        """`@bot <link>` in any chat: the digest within `budget` seconds, else the button.
        `counted`: the front that queued it took its rate-limit count."""
        result = await self.bot.inline.answer(PLATFORM, str(query.from_user.id), query.query, budget=budget, counted=counted)
        await self._answer_inline(query, result)

    async def on_front(self, query: InlineQuery, data: dict) -> dict | None:
        """On a front: answered from the cache at once (None), or the job payload for a
        worker, with the deadline by which it must answer (the budget from now)."""
        result = await self.bot.inline.answer(PLATFORM, str(query.from_user.id), query.query, budget=0, cache_only=True)
        if result.url is None or result.digest is not None or result.notice is not None:
            await self._answer_inline(query, result)
            return None
        return {"update": data, "inline_deadline": time.time() + self.budget}

    async def _answer_inline(self, query: InlineQuery, result: InlineResult) -> None:
        """answerInlineQuery: one article (the digest as one HTML message, the first point as
        its description); or no results and a button to a private chat with the bot: where
        the digest follows (`start_id`), or one labelled with why not (`notice`)."""
        results: list[InlineQueryResultArticle] = []
        button = None
        cache_time = INLINE_RETRY_CACHE
        t = self.bot.languages.get(query.from_user.language_code)  # the asker's app language (no chat to choose one)
        if result.digest is not None:
            title, description, text = inline_texts(result.digest, t=t)
            content = InputTextMessageContent(text, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW)
            results = [InlineQueryResultArticle(_inline_result_id(result.url or ""), title, content, description=description or None)]
            cache_time = INLINE_DIGEST_CACHE
        elif result.start_id is not None:
            button = InlineQueryResultsButton(t._(INLINE_BUTTON), start_parameter=result.start_id)
        elif result.notice is not None:
            button = InlineQueryResultsButton(shorten(t.text(result.notice), MAX_BUTTON_LABEL), start_parameter=INLINE_HELP)
        else:
            cache_time = INLINE_NOTHING_CACHE
        try:
            await query.answer(results, cache_time=cache_time, is_personal=result.personal, button=button)
        except TelegramError as exc:  # too late (past Telegram's wait), or answered by an earlier run
            log.info("telegram: could not answer an inline query: %s", exc)


def _inline_result_id(url: str) -> str:
    """An inline result's id (1-64 bytes): a short hash of the link, the same for every asker."""
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()[:32]
