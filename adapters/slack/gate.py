"""The door of the events path over HTTP: only what Slack signed in the last 5 minutes,
in a shape Slack sends, reaches Bolt.

A stranger can POST anything to /slack/events, so nothing is parsed before the signature
holds (401, no traceback), and a signed body Bolt's parsing would raise on is 400, never
a 500. Bolt's own check is off (`request_verification_enabled=False`): one check, not two.
Socket Mode needs none: its events come over the connection the app opened.
"""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from adapters.request_body import read_body, too_slow

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"

_EVENTS_IN_A_CHANNEL = ("message", "app_mention", "link_shared")
_TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")  # ASCII digits: str.isdigit() also takes "²"


class SignatureGate:
    """The aiohttp handler of the events path, in front of Bolt's `app`."""

    def __init__(self, signing_secret: str, app: AsyncApp):
        self.verifier = SignatureVerifier(signing_secret)
        self.app = app

    async def dispatch(self, request: web.Request) -> web.Response:
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if not (_TIMESTAMP_RE.fullmatch(timestamp) and signature.isascii()):
            return web.Response(status=401, text="invalid request")  # before reading the body
        raw = await read_body(request)
        if raw is None:
            return too_slow()
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            return web.Response(status=401, text="invalid request")  # Slack signs UTF-8
        content_type = (request.headers.get("Content-Type") or "").split(";")[0] or None  # as Bolt reads it
        refusal = self.refusal(body, timestamp, signature, content_type)
        if refusal is not None:
            return refusal
        try:
            response = await self.app.async_dispatch(
                AsyncBoltRequest(body=body, query=request.query_string, headers=request.headers)
            )
        except Exception as exc:  # signed, yet a shape Bolt trips over: not something Slack sends
            log.warning("slack: a signed request Bolt could not read (%s: %s)", type(exc).__name__, exc)
            return web.Response(status=400, text="the body is not what Slack sends")
        return await to_aiohttp_response(response)

    def refusal(self, body: str, timestamp: str, signature: str, content_type: str | None) -> web.Response | None:
        """401 for a request not signed by Slack in the last 5 minutes, 400 for a signed one
        that is not what Slack sends; None for a request Bolt may handle."""
        if not self.verifier.is_valid(body, timestamp, signature):
            return web.Response(status=401, text="invalid request")
        payload = _bolt_payload(body, content_type)
        if not isinstance(payload, dict):
            return web.Response(status=400, text="the body is not what Slack sends")
        if (payload.get("type") == "event_callback" or "event" in payload) and not _well_formed(payload.get("event")):
            return web.Response(status=400, text="the event is not one Slack sends")
        return None


def _bolt_payload(body: str, content_type: str | None) -> object:
    """The body as Bolt will read it (slack_bolt.request.internals.parse_body: JSON when
    the type says so or it starts with "{", else a form whose `payload` field is JSON), or
    None where Bolt's parsing would raise."""
    try:
        if not body:
            return {}
        if content_type == "application/json" or body.startswith("{"):
            return json.loads(body)
        form = dict(parse_qsl(body, keep_blank_values=True))
        if "payload" in body:
            return json.loads(form["payload"]) if "payload" in form else {}
        return form
    except ValueError:
        return None


def _well_formed(event) -> bool:
    """An Events API event as Slack sends it: an object with a type, and for the events we
    answer, the channel they happened in."""
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return False
    if event["type"] not in _EVENTS_IN_A_CHANNEL:
        return True
    if not isinstance(event.get("channel"), str) or not event["channel"]:
        return False
    if event["type"] == "link_shared":
        return isinstance(event.get("links"), list)
    return isinstance(event.get("ts"), str) and isinstance(event.get("text", ""), str)
