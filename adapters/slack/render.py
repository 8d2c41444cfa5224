"""The core's replies as Slack messages: Block Kit with a plain `text` fallback.

Every piece of text that did not come from us (titles, points, source names, summaries)
goes through `escape_page_text`, so mrkdwn control sequences in an article (`<!channel>`,
`<@U123>`, `<https://evil|bank>`) show literally and ping no one, and its formatting
characters cannot restyle the digest. mrkdwn text objects are also sent `verbatim`, so
Slack does not auto-link or auto-parse mentions in them.

Slack has no way to escape `*`, `_`, `~` or a backtick in mrkdwn (its formatting docs only
escape `&`, `<` and `>`), so in text from a page they are replaced by look-alikes that
mrkdwn does not read: `∗` (U+2217), `ˍ` (U+02CD), `∼` (U+223C) and `ˋ` (U+02CB). A title
like `*URGENT* ~old~ ```code```` then shows as written instead of bold, struck or as a
code block. (Zero-width spaces next to the markers also work in today's clients, but
depend on how Slack decides word boundaries; look-alikes depend on nothing.) Our own text
(help, errors, URLs) keeps its characters.

Slack's limits are respected here, the one place that knows them: section text at most
3000 characters, header text 150, at most 50 blocks per message. The digest of one link
is capped in the core (`bot.limits.cap_digest`) and always renders to exactly one
message; only a long daily digest becomes several messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from bot.commands import is_length_button
from bot.i18n import Languages, Translator, english
from bot.limits import cap_daily_digest, cap_digest
from bot.models import Button, DailyDigest, Digest, DigestEntry, Reply

MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_HEADER_CHARS = 150
MAX_CONTEXT_CHARS = 2000
MAX_FALLBACK_CHARS = 3000
MAX_LINK_TITLE_CHARS = 200
MAX_URL_CHARS = 1500  # a longer related URL is shown as plain text, not as a link
MAX_BUTTON_LABEL_CHARS = 75
MAX_BUTTONS = 25  # elements in one actions block

# A button's press comes back as a block_actions payload with this action_id (the first
# button; the others get ":1", ":2"…, as action_ids must differ within a block) and the
# command as its value. Only these commands are ever sent as buttons or accepted from one:
# a press is hostile input (adapters/slack/listeners.py checks it against this list).
BUTTON_ACTION_ID = "summary_bot_command"
BUTTON_COMMANDS = frozenset({"/forget confirm"})
MAX_BUTTON_VALUE_CHARS = 64


def is_button_command(value: object) -> bool:
    """Whether a button's value is one the bot renders and accepts from a press: a listed
    command, or Shorter/Longer's `/length <id> <length>` (bot.commands.LENGTH_BUTTON)."""
    if not isinstance(value, str) or len(value) > MAX_BUTTON_VALUE_CHARS:
        return False
    return value in BUTTON_COMMANDS or is_length_button(value)


@dataclass
class SlackMessage:
    """One chat.postMessage worth of content."""

    text: str  # fallback for notifications and clients that cannot show blocks
    blocks: list[dict]


_LOOKALIKES = str.maketrans({"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb"})


