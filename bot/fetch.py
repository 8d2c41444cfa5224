"""Fetch a web page that a chat user linked to, without letting them aim the bot at us.

Fetching a stranger's link is a server-side request on their behalf, so every connection
is checked against the address policy (`check_address`) at three places:

1. IP-literal hosts are checked before a request (aiohttp never resolves them);
2. host names go through `GuardedResolver`, which drops refused addresses from DNS answers;
3. the connector's socket factory checks the exact address each socket is about to connect
   to, so nothing that slips past 1 and 2 (a future aiohttp change, a cached answer) connects;
   and the peer of the connection a response came on is checked once more.

Redirects are followed here, one hop at a time, so that each hop gets the same checks.
Time and size are capped, and only HTML, XHTML and plain text (and feeds, when asked) are
accepted. Every failure is a `FetchError` whose message can be shown to the user as is.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import ipaddress
import re
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import aiohttp
import charset_normalizer
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from bot.config import Settings
from bot.i18n import N_, Msg

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Endpoint = tuple[IPAddress, int]  # (address, port): one local server, as the sample site

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
PAGE_TYPES = HTML_TYPES | {"text/plain"}
FEED_TYPES = frozenset(
    {"application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/xml", "text/xml"}
)
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DECODE_ON_LOOP_BYTES = 64 * 1024  # larger bodies are decoded in a worker thread

# `*/*` at a low weight: some servers answer 406 without it; we still refuse binaries.
PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,text/plain;q=0.8,*/*;q=0.1"
FEED_ACCEPT = (
    "application/rss+xml,application/atom+xml,application/xml;q=0.9,text/xml;q=0.9,"
    "text/html;q=0.8,*/*;q=0.1"
)


class FetchError(Exception):
    """Fetch failed; str(exc) is a short, friendly, user-facing sentence."""


class AddressNotAllowed(FetchError):
    """The link (or a redirect, or its DNS answer) points at a non-public address."""


class UnsupportedContent(FetchError):
    """The link is not HTML, XHTML or text (or a feed, when feeds were asked for)."""


class TooLarge(FetchError):
    """The body is larger than settings.fetch_max_bytes."""


class HTTPStatusError(FetchError):
    """The site answered with an error status; `status` holds it."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class FetchedPage:
    url: str  # final URL after redirects
    status: int
    content_type: str  # media type only, e.g. "text/html"
    text: str  # decoded body; empty for 304 Not Modified
    etag: str | None = None
    last_modified: str | None = None

    @property
    def is_html(self) -> bool:
        return self.content_type in HTML_TYPES


# -- address policy -----------------------------------------------------------------------

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT; not "private" to Python
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known NAT64: last 32 bits are IPv4
# Python 3.11 calls these global, but they are not reachable public addresses.
_EXTRA_NON_GLOBAL = [ipaddress.ip_network("64:ff9b:1::/48")]  # local-use NAT64 (RFC 8215)


def _plain_reason(ip: IPAddress) -> str | None:
    """Why `ip` is not a public internet address, or None when it is one."""
    if ip.is_unspecified:
        return Msg("an unspecified address")
    if ip.is_loopback:
        return Msg("a loopback address")
    if ip.is_link_local:
        return Msg("a link-local address")
    if ip.is_multicast:
        return Msg("a multicast address")
    if ip in _SHARED:
        return Msg("a shared (carrier-grade NAT) address")
    if ip.is_private:
        return Msg("a private address")
    if ip.is_reserved:
        return Msg("a reserved address")
    if not ip.is_global or any(ip in net for net in _EXTRA_NON_GLOBAL):
        return Msg("not a public address")
    return None


