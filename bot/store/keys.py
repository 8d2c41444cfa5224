"""Every key the bot stores data under, built here and nowhere else (in the spirit of
aiogram's KeyBuilder): one place to read what the store holds, and no two spellings of
one key.

The strings are the stored data's format: change one and what was stored under the old
key is no longer found. `chat_key` is `ChatRef.key` ("platform:chat_id"); `day` a date.

Owners. Every key holding a chat's data is built as an `OwnedKey`: a str that also names its
owner (the chat key, or the related-memory scope). The store records it in that owner's index
as it writes the key, in the same transaction, so `Store.keys_of(owner)` and
`Store.erase_owner(owner)` find every key of a chat without scanning the keyspace and without
any caller having to remember to register (bot.core writes through these builders unchanged).
Why an index and not a pattern scan (`SCAN MATCH chat:*`): a scan reads the whole keyspace on
every erasure (minutes on a Redis of millions of keys, for each kicked bot), a chat id would
have to be escaped for glob characters, and "slack:T1" is a prefix of "slack:T1:C1": prefixes
cannot tell one chat from another once chat keys hold colons. The index names exact keys.
Keys shared by several chats (`digest:due`, a feed's state, a shared related-memory scope)
have no single owner: bot.privacy removes a chat's members from them.
"""

from __future__ import annotations

import hashlib
from datetime import date


class OwnedKey(str):
    """A key name that knows whose data it holds (`owner`: a chat key or a memory scope)."""

    owner: str

    def __new__(cls, name: str, owner: str) -> OwnedKey:
        key = super().__new__(cls, name)
        key.owner = owner
        return key


def owned(name: str, owner: str) -> OwnedKey:
    return OwnedKey(name, owner)


def owner_of(key: str) -> str | None:
    """The owner a key was built with, or None for a key of no one (a cache, a shared set)."""
    return getattr(key, "owner", None)


def owner_index(owner: str) -> str:
    """The store's index of an owner's keys (Redis: a set of key names)."""
    return f"owner:{owner}"


def workspace_owners(workspace: str) -> str:
    """The owners (chats) indexed under one workspace (Redis: a set of owner names)."""
    return f"owners:{workspace}"


def workspace_of(owner: str) -> str | None:
    """The workspace an owner belongs to: "slack:T1" for a Slack chat key that names its team
    ("slack:T1:C1"), else None (a Telegram chat is its own workspace; a scope "slack:T1" is the
    workspace itself). Only Slack's ids (letters and digits) are split, never a chat id."""
    platform, _, rest = owner.partition(":")
    team, colon, channel = rest.partition(":")
    if platform == "slack" and colon and team and channel:
        return f"slack:{team}"
    return None


# Families whose name is "{family}:{chat_key}" or "{family}:{chat_key}:{rest}" (bot.privacy
# moves a chat by renaming its keys from one chat key to another).
CHAT_FAMILIES = (
    "chat", "ratelimit-decision", "digest:subscription", "digest:article", "digest:shares",
    "digest:feeds", "digest:feed-seen", "digest:sent", "digest:claim", "digest:pending",
    "digest:part", "related", "pasted", "length-button",
)  # fmt: skip


def rekey(name: str, old_chat: str, new_chat: str) -> OwnedKey | None:
    """`name`, a key of chat `old_chat`, as the same key of `new_chat`; None if it is not one."""
    for family in CHAT_FAMILIES:
        head = f"{family}:{old_chat}"
        if name == head or name.startswith(head + ":"):
            return owned(f"{family}:{new_chat}{name[len(head):]}", new_chat)
    return None

# -- the core -------------------------------------------------------------------------------


def chat_settings(chat_key: str) -> str:
    """Hash of one chat's settings: autosummary, tz (bot.core, bot.digest)."""
    return owned(f"chat:{chat_key}", chat_key)


CHATS_LAST_SEEN = "chats:last-seen"
"""Sorted set: chat key -> when the chat last had a message (unix time, written at most once a
day per chat and process; bot.retention). Idle chats are found, and swept, by it."""


def pasted_summary(chat_key: str, content_hash: str) -> str:
    """The summary of a text pasted in a chat: the chat's data, not a public page's, so kept
    under its owner (erased with it) and no longer than the article cache (bot.pipeline)."""
    return owned(f"pasted:{chat_key}:summary:{content_hash}", chat_key)


def length_button(chat_key: str, button_id: str) -> str:
    """What one digest's Shorter/Longer buttons stand for in a chat (its link and length),
    by the random id their command carries (bot.core): the chat's data, erased with it."""
    return owned(f"length-button:{chat_key}:{button_id}", chat_key)


def inline_link(start_id: str) -> str:
    """The link an inline query's "private chat" button stands for, by the random id its
    start parameter carries (bot.inline): no owner, since it names no chat or user."""
    return f"inline-link:{start_id}"


def rate_limit(platform: str, user_id: str, minute: int) -> str:
    """Counter of one user's summaries in one minute (bot.core)."""
    return f"ratelimit:{platform}:{user_id}:{minute}"


