"""A stand-in for Slack's Web API on 127.0.0.1, for tests and the benchmark.

Point the real slack-sdk client at `api_url` (`SUMMARY_BOT_SLACK_API_URL`); every call is
recorded for assertions. It answers the methods the adapter uses (auth.test,
chat.postMessage, chat.postEphemeral, chat.update (of a message it posted), chat.unfurl, views.publish, oauth.v2.access, users.info
and conversations.info for the users and channels a test adds with `add_user` and
`add_channel` (others are "user_not_found" / "channel_not_found"), and
conversations.history / conversations.replies for the messages it adds with `add_message`) and serves
`response_url`s for slash commands. `rate_limit_next(method)` makes the next call to that
method answer 429 with a Retry-After header, the way Slack throttles. `signed_headers` and
`event_callback` build requests the way Slack sends them to the app.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from aiohttp import web

from adapters.local_server import LocalServer

BOT_USER_ID = "UBOTSTANDIN"
BOT_ID = "BBOTSTANDIN"
TEAM_ID = "TSTANDIN"


def signed_headers(body: str, secret: str, *, timestamp: int | None = None, content_type: str = "application/json") -> dict:
    """Headers Slack sends with `body`: the v0 HMAC-SHA256 of `v0:{timestamp}:{body}`."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={signature}", "Content-Type": content_type}


def event_callback(
    event: dict, *, event_id: str, team_id: str = TEAM_ID, enterprise_id: str | None = None,
    is_enterprise_install: bool = False,
) -> str:  # fmt: skip
    """The JSON body of an Events API delivery of `event`, with the `authorizations` Slack
    adds: the installation the event was delivered to."""
    return json.dumps({
        "token": "unused", "team_id": team_id, "enterprise_id": enterprise_id, "api_app_id": "A1",
        "type": "event_callback", "event_id": event_id, "event_time": int(time.time()), "event": event,
        "authorizations": [{"enterprise_id": enterprise_id, "team_id": None if is_enterprise_install else team_id,
                            "user_id": BOT_USER_ID, "is_bot": True, "is_enterprise_install": is_enterprise_install}],
    })  # fmt: skip


def _from(team_id: str, user_id: str) -> dict:
    """The fields every interaction payload has about who acted, in which workspace."""
    return {
        "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": team_id},
        "team": {"id": team_id, "domain": "test"}, "enterprise": None, "is_enterprise_install": False,
    }  # fmt: skip


def block_actions(
    *, team_id: str, user_id: str, channel_id: str, value: str, response_url: str, channel_name: str = "general",
    message_ts: str = "1700000000.000900", action_id: str = "summary_bot_command", blocks: list | None = None,
) -> str:  # fmt: skip
    """The form body of a button press (a `block_actions` interaction payload) on a message
    the bot posted in a channel (with `blocks`, the message's blocks, as Slack includes them)."""
    payload = {
        "type": "block_actions", "api_app_id": "A1", "token": "unused", "trigger_id": "1.2.press",
        **_from(team_id, user_id),
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id, "is_ephemeral": False},
        "channel": {"id": channel_id, "name": channel_name},
        "message": {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "ts": message_ts, "text": "Erase?",
                    **({"blocks": blocks} if blocks is not None else {})},
        "state": {"values": {}}, "response_url": response_url,
        "actions": [{"action_id": action_id, "block_id": "b1", "type": "button", "value": value, "style": "danger",
                     "text": {"type": "plain_text", "text": "Erase everything", "emoji": True},
                     "action_ts": f"{time.time():.6f}"}],
    }  # fmt: skip
    return urlencode({"payload": json.dumps(payload)})


def message_action(
    *, team_id: str, user_id: str, channel_id: str, message: dict, response_url: str, trigger_id: str,
    callback_id: str = "summarize_message", channel_name: str = "general",
) -> str:  # fmt: skip
    """The form body of a message shortcut's invocation (a `message_action` interaction
    payload), as Slack documents it: the message it was used on, and a response_url."""
    payload = {
        "type": "message_action", "token": "unused", "action_ts": f"{time.time():.6f}",
        **_from(team_id, user_id),
        "channel": {"id": channel_id, "name": channel_name}, "callback_id": callback_id, "trigger_id": trigger_id,
        "message_ts": message.get("ts"), "message": message, "response_url": response_url,
    }  # fmt: skip
    return urlencode({"payload": json.dumps(payload)})


