"""The one entry point: an `Incoming` message in, the `Reply` objects to send out.

Every platform calls `SummaryBot.handle`, so commands, limits and wording are the same
on Telegram, Slack and the console. Nothing here knows how a reply is rendered.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
from dataclasses import replace
from typing import Awaitable, Callable
from urllib.parse import urlsplit

from bot.acl import Decision, Permissions
from bot.commands import REGISTRY, Command, CommandInfo, access_rules, as_subcommand, help_lines, parse_command
from bot.commands import LENGTH_BUTTON, press_only
from bot.commands import menu as registry_menu
from bot.config import Settings
from bot.digest.commands import DigestCommands
from bot.digest.service import DigestService
from bot.extract import ExtractionBusy, ExtractionError
from bot.fetch import FetchError
from bot.i18n import N_, NAMES, Languages, Translator, english, normalize
from bot.inference import InferenceService, ModelBusy, ModelTimeout
from bot.inline import INLINE_ID, INLINE_LINK_SECONDS, InlineDigests
from bot.links import find_urls, other_scheme
from bot.metrics import Metrics
from bot.models import Button, ChatRef, Incoming, Reply
from bot.pipeline import SummaryPipeline
from bot.privacy import GLOBAL_SCOPE, Inventory, Privacy
from bot.related.finder import memory_scope
from bot.retention import ChatActivity
from bot.sentences import word_count
from bot.store import Store, keys
from bot.store.priority import work_started

log = logging.getLogger(__name__)

# Failures whose message is written for the chat: the page, the extraction or the model queue.
FRIENDLY_ERRORS = (FetchError, ExtractionError, ModelBusy, ModelTimeout)
RATE_DECISION_SECONDS = 600  # a message's rate-limit decision is kept this long, for re-runs of its job
MIN_PASTED_WORDS = 40  # shorter plain text in a private chat is chatter, not an article
LENGTHS = ("short", "medium", "long")
ADMINS_ONLY = N_("Only chat admins can change that.")
ONLY_WEB_LINKS = N_("I can only open http(s) links (web pages), not {scheme} links.")
ADMIN_CHECK_FAILED = N_("I couldn't check that you're an admin of this chat, so I changed nothing. Please try again later.")
APOLOGY = N_("Sorry, something went wrong on my side. Please try again later.")

# The command lines come from the one command registry (bot.commands.REGISTRY).
HELP_TEXT = N_("""\
I summarize articles. Send me a link (or several, up to {max_links}) or paste a long text, \
and I reply with the title, source, key points, reading time and related articles.

Commands:
{commands}

