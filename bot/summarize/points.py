"""Which sentences of a page may be a key point, and in what form.

Extraction hands the summarizer a whole web page's text: the title line, datelines,
bylines, photo captions and credits, subheads, teasers of other stories, "Read more"
lines. A reader should see none of that in a key point. `as_point` takes one sentence (as
`bot.sentences` split it) and returns it as a point, or None when it is not one:

- A dateline prefix is dropped ("WASHINGTON (AP) — ", "NEW DELHI: ", "(CNN) -- ",
  "Berlin, 5. März (dpa) - "): the sentence after it is the point.
- Not a sentence: no end punctuation (a headline, a subhead, a caption, "Bildquelle:
  SWR"), a teaser or quotation ending in "…" or "...", a line ending in a colon, an opening
  in lower case (the tail of something cut), a label line ("Kategorie: Saúde"), a table row.
- Not the article: the title itself or the title fused with more words, a byline ("By Jane
  Doe", "5:45 AM PST by ..."), a photo credit anywhere in it ("Photo: ...", "Getty
  Images"), boilerplate ("Advertisement", "Read more", "Subscribe", cookies, copyright, a
  bare link).

Texts in scripts that have no end punctuation (Thai, Lao) keep their lines: see
`needs_end_punctuation`.
"""

from __future__ import annotations

import re

_CLOSERS = "\"'”’»)]」』）】›"
_END_CHARS = ".!?。！？｡؟۔।॥։׃።፧။។៕\u037e\u0f0d\u0f0e"
_AGENCIES = r"AP|AFP|Reuters|REUTERS|dpa|DPA|UPI|CNN|ANSA|EFE|Xinhua|IANS|PTI|ANI|Bloomberg|AAP|KNA|APA|SDA|TASS|RIA|Interfax|Yonhap|Kyodo|Europa Press|HawaiiNewsNow"

_DATELINE_RE = re.compile(
    # SAN FRANCISCO — / WASHINGTON (Reuters) - / BUFFALO, N.Y. — / HANOI, Vietnam (AP) —
    r"^(?:[A-ZÀ-ÞĀ-ŽА-ЯΑ-Ω][A-ZÀ-ÞĀ-ŽА-ЯΑ-Ω.'’\- ]{1,40}[A-ZÀ-ÞĀ-ŽА-ЯΑ-Ω.]"
    r"(?:,\s*[A-Z][\w.]*(?:\s[A-Z][\w.]*)?)?(?:\s*\([^()]{1,40}\))?\s*(?:--|[—–]|-(?=\s)|:)\s+"
    # (AP) — / (CNN) -- / Paris (AFP) - / Berlin, 5. März (dpa) -
    r"|(?:[\w .,'’-]{1,40}\s)?\((?:" + _AGENCIES + r")(?:/[\w ]{1,20})?\)\s*(?:--|[—–:-])?\s+"
    r")"
)
_BYLINE_RE = re.compile(
    r"^(?:By|BY|Von|VON|Par|Por|Door|Av|Przez|Written by|Posted by|Reporting by|Text:|Texte:|Autor:|Author:)\s"
    r"|^\d{1,2}:\d{2}\s*(?:AM|PM|am|pm)\b"
    r"|\b(?:Published|Updated|Publicado|Veröffentlicht|Publié)\s*(?:on|am|le|el)?\s*:?\s*\d"
    r"|\bPublicado por:"
)
_CREDIT_RE = re.compile(
    r"\b(?:Photo|Photos|Photograph|Image|Images|Picture|Pictures|Foto|Fotos|Bild|Bilder|Bildquelle|Quelle|"
    r"Credit|Credits|Crédit|Crédito|Créditos|Illustration|Grafik|Video|Caption)\s*(?:credit)?\s*:"
    r"|\((?:Photo|Image|Foto|Picture|File photo)s?\b"
    r"|\b(?:Getty Images|Shutterstock|AP Photo|AFP Photo|AFP via Getty|iStock|Reuters/|EPA-EFE|Bildagentur)"
    r"|(?:^|\s)/\s?(?:AP|AFP|dpa|Reuters|EPA)\b",
    re.IGNORECASE,
)
_BOILERPLATE_RE = re.compile(
    r"\b(?:advertisement|sponsored content|read more|read also|continue reading|related articles?|subscribe|"
    r"sign up|newsletter|click here|tap here|cookies?|all rights reserved|copyright|©|share this|follow us|"
    r"log in|terms of (?:use|service)|privacy policy|enable javascript|non-commercial use|reprints?|"
    r"anzeige|werbung|mehr zum thema|lesen sie auch|weiterlesen|lire aussi|publicité|abonnez|"
    r"leer más|publicidad|suscríbete|leggi anche|pubblicità|iscriviti|читайте также|реклама|подпишитесь|"
    r"lees ook|läs även|czytaj także)\b",
    re.IGNORECASE,
)
# Lines that introduce another story or a widget: "Also on rt.com ...", "WATCH: ...".
_BOILERPLATE_START_RE = re.compile(r"^(?:Also on|See also|Related|More|Watch|Listen|Read|Photos?|Video)\b\s*:?", re.IGNORECASE)
_LINK_RE = re.compile(r"https?://|www\.\w", re.IGNORECASE)
# Each word ends at a space or the end: `(?:\S+\s*){0,5}` could split one long word five
# ways over and backtracked for hours on a 500-character "word".
_LABEL_RE = re.compile(r"^[-•*·▪–]?\s*[^\W\d_][\w ]{0,24}:\s*(?:\S+(?:\s+|$)){0,5}$")
_ELLIPSIS_END_RE = re.compile(r"(?:…|\.\.\.|\. \. \.)[" + re.escape(_CLOSERS) + r"\s]*$")
_UNPUNCTUATED_SCRIPT_RE = re.compile(r"[\u0e00-\u0eff]")  # Thai and Lao
_WORD_RE = re.compile(r"\w+")
_BOILERPLATE_MAX_WORDS = 25  # a longer sentence that mentions "subscribe" is likely the story's


