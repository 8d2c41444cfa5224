"""The bot's words in the reader's language (issue 20, item 8): the catalogs are complete and
keep their placeholders, the chat's choice (/language) wins over the sender's language, dates
read as the language writes them, and summaries stay in the article's language."""

from __future__ import annotations

import string
from datetime import date
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from benchmarks.standins.telegram_api import BotApiStandIn
from bot.core import HELP_TEXT
from bot.i18n import DOMAIN, LOCALE_DIR, NAMES, Languages, Msg, normalize
from bot.models import ChatRef, Incoming
from digest_support import digest_settings
from model_support import make_summary_bot

ROOT = Path(__file__).resolve().parents[1]
KEYWORDS = {"_": None, "N_": None, "Msg": None, "ngettext": (1, 2)}
GROUP = ChatRef("telegram", "-100555", kind="group")
ARTICLE = (
    "The city council voted on Tuesday to expand the river park by twelve hectares. "
    "The plan adds a wetland that will store rainwater during storms and reduce flooding downstream. "
    "Engineers say the wetland can hold about forty thousand cubic metres of water. "
    "Construction starts next spring and should take two years, paid for by a regional climate fund. "
    "Residents asked for more paths and benches, which the council added to the final design. "
    "The park's existing playground and café stay open during the works."
)


