"""Links a page itself declares as its neighbours or relatives.

Publishers mark related stories in a few recognisable ways: `rel="prev"`/`"next"` links,
sections headed or classed "Related", "Previous/Next article", "Read more", "More stories",
"You may also like", short "Read more: <link>" lines inside the body, and JSON-LD
(`relatedLink`, `significantLink`, other `NewsArticle`s named on the page). Only those places
are read; every other link on the page (menus, tags, authors, share buttons, adverts) is
ignored, and each candidate must still look like an article page on the same site.

Results come in order of how strongly the page vouches for them: links it calls related
first, then its previous/next neighbours, then general "more stories" lists. Each link says
which it is (`RelatedLink.kind`: "related", "previous" or "next", "more"), so that ranking
can put topical links first and renderers can label the neighbours.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from urllib.parse import unquote, urljoin, urlsplit

import lxml.html
from lxml import etree

from bot.links import canonicalize
from bot.models import RelatedLink

MAX_LINKS = 8  # more than a reply shows, so that de-duplication downstream still leaves 3

# How strongly the page vouches for a link; lower sorts first.
RELATED, NEIGHBOUR, MORE = 0, 1, 2

# Section names, matched on class/id tokens, aria-labels and heading text alike.
_RELATED_NAMES = re.compile(
    r"\b(related\w*|see also|also read|read also|read more|further reading|more on this"
    r"|more about this|recommended reading)\b"
)
_NEIGHBOUR_NAMES = re.compile(
    r"\b(prev|previous|next) (article|post|story|entry)s?\b|\bpost nav(igation)?\b"
    r"|\b(nav|navigation) (previous|prev|next)\b|\bprev next\b|\bprevious next\b"
    r"|\bprevious and next\b"
)
_MORE_NAMES = re.compile(
    r"\b(more (stories|articles|news|from|in|on)|you (may|might) (also )?like"
    r"|recommended( for you| stories| articles)?|read next|up next|what to read next"
    r"|don ?t miss|editors? picks?)\b"
)
# Every section name above contains one of these: a cheap test before the full patterns.
_CUE = re.compile(r"relat|prev|next|more|read|also|recommend|like|miss|pick|nav", re.I)
# A container or link carrying one of these tokens is furniture, whatever else it says.
_FURNITURE_TOKENS = frozenset(
    "share sharing social sociallinks tag tags tagcloud topics author authors byline comment comments"
    " ad ads advert adverts advertisement advertising sponsor sponsored promoted promo outbrain taboola"
    " newsletter subscribe subscription login signin signup paywall breadcrumb breadcrumbs menu"
    " cookie cookies popular trending mostread".split()
)
_ADVERT_TOKENS = frozenset(
    "ad ads advert adverts advertisement advertising sponsor sponsored promoted outbrain taboola".split()
)
_ADVERT_LEVELS = 3
# Path segments of pages that are not articles.
_NON_ARTICLE_SEGMENTS = frozenset(
    "tag tags topic topics category categories section sections author authors profile profiles"
    " user users people contributor contributors login log-in signin sign-in signup sign-up"
    " register account accounts subscribe subscription subscriptions newsletter newsletters"
    " share print ads ad advert advertising sponsored feed feeds rss atom search page comments"
    " about about-us contact contact-us privacy privacy-policy terms terms-of-service cookies"
    " cookie-policy help faq jobs careers archive archives index wp-login.php wp-admin"
    " cart checkout shop store".split()
)
_NON_ARTICLE_SUFFIXES = (
    ".xml", ".rss", ".atom", ".json", ".jpg", ".jpeg", ".png", ".gif", ".webp", ".svg",
    ".pdf", ".css", ".js", ".mp3", ".mp4", ".zip",
)
_NON_ARTICLE_QUERY = re.compile(r"(^|&)(share|print|replytocom|action|output|format|filter|s|q)=", re.I)
_NUMBER = re.compile(r"^\d+$")
_DATE_IN_PATH = re.compile(r"/(19|20)\d\d/(0?[1-9]|1[0-2])(/|$)")
_LONG_NUMBER = re.compile(r"\d{4,}")
_SLUG_WORDS = re.compile(r"[a-z0-9]+")

_HEADING_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_LABEL_TAGS = _HEADING_TAGS | {"strong", "b", "span", "p", "div", "header", "em", "dt", "label"}
_HEADING_MAX_CHARS = 60
_SECTION_MAX_LINKS = 40  # a "section" with more links than this is a whole page region
_BROAD_TAGS = {"html", "body", "main"}
_MIN_LINK_DENSITY = 0.5

# Words that label a link rather than name it ("Previous Article", "Read more", "Also on
# example.com"), on their own (a separate element in the link) or before a title.
_LABEL = (
    r"(?:(?:previous|prev|next|older|newer)(?:\s+(?:article|post|story|entry|page))?"
    r"|read more|related(?:\s+(?:articles?|stories|posts?|content))?|see also|also read|read also"
    r"|also on \S+|read next|up next)"
)
_LABEL_CHUNK = re.compile(rf"^[«‹←<\s]*{_LABEL}[\s:»›→>|\-–—]*$", re.I)
# Before a title, a bare "Next"/"Previous" needs a separator ("Next: …", "Next » …"): a title
# may well begin with "Next" ("Next Generation Wireless…"); a two-word label needs none.
_LABEL_PREFIX = re.compile(
    r"^[«‹←<\s]*(?:(?:previous|prev|next|older|newer)\s+(?:article|post|story|entry)\b[\s:»›→>|\-–—]*"
    rf"|{_LABEL}\s*[:»›→>|\-–—]+\s*|also on \S+\s+)",
    re.I,
)
_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_TRAILING_DATE = re.compile(
    rf"\s+(?:\d{{1,2}}\s+{_MONTHS}\s+\d{{4}}|{_MONTHS}\s+\d{{1,2}},?\s+\d{{4}})\s*$", re.I
)
_RELATIVE_TIME = re.compile(
    r"\s*\b(?:\d+|an?|one)\s+(?:sec(?:ond)?|min(?:ute)?|hour|hr|day|week|month|year)s?\s+ago\s*$", re.I
)
MAX_LINK_TEXT = 2_000  # characters of a link's text looked at: a title is far shorter
_ARROWS_AND_SPACE = " \t\n»›→>"  # stripped off a title's end (a regex here backtracked: ">" * 100k took minutes)
_GENERIC_TITLES = re.compile(
    r"^(read more|continue reading|more|next|previous|prev|older|newer|click here|here|link"
    r"|comments?|\d+ comments?|view all|see all|see more|show more|[«‹←<]?\s*(older|newer) (posts|entries))\W*$",
    re.I,
)
_TITLE_MAX_CHARS = 150  # longer link text is a card's whole teaser, not its title
_INLINE_LABEL = re.compile(r"(read more|related|see also|also read|read also|more)\s*:\s*$", re.I)


def find_page_related(html: str, base_url: str, page_urls: Iterable[str] = ()) -> list[RelatedLink]:
    """Related article links declared by the page `html`, best first, at most MAX_LINKS.

    `base_url` is the page's own URL (its canonical one when that is on the site it was
    fetched from); relative links resolve against it. The page itself (`base_url` and any
    `page_urls`) is never returned. Titles may be empty where the page gives none.
    """
    tree = _parse(html)
    if tree is None:
        return []
    base_url = _base_href(tree, base_url)
    site = _registered_domain(base_url)
    if not site:
        return []
    own = {_same_page_key(u) for u in (base_url, *page_urls) if u}
    own_sections = _ancestor_paths(base_url)
    section = _article_section(tree)

    found: dict[str, tuple[int, int, RelatedLink]] = {}  # canonical -> (strength, order, link)
    for order, (strength, href, title, direction, kicker) in enumerate(_candidates(tree)):
        url = _article_url(href, base_url, site)
        if url is None or _same_page_key(url) in own or _path_key(url) in own_sections:
            continue
        key = canonicalize(url)
        title = clean_title(title)
        if key in found:
            old_strength, old_order, old = found[key]
            # Keep the strongest vouching and the first real title either occurrence gives.
            kind = old.kind if old_strength <= strength else _kind(strength, direction)
            if kind == "more" and strength == NEIGHBOUR:
                kind = _kind(strength, direction)
            better = RelatedLink(_better_title(old.title, title), old.url, kind)
            found[key] = (min(old_strength, strength), old_order, better)
        else:
            kind = _kind(strength, direction)
            if kind == "more" and section and _words(kicker) == section:
                kind = "related"  # a listed story of the article's own section: the same subject area
            found[key] = (strength, order, RelatedLink(title, url, kind))
    ranked = sorted(found.values(), key=lambda item: (item[0], item[1]))
    return [link for _, _, link in ranked[:MAX_LINKS]]


def clean_title(text: str) -> str:
    """A link's text as a title: whitespace collapsed, "Previous Article"-style labels,
    arrows and "3 hours ago" removed; empty if all that is left is a label ("Read more")."""
    title = " ".join((text or "")[:MAX_LINK_TEXT].split())
    title = _LABEL_PREFIX.sub("", title, count=1)
    title = _TRAILING_DATE.sub("", _RELATIVE_TIME.sub("", title))
    title = title.rstrip(_ARROWS_AND_SPACE).strip(" :|-–—")
    if not title or _GENERIC_TITLES.match(title) or _NUMBER.match(title):
        return ""
    return title


def _better_title(first: str, second: str) -> str:
    """Of two texts linking to the same page, the likelier headline: the longer one (a
    kicker or "Read more" is short), unless it is a whole teaser."""
    def rank(title: str) -> tuple[bool, int]:
        fits = len(title) <= _TITLE_MAX_CHARS
        return fits, len(title) if fits else -len(title)

    return max(first, second, key=rank)


# -- where links are declared --------------------------------------------------------------
def _kind(strength: int, direction: str | None) -> str:
    """RelatedLink.kind for a link of this strength; a neighbour whose direction is not
    known is one of the site's other stories."""
    if strength == RELATED:
        return "related"
    if strength == NEIGHBOUR and direction:
        return direction
    return "more"


