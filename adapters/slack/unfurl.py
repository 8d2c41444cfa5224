"""Unfurls: a link on one of SUMMARY_BOT_SLACK_UNFURL_DOMAINS gets its digest as the link's
preview (link_shared -> chat.unfurl), not as a reply, so a channel that shares such links
sees one preview per link and no thread of digests.
"""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.delivery import Delivery
from adapters.slack.incoming import chat_kind, host_matches, slack_chat
from adapters.slack.render import render_unfurl
from bot.core import SummaryBot
from bot.models import Incoming

log = logging.getLogger(__name__)


def links_to_unfurl(event: dict, domains: list[str]) -> list[str]:
    """The links of a link_shared event that are ours to unfurl."""
    return [link["url"] for link in event.get("links", []) if host_matches(link.get("url", ""), domains)]


async def unfurl(bot: SummaryBot, client: AsyncWebClient, payload: dict, delivery: Delivery) -> None:
    """Summarize a link_shared event's links (handed off as `payload`) and show the digests
    as their previews."""
    event, urls = payload["event"], payload["urls"]
    channel = event.get("channel", "")
    chat = slack_chat(payload.get("team_id"), channel, thread_id=event.get("thread_ts"), kind=chat_kind(channel))
    message = Incoming(chat=chat, text=" ".join(urls), user_id=event.get("user", ""), addressed_to_bot=True)
    # A link typed in the composer is not shared yet: it must not join the daily digest.
    shared = event.get("source") != "composer"
    replies = await bot.summarize_links(message, urls, record_history=shared)
    unfurls = {url: render_unfurl(reply.digest, bot.languages.get(reply.language)) for url, reply in zip(urls, replies) if reply.digest is not None}
    if not unfurls:
        return  # errors (a page we cannot read, a rate limit) leave Slack's own preview alone
    where = (
        {"unfurl_id": event["unfurl_id"], "source": event["source"]}
        if event.get("unfurl_id") and event.get("source")
        else {"channel": event["channel"], "ts": event["message_ts"]}
    )
    try:
        await delivery.once(["unfurl", where], unfurls, lambda: client.chat_unfurl(unfurls=unfurls, **where))
    except SlackApiError as exc:
        log.warning("chat.unfurl failed: %s", exc.response.get("error"))
