"""The guarded fetcher on its own: address policy, redirects, caps, charsets, feeds.

The pages come from a local site on 127.0.0.1 that misbehaves on purpose (tests/local_site.py).
"""

import asyncio
import functools
import gzip
import ipaddress
import socket

import pytest
from aiohttp import web

import bot.fetch
from bot.config import Settings
from bot.fetch import (
    AddressNotAllowed,
    Fetcher,
    FetchError,
    GuardedResolver,
    TooLarge,
    UnsupportedContent,
    check_address,
    decode_body,
)
from local_site import page, redirect, serve_raw, serve_site

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]
FIFTY_MB = 50 * 1024 * 1024
CHUNK = 64 * 1024


def settings(**overrides) -> Settings:
    """Explicit settings, so that SUMMARY_BOT_* variables cannot change a test."""
    values = dict(
        fetch_allow_private=["127.0.0.0/8"], fetch_timeout=3, fetch_max_bytes=100_000,
        fetch_max_redirects=5, fetch_user_agent="summary-bot-test/1.0",
    )  # fmt: skip
    return Settings(**{**values, **overrides})


# -- the address policy -------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1", "169.254.169.254", "127.0.0.1",
        "224.0.0.1", "240.0.0.1", "0.0.0.0", "255.255.255.255", "192.0.2.1", "198.18.0.1",
        "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "2001:db8::1",
        "::ffff:10.0.0.1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1",
        "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::1", "2002:7f00:1::", "2002:a00:1::1",
    ],
)  # fmt: skip
def test_non_public_addresses_are_refused(address):
    with pytest.raises(AddressNotAllowed, match="not allowed"):
        check_address(ipaddress.ip_address(address), [])


@pytest.mark.parametrize(
    "address",
    ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:2800:220:1::1", "2a00:1450:4001::1", "::ffff:8.8.8.8",
     "64:ff9b::808:808", "2002:808:808::1"],
)  # fmt: skip
def test_public_addresses_pass(address):
    check_address(ipaddress.ip_address(address), [])


def test_refusal_says_what_kind_of_address_it_is():
    with pytest.raises(AddressNotAllowed) as refused:
        check_address(ipaddress.ip_address("127.0.0.1"), [])
    assert str(refused.value) == (
        "That address is not allowed: 127.0.0.1 is a loopback address. "
        "(An operator running a local test site can allow it with SUMMARY_BOT_FETCH_ALLOW_PRIVATE.)"
    )
    with pytest.raises(AddressNotAllowed, match="100.64.0.1 is a shared"):
        check_address(ipaddress.ip_address("100.64.0.1"), [])
    with pytest.raises(AddressNotAllowed, match=r"IPv6 form of 127\.0\.0\.1, a loopback"):
        check_address(ipaddress.ip_address("64:ff9b::7f00:1"), [])
    with pytest.raises(AddressNotAllowed, match=r"a tunnel to 10\.0\.0\.1, a private"):
        check_address(ipaddress.ip_address("2002:a00:1::1"), [])


def test_allow_list_opens_only_its_networks():
    check_address(ipaddress.ip_address("127.0.0.1"), LOOPBACK)
    check_address(ipaddress.ip_address("::ffff:127.0.0.1"), LOOPBACK)  # the same socket in the end
    for other in ("169.254.169.254", "10.0.0.1", "::1"):
        with pytest.raises(AddressNotAllowed):
            check_address(ipaddress.ip_address(other), LOOPBACK)


class FakeDNS:
    def __init__(self, *addresses):
        self.addresses = addresses

    async def resolve(self, host, port=0, family=socket.AF_INET):
        return [
            {"hostname": host, "host": a, "port": port, "family": socket.AF_INET6 if ":" in a else socket.AF_INET,
             "proto": 0, "flags": socket.AI_NUMERICHOST}
            for a in self.addresses
        ]  # fmt: skip

    async def close(self):
        pass


async def test_resolver_drops_refused_answers_and_keeps_public_ones():
    resolver = GuardedResolver([], inner=FakeDNS("10.0.0.7", "93.184.216.34", "::1"))
    answers = await resolver.resolve("mixed.example", 80)
    assert [a["host"] for a in answers] == ["93.184.216.34"]


