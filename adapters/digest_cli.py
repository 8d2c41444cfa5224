"""`summary-bot digest preview CHAT`: a chat's daily digest as it would be sent now.

For operators: it reads the store the bot uses (SUMMARY_BOT_REDIS_URL or the SQLite file),
prints the digest and sends nothing, marks nothing as sent.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import Settings


def add_digest_parser(commands: argparse._SubParsersAction) -> None:
    digest = commands.add_parser(
        "digest", help="look at chats' daily digests",
        description="Daily digests, for operators: reads the bot's store, sends nothing.",
    )  # fmt: skip
    actions = digest.add_subparsers(dest="digest_action", required=True)
    preview = actions.add_parser(
        "preview", help="print a chat's digest as it would be sent now",
        description="Print a chat's daily digest as it would be sent now; sends nothing, marks nothing as sent.",
    )  # fmt: skip
    preview.add_argument("chat", help="platform:chat_id, e.g. telegram:-1001234 or slack:C0123")
    preview.set_defaults(func=cmd_digest_preview)


async def cmd_digest_preview(args, settings: Settings) -> int:
    from adapters.assembly import assemble_bot, close_bot
    from adapters.console import render_daily
    from bot.models import ChatRef
    from bot.store import open_store

    platform, _, chat_id = args.chat.partition(":")
    if not platform or not chat_id:
        print(f"summary-bot: CHAT must be platform:chat_id (e.g. telegram:-1001234), not {args.chat!r}", file=sys.stderr)
        return 2
    store = await open_store(settings)
    bot = assemble_bot(settings, store)
    try:
        subscription = await bot.digests.subscriptions.get(f"{platform}:{chat_id}")
        chat = subscription.chat if subscription else ChatRef(platform=platform, chat_id=chat_id)
        pending = await bot.digests.digest_until(chat, bot.digests.clock(), daily=True)
    finally:
        await close_bot(bot)
        await store.close()
    if subscription is None:
        print(f"({chat.key} is not subscribed; this is what it would get.)")
    if pending is None:
        print(f"Nothing new for {chat.key} since its last digest: none would be sent now.")
    else:
        print(render_daily(pending.daily))
    return 0
