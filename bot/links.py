"""Finding links in chat text and reducing each to one canonical form.

The canonical URL is the cache key for articles and the identity of a story in digests,
so two shares of the same page with different tracking parameters count once.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bot.limits import MAX_URL_CHARS

# Tracking parameters that never change what page is served.
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid",
        "twclid", "ttclid", "li_fat_id", "igshid", "mc_cid", "mc_eid", "_ga", "_gl",
        "_hsenc", "_hsmi", "mkt_tok", "oly_anon_id", "oly_enc_id", "vero_id", "ref_src",
        "ref_url", "spm", "si", "cmpid", "ncid", "sr_share",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_")

# http(s) links, or bare www. hosts; stops at whitespace and at <>"` (common wrappers).
_URL_RE = re.compile(r"""(?i)\b(?:https?://|www\.)[^\s<>"'`]+""")
_TRAILING = ".,;:!?'\"»”’…"
MAX_LINKS_READ = 100  # links of one message looked at; 2,500 with foreign-script hosts took 0.45 s
_PAIRS = {")": "(", "]": "[", "}": "{"}


def _trim(candidate: str) -> str:
    """Strip sentence punctuation and unbalanced closing brackets from a found URL (in one
    pass: a stranger's "link" may end in forty thousand brackets)."""
    excess = {close: candidate.count(close) - candidate.count(open_) for close, open_ in _PAIRS.items()}
    end = len(candidate)
    while end:
        last = candidate[end - 1]
        if last in _TRAILING:
            end -= 1
        elif last in _PAIRS and excess[last] > 0:
            excess[last] -= 1
            end -= 1
        else:
            break
    return candidate[:end]


def _links(text: str):
    """(start, end, url) of each link in `text` as a reader means it: trimmed, "www." given
    a scheme, at most MAX_URL_CHARS long (a longer one is no one's link)."""
    for match in _URL_RE.finditer(text or ""):
        found = _trim(match.group(0))
        url = "http://" + found if found.lower().startswith("www.") else found
        if len(url) <= MAX_URL_CHARS:
            yield match.start(), match.start() + len(found), url


def find_urls(text: str) -> list[str]:
    """Links in `text`, in order of appearance, without duplicates (by canonical form); at
    most the first MAX_LINKS_READ (only a few are ever summarized, and reading each costs)."""
    found: list[str] = []
    seen: set[str] = set()
    for _, _, url in itertools.islice(_links(text), MAX_LINKS_READ):
        try:
            canonical = canonicalize(url)
        except ValueError:
            continue
        if canonical not in seen:
            seen.add(canonical)
            found.append(url)
    return found


# Links that are not web pages: "scheme://…" with any other scheme, and the schemes that
# are written without "//" (javascript:alert(1), file:notes.txt, mailto:a@b).
_OTHER_LINK_RE = re.compile(
    r"(?i)(?<![\w+.-])(?:([a-z][a-z0-9+.-]{0,15})://\S|(javascript|vbscript|data|file|mailto|tel|about):\S)"
)


def other_scheme(text: str) -> str | None:
    """The scheme of the first link in `text` that is not http(s) ("ftp" for ftp://x), or
    None: for telling someone who sent one that only web pages can be opened."""
    for match in _OTHER_LINK_RE.finditer(text or ""):
        scheme = (match.group(1) or match.group(2)).lower()
        if scheme not in ("http", "https"):
            return scheme
    return None


def remove_urls(text: str, unwanted: Callable[[str], bool]) -> str:
    """`text` without the links (as `find_urls` reads them) for which `unwanted` is true."""
    kept: list[str] = []
    position = 0
    for start, end, url in _links(text):
        if unwanted(url):
            kept.append(text[position:start])
            position = end
    kept.append(text[position:])
    return "".join(kept)


@functools.lru_cache(maxsize=4096)  # called many times per cached reply; keys are at most MAX_URL_CHARS
def canonicalize(url: str) -> str:
    """Lower-case scheme and host, IDNA host, no default port, no fragment, no tracking
    parameters, "/" for an empty path. Raises ValueError for something that is not an
    http(s) URL with a host."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    host = parts.hostname.rstrip(".")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        host = host.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port  # raises ValueError on a malformed port
    if port and not (scheme, port) in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)]
    )
    return urlunsplit((scheme, host, parts.path or "/", query, ""))


def _is_tracking(param: str) -> bool:
    name = param.lower()
    return name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES)


def host_of(url: str) -> str:
    """The host without a leading "www.", for showing where an article is from."""
    host = (urlsplit(url).hostname or "").lower()
    return host[4:] if host.startswith("www.") else host
