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
