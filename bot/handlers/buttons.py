"""Shorter / Longer under a link's digest, and the /length command their presses send."""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import replace

from bot.commands import LENGTH_BUTTON, Command
from bot.config import Settings
from bot.handlers import Handler
from bot.handlers.summarizing import FRIENDLY_ERRORS, LENGTHS, Summarizer, failure_reply
from bot.i18n import N_, Languages, Translator
from bot.models import Button, ChatRef, Incoming, Reply
from bot.store import Store, keys

log = logging.getLogger(__name__)

BUTTON_EXPIRED = N_("That button has expired.")
# Shorter / Longer under a link's digest: one step down or up LENGTHS, hidden at the end.
LENGTH_STEPS = ((N_("Shorter"), -1), (N_("Longer"), 1))


def length_buttons(button_id: str, length: str, t: Translator) -> tuple[Button, ...]:
    """Shorter and Longer for a digest shown at `length`; each hidden at its end."""
    at = LENGTHS.index(length)
    return tuple(
        Button(t._(label), f"/length {button_id} {LENGTHS[at + step]}")
        for label, step in LENGTH_STEPS
        if 0 <= at + step < len(LENGTHS)
    )


class LengthButtons:
    def __init__(self, settings: Settings, store: Store, summarizer: Summarizer, languages: Languages):
        self.settings = settings
        self.store = store
        self.summarizer = summarizer
        self.languages = languages

    def handlers(self) -> dict[str, Handler]:
        return {"length": self.length}

    async def attach(self, message: Incoming, replies: list[Reply], length: str | None) -> None:
        """Shorter/Longer under each digest of a link in `replies` (for replies posted in the
        chat; never for a private request, whose link would stay)."""
        for reply in replies:
            if reply.digest is not None and reply.digest.url:
                reply.buttons = await self._new_buttons(message, reply.digest.url, length)

    async def _new_buttons(self, message: Incoming, url: str, length: str | None) -> tuple[Button, ...]:
        """Shorter/Longer for a digest of `url` just shown in `chat` at `length`: a random id
        stored for the link (owned by the chat: /forget erases it) that the buttons carry."""
        length = length or self.settings.summary_length
        button_id = secrets.token_urlsafe(9)  # 12 characters, unguessable
        await self._keep(message.chat, button_id, url, length)
        return length_buttons(button_id, length, self.languages.get(message.language))

    async def _keep(self, chat: ChatRef, button_id: str, url: str, length: str) -> None:
        record = json.dumps({"url": url, "length": length}).encode()
        await self.store.set(keys.length_button(chat.key, button_id), record, ttl=self.settings.length_button_days * 86400)

    async def length(self, message: Incoming, command: Command) -> list[Reply]:
        """A Shorter/Longer press: the digest it was under, at the length asked, in place of
        that message (`Reply.replaces`), with the buttons for the new length. No share and no
        related memory: the link was shared once. Anything wrong is told to the presser
        alone and changes nothing."""
        t = self.languages.get(message.language)
        if not (message.via_button and message.message_id and LENGTH_BUTTON.fullmatch(f"/length {command.args}")):
            return [Reply(error=t._(BUTTON_EXPIRED), private=True)]
        button_id, length = command.words
        stored = await self.store.get(keys.length_button(message.chat.key, button_id))
        try:
            url = json.loads(stored)["url"] if stored is not None else None
        except (ValueError, KeyError, TypeError):
            url = None
        if not isinstance(url, str):
            return [Reply(error=t._(BUTTON_EXPIRED), private=True)]
        summarizer = self.summarizer
        refusal = await summarizer.over_rate_limit(message, 1)
        if refusal is not None:
            return [replace(reply, private=True) for reply in refusal]
        try:
            digest = await summarizer.pipeline.digest_link(url, length, message.chat, remember=False)
        except FRIENDLY_ERRORS as exc:
            return [replace(failure_reply(summarizer.metrics, exc, t), private=True)]
        except Exception:
            log.exception("failed to summarize a link at another length")
            summarizer.metrics.errors.labels("internal").inc()
            return [Reply(error=t._("Sorry, I couldn't change that summary because of an error on my side."), private=True)]
        await self._keep(message.chat, button_id, url, length)  # its time runs from the last use
        return [Reply(digest=digest, replaces=message.message_id, buttons=length_buttons(button_id, length, t))]
