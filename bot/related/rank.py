"""Merging the sources of related articles into one ranked list.

Topical relevance leads. The topical sources arrive ranked by themselves: the links the
page itself calls related, the scope's memory and the chat's feeds by similarity. They are
interleaved, one from each source in turn (page, memory, feeds), so that a reply of three
shows what the publisher links and what this chat has already read, rather than letting
one source fill every slot. After them come the page's navigation neighbours (its
Previous/Next articles, which say nothing about the topic and are labelled as such), then
the site's other stories the page lists. Duplicates (by canonical URL) keep their first,
better place; the article itself never appears.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import zip_longest

from bot.links import canonicalize
from bot.models import RelatedLink


def merge_related(sources: Sequence[Sequence[RelatedLink]], exclude: Iterable[str] = ()) -> list[RelatedLink]:
    """All links of `sources` interleaved round-robin in the given source order, without
    duplicates or any URL in `exclude`."""
    seen = {_identity(url) for url in exclude if url}
    merged: list[RelatedLink] = []
    for round_ in zip_longest(*sources):
        for link in round_:
            if link is None:
                continue
            identity = _identity(link.url)
            if identity not in seen:
                seen.add(identity)
                merged.append(link)
    return merged


def rank_related(
    page_links: Sequence[RelatedLink],
    remembered: Sequence[RelatedLink] = (),
    from_feeds: Sequence[RelatedLink] = (),
    exclude: Iterable[str] = (),
) -> list[RelatedLink]:
    """Topical links first (the page's "related" ones, memory, feeds: interleaved), then
    the page's previous/next neighbours, then its other ("more") stories; see the notes."""
    page_related = [link for link in page_links if link.kind == "related"]
    neighbours = [link for link in page_links if link.kind in ("previous", "next")]
    others = [link for link in page_links if link.kind not in ("related", "previous", "next")]
    topical = merge_related([page_related, list(remembered), list(from_feeds)], exclude=exclude)
    return merge_related([[*topical, *neighbours, *others]], exclude=exclude)


def _identity(url: str) -> str:
    try:
        return canonicalize(url)
    except ValueError:
        return url
