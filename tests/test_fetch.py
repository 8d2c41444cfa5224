"""The guarded fetcher on its own: address policy, redirects, caps, charsets, feeds."""

import ipaddress

import pytest
from aiohttp import web

from bot.config import Settings
from bot.fetch import AddressNotAllowed, Fetcher, FetchError, TooLarge, UnsupportedContent, check_address

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1", "169.254.169.254", "127.0.0.1",
        "224.0.0.1", "240.0.0.1", "0.0.0.0", "255.255.255.255", "::1", "::", "fe80::1", "fc00::1",
        "ff02::1", "::ffff:10.0.0.1", "::ffff:127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::", "::127.0.0.1",
    ],
)
def test_non_public_addresses_are_refused(address):
    with pytest.raises(AddressNotAllowed, match="not allowed"):
        check_address(ipaddress.ip_address(address), [])


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:2800:220:1::1"])
def test_public_addresses_pass(address):
    check_address(ipaddress.ip_address(address), [])


def test_allow_list_opens_only_its_networks():
    check_address(ipaddress.ip_address("127.0.0.1"), LOOPBACK)
    with pytest.raises(AddressNotAllowed):
        check_address(ipaddress.ip_address("169.254.169.254"), LOOPBACK)
    with pytest.raises(AddressNotAllowed):
        check_address(ipaddress.ip_address("::1"), LOOPBACK)


def respond(body: bytes, content_type: str, **headers):
    async def handler(request):
        return web.Response(body=body, headers={"Content-Type": content_type, **headers})

    return handler


def redirect(location: str):
    async def handler(request):
        raise web.HTTPFound(location)

    return handler


async def etag(request):
    if request.headers.get("If-None-Match") == '"v1"':
        return web.Response(status=304, headers={"ETag": '"v1"'})
    return web.Response(text="<html>v1</html>", content_type="text/html", headers={"ETag": '"v1"'})


@pytest.fixture
async def server():
    latin1 = '<html><head><meta charset="iso-8859-1"><title>Caf\xe9</title></head><body>Caf\xe9 cr\xe8me</body></html>'
    routes = {
        "/latin1": respond(latin1.encode("latin-1"), "text/html"),
        "/cp1251": respond("<html><body>Привет, мир</body></html>".encode("cp1251"), "text/html; charset=windows-1251"),
        "/plain": respond(b"just text", "text/plain"),
        "/feed": respond(b"<?xml version='1.0'?><rss></rss>", "application/rss+xml"),
        "/pdf": respond(b"%PDF-1.4", "application/pdf"),
        "/big-declared": respond(b"x" * 5000, "text/html"),
        "/dir/relative": redirect("../latin1"),
        "/to-private": redirect("http://10.0.0.1/admin"),
        "/etag": etag,
    }
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture
async def fetcher():
    async with Fetcher(Settings(fetch_allow_private=["127.0.0.0/8"], fetch_timeout=3, fetch_max_bytes=4000)) as f:
        yield f


async def test_charsets_are_decoded(server, fetcher):
    assert "Café crème" in (await fetcher.fetch(f"{server}/latin1")).text
    assert "Привет, мир" in (await fetcher.fetch(f"{server}/cp1251")).text


async def test_relative_redirect_is_followed(server, fetcher):
    page = await fetcher.fetch(f"{server}/dir/relative")
    assert page.url == f"{server}/latin1" and "Café" in page.text


async def test_plain_text_and_feeds(server, fetcher):
    page = await fetcher.fetch(f"{server}/plain")
    assert page.text == "just text" and not page.is_html
    with pytest.raises(UnsupportedContent):
        await fetcher.fetch(f"{server}/feed")
    assert (await fetcher.fetch(f"{server}/feed", accept_feeds=True)).content_type == "application/rss+xml"
    with pytest.raises(UnsupportedContent, match="application/pdf"):
        await fetcher.fetch(f"{server}/pdf")


async def test_declared_length_over_the_cap_is_refused_before_reading(server, fetcher):
    with pytest.raises(TooLarge):
        await fetcher.fetch(f"{server}/big-declared")


async def test_conditional_get_returns_304(server, fetcher):
    first = await fetcher.fetch(f"{server}/etag")
    again = await fetcher.fetch(f"{server}/etag", headers={"If-None-Match": first.etag})
    assert (first.status, first.etag, again.status, again.text) == (200, '"v1"', 304, "")


async def test_redirect_to_private_address_is_refused_even_with_loopback_allowed(server, fetcher):
    with pytest.raises(AddressNotAllowed, match="10.0.0.1"):
        await fetcher.fetch(f"{server}/to-private")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/", "http://[::1]:9/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "http://localhost:9/"]
)
async def test_loopback_is_refused_without_an_allow_list(url):
    async with Fetcher(Settings(fetch_allow_private=[])) as fetcher:
        with pytest.raises(AddressNotAllowed):
            await fetcher.fetch(url)


@pytest.mark.parametrize("url", ["ftp://example.com/x", "javascript:alert(1)", "http://exa mple.com:99999/"])
async def test_non_http_links_are_refused(url, fetcher):
    with pytest.raises(FetchError):
        await fetcher.fetch(url)