def ephemeral_block_actions(
    *, team_id: str, user_id: str, channel_id: str, action_id: str, value: str, response_url: str,
    message_ts: str = "1700000000.000950", channel_name: str = "general",
) -> str:  # fmt: skip
    """The form body of a button press on an ephemeral message (one only its user sees):
    Slack sends the container, but not the message."""
    payload = {
        "type": "block_actions", "api_app_id": "A1", "token": "unused", "trigger_id": "1.2.ephemeral",
        **_from(team_id, user_id),
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id, "is_ephemeral": True},
        "channel": {"id": channel_id, "name": channel_name}, "state": {"values": {}}, "response_url": response_url,
        "actions": [{"action_id": action_id, "block_id": "b1", "type": "button", "value": value,
                     "text": {"type": "plain_text", "text": "Share in thread", "emoji": True},
                     "action_ts": f"{time.time():.6f}"}],
    }  # fmt: skip
    return urlencode({"payload": json.dumps(payload)})


def view_block_actions(*, team_id: str, user_id: str, action_id: str, value: str, block_id: str, view: dict | None = None) -> str:
    """The form body of a button press in the App Home tab (a `block_actions` payload from a
    view): no channel, no response_url, the view as published."""
    view = {"id": "VSTANDIN", "team_id": team_id, "type": "home", "blocks": [], "private_metadata": "", "callback_id": "",
            "state": {"values": {}}, "hash": "1700000000.abc", "app_id": "A1", "bot_id": BOT_ID, **(view or {})}  # fmt: skip
    payload = {
        "type": "block_actions", "api_app_id": "A1", "token": "unused", "trigger_id": "1.2.home",
        **_from(team_id, user_id),
        "container": {"type": "view", "view_id": "VSTANDIN"}, "view": view,
        "actions": [{"action_id": action_id, "block_id": block_id, "type": "button", "value": value,
                     "text": {"type": "plain_text", "text": "Stop", "emoji": True}, "action_ts": f"{time.time():.6f}"}],
    }  # fmt: skip
    return urlencode({"payload": json.dumps(payload)})


@dataclass
class RecordedCall:
    method: str  # Web API method, or "response_url" for a post to a response URL
    params: dict  # form or JSON body (for response_url: the JSON body)
    token: str | None  # from the Authorization header
    status: int  # what the stand-in answered
    at: float = field(default_factory=time.monotonic)
    path: str = ""


