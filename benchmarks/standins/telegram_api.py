"""A stand-in for the Telegram Bot API on 127.0.0.1, for tests and benchmarks.

It speaks the Bot API over HTTP (`{base_url}/bot{token}/{method}`), so the real
python-telegram-bot client runs against it unchanged; point SUMMARY_BOT_TELEGRAM_API_URL
at `base_url`. It serves queued updates to getUpdates (long-polling briefly), can post
them to a registered webhook with its secret, records every call, and checks sent
messages the way Telegram does: HTML must parse, text must be 1-4096 UTF-16 units after
entity parsing. It can be told to fail the next call to a method (a 429 with
`retry_after`, a 400, a 403), to refuse every message to a chat as Telegram does once its
user blocked the bot (`block`) or once a group became a supergroup (`migrate`). Besides
messages it builds `my_chat_member` updates (`member_update`) and button presses
(`press_update`, a `callback_query` on a message the bot sent with an inline keyboard), and
answers setMyCommands, answerCallbackQuery, getChatMember and editMessageText (of a message
it sent: the text checked as sendMessage's, "message is not modified" when nothing changes).
Inline mode: `inline_query_update` builds an `inline_query` (what a user types after the bot's
name in any chat), and answerInlineQuery is checked as Telegram does (each query answered once;
results' ids, titles and message texts; the button's start parameter) and kept in
`inline_answers`.

    async with BotApiStandIn() as api:
        update = api.queue_message("https://example.org/a", chat_id=42)
        ...
        (sent,) = await api.wait_for("sendMessage")
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from adapters.local_server import LocalServer

DEFAULT_TOKEN = "123456:standin-token"
MAX_TEXT_UNITS = 4096

# Tags Telegram's HTML parse mode accepts.
ALLOWED_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "span", "tg-spoiler", "tg-emoji", "blockquote"}
)
# Parameters that are plain strings on the wire; every other form value is JSON.
STRING_PARAMS = frozenset(
    {"text", "caption", "parse_mode", "url", "secret_token", "action", "ip_address", "callback_query_id",
     "inline_query_id", "next_offset"}
)
MAX_CALLBACK_DATA = 64  # bytes
MAX_INLINE_RESULTS = 50
_START_PARAMETER = re.compile(r"[A-Za-z0-9_-]{1,64}")

_HTML_TOKEN = re.compile(
    r"""<(?P<close>/?)(?P<tag>[a-zA-Z][a-zA-Z0-9-]*)(?P<attrs>(?:\s+[a-zA-Z-]+\s*=\s*"[^"]*")*)\s*>"""
    r"""|&(?P<entity>\#[0-9]+|\#x[0-9a-fA-F]+|lt|gt|amp|quot);"""
    r"""|(?P<stray>[<>&])"""
)
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


class BadRequest(Exception):
    """What Telegram answers with 400 Bad Request; str(exc) is its description."""


def visible_text(markup: str) -> str:
    """The text Telegram shows for `markup` in HTML parse mode; raises BadRequest where
    Telegram would refuse it (unknown or unbalanced tags, unescaped <, > or &)."""
    out: list[str] = []
    open_tags: list[str] = []
    position = 0
    for token in _HTML_TOKEN.finditer(markup):
        out.append(markup[position : token.start()])
        position = token.end()
        if token["stray"]:
            raise BadRequest(f"Bad Request: can't parse entities: unexpected {token['stray']!r} at byte offset {token.start()}")
        if token["entity"]:
            entity = token["entity"]
            if entity.startswith("#x"):
                out.append(chr(int(entity[2:], 16)))
            elif entity.startswith("#"):
                out.append(chr(int(entity[1:])))
            else:
                out.append(_NAMED_ENTITIES[entity])
            continue
        tag = token["tag"].lower()
        if tag not in ALLOWED_TAGS:
            raise BadRequest(f"Bad Request: can't parse entities: unsupported start tag \"{tag}\" at byte offset {token.start()}")
        if token["close"]:
            if not open_tags or open_tags[-1] != tag:
                raise BadRequest(f"Bad Request: can't parse entities: can't find start tag for end tag \"{tag}\"")
            open_tags.pop()
        else:
            open_tags.append(tag)
    if open_tags:
        raise BadRequest(f"Bad Request: can't parse entities: can't find end tag corresponding to start tag \"{open_tags[-1]}\"")
    out.append(markup[position:])
    return "".join(out)


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class ApiCall:
    method: str
    params: dict[str, Any]
    authorized: bool = True  # made with the right token
    at: float = field(default_factory=time.monotonic)


