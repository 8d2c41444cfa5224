"""/privacy and /forget through the bot's entry point, on both stores (issue 18).

The chat's data is made by the real features (test_privacy.use: settings, a subscription, a
feed, links shared from the sample site), so the counts /privacy and /forget show are the
store's. After `/forget confirm`, the whole store is dumped once `handle()` has returned:
nothing written by the confirming message may name the erased chat."""

from __future__ import annotations

import types

import pytest

from bot.config import Settings
from bot.core import ADMIN_CHECK_FAILED, ADMINS_ONLY, POLICY_FILE, privacy_notice
from bot.models import Button, ChatRef, Incoming
from bot.privacy import Inventory
from bot.store import keys
from digest_support import FakeClock, digest_settings, utc
from model_support import make_summary_bot
from test_privacy import PAGES, dump, sites, use  # noqa: F401 - sites is a fixture

VICTIM = ChatRef("telegram", "-1009876543217", kind="group")
OTHER = ChatRef("telegram", "-1002222", kind="group")
SLACK_DM = ChatRef("slack", "DVICTIMDM4", scope_id="TWORKSP7", kind="private")
CONFIRM = Button("Erase everything", "/forget confirm")


@pytest.fixture
async def bot(store, tmp_path):
    summary_bot = make_summary_bot(digest_settings(tmp_path, privacy_url="https://example.org/privacy", history_days=5), store)
    summary_bot.digests.clock = FakeClock(utc(2024, 5, 6, 12, 0))
    summary_bot.permissions.register("telegram", only_admin_is_an_admin)
    summary_bot.permissions.register("slack", only_admin_is_an_admin)
    yield summary_bot
    await summary_bot.close()


async def only_admin_is_an_admin(chat: ChatRef, user_id: str, message: Incoming) -> bool:
    return user_id in ("admin", "user100", "user101", "user102", "user200", "user201", "user202")  # test_privacy.use's


async def say(bot, text: str, chat: ChatRef = VICTIM, user: str = "admin", message_id: str | None = "900"):
    (reply,) = await bot.handle(Incoming(chat=chat, text=text, user_id=user, message_id=message_id, addressed_to_bot=True))
    return reply


async def exported(bot, chat: ChatRef) -> dict:
    data = await bot.privacy.export_chat(chat)
    data.pop("exported_at")
    return data


async def test_privacy_lists_each_kind_with_this_chats_counts_and_the_retention_figures(bot, sites):
    site, feed_site = sites
    await use(bot, VICTIM, site, feed_site, "zqxvictimfeed", PAGES[:2], 100)
    for text, user in (("/privacy", "someone"), ("/summary privacy", "someone")):  # anyone may ask
        reply = await say(bot, text, user=user)
        assert reply.error is None and not reply.buttons, reply
        notice = reply.text
        assert "2 shares of 2 articles, kept 5 days" in notice, notice  # SUMMARY_BOT_HISTORY_DAYS=5
        assert "A daily digest subscription and 1 feed followed" in notice
        assert "Settings (automatic summaries, time zone, language): 2 changed" in notice
        assert "related-articles memory (titles and links shared here): 2 entries, each kept 90 days" in notice
        assert "at most 24 hours" in notice and "summaries (30 days)" in notice
        assert "no text goes to an outside AI service" in notice
        assert "/forget" in notice and "(chat admins only)" in notice
        assert notice.endswith("The operator's privacy policy: https://example.org/privacy")
    # another chat's /privacy counts only its own
    assert "0 shares of 0 articles" in (await say(bot, "/privacy", chat=OTHER)).text


def test_privacy_names_the_llm_server_and_the_policy_file_when_no_url_is_set(tmp_path):
    llm = Settings(sqlite_path=tmp_path / "x.sqlite3", summarizer="llm", llm_url="http://llm.internal:11434/v1",
                   llm_model="qwen", llm_max_input_chars=8000, related_retention_days=30, chat_retention_days=200)  # fmt: skip
    notice = privacy_notice(llm, SLACK_DM, Inventory())
    assert "language-model server at llm.internal" in notice and "8,000 characters" in notice, notice
    assert "each kept 30 days" in notice and "after 200 days without activity" in notice
    assert "(chat admins only)" not in notice  # a DM: its user
    assert notice.endswith(f"The operator's privacy policy: {POLICY_FILE}") and "PRIVACY.md" in POLICY_FILE
    # a deployment without the retention settings still answers, with what bounds the memory
    bare = types.SimpleNamespace(**{k: v for k, v in llm.model_dump().items() if k not in ("related_retention_days", "chat_retention_days")})
    notice = privacy_notice(bare, VICTIM, Inventory())
    assert "kept until 10,000 newer articles replace it" in notice and "without activity" not in notice