async def test_resolver_refuses_a_name_with_only_refused_answers():
    resolver = GuardedResolver([], inner=FakeDNS("169.254.169.254", "fe80::1"))
    with pytest.raises(AddressNotAllowed, match="rebind.example resolves to 169.254.169.254, a link-local"):
        await resolver.resolve("rebind.example", 80)


# -- the adversarial site -----------------------------------------------------------------


class Streamed:
    """A 50 MB body written in chunks, counting what the server managed to send."""

    def __init__(self, declare_length: bool):
        self.declare_length = declare_length
        self.sent = 0

    async def __call__(self, request):
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        if self.declare_length:
            response.content_length = FIFTY_MB
        await response.prepare(request)
        chunk = b"<p>" + b"x" * (CHUNK - 7) + b"</p>"
        try:
            while self.sent < FIFTY_MB:
                await response.write(chunk)
                self.sent += len(chunk)
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client hung up, as it should
        return response


async def stall(request):
    await asyncio.sleep(30)
    return web.Response(text="<html>late</html>", content_type="text/html")


async def conditional(request):
    if request.headers.get("If-None-Match") == '"v1"':
        return web.Response(status=304, headers={"ETag": '"v1"'})
    return web.Response(text="<html>v1</html>", content_type="text/html", headers={"ETag": '"v1"'})


@functools.cache
def gzip_bomb() -> bytes:
    """50 MB of zeros, gzipped to about 50 KB: small on the wire, huge once decoded."""
    return gzip.compress(bytes(FIFTY_MB))


LATIN1_PAGE = '<html><head><meta charset="iso-8859-1"><title>Caf\xe9</title></head><body>Caf\xe9 cr\xe8me</body></html>'
CP1251_META = (
    '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1251">'
    "</head><body>Привет, мир</body></html>"
)


UTF7_BODY = b"<body><p>Hello</p>+ADw-script+AD4-alert(1)+ADw-/script+AD4-</body></html>"


@pytest.fixture
async def site():
    routes = {
        "/": page("<!doctype html><html><head><title>Hello</title></head><body><p>Hi ✓</p></body></html>"),
        "/latin1": page(LATIN1_PAGE.encode("latin-1"), "text/html"),
        "/cp1252-euro": page(b'<html><head><meta charset="iso-8859-1"></head><body>\x80 5</body></html>', "text/html"),
        "/cp1251-header": page("<html><body>Привет, мир</body></html>".encode("cp1251"), "text/html; charset=windows-1251"),
        "/cp1251-meta": page(CP1251_META.encode("cp1251"), "text/html"),
        "/plain": page(b"just text", "text/plain"),
        "/utf7-header": page(UTF7_BODY, "text/html; charset=utf-7"),
        "/utf7-meta": page(b'<html><head><meta charset="UTF-7"></head>' + UTF7_BODY, "text/html"),
        "/utf7-http-equiv": page(b'<meta http-equiv="Content-Type" content="text/html; charset=utf-7">' + UTF7_BODY, "text/html"),
        "/utf7-header-cp1251-meta": page(CP1251_META.encode("cp1251") + UTF7_BODY, "text/html; charset=utf-7"),
        "/iso-2022-kr": page(b"<html><body>\x1b$)C hello</body></html>", "text/html; charset=iso-2022-kr"),
        "/big-cp1251": page(("<p>Съешь же ещё этих мягких французских булок.</p>" * 8_000).encode("cp1251"), "text/html"),
        "/feed": page(b"<?xml version='1.0'?><rss></rss>", "application/rss+xml"),
        "/atom": page(b"<?xml version='1.0'?><feed></feed>", "application/atom+xml; charset=utf-8"),
        "/png": page(b"\x89PNG\r\n\x1a\n" + bytes(500), "image/png"),
        "/octet": page(bytes(range(256)), "application/octet-stream"),
        "/pdf": page(b"%PDF-1.4", "application/pdf"),
        "/missing": page("nope", status=404),
        "/gone": page("gone", status=410),
        "/broken": page("oops", status=503),
        "/forbidden": page("no", status=403),
        "/stall": stall,
        "/huge-declared": Streamed(declare_length=True),
        "/huge-chunked": Streamed(declare_length=False),
        "/gzip-bomb": page(gzip_bomb(), "text/html", **{"Content-Encoding": "gzip"}),
        "/etag": conditional,
        "/loop-a": redirect("/loop-b"),
        "/loop-b": redirect("/loop-a"),
        "/self": redirect("/self", 301),
        "/dir/relative": redirect("../latin1"),
        "/to-metadata": redirect("http://169.254.169.254/latest/meta-data/"),
        "/to-private": redirect("http://10.0.0.1/admin"),
        "/to-mapped": redirect("http://[::ffff:10.0.0.1]/"),
        "/to-ftp": redirect("ftp://example.com/file"),
        "/no-location": (302, {}, b""),
    }
    for n in range(10):
        routes[f"/chain/{n}"] = redirect(f"/chain/{n + 1}")
    routes["/chain/10"] = page("<html>end of the chain</html>")
    async with serve_site(routes) as served:
        yield served


