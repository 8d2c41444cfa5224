import re

import pytest

from bot.commands import parse_command


@pytest.mark.parametrize(
    "text, name, args, to",
    [
        ("/summary https://x.org", "summary", "https://x.org", None),
        ("/Summary@MyBot  https://x.org  ", "summary", "https://x.org", "MyBot"),
        ("/help", "help", "", None),
        ("/summary\nline one\nline two", "summary", "line one\nline two", None),
    ],
)
def test_parses_commands(text, name, args, to):
    command = parse_command(text)
    assert (command.name, command.args, command.addressed_to) == (name, args, to)


@pytest.mark.parametrize("text", ["hello /summary", "https://x.org", "/ summary", "/123", "", "//x"])
def test_ordinary_messages_are_not_commands(text):
    assert parse_command(text) is None


def test_menu_and_help_come_from_one_registry():
    from bot.acl import ACCESS, Permissions
    from bot.commands import REGISTRY, help_lines, menu

    names = [name for name, _ in menu()]
    assert names == [info.name for info in REGISTRY if not info.press_only]
    hidden = [info.name for info in REGISTRY if info.press_only]  # a button's command: no menu, no /help
    assert hidden == ["length"] and "/length" not in help_lines()
    assert {"summary", "privacy", "forget", "help"} <= set(names)
    assert ("privacy", "What I store about this chat and how to erase it") in menu()
    assert ("forget", "Erase everything I store about this chat") in menu()
    for name, description in menu():  # Telegram's BotCommand limits
        assert re.fullmatch(r"[a-z0-9_]{1,32}", name) and 1 <= len(description) <= 256
    lines = help_lines()
    for name in names:
        assert f"/{name}" in lines
    # every name has its registry's rule, aliases included; none without one
    assert Permissions().unruled([*names, *hidden, "start"]) == [] and set(ACCESS) == {*names, *hidden, "start"}
    assert Permissions().needs_admin(parse_command("/forget confirm"))
    assert not Permissions().needs_admin(parse_command("/privacy"))


@pytest.mark.parametrize(
    "text, name, args",
    [
        ("/summary privacy", "privacy", ""),
        ("/summary Forget", "forget", ""),
        ("/summary forget confirm", "forget", "confirm"),
        ("/summary forget me not https://x.org", "summary", "forget me not https://x.org"),
        ("/summary privacy https://x.org", "summary", "privacy https://x.org"),
        ("/summary short https://x.org", "summary", "short https://x.org"),
        ("/privacy", "privacy", ""),
    ],
)
def test_slack_subcommands_are_the_commands(text, name, args):
    from bot.commands import as_subcommand

    command = as_subcommand(parse_command(text))
    assert (command.name, command.args) == (name, args)