async def test_forget_shows_what_it_would_erase_with_a_button_and_changes_nothing(bot, sites):
    site, feed_site = sites
    await use(bot, VICTIM, site, feed_site, "zqxvictimfeed", PAGES[:2], 100)
    before = await exported(bot, VICTIM)
    reply = await say(bot, "/forget")
    assert reply.buttons == (CONFIRM,)
    assert "2 shared links (2 articles), 1 feed, the daily digest subscription, 2 settings, 2 related-article entries" in reply.text
    assert "/forget confirm" in reply.text
    assert await exported(bot, VICTIM) == before
    assert (await say(bot, "/forget everything")).error.startswith("Usage: /forget")
    assert await exported(bot, VICTIM) == before
    nothing = await say(bot, "/forget", chat=OTHER)
    assert "nothing to erase" in nothing.text and not nothing.buttons


async def test_forget_confirm_by_a_non_admin_or_unchecked_is_refused_and_changes_nothing(bot, sites):
    site, feed_site = sites
    await use(bot, VICTIM, site, feed_site, "zqxvictimfeed", PAGES[:2], 100)
    before = await exported(bot, VICTIM)
    assert (await say(bot, "/forget confirm", user="member")).error == ADMINS_ONLY
    assert (await say(bot, "/forget", user="member")).error == ADMINS_ONLY  # the count is for admins too
    assert (await say(bot, "/forget confirm", user="")).error == ADMINS_ONLY  # no sender: no

    async def broken(chat, user_id, message):
        raise RuntimeError("the platform is down")

    bot.permissions.register("telegram", broken)  # fails closed
    assert (await say(bot, "/forget confirm")).error == ADMIN_CHECK_FAILED
    slack_channel = ChatRef("slack", "CCHANNEL1", scope_id="TWORKSP7", kind="private_group")
    bot.permissions.register("slack", broken)
    assert (await say(bot, "/summary forget confirm", chat=slack_channel)).error == ADMIN_CHECK_FAILED
    assert await exported(bot, VICTIM) == before


async def test_forget_confirm_by_an_admin_erases_the_chat_last_and_leaves_the_other_intact(bot, sites, store, tmp_path):
    site, feed_site = sites
    await use(bot, VICTIM, site, feed_site, "zqxvictimfeed", PAGES[:2], 100)
    await use(bot, OTHER, site, feed_site, "otherfeed", PAGES[1:], 200)
    other_before = await exported(bot, OTHER)
    assert b"9876543217" in await dump(store, tmp_path)

    reply = await say(bot, "/forget confirm", message_id="901")  # as a button press arrives
    assert reply.text.startswith("Done: I erased everything") and "2 shared links" in reply.text, reply

    # After the whole handle() returned: nothing of the chat, nothing written after the erasure.
    everything = await dump(store, tmp_path)
    at = everything.find(b"9876543217")
    assert at == -1, everything[max(0, at - 200) : at + 100]
    assert b"zqxvictimfeed" not in everything
    assert (await bot.privacy.inventory(VICTIM)).empty
    assert await exported(bot, OTHER) == other_before
    assert "0 shares of 0 articles" in (await say(bot, "/privacy", message_id=None)).text
    # The press's own work erased the chat as its last step: its fence does not erase it again.
    assert await store.get(keys.erasures(VICTIM.key)) == b"1"


async def test_summary_forget_in_a_slack_dm_erases_the_dm(bot, store, tmp_path):
    assert (await say(bot, "/autosummary off", chat=SLACK_DM, user="UDMUSER")).text.startswith("OK")
    assert (await say(bot, "/subscribe 09:00", chat=SLACK_DM, user="UDMUSER")).text.startswith("OK")
    asked = await say(bot, "/summary forget", chat=SLACK_DM, user="UDMUSER")  # a DM: its user, no admin check
    assert asked.buttons == (CONFIRM,) and "the daily digest subscription, 1 setting" in asked.text, asked
    done = await say(bot, "/summary forget confirm", chat=SLACK_DM, user="UDMUSER")
    assert done.text.startswith("Done"), done
    assert b"DVICTIMDM4" not in await dump(store, tmp_path)


async def test_the_menu_and_help_list_every_registered_command(bot):
    names = [name for name, _ in bot.menu()]
    assert "privacy" in names and "forget" in names
    assert ("forget", "Erase everything I store about this chat") in bot.menu()
    text = (await say(bot, "/help", message_id=None)).text
    assert "Commands:" in text
    for info in bot.registry:
        if info.press_only:  # a button's command (Shorter/Longer): in neither
            assert f"/{info.name}" not in text and info.name not in names
            continue
        assert f"/{info.name}" in text
        for usage, what in info.usage:
            assert f"{usage} – {what}" in text
    assert set(bot.commands) == {name for info in bot.registry for name in (info.name, *info.aliases)}
    assert bot.permissions.unruled(bot.commands) == []


async def test_an_erasure_that_fails_says_so_and_can_be_sent_again(bot):
    assert (await say(bot, "/autosummary off")).text.startswith("OK")

    async def failing(chat, **options):
        raise ConnectionError("the store went away")

    erase, bot.privacy.erase_chat = bot.privacy.erase_chat, failing
    assert "send /forget confirm again" in (await say(bot, "/forget confirm")).error
    bot.privacy.erase_chat = erase
    assert (await say(bot, "/forget confirm")).text.startswith("Done")
    assert (await bot.privacy.inventory(VICTIM)).empty