@pytest.fixture
async def fetcher():
    async with Fetcher(settings()) as opened:
        yield opened


# -- pages that work ----------------------------------------------------------------------


async def test_html_page(site, fetcher):
    fetched = await fetcher.fetch(site.url("/"))
    assert (fetched.url, fetched.status, fetched.content_type) == (site.url("/"), 200, "text/html")
    assert fetched.is_html and "Hi ✓" in fetched.text


async def test_sends_the_user_agent_and_an_accept_header(site, fetcher):
    await fetcher.fetch(site.url("/"))
    headers = site.requests[-1].headers
    assert headers["User-Agent"] == "summary-bot-test/1.0"
    assert headers["Accept"].startswith("text/html")
    await fetcher.fetch(site.url("/feed"), accept_feeds=True)
    assert "application/rss+xml" in site.requests[-1].headers["Accept"]


async def test_charsets_are_decoded(site, fetcher):
    assert "Café crème" in (await fetcher.fetch(site.url("/latin1"))).text
    assert "€ 5" in (await fetcher.fetch(site.url("/cp1252-euro"))).text  # latin-1 labels mean windows-1252
    assert "Привет, мир" in (await fetcher.fetch(site.url("/cp1251-header"))).text
    assert "Привет, мир" in (await fetcher.fetch(site.url("/cp1251-meta"))).text


def test_decoding_never_fails():
    assert decode_body(b"\xef\xbb\xbfbom first", "latin-1") == "bom first"  # a BOM beats the header
    assert decode_body("Grüße".encode(), "no-such-charset") == "Grüße"
    guessed = decode_body(("Съешь же ещё этих мягких французских булок. " * 20).encode("cp1251"))
    assert "французских" in guessed
    assert isinstance(decode_body(bytes(range(256)) * 4), str)


@pytest.mark.parametrize("path", ["/utf7-header", "/utf7-meta", "/utf7-http-equiv"])
async def test_utf7_is_refused_as_browsers_refuse_it(site, fetcher, path):
    text = (await fetcher.fetch(site.url(path))).text
    assert "<script>" not in text and "+ADw-script+AD4-" in text  # read as UTF-8, like a browser


async def test_a_refused_header_charset_falls_back_to_the_meta_charset(site, fetcher):
    text = (await fetcher.fetch(site.url("/utf7-header-cp1251-meta"))).text
    assert "Привет, мир" in text and "<script>" not in text


async def test_replacement_encodings_decode_to_one_replacement_character(site, fetcher):
    assert (await fetcher.fetch(site.url("/iso-2022-kr"))).text == "\ufffd"


async def test_large_bodies_are_decoded_off_the_event_loop(site, fetcher, monkeypatch):
    import threading

    threads = []
    real = bot.fetch.decode_body

    def recording(body, charset=None):
        threads.append(threading.current_thread())
        return real(body, charset)

    monkeypatch.setattr(bot.fetch, "decode_body", recording)
    big = Fetcher(settings(fetch_max_bytes=2_000_000))
    try:
        assert "французских" in (await big.fetch(site.url("/big-cp1251"))).text  # 400 KB, no charset: guessed
        assert (await big.fetch(site.url("/"))).text  # small: decoded in place
    finally:
        await big.close()
    assert threads[0] is not threading.main_thread() and threads[1] is threading.main_thread()


