"""Merging the sources of related articles into one ranked list.

Each source arrives ranked by itself: the page's links in the order the page vouches for
them (related, then previous/next, then "more stories"), the scope's memory and the chat's
feeds by similarity. They are interleaved, one from each source in turn (page, memory,
feeds), so that a reply of three shows what the publisher links and what this chat has
already read, rather than letting one source fill every slot. Duplicates (by canonical
URL) keep their first, better place; the article itself never appears.
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


def _identity(url: str) -> str:
    try:
        return canonicalize(url)
    except ValueError:
        return url
