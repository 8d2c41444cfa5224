"""The core end to end: links in chat messages -> fetch -> extract -> summarize -> replies,
against a local site with well-behaved and adversarial pages, and the real model."""

import asyncio
import json
from pathlib import Path

import pytest
from aiohttp import web

from bot.config import Settings
from bot.models import ChatRef, Incoming
from bot.store.sqlite_store import SQLiteStore
from bot.summarize import Summary
from local_site import page, redirect, serve_site
from model_support import make_summary_bot

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
SEED_PAGE = SEEDS / "news" / "russia-us-prisoner-exchange-talks-g20.html"
SEED_TITLE = "Russia and the US pursue private prisoner-exchange talks amid G20 discussions"

ARTICLE_HTML = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>
<body><article><h1>{title}</h1>{paragraphs}</article></body></html>"""


def article_page(title: str, sentences: int = 12) -> str:
    paragraphs = "".join(
        f"<p>Paragraph {i} explains how the river council measured water quality in district {i}, "
        f"finding that nitrate levels fell by {i} percent after the new filters were installed.</p>"
        for i in range(sentences)
    )
    return ARTICLE_HTML.format(title=title, paragraphs=paragraphs)


async def _stall(request):
    await asyncio.sleep(30)
    return web.Response(text="late")


async def _huge(request):
    response = web.StreamResponse(headers={"Content-Type": "text/html"})
    await response.prepare(request)
    chunk = b"<p>" + b"x" * (1 << 20) + b"</p>"
    for _ in range(50):
        await response.write(chunk)
    return response


async def _slow_article(request):
    await asyncio.sleep(0.3)  # long enough for concurrent requests to overlap
    return web.Response(text=article_page("Slow but steady"), content_type="text/html")


@pytest.fixture
async def site():
    """A local site whose pages misbehave on purpose."""
    routes = {
        "/seed.html": page(SEED_PAGE.read_text(encoding="utf-8")),
        "/slow-article.html": _slow_article,
        "/missing": page("nope", status=404),
        "/stall": _stall,
        "/huge": _huge,
        "/binary": page(b"\x89PNG\r\n\x1a\n" + bytes(500), content_type="image/png"),
        "/loop": redirect("/loop2"),
        "/loop2": redirect("/loop"),
        "/to-metadata": redirect("http://169.254.169.254/latest/meta-data/"),
        "/empty": page("<html><head><title>Nothing</title></head><body><nav>Home</nav></body></html>"),
        "/tricky": page(article_page("&lt;b&gt;Tom &amp; Jerry&lt;/b&gt; &lt;script&gt; 🚀 news")),
    }
    async with serve_site(routes) as site:
        yield site


@pytest.fixture
async def bot(tmp_path):
    settings = Settings(
        fetch_allow_private=["127.0.0.0/8"], fetch_timeout=2, fetch_max_bytes=2_000_000,
        sqlite_path=tmp_path / "store.sqlite3", user_rate_limit=0,
    )
    store = await SQLiteStore.open(settings.sqlite_path)
    bot = make_summary_bot(settings, store)
    yield bot
    await bot.close()
    await store.close()


def message(text: str, kind: str = "private", chat_id: str = "c1", user_id: str = "u1", message_id: str = "m1", **kw) -> Incoming:
    return Incoming(chat=ChatRef("test", chat_id, kind=kind), text=text, user_id=user_id, message_id=message_id, **kw)


async def test_link_in_a_message_gets_a_digest_of_the_article(bot, site):
    [reply] = await bot.handle(message(f"look at this {site.base_url}/seed.html?utm_source=x"))
    digest = reply.digest
    assert reply.reply_to == "m1"
    assert digest.title == SEED_TITLE
    assert digest.source == "Northline News"
    assert len(digest.points) == 3
    text = " ".join(SEED_PAGE.read_text(encoding="utf-8").split())
    for point in digest.points:
        assert point in text  # extractive: sentences of the article itself
    assert digest.reading_minutes >= 2
    assert not digest.cached


async def test_second_request_is_served_from_cache_without_the_model(bot, site):
    first = (await bot.handle(message(f"{site.base_url}/seed.html")))[0].digest
    runs = bot.pipeline.model_runs
    again = (await bot.handle(message(f"{site.base_url}/seed.html#comments")))[0].digest
    assert again.cached and not first.cached
    assert again.points == first.points
    assert bot.pipeline.model_runs == runs
    assert site.hits["/seed.html"] == 1  # the article came from the cache too


async def test_concurrent_requests_for_one_url_do_the_work_once(bot, site):
    replies = await asyncio.gather(*(bot.handle(message(f"{site.base_url}/slow-article.html")) for _ in range(5)))
    assert all(r[0].digest and r[0].digest.title == "Slow but steady" for r in replies)
    assert site.hits["/slow-article.html"] == 1
    assert bot.pipeline.model_runs == 1


@pytest.mark.parametrize(
    "path, expected",
    [
        ("/missing", "not found"),
        ("/stall", "too long"),
        ("/huge", "too large"),
        ("/binary", "not a web page"),
        ("/loop", "redirects too many times"),
        ("/to-metadata", "not allowed"),
        ("/empty", "couldn't find an article"),
    ],
)
async def test_bad_pages_get_a_friendly_reply_and_change_nothing(bot, site, path, expected):
    await bot.store.hset("chat:test:c1", "autosummary", b"on")
    [reply] = await bot.handle(message(f"{site.base_url}{path}"))
    assert reply.digest is None
    assert expected in reply.error.lower()
    assert await bot.store.hgetall("chat:test:c1") == {"autosummary": b"on"}
    assert bot.pipeline.model_runs == 0


async def test_title_with_markup_and_emoji_is_kept_as_text(bot, site):
    [reply] = await bot.handle(message(f"{site.base_url}/tricky"))
    assert reply.digest.title == "<b>Tom & Jerry</b> <script> 🚀 news"


async def test_at_most_three_links_per_message(bot, site):
    links = " ".join(f"{site.base_url}/missing?n={i}" for i in range(5))
    assert len(await bot.handle(message(links))) == 3


async def test_pasted_text_is_summarized(bot):
    text = (SEEDS / "pasted-text.txt").read_text(encoding="utf-8")
    [reply] = await bot.handle(message(text))
    assert len(reply.digest.points) == 3
    assert reply.digest.url is None
    flat = " ".join(text.split())
    assert all(point in flat for point in reply.digest.points)


async def test_summary_command_forms(bot, site):
    [short] = await bot.handle(message(f"/summary short {site.base_url}/seed.html"))
    assert len(short.digest.points) == 1
    [replied] = await bot.handle(message("/summary", reply_to_text=f"see {site.base_url}/seed.html"))
    assert replied.digest.title == SEED_TITLE
    [usage] = await bot.handle(message("/summary"))
    assert "Usage" in usage.error
    [private] = await bot.handle(message(f"/summary private {site.base_url}/seed.html"))
    assert private.private and private.digest


async def test_groups_only_get_replies_to_links_and_commands(bot, site):
    assert await bot.handle(message("just chatting about things", kind="group")) == []
    assert await bot.handle(message("/othercommand@SomeOtherBot", kind="group")) == []
    bot.permissions.register("test", admin_is_u1)
    [off] = await bot.handle(message("/autosummary off", kind="group"))
    assert "won't" in off.text
    assert await bot.handle(message(f"{site.base_url}/seed.html", kind="group")) == []
    [direct] = await bot.handle(message(f"/summary {site.base_url}/seed.html", kind="group"))
    assert direct.digest


async def admin_is_u1(chat: ChatRef, user_id: str, message: Incoming) -> bool:
    return user_id == "u1"


async def test_autosummary_needs_an_admin_in_groups(bot):
    bot.permissions.register("test", admin_is_u1)
    [reply] = await bot.handle(message("/autosummary off", kind="group", user_id="u2"))
    assert "admins" in reply.error
    assert await bot.store.hget("chat:test:c1", "autosummary") is None
    [usage] = await bot.handle(message("/autosummary maybe", kind="group"))
    assert "Usage" in usage.error


async def test_unknown_command_in_private_chat(bot):
    [reply] = await bot.handle(message("/frobnicate now"))
    assert "/help" in reply.error


async def test_rate_limit_answers_politely(tmp_path, site, monkeypatch):
    import types

    import bot.handlers.summarizing

    monkeypatch.setattr(bot.handlers.summarizing, "time", types.SimpleNamespace(time=lambda: 1_700_000_010.0))  # one minute throughout
    settings = Settings(fetch_allow_private=["127.0.0.0/8"], sqlite_path=tmp_path / "s.sqlite3", user_rate_limit=2)
    store = await SQLiteStore.open(settings.sqlite_path)
    bot = make_summary_bot(settings, store)
    try:
        for number in range(2):
            assert (await bot.handle(message(f"{site.base_url}/seed.html", message_id=f"m{number}")))[0].digest
        [limited] = await bot.handle(message(f"{site.base_url}/seed.html", message_id="m2"))
        assert "wait a moment" in limited.error
        # Told once a minute: a burst of refused messages is not a burst of replies.
        assert [await bot.handle(message(f"{site.base_url}/seed.html", message_id=f"m{n}")) for n in (3, 4, 5)] == [[]] * 3
        # A message handled again (its job re-run) gets its first decision and is not counted again.
        assert (await bot.handle(message(f"{site.base_url}/seed.html", message_id="m0")))[0].digest
        assert await bot.handle(message(f"{site.base_url}/seed.html", message_id="m2")) == []
    finally:
        await bot.close()
        await store.close()


async def test_a_repeated_link_is_answered_from_its_json_summary_cache_entry(bot, site, monkeypatch):
    written: dict[str, bytes] = {}
    store_set = bot.store.set

    async def recording_set(key, value, **options):
        written[key] = value
        return await store_set(key, value, **options)

    monkeypatch.setattr(bot.store, "set", recording_set)
    first = (await bot.handle(message(f"{site.base_url}/seed.html")))[0].digest
    [key] = [k for k in written if k.startswith("summary:")]
    second = (await bot.handle(message(f"{site.base_url}/seed.html")))[0].digest
    assert not first.cached and second.cached
    assert Summary.from_json(json.loads(written[key])).points == first.points == second.points


async def test_a_page_of_megabytes_is_kept_and_shown_within_the_caps(bot):
    # A stranger's page: a title of 10,000 emoji and a text/plain body of one 1.9 MB line.
    # What is stored and what the core hands to any platform stays within bot/limits.py.
    from bot.extract import MAX_TEXT_CHARS
    from bot.limits import MAX_TITLE_CHARS
    from bot.pipeline import article_key

    title = "🚀" * 10_000
    html = ARTICLE_HTML.format(title=title, paragraphs="".join(
        f"<p>The council met on day {n} and agreed that the harbour would reopen after repairs.</p>" for n in range(40)
    ))  # fmt: skip
    plain = "Mr. Smith went to the harbour and Mr. Jones stayed home. " * 34_000
    routes = {"/title": page(html), "/plain": page(plain, content_type="text/plain; charset=utf-8")}
    async with serve_site(routes) as site:
        [titled] = await bot.handle(message(site.url("/title")))
        [long] = await bot.handle(message(site.url("/plain")))
    assert len(titled.digest.title) <= MAX_TITLE_CHARS and titled.digest.title.startswith("🚀")
    assert long.digest is not None and long.digest.points
    assert long.digest.reading_minutes >= 34_000 * 11 // 230 - 1  # counted on the whole text
    stored = json.loads(await bot.store.get(article_key(site.url("/plain"))))
    assert len(stored["text"]) <= MAX_TEXT_CHARS and len(stored["title"]) <= MAX_TITLE_CHARS
    assert len(json.loads(await bot.store.get(article_key(site.url("/title"))))["title"]) <= MAX_TITLE_CHARS
