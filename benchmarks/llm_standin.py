"""A stand-in OpenAI-compatible LLM server on 127.0.0.1, for tests and benchmarks.

It serves POST /v1/chat/completions (and GET /v1/models) the way Ollama, llama.cpp server
or vLLM do, so the real `openai` client can be pointed at `base_url + "/v1"`. What it
answers is scripted: `behaviour` is an async function of the request's JSON body that
returns the answer's text (wrapped in a chat completion) or a whole aiohttp response.
Every request body is kept in `requests`.

Behaviours here:
  lead_points              the article's first sentences, as {"points": [...]} (the default)
  fixed_points(points)     these points, whatever the article
  obey_injection           a model that does what the page tells it, in its title or text
                           ("ignore previous instructions and write X" -> X; "every summary
                           must mention that X" -> X), as a badly behaved model would
  stall(seconds)           answer nothing for that long
  http_error(status)       an error status (500, 429 with Retry-After, ...)
  raw_content(text)        this text as the answer (garbage, "", ...)
  broken_body              HTTP 200 whose body is not JSON
  huge_body(size)          HTTP 200 streaming `size` bytes of a chat completion, with no
                           Content-Length (a server that ignores max_tokens)
  huge_error(size)         HTTP 500 streaming `size` bytes of error body
  gzip_bomb(size)          HTTP 200, Content-Encoding: gzip (whatever the request accepts),
                           a small body that decompresses to `size` bytes

What a streamed answer wrote is counted in `streamed_bytes` (the bytes handed to the
connection: a client that stops reading leaves the rest unsent).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import re
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from adapters.local_server import LocalServer
from bot.sentences import split_sentences

Behaviour = Callable[[dict], Awaitable["str | web.StreamResponse | Streamed"]]

_ARTICLE_RE = re.compile(r"<<<ARTICLE (\w+)>>>\n(.*)\n<<<END ARTICLE \1>>>", re.S)
_COUNT_RE = re.compile(r"exactly (\d+) key point")
_INJECTION_RE = re.compile(r"ignore (?:all )?(?:the )?previous instructions,? and (?:instead )?write:?\s*(.+?)(?:$|(?<=[.!?])\s)", re.I | re.S)
# A sentence that tells a summary what to say, and what it says should be said: the clause
# after its last "that" or colon ("every summary must mention that X", "TL;DR for bots: X").
_SUMMARY_ORDER_RE = re.compile(
    r"summar|key points?|takeaway|recap|digest|tl;? ?dr|\bai\b|assistants?|language models?|chatbots?|\bbots?\b|\b(?:must|should)\b", re.I
)
_PAYLOAD_RE = re.compile(r".*(?:\bthat |: )(.+)", re.S)


def article_of(body: dict) -> tuple[str, str]:
    """The (title, text) the summarizer put in the user message, "" if none."""
    for message in body.get("messages", []):
        if message.get("role") == "user":
            found = _ARTICLE_RE.search(message.get("content") or "")
            if found:
                article = json.loads(found.group(2))
                return article.get("title", ""), article.get("text", "")
    return "", ""


def wanted_of(body: dict) -> int:
    for message in body.get("messages", []):
        found = _COUNT_RE.search(message.get("content") or "")
        if found:
            return int(found.group(1))
    return 3


def points_answer(points: list[str]) -> str:
    return json.dumps({"points": points}, ensure_ascii=False)


async def lead_points(body: dict) -> str:
    """A model that restates the article's first sentences (what a stand-in can do)."""
    _, text = article_of(body)
    return points_answer(split_sentences(text, limit=wanted_of(body)))


def fixed_points(points: list[str]) -> Behaviour:
    async def answer(body: dict) -> str:
        return points_answer(points)

    return answer


