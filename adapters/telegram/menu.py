"""The command menu: setMyCommands at start, from the core's registry, once per language."""

from __future__ import annotations

import logging
import re

from telegram import BotCommand
from telegram.error import TelegramError
from telegram.ext import Application

from bot.core import SummaryBot
from bot.i18n import DEFAULT as DEFAULT_LANGUAGE

log = logging.getLogger(__name__)

_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")  # what setMyCommands accepts as a command
MAX_MENU = 100  # commands setMyCommands accepts


async def register_commands(application: Application, bot: SummaryBot) -> None:
    """setMyCommands from the core's registry, so clients list /privacy and the rest:
    English for everyone, then once per other language for users whose Telegram is in
    it (its two-letter code: Telegram's language_code for pt_BR is "pt"). A failure is
    logged: the bot answers commands without a menu too."""
    for language in bot.languages.codes:
        commands = [
            BotCommand(name, description[:256])
            for name, description in bot.menu(language)  # (name, description) clients show in their menu
            if _COMMAND_NAME.fullmatch(name) and description.strip()
        ][:MAX_MENU]
        code = None if language == DEFAULT_LANGUAGE else language.partition("_")[0]
        try:
            await application.bot.set_my_commands(commands, language_code=code)
        except TelegramError as exc:
            log.warning("telegram: could not register the command menu (setMyCommands, %s): %s", language, exc)