def escape(text: str) -> str:
    """Text as mrkdwn shows it literally: Slack's three control characters escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def neutralise_formatting(text: str) -> str:
    """`text` with mrkdwn's formatting characters (`*` `_` `~` and backticks) replaced by
    look-alikes, so that it cannot turn bold, italic, struck or into code."""
    return text.translate(_LOOKALIKES)


def escape_page_text(text: str) -> str:
    """Text taken from a page, as mrkdwn shows it literally: escaped and neutralised."""
    return escape(neutralise_formatting(text))


# -- replies ----------------------------------------------------------------------------


def render_replies(replies: list[Reply], languages: Languages | None = None) -> list[SlackMessage]:
    return [message for reply in replies for message in render_reply(reply, languages)]


def render_reply(reply: Reply, languages: Languages | None = None) -> list[SlackMessage]:
    """`reply` as Slack messages; the renderer's own words in the reply's language (English
    without `languages`)."""
    t = languages.get(reply.language) if languages is not None else english()
    if reply.digest is not None:
        messages = render_digest(reply.digest, t)
    elif reply.daily is not None:
        messages = render_daily_digest(reply.daily, t)
    elif reply.error is not None:
        messages = _simple_message(":warning: " + escape(reply.error))
    else:
        messages = _simple_message(escape(reply.text or ""))
    actions = render_buttons(reply.buttons)
    if actions is not None:
        last = messages[-1]
        if len(last.blocks) < MAX_BLOCKS:
            last.blocks.append(actions)
        else:
            messages.append(SlackMessage(text=last.text, blocks=[actions]))
    return messages


def render_replacement(reply: Reply, languages: Languages | None = None) -> SlackMessage:
    """`reply` as the one message that takes the place of another (chat.update): a digest
    always is one; where its buttons made a second, its last content block makes room."""
    messages = render_reply(reply, languages)
    first = messages[0]
    actions = render_buttons(reply.buttons)
    if len(messages) > 1 and actions is not None:
        first.blocks = first.blocks[: MAX_BLOCKS - 1] + [actions]
    return first


def render_buttons(buttons: tuple[Button, ...]) -> dict | None:
    """Reply.buttons as one Block Kit `actions` block; a button whose command is not one a
    press is accepted for is left out (its press would only be refused)."""
    elements = []
    for button in buttons:
        if not is_button_command(button.command) or len(elements) >= MAX_BUTTONS:
            continue
        element = {
            "type": "button",
            "text": {"type": "plain_text", "text": _truncate(button.label, MAX_BUTTON_LABEL_CHARS), "emoji": True},
            "action_id": BUTTON_ACTION_ID if not elements else f"{BUTTON_ACTION_ID}:{len(elements)}",
            "value": button.command,
        }
        if button.command.startswith("/forget"):
            element["style"] = "danger"  # it erases
        elements.append(element)
    return {"type": "actions", "elements": elements} if elements else None


def render_digest(digest: Digest, t: Translator | None = None) -> list[SlackMessage]:
    """Exactly one message: the capped digest (see bot.limits) in at most 50 blocks."""
    t = t or english()
    digest = cap_digest(digest)
    blocks: list[dict] = [_header(digest.title)]
    blocks += _point_blocks(digest, t)
    blocks.append(_context(_digest_meta(digest, t)))
    if digest.related:
        lines = ["*" + t._("Related") + "*"] + [
            f"• {t._(link.label) + ': ' if link.label else ''}{_link(link.url, link.title)}" for link in digest.related
        ]
        blocks += _sections(lines)
    title = escape_page_text(digest.title)
    fallback = "\n".join([f"{title} – {_plain_meta(digest, t)}"] + [f"• {escape_page_text(p)}" for p in digest.points])
    return [SlackMessage(text=_truncate(fallback, MAX_FALLBACK_CHARS), blocks=blocks[:MAX_BLOCKS])]


def render_unfurl(digest: Digest, t: Translator | None = None) -> dict:
    """The attachment chat.unfurl shows under a shared link: title, points, source."""
    digest = cap_digest(digest)
    title = escape_page_text(_truncate(digest.title, MAX_LINK_TITLE_CHARS))
    blocks = _sections([f"*{title}*"] + [f"• {escape_page_text(point)}" for point in digest.points])
    blocks.append(_context(_digest_meta(digest, t or english(), with_link=False)))
    return {"blocks": blocks[:MAX_BLOCKS]}


def render_daily_digest(daily: DailyDigest, t: Translator | None = None) -> list[SlackMessage]:
    t = t or english()
    daily = cap_daily_digest(daily)
    blocks: list[dict] = [_header(daily.title)]
    if daily.period:
        blocks.append(_context(escape_page_text(daily.period)))
    if not daily.entries:
        blocks += _sections([t._("Nothing was shared in this period.")])
    group: str | None = None
    for entry in daily.entries:
        if entry.group and entry.group != group:
            blocks += _sections([f"*{escape_page_text(_truncate(entry.group, MAX_LINK_TITLE_CHARS))}*"])
        group = entry.group
        blocks.append(_entry_section(entry, t))
    title = escape_page_text(daily.title)
    fallback = "\n".join([title] + [f"• {escape_page_text(entry.title)}" for entry in daily.entries])
    return _messages(blocks, fallback, title)


def _entry_section(entry: DigestEntry, t: Translator) -> dict:
    title = f"*{_link(entry.url, entry.title)}*"
    details = [escape_page_text(entry.source)] if entry.source else []
    if entry.shares > 1:
        details.append(t._("shared {count} times", count=entry.shares))
    footer = f"\n_{' · '.join(details)}_" if details else ""
    room = MAX_SECTION_CHARS - len(title) - len(footer) - 1
    return _section(f"{title}\n{_escape_within(neutralise_formatting(entry.summary), room)}{footer}")


# -- pieces -----------------------------------------------------------------------------


def _point_blocks(digest: Digest, t: Translator) -> list[dict]:
    """The key points; a point written in other words than the article's (an LLM's) is
    followed by a small context block quoting the article's sentence that supports it."""
    if not any(digest.sources):
        return _sections([f"• {escape_page_text(point)}" for point in digest.points])
    blocks: list[dict] = []
    for index, point in enumerate(digest.points):
        blocks += _sections([f"• {escape_page_text(point)}"])
        source = digest.source_of(index)
        if source:
            blocks.append(_context(t._("Source sentence: “{sentence}”", sentence=escape_page_text(source))))
    return blocks