_PREVIOUS_WORDS = re.compile(r"\b(prev|previous|older|zurück|vorheriger?|précédent|anterior|precedente)\b|«|‹|←")
_NEXT_WORDS = re.compile(r"\b(next|newer|nächster?|weiter|suivant|siguiente|successivo)\b|»|›|→")


def _direction(anchor, levels: int = 3) -> str | None:
    """"previous" or "next" for a navigation link: by its rel, else by the nearest of
    itself and its few ancestors whose names (class, id) or label text (outside links) say
    one of the two and not both; None when nothing says."""
    rel = set((anchor.get("rel") or "").lower().split())
    if rel & {"prev", "previous"}:
        return "previous"
    if "next" in rel:
        return "next"
    element = anchor
    for _ in range(levels + 1):
        if element is None or element.tag in _BROAD_TAGS:
            return None
        said = f"{_tokens(_furniture_names(element))} {_words(_text_outside_links(element))}"
        if element is anchor:
            said += " " + _words(anchor.text_content())
        previous, following = bool(_PREVIOUS_WORDS.search(said)), bool(_NEXT_WORDS.search(said))
        if previous != following:
            return "previous" if previous else "next"
        if previous and following:
            return None
        element = element.getparent()
    return None


def _candidates(tree) -> Iterator[tuple[int, str, str, str | None, str]]:
    """(strength, href, title text, "previous"/"next"/None, kicker) for every declared link,
    in document order per kind; the kicker is the section label a story list shows beside
    a link ("World" in `<li><span>World</span> <a>…</a></li>`), if any."""
    for link in tree.iter("link", "a"):
        rel = set((link.get("rel") or "").lower().split())
        if rel & {"prev", "previous", "next"} and link.get("href"):
            direction = "next" if "next" in rel else "previous"
            yield NEIGHBOUR, link.get("href"), _link_text(link) if link.tag == "a" else "", direction, ""
    yield from _from_sections(tree)
    for strength, href, title in (*_from_inline_labels(tree), *_from_json_ld(tree)):
        yield strength, href, title, None, ""


