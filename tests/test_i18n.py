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


async def test_a_refused_address_is_said_in_the_senders_language(bot):
    """The fetch guard's refusals (a private network, a name resolving to one) are said in
    the reader's language, the reason too. Fails before the fix: they were English only."""
    (russian,) = await say(bot, "http://10.1.2.3/admin", language="ru")
    assert russian.error == (
        "Этот адрес запрещён: 10.1.2.3 — частный адрес. (Оператор с локальным тестовым сайтом может "
        "разрешить его через SUMMARY_BOT_FETCH_ALLOW_PRIVATE.)"
    ), russian.error
    (german,) = await say(bot, "http://169.254.169.254/latest/meta-data/", language="de")
    assert german.error == "Diese Adresse ist nicht erlaubt: 169.254.169.254 ist eine Link-Local-Adresse.", german.error
    (english,) = await say(bot, "http://10.1.2.3/admin")
    assert english.error.startswith("That address is not allowed: 10.1.2.3 is a private address. (An operator")


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


# -- the adapters' own words: Slack's gestures, inline mode, the console --------------------------


def test_every_adapter_gesture_string_is_marked_for_the_catalogs():
    """The strings that were English-only (Home tab, shortcut, inline notices, console) are
    among those extracted, so the completeness test above covers them."""
    from adapters.console import PASTE_NOTE, SUBSCRIBE_NOTE
    from adapters.slack.home import HOW_TO
    from adapters.slack.shortcut import EXPIRED, NOTHING_TO_SUMMARIZE
    from adapters.telegram.service import INLINE_BUTTON
    from bot.inline import FAILED, NOT_A_LINK, RATE_LIMITED

    wanted = source_messages()
    for msgid in (HOW_TO, EXPIRED, NOTHING_TO_SUMMARIZE, INLINE_BUTTON, RATE_LIMITED, FAILED, NOT_A_LINK, PASTE_NOTE,
                  SUBSCRIBE_NOTE, "Share in thread", "Shared in the thread.", "Stop the daily digest?", "working…"):  # fmt: skip
        assert msgid in wanted, msgid


async def test_slack_home_tab_is_published_in_the_viewing_users_locale(store):
    import json

    from slack_support import running_slack

    from benchmarks.standins.slack_api import SlackStandIn

    async with SlackStandIn() as standin:
        standin.add_user("URUADMIN", team_id="T1", admin=True, locale="ru-RU")
        standin.add_user("UENADMIN", team_id="T1", admin=True)  # en-US
        standin.add_channel("C1", creator="URUADMIN")
        async with running_slack(standin, store) as slack:
            channel = ChatRef("slack", "T1:C1", scope_id="T1", kind="group")
            (done,) = await slack.service.bot.handle(
                Incoming(chat=channel, text="/subscribe 08:00 Europe/Berlin", user_id="URUADMIN", addressed_to_bot=True)
            )
            assert done.error is None, done.error
            for number, user in enumerate(("URUADMIN", "UENADMIN"), start=1):
                event = {"type": "app_home_opened", "user": user, "channel": "DHOME", "tab": "home", "event_ts": "1700000000.000001"}
                await slack.post_event(event, event_id=f"EvHomeLang{number}")
                await standin.wait_for("views.publish", count=number)
            await slack.finish()
    views = {call.params["user_id"]: call.params["view"] for call in standin.calls_to("views.publish")}
    russian, english = json.dumps(views["URUADMIN"], ensure_ascii=False), json.dumps(views["UENADMIN"], ensure_ascii=False)
    assert "Я пересказываю статьи: заголовок, источник" in russian and "*Ежедневные сводки каналов, которыми вы управляете*" in russian
    assert "ежедневная сводка в 08:00 (Europe/Berlin)" in russian and "*Конфиденциальность*" in russian
    [stop] = [block["accessory"] for block in views["URUADMIN"]["blocks"] if block.get("block_id") == "home_stop:C1"]
    assert stop["text"]["text"] == "Отключить" and stop["confirm"]["title"]["text"] == "Отключить ежедневную сводку?"
    assert "Daily digests of the channels you manage" not in russian and "Summaries are written" not in russian
    # the other admin's Slack is in English: the same tab, as before
    assert "I summarize articles: the title, source" in english and "daily digest at 08:00 (Europe/Berlin)" in english
    assert "(channel admins). Uninstalling the app erases everything of the workspace." in english