def source_messages() -> set[str | tuple[str, str]]:
    """Every string the code marks for translation, as pybabel extract finds it."""
    found: set = set()
    for folder in ("bot", "adapters"):
        for _, _, message, _, _ in extract_from_dir(ROOT / folder, keywords=KEYWORDS, comment_tags=("Translators:",)):
            found.add(message if isinstance(message, str) else tuple(message[:2]))
    return found


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def catalog(code: str):
    with open(LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po", "rb") as po:
        return read_po(po, locale=code)


def _key(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value


@pytest.fixture(scope="module")
def languages() -> Languages:
    return Languages()


# -- the catalogs -------------------------------------------------------------------------------


def test_at_least_the_six_languages_ship_a_catalog():
    assert {"en", "ru", "de", "es", "pt_BR", "uk"} <= set(NAMES)
    for code in NAMES:
        assert (LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.mo").is_file(), code


@pytest.mark.parametrize("code", sorted(NAMES))
def test_every_message_is_translated_and_keeps_its_placeholders(code):
    po = catalog(code)
    wanted = source_messages()
    assert wanted, "nothing extracted: the keywords changed?"
    for message in wanted:
        key = message[0] if isinstance(message, tuple) else message
        entry = po.get(key)
        assert entry is not None, f"{code}: not in the catalog (run pybabel extract/update): {key!r}"
        assert not entry.fuzzy, f"{code}: fuzzy: {key!r}"
        forms = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if isinstance(message, tuple):
            assert isinstance(entry.string, tuple) and len(forms) == po.num_plurals, f"{code}: plural forms of {key!r}"
        for form in forms:
            assert form.strip(), f"{code}: untranslated: {key!r}"
            expected = placeholders(key) | (placeholders(message[1]) if isinstance(message, tuple) else set())
            assert placeholders(form) == expected, f"{code}: placeholders of {key!r}: {form!r}"
    if code in ("ru", "uk"):
        assert po.num_plurals == 3  # one, few, many


@pytest.mark.parametrize("code", sorted(NAMES))
def test_the_shipped_mo_is_compiled_from_the_po(code):
    po = catalog(code)
    with open(LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.mo", "rb") as mo_file:
        mo = read_mo(mo_file)
    compiled = {_key(m.id): _key(m.string) for m in po if m.id}
    shipped = {_key(m.id): _key(m.string) for m in mo if m.id}
    assert shipped == compiled, f"{code}: run pybabel compile -d bot/locale -D {DOMAIN}"


def test_english_is_the_msgid_itself(languages):
    english = languages.get("en")
    assert english._(HELP_TEXT, max_links=3, commands="x") == HELP_TEXT.format(max_links=3, commands="x")


def test_platform_codes_pick_the_language(languages):
    assert [normalize(code) for code in ("ru", "ru-RU", "de-AT", "pt-br", "pt_BR", "pt", "uk", "en-US", "xx", "", None)] == [
        "ru", "ru", "de", "pt_BR", "pt_BR", "pt_BR", "uk", "en", None, None, None,
    ]  # fmt: skip
    assert languages.get("fr").code == "en"


def test_dates_and_numbers_read_as_the_language_writes_them(languages):
    saturday = date(2026, 12, 5)
    ru = languages.get("ru")
    assert ru.date(saturday) == "суббота, 5 декабря"
    assert ru._("Your daily digest – {date}", date=ru.date(saturday)) == "Ваша ежедневная сводка — суббота, 5 декабря"
    assert languages.get("en").date(saturday) == "Saturday 5 December"
    assert languages.get("de").date(saturday) == "Samstag, 5. Dezember"
    assert languages.get("uk").date(saturday) == "субота, 5 грудня"
    assert [ru.ngettext("{count} day", "{count} days", n) for n in (1, 3, 5, 21)] == ["1 день", "3 дня", "5 дней", "21 день"]
    assert languages.get("en").number(12000) == "12,000"


def test_an_exception_sentence_is_said_in_the_readers_language(languages):
    error = Msg("I couldn't load that feed: {reason}", reason=Msg("Could not reach {host}.", host="example.org"))
    assert str(error) == "I couldn't load that feed: Could not reach example.org."  # logs stay English
    assert languages.get("de").text(error) == "Ich konnte den Feed nicht laden: example.org ist nicht erreichbar."


# -- the chat's language ------------------------------------------------------------------------


@pytest.fixture
async def bot(store, tmp_path):
    summary_bot = make_summary_bot(digest_settings(tmp_path), store)

    async def admin_only(chat: ChatRef, user_id: str, message: Incoming) -> bool:
        return user_id == "admin"

    summary_bot.permissions.register("telegram", admin_only)
    summary_bot.permissions.register("slack", admin_only)
    yield summary_bot
    await summary_bot.close()


async def say(bot, text: str, *, chat: ChatRef = GROUP, user: str = "member", language: str | None = None):
    return await bot.handle(Incoming(chat=chat, text=text, user_id=user, addressed_to_bot=True, language=language))


async def test_help_is_in_the_senders_language_else_english(bot):
    (russian,) = await say(bot, "/help", language="ru")
    assert russian.text.startswith("Я пересказываю статьи.") and russian.language == "ru"
    assert "/language [code|auto] – язык, на котором я пишу здесь" in russian.text
    (english,) = await say(bot, "/help", language="fr")
    assert english.text == bot.help_text() and english.language == "en"


async def test_language_set_by_an_admin_is_the_chats_for_everyone(bot):
    (refused,) = await say(bot, "/language de", language="ru")
    assert refused.error == "Это могут менять только администраторы чата."
    (done,) = await say(bot, "/language de", user="admin")
    assert done.text == "OK, ab jetzt schreibe ich in diesem Chat auf Deutsch."
    for sender_language in ("ru", "en", None):
        (reply,) = await say(bot, "/help", language=sender_language)
        assert reply.text.startswith("Ich fasse Artikel zusammen.") and reply.language == "de"
    (shown,) = await say(bot, "/language")
    assert shown.text.startswith("Sprache: Deutsch (de), für diesen Chat gewählt.")
    (unknown,) = await say(bot, "/language xx", user="admin")
    assert unknown.error.startswith("„xx“ spreche ich noch nicht.") and "ru (Русский)" in unknown.error
    (auto,) = await say(bot, "/language auto", user="admin")
    (reply,) = await say(bot, "/help", language="es")
    assert reply.text.startswith("Resumo artículos.")


async def test_slack_sets_it_with_summary_language(bot):
    channel = ChatRef("slack", "T1:C1", scope_id="T1", kind="group")
    (done,) = await say(bot, "/summary language pt-BR", chat=channel, user="admin")
    assert done.text == "Certo, a partir de agora escrevo em português neste chat."
    (reply,) = await say(bot, "/summary", chat=channel)
    assert reply.error.startswith("Uso: /summary <link ou texto>")


async def test_summaries_stay_in_the_articles_language(bot):
    private = ChatRef("telegram", "4242", kind="private")
    (english,) = await say(bot, ARTICLE, chat=private, user="4242", language="en")
    (russian,) = await say(bot, ARTICLE, chat=private, user="4242", language="ru")
    assert english.digest is not None and russian.digest is not None
    assert russian.digest.points == english.digest.points and russian.digest.title == english.digest.title
    assert russian.language == "ru"
    from adapters.telegram.render import render_reply

    rendered = render_reply(russian, t=bot.languages.get(russian.language))[0]
    assert "мин чтения" in rendered and english.digest.points[0].split()[0] in rendered


# -- through the real PTB client and the Bot API stand-in ----------------------------------------


async def test_telegram_help_from_a_russian_app_is_russian_and_each_language_has_its_menu(tmp_path):
    from test_telegram import running_service, telegram_settings

    async with BotApiStandIn() as api:
        async with running_service(telegram_settings(api, tmp_path)) as service:
            api.queue_message("/help", chat_id=501, chat_type="private", language_code="ru")
            (sent,) = await api.wait_for("sendMessage", 1)
            assert sent.params["text"].startswith("Я пересказываю статьи.")
            menus = api.commands_by_language
            assert set(menus) == {"ru", "de", "es", "pt", "uk"}
            assert {c["command"]: c["description"] for c in menus["ru"]}["privacy"] == "Что я храню об этом чате и как это удалить"
            assert [c["command"] for c in menus["de"]] == [c["command"] for c in api.commands] == [n for n, _ in service.bot.menu()]