def _article_section(tree) -> str:
    """The section the article declares (`article:section`, or JSON-LD `articleSection`),
    as words; "" if none."""
    for meta in tree.iter("meta"):
        if (meta.get("property") or meta.get("name") or "").lower() == "article:section":
            return _words(meta.get("content") or "")
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() == "application/ld+json":
            try:
                data = json.loads(script.text or "")
            except ValueError:
                continue
            for node in _as_list(data):
                if isinstance(node, dict) and node.get("articleSection"):
                    value = _as_list(node["articleSection"])[0]
                    return _words(value) if isinstance(value, str) else ""
    return ""


def _kicker(anchor) -> str:
    """The short label beside a link in its list item or card (not the link's own text)."""
    item = anchor.getparent()
    if item is None or item.tag not in ("li", "article", "div", "p"):
        return ""
    label = _text_outside_links(item)
    return label if len(label) <= 40 else ""


def _from_sections(tree) -> Iterator[tuple[int, str, str, str | None]]:
    seen: set = set()
    for element in tree.iter(etree.Element):
        if element.tag in _BROAD_TAGS:
            continue
        marked = _section_strength(element)
        if marked is None:
            continue
        strength, is_container = marked
        if is_container:
            roots = [element] if _has_links(element) else []  # a container filled by script: nothing
        else:
            roots = _labelled_links(element)
        for root in roots:
            for anchor in _section_anchors(root):
                if anchor not in seen:
                    seen.add(anchor)
                    direction = _direction(anchor) if strength == NEIGHBOUR else None
                    yield strength, anchor.get("href"), _link_text(anchor), direction, _kicker(anchor)


