"""Text from pages made safe to show: no control characters, no bidi overrides.

A page is a stranger's text. Two kinds of characters in it must never reach a title, a
site name, an author, a key point or a related title:

- C0 and C1 control characters (NUL, escape sequences that drive a terminal, DEL, ...).
  Body text keeps its line breaks and tabs; one-line fields keep none of them.
- Bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), which
  reorder what follows them ("Trojan Source"): a title could make a link label or the
  rest of the digest read backwards. The plain marks (U+200E, U+200F, U+061C) stay: they
  change nothing beyond a neutral character and right-to-left text needs them.

Unpaired surrogates (which cannot be encoded for any chat API) and the noncharacters
U+FFFE/U+FFFF go too; Unicode line and paragraph separators become line breaks.
"""

from __future__ import annotations

BIDI_CONTROLS = frozenset(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))
_C0 = [c for c in range(0x00, 0x20) if c not in (0x09, 0x0A)]
_C1 = list(range(0x7F, 0xA0))  # DEL and the C1 block
_DROPPED = {c: None for c in (*_C0, *_C1, *map(ord, BIDI_CONTROLS), 0xFFFE, 0xFFFF, *range(0xD800, 0xE000))}
# Body text: a carriage return (alone, or in CRLF) and the Unicode separators are line breaks.
_BODY_TABLE = {**_DROPPED, 0x0D: "\n", 0x2028: "\n", 0x2029: "\n\n", 0x85: "\n"}
_LINE_TABLE = {**_DROPPED, 0x0D: " ", 0x2028: " ", 0x2029: " ", 0x85: " "}


def clean_body(text: str | None) -> str:
    """Body text with the unsafe characters removed; line breaks and tabs stay."""
    if not text:
        return ""
    return text.replace("\r\n", "\n").translate(_BODY_TABLE)


def clean_line(text: str | None) -> str:
    """A one-line field (title, site name, author, point): unsafe characters removed and
    every run of whitespace, line breaks included, made one space."""
    if not text:
        return ""
    return " ".join(text.translate(_LINE_TABLE).split())


def is_clean_line(text: str) -> bool:
    """Whether `text` is already what clean_line would make of it."""
    return clean_line(text) == text
