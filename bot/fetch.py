"""Fetching a page a stranger linked to: a server-side request on their behalf.

So it is guarded: only http(s); no private, loopback, link-local, multicast or reserved
address, checked on the resolved address of every connection, redirects included (they are
followed here, one by one); a cap on time and on body size; only HTML, XHTML and plain text
(and feeds when asked). Every failure is a `FetchError` whose text can go to the chat.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
TEXT_TYPES = frozenset({"text/plain"})
FEED_TYPES = frozenset(
    {"application/rss+xml", "application/atom+xml", "application/xml", "text/xml", "application/rdf+xml"}
)
ACCEPT = "text/html,application/xhtml+xml;q=0.9,text/plain;q=0.8"
ACCEPT_FEEDS = "application/rss+xml,application/atom+xml,application/xml;q=0.9,text/xml;q=0.8," + ACCEPT
_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_XML_ENCODING_RE = re.compile(rb"""<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""", re.I)
_CHUNK = 64 * 1024


class FetchError(Exception):
    """Fetch failed; str(exc) is a short, friendly, user-facing sentence."""


class AddressNotAllowed(FetchError):
    pass


class UnsupportedContent(FetchError):
    pass


class TooLarge(FetchError):
    pass


@dataclass(frozen=True)
class FetchedPage:
    url: str  # final URL, after redirects
    status: int
    content_type: str
    text: str
    etag: str | None = None
    last_modified: str | None = None

    @property
    def is_html(self) -> bool:
        return self.content_type in HTML_TYPES


# -- the address policy ---------------------------------------------------------------
def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64, compatible)."""
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip in ipaddress.ip_network("64:ff9b::/96") or ip in ipaddress.ip_network("64:ff9b:1::/48"):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(ip) > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(ip))
    return None


def _why_refused(ip: IPAddress) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return _why_refused(inner)
    for attribute, label in (
        ("is_loopback", "a loopback address"),
        ("is_unspecified", "an unspecified address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_private", "a private address"),
        ("is_reserved", "a reserved address"),
    ):
        if getattr(ip, attribute):
            return label
    if isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10"):
        return "a shared (carrier-grade NAT) address"
    if not ip.is_global:
        return "not a public address"
    return None


def check_address(ip: IPAddress, allow: list[Network]) -> None:
    """Raise AddressNotAllowed unless `ip` is public or inside an allowed network."""
    if any(ip.version == net.version and ip in net for net in allow):
        return
    reason = _why_refused(ip)
    if reason:
        raise AddressNotAllowed(f"That address is not allowed: {ip} is {reason}.")


class _GuardedResolver(AbstractResolver):
    """Resolves names, then drops every address the policy refuses."""

    def __init__(self, allow: list[Network]):
        self._allow = allow
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed, refusal = [], None
        for result in results:
            try:
                check_address(ipaddress.ip_address(result["host"].split("%")[0]), self._allow)
                allowed.append(result)
            except AddressNotAllowed as exc:
                refusal = exc
        if not allowed:
            raise refusal or OSError(f"no address for {host}")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


