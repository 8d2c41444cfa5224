"""Related articles: links pages declare, articles a chat's scope has already seen, the
chat's feeds; merged into at most three per digest. Real pipeline, real model, both store
backends where the store matters."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from adapters.cli import main as cli_main
from bot.config import Settings
from bot.core import SummaryBot
from bot.models import ChatRef, Incoming, RelatedLink
from bot.related.finder import memory_scope
from bot.related.memory import ROW_OVERHEAD, ROW_TEXT, TRIM_EVERY, VIEW_OVERHEAD, RelatedMemory, ScopeView
from bot.related.page_links import clean_title, find_page_related
from bot.related.rank import merge_related
from tests.local_site import page, serve_site
from model_support import make_summary_bot

SEED_PAGE = Path(__file__).resolve().parents[1] / "seeds" / "news" / "russia-us-prisoner-exchange-talks-g20.html"
BASE = "https://news.example.com/world/2023/03/03/prisoner-talks-continue"


def links(html: str, base: str = BASE, **kw) -> list[tuple[str, str]]:
    return [(link.title, link.url) for link in find_page_related(html, base, **kw)]


def doc(body: str, head: str = "") -> str:
    return f"<html><head><title>Prisoner talks continue</title>{head}</head><body>{body}</body></html>"


# -- links the page declares ---------------------------------------------------------------------
def test_rel_prev_and_next_with_titles_from_the_link_text():
    html = doc(
        '<nav class="post-navigation"><div class="nav-previous"><span class="label">Previous Article</span>'
        '<a rel="prev" href="/world/2023/03/02/sanctions-widen">Sanctions widen</a></div>'
        '<div class="nav-next"><a rel="next" href="/world/2023/03/04/summit-ends">'
        '<span>Next Article</span> <span>Summit ends without a deal</span> →</a></div></nav>',
        head='<link rel="prev" href="/world/2023/03/02/sanctions-widen">',
    )
    assert links(html) == [
        ("Sanctions widen", "https://news.example.com/world/2023/03/02/sanctions-widen"),
        ("Summit ends without a deal", "https://news.example.com/world/2023/03/04/summit-ends"),
    ]


def test_a_head_link_without_text_keeps_an_empty_title_for_the_cache_to_fill():
    html = doc("<p>Nothing else</p>", head='<link rel="next" href="/world/2023/03/04/summit-ends">')
    assert links(html) == [("", "https://news.example.com/world/2023/03/04/summit-ends")]


def test_related_sections_by_heading_class_and_aria_label_rank_before_neighbours_and_more():
    html = doc(
        '<aside aria-label="More stories"><a href="/business/2023/03/01/markets-rally">Markets rally on jobs data</a></aside>'
        '<a rel="next" href="/world/2023/03/04/summit-ends">Summit ends without a deal</a>'
        '<section><header><h2>Related articles</h2></header>'
        '<ul><li><a href="/world/2023/02/10/earlier-swap-talks">Earlier swap talks stalled</a></li></ul></section>'
        '<div class="relatedPosts"><a href="/world/2022/12/08/basketball-star-freed">Basketball star freed in swap</a></div>'
    )
    assert [title for title, _ in links(html)] == [
        "Earlier swap talks stalled",
        "Basketball star freed in swap",
        "Summit ends without a deal",
        "Markets rally on jobs data",
    ]


def test_inline_read_more_line_in_the_body():
    html = doc(
        "<article><p>Talks went on.</p><p><strong>Read more:</strong> "
        '<a href="/world/2023/01/20/who-is-in-prison">Who is held, and why</a></p>'
        '<p>An <a href="/world/2023/01/05/unrelated-inline-story">inline link</a> in prose is not declared.</p></article>'
    )
    assert links(html) == [("Who is held, and why", "https://news.example.com/world/2023/01/20/who-is-in-prison")]


def test_json_ld_related_and_other_articles_but_not_the_page_itself():
    ld = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "mainEntityOfPage": {"@type": "WebPage", "@id": BASE},
        "url": BASE,
        "relatedLink": ["https://news.example.com/world/2023/02/01/background-explainer"],
        "hasPart": {"@type": "NewsArticle", "headline": "Part two: the families",
                    "url": "https://news.example.com/world/2023/03/03/part-two-families"},
        "mentions": [{"@type": "NewsArticle", "headline": "The 2022 exchange",
                      "url": "https://news.example.com/world/2022/12/08/the-2022-exchange"}],
    }
    html = doc("<p>Body</p>", head=f'<script type="application/ld+json">{json.dumps(ld)}</script>')
    assert links(html) == [
        ("", "https://news.example.com/world/2023/02/01/background-explainer"),
        ("Part two: the families", "https://news.example.com/world/2023/03/03/part-two-families"),
        ("The 2022 exchange", "https://news.example.com/world/2022/12/08/the-2022-exchange"),
    ]


def test_furniture_off_site_and_self_links_are_dropped_even_inside_a_related_section():
    html = doc(
        '<nav class="menu"><a href="/world/2023/03/01/menu-story-not-declared">Menu story</a></nav>'
        '<section class="related-stories"><h2>Related</h2><ul>'
        '<li><a href="/world/2023/03/01/kept-story-about-talks">Kept story about talks</a></li>'
        '<li><a href="/tag/diplomacy/">Diplomacy</a></li>'
        '<li><a href="/author/helen-marsh/">Helen Marsh</a></li>'
        '<li><a href="/category/world/">World</a></li>'
        '<li><a href="/login?next=/world/2023/03/03/prisoner-talks-continue">Log in to read more</a></li>'
        '<li><a href="/subscribe/offer-for-new-readers">Subscribe now</a></li>'
        '<li class="share"><a href="/world/2023/03/03/prisoner-talks-continue?share=twitter">Share</a></li>'
        '<li class="ad-slot"><a href="/promo/great-deals-this-week-only">Great deals</a></li>'
        '<li><a rel="sponsored" href="/world/2023/03/01/paid-placement-story">Paid placement</a></li>'
        '<li><a href="/world/page/2">Older posts</a></li>'
        '<li><a href="/world/rss.xml">Feed</a></li>'
        '<li><a href="mailto:desk@news.example.com">Email us</a></li>'
        '<li><a href="javascript:void(0)">Load more</a></li>'
        '<li><a href="/world/">World section</a></li>'
        '<li><a href="https://other.example.org/world/2023/03/02/rival-coverage-story">Rival coverage</a></li>'
        f'<li><a href="{BASE}#comments">This story</a></li>'
        '<li><a href="/world/2023/03/03/prisoner-talks-continue/?utm_source=related">This story again</a></li>'
        "</ul></section>"
        '<div class="tags"><a rel="tag" href="/world/2023/03/01/tagged-story-page">Tagged</a></div>'
    )
    assert links(html) == [("Kept story about talks", "https://news.example.com/world/2023/03/01/kept-story-about-talks")]


def test_subdomains_of_the_site_count_as_the_same_site_and_relative_links_use_the_base():
    html = doc(
        '<div class="related"><a href="https://www.news.example.com/world/2023/03/01/www-story">On www</a>'
        '<a href="../02/sibling-story-here">Sibling</a></div>'
    )
    assert links(html) == [
        ("On www", "https://www.news.example.com/world/2023/03/01/www-story"),
        ("Sibling", "https://news.example.com/world/2023/03/02/sibling-story-here"),
    ]


def test_the_fetched_url_is_the_page_itself_too():
    fetched = "https://news.example.com/story?id=123456"
    html = doc(f'<div class="related"><a href="{fetched}">Me again</a></div>')
    assert links(html, page_urls=[fetched]) == []


def test_an_empty_related_container_does_not_claim_the_content_after_it():
    html = doc(
        '<div class="related-articles-block"></div>'
        '<p>Prose with a <a href="/world/2023/03/01/story-in-the-prose">link</a> in it and a lot more words.</p>'
    )
    assert links(html) == []


@pytest.mark.parametrize(
    "raw, title",
    [
        ("  Previous Article\n  Sanctions   widen ", "Sanctions widen"),
        ("Next: Summit ends", "Summit ends"),
        ("Next Generation Wireless Is Here", "Next Generation Wireless Is Here"),
        ("Canada beats U.S. at Davis Cup 15 hours ago", "Canada beats U.S. at Davis Cup"),
        ("Read more", ""),
        ("« Older posts", ""),
        ("Ferry plan approved  » ›", "Ferry plan approved"),
        (">" * 100_000 + " a title after a hundred thousand arrows", ""),  # only the first 2,000 characters are read
    ],
    ids=lambda value: value[:40],
)
def test_titles_are_cleaned_of_labels(raw, title):
    assert clean_title(raw) == title


def test_broken_or_empty_pages_give_no_links():
    assert links("") == []
    assert links("<?xml version='1.0' encoding='utf-8'?><html><body><p>x</p></body></html>") == []
    assert find_page_related("<p>x</p>", "file:///tmp/page.html") == []


# -- merging ------------------------------------------------------------------------------------
def test_sources_are_interleaved_deduplicated_and_never_the_article_itself():
    page_links = [RelatedLink("Prev", "https://a.example/p"), RelatedLink("Next", "https://a.example/n")]
    memory = [RelatedLink("Prev again", "https://a.example/p?utm_source=x"), RelatedLink("Seen", "https://b.example/s")]
    feeds = [RelatedLink("Self", "https://a.example/me"), RelatedLink("Feed", "https://c.example/f")]
    merged = merge_related([page_links, memory, feeds], exclude=["https://a.example/me#top"])
    assert [link.title for link in merged] == ["Prev", "Next", "Seen", "Feed"]


# -- the seed page through the command line -----------------------------------------------------
def test_summarize_seed_page_lists_its_previous_and_next_articles(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SUMMARY_BOT_SQLITE_PATH", str(tmp_path / "store.sqlite3"))
    assert cli_main(["summarize", str(SEED_PAGE), "--format", "json"]) == 0
    related = json.loads(capsys.readouterr().out)["related"]
    assert len(related) <= 3
    assert {"title": "Apple HomePod 7-inch Touchscreen Rumors and Smart Home Strategy", "kind": "previous",
            "url": "https://northline.example/news/apple-homepod-7-inch-touchscreen-rumors.html"} in related
    assert {"title": "Moskvich February 2023 Sales: 57 Cars Shipped in Russia, Mix of Gasoline and Electric Models",
            "url": "https://northline.example/news/moskvich-february-2023-sales.html", "kind": "next"} in related


# -- what a chat has seen -----------------------------------------------------------------------
BEES = {
    "/bees/winter-losses": ("Beekeepers report heavy winter losses in honeybee colonies", [
        "Beekeepers across the region lost nearly half of their honeybee colonies over the winter, according to a survey of hive owners.",
        "Many blamed the varroa mite, a parasite that weakens bees and spreads viruses through the hive.",
        "Commercial beekeepers said they would split surviving colonies and buy new queens to rebuild before the almond pollination season.",
        "Researchers at the state university urged hobbyists to test their hives for mites every month."]),
    "/bees/warm-autumns": ("Varroa mites spread faster in warm autumns, bee researchers find", [
        "A study of honeybee hives found that varroa mite populations grow faster when autumn stays warm.",
        "Colonies keep raising brood longer in warm weather, and the mites breed inside the capped brood cells.",
        "The researchers recommend that beekeepers treat their hives for mites earlier in the season.",
        "Untreated colonies in the study were far more likely to collapse before spring."]),
    "/bees/rooftop-apiaries": ("City rooftop apiaries help urban honeybees thrive", [
        "Rooftop beehives on office buildings are producing honey and helping urban pollinators, beekeepers say.",
        "The city now counts more than two hundred registered apiaries, most of them kept by volunteers.",
        "Urban honeybees forage on street trees, parks and balcony flowers, and their colonies often survive the winter better than rural ones.",
        "Beekeeping courses at the community garden are fully booked for the year."]),
}
CHESS = {
    "/chess/national-champion": ("Teenager wins national chess championship after tense final round", [
        "A seventeen-year-old won the national chess championship on Sunday after drawing her final game with the defending champion.",
        "She finished half a point ahead of three grandmasters in the eleven-round tournament.",
        "Her sharp opening preparation in the Sicilian Defence surprised several older opponents.",
        "The title earns her a place in next year's world championship qualifiers."]),
    "/chess/club-membership": ("Chess clubs see record membership as online players move to the board", [
        "Local chess clubs report record membership as people who learned the game online come to play over the board.",
        "Club organisers say blitz tournaments and beginner evenings are especially popular.",
        "Many new members are adults who started playing during lockdowns and now want to meet opponents in person.",
        "The national chess federation has issued more tournament ratings this year than ever before."]),
}
NEW_BEES = {
    "/bees/new-treatment": ("New treatment protects honeybee hives from varroa mites", [
        "Beekeepers testing a new treatment against varroa mites lost far fewer honeybee colonies this winter.",
        "The treatment, made from a natural acid, is applied to the hive in late summer when the mites are most numerous.",
        "Bee researchers say healthy colonies going into winter are the best defence against colony collapse.",
        "The product still needs approval before beekeepers can buy it."]),
}


def article_html(title: str, paragraphs: list[str]) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>{body}</article></body></html>"


@pytest.fixture
async def topic_site():
    routes = {path: page(article_html(*content)) for path, content in {**BEES, **CHESS, **NEW_BEES}.items()}
    async with serve_site(routes) as site:
        yield site


def make_bot(store, tmp_path, **settings) -> SummaryBot:
    options = dict(fetch_allow_private=["127.0.0.0/8"], sqlite_path=tmp_path / "unused.sqlite3", user_rate_limit=0)
    return make_summary_bot(Settings(**{**options, **settings}), store)


def shared(chat: ChatRef, text: str) -> Incoming:
    return Incoming(chat=chat, text=text, user_id="u1", message_id="m1", addressed_to_bot=True)


async def share(bot: SummaryBot, chat: ChatRef, site, path: str):
    [reply] = await bot.handle(shared(chat, site.url(path)))
    assert reply.digest is not None, reply.error
    return reply.digest


async def test_a_chat_is_shown_what_it_has_seen_on_the_same_topic_and_no_other_chat_is(store, topic_site, tmp_path):
    bot = make_bot(store, tmp_path)
    first, second = ChatRef("test", "chat-1", kind="group"), ChatRef("test", "chat-2", kind="group")
    try:
        for path in [*BEES, *CHESS]:
            await share(bot, first, topic_site, path)
        digest = await share(bot, first, topic_site, "/bees/new-treatment")
        assert {link.url for link in digest.related} == {topic_site.url(path) for path in BEES}
        assert {link.title for link in digest.related} == {title for title, _ in BEES.values()}

        other = await share(bot, second, topic_site, "/bees/new-treatment")
        assert other.related == []
        # ...and what the second chat shares stays out of the first chat's memory.
        assert len(await bot.pipeline.related.memory.view(first.scope)) == 6
        assert len(await bot.pipeline.related.memory.view(second.scope)) == 1
    finally:
        await bot.close()


async def test_a_repeated_share_reuses_the_stored_vector_and_pasted_text_is_searched_not_remembered(
    store, topic_site, tmp_path
):
    bot = make_bot(store, tmp_path)
    chat = ChatRef("test", "chat-1")
    vectors, memory = bot.pipeline.related.vectors, bot.pipeline.related.memory
    try:
        for path in BEES:
            await share(bot, chat, topic_site, path)
        computed = vectors.computed
        again = await share(bot, chat, topic_site, "/bees/winter-losses")
        assert again.cached and vectors.computed == computed  # nothing embedded again
        assert topic_site.url("/bees/winter-losses") not in {link.url for link in again.related}

        title, paragraphs = NEW_BEES["/bees/new-treatment"]
        [reply] = await bot.handle(shared(chat, " ".join(paragraphs)))
        assert {link.url for link in reply.digest.related} <= {topic_site.url(path) for path in BEES}
        assert reply.digest.related
        assert len(await memory.view(chat.scope)) == len(BEES)  # pasted text has no link to offer
    finally:
        await bot.close()


async def test_workspace_scope_is_shared_by_its_chats_and_chat_scope_is_not(store, topic_site, tmp_path):
    one = ChatRef("slack", "C1", scope_id="T1", kind="channel")
    two = ChatRef("slack", "C2", scope_id="T1", kind="channel")
    elsewhere = ChatRef("slack", "C3", scope_id="T2", kind="channel")
    assert memory_scope(one, "workspace") == memory_scope(two, "workspace") != memory_scope(elsewhere, "workspace")
    assert memory_scope(one, "chat") != memory_scope(two, "chat")
    assert memory_scope(one, "global") == memory_scope(elsewhere, "global")
    direct_message = ChatRef("slack", "D1", scope_id="T1", kind="private")
    assert memory_scope(direct_message, "workspace") not in (memory_scope(one, "workspace"), memory_scope(two, "workspace"))
    assert Settings().related_scope == "workspace"  # the default: nothing crosses a workspace

    bot = make_bot(store, tmp_path)
    try:
        await share(bot, one, topic_site, "/bees/winter-losses")
        assert [link.url for link in (await share(bot, two, topic_site, "/bees/new-treatment")).related] == [
            topic_site.url("/bees/winter-losses")
        ]
        assert (await share(bot, elsewhere, topic_site, "/bees/new-treatment")).related == []
    finally:
        await bot.close()


async def test_an_untitled_page_link_takes_the_title_of_the_cached_article_or_is_left_out(store, tmp_path):
    neighbour = article_html(*BEES["/bees/warm-autumns"])
    title, paragraphs = BEES["/bees/winter-losses"]
    linking = article_html(title, paragraphs).replace(
        "</head>", '<link rel="next" href="/bees/warm-autumns-mites-study"></head>'
    )
    routes = {"/bees/winter-losses-survey": page(linking), "/bees/warm-autumns-mites-study": page(neighbour)}
    async with serve_site(routes) as site:
        bot = make_bot(store, tmp_path)
        try:
            digest = await bot.pipeline.digest_link(site.url("/bees/winter-losses-survey"))
            assert digest.related == []  # no title known: left out rather than shown bare
            await bot.pipeline.digest_link(site.url("/bees/warm-autumns-mites-study"))
            [link] = (await bot.pipeline.digest_link(site.url("/bees/winter-losses-survey"))).related
            assert link == RelatedLink(BEES["/bees/warm-autumns"][0], site.url("/bees/warm-autumns-mites-study"), "next")
        finally:
            await bot.close()


FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>Garden news</title><link>{base}/</link>
<item><title>Chess federation changes rating rules</title><link>{base}/feed/chess-ratings</link><guid>1</guid></item>
<item><title>Beekeepers warn of varroa mites in honeybee hives</title><link>{base}/feed/bee-mites</link><guid>2</guid></item>
</channel></rss>"""