async def test_an_inline_query_from_a_german_app_gets_german_buttons(store, tmp_path):
    import asyncio

    from aiohttp import web
    from local_site import serve_site
    from test_telegram_inline import OTHER, ask, telegram

    release = asyncio.Event()

    async def hanging(request: web.Request) -> web.Response:
        await release.wait()  # past any budget
        return web.Response(text="<html><body><p>late</p></body></html>", content_type="text/html")

    async with BotApiStandIn() as api, serve_site({"/hanging": hanging}) as site:
        try:
            async with telegram(api, store, tmp_path, budget=0.2, user_rate_limit=1):
                waiting = await ask(api, site.url("/hanging"), language_code="de")
                assert waiting["button"]["text"] == "Im privaten Chat zusammenfassen"
                for _ in range(3):  # a new minute may begin between two queries
                    limited = await ask(api, site.url("/hanging"), language_code="de-AT")
                    if limited["button"]["text"].startswith("Zu viele"):
                        break
                assert limited["button"]["text"] == "Zu viele Zusammenfassungen pro Minute: versuch es gleich wieder"
                english = await ask(api, site.url("/hanging"), user_id=OTHER)  # language_code "en"
                assert english["button"]["text"] == "Summarize in a private chat"
        finally:
            release.set()


def test_inline_texts_and_console_words_in_the_readers_language(languages):
    from adapters.console import environment_language, render_digest
    from adapters.telegram.render import inline_texts
    from bot.models import Digest

    digest = Digest(title="", url=None, points=["One point."], source="Site", reading_minutes=3)
    assert inline_texts(digest, t=languages.get("de"))[0] == "Zusammenfassung"
    assert inline_texts(digest)[0] == "Summary"
    shown = render_digest(replace_url(digest, "https://example.org/a"), t=languages.get("ru"))
    assert "3 мин чтения" in shown and "Читать: https://example.org/a" in shown
    assert render_digest(replace_url(digest, "https://example.org/a")).endswith("Read: https://example.org/a")
    assert environment_language({"LANG": "ru_RU.UTF-8"}) == "ru"
    assert environment_language({"LC_ALL": "pt_BR.UTF-8", "LANG": "de_DE.UTF-8"}) == "pt_BR"
    assert environment_language({"LC_ALL": "", "LC_MESSAGES": "uk_UA", "LANG": "de_DE"}) == "uk"
    assert [environment_language(env) for env in ({}, {"LANG": "C.UTF-8"}, {"LANG": "POSIX"}, {"LANG": "fr_FR.UTF-8"})] == [None] * 4


def replace_url(digest, url):
    from dataclasses import replace

    return replace(digest, url=url)


async def test_the_console_speaks_the_locales_language_unless_the_chat_chose_one(bot):
    import io

    from adapters.console import run_console

    stdout = io.StringIO()
    await run_console(bot, stdin=io.StringIO("/subscribe\n/help\n"), stdout=stdout, language="de")
    said = stdout.getvalue()
    assert said.startswith("Dieser Konsolen-Chat verschickt keine täglichen Übersichten") and "Ich fasse Artikel zusammen." in said
    stdout = io.StringIO()
    await run_console(bot, stdin=io.StringIO("/language es\n/subscribe\n"), stdout=stdout, language="de")
    assert "Este chat de consola no envía resúmenes diarios" in stdout.getvalue()  # the chat's choice wins
    stdout = io.StringIO()
    await run_console(bot, stdin=io.StringIO("/language auto\n/subscribe\n"), stdout=stdout)  # no locale: English
    assert stdout.getvalue().endswith("This console chat sends no daily digests, so I've set nothing up: they are posted by "
                                      "`summary-bot run` to Telegram or Slack chats (/subscribe there). /digest shows the digest "
                                      "of what you shared here, now.\n\n")  # fmt: skip


def test_privacy_names_the_language_setting_and_on_telegram_the_inline_links(tmp_path, languages):
    from bot.core import privacy_notice
    from bot.privacy import Inventory

    settings = digest_settings(tmp_path)
    telegram = privacy_notice(settings, ChatRef("telegram", "4242", kind="private"), Inventory())
    assert "• Settings (automatic summaries, time zone, language): 0 changed from the default" in telegram
    assert "(@bot <link>) that was not summarized in time is kept for 1 hour under a random id (inline-link:<id>)" in telegram
    assert "inline-link" not in privacy_notice(settings, ChatRef("slack", "T1:C1", scope_id="T1", kind="group"), Inventory())
    russian = privacy_notice(settings, ChatRef("telegram", "4242", kind="private"), Inventory(), languages.get("ru"))
    assert "(автопересказ, часовой пояс, язык)" in russian and "хранится 1 час под случайным идентификатором (inline-link:<id>)" in russian
