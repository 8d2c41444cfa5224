"""The one entry point: an `Incoming` message in, the `Reply` objects to send out.

Every platform calls `SummaryBot.handle`, so commands, limits and wording are the same
on Telegram, Slack and the console. Nothing here knows how a reply is rendered. The
commands' handlers live in bot/handlers/ (and bot/digest/commands.py), grouped by job;
here they are paired with the command registry, checked against the ACL and dispatched.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from bot.acl import Decision, Permissions
from bot.commands import REGISTRY, Command, CommandInfo, access_rules, as_subcommand, parse_command, press_only
from bot.commands import menu as registry_menu
from bot.config import Settings
from bot.digest.commands import DigestCommands
from bot.digest.service import DigestService
from bot.handlers import Handler
from bot.handlers.buttons import BUTTON_EXPIRED, LengthButtons
from bot.handlers.help import HELP_TEXT, HelpCommand
from bot.handlers.privacy_commands import POLICY_FILE, PrivacyCommands, privacy_notice
from bot.handlers.settings import REACTION_DEFAULT, ChatSettingsCommands
from bot.handlers.summarizing import FRIENDLY_ERRORS, MIN_PASTED_WORDS, ONLY_WEB_LINKS, Summarizer
from bot.handlers.summary import SummaryCommand
from bot.i18n import N_, Languages, normalize
from bot.inference import InferenceService
from bot.inline import InlineDigests
from bot.links import find_urls, other_scheme
from bot.metrics import Metrics
from bot.models import ChatRef, Incoming, Reply
from bot.pipeline import SummaryPipeline
from bot.privacy import Privacy
from bot.retention import ChatActivity
from bot.sentences import word_count
from bot.store import Store, keys
from bot.store.priority import work_started

# Imported from here by the adapters and the tests; defined with the handlers that use them.
__all__ = [
    "ADMIN_CHECK_FAILED", "ADMINS_ONLY", "BUTTON_EXPIRED", "FRIENDLY_ERRORS", "HELP_TEXT", "MIN_PASTED_WORDS",
    "POLICY_FILE", "REACTION_DEFAULT", "SummaryBot", "privacy_notice",
]  # fmt: skip

log = logging.getLogger(__name__)

ADMINS_ONLY = N_("Only chat admins can change that.")
ADMIN_CHECK_FAILED = N_("I couldn't check that you're an admin of this chat, so I changed nothing. Please try again later.")
APOLOGY = N_("Sorry, something went wrong on my side. Please try again later.")


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
        self.registry: tuple[CommandInfo, ...] = REGISTRY
        # The handlers, by job (bot/handlers/); the few the adapters reach through the bot
        # (summarize_links, reaction_trigger, ...) are kept here.
        self.summarizer = Summarizer(settings, store, self.pipeline, self.digests, self.metrics, self.languages)
        self.length_buttons = LengthButtons(settings, store, self.summarizer, self.languages)
        self.chat_settings = ChatSettingsCommands(store, self.languages)
        self.help_command = HelpCommand(settings, self.registry, self.inline, self.summarizer, self.languages)
        handlers: dict[str, Handler] = {
            **SummaryCommand(self.summarizer, self.length_buttons, self.chat_settings, self.languages).handlers(),
            **self.help_command.handlers(),
            **self.chat_settings.handlers(),
            **PrivacyCommands(settings, self.privacy, self.metrics, self.languages).handlers(),
            **self.length_buttons.handlers(),
            **DigestCommands(self.digests, self.languages).handlers(),
        }
        # One registry: /help, the menu and the access rules come from it; a handler without
        # an entry (or the reverse) is a programming error, caught at start.
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
        return self.help_command.help_text(language)

    async def language_of(self, message: Incoming) -> str:
        """The chat's own choice (/language), else the sender's, else English."""
        chosen = await self.store.hget(keys.chat_settings(message.chat.key), "language")
        return normalize(chosen.decode(errors="replace") if chosen else None) or normalize(message.language) or "en"

    async def close(self) -> None:
        await self.inline.close()
        await self.pipeline.close()

    # -- what the adapters ask of the handlers ----------------------------------------------
    async def summarize_links(
        self, message: Incoming, urls: list[str], length: str | None = None, record_history: bool = True,
        *, buttons: bool = False,
    ) -> list[Reply]:  # fmt: skip
        """Digests of `urls` (bot.handlers.summarizing.Summarizer.summarize_links).
        `buttons`: each digest gets Shorter/Longer (for replies posted in the chat; never
        without `record_history`, a private request, whose link would stay)."""
        async with self.privacy.fenced(message.chat):  # called by the adapters too (reactions, shortcuts)
            replies = await self.summarizer.summarize_links(message, urls, length, record_history)
            if buttons and record_history:
                await self.length_buttons.attach(message, replies, length)
        return replies

    async def summarize_text(self, message: Incoming, text: str, length: str | None = None) -> list[Reply]:
        return await self.summarizer.summarize_text(message, text, length)

    async def autosummary_enabled(self, message: Incoming) -> bool:
        return await self.chat_settings.autosummary_enabled(message)

    async def reaction_trigger(self, chat: ChatRef) -> str | None:
        """The emoji name whose reaction asks for a digest in its thread; None when off."""
        return await self.chat_settings.reaction_trigger(chat)

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
                async with self.privacy.fenced(message.chat):  # erased meanwhile: nothing of it stays
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