def _digest_meta(digest: Digest, t: Translator, *, with_link: bool = True) -> str:
    parts = [escape_page_text(part) for part in (digest.source, digest.date) if part]
    parts.append(t.ngettext("{count} min read", "{count} min read", digest.reading_minutes))
    if digest.summarizer:  # who wrote the points
        parts.append(t._("Summary: {summarizer}", summarizer=escape_page_text(digest.summarizer)))
    if with_link and digest.url and _linkable(digest.url):
        link = f"<{_link_target(digest.url)}|" + t._("Read the article") + ">"
        if len(" · ".join(parts + [link])) <= MAX_CONTEXT_CHARS:  # a link cut in two would show as junk
            parts.append(link)
    return " · ".join(parts)


def _plain_meta(digest: Digest, t: Translator) -> str:
    minutes = t.ngettext("{count} min read", "{count} min read", digest.reading_minutes)
    return " · ".join(escape_page_text(part) for part in (digest.source, digest.date, minutes) if part)


def _link(url: str, title: str) -> str:
    """`<url|title>` with the title escaped; a URL Slack could misread becomes plain text."""
    label = escape_page_text(_truncate(title.strip() or url, MAX_LINK_TITLE_CHARS))
    if not _linkable(url):
        return label
    return f"<{_link_target(url)}|{label}>"


def _linkable(url: str) -> bool:
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:  # e.g. a malformed IPv6 host
        return False
    return scheme in ("http", "https") and len(_link_target(url)) <= MAX_URL_CHARS


def _link_target(url: str) -> str:
    # `|` and `>` would end the link early; percent-encoding them keeps the same address.
    return escape(quote(url, safe="/:?#[]@!$&'()*+,;=%~"))


def _truncate(text: str, limit: int) -> str:
    """At most `limit` characters, with an ellipsis if cut; never ends inside an entity."""
    if len(text) <= limit:
        return text
    return _entity_safe_cut(text, limit - 1).rstrip() + "…"


def _entity_safe_cut(text: str, at: int) -> str:
    """`text[:at]`, moved back to before an `&amp;`/`&lt;`/`&gt;` that `at` would split."""
    amp = text.rfind("&", max(0, at - 4), at)
    if amp != -1 and ";" not in text[amp:at]:
        at = amp
    return text[:at]


def _escape_within(text: str, limit: int) -> str:
    """`text` escaped, shortened (with an ellipsis) so the escaped form fits `limit`."""
    escaped = escape(text)
    while len(escaped) > limit:
        text = text[: max(0, len(text) - (len(escaped) - limit) - 1)]
        escaped = escape(text) + "…"
    return escaped


def _header(title: str) -> dict:
    text = _escape_within(" ".join(title.split()) or "Summary", MAX_HEADER_CHARS)
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


def _section(mrkdwn: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn, "verbatim": True}}


def _context(mrkdwn: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn[:MAX_CONTEXT_CHARS], "verbatim": True}]}


def _sections(lines: list[str]) -> list[dict]:
    """Lines of mrkdwn packed into as few sections as fit within the 3000-character limit."""
    blocks, current = [], ""
    for line in (piece for line in lines for piece in _split_line(line)):
        # Measured in UTF-16 units as well, in case Slack counts an emoji as two.
        if current and _utf16_len(current) + 1 + _utf16_len(line) > MAX_SECTION_CHARS:
            blocks.append(_section(current))
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        blocks.append(_section(current))
    return blocks


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _split_line(line: str) -> list[str]:
    """A line longer than a section, cut at spaces (or hard), never inside an entity."""
    pieces = []
    while len(line) > MAX_SECTION_CHARS:
        cut = line.rfind(" ", 0, MAX_SECTION_CHARS)
        if cut <= 0:
            cut = len(_entity_safe_cut(line, MAX_SECTION_CHARS))
        pieces.append(line[:cut])
        line = line[cut:].lstrip(" ")
    return pieces + [line] if line else pieces


def _simple_message(mrkdwn: str) -> list[SlackMessage]:
    return _messages(_sections([mrkdwn]), mrkdwn[:MAX_FALLBACK_CHARS], mrkdwn[:MAX_FALLBACK_CHARS])


def _messages(blocks: list[dict], fallback: str, continued: str) -> list[SlackMessage]:
    """Blocks split into messages of at most 50; the later ones say they continue."""
    fallback = _truncate(fallback, MAX_FALLBACK_CHARS)
    continued = _truncate(continued, MAX_FALLBACK_CHARS - 12) + " (continued)"
    return [
        SlackMessage(text=fallback if start == 0 else continued, blocks=blocks[start : start + MAX_BLOCKS])
        for start in range(0, len(blocks), MAX_BLOCKS)
    ]