def _section_strength(element) -> tuple[int, bool] | None:
    """(strength, whether `element` is the section itself) if it names a related-links
    section; None if it does not. What a reader sees (a heading, an aria-label) decides
    before class names do: `class="related more-stories"` headed "More stories" is MORE."""
    marked = None
    aria = element.get("aria-label") or ""
    if _CUE.search(aria) and (strength := _name_strength(_words(aria), anchored=True)) is not None:
        marked = strength, True
    if marked is None and element.tag in _LABEL_TAGS and len(element) <= 2:
        raw = element.text_content()
        if len(raw) <= 4 * _HEADING_MAX_CHARS and _CUE.search(raw):
            text = _words(raw)
            if 0 < len(text) <= _HEADING_MAX_CHARS and (strength := _name_strength(text, anchored=True)) is not None:
                marked = strength, False
    names = f"{element.get('class') or ''} {element.get('id') or ''}"
    if marked is None and _CUE.search(names):
        if (strength := _name_strength(_tokens(names), anchored=False)) is not None:
            marked = strength, True
    if marked is None or _FURNITURE_TOKENS & set(_furniture_names(element).split()) or _inside_advert(element):
        return None
    return marked


def _name_strength(text: str, *, anchored: bool) -> int | None:
    for strength, pattern in ((NEIGHBOUR, _NEIGHBOUR_NAMES), (RELATED, _RELATED_NAMES), (MORE, _MORE_NAMES)):
        match = pattern.search(text)
        if match and (not anchored or match.start() == 0):
            return strength
    return None


def _labelled_links(label) -> list:
    """Where the links named by a text label are. Beside it in a line ("<p>Related: <a>…</a>
    </p>"); after it for a heading, whose own link names a topic or section ("<h3>More on
    <a>Brexit</a></h3>"), not a story, and counts only when nothing follows."""
    beside = _has_links(label) and bool(_text_outside_links(label))
    if beside and label.tag not in _HEADING_TAGS:
        return [label]
    return _links_after(label) or ([label] if beside else [])


def _links_after(label) -> list:
    """The elements a heading-like `label` introduces: the run of link lists right after
    it (up to the next heading, or to prose); if there is none and the label is all its
    parent holds (`<header><h2>Related</h2></header>`), the same from the parent."""
    text = label.text_content().strip()
    for _ in range(3):
        if label is None or label.tag in _BROAD_TAGS:
            return []
        roots = []
        for sibling in label.itersiblings():
            if not isinstance(sibling.tag, str):
                continue
            if sibling.tag in _HEADING_TAGS:
                break
            has_text = bool(sibling.text_content().strip())
            if not _link_count(sibling):
                if has_text:
                    break
                continue
            if has_text and _link_density(sibling) < _MIN_LINK_DENSITY:
                break  # prose: the section has ended (or never started)
            roots.append(sibling)
        count = sum(_link_count(root) for root in roots)
        if count > _SECTION_MAX_LINKS:
            return []
        if count:
            return roots
        label = label.getparent()
        if label is None or label.text_content().strip() != text:
            return []
    return []


def _text_outside_links(element) -> str:
    """The text of `element` that is not link text: "Related:" in `<p>Related: <a>…</a></p>`,
    nothing in a heading that is itself a link to a section page."""
    if element.tag == "a":
        return ""
    text = element.text or ""
    for child in element:
        if isinstance(child.tag, str):
            text += _text_outside_links(child)
        text += child.tail or ""
    return text.strip()


def _inside_advert(element) -> bool:
    """Whether `element` sits in an advertising block ("Recommended" by Taboola). Only the
    nearest few levels count: a page's `<body class="has-ads">` says nothing about them."""
    for level, ancestor in enumerate(element.iterancestors()):
        if level >= _ADVERT_LEVELS or ancestor.tag in _BROAD_TAGS:
            return False
        if _ADVERT_TOKENS & set(_furniture_names(ancestor).split()):
            return True
    return False