async def test_items_of_the_chats_feeds_on_the_same_topic_are_related(store, topic_site, tmp_path):
    topic_site.routes["/feed.xml"] = page(FEED.format(base=topic_site.base_url), content_type="application/rss+xml")
    bot = make_bot(store, tmp_path)
    chat = ChatRef("test", "chat-1")
    try:
        [added] = await bot.handle(shared(chat, f"/feeds add {topic_site.url('/feed.xml')}"))
        assert added.error is None, added.error
        digest = await share(bot, chat, topic_site, "/bees/new-treatment")
        assert [link.url for link in digest.related] == [topic_site.url("/feed/bee-mites")]
        other = await share(bot, ChatRef("test", "chat-2"), topic_site, "/bees/new-treatment")
        assert other.related == []
    finally:
        await bot.close()


# -- the memory's store and cache ---------------------------------------------------------------
def unit(seed: int, n: int = 1, dim: int = 8) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


async def test_another_process_sees_additions_and_the_cap_incrementally(store):
    writer, reader = RelatedMemory(store, max_per_scope=5), RelatedMemory(store, max_per_scope=5)
    vectors = unit(1, TRIM_EVERY)
    await writer.remember("s", "https://x.example/a-0", "A 0", vectors[0])
    assert [hit.link.title for hit in await reader.search("s", vectors[0], limit=3, threshold=0.9)] == ["A 0"]
    view = await reader.view("s")
    for i in range(1, TRIM_EVERY - 1):  # the cap is enforced every TRIM_EVERY rememberings
        await writer.remember("s", f"https://x.example/a-{i}", f"A {i}", vectors[i])
    assert (await reader.view("s")) is view and len(view) == TRIM_EVERY - 1  # updated in place
    last = TRIM_EVERY - 1
    await writer.remember("s", f"https://x.example/a-{last}", f"A {last}", vectors[last])
    assert await store.zcard("related:s:recent") == 5
    assert sorted((await reader.view("s")).keys) == sorted(f"https://x.example/a-{i}" for i in range(last - 4, last + 1))
    assert await reader.search("s", vectors[0], limit=3, threshold=0.9) == []  # trimmed: gone here too
    hit = (await reader.search("s", vectors[last], limit=1, threshold=0.0))[0]
    assert hit.link.title == f"A {last}" and hit.score == pytest.approx(1.0, abs=1e-3)


