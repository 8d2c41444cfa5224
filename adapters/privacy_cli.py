"""`summary-bot forget --chat CHAT` and `summary-bot export --chat CHAT`: the operators' tools
for a lawful request (erasure; a copy of everything stored about a chat, as JSON on stdout).

CHAT is telegram:<id>, slack:<team>:<channel> or slack:<channel>. They work on the store the
bot uses (SUMMARY_BOT_REDIS_URL or the SQLite file) through bot.privacy, as /forget does.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import Settings

CHAT_HELP = "telegram:<chat id>, slack:<team>:<channel> (or slack:<channel>)"


def add_privacy_parsers(commands: argparse._SubParsersAction) -> None:
    forget = commands.add_parser(
        "forget", help="erase everything stored about a chat",
        description="Erase everything the bot stores about one chat (settings, subscription, feeds, "
        "shared links and their digests, its related memory) and print what was erased, as JSON.",
    )  # fmt: skip
    forget.add_argument("--chat", required=True, help=CHAT_HELP)
    forget.add_argument(
        "--rewrite-aof", action="store_true",
        help="Redis: ask for an AOF rewrite (BGREWRITEAOF; BGSAVE without AOF) so its files drop the erased bytes",
    )  # fmt: skip
    forget.set_defaults(func=cmd_forget)
    export = commands.add_parser(
        "export", help="print everything stored about a chat, as JSON",
        description="Print everything the bot stores about one chat as JSON on stdout; changes nothing.",
    )  # fmt: skip
    export.add_argument("--chat", required=True, help=CHAT_HELP)
    export.set_defaults(func=cmd_export)


async def cmd_forget(args, settings: Settings) -> int:
    return await _with_privacy(args, settings, _forget)


async def cmd_export(args, settings: Settings) -> int:
    return await _with_privacy(args, settings, _export)


async def _forget(privacy, chat, args) -> dict:
    erased = await privacy.erase_chat(chat, rewrite_persistence=args.rewrite_aof)
    return {"chat": chat.key, "erased": erased.to_dict()}


async def _export(privacy, chat, args) -> dict:
    return await privacy.export_chat(chat)


async def _with_privacy(args, settings: Settings, action) -> int:
    from bot.privacy import Privacy, parse_chat
    from bot.store import open_store

    try:
        chat = parse_chat(args.chat)
    except ValueError as exc:
        print(f"summary-bot: --chat: {exc}", file=sys.stderr)
        return 2
    store = await open_store(settings)
    try:
        result = await action(Privacy(store), chat, args)
    finally:
        await store.close()
    json.dump(result, sys.stdout, ensure_ascii=False, indent=2, sort_keys=True)
    print()
    return 0
