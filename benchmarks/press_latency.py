"""Time from a Shorter/Longer press to the edit, for a cached link (issue 20's closing note).

    python -m benchmarks.press_latency [--presses 40]

The real Telegram adapter on the stand-in Bot API (getUpdates, as Telegram would serve the
`callback_query`), a fresh SQLite store in a temporary folder, a sample page from seeds/ on
127.0.0.1. One link is shared, then Shorter and Longer are each pressed once (so medium and
short are both cached), then --presses presses alternate between the two. Each is timed from
queueing its update to the stand-in receiving editMessageText; the answerCallbackQuery time
is reported too. Flood limits are off: they would measure Telegram's limits, not the bot.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import statistics
import tempfile
import time
from pathlib import Path

from adapters.assembly import assemble_bot, close_bot
from adapters.seed_site import SeedSite
from bot.config import load_settings
from bot.store import open_store

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
PAGE = "/news/google-nest-hub-matter-update.html"


async def measure(presses: int) -> dict:
    from telegram.ext import AIORateLimiter

    from adapters.telegram.service import TelegramService
    from adapters.telegram.settings import TelegramSettings
    from benchmarks.standins.telegram_api import BotApiStandIn

    with tempfile.TemporaryDirectory(prefix="summary-bot-press-") as workdir:
        async with BotApiStandIn() as api, SeedSite(SEEDS) as site:
            settings = load_settings().model_copy(update={
                "redis_url": None, "sqlite_path": Path(workdir) / "store.sqlite3", "user_rate_limit": 0,
                "fetch_allow_private": [ipaddress.ip_network("127.0.0.1/32")],
            })  # fmt: skip
            store = await open_store(settings)
            bot = assemble_bot(settings, store)
            telegram = TelegramSettings(telegram_token=api.token, telegram_api_url=api.base_url, telegram_webhook_url=None)
            service = TelegramService(telegram, bot, rate_limiter=AIORateLimiter(overall_max_rate=0, group_max_rate=0))
            await service.start()
            try:
                api.queue_message(site.base_url + PAGE, chat_id=4242)
                await api.wait_for("sendMessage", 1, timeout=300)
                message = api.sent_messages[-1]
                edits, answers = [], []
                for n in range(presses + 2):  # the first two compute short, then medium is cached already
                    [data] = [b["callback_data"] for row in message["reply_markup"]["inline_keyboard"] for b in row][:1]
                    done_edits, done_answers = len(api.calls_to("editMessageText")), len(api.calls_to("answerCallbackQuery"))
                    start = time.monotonic()
                    api.queue(api.press_update(message, data, user_id=4242))
                    [*_, edit] = await api.wait_for("editMessageText", done_edits + 1, timeout=120)
                    [*_, answer] = await api.wait_for("answerCallbackQuery", done_answers + 1, timeout=120)
                    if n >= 2:
                        edits.append(edit.at - start)
                        answers.append(answer.at - start)
                    await asyncio.sleep(0.05)  # the next press is a person's, not a burst
            finally:
                await service.stop()
                await close_bot(bot)
                await store.close()
    runs = bot.pipeline.model_runs
    return {"presses": presses, "model_runs": runs, "edit": _stats(edits), "answer": _stats(answers)}


def _stats(seconds: list[float]) -> dict:
    ordered = sorted(seconds)
    return {"median_ms": round(1000 * statistics.median(ordered), 1),
            "p95_ms": round(1000 * ordered[max(0, round(0.95 * len(ordered)) - 1)], 1),
            "max_ms": round(1000 * ordered[-1], 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=40)
    args = parser.parse_args()
    result = asyncio.run(measure(max(1, args.presses)))
    print(f"{result['presses']} presses of Shorter/Longer on a cached link (model runs in all: {result['model_runs']}):")
    for name in ("edit", "answer"):
        r = result[name]
        print(f"  press -> {name:6}  median {r['median_ms']} ms, p95 {r['p95_ms']} ms, max {r['max_ms']} ms")


if __name__ == "__main__":
    main()