def _ipv4_on_the_wire(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 host that traffic to `ip` reaches when `ip` is only a wrapper for it:
    IPv4-mapped (the kernel connects over IPv4) or NAT64 (a gateway does)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _tunnelled_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 endpoint a tunnelling address (6to4, Teredo) carries, if any."""
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def _refusal(ip: IPAddress, allow: Iterable[Network]) -> tuple[str, str] | None:
    """(address as shown, why refused), or None when `ip` may be connected to."""
    allow = list(allow)
    if isinstance(ip, ipaddress.IPv6Address):
        wrapped = _ipv4_on_the_wire(ip)
        if wrapped is not None:  # judge the IPv4 host alone
            refused = _refusal(wrapped, allow)
            return (str(ip), f"an IPv6 form of {wrapped}, {refused[1]}") if refused else None
    if any(ip in net for net in allow):
        return None
    reason = _plain_reason(ip)
    if reason is not None:
        return str(ip), reason
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _tunnelled_ipv4(ip)
        inner_refused = _refusal(inner, allow) if inner is not None else None
        if inner_refused is not None:
            return str(ip), Msg("a tunnel to {address}, {reason}", address=str(inner), reason=inner_refused[1])
    return None


# The refusals, said in the reader's language; with the hint where a refused address is
# loopback or a private network (a local test site, the sample pages), never for link-local
# (cloud metadata).
NOT_ALLOWED = N_("That address is not allowed: {address} is {reason}.")
NOT_ALLOWED_HINT = N_(
    "That address is not allowed: {address} is {reason}. "
    "(An operator running a local test site can allow it with SUMMARY_BOT_FETCH_ALLOW_PRIVATE.)"
)
RESOLVES_NOT_ALLOWED = N_("That address is not allowed: {host} resolves to {address}, {reason}.")
RESOLVES_NOT_ALLOWED_HINT = N_(
    "That address is not allowed: {host} resolves to {address}, {reason}. "
    "(An operator running a local test site can allow it with SUMMARY_BOT_FETCH_ALLOW_PRIVATE.)"
)


def _hinted(shown: str) -> bool:
    ip = ipaddress.ip_address(shown)
    return ip.is_loopback or (ip.is_private and not ip.is_link_local)


def _endpoint_allowed(ip: IPAddress, port: int | None, endpoints: Iterable[Endpoint]) -> bool:
    """Whether (ip, port) is one of `endpoints`: a single server allowed, not its network
    (the sample site on 127.0.0.1:PORT must not open the way to Redis on 127.0.0.1:6379)."""
    if port is None:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # the same socket in the end
    return (ip, port) in endpoints


def check_address(
    ip: IPAddress, allow: Iterable[Network] = (), *, port: int | None = None, endpoints: Iterable[Endpoint] = ()
) -> None:
    """Raise AddressNotAllowed unless `ip` is a public address or inside `allow`, or
    (ip, `port`) is one of `endpoints`."""
    if _endpoint_allowed(ip, port, frozenset(endpoints)):
        return
    refused = _refusal(ip, allow)
    if refused is not None:
        shown, reason = refused
        raise AddressNotAllowed(Msg(NOT_ALLOWED_HINT if _hinted(shown) else NOT_ALLOWED, address=shown, reason=reason))


class GuardedResolver(AbstractResolver):
    """DNS that only answers with allowed addresses; raises AddressNotAllowed when a name
    resolves to refused addresses only. The connector connects to these exact answers, so
    a name cannot be re-resolved to something else between the check and the connect."""

    def __init__(
        self, allow: Iterable[Network], inner: AbstractResolver | None = None, endpoints: Iterable[Endpoint] = ()
    ):
        self._allow = list(allow)
        self._endpoints = frozenset(endpoints)
        self._inner = inner or aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        allowed, first_refusal = [], None
        for answer in answers:
            ip = ipaddress.ip_address(answer["host"])
            allowed_endpoint = _endpoint_allowed(ip, answer["port"], self._endpoints)
            refused = None if allowed_endpoint else _refusal(ip, self._allow)
            if refused is None:
                allowed.append(answer)
            elif first_refusal is None:
                first_refusal = refused
        if not allowed and first_refusal is not None:
            shown, reason = first_refusal
            template = RESOLVES_NOT_ALLOWED_HINT if _hinted(shown) else RESOLVES_NOT_ALLOWED
            raise AddressNotAllowed(Msg(template, host=host, address=shown, reason=reason))
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def _guarded_socket_factory(allow: Iterable[Network], endpoints: Iterable[Endpoint] = ()):
    """A socket factory for the connector: the last check, on the address (and port) being
    connected."""
    allow, endpoints = list(allow), frozenset(endpoints)

    def create(addr_info) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        check_address(ipaddress.ip_address(sockaddr[0]), allow, port=sockaddr[1], endpoints=endpoints)
        return socket.socket(family=family, type=type_, proto=proto)

    return create


# -- decoding -----------------------------------------------------------------------------
#
# Charsets are read as browsers read them (the WHATWG Encoding Standard): only the labels
# listed there count, each mapped to its encoding there. Anything else Python happens to
# know is refused, because a page could otherwise choose a decoder that turns harmless
# bytes into markup: UTF-7 ("+ADw-script+AD4-" is "<script>"), unicode_escape ("\x3c"),
# or a bytes codec (base64) that does not even return text. A refused label is ignored,
# as browsers ignore it, and the next source decides. The "replacement" labels (ISO-2022-KR,
# HZ, ISO-2022-CN) decode, as in browsers, to a single U+FFFD.

REPLACEMENT = "replacement"
USER_DEFINED = "x-user-defined"
# WHATWG encoding labels -> Python codec (https://encoding.spec.whatwg.org/#names-and-labels).
_WHATWG_ENCODINGS: dict[str, tuple[str, ...]] = {
    "utf-8": ("unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "utf-8", "utf8", "x-unicode20utf8"),
    "cp866": ("866", "cp866", "csibm866", "ibm866"),
    "iso8859_2": ("csisolatin2", "iso-8859-2", "iso-ir-101", "iso8859-2", "iso88592", "iso_8859-2", "iso_8859-2:1987", "l2", "latin2"),
    "iso8859_3": ("csisolatin3", "iso-8859-3", "iso-ir-109", "iso8859-3", "iso88593", "iso_8859-3", "iso_8859-3:1988", "l3", "latin3"),
    "iso8859_4": ("csisolatin4", "iso-8859-4", "iso-ir-110", "iso8859-4", "iso88594", "iso_8859-4", "iso_8859-4:1988", "l4", "latin4"),
    "iso8859_5": ("csisolatincyrillic", "cyrillic", "iso-8859-5", "iso-ir-144", "iso8859-5", "iso88595", "iso_8859-5", "iso_8859-5:1988"),
    "iso8859_6": ("arabic", "asmo-708", "csiso88596e", "csiso88596i", "csisolatinarabic", "ecma-114", "iso-8859-6", "iso-8859-6-e",
                  "iso-8859-6-i", "iso-ir-127", "iso8859-6", "iso88596", "iso_8859-6", "iso_8859-6:1987"),
    "iso8859_7": ("csisolatingreek", "ecma-118", "elot_928", "greek", "greek8", "iso-8859-7", "iso-ir-126", "iso8859-7", "iso88597",
                  "iso_8859-7", "iso_8859-7:1987", "sun_eu_greek"),
    "iso8859_8": ("csiso88598e", "csisolatinhebrew", "hebrew", "iso-8859-8", "iso-8859-8-e", "iso-ir-138", "iso8859-8", "iso88598",
                  "iso_8859-8", "iso_8859-8:1988", "visual", "csiso88598i", "iso-8859-8-i", "logical"),
    "iso8859_10": ("csisolatin6", "iso-8859-10", "iso-ir-157", "iso8859-10", "iso885910", "l6", "latin6"),
    "iso8859_13": ("iso-8859-13", "iso8859-13", "iso885913"),
    "iso8859_14": ("iso-8859-14", "iso8859-14", "iso885914"),
    "iso8859_15": ("csisolatin9", "iso-8859-15", "iso8859-15", "iso885915", "iso_8859-15", "l9"),
    "iso8859_16": ("iso-8859-16",),
    "koi8_r": ("cskoi8r", "koi", "koi8", "koi8-r", "koi8_r"),
    "koi8_u": ("koi8-ru", "koi8-u"),
    "mac_roman": ("csmacintosh", "mac", "macintosh", "x-mac-roman"),
    "cp874": ("dos-874", "iso-8859-11", "iso8859-11", "iso885911", "tis-620", "windows-874"),
    "cp1250": ("cp1250", "windows-1250", "x-cp1250"),
    "cp1251": ("cp1251", "windows-1251", "x-cp1251"),
    "cp1252": ("ansi_x3.4-1968", "ascii", "cp1252", "cp819", "csisolatin1", "ibm819", "iso-8859-1", "iso-ir-100", "iso8859-1",
               "iso88591", "iso_8859-1", "iso_8859-1:1987", "l1", "latin1", "us-ascii", "windows-1252", "x-cp1252"),
    "cp1253": ("cp1253", "windows-1253", "x-cp1253"),
    "cp1254": ("cp1254", "csisolatin5", "iso-8859-9", "iso-ir-148", "iso8859-9", "iso88599", "iso_8859-9", "iso_8859-9:1989", "l5",
               "latin5", "windows-1254", "x-cp1254"),
    "cp1255": ("cp1255", "windows-1255", "x-cp1255"),
    "cp1256": ("cp1256", "windows-1256", "x-cp1256"),
    "cp1257": ("cp1257", "windows-1257", "x-cp1257"),
    "cp1258": ("cp1258", "windows-1258", "x-cp1258"),
    "mac_cyrillic": ("x-mac-cyrillic", "x-mac-ukrainian"),
    # WHATWG's GBK decoder is its gb18030 decoder; its Big5 includes HKSCS; its EUC-KR is
    # Windows' code page 949; its Shift_JIS is Windows' code page 932.
    "gb18030": ("chinese", "csgb2312", "csiso58gb231280", "gb2312", "gb_2312", "gb_2312-80", "gbk", "iso-ir-58", "x-gbk", "gb18030"),
    "big5hkscs": ("big5", "big5-hkscs", "cn-big5", "csbig5", "x-x-big5"),
    "euc_jp": ("cseucpkdfmtjapanese", "euc-jp", "x-euc-jp"),
    "iso2022_jp": ("csiso2022jp", "iso-2022-jp"),
    "cp932": ("csshiftjis", "ms932", "ms_kanji", "shift-jis", "shift_jis", "sjis", "windows-31j", "x-sjis"),
    "cp949": ("cseuckr", "csksc56011987", "euc-kr", "iso-ir-149", "korean", "ks_c_5601-1987", "ks_c_5601-1989", "ksc5601",
              "ksc_5601", "windows-949"),
    REPLACEMENT: ("csiso2022kr", "hz-gb-2312", "iso-2022-cn", "iso-2022-cn-ext", "iso-2022-kr", "replacement"),
    "utf-16-be": ("unicodefffe", "utf-16be"),
    "utf-16-le": ("csunicode", "iso-10646-ucs-2", "ucs-2", "unicode", "unicodefeff", "utf-16", "utf-16le"),
    USER_DEFINED: ("x-user-defined",),
}  # fmt: skip
WHATWG_LABELS: dict[str, str] = {label: codec for codec, labels in _WHATWG_ENCODINGS.items() for label in labels}
_ALLOWED_CODECS = frozenset(codecs.lookup(c).name for c in _WHATWG_ENCODINGS if c not in (REPLACEMENT, USER_DEFINED))

_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([a-zA-Z0-9_.:-]+)""", re.I)
GUESS_PREFIX_BYTES = 64 * 1024  # an undeclared charset is guessed from this much of the body
_USER_DEFINED_TABLE = {i: 0xF700 + i for i in range(0x80, 0x100)}


