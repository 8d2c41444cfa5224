"""Button presses (`callback_query`): a reply's buttons are an inline keyboard; a press is
always answered (answerCallbackQuery), and one whose data is a command a button may carry
becomes its presser sending that command in the chat (the core checks who may)."""

from __future__ import annotations

import asyncio
import logging

from telegram import CallbackQuery
from telegram.error import TelegramError

from adapters.delivery import Delivery
from adapters.telegram.sending import TelegramSender
from adapters.telegram.updates import button_command, press_as_incoming
from bot.core import SummaryBot
from bot.i18n import N_
from bot.models import Reply

log = logging.getLogger(__name__)

EXPIRED = N_("That button has expired.")  # the answer to a press whose data is not a button's command
PRESS_ANSWER_WAIT = 2.0  # seconds a press's answer waits for the core, to carry its word (else the spinner stops)
MAX_PRESS_NOTICE = 200  # characters answerCallbackQuery shows


class Presses:
    def __init__(self, bot: SummaryBot, sender: TelegramSender):
        self.bot = bot
        self.sender = sender

    async def on_press(self, query: CallbackQuery, delivery: Delivery) -> None:
        """A button pressed: answered always (the client shows a spinner until then); a press
        whose data is a button's command on that message is its presser sending that command
        in that chat. The answer waits up to PRESS_ANSWER_WAIT for the core, so that what the
        core says to the presser alone (an expired id, the rate limit) is the answer's text
        and nothing is posted in the chat; a slower answer (a summary being written) stops the
        spinner at once and the edit follows."""
        command = button_command(query.data)
        incoming = press_as_incoming(query, command) if command is not None else None
        if incoming is None:
            language = query.from_user.language_code if query.from_user else None
            await self._answer_press(query, self.bot.languages.get(language)._(EXPIRED))
            return
        async with self.sender.typing(incoming.chat):
            handling = asyncio.ensure_future(self.bot.handle(incoming))
            answered = False
            try:
                await asyncio.wait_for(asyncio.shield(handling), PRESS_ANSWER_WAIT)
            except asyncio.TimeoutError:
                await self._answer_press(query, None)
                answered = True
            replies = await handling
        if not answered:
            notices = [notice for notice in map(_press_notice, replies) if notice is not None]
            await self._answer_press(query, "\n".join(notices) or None)
            replies = [reply for reply in replies if _press_notice(reply) is None]
        await self.sender.send_replies(incoming, replies, delivery)

    async def _answer_press(self, query: CallbackQuery, text: str | None) -> None:
        try:
            await query.answer(text[:MAX_PRESS_NOTICE] if text else None)
        except TelegramError as exc:  # too old to answer (or answered by an earlier run): still act
            log.debug("telegram: could not answer a button press: %s", exc)


def _press_notice(reply: Reply) -> str | None:
    """A private reply to a press, short enough to be the press's answer (Telegram has no
    message only one member of a group sees); None for one that is posted."""
    text = reply.error or reply.text
    if not reply.private or not text or reply.digest or reply.daily or reply.buttons:
        return None
    return text if len(text) <= MAX_PRESS_NOTICE else None
