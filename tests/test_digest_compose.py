"""What goes into a digest: shared articles from the history (on both store backends),
one entry per story (canonical URL, then the real sentence encoder), ranked, grouped."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import redis

from bot.digest.feeds import FeedItem, FeedState, feed_state_key
from bot.digest.service import DigestService
from bot.fetch import Fetcher
from bot.links import canonicalize
from bot.models import Digest
from bot.store import keys
from digest_support import GROUP, FakeClock, digest_settings, utc
from model_support import shared_extractor, shared_inference

UTC = ZoneInfo("UTC")

SWAP = ("Russia and the US pursue private prisoner-exchange talks amid G20 discussions",
        "Russian Deputy Foreign Minister Sergei Ryabkov stated that Moscow and Washington intend to keep prisoner exchange talks private.")  # fmt: skip
SWAP_RETOLD = ("Russia and United States hold secret talks on a prisoner swap at the G20",
               "Moscow and Washington will keep their talks on exchanging prisoners out of the public eye, a Russian deputy foreign minister said.")  # fmt: skip
CARS = [
    ("Chinese Brands Widen Their Lead in Russia’s New-Car Market",
     "Chinese carmakers strengthened their position in Russia’s new-car market in February, accounting for most sales."),
    ("Moskvich February 2023 Sales: 57 Cars Shipped in Russia",
     "The revived Moskvich brand delivered 57 cars to customers in Russia in February, according to registration data."),
    ("Lada sales in Russia fall as car buyers turn to imports",
     "AvtoVAZ reported lower Lada deliveries in Russia's car market as buyers chose imported Chinese models."),
]  # fmt: skip
SMART_HOME = [
    ("Google Nest Hub update adds Matter smart home controls",
     "Google's Nest Hub smart display now controls Matter smart home devices from a redesigned panel."),
    ("Apple HomePod with touchscreen rumored for smart home",
     "Apple is working on a smart home device with a seven-inch touchscreen, according to reports."),
    ("Amazon Echo Show gets new smart home dashboard",
     "Amazon's Echo Show smart display adds a dashboard for controlling smart home lights and locks."),
]  # fmt: skip
OTHERS = [
    ("City council approves new bicycle lanes downtown",
     "The council voted to add protected bicycle lanes on three downtown streets next spring."),
    ("Recipe: a simple sourdough bread for beginners",
     "Mix flour, water and starter, let the dough rise overnight and bake it in a hot oven."),
]  # fmt: skip



class CountingInference:
    """The session's inference service, recording every text it is asked to embed."""

    def __init__(self, inner):
        self.inner = inner
        self.encoder_identity = inner.encoder_identity
        self.summarizer_identity = inner.summarizer_identity
        self.embedded: list[str] = []

    async def embed(self, texts):
        self.embedded.extend(texts)
        return await self.inner.embed(texts)

    async def summarize(self, text, *, title, length):
        return await self.inner.summarize(text, title=title, length=length)


def article(url: str, title: str, lead: str) -> Digest:
    return Digest(title=title, points=[lead, "A second point with more detail."], source="Example News", url=url)


def service(store, tmp_path, clock, **settings) -> DigestService:
    settings = digest_settings(tmp_path, **settings)
    return DigestService(settings, store, Fetcher(settings), shared_extractor(), CountingInference(shared_inference()), clock)


async def share(digests: DigestService, *items: Digest) -> None:
    digests.clock.advance(minutes=5)
    await digests.history.record(GROUP, list(items), digests.clock())


async def compose_now(digests: DigestService, since_hours: float = 24):
    now = digests.clock()
    return await digests.composer.compose(GROUP, now - timedelta(hours=since_hours), now, UTC)


async def test_the_same_story_under_two_urls_counts_once_and_distinct_stories_stay(store, tmp_path):
    digests = service(store, tmp_path, FakeClock(utc(2024, 5, 6, 9)))
    await share(digests, article("https://northline.example/news/swap.html", *SWAP))
    await share(digests, article("https://other.example/world/2024/prisoner-talks", *SWAP_RETOLD))
    await share(digests, article("https://northline.example/news/chinese-brands.html", *CARS[0]))
    await share(digests, article("https://northline.example/news/moskvich.html", *CARS[1]))

    pending = await compose_now(digests)
    assert [(entry.title, entry.shares) for entry in pending.daily.entries] == [
        (SWAP_RETOLD[0], 2), (CARS[1][0], 1), (CARS[0][0], 1)  # most shared first, then the newest
    ]  # fmt: skip
    assert all(entry.group is None for entry in pending.daily.entries)  # few entries: no groups


async def test_tracking_parameters_do_not_make_a_second_story(store, tmp_path):
    digests = service(store, tmp_path, FakeClock(utc(2024, 5, 6, 9)))
    await share(digests, article("https://northline.example/a.html?utm_source=x", *CARS[0]))
    await share(digests, article("https://northline.example/a.html?fbclid=1&utm_medium=y", *CARS[0]))
    (entry,) = (await compose_now(digests)).daily.entries
    assert entry.shares == 2 and entry.summary.startswith("Chinese carmakers")