def _link_density(element) -> float:
    """The share of an element's text that is link text (lists of links: high; prose: low)."""
    text = len("".join(element.text_content().split()))
    if not text:
        return 1.0
    anchors = [element] if element.tag == "a" else element.iter("a")
    linked = sum(len("".join(a.text_content().split())) for a in anchors)
    return linked / text


def _link_count(element) -> int:
    return 1 if element.tag == "a" and element.get("href") else len(element.xpath(".//a[@href]"))


def _has_links(element) -> bool:
    return 0 < _link_count(element) <= _SECTION_MAX_LINKS


def _section_anchors(root) -> Iterator:
    anchors = [root] if root.tag == "a" else root.iter("a")
    for anchor in anchors:
        if anchor.get("href") and not _is_furniture(anchor, root):
            yield anchor


def _is_furniture(anchor, section) -> bool:
    """Whether the link, or anything between it and its section, is marked as furniture."""
    element = anchor
    while element is not None:
        if _FURNITURE_TOKENS & set(_furniture_names(element).split()):
            return True
        rel = (element.get("rel") or "").lower().split()
        if {"tag", "author", "sponsored", "ugc"} & set(rel):
            return True
        if element is section:
            break
        element = element.getparent()
    return False


def _from_inline_labels(tree) -> Iterator[tuple[int, str, str]]:
    """`Read more: <a>…</a>` and `Related: <a>…</a>` lines inside the text."""
    for anchor in tree.iter("a"):
        if not anchor.get("href"):
            continue
        previous = anchor.getprevious()
        if previous is not None:
            before = previous.tail or ""
            if not before.strip() and previous.tag in _LABEL_TAGS:
                before = previous.text_content()
        else:
            parent = anchor.getparent()
            before = (parent.text or "") if parent is not None else ""
        if _INLINE_LABEL.search(before.strip()[-40:]) and not _is_furniture(anchor, anchor.getparent()):
            yield RELATED, anchor.get("href"), _link_text(anchor)


def _from_json_ld(tree) -> Iterator[tuple[int, str, str]]:
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        try:
            data = json.loads(script.text or "")
        except ValueError:
            continue
        yield from _walk_json_ld(data, top=True)


_ARTICLE_TYPES = {"article", "newsarticle", "blogposting", "reportagenews", "analysisnewsarticle",
                  "opinionnewsarticle", "backgroundnewsarticle", "techarticle", "scholarlyarticle"}


def _walk_json_ld(node, *, top: bool) -> Iterator[tuple[int, str, str]]:
    if isinstance(node, list):
        for item in node:
            yield from _walk_json_ld(item, top=top)
        return
    if not isinstance(node, dict):
        return
    for key in ("relatedLink", "significantLink"):
        for value in _as_list(node.get(key)):
            if isinstance(value, str):
                yield RELATED, value, ""
            elif isinstance(value, dict) and _ld_url(value):
                yield RELATED, _ld_url(value), _ld_title(value)
    for key in ("isPartOf", "hasPart"):
        for value in _as_list(node.get(key)):
            if isinstance(value, dict) and _is_article(value) and _ld_url(value):
                yield RELATED, _ld_url(value), _ld_title(value)
    # Another article named anywhere below the top level (a list of stories, "mentions").
    if not top and _is_article(node) and _ld_url(node):
        yield MORE, _ld_url(node), _ld_title(node)
    for key, value in node.items():
        if key in ("relatedLink", "significantLink", "isPartOf", "hasPart", "mainEntityOfPage"):
            continue
        if isinstance(value, (dict, list)):
            yield from _walk_json_ld(value, top=top and key == "@graph")


def _as_list(value) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def _is_article(node: dict) -> bool:
    types = {str(t).lower() for t in _as_list(node.get("@type"))}
    return bool(types & _ARTICLE_TYPES)


def _ld_url(node: dict) -> str:
    url = node.get("url") or node.get("@id") or ""
    return url if isinstance(url, str) else ""


def _ld_title(node: dict) -> str:
    title = node.get("headline") or node.get("name") or ""
    return title if isinstance(title, str) else ""


# -- which links count ---------------------------------------------------------------------
def _article_url(href: str, base_url: str, site: str) -> str | None:
    """The absolute URL of `href` if it is an article page on `site`, else None."""
    href = (href or "").strip()
    if not href or href.startswith("#"):
        return None
    url = urljoin(base_url, href).split("#", 1)[0]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or _registered_domain(url) != site:
        return None
    try:
        canonicalize(url)
    except ValueError:
        return None
    return url if _looks_like_article(parts.path, parts.query) else None


