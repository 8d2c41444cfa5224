"""Parsing chat commands, once, for every platform.

`/summary@MyBot https://x` (Telegram in groups) and `/summary https://x` (Slack, console)
parse the same way. REGISTRY lists every command once: what /help says, the platforms'
command menus and who may run it (bot.acl) are all read from it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from bot.i18n import N_

_COMMAND_RE = re.compile(r"^/([A-Za-z][A-Za-z0-9_]{0,31})(?:@([A-Za-z0-9_]+))?(?:\s+|$)(.*)\Z", re.S)


@dataclass(frozen=True)
class Command:
    name: str  # lower-case, without the slash
    args: str  # the rest of the message, stripped
    addressed_to: str | None = None  # bot username after "@", if given

    @property
    def words(self) -> list[str]:
        return self.args.split()


def parse_command(text: str) -> Command | None:
    """The command at the start of `text`, or None if it is an ordinary message."""
    match = _COMMAND_RE.match((text or "").strip())
    if not match:
        return None
    name, bot_name, args = match.groups()
    return Command(name=name.lower(), args=args.strip(), addressed_to=bot_name)


# -- who may run a command: each registered command names one of these (bot.acl asks them) --
Rule = Callable[[Command], bool]  # does this use of the command need a chat admin?


def anyone(command: Command) -> bool:
    return False


def admins(command: Command) -> bool:
    return True


def _autosummary(command: Command) -> bool:
    return command.args.lower() in ("on", "off")  # bare `/autosummary` only shows the setting


def _summary(command: Command) -> bool:
    # `/summary reaction <emoji>|off` changes a channel setting; bare, it only shows it
    return len(command.words) == 2 and command.words[0].lower() == "reaction"


def _language(command: Command) -> bool:
    return bool(command.args)  # bare `/language` only shows it


def _feeds(command: Command) -> bool:
    return bool(command.words) and command.words[0].lower() in ("add", "remove")  # `list` is open


@dataclass(frozen=True)
class CommandInfo:
    """One command as every platform shows it: /help's lines, the platform's command menu
    (Telegram setMyCommands) and the access rule all come from this one entry, so they
    cannot disagree. The handler is paired with it by name in bot.core."""

    name: str
    description: str  # the menu's line: short, at most 256 characters (Telegram's limit)
    usage: tuple[tuple[str, str], ...]  # /help's lines: (how to call it, what it does)
    rule: Rule
    aliases: tuple[str, ...] = ()  # other names for the same command, shown nowhere
    # A button's command: in no menu and not in /help, and run only when pressed
    # (`Incoming.via_button`); typed, it is as unknown as any other word.
    press_only: bool = False


# The order is /help's and the menu's.
REGISTRY: tuple[CommandInfo, ...] = (
    CommandInfo(
        "summary",
        N_("Summarize a link or a text"),
        (
            (N_("/summary <link or text>"), N_("summarize it (or reply /summary to a message)")),
            (N_("/summary short|medium|long <link>"), N_("1, 3 or 5 key points")),
            (N_("/summary private <link>"), N_("only you see the answer (Slack)")),
            (N_("/summary reaction :emoji:|off"),
             N_("reacting so to a message with a link posts its summary in the thread (Slack; default :memo:; admins)")),
        ),  # fmt: skip
        _summary,
    ),
    CommandInfo(
        "autosummary",
        N_("Summarize every link shared in this chat: on or off"),
        ((N_("/autosummary on|off"), N_("summarize every shared link in this chat (admins, in groups)")),),
        _autosummary,
    ),
    CommandInfo(
        "subscribe",
        N_("A daily digest of the links shared here"),
        (
            (N_("/subscribe [HH:MM] [Area/City]"),
             N_("a daily digest of the links shared here (default 08:00, UTC; admins, in groups)")),
        ),  # fmt: skip
        admins,
    ),
    CommandInfo(
        "unsubscribe", N_("Stop the daily digest"), (("/unsubscribe", N_("stop the daily digest (admins, in groups)")),), admins
    ),
    CommandInfo(
        "digest",
        N_("The digest of what was shared since the last one"),
        (("/digest", N_("the digest of what was shared since the last one, now")),),
        anyone,  # shows the digest so far; marks nothing as sent
    ),
    CommandInfo(
        "feeds",
        N_("RSS/Atom feeds whose new items join the daily digest"),
        (
            (N_("/feeds add|remove|list <feed URL>"),
             N_("RSS/Atom feeds whose new items join the daily digest (add and remove: admins, in groups)")),
        ),  # fmt: skip
        _feeds,
    ),
    CommandInfo(
        "privacy",
        N_("What I store about this chat and how to erase it"),
        (("/privacy", N_("what I store about this chat, for how long, and how to erase it")),),
        anyone,
    ),
    CommandInfo(
        "forget",
        N_("Erase everything I store about this chat"),
        (("/forget", N_("erase everything I store about this chat, after you confirm (admins, in groups)")),),
        admins,  # even the count it shows first is for whoever may erase
    ),
    CommandInfo(
        "language",
        N_("The language I write in here"),
        (("/language [code|auto]", N_("the language I write in here (changing it: admins, in groups)")),),
        _language,
    ),
    CommandInfo("help", N_("What I can do"), (("/help", N_("this message")),), anyone, aliases=("start",)),
    CommandInfo(
        "length",
        N_("Another length of a digest (the Shorter/Longer buttons)"),
        ((N_("/length <id> short|medium|long"), N_("the digest under that button at another length")),),
        anyone,  # anyone in the chat may press; the per-user rate limit applies as for /summary
        press_only=True,
    ),
)

# The Shorter/Longer buttons' command: a random id the core stored for the digest's link in
# that chat (bot.store.keys.length_button), and the length to show. No URL: Telegram's
# callback data is at most 64 bytes and both platforms' button values are hostile input;
# adapters accept a press only if its data matches this (and the core only if the id is stored).
LENGTH_BUTTON = re.compile(r"/length [A-Za-z0-9_-]{8,22} (short|medium|long)")


def is_length_button(data: object) -> bool:
    return isinstance(data, str) and LENGTH_BUTTON.fullmatch(data) is not None

# Slack's one slash command carries these as its first word (`/summary privacy`); they are
# read as the command itself only when nothing else follows (or, for forget, "confirm").
SUBCOMMANDS = {"privacy": ("",), "forget": ("", "confirm"), "help": ("",)}
TAKES_ONE_WORD = frozenset({"language"})  # `/summary language de`: the code is any one word


def as_subcommand(command: Command) -> Command:
    """`/summary privacy` as `/privacy`, `/summary forget confirm` as `/forget confirm`;
    any other command as it is (`/summary privacy matters <long text>` is a text to summarize)."""
    if command.name != "summary" or not command.words:
        return command
    first, rest = command.words[0].lower(), " ".join(command.words[1:]).lower()
    if rest in SUBCOMMANDS.get(first, ()) or (first in TAKES_ONE_WORD and len(command.words) <= 2):
        return Command(name=first, args=rest, addressed_to=command.addressed_to)
    return command


def access_rules(registry: tuple[CommandInfo, ...] = REGISTRY) -> dict[str, Rule]:
    """Each name (aliases included) with its command's access rule, for bot.acl."""
    return {name: info.rule for info in registry for name in (info.name, *info.aliases)}


def help_lines(registry: tuple[CommandInfo, ...] = REGISTRY, gettext: Callable[[str], str] = str) -> str:
    """/help's command lines, each part through `gettext` (the reader's language)."""
    return "\n".join(
        f"{gettext(call)} – {gettext(what)}" for info in registry if not info.press_only for call, what in info.usage
    )


def menu(registry: tuple[CommandInfo, ...] = REGISTRY, gettext: Callable[[str], str] = str) -> list[tuple[str, str]]:
    """(name without the slash, description) of each command, for a platform's menu."""
    return [(info.name, gettext(info.description)) for info in registry if not info.press_only]


def press_only(registry: tuple[CommandInfo, ...] = REGISTRY) -> frozenset[str]:
    """The names (aliases included) of the commands only a button press runs."""
    return frozenset(name for info in registry if info.press_only for name in (info.name, *info.aliases))