def _codec(label: str | None, *, from_markup: bool = False) -> str | None:
    """The codec for a charset label as browsers read labels (WHATWG); None when the
    label is not one of theirs (utf-7, utf-32, ebcdic, unicode_escape, base64, ...)."""
    if not label:
        return None
    codec = WHATWG_LABELS.get(label.strip("\t\n\f\r \"'").lower())
    # A page that can declare UTF-16 inside itself in ASCII is not UTF-16 (HTML prescan).
    if from_markup and codec in ("utf-16-le", "utf-16-be"):
        return "utf-8"
    if from_markup and codec == USER_DEFINED:
        return "cp1252"
    return codec


def _decode(body: bytes, codec: str) -> str:
    if codec == REPLACEMENT:
        return "\ufffd" if body else ""
    if codec == USER_DEFINED:
        return body.decode("latin-1").translate(_USER_DEFINED_TABLE)
    return body.decode(codec, "replace")


def _guess(body: bytes) -> str:
    """A codec for undeclared, non-UTF-8 bytes, guessed from the opening of the body only
    (the guess is the slow part), and only among the encodings browsers know."""
    guess = charset_normalizer.from_bytes(body[:GUESS_PREFIX_BYTES]).best()
    if guess is not None:
        with contextlib.suppress(LookupError):
            name = codecs.lookup(guess.encoding).name
            if name in _ALLOWED_CODECS:
                return name
    return "cp1252"  # what browsers fall back to for Western pages