# -- the fetcher ------------------------------------------------------------------------
class Fetcher:
    def __init__(self, settings):
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            allow = list(self.settings.fetch_allow_private)
            connector = aiohttp.TCPConnector(resolver=_GuardedResolver(allow), use_dns_cache=False, limit=50)
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": self.settings.fetch_user_agent, "Accept-Language": "en;q=0.9,*;q=0.5"},
                cookie_jar=aiohttp.DummyCookieJar(),  # no state carried between strangers' links
                trust_env=False,  # never route through a proxy from the environment
            )
        return self._session

    async def fetch(self, url: str, *, headers: dict[str, str] | None = None, accept_feeds: bool = False) -> FetchedPage:
        """GET `url` under the policy. Raises FetchError (or a subclass) with a friendly text."""
        timeout = self.settings.fetch_timeout
        try:
            return await asyncio.wait_for(self._fetch(url, headers or {}, accept_feeds), timeout)
        except asyncio.TimeoutError:
            raise FetchError(f"{_host(url)} took too long to answer (over {timeout:g} s).") from None

    async def _fetch(self, url: str, headers: dict[str, str], accept_feeds: bool) -> FetchedPage:
        allow = list(self.settings.fetch_allow_private)
        seen: set[str] = set()
        request_headers = {"Accept": ACCEPT_FEEDS if accept_feeds else ACCEPT, **headers}
        for _ in range(self.settings.fetch_max_redirects + 1):
            parts = _check_url(url, allow)
            if url in seen:
                break  # a loop: it will never end
            seen.add(url)
            try:
                async with self._client().get(url, headers=request_headers, allow_redirects=False) as response:
                    _check_peer(response, allow)
                    if response.status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                        url = urljoin(url, response.headers["Location"])
                        continue
                    return await self._read(response, url, accept_feeds)
            except FetchError:
                raise
            except aiohttp.InvalidURL:
                raise FetchError("That link is not a valid web address.") from None
            except (aiohttp.ClientError, OSError) as exc:
                cause = exc.__cause__ or exc.__context__
                for error in (exc, cause, getattr(exc, "os_error", None)):
                    if isinstance(error, AddressNotAllowed):
                        raise error from None
                log.info("fetching %s failed: %r", url, exc)
                raise FetchError(f"Could not reach {parts.hostname}.") from None
        raise FetchError("The page redirects too many times.")

    async def _read(self, response: aiohttp.ClientResponse, url: str, accept_feeds: bool) -> FetchedPage:
        etag, modified = response.headers.get("ETag"), response.headers.get("Last-Modified")
        if response.status == 304:
            return FetchedPage(url, 304, "", "", etag, modified)
        if response.status >= 400:
            reason = "was not found" if response.status in (404, 410) else "could not be loaded"
            raise FetchError(f"The page {reason} (HTTP {response.status}).")
        limit = self.settings.fetch_max_bytes
        declared = response.content_length
        if declared is not None and declared > limit:
            raise TooLarge(f"That page is too large to summarize ({declared // 1_000_000} MB).")
        body = bytearray()
        async for chunk in response.content.iter_chunked(_CHUNK):
            body += chunk
            if len(body) > limit:
                raise TooLarge(f"That page is too large to summarize (over {limit // 1_000_000} MB).")
        content_type = response.content_type if "Content-Type" in response.headers else _sniff(body)
        allowed = HTML_TYPES | TEXT_TYPES | (FEED_TYPES if accept_feeds else frozenset())
        if content_type not in allowed:
            raise UnsupportedContent(f"That link is not a web page ({content_type}).")
        text = _decode(bytes(body), response.charset)
        return FetchedPage(str(response.url), response.status, content_type, text, etag, modified)


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


def _check_url(url: str, allow: list[Network]):
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise FetchError("That link is not a valid web address.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError("Only http and https links can be summarized.")
    # aiohttp skips the resolver for IP literals, so check them here.
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        literal = None
    if literal is not None:
        check_address(literal, allow)
    return parts


def _check_peer(response: aiohttp.ClientResponse, allow: list[Network]) -> None:
    """Belt and braces: the address actually connected to must pass the policy too."""
    transport = response.connection.transport if response.connection else None
    peer = transport.get_extra_info("peername") if transport else None
    if peer:
        check_address(ipaddress.ip_address(peer[0].split("%")[0]), allow)


def _sniff(body: bytes) -> str:
    head = body[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "text/html"
    if head.startswith(b"<?xml") and (b"<rss" in body[:2048] or b"<feed" in body[:2048]):
        return "application/xml"
    return "application/octet-stream"


def _decode(body: bytes, declared: str | None) -> str:
    """Header charset, else a <meta>/XML declaration, else UTF-8, else a detector's guess."""
    candidates = [declared]
    for pattern in (_META_CHARSET_RE, _XML_ENCODING_RE):
        match = pattern.search(body[:4096])
        if match:
            candidates.append(match.group(1).decode("ascii", "ignore"))
    for charset in filter(None, candidates):
        try:
            return body.decode(charset, errors="replace")
        except LookupError:
            continue
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        best = from_bytes(body).best()
        return str(best) if best is not None else body.decode("utf-8", errors="replace")