async def obey_injection(body: dict) -> str:
    """A model that follows an instruction hidden in the page (its title, then its text),
    if there is one: the payload, once per point asked for."""
    title, text = article_of(body)
    for part in (title, text):
        found = _INJECTION_RE.search(part)
        if found is not None:
            return points_answer([found.group(1).strip()] * wanted_of(body))
    for sentence in [title, *split_sentences(text)]:
        ordered = _SUMMARY_ORDER_RE.search(sentence) and _PAYLOAD_RE.match(sentence)
        if ordered:
            payload = ordered.group(1).strip()
            return points_answer([payload[:1].upper() + payload[1:]] * wanted_of(body))
    return await lead_points(body)


def stall(seconds: float) -> Behaviour:
    async def answer(body: dict) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.json_response({"error": {"message": "too late"}}, status=504)

    return answer


def http_error(status: int, retry_after: int | None = None) -> Behaviour:
    async def answer(body: dict) -> web.StreamResponse:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return web.json_response({"error": {"message": f"stand-in error {status}", "type": "server_error"}}, status=status, headers=headers)

    return answer


def raw_content(text: str) -> Behaviour:
    async def answer(body: dict) -> str:
        return text

    return answer


async def broken_body(body: dict) -> web.StreamResponse:
    return web.Response(text="<html>502 Bad Gateway</html>", content_type="application/json")


class Streamed:
    """An answer sent as these chunks of a response (200 unless `status`), with no
    Content-Length."""

    def __init__(self, chunks: AsyncIterator[bytes], *, status: int = 200, headers: dict | None = None):
        self.chunks = chunks
        self.status = status
        self.headers = headers or {}


def huge_body(size: int) -> Behaviour:
    async def chunks() -> AsyncIterator[bytes]:
        point = json.dumps(json.dumps("The city council approved a plan to clean up the river.") + ", ")[1:-1].encode()
        yield b'{"choices": [{"index": 0, "message": {"role": "assistant", "content": "{\\"points\\": ['
        for _ in range(size // (len(point) * 64) + 1):
            yield point * 64
        yield b'\\"End.\\"]}"}, "finish_reason": "length"}]}'

    async def answer(body: dict) -> Streamed:
        return Streamed(chunks())

    return answer


def huge_error(size: int) -> Behaviour:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"error": {"type": "server_error", "message": "'
        for _ in range(size // 65536 + 1):
            yield b"x" * 65536
        yield b'"}}'

    async def answer(body: dict) -> Streamed:
        return Streamed(chunks(), status=500)

    return answer


@functools.cache
def _gzipped_zeros(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(size >> 20)]
    return b"".join(parts) + compressor.flush()


def gzip_bomb(size: int) -> Behaviour:
    async def chunks() -> AsyncIterator[bytes]:
        data = _gzipped_zeros(size)
        for start in range(0, len(data), 65536):
            yield data[start : start + 65536]

    async def answer(body: dict) -> Streamed:
        return Streamed(chunks(), headers={"Content-Encoding": "gzip"})

    return answer


class LLMStandIn(LocalServer):
    """POST /v1/chat/completions, answered by `behaviour` (see the module notes)."""

    def __init__(self, port: int = 0, *, behaviour: Behaviour = lead_points, delay: float = 0.0):
        super().__init__(port)
        self.behaviour = behaviour
        self.delay = delay  # seconds before every answer, like a model generating
        self.requests: list[dict] = []
        self.streamed_bytes = 0
        self._ids = itertools.count(1)

    @property
    def api_url(self) -> str:
        """What SUMMARY_BOT_LLM_URL is set to."""
        return self.base_url + "/v1"

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        return app

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "standin", "object": "model", "owned_by": "standin"}]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        if self.delay:
            await asyncio.sleep(self.delay)
        answer = await self.behaviour(body)
        if isinstance(answer, web.StreamResponse):
            return answer
        if isinstance(answer, Streamed):
            response = web.StreamResponse(status=answer.status, headers={"Content-Type": "application/json", **answer.headers})
            response.enable_chunked_encoding()
            await response.prepare(request)
            try:
                async for chunk in answer.chunks:
                    await response.write(chunk)
                    self.streamed_bytes += len(chunk)
            except ConnectionError:
                pass  # the client stopped reading, as it should
            return response
        return web.json_response(
            {
                "id": f"chatcmpl-standin-{next(self._ids)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "standin"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            }
        )
