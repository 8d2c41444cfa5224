"""Scaled out: `summary-bot run` fronts and `summary-bot worker` processes on one real Redis,
as separate processes, against the Telegram and Slack stand-ins.

What must hold: a link shared in many chats at once is fetched once in the whole
deployment; every message is answered exactly once, even when a worker is killed in the
middle of its jobs, a front is killed right after acknowledging, and a platform delivers an
update again."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
import redis
from aiohttp import web
from local_site import serve_site

from benchmarks.deployment import Deployment, RedisServer, clean_environment

from benchmarks.standins.slack_api import SlackStandIn, event_callback, signed_headers
from benchmarks.standins.telegram_api import BotApiStandIn

SECRET = "webhook-secret"
SIGNING_SECRET = "signing-secret"
SLACK_TOKEN = "xoxb-scale-test"
JOB_TIMEOUT = 10  # a dead worker's content job runs again 20 s after it started, a message job 60 s after
PAGE_DELAY = 1.0  # each article page answers after this: jobs are in flight when a process dies


def article_html(n: int) -> str:
    sentences = " ".join(
        f"Story {n} reports that the river authority in district {n} approved plan {k} on Monday, "
        f"which will cost {k + n} million euros and take {k + 2} years to finish." for k in range(8)
    )
    return (
        f"<html><head><title>Story {n} on the river plan</title></head><body><article>"
        f"<h1>Story {n} on the river plan</h1><p>{sentences}</p></article></body></html>"
    )


def article_routes(count: int) -> dict:
    def handler(n: int):
        async def answer(request: web.Request) -> web.Response:
            await asyncio.sleep(PAGE_DELAY)
            return web.Response(text=article_html(n), content_type="text/html")

        return answer

    return {f"/story{n}.html": handler(n) for n in range(count)}


@asynccontextmanager
async def deployment(redis_url: str, tmp_path: Path, telegram: BotApiStandIn, slack: SlackStandIn):
    with redis.Redis.from_url(redis_url) as admin:
        admin.flushdb()
    env = clean_environment()
    env.update({
        "SUMMARY_BOT_WORKERS": "external", "SUMMARY_BOT_REDIS_URL": redis_url,
        "SUMMARY_BOT_JOB_TIMEOUT": str(JOB_TIMEOUT), "SUMMARY_BOT_USER_RATE_LIMIT": "0",
        "SUMMARY_BOT_FETCH_ALLOW_PRIVATE": "127.0.0.0/8", "SUMMARY_BOT_HTTP_HOST": "127.0.0.1",
        "SUMMARY_BOT_TELEGRAM_TOKEN": telegram.token, "SUMMARY_BOT_TELEGRAM_API_URL": telegram.base_url,
        # The load balancer's address; each front serves the same path.
        "SUMMARY_BOT_TELEGRAM_WEBHOOK_URL": "http://127.0.0.1:9/telegram",
        "SUMMARY_BOT_TELEGRAM_WEBHOOK_SECRET": SECRET,
        "SUMMARY_BOT_SLACK_BOT_TOKEN": SLACK_TOKEN, "SUMMARY_BOT_SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SUMMARY_BOT_SLACK_API_URL": slack.api_url, "SUMMARY_BOT_LOG_LEVEL": "INFO",
        "OMP_NUM_THREADS": "1",  # two workers on two cores
    })  # fmt: skip
    deployed = Deployment(env, tmp_path)
    try:
        for name, command in (("worker1", "worker"), ("worker2", "worker"), ("front1", "run"), ("front2", "run")):
            deployed.start(name, command)
        await deployed.wait_healthy(["front1", "front2", "worker1", "worker2"])
        for front in ("front1", "front2"):  # fronts only receive and enqueue: no model, no torch
            assert "/torch/" not in Path(f"/proc/{deployed.processes[front].pid}/maps").read_text()
        yield deployed
    finally:
        deployed.stop_all()


async def post_update(http: aiohttp.ClientSession, deployed: Deployment, front: str, update: dict) -> int:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with http.post(deployed.url(front, "/telegram"), json=update, headers=headers) as response:
        return response.status


async def post_slack(http: aiohttp.ClientSession, deployed: Deployment, front: str, body: str, retry: int = 0) -> int:
    headers = signed_headers(body, SIGNING_SECRET)
    if retry:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    async with http.post(deployed.url(front, "/slack/events"), data=body, headers=headers) as response:
        return response.status


def slack_message(channel: str, text: str, ts: str) -> dict:
    return {"type": "message", "channel": channel, "channel_type": "channel", "user": "U0READER", "text": text, "ts": ts}


async def wait_until(condition, timeout: float, deployed: Deployment, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}\n{deployed.logs()}"
        await asyncio.sleep(0.2)


@pytest.fixture
async def standins():
    async with BotApiStandIn() as telegram, SlackStandIn() as slack:
        yield telegram, slack


async def test_many_chats_one_new_link_cost_one_fetch_and_every_fault_costs_no_reply(redis_url, tmp_path, standins):
    telegram, slack = standins
    async with serve_site(article_routes(8)) as site, deployment(redis_url, tmp_path, telegram, slack) as deployed:
        async with aiohttp.ClientSession() as http:
            # 1. Forty chats share one new link at the same moment, through both fronts.
            shared = site.url("/story0.html")
            updates = [telegram.new_update(shared, chat_id=1000 + n) for n in range(40)]
            statuses = await asyncio.gather(
                *(post_update(http, deployed, ("front1", "front2")[n % 2], update) for n, update in enumerate(updates))
            )
            assert set(statuses) == {200}
            await wait_until(lambda: len(telegram.calls_to("sendMessage")) >= 40, 120, deployed, "not all answered")
            assert site.hits["/story0.html"] == 1  # one fetch in the whole deployment
            replied = Counter(call.params["chat_id"] for call in telegram.calls_to("sendMessage"))
            assert replied == Counter({1000 + n: 1 for n in range(40)})

            # 2. A burst over many chats while a worker dies mid-job and a front dies right
            #    after acknowledging.
            telegram.calls.clear()
            os.kill(deployed.processes["worker2"].pid, signal.SIGSTOP)  # worker1 takes the burst
            burst = [telegram.new_update(site.url(f"/story{1 + n % 7}.html"), chat_id=2000 + n) for n in range(14)]
            for n, update in enumerate(burst[:6]):
                assert await post_update(http, deployed, ("front1", "front2")[n % 2], update) == 200
            slack_bodies = [
                event_callback(slack_message(f"C{n}", f"<{site.url(f'/story{1 + n}.html')}>", f"1700000000.{n:06d}"),
                               event_id=f"EvScale{n}")
                for n in range(4)
            ]  # fmt: skip
            for n, body in enumerate(slack_bodies[:2]):
                assert await post_slack(http, deployed, ("front1", "front2")[n % 2], body) == 200
            # worker1 is now fetching: kill it in the middle of its jobs, and let worker2 go on.
            await wait_until(lambda: sum(site.hits.values()) > 1, 30, deployed, "worker1 never fetched")
            deployed.kill("worker1")
            os.kill(deployed.processes["worker2"].pid, signal.SIGCONT)
            # front2 acknowledges an update and dies at once; Telegram delivers it again
            # (to front1), as it would had the acknowledgement been lost.
            assert await post_update(http, deployed, "front2", burst[6]) == 200
            deployed.kill("front2")
            assert await post_update(http, deployed, "front1", burst[6]) == 200
            for update in burst[7:]:
                assert await post_update(http, deployed, "front1", update) == 200
            for body in slack_bodies[2:]:
                assert await post_slack(http, deployed, "front1", body) == 200
            assert await post_slack(http, deployed, "front1", slack_bodies[0], retry=1) == 200  # Slack's retry

            def answered() -> bool:
                chats = {call.params["chat_id"] for call in telegram.calls_to("sendMessage")}
                channels = {call.params["channel"] for call in slack.calls_to("chat.postMessage")}
                return len(chats) == len(burst) and len(channels) == len(slack_bodies)

            await wait_until(answered, 4 * JOB_TIMEOUT + 120, deployed, "not every message was answered")
            await asyncio.sleep(2)  # room for a duplicate to show up
        telegram_replies = Counter(call.params["chat_id"] for call in telegram.calls_to("sendMessage"))
        slack_replies = Counter(call.params["channel"] for call in slack.calls_to("chat.postMessage"))
        assert telegram_replies == Counter({2000 + n: 1 for n in range(len(burst))}), deployed.logs()
        assert slack_replies == Counter({f"C{n}": 1 for n in range(4)}), deployed.logs()
        for call in telegram.calls_to("sendMessage"):
            assert "Story" in call.params["text"] and "river plan" in call.params["text"]
        for call in slack.calls_to("chat.postMessage"):
            assert "river plan" in json.dumps(call.params.get("blocks") or call.params.get("text"))


async def test_a_worker_outlives_a_redis_restart_and_answers_after_it(tmp_path, standins):
    telegram, _ = standins
    with RedisServer() as server:
        env = clean_environment()
        env.update({
            "SUMMARY_BOT_WORKERS": "external", "SUMMARY_BOT_REDIS_URL": server.url, "SUMMARY_BOT_HTTP_HOST": "127.0.0.1",
            "SUMMARY_BOT_TELEGRAM_TOKEN": telegram.token, "SUMMARY_BOT_TELEGRAM_API_URL": telegram.base_url,
            "SUMMARY_BOT_TELEGRAM_WEBHOOK_URL": "http://127.0.0.1:9/telegram", "SUMMARY_BOT_TELEGRAM_WEBHOOK_SECRET": SECRET,
            "SUMMARY_BOT_LOG_LEVEL": "INFO", "OMP_NUM_THREADS": "1",
        })  # fmt: skip
        deployed = Deployment(env, tmp_path)
        try:
            deployed.start("worker1", "worker")
            deployed.start("front1", "run")
            await deployed.wait_healthy(["front1", "worker1"])
            server.restart()
            await deployed.wait_healthy(["front1", "worker1"])
            async with aiohttp.ClientSession() as http:
                assert await post_update(http, deployed, "front1", telegram.new_update("/help", chat_id=77)) == 200
            await wait_until(lambda: telegram.calls_to("sendMessage"), 60, deployed, "no answer after the restart")
            assert all(process.poll() is None for process in deployed.processes.values()), deployed.logs()
        finally:
            deployed.stop_all()
