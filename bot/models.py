"""The core's small vocabulary: what comes in from a chat and what goes back out.

Adapters translate platform updates into `Incoming` and render `Reply` objects; nothing
here knows about any platform's formatting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Awaitable, Callable, Literal

from bot.i18n import N_

if TYPE_CHECKING:
    from bot.delivery import Delivery


@dataclass(frozen=True)
class ChatRef:
    """Where a message came from and where replies go.

    `scope` groups chats that may share memory (a Slack workspace, a Telegram group);
    by default it is the chat itself. `kind`: "private" is one person with the bot;
    "private_group" a conversation only its members can read (a Slack private channel or
    group DM): like a group, settings need an admin, but what is shared there stays there.
    """

    platform: str  # "telegram" | "slack" | "console" | ...
    chat_id: str
    thread_id: str | None = None
    scope_id: str | None = None
    kind: Literal["private", "private_group", "group", "channel"] = "private"

    @property
    def key(self) -> str:
        """Stable id for storage: one per chat (threads share their chat's state)."""
        return f"{self.platform}:{self.chat_id}"

    @property
    def scope(self) -> str:
        return f"{self.platform}:{self.scope_id or self.chat_id}"


@dataclass(frozen=True)
class Incoming:
    """One message as the core sees it, whatever platform it came from."""

    chat: ChatRef
    text: str
    user_id: str = ""
    message_id: str | None = None
    reply_to_text: str | None = None  # text of the message this one answers, if any
    addressed_to_bot: bool = False  # mention, DM, or slash command aimed at us
    # A press of a button under one of the bot's replies (set by adapters only): some commands
    # are a button's alone (bot.commands `press_only`), and `message_id` is then the message
    # that carries the button.
    via_button: bool = False
    # The sender's language as the platform tells it (Telegram language_code, Slack locale),
    # a hint: the core replaces it with the chat's own choice (/language) where there is one.
    language: str | None = None
    # Who may change a chat's settings is the core's question (bot.acl), asked of the
    # platform when it matters; an adapter never vouches for it here.


@dataclass(frozen=True)
class RelatedLink:
    title: str
    url: str
    # "related" (topically related: the page's own Related section, the chat's memory, its
    # feeds), "previous"/"next" (the page's navigation neighbours, shown with that label),
    # "more" (the site's other stories, listed by the page without a topical claim).
    kind: str = "related"

    @property
    def label(self) -> str:
        """What a renderer shows before the title ("Previous", "Next"), or ""."""
        return NEIGHBOUR_LABELS.get(self.kind, "")


NEIGHBOUR_LABELS = {"previous": N_("Previous"), "next": N_("Next")}  # translated by the renderers


@dataclass
class Digest:
    """A summary of one article or one pasted text."""

    title: str
    points: list[str]
    source: str = ""  # site name or host
    url: str | None = None
    date: str | None = None
    author: str | None = None
    reading_minutes: int = 1
    related: list[RelatedLink] = field(default_factory=list)
    cached: bool = False
    # Parallel to `points`: the article's sentence that supports each point, where the
    # point is not that sentence itself (an LLM's point); None otherwise. May be shorter
    # than `points` (missing ones are None).
    sources: list[str | None] = field(default_factory=list)
    summarizer: str = ""  # who wrote the points: "extractive", "llm:<model>", ...; "" unknown

    def source_of(self, index: int) -> str | None:
        return self.sources[index] if index < len(self.sources) else None

    def to_json(self) -> dict:
        return {
            "title": self.title,
            "source": self.source,
            "url": self.url,
            "date": self.date,
            "reading_minutes": self.reading_minutes,
            "points": list(self.points),
            "sources": [self.source_of(i) for i in range(len(self.points))],
            "summarizer": self.summarizer,
            "related": [{"title": r.title, "url": r.url, "kind": r.kind} for r in self.related],
            "cached": self.cached,
        }


@dataclass
class DigestEntry:
    """One story in a daily digest."""

    title: str
    url: str
    summary: str  # one or two sentences
    source: str = ""
    shares: int = 0  # times it was shared in the chat during the period
    group: str | None = None  # label of a group of related stories, if grouped


@dataclass
class DailyDigest:
    """What a chat subscribed to `/subscribe` receives once a day (or on `/digest`)."""

    title: str  # e.g. "Your daily digest – Friday 3 March"
    entries: list[DigestEntry]
    period: str = ""  # human-readable period covered


@dataclass(frozen=True)
class Button:
    """A button under a reply (Telegram inline keyboard, Slack Block Kit). Pressing it is
    the same as its presser sending `command` in that chat: adapters turn a press into an
    `Incoming` with that text, so the core parses it and checks the ACL as for a typed
    command, and nothing a button carries is trusted beyond that. `command` is short (it
    travels as Telegram callback data, at most 64 bytes) and carries no URL."""

    label: str
    command: str  # e.g. "/forget confirm"


@dataclass
class Reply:
    """What the core asks an adapter to send back to the chat.

    Exactly one of `digest`, `daily`, `text` or `error` is set. `text` is plain text written by the
    bot (help, confirmations); `error` is a friendly explanation of what went wrong.
    `private` asks the adapter to show it only to the user, where the platform can.
    `buttons` go under the reply where the platform has them (the console prints the commands).
    """

    digest: Digest | None = None
    daily: DailyDigest | None = None
    text: str | None = None
    error: str | None = None
    reply_to: str | None = None  # message id this reply answers
    private: bool = False
    buttons: tuple[Button, ...] = ()
    # The id of the bot's message this reply takes the place of (edited in place, e.g. by a
    # Shorter/Longer press): the adapter edits that message rather than sending a new one.
    replaces: str | None = None
    language: str = "en"  # what the adapter's own words around it (headings, buttons) are in


# An adapter's way to post replies to a chat unprompted (daily digests): it renders them
# for its platform, makes each platform call through the `Delivery` given (so that a retry
# sends only the parts not yet accepted) and raises if the platform did not accept them:
# `bot.delivery.PermanentSendError` where sending again cannot help.
Sender = Callable[[ChatRef, list[Reply], "Delivery"], Awaitable[None]]
