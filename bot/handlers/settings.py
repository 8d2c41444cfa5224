"""A chat's settings commands: /autosummary, /language and /summary reaction (Slack's
reaction trigger). Who may change them (chat admins, in groups) is checked by the core
before they run (bot.acl)."""

from __future__ import annotations

import re

from bot.commands import Command
from bot.handlers import Handler
from bot.i18n import N_, NAMES, Languages, normalize
from bot.models import ChatRef, Incoming, Reply
from bot.store import Store, keys

LANGUAGE_USAGE = N_(
    "Language: {current}.\nAvailable: {languages}.\n"
    "/language <code> sets it for this chat (admins, in groups); /language auto answers each person in theirs."
)
REACTION_DEFAULT = "memo"  # 📝: the reaction that asks for a summary, unless a chat chose another
_EMOJI_RE = re.compile(r":?([a-z0-9_+'-]{1,64}):?")  # an emoji's name as Slack spells it, colons optional


def emoji_name(text: str) -> str | None:
    """`:eyes:` or `eyes` as "eyes"; None for anything that is not an emoji name."""
    match = _EMOJI_RE.fullmatch(text)
    return match.group(1) if match else None


class ChatSettingsCommands:
    def __init__(self, store: Store, languages: Languages):
        self.store = store
        self.languages = languages

    def handlers(self) -> dict[str, Handler]:
        return {"autosummary": self.autosummary, "language": self.language}

    # -- /autosummary ---------------------------------------------------------------------
    async def autosummary(self, message: Incoming, command: Command) -> list[Reply]:
        t = self.languages.get(message.language)
        choice = command.args.lower()
        if choice not in ("on", "off"):
            if await self.autosummary_enabled(message):
                return [Reply(error=t._("Usage: /autosummary on|off (now on)."))]
            return [Reply(error=t._("Usage: /autosummary on|off (now off)."))]
        await self.store.hset(keys.chat_settings(message.chat.key), "autosummary", choice.encode())
        if choice == "on":
            return [Reply(text=t._("OK, I will summarize links shared in this chat automatically."))]
        return [Reply(text=t._("OK, I won't summarize links shared in this chat automatically."))]

    async def autosummary_enabled(self, message: Incoming) -> bool:
        value = await self.store.hget(keys.chat_settings(message.chat.key), "autosummary")
        return value != b"off"

    # -- /summary reaction ----------------------------------------------------------------
    async def reaction(self, message: Incoming, args: list[str]) -> list[Reply]:
        """`/summary reaction <emoji>|on|off`: the reaction that asks for a message's digest
        in its thread (Slack's reaction trigger, adapters/slack/reactions.py)."""
        t = self.languages.get(message.language)
        choice = args[0].lower() if args else ""
        name = REACTION_DEFAULT if choice == "on" else choice if choice == "off" else emoji_name(choice)
        if name is None:
            now = await self.reaction_trigger(message.chat)
            if now is None:
                return [Reply(error=t._("Usage: /summary reaction :emoji:|off (now off)."))]
            return [Reply(error=t._("Usage: /summary reaction :emoji:|off (now {emoji}).", emoji=f":{now}:"))]
        await self.store.hset(keys.chat_settings(message.chat.key), "reaction", name.encode())
        if name == "off":
            return [Reply(text=t._("OK, no reaction asks me for summaries in this channel now."))]
        return [Reply(text=t._("OK, reacting with {emoji} to a message with a link posts its summary in the thread.", emoji=f":{name}:"))]

    async def reaction_trigger(self, chat: ChatRef) -> str | None:
        """The emoji name (without colons) whose reaction asks for a message's digest in
        its thread; None when the chat turned it off."""
        value = await self.store.hget(keys.chat_settings(chat.key), "reaction")
        name = REACTION_DEFAULT if value is None else value.decode(errors="replace")
        return None if name == "off" else name

    # -- /language ------------------------------------------------------------------------
    async def language(self, message: Incoming, command: Command) -> list[Reply]:
        """`/language` shows the chat's language and the others; `/language <code>` makes it
        the chat's for everyone (admins, in groups); `/language auto` follows each sender's."""
        t = self.languages.get(message.language)
        settings = keys.chat_settings(message.chat.key)
        choice = command.args.strip()
        if not choice:
            chosen = normalize((await self.store.hget(settings, "language") or b"").decode(errors="replace"))
            current = t._("{name} ({code}), chosen for this chat", name=NAMES[t.code], code=t.code) if chosen else (
                t._("{name} ({code}), each sender's own", name=NAMES[t.code], code=t.code)
            )
            return [Reply(text=t._(LANGUAGE_USAGE, current=current, languages=self.languages.listing()))]
        if choice.lower() == "auto":
            await self.store.hset(settings, "language", b"auto")  # normalize() reads it as no choice
            return [Reply(text=t._("OK, I'll answer each person in their own language here (else English)."))]
        code = normalize(choice) if len(choice) <= 16 else None
        if code is None:
            return [Reply(error=t._("I don't speak “{code}” yet. Choose one of: {languages}.", code=choice[:16], languages=self.languages.listing()))]
        await self.store.hset(settings, "language", code.encode())
        chosen = self.languages.get(code)
        return [Reply(text=chosen._("OK, I'll write in English in this chat from now on."))]