def rate_limit_notice(platform: str, user_id: str, minute: int) -> str:
    """Set once a user has been told of the limit in that minute (bot.core)."""
    return f"ratelimit-told:{platform}:{user_id}:{minute}"


def rate_decision(chat_key: str, message_id: str) -> str:
    """Whether one message was within its sender's limit, for a re-run of it (bot.core)."""
    return owned(f"ratelimit-decision:{chat_key}:{message_id}", chat_key)


def article(url_hash: str) -> str:
    """A fetched and extracted article, by a hash of its canonical URL (bot.pipeline)."""
    return f"article:{url_hash}"


def summary(content_hash: str) -> str:
    """A summary, by a hash of summarizer, length, title and text (bot.pipeline)."""
    return f"summary:{content_hash}"


def related(scope: str, part: str) -> str:
    """One part (articles, recent, seq, version, trimmed, contributors, shared) of a scope's
    related-article memory; owned by the scope (a chat key, a workspace, "global")."""
    return owned(f"related:{scope}:{part}", scope)


RELATED_PARTS = ("articles", "recent", "seq", "version", "trimmed", "contributors", "shared")


def related_vector(content_hash: str) -> str:
    """A sentence vector, by a hash of encoder and text (bot.related.vectors)."""
    return f"related:vector:{content_hash}"


# -- daily digests (bot.digest) -------------------------------------------------------------

DIGEST_DUE = "digest:due"  # sorted set: chat key -> when its next digest is due


def digest_subscription(chat_key: str) -> str:
    return owned(f"digest:subscription:{chat_key}", chat_key)


def digest_article(chat_key: str, article_id: str) -> str:
    return owned(f"digest:article:{chat_key}:{article_id}", chat_key)


def digest_shares(chat_key: str) -> str:
    return owned(f"digest:shares:{chat_key}", chat_key)


def digest_feed(feed_id: str) -> str:
    """A feed's state, shared by every chat that follows it."""
    return f"digest:feed:{feed_id}"


def digest_feed_followers(feed_id: str) -> str:
    """Sorted set of the chat keys that follow a feed (-> when they added it): a feed's state
    is erased with the last of them (bot.privacy)."""
    return f"digest:feed-followers:{feed_id}"


def digest_feeds(chat_key: str) -> str:
    return owned(f"digest:feeds:{chat_key}", chat_key)


def digest_feed_seen(chat_key: str) -> str:
    return owned(f"digest:feed-seen:{chat_key}", chat_key)


def digest_sent(chat_key: str, day: date) -> str:
    return owned(f"digest:sent:{chat_key}:{day.isoformat()}", chat_key)


def digest_claim(chat_key: str, day: date) -> str:
    return owned(f"digest:claim:{chat_key}:{day.isoformat()}", chat_key)


def digest_pending(chat_key: str, day: date) -> str:
    """The digest composed for a date, kept so that a retry sends the same parts."""
    return owned(f"digest:pending:{chat_key}:{day.isoformat()}", chat_key)


def digest_part(chat_key: str, day: date, call: str, occurrence: int) -> str:
    """Marks one part of a date's digest as accepted by the platform (bot.delivery)."""
    return owned(f"digest:part:{chat_key}:{day.isoformat()}:{call}:{occurrence}", chat_key)


# -- adapters -------------------------------------------------------------------------------


def delivery(job_id: str, call: str, occurrence: int) -> str:
    """Marks a platform call of a queued job as made: the `occurrence`th call with hash
    `call` (its target and content) in the job (bot.delivery)."""
    return f"delivery:{job_id}:{call}:{occurrence}"


def slack_event(event_id: str) -> str:
    """A Slack event's claim: being answered, or answered (adapters.slack.claims)."""
    return f"slack:event:{event_id}"


def slack_reaction_claim(chat_key: str, ts: str) -> str:
    """A message whose reaction trigger was answered (adapters.slack.reactions): once per
    message, whoever reacts. The chat's data (in its "chat" family), erased with it."""
    return owned(f"chat:{chat_key}:reaction:{ts}", chat_key)


def slack_share(chat_key: str, share_id: str) -> str:
    """What a "Summarize" shortcut's Share button posts in the thread, by the random id the
    button carries (adapters.slack.shortcut): the chat's data, erased with it."""
    return owned(f"chat:{chat_key}:share:{share_id}", chat_key)


def slack_installation(enterprise_id: str, team: str) -> str:
    return f"slack:installation:{enterprise_id}:{team}"


def slack_oauth_state(state: str) -> str:
    return f"slack:oauth-state:{state}"


def erasures(chat_key: str) -> str:
    """How many times a chat was erased lately (bot.privacy's fence against work in flight).
    It outlives the chat's data on purpose, so its name is a hash: it does not name the chat."""
    return "erasures:" + _hashed(chat_key)


def erased_at(chat_key: str) -> str:
    """When a chat was last erased (time.time()), for messages that waited in a job queue."""
    return "erased-at:" + _hashed(chat_key)


def _hashed(chat_key: str) -> str:
    return hashlib.sha256(chat_key.encode()).hexdigest()[:32]