@pytest.mark.parametrize(
    "label",
    ["utf-7", "UTF-7", "utf-7-imap", "utf-32", "unicode_escape", "raw_unicode_escape", "base64", "hex", "rot13",
     "punycode", "idna", "cp037", "zlib", "utf_8_sig"],
)  # fmt: skip
def test_labels_browsers_do_not_know_are_ignored(label):
    body = b"+ADw-script+AD4- \\x3cscript\\x3e PHNjcmlwdD4= caf\xc3\xa9"
    assert decode_body(body, label) == decode_body(body) == body.decode("utf-8")
    meta = b'<meta charset="' + label.encode() + b'">' + body
    assert decode_body(meta) == meta.decode("utf-8")


@pytest.mark.parametrize(
    ("label", "raw", "text"),
    [
        ("latin1", b"\x80", "€"), ("US-ASCII", b"\x93hi\x94", "“hi”"), ("iso-8859-9", b"\xfd", "ı"),  # windows-1252, -1254
        ("gb2312", "汉字".encode("gb18030"), "汉字"), ("big5", "香港".encode("big5hkscs"), "香港"),
        ("shift_jis", "①".encode("cp932"), "①"), ("euc-kr", "똠".encode("cp949"), "똠"),
        ("tis-620", "ไทย".encode("cp874"), "ไทย"), (" KOI8-R ", "мир".encode("koi8_r"), "мир"),
        ("x-user-defined", b"a\x80", "a\uf780"),
    ],
)  # fmt: skip
def test_labels_mean_what_they_mean_to_browsers(label, raw, text):
    assert decode_body(raw, label) == text


def test_a_page_cannot_declare_utf16_inside_itself():
    body = b'<meta charset="utf-16"><p>caf\xc3\xa9</p>'
    assert decode_body(body).endswith("café</p>")


async def test_plain_text_is_accepted(site, fetcher):
    fetched = await fetcher.fetch(site.url("/plain"))
    assert (fetched.text, fetched.content_type, fetched.is_html) == ("just text", "text/plain", False)


async def test_feeds_only_when_asked(site, fetcher):
    with pytest.raises(UnsupportedContent, match="application/rss"):
        await fetcher.fetch(site.url("/feed"))
    assert (await fetcher.fetch(site.url("/feed"), accept_feeds=True)).content_type == "application/rss+xml"
    atom = await fetcher.fetch(site.url("/atom"), accept_feeds=True)
    assert atom.content_type == "application/atom+xml" and "<feed>" in atom.text


async def test_relative_redirect_is_followed(site, fetcher):
    fetched = await fetcher.fetch(site.url("/dir/relative#top"))
    assert fetched.url == site.url("/latin1") and "Café" in fetched.text


async def test_conditional_get_returns_304(site, fetcher):
    first = await fetcher.fetch(site.url("/etag"))
    again = await fetcher.fetch(site.url("/etag"), headers={"If-None-Match": first.etag})
    assert (first.status, first.etag, again.status, again.text, again.etag) == (200, '"v1"', 304, "", '"v1"')


async def test_missing_content_type_is_sniffed():
    html = b"  <!DOCTYPE html><p>no type</p>"
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(html), html)
    async with serve_raw(answer) as base, Fetcher(settings()) as fetcher:
        fetched = await fetcher.fetch(base + "/")
    assert fetched.content_type == "text/html" and "no type" in fetched.text
    binary = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\n\x00\x01\x02\x03"
    async with serve_raw(binary) as base, Fetcher(settings()) as fetcher:
        with pytest.raises(UnsupportedContent):
            await fetcher.fetch(base + "/")