def _looks_like_article(path: str, query: str) -> bool:
    """A path with a slug, a date or a long id, and nothing that marks a listing, a
    profile, an account page or a feed."""
    path = unquote(path).lower()
    segments = [s for s in path.split("/") if s]
    if not segments or path.endswith(_NON_ARTICLE_SUFFIXES) or _NON_ARTICLE_QUERY.search(query):
        return False
    for i, segment in enumerate(segments):
        if segment in _NON_ARTICLE_SEGMENTS or segment.startswith(("mailto:", "javascript:")):
            return False
        if segment == "page" or (i and segments[i - 1] == "page" and _NUMBER.match(segment)):
            return False
    last = re.sub(r"\.(s?html?|php|aspx?)$", "", segments[-1])
    slug_words = _SLUG_WORDS.findall(last)
    return (
        len(slug_words) >= 3
        or bool(_LONG_NUMBER.search(last))
        or (bool(_DATE_IN_PATH.search(path)) and len(segments) >= 3)
        or (len(slug_words) == 2 and len(segments) >= 2 and not _NUMBER.match(last))
    )


def _registered_domain(url: str) -> str:
    """The registrable part of the host (news.bbc.co.uk -> bbc.co.uk), approximated without
    a public-suffix list: two labels, three under a two-letter country's second level."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if ":" in host or host.replace(".", "").isdigit():
        return host  # an IP address is its own site
    labels = host.split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVELS:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:]) if host else ""


_SECOND_LEVELS = {"co", "com", "org", "net", "ac", "gov", "edu", "ne", "or", "go", "gv"}


def _ancestor_paths(url: str) -> set[str]:
    """The section pages above `url` (/world/ above /world/2019/11/some-story)."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    return {_path_key(f"{parts.scheme}://{parts.netloc}/" + "/".join(segments[:n])) for n in range(1, len(segments))}


def _path_key(url: str) -> str:
    parts = urlsplit(url)
    return f"{_registered_domain(url)}/{parts.path.strip('/').lower()}"


def _same_page_key(url: str) -> str:
    """What makes two URLs the same page: host and path (a trailing slash aside); the
    query counts too, except for tracking parameters."""
    try:
        canonical = canonicalize(url)
    except ValueError:
        return url
    parts = urlsplit(canonical)
    return f"{parts.hostname}{parts.path.rstrip('/')}?{parts.query}"


# -- small helpers --------------------------------------------------------------------------
def _parse(html: str):
    if not html or not html.strip():
        return None
    try:
        return lxml.html.fromstring(html)
    except ValueError:  # a str with an XML encoding declaration
        try:
            return lxml.html.fromstring(html.encode("utf-8", "replace"))
        except (ValueError, etree.ParserError):
            return None
    except etree.ParserError:
        return None


def _base_href(tree, base_url: str) -> str:
    """A `<base href>` on the same site overrides the page URL for resolving links."""
    for base in tree.iter("base"):
        href = base.get("href")
        if href:
            resolved = urljoin(base_url, href)
            if _registered_domain(resolved) == _registered_domain(base_url):
                return resolved
        break
    return base_url


def _link_text(anchor) -> str:
    """A card's headline if it has one, else the link's text without the pieces that only
    label it ("Previous", "Read more"), else its title attribute."""
    for heading in anchor.iter(*_HEADING_TAGS):
        text = heading.text_content().strip()
        if text:
            return text
    chunks = (chunk.strip() for chunk in anchor.itertext())
    text = " ".join(c for c in chunks if c and not _LABEL_CHUNK.match(c) and not _RELATIVE_TIME.fullmatch(c))
    return text or anchor.get("title") or anchor.get("aria-label") or ""


# CMS classes that describe the post, not the element ("tag-russia", "category-world").
_TERM_CLASS = re.compile(r"^(tag|category|author|format|status|type|post|topic)-\S+$")


def _furniture_names(element) -> str:
    classes = [c for c in (element.get("class") or "").split() if not _TERM_CLASS.match(c.lower())]
    return f"{_tokens(' '.join(classes))} {_tokens(element.get('id'))}"


_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


def _tokens(names: str | None) -> str:
    """Class or id names as space-separated lower-case words: "relatedPosts jp-nav" ->
    "related posts jp nav"."""
    if not names:
        return ""
    return " ".join(_CAMEL.sub(" ", names).replace("-", " ").replace("_", " ").lower().split())


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower().replace("'", "").replace("’", "")).split())