async def test_the_article_itself_is_never_its_own_relative_and_scopes_do_not_mix(store):
    memory = RelatedMemory(store)
    [a, b] = unit(2, 2)
    await memory.remember("one", "https://x.example/a?utm_source=feed", "A", a)
    await memory.remember("one", "https://x.example/b", "B", b)
    await memory.remember("one", "https://x.example/a", "A, retitled", a)  # the same article again
    view = await memory.view("one")
    assert len(view) == 2 and view.title_of("https://x.example/a") == "A, retitled"
    hits = await memory.search("one", a, limit=3, threshold=-1.0, exclude=["https://x.example/a#top"])
    assert [hit.link.title for hit in hits] == ["B"]
    assert await memory.search("two", a, limit=3, threshold=-1.0) == []


async def test_views_kept_in_process_are_bounded_by_bytes_across_scopes_least_recently_used_first(store):
    """Every private chat is a scope: many one-article scopes must neither each hold a block
    of rows nor add up past the byte budget."""
    dim = 384  # all-MiniLM-L6-v2
    one_row = dim * 4 + ROW_OVERHEAD + VIEW_OVERHEAD
    memory = RelatedMemory(store, cache_bytes=60 * one_row, max_views=1000)
    vectors = unit(3, 200, dim)
    for i, vector in enumerate(vectors):
        await memory.remember(f"chat-{i}", f"https://x.example/{i}", f"A {i}", vector)
        view = await memory.view(f"chat-{i}")
        assert view.nbytes == one_row  # one article, one row: no pre-allocated block
        if i == 10:
            await memory.view("chat-0")  # used again: the most recently used
    assert memory.cached_bytes <= 60 * one_row and memory.cached_scopes == 60
    assert memory.cached_bytes == sum(view.nbytes for view in memory._views.values())
    assert list(memory._views)[-1] == "chat-199" and "chat-1" not in memory._views
    # an evicted scope is read again from the store, whole
    hit = (await memory.search("chat-1", vectors[1], limit=1, threshold=0.9))[0]
    assert hit.link.url == "https://x.example/1"
    assert memory.cached_scopes == 60 and memory.refreshing_scopes == 0