class BotApiStandIn(LocalServer):
    def __init__(self, token: str = DEFAULT_TOKEN, *, username: str = "summary_test_bot", long_poll_cap: float = 0.5):
        super().__init__()
        self.token = token
        self.bot_user = {"id": int(token.split(":")[0]), "is_bot": True, "first_name": "Summary", "username": username}
        self.long_poll_cap = long_poll_cap  # answer an idle getUpdates within this, whatever its timeout
        self.calls: list[ApiCall] = []
        self.sent_messages: list[dict] = []  # what sendMessage accepted, as Telegram returned it
        self.chat_members: dict[tuple[int, int], str] = {}  # (chat_id, user_id) -> status
        self.webhook: dict[str, Any] | None = None  # what setWebhook registered
        self.commands: list[dict] | None = None  # what setMyCommands registered for everyone
        self.commands_by_language: dict[str, list[dict]] = {}  # and per language_code
        self.blocked: set[int] = set()  # chats whose user blocked the bot (or removed it): 403
        self.migrated: dict[int, int] = {}  # old group id -> its supergroup's id: 400 with the new id
        self._updates: list[dict] = []
        self._chats: dict[int, dict] = {}
        self.inline_answers: list[dict] = []  # what answerInlineQuery accepted, as received
        self._inline_queries: set[str] = set()  # ids of inline queries sent and not yet answered
        self._failures: dict[str, list[tuple[int, dict]]] = {}
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(100)
        self._changed = asyncio.Event()  # set, and replaced, whenever a call or update arrives

    # -- lifecycle ------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)
        return app

    # -- what users do ------------------------------------------------------------------
    def new_update(
        self,
        text: str,
        *,
        chat_id: int = 1001,
        chat_type: str = "private",
        user_id: int | None = None,
        reply_to: dict | None = None,
        entities: list[dict] | None = None,
        language_code: str | None = None,
    ) -> dict:
        """An update carrying a new text message (a `channel_post` in a channel). Private
        chats' ids are their user's id, as on Telegram; `language_code`: the sender's app's."""
        chat = self.chat(chat_id, chat_type)
        message: dict[str, Any] = {"message_id": next(self._message_ids), "date": int(time.time()), "chat": chat, "text": text}
        if chat_type == "channel":
            message["sender_chat"] = chat
        else:
            uid = user_id if user_id is not None else (chat_id if chat_type == "private" else 7)
            message["from"] = reader(uid)
            if language_code is not None:
                message["from"]["language_code"] = language_code
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        if entities:
            message["entities"] = entities
        key = "channel_post" if chat_type == "channel" else "message"
        return {"update_id": next(self._update_ids), key: message}

    def chat(self, chat_id: int, chat_type: str = "private") -> dict:
        """A Chat as the Bot API gives it (and remembered for the messages sent there)."""
        chat = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = "Reader"
        else:
            chat["title"] = f"Chat {chat_id}"
        self._chats[chat_id] = chat
        return chat

    def member_update(
        self, chat_id: int, status: str, *, chat_type: str = "supergroup", old_status: str = "member", by: int = 7
    ) -> dict:
        """A `my_chat_member` update: the bot's status in a chat changed from `old_status` to
        `status` ("left", "kicked": removed; in a private chat "kicked" is its user blocking
        the bot), by user `by` (in a private chat, its user)."""
        user = reader(chat_id if chat_type == "private" else by)
        member = lambda state: chat_member(state, self.bot_user)  # noqa: E731
        change = {
            "chat": self.chat(chat_id, chat_type),
            "from": user,
            "date": int(time.time()),
            "old_chat_member": member(old_status),
            "new_chat_member": member(status),
        }
        return {"update_id": next(self._update_ids), "my_chat_member": change}

    def migration_updates(self, old_id: int, new_id: int, *, user_id: int = 7) -> list[dict]:
        """The two service messages of a group's upgrade to a supergroup: `migrate_to_chat_id`
        in the old group, `migrate_from_chat_id` in the new supergroup. Messages to the old
        group are refused from now on (see `migrate`)."""
        self.migrate(old_id, new_id)
        sender = reader(user_id)
        old = {"message_id": next(self._message_ids), "date": int(time.time()), "chat": self.chat(old_id, "group"),
               "from": sender, "migrate_to_chat_id": new_id}  # fmt: skip
        new = {"message_id": 1, "date": int(time.time()), "chat": self.chat(new_id, "supergroup"),
               "from": sender, "migrate_from_chat_id": old_id}  # fmt: skip
        return [{"update_id": next(self._update_ids), "message": m} for m in (old, new)]

    def press_update(self, message: dict, data: str, *, user_id: int) -> dict:
        """A `callback_query` update: user `user_id` pressed a button with callback data
        `data` under `message` (a message the bot sent, as `sent_messages` holds it)."""
        query = {
            "id": str(next(self._update_ids) * 7919),
            "from": reader(user_id),
            "message": message,
            "chat_instance": str(-abs(message["chat"]["id"]) * 31),
            "data": data,
        }
        return {"update_id": next(self._update_ids), "callback_query": query}

    def inline_query_update(
        self, query: str, *, user_id: int, offset: str = "", chat_type: str | None = None, language_code: str = "en"
    ) -> dict:
        """An `inline_query` update: user `user_id` (whose app is in `language_code`) typed
        `query` after the bot's name in a chat (of `chat_type`: "sender", "private", "group",
        "supergroup", "channel"; absent when Telegram does not know it)."""
        inline = {
            "id": str(next(self._update_ids) * 104729),
            "from": {**reader(user_id), "language_code": language_code},
            "query": query,
            "offset": offset,
        }
        if chat_type is not None:
            inline["chat_type"] = chat_type
        self._inline_queries.add(inline["id"])
        return {"update_id": next(self._update_ids), "inline_query": inline}

    def block(self, chat_id: int) -> None:
        """Refuse every message to `chat_id` as Telegram does once its user blocked the bot."""
        self.blocked.add(chat_id)

    def migrate(self, old_id: int, new_id: int) -> None:
        """Refuse messages to group `old_id` as Telegram does once it became supergroup `new_id`."""
        self.migrated[old_id] = new_id
        self.chat(new_id, "supergroup")

    def queue(self, update: dict) -> dict:
        """Hand `update` to the next getUpdates."""
        self._updates.append(update)
        self._notify()
        return update

    def queue_message(self, text: str, **options) -> dict:
        return self.queue(self.new_update(text, **options))

    async def deliver_to_webhook(self, update: dict) -> int:
        """POST `update` to the registered webhook as Telegram does; the HTTP status."""
        if self.webhook is None:
            raise RuntimeError("no webhook is registered")
        headers = {}
        if self.webhook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook["secret_token"]
        async with aiohttp.ClientSession() as session:
            async with session.post(self.webhook["url"], json=update, headers=headers) as response:
                return response.status

    def set_member_status(self, chat_id: int, user_id: int, status: str) -> None:
        """"creator", "administrator", "member", "restricted", "left" or "kicked"."""
        self.chat_members[(chat_id, user_id)] = status

    # -- misbehaving on request -----------------------------------------------------------
    def fail_next(self, method: str, *, status: int = 429, retry_after: int | None = 1, description: str | None = None) -> None:
        """Answer the next call to `method` with an error instead of doing it."""
        body: dict[str, Any] = {"ok": False, "error_code": status}
        if status == 429:
            body["description"] = description or f"Too Many Requests: retry after {retry_after}"
            body["parameters"] = {"retry_after": retry_after}
        elif status == 403:
            body["description"] = description or "Forbidden: bot was blocked by the user"
        else:
            body["description"] = description or "Bad Request: something is wrong"
        self._failures.setdefault(method.lower(), []).append((status, body))

    # -- inspection ----------------------------------------------------------------------
    def calls_to(self, method: str) -> list[ApiCall]:
        return [call for call in self.calls if call.method.lower() == method.lower()]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 20.0) -> list[ApiCall]:
        """The first `count` calls to `method`, once they have been made."""
        try:
            await asyncio.wait_for(self._until(lambda: len(self.calls_to(method)) >= count), timeout)
            return self.calls_to(method)[:count]
        except asyncio.TimeoutError:
            seen = [(c.method, c.params.get("text", "")[:80]) for c in self.calls]
            raise AssertionError(f"{count} call(s) to {method} not made within {timeout}s; calls: {seen}") from None

    # -- the API ---------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _read_params(request)
        self.calls.append(ApiCall(method, params, authorized=request.match_info["token"] == self.token))
        self._notify()
        if not self.calls[-1].authorized:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        failures = self._failures.get(method.lower())
        if failures:
            status, body = failures.pop(0)
            return web.json_response(body, status=status)
        handler = getattr(self, f"_api_{method.lower()}", None)
        if handler is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        try:
            result = await handler(params)
        except BadRequest as exc:
            return web.json_response({"ok": False, "error_code": 400, "description": str(exc)}, status=400)
        except _Refused as exc:
            return web.json_response(exc.body, status=exc.body["error_code"])
        return web.json_response({"ok": True, "result": result})

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _until(self, condition) -> None:
        while not condition():
            await self._changed.wait()

    async def _api_getme(self, params: dict) -> dict:
        return self.bot_user

    async def _api_getupdates(self, params: dict) -> list[dict]:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]  # confirmed ones go
        if not self._updates and timeout > 0:
            try:
                await asyncio.wait_for(self._until(lambda: bool(self._updates)), min(timeout, self.long_poll_cap))
            except asyncio.TimeoutError:
                pass
        return self._updates[:limit]

    async def _api_sendmessage(self, params: dict) -> dict:
        chat_id = params.get("chat_id")
        if chat_id is None:
            raise BadRequest("Bad Request: chat_id is empty")
        if int(chat_id) in self.blocked:
            blocked = "Forbidden: bot was blocked by the user" if int(chat_id) > 0 else "Forbidden: bot was kicked from the supergroup chat"
            raise _Refused({"ok": False, "error_code": 403, "description": blocked})
        if int(chat_id) in self.migrated:
            raise _Refused({"ok": False, "error_code": 400, "description": "Bad Request: group chat was upgraded to a supergroup chat",
                            "parameters": {"migrate_to_chat_id": self.migrated[int(chat_id)]}})  # fmt: skip
        text, markup = _message_content(params, too_long="Bad Request: message is too long")
        chat = self._chats.get(int(chat_id), {"id": int(chat_id), "type": "private" if int(chat_id) > 0 else "supergroup"})
        message = {"message_id": next(self._message_ids), "date": int(time.time()), "chat": chat, "from": self.bot_user, "text": text}
        if markup is not None:
            message["reply_markup"] = markup
        self.sent_messages.append(message)
        return message

    async def _api_editmessagetext(self, params: dict) -> dict:
        if params.get("inline_message_id") is not None:
            raise BadRequest("Bad Request: inline messages are not served here")
        chat_id, message_id = params.get("chat_id"), params.get("message_id")
        found = [m for m in self.sent_messages if m["chat"]["id"] == int(chat_id or 0) and m["message_id"] == int(message_id or 0)]
        if not found:
            raise BadRequest("Bad Request: message to edit not found")
        text, markup = _message_content(params, too_long="Bad Request: MESSAGE_TOO_LONG")
        message = found[0]
        if message["text"] == text and message.get("reply_markup") == markup:
            raise BadRequest("Bad Request: message is not modified: specified new message content and reply markup "
                             "are exactly the same as a current content and reply markup of the message")  # fmt: skip
        message.update(text=text, edit_date=int(time.time()))
        if markup is not None:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)  # an edit without a keyboard removes it
        return message

    async def _api_sendchataction(self, params: dict) -> bool:
        return True

    async def _api_setmycommands(self, params: dict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise BadRequest("Bad Request: commands must be a list of at most 100")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise BadRequest("Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise BadRequest("Bad Request: command description is empty")
        if params.get("language_code"):  # the menu of users whose app is in that language
            self.commands_by_language[str(params["language_code"])] = commands
        else:
            self.commands = commands
        return True

    async def _api_answercallbackquery(self, params: dict) -> bool:
        if not params.get("callback_query_id"):
            raise BadRequest("Bad Request: query is too old and response timeout expired or query ID is invalid")
        if len(str(params.get("text", ""))) > 200:
            raise BadRequest("Bad Request: MESSAGE_TOO_LONG")
        return True

    async def _api_answerinlinequery(self, params: dict) -> bool:
        query_id = params.get("inline_query_id")
        if query_id not in self._inline_queries:  # unknown, or answered already
            raise BadRequest("Bad Request: query is too old and response timeout expired or query ID is invalid")
        results = params.get("results")
        if not isinstance(results, list) or len(results) > MAX_INLINE_RESULTS:
            raise BadRequest("Bad Request: RESULTS_TOO_MUCH")
        ids = [str(result.get("id", "")) for result in results if isinstance(result, dict)]
        if len(ids) != len(results) or len(set(ids)) != len(ids):
            raise BadRequest("Bad Request: RESULT_ID_DUPLICATE")
        for result in results:
            _check_inline_result(result)
        button = params.get("button")
        if button is not None:
            if not isinstance(button, dict) or not str(button.get("text", "")).strip():
                raise BadRequest("Bad Request: BUTTON_TEXT_INVALID")
            if not _START_PARAMETER.fullmatch(str(button.get("start_parameter", ""))) and "web_app" not in button:
                raise BadRequest("Bad Request: START_PARAM_INVALID")
        cache_time = params.get("cache_time", 300)
        if not isinstance(cache_time, int) or cache_time < 0:
            raise BadRequest("Bad Request: cache_time is invalid")
        self._inline_queries.discard(query_id)
        self.inline_answers.append(params)
        return True

    async def _api_setwebhook(self, params: dict) -> bool:
        self.webhook = params
        return True

    async def _api_deletewebhook(self, params: dict) -> bool:
        self.webhook = None
        return True

    async def _api_getchatmember(self, params: dict) -> dict:
        user_id = int(params["user_id"])
        status = self.chat_members.get((int(params["chat_id"]), user_id), "member")
        return chat_member(status, reader(user_id))


def reader(user_id: int) -> dict:
    """A User as updates carry one: a person (not a bot) named Reader."""
    return {"id": user_id, "is_bot": False, "first_name": "Reader"}


def chat_member(status: str, user: dict) -> dict:
    """A ChatMember of `status` with the fields the Bot API requires of that kind."""
    member: dict[str, Any] = {"status": status, "user": user}
    if status == "creator":
        member["is_anonymous"] = False
    elif status == "administrator":
        rights = ("can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages", "can_manage_video_chats",
                  "can_restrict_members", "can_promote_members", "can_change_info", "can_invite_users",
                  "can_post_stories", "can_edit_stories", "can_delete_stories")  # fmt: skip
        member.update({right: right not in ("can_be_edited", "is_anonymous") for right in rights})
    elif status == "kicked":
        member["until_date"] = 0  # for ever
    return member


class _Refused(Exception):
    """An error answer other than 400, as Telegram gives it (`body`)."""

    def __init__(self, body: dict):
        super().__init__(body["description"])
        self.body = body


def _message_content(params: dict, *, too_long: str) -> tuple[str, Any]:
    """The text a sendMessage or editMessageText shows (an HTML text's visible text, stripped)
    and its reply_markup, refused as Telegram refuses them: a bad inline keyboard, an empty
    text, or one over 4096 UTF-16 units (`too_long`: that method's description)."""
    markup = params.get("reply_markup")
    if markup is not None:
        _check_inline_keyboard(markup)
    text = _shown_text(params.get("text"), params.get("parse_mode"), empty="Bad Request: message text is empty", too_long=too_long)
    return text, markup


def _shown_text(text: Any, parse_mode: Any, *, empty: str, too_long: str) -> str:
    """What a message's text shows (an HTML text's visible text, stripped), refused as
    Telegram refuses it when empty or over 4096 UTF-16 units (`empty`, `too_long`: the
    method's descriptions)."""
    text = str(text or "")
    if str(parse_mode or "").upper() == "HTML":
        text = visible_text(text)
    text = text.strip()
    if not text:
        raise BadRequest(empty)
    if utf16_units(text) > MAX_TEXT_UNITS:
        raise BadRequest(too_long)
    return text


def _check_inline_keyboard(markup: Any) -> None:
    """Telegram's checks of an InlineKeyboardMarkup with callback buttons."""
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise BadRequest("Bad Request: field \"inline_keyboard\" of the InlineKeyboardMarkup should be an Array of Arrays")
    for button in (button for row in rows for button in row):
        if not isinstance(button, dict) or not str(button.get("text", "")).strip():
            raise BadRequest("Bad Request: BUTTON_TEXT_INVALID")
        data = button.get("callback_data")
        if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
            raise BadRequest("Bad Request: BUTTON_DATA_INVALID")


def _check_inline_result(result: Any) -> None:
    """Telegram's checks of an InlineQueryResultArticle with a text message."""
    if not isinstance(result, dict) or result.get("type") != "article":
        raise BadRequest("Bad Request: RESULT_TYPE_INVALID")
    if not 1 <= len(str(result.get("id", "")).encode()) <= 64:
        raise BadRequest("Bad Request: RESULT_ID_INVALID")
    if not str(result.get("title", "")).strip():
        raise BadRequest("Bad Request: RESULT_TITLE_EMPTY")
    content = result.get("input_message_content")
    if not isinstance(content, dict):
        raise BadRequest("Bad Request: input_message_content is required")
    _shown_text(content.get("message_text"), content.get("parse_mode"), empty="Bad Request: MESSAGE_EMPTY",
                too_long="Bad Request: MESSAGE_TOO_LONG")  # fmt: skip


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Parameters as the Bot API reads them: query string, then a JSON or form body whose
    non-string values are JSON-encoded (python-telegram-bot sends forms)."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        params.update(await request.json())
        return params
    if request.can_read_body:
        params.update(await request.post())
    for name, value in params.items():
        if isinstance(value, str) and name not in STRING_PARAMS:
            try:
                params[name] = json.loads(value)
            except ValueError:
                pass  # a bare string such as "@channel"
    return params