async def test_a_repeat_share_reuses_the_stored_vector(store, tmp_path):
    """A link shared again (a cache hit for the summary) costs no model work here either."""
    digests = service(store, tmp_path, FakeClock(utc(2024, 5, 6, 9)))
    embedded = digests.history.vectors.inference.embedded
    await share(digests, article("https://northline.example/a.html", *CARS[0]))
    await share(digests, article("https://northline.example/a.html?utm_source=x", *CARS[0]))
    await share(digests, article("https://northline.example/b.html", *CARS[1]))
    assert len(embedded) == 2
    assert [e.shares for e in (await compose_now(digests)).daily.entries] == [2, 1]


async def test_many_stories_are_grouped_by_topic(store, tmp_path):
    digests = service(store, tmp_path, FakeClock(utc(2024, 5, 6, 9)))
    for number, (title, lead) in enumerate(CARS + SMART_HOME + OTHERS):
        await share(digests, article(f"https://example.org/{number}", title, lead))

    entries = (await compose_now(digests)).daily.entries
    assert len(entries) == 8
    groups: dict[str | None, set[str]] = {}
    for entry in entries:
        groups.setdefault(entry.group, set()).add(entry.title)
    assert sorted(map(sorted, groups.values())) == sorted(
        [sorted(t for t, _ in CARS), sorted(t for t, _ in SMART_HOME), sorted(t for t, _ in OTHERS)]
    )
    assert groups[None] == {t for t, _ in OTHERS}  # unrelated stories stay ungrouped
    labels = [entry.group for entry in entries]
    assert all(labels.index(label) + len(groups[label]) - 1 == max(i for i, x in enumerate(labels) if x == label)
               for label in groups if label)  # a group's entries are next to each other  # fmt: skip
    assert {label for label in groups if label} == {"Russia, Car, Sales", "Smart, Home"}


async def test_only_the_period_counts(store, tmp_path):
    digests = service(store, tmp_path, FakeClock(utc(2024, 5, 6, 9)))
    await share(digests, article("https://example.org/old", *CARS[0]))
    digests.clock.advance(hours=3)
    await share(digests, article("https://example.org/new", *CARS[1]))
    (entry,) = (await compose_now(digests, since_hours=2)).daily.entries
    assert entry.title == CARS[1][0]


async def test_a_feed_item_that_was_also_shared_is_one_entry(store, tmp_path):
    clock = FakeClock(utc(2024, 5, 6, 9))
    digests = service(store, tmp_path, clock)
    url = "https://northline.example/news/moskvich.html"
    item = FeedItem(item_id="item-1", url=url, title=CARS[1][0], summary=CARS[1][1], source="Northline", published=None)
    feed = FeedState(url="https://northline.example/feed.xml", title="Northline", fetched_at=clock().timestamp(), items=[item])
    await store.set(feed_state_key(canonicalize(feed.url)), feed.to_json())
    await store.hset(keys.digest_feeds(GROUP.key), canonicalize(feed.url), b'{"url": "https://northline.example/feed.xml", "title": "Northline"}')
    await share(digests, article(url + "?utm_source=feed", *CARS[1]))

    pending = await compose_now(digests)
    (entry,) = pending.daily.entries
    assert (entry.title, entry.shares) == (CARS[1][0], 1)
    assert pending.feed_item_ids == ["item-1"]


async def test_nothing_new_composes_nothing_unless_empty_digests_are_wanted(store, tmp_path):
    clock = FakeClock(utc(2024, 5, 6, 9))
    assert await compose_now(service(store, tmp_path, clock)) is None
    empty = await compose_now(service(store, tmp_path, clock, digest_send_empty=True))
    assert empty.daily.entries == [] and empty.daily.period.startswith("Nothing new was shared here")


async def test_history_is_kept_for_history_days_then_expires(store, tmp_path, redis_url):
    clock = FakeClock(utc(2024, 5, 1, 9))
    digests = service(store, tmp_path, clock, history_days=7)
    await share(digests, article("https://example.org/old", *CARS[0]))
    clock.advance(days=8)
    await share(digests, article("https://example.org/new", *CARS[1]))

    everything = await digests.history.shared_between(GROUP, utc(2000, 1, 1), clock())
    assert [shared.title for shared in everything] == [CARS[1][0]]
    assert await store.zcard(keys.digest_shares(GROUP.key)) == 1
    if type(store).__name__ == "RedisStore":  # every history key expires on its own, too
        with redis.Redis.from_url(redis_url) as admin:
            stored = admin.keys("digest:*")
            assert stored and all(0 < admin.ttl(key) <= 7 * 86400 for key in stored)