class SlackStandIn(LocalServer):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[RecordedCall] = []
        self._rate_limited: dict[str, list[int]] = {}  # method -> Retry-After for its next calls
        self._timestamps = itertools.count(1)
        self._changed = asyncio.Condition()
        self.users: dict[str, dict] = {}  # user id -> users.info's `user`
        self.channels: dict[str, dict] = {}  # channel id -> conversations.info's `channel`
        self.posted: dict[tuple[str, str], dict] = {}  # (channel, ts) -> what chat.postMessage/chat.update made it
        self.messages: dict[str, list[dict]] = {}  # channel id -> its messages (history and threads)

    def add_user(self, user_id: str, *, team_id: str = TEAM_ID, admin: bool = False, owner: bool = False,
                 primary_owner: bool = False, deleted: bool = False, locale: str = "en-US") -> None:  # fmt: skip
        self.users[user_id] = {
            "id": user_id, "team_id": team_id, "name": user_id.lower(), "deleted": deleted,
            "is_admin": admin, "is_owner": owner, "is_primary_owner": primary_owner, "is_bot": False,
            "locale": locale,  # answered only with include_locale, as Slack does
        }  # fmt: skip

    def add_channel(self, channel_id: str, *, creator: str, private: bool = False, mpim: bool = False) -> None:
        self.channels[channel_id] = {
            "id": channel_id, "name": channel_id.lower(), "creator": creator, "is_channel": not private and not mpim,
            "is_group": private and not mpim, "is_mpim": mpim, "is_private": private or mpim,
        }  # fmt: skip

    def add_message(self, channel_id: str, ts: str, text: str, *, user: str = "U1", thread_ts: str | None = None,
                    **extra) -> dict:  # fmt: skip
        """A message in a channel (a thread's reply with `thread_ts`), as conversations.history
        and conversations.replies give it."""
        message = {"type": "message", "user": user, "text": text, "ts": ts, **extra}
        if thread_ts:
            message["thread_ts"] = thread_ts
        self.messages.setdefault(channel_id, []).append(message)
        return message

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def response_url(self, name: str) -> str:
        return f"{self.base_url}/response/{name}"

    def rate_limit_next(self, method: str, retry_after: int = 1) -> None:
        """Answer the next call to `method` ("response_url" for response URLs) with 429 and
        `Retry-After: retry_after`."""
        self._rate_limited.setdefault(method, []).append(retry_after)

    def _take_rate_limit(self, method: str) -> int | None:
        waiting = self._rate_limited.get(method)
        return waiting.pop(0) if waiting else None

    def calls_to(self, method: str, *, status: int | None = 200) -> list[RecordedCall]:
        return [c for c in self.calls if c.method == method and (status is None or c.status == status)]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 30.0) -> list[RecordedCall]:
        """The successful calls to `method` once there are at least `count` of them."""

        async def enough() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.calls_to(method)) >= count)

        try:
            await asyncio.wait_for(enough(), timeout)
        except asyncio.TimeoutError:
            seen = [(c.method, c.status) for c in self.calls]
            raise AssertionError(f"expected {count} call(s) to {method} within {timeout}s; got {seen}") from None
        return self.calls_to(method)

    # -- server -----------------------------------------------------------------------
    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)  # slack-sdk GETs some methods (users.info)
        app.router.add_post("/response/{name}", self._response_url)
        return app

    async def _record(self, call: RecordedCall) -> None:
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    async def _read_params(self, request: web.Request) -> dict:
        if request.method == "GET":
            return dict(request.query)
        if request.content_type == "application/json":
            return await request.json()
        form = await request.post()
        params = {key: value for key, value in form.items() if isinstance(value, str)}
        for key in ("blocks", "unfurls", "attachments", "view"):  # JSON-encoded form fields
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._read_params(request)
        authorization = request.headers.get("Authorization", "")
        token = authorization.removeprefix("Bearer ") or params.get("token")
        retry_after = self._take_rate_limit(method)
        if retry_after is not None:
            await self._record(RecordedCall(method, params, token, 429, path=request.path))
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": str(retry_after)})  # fmt: skip
        body = self._answer(method, params, token)
        await self._record(RecordedCall(method, params, token, 200, path=request.path))
        return web.json_response(body)

    def _answer(self, method: str, params: dict, token: str | None) -> dict:
        if method == "auth.test":
            if not token:
                return {"ok": False, "error": "not_authed"}
            return {"ok": True, "url": "https://standin.slack.test/", "team": "Stand-in", "user": "summary-bot",
                    "team_id": _team_of(token), "user_id": BOT_USER_ID, "bot_id": BOT_ID,
                    "is_enterprise_install": False}  # fmt: skip
        if method in ("chat.postMessage", "chat.postEphemeral"):
            ts = f"{int(time.time())}.{next(self._timestamps):06d}"
            key = "ts" if method == "chat.postMessage" else "message_ts"
            if method == "chat.postMessage":
                self.posted[(str(params.get("channel")), ts)] = params
            return {"ok": True, "channel": params.get("channel"), key: ts}
        if method == "chat.update":  # only a message the bot posted, found by channel and ts
            where = (str(params.get("channel")), str(params.get("ts")))
            if where not in self.posted:
                return {"ok": False, "error": "message_not_found"}
            self.posted[where] = {**self.posted[where], **params}
            return {"ok": True, "channel": where[0], "ts": where[1], "text": params.get("text", "")}
        if method == "chat.unfurl":
            return {"ok": True}
        if method == "views.publish":
            view = params.get("view")
            if not params.get("user_id") or not isinstance(view, dict) or view.get("type") != "home":
                return {"ok": False, "error": "invalid_arguments"}
            return {"ok": True, "view": {"id": "VSTANDIN", "team_id": _team_of(token or ""), **view}}
        if method in ("conversations.history", "conversations.replies"):
            return self._conversation(method, params)
        if method == "users.info":
            user = self.users.get(str(params.get("user")))
            if user and str(params.get("include_locale")).lower() not in ("true", "1"):
                user = {key: value for key, value in user.items() if key != "locale"}
            return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}
        if method == "conversations.info":
            channel = self.channels.get(str(params.get("channel")))
            return {"ok": True, "channel": channel} if channel else {"ok": False, "error": "channel_not_found"}
        if method == "oauth.v2.access":
            # The code names the workspace being installed: "code-T123" installs T123, "code-E1-T5"
            # workspace T5 of Enterprise Grid org E1, "code-E1-org" the whole org E1.
            names = (str(params.get("code", "")).removeprefix("code-") or TEAM_ID).split("-")
            enterprise = names[0] if len(names) == 2 else None
            team = None if names[-1] == "org" else names[-1]
            owner = team or enterprise
            return {"ok": True, "app_id": "ASTANDIN", "scope": "chat:write,commands", "token_type": "bot",
                    "authed_user": {"id": "UINSTALLER", "scope": "search:read", "token_type": "user",
                                    "access_token": f"xoxp-{owner}-UINSTALLER"},
                    "access_token": f"xoxb-{owner}", "bot_user_id": BOT_USER_ID,
                    "team": {"id": team, "name": f"Team {team}"} if team else None,
                    "enterprise": {"id": enterprise, "name": f"Org {enterprise}"} if enterprise else None,
                    "is_enterprise_install": team is None}  # fmt: skip
        return {"ok": False, "error": "unknown_method"}

    def _conversation(self, method: str, params: dict) -> dict:
        """conversations.history (top-level messages, newest first) or conversations.replies
        (a thread: its parent first, then replies oldest first), bounded by `oldest`,
        `latest`, `inclusive` and `limit` as Slack documents them."""
        channel = str(params.get("channel"))
        if channel not in self.messages and channel not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        everything = self.messages.get(channel, [])
        inclusive = str(params.get("inclusive", "0")).lower() in ("1", "true")
        oldest, latest = float(params.get("oldest") or 0), float(params.get("latest") or "inf")

        def within(message: dict) -> bool:
            ts = float(message["ts"])
            return (oldest <= ts <= latest) if inclusive else (oldest < ts < latest)

        limit = max(1, min(int(params.get("limit") or 100), 1000))
        if method == "conversations.history":
            top = [m for m in everything if m.get("thread_ts", m["ts"]) == m["ts"] and within(m)]
            return {"ok": True, "messages": sorted(top, key=lambda m: float(m["ts"]), reverse=True)[:limit], "has_more": False}
        ts = str(params.get("ts"))
        found = next((m for m in everything if m["ts"] == ts), None)
        if found is None:
            return {"ok": False, "error": "thread_not_found"}
        parent_ts = found.get("thread_ts", ts)
        parent = next((m for m in everything if m["ts"] == parent_ts), found)
        replies = sorted((m for m in everything if m.get("thread_ts") == parent_ts and m["ts"] != parent_ts and within(m)),
                         key=lambda m: float(m["ts"]))[: limit - 1 if limit > 1 else 0]  # fmt: skip
        return {"ok": True, "messages": [parent, *replies], "has_more": False}

    async def _response_url(self, request: web.Request) -> web.Response:
        params = await request.json()
        retry_after = self._take_rate_limit("response_url")
        if retry_after is not None:
            await self._record(RecordedCall("response_url", params, None, 429, path=request.path))
            return web.Response(status=429, text="rate_limited", headers={"Retry-After": str(retry_after)})
        await self._record(RecordedCall("response_url", params, None, 200, path=request.path))
        return web.Response(text="ok")


def _team_of(token: str) -> str:
    """The workspace a token belongs to: OAuth tokens here are `xoxb-{team}`."""
    team = token.removeprefix("xoxb-")
    return team if team.startswith("T") and team.isalnum() else TEAM_ID