def decode_body(body: bytes, declared_charset: str | None = None) -> str:
    """Text of a body: BOM, else the Content-Type charset, else <meta charset> or the XML
    declaration in the first 4 KB, else UTF-8, else a guess from the first 64 KB. Only
    charset labels that browsers accept count (see above). Never raises."""
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return body[len(bom):].decode(encoding, "replace")
    codec = _codec(declared_charset)
    if codec is None:
        head = body[:4096]
        match = _META_CHARSET.search(head) or _XML_ENCODING.search(head)
        codec = _codec(match.group(1).decode("ascii"), from_markup=True) if match else None
    if codec is not None:
        return _decode(body, codec)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    return body.decode(_guess(body), "replace")


def _sniff_type(body: bytes, accept_feeds: bool) -> str | None:
    """Media type of a body served without Content-Type: only unmistakable markup."""
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "text/html"
    if head.startswith(b"<?xml"):
        if b"<html" in head or b"<!doctype html" in head:
            return "application/xhtml+xml"
        if accept_feeds:
            return "application/xml"
    return None


# -- messages -----------------------------------------------------------------------------


def _human_size(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:g} MB"
    return f"{n / 1000:g} KB"


def _status_error(status: int) -> HTTPStatusError:
    if status == 404:
        message = Msg("The page was not found (HTTP {status}).", status=status)
    elif status == 410:
        message = Msg("The page is gone (HTTP {status}).", status=status)
    elif status in (401, 403):
        message = Msg("The site does not let the bot read that page (HTTP {status}).", status=status)
    elif status == 429:
        message = Msg("The site is limiting requests; try again later (HTTP {status}).", status=status)
    elif 400 <= status < 500:
        message = Msg("The site refused the request (HTTP {status}).", status=status)
    elif status >= 500:
        message = Msg("The site had an error (HTTP {status}); try again later.", status=status)
    else:
        message = Msg("The site gave an answer that is not a page (HTTP {status}).", status=status)
    return HTTPStatusError(message, status)


