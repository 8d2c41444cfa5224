"""The LLM server's HTTP answers, read to a bound whatever their status or encoding.

The `openai` client reads a 4xx/5xx answer's body whole before it raises (bounded only by
the timeout), and httpx decompresses a gzip answer before anything downstream can count it
(one 64 KiB network chunk of a gzip bomb is 64 MB decompressed). `CappedTransport` wraps
the httpx transport the client is given (built where the program is assembled:
adapters/assembly.py) so that every answer, success or error, is read to at most
`max_bytes`, counted both as received and decompressed:

  - requests ask for `Accept-Encoding: identity`;
  - an answer compressed anyway (gzip, deflate) is decompressed here, never more than the
    bound at a time, and handed on plain; any other encoding is refused;
  - past the bound, reading stops, the connection is closed and `AnswerTooLarge` is raised
    (bot/summarize/llm.py makes it the "error" outcome: the extractive summary).
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

import httpx

_WBITS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


class AnswerTooLarge(Exception):
    """The LLM server's answer was over the bound, or in an encoding that is not read."""


class _CappedStream(httpx.AsyncByteStream):
    def __init__(self, raw: httpx.AsyncByteStream, max_bytes: int, encoding: str):
        self.raw = raw
        self.max_bytes = max_bytes
        self.encoding = encoding

    async def __aiter__(self) -> AsyncIterator[bytes]:
        decoder = zlib.decompressobj(_WBITS[self.encoding]) if self.encoding in _WBITS else None
        received = given = 0
        try:
            async for chunk in self.raw:
                received += len(chunk)
                if received > self.max_bytes:
                    raise AnswerTooLarge(f"an answer over {self.max_bytes} bytes")
                if decoder is not None:
                    try:  # never more than the bound left (+1, to know it was passed) at once
                        chunk = decoder.decompress(chunk, self.max_bytes - given + 1)
                    except zlib.error as exc:
                        raise AnswerTooLarge(f"an answer that is not valid {self.encoding}: {exc}") from exc
                given += len(chunk)
                if given > self.max_bytes or (decoder is not None and decoder.unconsumed_tail):
                    raise AnswerTooLarge(f"an answer over {self.max_bytes} bytes once decompressed")
                if chunk:
                    yield chunk
        except BaseException:
            await self.raw.aclose()  # stop reading: the connection goes, not back to the pool
            raise

    async def aclose(self) -> None:
        await self.raw.aclose()


class CappedTransport(httpx.AsyncBaseTransport):
    """`inner` with every answer's body capped at `max_bytes` (received and decompressed)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, max_bytes: int):
        self.inner = inner
        self.max_bytes = max_bytes

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.headers["Accept-Encoding"] = "identity"
        response = await self.inner.handle_async_request(request)
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity", *_WBITS):
            await response.aclose()
            raise AnswerTooLarge(f"an answer in {encoding[:40]!r} encoding, which is not read")
        headers = response.headers.copy()
        if encoding in _WBITS:  # decompressed here: httpx must not do it again
            del headers["content-encoding"]
            headers.pop("content-length", None)
        return httpx.Response(
            response.status_code,
            headers=headers,
            stream=_CappedStream(response.stream, self.max_bytes, encoding),
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


def capped_http_client(max_bytes: int) -> httpx.AsyncClient:
    """The httpx client for the `openai` client (`http_client=`), its answers capped."""
    return httpx.AsyncClient(transport=CappedTransport(httpx.AsyncHTTPTransport(), max_bytes), follow_redirects=False)