def needs_end_punctuation(text: str) -> bool:
    """Whether sentences of `text` are expected to end in punctuation (not Thai or Lao)."""
    sample = text[:2000]
    return len(_UNPUNCTUATED_SCRIPT_RE.findall(sample)) < len(sample) // 4


def strip_dateline(sentence: str) -> str:
    """`sentence` without a dateline prefix, when what follows reads as a sentence start."""
    match = _DATELINE_RE.match(sentence)
    if not match:
        return sentence
    rest = sentence[match.end() :]
    head = match.group(0)
    # "DEAR ABBY:", "BREAKING:" and city names are capitals; an ordinary sentence never
    # has a run of two capitalised words before its dash and colon forms are rarer still.
    if not rest[:1] or not (rest[:1].isupper() or rest[:1].isdigit() or rest[:1] in "\"'“‘«„"):
        return sentence
    if len(_WORD_RE.findall(rest)) < 4 or not any(ch.isalpha() for ch in head):
        return sentence
    return rest


def _words(text: str) -> list[str]:
    return _WORD_RE.findall(text.lower())


def ends_as_sentence(text: str) -> bool:
    body = text.rstrip().rstrip(_CLOSERS).rstrip()
    return bool(body) and body[-1] in _END_CHARS and not _ELLIPSIS_END_RE.search(text)


def has_title(sentence_words: list[str], title_words: list[str]) -> bool:
    """Whether the title (of 3 words or more) is in the sentence, or the sentence is the title."""
    n = len(title_words)
    if n < 3:
        return bool(title_words) and sentence_words == title_words
    return any(sentence_words[i : i + n] == title_words for i in range(len(sentence_words) - n + 1))


def as_point(
    sentence: str, *, title_words: list[str] | None = None, punctuated: bool = True, strict: bool = True
) -> str | None:
    """`sentence` as a key point (its dateline dropped), or None if it must not be one.
    `strict=False` (for text that has no sentences at all: chat messages, notes) skips the
    checks of a sentence's shape and keeps those of its content (title, byline, credit,
    link, boilerplate)."""
    text = strip_dateline(sentence.strip())
    if not text:
        return None
    if strict:
        first = text.lstrip("\"'“‘«„([¿¡ ")[:1]
        if first.islower() or text.count("|") >= 2:
            return None
        if punctuated:
            if not ends_as_sentence(text) or _ELLIPSIS_END_RE.search(text):
                return None
        elif text.rstrip().endswith(("…", "...")):
            return None
        if _LABEL_RE.match(text):
            return None
    words = _words(text)
    if title_words and has_title(words, title_words):
        return None
    if _BYLINE_RE.search(text) or _CREDIT_RE.search(text) or _LINK_RE.search(text):
        return None
    if _BOILERPLATE_START_RE.match(text) and ":" in text[:20] or text.startswith(("Also on ", "See also ")):
        return None
    if _BOILERPLATE_RE.search(text) and (len(words) < _BOILERPLATE_MAX_WORDS or _BOILERPLATE_RE.match(text)):
        return None
    return text