async def test_the_number_of_views_and_of_refresh_locks_is_bounded(store):
    memory = RelatedMemory(store, max_views=5)
    [vector] = unit(4, 1)
    for i in range(20):
        await memory.remember(f"dm-{i}", "https://x.example/a", "A", vector)
    # many at once, some on the same scope, while its version moves
    await asyncio.gather(*(memory.view(f"dm-{i % 10}") for i in range(40)),
                         memory.remember("dm-3", "https://x.example/b", "B", vector))  # fmt: skip
    assert memory.cached_scopes <= 5
    assert memory.refreshing_scopes == 0  # no lock outlives its refresh
    assert len(await memory.view("dm-3")) == 2


async def test_a_private_summary_leaves_nothing_another_chat_could_be_shown(store, topic_site, tmp_path):
    # `/summary private <link>` in a public channel answers one person alone: the article
    # must not join the workspace's memory and turn up as "related" in another channel.
    one = ChatRef("slack", "C1", scope_id="T1", kind="group")
    two = ChatRef("slack", "C2", scope_id="T1", kind="group")
    bot = make_bot(store, tmp_path)
    try:
        [reply] = await bot.handle(shared(one, f"/summary private {topic_site.url('/bees/winter-losses')}"))
        assert reply.private and reply.digest is not None
        assert len(await bot.pipeline.related.memory.view(one.scope)) == 0
        assert (await share(bot, two, topic_site, "/bees/new-treatment")).related == []
    finally:
        await bot.close()


def test_a_remembered_article_with_a_long_link_counts_its_length_against_the_cache():
    view = ScopeView()
    view.upsert("https://a.example/1", np.ones(4, dtype=np.float32), RelatedLink("Short", "https://a.example/1"), 1)
    assert view.nbytes == 4 * 4 + ROW_OVERHEAD + VIEW_OVERHEAD
    long_url = "https://a.example/" + "x" * 2000
    view.upsert(long_url, np.ones(4, dtype=np.float32), RelatedLink("Long", long_url), 2)
    assert view.nbytes >= 2 * (4 * 4 + ROW_OVERHEAD) + VIEW_OVERHEAD + 2 * 2000 - ROW_TEXT
    view.drop_up_to(1.5)
    assert view.nbytes >= 4 * 4 + ROW_OVERHEAD + VIEW_OVERHEAD + 2 * 2000 - ROW_TEXT and len(view) == 1
