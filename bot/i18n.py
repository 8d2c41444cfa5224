"""The bot's words in the reader's language: gettext catalogs and Babel's dates and numbers.

English is the msgid: every string the bot writes is wrapped where it is written (`t._(...)`,
`t.ngettext(...)`, `N_` for a string translated later, `Msg` for an exception's sentence) and
translated in bot/locale/<lang>/LC_MESSAGES/summary_bot.po (compiled to .mo, both shipped).
Placeholders are named (`{host}`) so translators may move them. `Languages` loads the catalogs
once, where the program is assembled; each message picks its `Translator` by language code.

Updating the catalogs after changing a string (see the README):
    pybabel extract -F babel.cfg -o bot/locale/summary_bot.pot --no-location -k Msg .
    pybabel update -i bot/locale/summary_bot.pot -d bot/locale -D summary_bot --no-fuzzy-matching
    pybabel compile -d bot/locale -D summary_bot
"""

from __future__ import annotations

import gettext
from datetime import date, datetime
from pathlib import Path

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal

DOMAIN = "summary_bot"
LOCALE_DIR = Path(__file__).with_name("locale")
DEFAULT = "en"
# Each with a complete catalog (tests/test_i18n.py checks it); the name is the language's own.
NAMES = {
    "en": "English",
    "de": "Deutsch",
    "es": "Español",
    "pt_BR": "Português (Brasil)",
    "ru": "Русский",
    "uk": "Українська",
}


def N_(msgid: str) -> str:
    """Marks `msgid` for extraction; it is translated where it is shown."""
    return msgid


class Msg(str):
    """An English sentence that remembers its msgid and placeholders: raised deep in the
    pipeline (a fetch error) and said in the reader's language by `Translator.text`.
    As a str it is the English sentence, so logs and `str(exc)` are unchanged."""

    msgid: str
    params: dict

    def __new__(cls, msgid: str, **params: object) -> Msg:
        made = super().__new__(cls, msgid.format(**params) if params else msgid)
        made.msgid, made.params = msgid, params
        return made


def normalize(code: str | None) -> str | None:
    """A supported language for a platform's code ("ru", "ru-RU", "pt-br", "pt_BR", "en-US"),
    else None."""
    if not code or not isinstance(code, str):
        return None
    language, _, region = code.strip().replace("-", "_").partition("_")
    language = language.lower()
    if f"{language}_{region.upper()}" in NAMES:
        return f"{language}_{region.upper()}"
    if language == "pt":
        return "pt_BR"  # the one Portuguese we have
    return language if language in NAMES else None


class Translator:
    """One language's words, dates and numbers."""

    def __init__(self, code: str, catalog: gettext.NullTranslations):
        self.code = code
        self.catalog = catalog
        self.locale = Locale.parse(code)

    def _(self, msgid: str, **params: object) -> str:
        text = self.catalog.gettext(msgid)
        return text.format(**params) if params else text

    def ngettext(self, singular: str, plural: str, n: int, **params: object) -> str:
        """The form for `n` (Russian and Ukrainian have three); `{count}` is `n` unless given."""
        params.setdefault("count", n)
        return self.catalog.ngettext(singular, plural, n).format(**params)

    def text(self, value: str) -> str:
        """A `Msg` in this language; any other string as it is."""
        if isinstance(value, Msg):  # its placeholders may be sentences too ("couldn't load: <why>")
            return self._(value.msgid, **{k: self.text(v) if isinstance(v, Msg) else v for k, v in value.params.items()})
        return value

    def date(self, moment: date | datetime) -> str:
        # Translators: a Babel date pattern (EEEE weekday, d day, MMMM month): "суббота, 5 декабря"
        return format_date(moment, self._("EEEE d MMMM"), locale=self.locale)

    def short_date(self, moment: date | datetime) -> str:
        # Translators: a Babel date pattern, short (EEE weekday, d day, MMM month)
        return format_date(moment, self._("EEE d MMM"), locale=self.locale)

    def number(self, value: float) -> str:
        return format_decimal(value, locale=self.locale)


def english() -> Translator:
    """English without a catalog (the msgids are English), for callers given no Translator."""
    return Translator(DEFAULT, gettext.NullTranslations())


class Languages:
    """Every supported language's catalog, loaded once (where the program is assembled)."""

    def __init__(self, directory: Path = LOCALE_DIR):
        self.translators = {
            code: Translator(code, gettext.translation(DOMAIN, str(directory), [code])) for code in NAMES
        }

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(self.translators)

    def get(self, code: str | None) -> Translator:
        """The translator for `code` (any platform's spelling); English for anything else."""
        return self.translators[normalize(code) or DEFAULT]

    def listing(self) -> str:
        """"de (Deutsch), en (English), …": what /language offers."""
        return ", ".join(f"{code} ({name})" for code, name in sorted(NAMES.items()))
