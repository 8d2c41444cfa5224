"""Related articles for one digest: what the page links to, what this chat's scope has
already had summarized, and what the chat's feeds carry, merged into at most three.

`RelatedFinder.find` is the one call the pipeline makes after summarizing. It embeds the
article (title and lead, cached in the store) only when there is a scope to search; it
remembers the article in that scope if it has a URL: pasted text is searched with but not
remembered, since there is nothing to link to and it may well be private (nor is its vector
written to the shared vector cache: it is embedded again if pasted again).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from bot.config import Settings
from bot.inference import InferenceService
from bot.models import ChatRef, RelatedLink
from bot.related.feeds import FeedSource
from bot.related.memory import RelatedMemory
from bot.related.rank import rank_related
from bot.related.vectors import ArticleVectors, embedding_text

MAX_RELATED = 3
# Cosine similarity of title+lead embeddings (all-MiniLM-L6-v2) at or above which a
# remembered article (or a feed item's title) counts as related. Tuned on the seed pages:
# same-topic pairs score 0.35 (smart home) and 0.51 (car market), cross-topic pairs at most
# 0.21; 0.30 keeps a margin on both sides. The third same-topic pair (arms control /
# prisoner talks) sits on the line: 0.28 when this was tuned, 0.307 with the int8 ONNX
# encoder and 0.326 with torch bfloat16 now (tests/test_related_backends.py). Over the 16,290
# pairs of the 181 benchmark pages, mostly unrelated, 1.8% score 0.28 or more and 1.4% score
# 0.30 or more, and by eye pairs between 0.30 and 0.35 share a broad topic about half the
# time, above 0.40 nearly always.
SIMILARITY_THRESHOLD = 0.30

TitleLookup = Callable[[str], Awaitable[str | None]]


def memory_scope(chat: ChatRef, setting: str) -> str:
    """Where a chat's articles are remembered and searched, per SUMMARY_BOT_RELATED_SCOPE:
    "chat" (each chat apart), "workspace" (chats of one Slack workspace / Telegram group
    together, as the adapter sets `ChatRef.scope`; the chat itself when it sets none), or
    "global" (every chat of the deployment). Private chats (DMs) and private groups (Slack
    private channels, group DMs) stay apart unless the deployment chose "global": what is
    read where only its members can see it must not surface in a public channel."""
    if setting == "global":
        return "global"
    if setting == "workspace" and chat.kind in ("group", "channel"):
        return chat.scope
    return chat.key  # "chat", a private chat or group, or a kind not known to be public


class RelatedFinder:
    """The page's links, the scope's memory and the chat's feeds for one article."""

    def __init__(
        self,
        settings: Settings,
        store,
        inference: InferenceService,
        *,
        title_lookup: TitleLookup | None = None,
    ):
        self.settings = settings
        self.memory = RelatedMemory(store, max_per_scope=settings.related_memory_size)
        self.vectors = ArticleVectors(store, inference, ttl=settings.summary_cache_ttl)
        self.feeds = FeedSource(store, self.vectors, threshold=SIMILARITY_THRESHOLD)
        self.title_lookup = title_lookup

    async def find(
        self,
        *,
        url: str,
        title: str,
        text: str,
        page_links: Sequence[RelatedLink],
        chat: ChatRef | None,
        remember: bool = True,
    ) -> list[RelatedLink]:
        """Up to MAX_RELATED titled links for the article at `url` ("" for pasted text);
        with a `chat`, the article (if it has a URL, and unless not to `remember` it: a
        private request) is remembered in the chat's scope."""
        remembered: list[RelatedLink] = []
        from_feeds: list[RelatedLink] = []
        view = None
        if chat is not None:
            scope = memory_scope(chat, self.settings.related_scope)
            view = await self.memory.view(scope)
            vector = view.vector_of(url) if url else None
            if vector is None and not url:  # pasted text: the chat's data, kept nowhere
                vector = (await self.vectors.inference.embed([embedding_text(title, text)]))[0]
            elif vector is None:
                vector = await self.vectors.vector_for(title, text)
            found = view.search(vector, limit=MAX_RELATED, threshold=SIMILARITY_THRESHOLD, exclude=[url] if url else [])
            remembered = [hit.link for hit in found]
            from_feeds = await self.feeds.related_for_chat(chat, vector, limit=MAX_RELATED)
            if remember and url and self.memory.needs_remembering(view, url):
                await self.memory.remember(scope, url, title, vector, contributor=chat.key)
            elif remember and url:  # known here already: shared again, by this chat too
                await self.memory.shared_again(scope, url, chat.key)
        candidates = rank_related(page_links, remembered, from_feeds, exclude=[url])
        return await self._titled(candidates, view)

    async def _titled(self, candidates: list[RelatedLink], view) -> list[RelatedLink]:
        """The first MAX_RELATED candidates that have a title or whose title is known (from
        this scope's memory or the article cache); the rest are left out."""
        chosen: list[RelatedLink] = []
        for link in candidates:
            title = link.title or (view.title_of(link.url) if view is not None else None)
            if not title and self.title_lookup is not None:
                title = await self.title_lookup(link.url)
            if title:
                chosen.append(RelatedLink(title, link.url, link.kind))
                if len(chosen) == MAX_RELATED:
                    break
        return chosen