@contextlib.contextmanager
def _friendly_errors(url: URL) -> Iterator[None]:
    """Turn aiohttp and timeout errors during one hop into FetchErrors naming the host."""
    host = url.host or str(url)
    try:
        yield
    except FetchError:
        raise
    except TimeoutError:  # aiohttp's timeouts are TimeoutErrors too
        raise FetchError(Msg("{host} took too long to answer.", host=host)) from None
    except aiohttp.ClientSSLError:
        raise FetchError(Msg("Could not make a secure connection to {host}.", host=host)) from None
    except aiohttp.ClientConnectorError:  # DNS failure, connection refused, unreachable
        raise FetchError(Msg("Could not reach {host}.", host=host)) from None
    except aiohttp.InvalidURL:
        raise FetchError(Msg("That link is not a valid web address.")) from None
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
        raise FetchError(Msg("The connection to {host} broke off.", host=host)) from None
    except aiohttp.ClientError:
        raise FetchError(Msg("{host} sent an answer that could not be read.", host=host)) from None


def _parse_link(url: str) -> URL:
    try:
        parsed = URL(url.strip())
    except (ValueError, TypeError):
        raise FetchError(Msg("That link is not a valid web address.")) from None
    if parsed.scheme not in ("http", "https"):
        raise FetchError(Msg("Only http and https links can be summarized."))
    if not parsed.host:
        raise FetchError(Msg("That link is not a valid web address."))
    return parsed.with_fragment(None)


# -- the fetcher --------------------------------------------------------------------------


