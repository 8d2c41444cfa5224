"""/privacy and /forget [confirm]: what is stored about a chat and for how long, and its
erasure on request. The erasure and the inventory themselves are bot/privacy.py's."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from bot.commands import Command
from bot.config import Settings
from bot.handlers import Handler
from bot.i18n import N_, Languages, Translator, english
from bot.inline import INLINE_LINK_SECONDS
from bot.metrics import Metrics
from bot.models import Button, ChatRef, Incoming, Reply
from bot.privacy import GLOBAL_SCOPE, Inventory, Privacy
from bot.related.finder import memory_scope

log = logging.getLogger(__name__)

FORGET_USAGE = N_("Usage: /forget shows what I'd erase; /forget confirm erases it.")
# The platforms' lifecycle events that erase a chat too (the adapters call bot.privacy).
REMOVAL_ERASES = {
    ("telegram", False): N_("Removing me from this chat erases it too."),
    ("telegram", True): N_("Blocking me erases it too."),
    ("slack", False): N_("Uninstalling the app erases everything of the workspace."),
    ("slack", True): N_("Uninstalling the app erases everything of the workspace."),
}
POLICY_FILE = N_("PRIVACY.md in the summary-bot project")  # when the operator published no policy URL


class PrivacyCommands:
    def __init__(self, settings: Settings, privacy: Privacy, metrics: Metrics, languages: Languages):
        self.settings = settings
        self.privacy = privacy
        self.metrics = metrics
        self.languages = languages

    def handlers(self) -> dict[str, Handler]:
        return {"privacy": self.privacy_command, "forget": self.forget_command}

    async def privacy_command(self, message: Incoming, command: Command) -> list[Reply]:
        """`/privacy`: the notice for this chat, with its counts (`privacy_notice`)."""
        inventory = await self.privacy.inventory(message.chat)
        return [Reply(text=privacy_notice(self.settings, message.chat, inventory, self.languages.get(message.language)))]

    async def forget_command(self, message: Incoming, command: Command) -> list[Reply]:
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
                        counts=_inventory_counts(inventory, t),
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
        what = _inventory_counts(erased, t) if not erased.empty else t._("there was nothing left")
        return [Reply(text=t._("Done: I erased everything I stored about this chat ({what}). /privacy shows what I keep.", what=what))]


def _inventory_counts(inventory: Inventory, t: Translator) -> str:
    """What `inventory` holds, in words: /forget's question and its answer."""
    parts = [
        t.ngettext("{count} shared link", "{count} shared links", inventory.shares)
        + f" ({t.ngettext('{count} article', '{count} articles', inventory.articles)})",
        t.ngettext("{count} feed", "{count} feeds", inventory.feeds),
        t._("the daily digest subscription") if inventory.subscription else t._("no subscription"),
        t.ngettext("{count} setting", "{count} settings", inventory.settings),
        t.ngettext("{count} related-article entry", "{count} related-article entries", inventory.related),
    ]
    return ", ".join(parts)


def _duration_words(seconds: float, t: Translator) -> str:
    """"24 hours", "30 days", "2 minutes": the largest unit there are at least two of."""
    if seconds >= 2 * 86400:
        return t.ngettext("{count} day", "{count} days", round(seconds / 86400))
    if seconds >= 2 * 3600:
        return t.ngettext("{count} hour", "{count} hours", round(seconds / 3600))
    if seconds >= 2 * 60:
        return t.ngettext("{count} minute", "{count} minutes", round(seconds / 60))
    return t.ngettext("{count} second", "{count} seconds", round(seconds))


def _days_words(days: float, t: Translator) -> str:
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
        t._("each kept {days} after it was last shared here", days=_days_words(related_days, t))
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
            days=_days_words(days, t),
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
            duration=_duration_words(settings.article_cache_ttl, t),
        ),
        t._(
            "• Which link the Shorter/Longer buttons under each digest stand for: {days} after the last press.",
            days=_days_words(settings.length_button_days, t),
        ),
        t._(
            "Not about this chat: copies of public web pages ({pages}) and their summaries ({summaries}), "
            "shared by every chat; they name no chat.",
            pages=_duration_words(settings.article_cache_ttl, t),
            summaries=_duration_words(settings.summary_cache_ttl, t),
        ),
    ]
    if idle_days:  # the sweep of idle chats: nothing stays for ever
        lines.insert(-1, t._("A chat with no subscription and no feeds is erased after {days} without activity.", days=_days_words(idle_days, t)))
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
