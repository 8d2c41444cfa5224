"""Every key the bot stores data under, built here and nowhere else (in the spirit of
aiogram's KeyBuilder): one place to read what the store holds, and no two spellings of
one key.

The strings are the stored data's format: change one and what was stored under the old
key is no longer found. `chat_key` is `ChatRef.key` ("platform:chat_id"); `day` a date.
"""

from __future__ import annotations

from datetime import date

# -- the core -------------------------------------------------------------------------------


def chat_settings(chat_key: str) -> str:
    """Hash of one chat's settings: autosummary, tz (bot.core, bot.digest)."""
    return f"chat:{chat_key}"


def rate_limit(platform: str, user_id: str, minute: int) -> str:
    """Counter of one user's summaries in one minute (bot.core)."""
    return f"ratelimit:{platform}:{user_id}:{minute}"


def rate_limit_notice(platform: str, user_id: str, minute: int) -> str:
    """Set once a user has been told of the limit in that minute (bot.core)."""
    return f"ratelimit-told:{platform}:{user_id}:{minute}"


def rate_decision(chat_key: str, message_id: str) -> str:
    """Whether one message was within its sender's limit, for a re-run of it (bot.core)."""
    return f"ratelimit-decision:{chat_key}:{message_id}"


def article(url_hash: str) -> str:
    """A fetched and extracted article, by a hash of its canonical URL (bot.pipeline)."""
    return f"article:{url_hash}"


def summary(content_hash: str) -> str:
    """A summary, by a hash of summarizer, length, title and text (bot.pipeline)."""
    return f"summary:{content_hash}"


def related(scope: str, part: str) -> str:
    """One part (articles, recent, seq, version, trimmed) of a scope's related-article memory."""
    return f"related:{scope}:{part}"


RELATED_PARTS = ("articles", "recent", "seq", "version", "trimmed")


def related_vector(content_hash: str) -> str:
    """A sentence vector, by a hash of encoder and text (bot.related.vectors)."""
    return f"related:vector:{content_hash}"


# -- daily digests (bot.digest) -------------------------------------------------------------

DIGEST_DUE = "digest:due"  # sorted set: chat key -> when its next digest is due


def digest_subscription(chat_key: str) -> str:
    return f"digest:subscription:{chat_key}"


def digest_article(chat_key: str, article_id: str) -> str:
    return f"digest:article:{chat_key}:{article_id}"


def digest_shares(chat_key: str) -> str:
    return f"digest:shares:{chat_key}"


def digest_feed(feed_id: str) -> str:
    """A feed's state, shared by every chat that follows it."""
    return f"digest:feed:{feed_id}"


def digest_feeds(chat_key: str) -> str:
    return f"digest:feeds:{chat_key}"


def digest_feed_seen(chat_key: str) -> str:
    return f"digest:feed-seen:{chat_key}"


def digest_sent(chat_key: str, day: date) -> str:
    return f"digest:sent:{chat_key}:{day.isoformat()}"


def digest_claim(chat_key: str, day: date) -> str:
    return f"digest:claim:{chat_key}:{day.isoformat()}"


def digest_pending(chat_key: str, day: date) -> str:
    """The digest composed for a date, kept so that a retry sends the same parts."""
    return f"digest:pending:{chat_key}:{day.isoformat()}"


def digest_part(chat_key: str, day: date, call: str, occurrence: int) -> str:
    """Marks one part of a date's digest as accepted by the platform (bot.delivery)."""
    return f"digest:part:{chat_key}:{day.isoformat()}:{call}:{occurrence}"


# -- adapters -------------------------------------------------------------------------------


def delivery(job_id: str, call: str, occurrence: int) -> str:
    """Marks a platform call of a queued job as made: the `occurrence`th call with hash
    `call` (its target and content) in the job (bot.delivery)."""
    return f"delivery:{job_id}:{call}:{occurrence}"


def slack_event(event_id: str) -> str:
    """A Slack event's claim: being answered, or answered (adapters.slack.service)."""
    return f"slack:event:{event_id}"


def slack_installation(enterprise_id: str, team: str) -> str:
    return f"slack:installation:{enterprise_id}:{team}"


def slack_oauth_state(state: str) -> str:
    return f"slack:oauth-state:{state}"