# -- pages that must fail, politely --------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/missing", "The page was not found (HTTP 404)."),
        ("/gone", "The page is gone (HTTP 410)."),
        ("/forbidden", "HTTP 403"),
        ("/broken", "The site had an error (HTTP 503)"),
        ("/no-location", "HTTP 302"),
    ],
)
async def test_http_errors_have_friendly_messages(site, fetcher, path, message):
    with pytest.raises(FetchError) as failed:
        await fetcher.fetch(site.url(path))
    assert message in str(failed.value)


async def test_a_stalling_site_fails_with_the_timeout(site):
    async with Fetcher(settings(fetch_timeout=1)) as fetcher:
        with pytest.raises(FetchError, match="took too long"):
            await fetcher.fetch(site.url("/stall"))


@pytest.mark.parametrize("path", ["/huge-declared", "/huge-chunked"])
async def test_a_huge_body_is_refused_without_reading_it(site, fetcher, path):
    with pytest.raises(TooLarge, match="too large"):
        await fetcher.fetch(site.url(path))
    await asyncio.sleep(0.2)  # let the server notice that the client hung up
    assert site.routes[path].sent < FIFTY_MB // 4


async def test_a_compressed_body_is_capped_after_decompression(site, fetcher):
    with pytest.raises(TooLarge):
        await fetcher.fetch(site.url("/gzip-bomb"))


@pytest.mark.parametrize(("path", "kind"), [("/png", "image/png"), ("/octet", "application/octet-stream"), ("/pdf", "application/pdf")])
async def test_binary_content_is_refused(site, fetcher, path, kind):
    with pytest.raises(UnsupportedContent) as refused:
        await fetcher.fetch(site.url(path))
    assert str(refused.value) == f"That link is not a web page ({kind})."


@pytest.mark.parametrize("path", ["/loop-a", "/self", "/chain/0"])
async def test_redirect_loops_and_long_chains_stop(site, fetcher, path):
    with pytest.raises(FetchError, match="The page redirects too many times."):
        await fetcher.fetch(site.url(path))
    assert sum(site.hits.values()) <= 6  # the first request and at most fetch_max_redirects hops


async def test_a_chain_within_the_limit_is_followed(site):
    async with Fetcher(settings(fetch_max_redirects=10)) as fetcher:
        assert "end of the chain" in (await fetcher.fetch(site.url("/chain/0"))).text


async def test_redirect_to_other_schemes_is_refused(site, fetcher):
    with pytest.raises(FetchError, match="not a web page"):
        await fetcher.fetch(site.url("/to-ftp"))


@pytest.mark.parametrize(
    ("path", "address"),
    [("/to-metadata", "169.254.169.254"), ("/to-private", "10.0.0.1"), ("/to-mapped", "10.0.0.1")],
)
async def test_redirect_to_private_address_is_refused_even_with_loopback_allowed(site, fetcher, path, address):
    with pytest.raises(AddressNotAllowed, match=f"not allowed: .*{address}"):
        await fetcher.fetch(site.url(path))


async def test_loopback_is_refused_without_an_allow_list(site):
    port = site.base_url.rsplit(":", 1)[1]
    async with Fetcher(settings(fetch_allow_private=[])) as fetcher:
        for url in (f"http://127.0.0.1:{port}/", f"http://[::1]:{port}/", f"http://[::ffff:127.0.0.1]:{port}/",
                    "http://0.0.0.0/", f"http://localhost:{port}/", f"http://LocalHost:{port}/"):  # fmt: skip
            with pytest.raises(AddressNotAllowed, match="not allowed"):
                await fetcher.fetch(url)
    assert not site.requests


async def test_every_connection_is_checked_even_if_the_first_checks_are_bypassed(site, monkeypatch):
    """The socket factory refuses what the literal check and the resolver let through."""

    async def unfiltered(self, host, port=0, family=socket.AF_INET):
        return await self._inner.resolve(host, port, family)

    monkeypatch.setattr(Fetcher, "_check_ip_literal", lambda self, url: None)
    monkeypatch.setattr(GuardedResolver, "resolve", unfiltered)
    port = site.base_url.rsplit(":", 1)[1]
    async with Fetcher(settings(fetch_allow_private=[])) as fetcher:
        for url in (f"http://127.0.0.1:{port}/", f"http://localhost:{port}/"):
            with pytest.raises(AddressNotAllowed):
                await fetcher.fetch(url)
    assert not site.requests