In groups: with privacy mode on (the default for Telegram bots) I only see commands, \
mentions and replies to my messages, so use /summary <link> there, or make me an admin \
(or turn privacy mode off with @BotFather) to have shared links summarized automatically.""")
FORGET_USAGE = N_("Usage: /forget shows what I'd erase; /forget confirm erases it.")
# The platforms' lifecycle events that erase a chat too (the adapters call bot.privacy).
REMOVAL_ERASES = {
    ("telegram", False): N_("Removing me from this chat erases it too."),
    ("telegram", True): N_("Blocking me erases it too."),
    ("slack", False): N_("Uninstalling the app erases everything of the workspace."),
    ("slack", True): N_("Uninstalling the app erases everything of the workspace."),
}
LANGUAGE_USAGE = N_(
    "Language: {current}.\nAvailable: {languages}.\n"
    "/language <code> sets it for this chat (admins, in groups); /language auto answers each person in theirs."
)
REACTION_DEFAULT = "memo"  # 📝: the reaction that asks for a summary, unless a chat chose another
_EMOJI_RE = re.compile(r":?([a-z0-9_+'-]{1,64}):?")  # an emoji's name as Slack spells it, colons optional
POLICY_FILE = N_("PRIVACY.md in the summary-bot project")  # when the operator published no policy URL
INLINE_EXPIRED = N_("That link has expired. Send it to me here and I'll summarize it.")
BUTTON_EXPIRED = N_("That button has expired.")
# Shorter / Longer under a link's digest: one step down or up LENGTHS, hidden at the end.
LENGTH_STEPS = ((N_("Shorter"), -1), (N_("Longer"), 1))

Handler = Callable[[Incoming, Command], Awaitable[list[Reply]]]


class SummaryBot:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        inference: InferenceService,
        pipeline: SummaryPipeline | None = None,
        *,
        metrics: Metrics | None = None,
        privacy: Privacy | None = None,
        languages: Languages | None = None,
    ):
        self.settings = settings
        self.store = store
        self.inference = inference
        self.metrics = metrics or Metrics()
        self.languages = languages or Languages()  # the catalogs, loaded once
        self.pipeline = pipeline or SummaryPipeline(settings, store, inference, metrics=self.metrics)
        self.digests = DigestService(
            settings, store, self.pipeline.fetcher, self.pipeline.extractor, inference, languages=self.languages
        )
        # Erasure and inventory share the pipeline's related memory, so its views stay current.
        self.privacy = privacy or Privacy(store, memory=self.pipeline.related.memory)
        self.activity = ChatActivity(store)  # when each chat last had a message (bot/retention.py)
        self.inline = InlineDigests(settings, store, self.pipeline, self.metrics)  # `@bot <link>` (bot/inline.py)
        handlers: dict[str, Handler] = {
            "summary": self._summary_command,
            "help": self._help_command,
            "autosummary": self._autosummary_command,
            "privacy": self._privacy_command,
            "forget": self._forget_command,
            "length": self._length_command,
            "language": self._language_command,
            **DigestCommands(self.digests, self.languages).handlers(),
        }
        # One registry: /help, the menu and the access rules come from it; a handler without
        # an entry (or the reverse) is a programming error, caught at start.
        self.registry: tuple[CommandInfo, ...] = REGISTRY
        unmatched = {info.name for info in self.registry} ^ set(handlers)
        if unmatched:
            raise ValueError(f"commands without both a registry entry and a handler: {sorted(unmatched)}")
        self.commands: dict[str, Handler] = {
            name: handlers[info.name] for info in self.registry for name in (info.name, *info.aliases)
        }
        # Who may run which command; each platform adapter registers its admin check here.
        self.permissions = Permissions(access_rules(self.registry))
        self.press_only = press_only(self.registry)

    def menu(self, language: str | None = None) -> list[tuple[str, str]]:
        """(command without the slash, short description) for each command, in /help's
        order: what a platform shows in its command menu (Telegram setMyCommands)."""
        return registry_menu(self.registry, self.languages.get(language)._)

    def help_text(self, language: str | None = None) -> str:
        t = self.languages.get(language)
        return t._(HELP_TEXT, max_links=self.settings.max_links_per_message, commands=help_lines(self.registry, t._))

    async def language_of(self, message: Incoming) -> str:
        """The chat's own choice (/language), else the sender's, else English."""
        chosen = await self.store.hget(keys.chat_settings(message.chat.key), "language")
        return normalize(chosen.decode(errors="replace") if chosen else None) or normalize(message.language) or "en"

    async def close(self) -> None:
        await self.inline.close()
        await self.pipeline.close()

    # -- the entry point ------------------------------------------------------------------
    async def handle(self, message: Incoming) -> list[Reply]:
        """All replies to `message` (possibly none). Never raises for a bad message."""
        command = parse_command(message.text)  # read once: the metric and the dispatch share them
        if command is not None:
            command = as_subcommand(command)  # Slack's `/summary privacy` is /privacy
        urls = find_urls(message.text) if command is None else []
        self.metrics.messages.labels(message.chat.platform, self._kind_of(message, command, urls)).inc()
        try:
            message = replace(message, language=await self.language_of(message))
            with work_started():  # in a burst, the store serves earlier messages first
                await self.activity.seen(message.chat.key)  # before: an erasure (/forget) removes it
                replies = await self._dispatch(message, command, urls)
        except Exception:
            log.exception("failed to handle a message in %s", message.chat.key)
            self.metrics.errors.labels("internal").inc()
            replies = [Reply(error=self.languages.get(message.language)._(APOLOGY))]
        for reply in replies:
            reply.reply_to = reply.reply_to or message.message_id
            reply.language = normalize(message.language) or "en"
        return replies

    async def _dispatch(self, message: Incoming, command: Command | None, urls: list[str]) -> list[Reply]:
        t = self.languages.get(message.language)
        if command is not None:
            handler = self.commands.get(command.name)
            if command.name in self.press_only and not message.via_button:
                handler = None  # a button's command, typed: unknown, like any other word
            if handler is not None:
                refusal = await self._refusal(message, command)
                return [refusal] if refusal else await handler(message, command)
            if self._is_direct(message):
                return [Reply(error=t._("I don't know /{command}. Send /help to see what I can do.", command=command.name))]
            return []  # another bot's command in a group
        if urls:
            if self._is_direct(message) or await self.autosummary_enabled(message):
                return await self.summarize_links(message, urls, buttons=True)
            return []
        if self._is_direct(message):
            if word_count(message.text) >= MIN_PASTED_WORDS:
                return await self.summarize_text(message, message.text)
            if scheme := other_scheme(message.text):  # ftp://x is a link, just not one we open
                return [Reply(error=t._(ONLY_WEB_LINKS, scheme=scheme))]
            return [Reply(text=t._("Send me a link or paste a longer text and I'll summarize it. /help shows more."))]
        return []

    def _kind_of(self, message: Incoming, command: Command | None, urls: list[str]) -> str:
        """For the messages metric: the command's name, "link", "text", or "other"."""
        if command is not None:
            return command.name if command.name in self.commands else "other"
        if urls:
            return "link"
        return "text" if word_count(message.text) >= MIN_PASTED_WORDS else "other"

    def _failed(self, exc: Exception, t: Translator) -> Reply:
        # ExtractionBusy before ExtractionError: a full queue is a refusal, not a bad page
        kind = {ExtractionBusy: "busy", FetchError: "fetch", ExtractionError: "extract", ModelBusy: "busy", ModelTimeout: "timeout"}
        self.metrics.errors.labels(next((v for k, v in kind.items() if isinstance(exc, k)), "internal")).inc()
        return Reply(error=t.text(exc.args[0]) if exc.args and isinstance(exc.args[0], str) else str(exc))

    @staticmethod
    def _is_direct(message: Incoming) -> bool:
        return message.addressed_to_bot or message.chat.kind == "private"

    async def _refusal(self, message: Incoming, command: Command) -> Reply | None:
        """Why the sender may not run `command` here (settings need a chat admin), if so."""
        decision = await self.permissions.decide(message, command)
        if decision is Decision.ALLOWED:
            return None
        t = self.languages.get(message.language)
        if decision is Decision.NOT_ADMIN:
            return Reply(error=t._(ADMINS_ONLY))
        return Reply(error=t._(ADMIN_CHECK_FAILED))

    # -- summarizing ----------------------------------------------------------------------
    async def summarize_links(
        self, message: Incoming, urls: list[str], length: str | None = None, record_history: bool = True,
        *, buttons: bool = False,
    ) -> list[Reply]:  # fmt: skip
        """Digests of `urls`; each link counts as one share of this message in the chat's
        daily digest, and asking for another length of a link shared here before
        (`/summary short|long <link>`) counts as none. Without `record_history` (a private
        request) the links leave no trace in the chat: no share, and no memory that could
        show them to others as related articles. `buttons`: each digest gets Shorter/Longer
        (for replies posted in the chat; never for a private request, whose link would stay)."""
        urls = urls[: self.settings.max_links_per_message]
        refusal = await self._over_rate_limit(message, len(urls))
        if refusal is not None:
            return refusal
        replies = list(
            await asyncio.gather(*(self._summarize_link(url, length, message, record_history) for url in urls))
        )
        if record_history:  # what is shared in a chat makes its daily digest
            digests = [reply.digest for reply in replies if reply.digest]
            await self.digests.history.record(message.chat, digests, self.digests.clock(), only_new=length is not None)
        if buttons and record_history:
            for reply in replies:
                if reply.digest is not None and reply.digest.url:
                    reply.buttons = await self._new_length_buttons(message, reply.digest.url, length)
        return replies

    async def _summarize_link(self, url: str, length: str | None, message: Incoming, remember: bool) -> Reply:
        t = self.languages.get(message.language)
        try:
            return Reply(digest=await self.pipeline.digest_link(url, length, message.chat, remember=remember))
        except FRIENDLY_ERRORS as exc:
            return self._failed(exc, t)
        except Exception:
            log.exception("failed to summarize %s", url)
            self.metrics.errors.labels("internal").inc()
            return Reply(error=t._("Sorry, I couldn't summarize that link because of an error on my side."))

    async def summarize_text(self, message: Incoming, text: str, length: str | None = None) -> list[Reply]:
        refusal = await self._over_rate_limit(message, 1)
        if refusal is not None:
            return refusal
        try:
            return [Reply(digest=await self.pipeline.digest_text(text, length, message.chat))]
        except FRIENDLY_ERRORS as exc:
            return [self._failed(exc, self.languages.get(message.language))]

    async def _over_rate_limit(self, message: Incoming, summaries: int) -> list[Reply] | None:
        """None when the user may have `summaries` more this minute. Otherwise the answer: a
        polite refusal the first time in a minute and nothing after that, so a burst of
        refused messages is not a burst of replies, each waiting its turn under the chat's
        flood limit. A message handled again (its job re-run after a worker died) gets the
        decision it got the first time and is not counted twice."""
        limit = self.settings.user_rate_limit
        if not limit or not message.user_id:
            return None
        # A press's message_id is the message carrying the button, pressed again and again:
        # its decision is not one to remember.
        decided = (
            keys.rate_decision(message.chat.key, message.message_id) if message.message_id and not message.via_button else None
        )
        earlier = await self.store.get(decided) if decided else None
        if earlier is not None:
            return None if earlier == b"allowed" else []
        minute = int(time.time() // 60)
        used = await self.store.incr(keys.rate_limit(message.chat.platform, message.user_id, minute), summaries, ttl=120)
        allowed = used - summaries < limit
        if decided:
            await self.store.set(decided, b"allowed" if allowed else b"refused", ttl=RATE_DECISION_SECONDS)
        if allowed:
            return None
        notice = keys.rate_limit_notice(message.chat.platform, message.user_id, minute)
        if not await self.store.set_if_absent(notice, b"1", ttl=120):
            return []  # told already this minute
        t = self.languages.get(message.language)
        return [Reply(error=t.ngettext(
            "You've asked for {count} summary this minute. Please wait a moment and try again.",
            "You've asked for {count} summaries this minute. Please wait a moment and try again.",
            limit,
        ))]

    # -- commands -------------------------------------------------------------------------
    async def _summary_command(self, message: Incoming, command: Command) -> list[Reply]:
        words = command.words
        if 1 <= len(words) <= 2 and words[0].lower() == "reaction":  # a setting (its ACL: bot.commands)
            return await self._reaction_command(message, words[1:])
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
            replies = await self.summarize_links(message, urls, length, record_history=not private, buttons=True)
        elif word_count(target) < MIN_PASTED_WORDS and (scheme := other_scheme(target)):  # as in a message
            replies = [Reply(error=t._(ONLY_WEB_LINKS, scheme=scheme))]
        elif word_count(target) < 5:
            replies = [Reply(error=t._("That's too short to summarize. Send a link or a longer text."))]
        else:
            replies = await self.summarize_text(message, target, length)
        for reply in replies:
            reply.private = private
        return replies

    async def _help_command(self, message: Incoming, command: Command) -> list[Reply]:
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
        return [await self._summarize_link(url, None, message, False)]

    async def _autosummary_command(self, message: Incoming, command: Command) -> list[Reply]:
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

    # -- Shorter / Longer ------------------------------------------------------------------
    async def _new_length_buttons(self, message: Incoming, url: str, length: str | None) -> tuple[Button, ...]:
        """Shorter/Longer for a digest of `url` just shown in `chat` at `length`: a random id
        stored for the link (owned by the chat: /forget erases it) that the buttons carry."""
        length = length or self.settings.summary_length
        button_id = secrets.token_urlsafe(9)  # 12 characters, unguessable
        await self._keep_length_button(message.chat, button_id, url, length)
        return _length_buttons(button_id, length, self.languages.get(message.language))

    async def _keep_length_button(self, chat: ChatRef, button_id: str, url: str, length: str) -> None:
        record = json.dumps({"url": url, "length": length}).encode()
        await self.store.set(keys.length_button(chat.key, button_id), record, ttl=self.settings.length_button_days * 86400)

    async def _length_command(self, message: Incoming, command: Command) -> list[Reply]:
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
        refusal = await self._over_rate_limit(message, 1)
        if refusal is not None:
            return [replace(reply, private=True) for reply in refusal]
        try:
            digest = await self.pipeline.digest_link(url, length, message.chat, remember=False)
        except FRIENDLY_ERRORS as exc:
            return [replace(self._failed(exc, t), private=True)]
        except Exception:
            log.exception("failed to summarize a link at another length")
            self.metrics.errors.labels("internal").inc()
            return [Reply(error=t._("Sorry, I couldn't change that summary because of an error on my side."), private=True)]
        await self._keep_length_button(message.chat, button_id, url, length)  # its time runs from the last use
        return [Reply(digest=digest, replaces=message.message_id, buttons=_length_buttons(button_id, length, t))]

    async def _reaction_command(self, message: Incoming, args: list[str]) -> list[Reply]:
        """`/summary reaction <emoji>|on|off`: the reaction that asks for a message's digest
        in its thread (Slack's reaction trigger, adapters/slack/reactions.py)."""
        t = self.languages.get(message.language)
        choice = args[0].lower() if args else ""
        name = REACTION_DEFAULT if choice == "on" else choice if choice == "off" else _emoji_name(choice)
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

    # -- privacy --------------------------------------------------------------------------
    async def _privacy_command(self, message: Incoming, command: Command) -> list[Reply]:
        inventory = await self.privacy.inventory(message.chat)
        return [Reply(text=privacy_notice(self.settings, message.chat, inventory, self.languages.get(message.language)))]

    async def _forget_command(self, message: Incoming, command: Command) -> list[Reply]:
        """`/forget` says what would go and offers the button; `/forget confirm` erases.
        The erasure is this message's last write (nothing after it may name the chat):
        no rate-limit decision or history is written for this command, before or after."""
        t = self.languages.get(message.language)
        choice = command.args.lower()
        if choice not in ("", "confirm"):
            return [Reply(error=t._(FORGET_USAGE))]
        if choice == "":
            inventory = await self.privacy.inventory(message.chat)
            if inventory.empty:
                return [Reply(text=t._("I store nothing about this chat, so there is nothing to erase."))]
            return [
                Reply(
                    text=t._(
                        "This erases everything I store about this chat: {counts}. "
                        "It can't be undone. To go ahead, press the button or send /forget confirm.",
                        counts=_counts(inventory, t),
                    ),
                    buttons=(Button(t._("Erase everything"), "/forget confirm"),),
                )
            ]
        try:
            erased = await self.privacy.erase_chat(message.chat)
        except Exception:
            log.exception("erasing a chat failed")  # no chat id: the log outlives the erasure
            self.metrics.errors.labels("internal").inc()
            return [Reply(error=t._("Sorry, I couldn't finish erasing this chat's data. Please send /forget confirm again."))]
        what = _counts(erased, t) if not erased.empty else t._("there was nothing left")
        return [Reply(text=t._("Done: I erased everything I stored about this chat ({what}). /privacy shows what I keep.", what=what))]

    # -- language -------------------------------------------------------------------------
    async def _language_command(self, message: Incoming, command: Command) -> list[Reply]:
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


def _length_buttons(button_id: str, length: str, t: Translator) -> tuple[Button, ...]:
    """Shorter and Longer for a digest shown at `length`; each hidden at its end."""
    at = LENGTHS.index(length)
    return tuple(
        Button(t._(label), f"/length {button_id} {LENGTHS[at + step]}")
        for label, step in LENGTH_STEPS
        if 0 <= at + step < len(LENGTHS)
    )


def _emoji_name(text: str) -> str | None:
    """`:eyes:` or `eyes` as "eyes"; None for anything that is not an emoji name."""
    match = _EMOJI_RE.fullmatch(text)
    return match.group(1) if match else None


def _counts(inventory: Inventory, t: Translator) -> str:
    parts = [
        t.ngettext("{count} shared link", "{count} shared links", inventory.shares)
        + f" ({t.ngettext('{count} article', '{count} articles', inventory.articles)})",
        t.ngettext("{count} feed", "{count} feeds", inventory.feeds),
        t._("the daily digest subscription") if inventory.subscription else t._("no subscription"),
        t.ngettext("{count} setting", "{count} settings", inventory.settings),
        t.ngettext("{count} related-article entry", "{count} related-article entries", inventory.related),
    ]
    return ", ".join(parts)


def _duration(seconds: float, t: Translator) -> str:
    """"24 hours", "30 days", "2 minutes": the largest unit there are at least two of."""
    if seconds >= 2 * 86400:
        return t.ngettext("{count} day", "{count} days", round(seconds / 86400))
    if seconds >= 2 * 3600:
        return t.ngettext("{count} hour", "{count} hours", round(seconds / 3600))
    if seconds >= 2 * 60:
        return t.ngettext("{count} minute", "{count} minutes", round(seconds / 60))
    return t.ngettext("{count} second", "{count} seconds", round(seconds))


def _days(days: float, t: Translator) -> str:
    # a fraction of a day takes the form of 2 (1.5 days, 1,5 дня)
    return t.ngettext("{count} day", "{count} days", int(days) if days == int(days) else 2, count=f"{days:g}")


def privacy_notice(settings: Settings, chat: ChatRef, inventory: Inventory, t: Translator | None = None) -> str:
    """What /privacy says: what is stored about `chat`, by kind, with its counts; how long
    each is kept (the deployment's settings); what leaves for an LLM server; how to erase it;
    where the operator's policy is. In English unless `t` says otherwise."""
    t = t or english()
    days = settings.history_days
    related_days = getattr(settings, "related_retention_days", None)  # the retention setting, where present
    related_kept = (
        t._("each kept {days} after it was last shared here", days=_days(related_days, t))
        if related_days
        else t._("kept until {count} newer articles replace it", count=t.number(settings.related_memory_size))
    )
    scope = memory_scope(chat, settings.related_scope)
    sharing = (
        "" if scope == chat.key  # its own memory
        else t._("seen as related articles by every chat of this bot") if scope == GLOBAL_SCOPE
        else t._("seen as related articles in the other public channels of this workspace")
    )  # fmt: skip
    idle_days = getattr(settings, "chat_retention_days", None)  # the retention setting, where present
    until = t._("until you change them or erase them with /forget")
    feeds = t.ngettext("{count} feed", "{count} feeds", inventory.feeds)
    lines = [
        t._("What I store about this chat, and for how long:"),
        t._(
            "• Links shared here and their summaries, for /digest and the daily digest: {shares} of {articles}, kept {days}.",
            shares=t.ngettext("{count} share", "{count} shares", inventory.shares),
            articles=t.ngettext("{count} article", "{count} articles", inventory.articles),
            days=_days(days, t),
        ),
        t._("• A daily digest subscription and {feeds} followed (with the feed items already sent), {until}.", feeds=feeds, until=until)
        if inventory.subscription
        else t._("• No daily digest subscription and {feeds} followed (with the feed items already sent), {until}.", feeds=feeds, until=until),
        t._("• Settings (automatic summaries, time zone, language): {count} changed from the default, {until}.", count=inventory.settings, until=until),
        t._(
            "• The chat's related-articles memory (titles and links shared here{sharing}): {entries}, {kept}.",
            sharing=", " + sharing if sharing else "",
            entries=t.ngettext("{count} entry", "{count} entries", inventory.related),
            kept=related_kept,
        ),
        t._(
            "• Summaries of texts pasted here: at most {duration}. Per-person rate-limit counters: 2 minutes. "
            "Private requests (/summary private) leave nothing here.",
            duration=_duration(settings.article_cache_ttl, t),
        ),
        t._(
            "• Which link the Shorter/Longer buttons under each digest stand for: {days} after the last press.",
            days=_days(settings.length_button_days, t),
        ),
        t._(
            "Not about this chat: copies of public web pages ({pages}) and their summaries ({summaries}), "
            "shared by every chat; they name no chat.",
            pages=_duration(settings.article_cache_ttl, t),
            summaries=_duration(settings.summary_cache_ttl, t),
        ),
    ]
    if idle_days:  # the sweep of idle chats: nothing stays for ever
        lines.insert(-1, t._("A chat with no subscription and no feeds is erased after {days} without activity.", days=_days(idle_days, t)))
    if chat.platform == "telegram":  # inline mode (bot.inline) is Telegram's
        lines.append(
            t._(
                "Not about any chat either: a link typed in inline mode (@bot <link>) that was not summarized in time is kept "
                "for {duration} under a random id (inline-link:<id>) for its “private chat” button; only the link, naming no chat or person.",
                duration=t.ngettext("{count} hour", "{count} hours", max(INLINE_LINK_SECONDS // 3600, 1)),
            )
        )
    if settings.summarizer == "llm" and settings.llm_url:
        host = urlsplit(settings.llm_url).hostname or settings.llm_url
        lines.append(
            t._(
                "Summaries are written by a language-model server at {host}: it receives each article's title and "
                "text (up to {chars} characters), and texts pasted here. No user names or chat ids.",
                host=host,
                chars=t.number(settings.llm_max_input_chars),
            )
        )
    else:
        lines.append(t._("Summaries are written on this bot's own server: no text goes to an outside AI service."))
    erase = (
        t._("/forget shows what I'd erase and erases it when you confirm.")
        if chat.kind == "private"
        else t._("/forget shows what I'd erase and erases it when you confirm (chat admins only).")
    )
    removal = REMOVAL_ERASES.get((chat.platform, chat.kind == "private"))
    lines.append(f"{erase} {t._(removal)}" if removal else erase)
    policy = settings.privacy_url or t._(POLICY_FILE)
    lines.append(t._("The operator's privacy policy: {policy}", policy=policy))
    return "\n".join(lines)