class Fetcher:
    """Fetches pages under the settings' address policy and limits. One HTTP session per
    Fetcher, opened on first use; close it with `close()` or `async with`."""

    def __init__(self, settings: Settings):
        self._settings = settings
        self._allow: list[Network] = list(settings.fetch_allow_private)
        self._endpoints: frozenset[Endpoint] = frozenset(settings.fetch_allow_endpoints)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            seconds = self._settings.fetch_timeout
            connector = aiohttp.TCPConnector(
                resolver=GuardedResolver(self._allow, endpoints=self._endpoints),
                socket_factory=_guarded_socket_factory(self._allow, self._endpoints),
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=seconds, sock_connect=seconds, sock_read=seconds),
                headers={"User-Agent": self._settings.fetch_user_agent},
                cookie_jar=aiohttp.DummyCookieJar(),  # one user's cookies must not reach another's fetch
                trust_env=False,  # no proxy from the environment: the checks are on the real peer
            )
        return self._session

    async def fetch(
        self, url: str, *, headers: dict[str, str] | None = None, accept_feeds: bool = False
    ) -> FetchedPage:
        """The page at `url`, after following redirects. Raises FetchError (or one of its
        subclasses) with a user-facing message. A 304 answer is returned, with empty text."""
        current = _parse_link(url)
        request_headers = {"Accept": FEED_ACCEPT if accept_feeds else PAGE_ACCEPT, **(headers or {})}
        seen = {current}
        try:
            # One deadline for the whole fetch, redirects included.
            async with asyncio.timeout(self._settings.fetch_timeout):
                for _ in range(self._settings.fetch_max_redirects + 1):
                    self._check_ip_literal(current)
                    with _friendly_errors(current):
                        async with self._get_session().get(
                            current, headers=request_headers, allow_redirects=False
                        ) as response:
                            self._check_peer(response)
                            location = response.headers.get("Location")
                            if response.status not in REDIRECT_STATUSES or not location:
                                return await self._read_page(response, current, accept_feeds)
                    current = self._next_hop(current, location, seen)
        except TimeoutError:
            raise FetchError(Msg("{host} took too long to answer.", host=current.host)) from None
        raise FetchError(Msg("The page redirects too many times."))

    def _check_ip_literal(self, url: URL) -> None:
        # aiohttp connects to IP-literal hosts without asking the resolver.
        try:
            ip = ipaddress.ip_address(url.host or "")
        except ValueError:
            return
        check_address(ip, self._allow, port=url.port, endpoints=self._endpoints)

    def _check_peer(self, response: aiohttp.ClientResponse) -> None:
        # Belt and braces: the peer of the connection actually used must pass too. (When a
        # short body has already arrived, aiohttp has let go of the connection; the socket
        # factory checked that peer before connecting anyway.)
        transport = response.connection.transport if response.connection else None
        peer = transport.get_extra_info("peername") if transport else None
        if peer:
            try:
                check_address(ipaddress.ip_address(peer[0]), self._allow, port=peer[1], endpoints=self._endpoints)
            except AddressNotAllowed:
                response.close()  # never hand this connection back to the pool
                raise

    @staticmethod
    def _next_hop(current: URL, location: str, seen: set[URL]) -> URL:
        try:
            target = current.join(URL(location)).with_fragment(None)
        except (ValueError, TypeError):
            raise FetchError(Msg("The site sent a broken redirect.")) from None
        if target.scheme not in ("http", "https") or not target.host:
            raise FetchError(Msg("The page redirects to a link that is not a web page."))
        if target in seen:
            raise FetchError(Msg("The page redirects too many times."))
        seen.add(target)
        return target

    async def _read_page(
        self, response: aiohttp.ClientResponse, url: URL, accept_feeds: bool
    ) -> FetchedPage:
        etag = response.headers.get("ETag")
        last_modified = response.headers.get("Last-Modified")
        declared = "Content-Type" in response.headers  # aiohttp reports octet-stream if absent
        media_type = response.content_type if declared else None

        if response.status == 304:
            return FetchedPage(str(url), 304, media_type or "", "", etag, last_modified)
        if not 200 <= response.status < 300:
            raise _status_error(response.status)

        accepted = PAGE_TYPES | FEED_TYPES if accept_feeds else PAGE_TYPES
        if media_type is not None and media_type not in accepted:
            raise UnsupportedContent(Msg("That link is not a web page ({media_type}).", media_type=media_type))

        body = await self._read_capped(response)
        if media_type is None:
            media_type = _sniff_type(body, accept_feeds)
            if media_type is None:
                raise UnsupportedContent(Msg("That link is not a web page (no content type)."))

        charset = response.charset if declared else None
        if len(body) > DECODE_ON_LOOP_BYTES:  # decoding (and any guess) is CPU work: off the loop
            text = await asyncio.to_thread(decode_body, body, charset)
        else:
            text = decode_body(body, charset)
        return FetchedPage(str(url), response.status, media_type, text, etag, last_modified)

    async def _read_capped(self, response: aiohttp.ClientResponse) -> bytes:
        """The (decompressed) body, refused as soon as it passes fetch_max_bytes."""
        limit = self._settings.fetch_max_bytes
        too_large = TooLarge(Msg("The page is too large (over {size}).", size=_human_size(limit)))
        if response.content_length is not None and response.content_length > limit:
            response.close()  # drop the connection rather than drain the body
            raise too_large
        chunks, size = [], 0
        async for chunk in response.content.iter_any():
            size += len(chunk)
            if size > limit:
                response.close()
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)