async def test_an_allowed_endpoint_opens_only_that_port_of_loopback():
    """The sample site's exception (`summary-bot chat`) is one IP:port, not loopback: a page
    there may not send the bot to another local service (Redis on 127.0.0.1:6379).
    Fails before the fix: there was no endpoint exception, only whole networks (the chat
    allowed 127.0.0.1/32, every port), so the sample page itself was refused here."""
    other_page = page("<html><body>a local service</body></html>")
    async with serve_site({"/": other_page}) as other:
        routes = {"/": page("<html><head><title>Sample</title></head><body>sample</body></html>"),
                  "/away": redirect(other.url("/"))}  # fmt: skip
        async with serve_site(routes) as sample:
            port = int(sample.base_url.rsplit(":", 1)[1])
            allowed = settings(fetch_allow_private=[], fetch_allow_endpoints=[f"127.0.0.1:{port}"])
            async with Fetcher(allowed) as fetcher:
                assert "sample" in (await fetcher.fetch(sample.url("/"))).text
                assert "sample" in (await fetcher.fetch(f"http://localhost:{port}/")).text
                for url in (other.url("/"), sample.url("/away"), f"http://[::1]:{port}/"):
                    with pytest.raises(AddressNotAllowed, match="not allowed"):
                        await fetcher.fetch(url)
    assert not other.requests


def test_an_endpoint_is_an_address_and_a_port():
    endpoint = Settings(fetch_allow_endpoints="127.0.0.1:8000").fetch_allow_endpoints
    check_address(ipaddress.ip_address("127.0.0.1"), [], port=8000, endpoints=endpoint)
    check_address(ipaddress.ip_address("::ffff:127.0.0.1"), [], port=8000, endpoints=endpoint)
    for address, port in (("127.0.0.1", 6379), ("127.0.0.1", None), ("127.0.0.2", 8000), ("::1", 8000)):
        with pytest.raises(AddressNotAllowed):
            check_address(ipaddress.ip_address(address), [], port=port, endpoints=endpoint)
    for bad in ("127.0.0.1", "localhost:80", "127.0.0.1:http", "127.0.0.1:70000"):
        with pytest.raises(ValueError):
            Settings(fetch_allow_endpoints=bad)


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/x", "javascript:alert(1)", "file:///etc/passwd", "example.com/page", "http:///nohost",
     "http://exa mple.com:99999/"],
)  # fmt: skip
async def test_non_http_links_are_refused(fetcher, url):
    with pytest.raises(FetchError):
        await fetcher.fetch(url)


async def test_only_http_and_https(fetcher):
    with pytest.raises(FetchError, match="Only http and https links"):
        await fetcher.fetch("gopher://example.com/")


async def test_an_unreachable_site_has_a_friendly_message(fetcher):
    with socket.socket() as closed:  # a port that nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(FetchError, match="Could not reach 127.0.0.1"):
        await fetcher.fetch(f"http://127.0.0.1:{port}/")


async def test_a_name_that_does_not_resolve_has_a_friendly_message(monkeypatch):
    class NoDNS(FakeDNS):
        async def resolve(self, host, port=0, family=socket.AF_INET):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(bot.fetch.aiohttp, "DefaultResolver", NoDNS)
    async with Fetcher(settings()) as fetcher:
        with pytest.raises(FetchError, match=r"^Could not reach no-such-site\.example\.$"):
            await fetcher.fetch("https://no-such-site.example/article")


async def test_fetcher_opens_one_session_lazily_and_closes_it(site):
    fetcher = Fetcher(settings())
    assert fetcher._session is None
    await fetcher.fetch(site.url("/"))
    session = fetcher._session
    await fetcher.fetch(site.url("/plain"))
    assert fetcher._session is session
    await fetcher.close()
    await fetcher.close()  # twice is fine
    assert session.closed
    assert bot.fetch.FetchedPage(url="u", status=200, content_type="text/plain", text="").etag is None
