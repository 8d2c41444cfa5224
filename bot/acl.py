"""Who may run which command: one check, in the core, before any handler runs.

Every command has an access rule (errbot-style ACL), declared with the command in
bot.commands.REGISTRY: most are open to anyone; those that change or erase a chat's data
need a chat admin outside private chats. Whether the sender is
an admin is asked of the checker the chat's platform adapter registered at assembly
(`SummaryBot.permissions.register`). The check fails closed: no checker for the platform, a
checker that raises, times out or answers anything but True, a sender without an id, or a
command without a rule all mean "no".
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable, Iterable

from bot.commands import Command, Rule, access_rules
from bot.models import ChatRef, Incoming

log = logging.getLogger(__name__)

# (chat, sender's user id, the message) -> is the sender an admin of that chat?
AdminCheck = Callable[[ChatRef, str, Incoming], Awaitable[bool]]

ADMIN_CHECK_TIMEOUT = 10.0  # seconds a platform may take to say who is an admin

# Each command's rule, read from the one command registry (bot.commands.REGISTRY), which
# also writes /help and the platforms' menus.
ACCESS: dict[str, Rule] = access_rules()


class Decision(enum.Enum):
    ALLOWED = "allowed"
    NOT_ADMIN = "not an admin"
    UNKNOWN = "could not be checked"  # no checker, or it failed: denied


class Permissions:
    """The access rules, and the admin checks the platform adapters registered."""

    def __init__(self, access: dict[str, Rule] | None = None, *, timeout: float = ADMIN_CHECK_TIMEOUT):
        self.access = dict(ACCESS if access is None else access)
        self.timeout = timeout
        self._admin_checks: dict[str, AdminCheck] = {}

    def register(self, platform: str, check: AdminCheck) -> None:
        """How `platform` tells whether a user is an admin of one of its chats."""
        self._admin_checks[platform] = check

    def needs_admin(self, command: Command) -> bool:
        rule = self.access.get(command.name)
        return True if rule is None else rule(command)  # a command nobody gave a rule: admins only

    def unruled(self, names: Iterable[str]) -> list[str]:
        """Commands among `names` that have no access rule (each is admins-only)."""
        return [name for name in names if name not in self.access]

    async def decide(self, message: Incoming, command: Command) -> Decision:
        if message.chat.kind == "private" or not self.needs_admin(command):
            return Decision.ALLOWED
        chat = message.chat
        check = self._admin_checks.get(chat.platform)
        if check is None:
            log.warning("no admin check for %s chats: /%s refused in %s", chat.platform, command.name, chat.key)
            return Decision.UNKNOWN
        if not message.user_id:
            return Decision.NOT_ADMIN
        try:
            answer = await asyncio.wait_for(check(chat, message.user_id, message), self.timeout)
        except Exception:
            log.warning("admin check for %s in %s failed: /%s refused", message.user_id, chat.key, command.name,
                        exc_info=True)  # fmt: skip
            return Decision.UNKNOWN
        return Decision.ALLOWED if answer is True else Decision.NOT_ADMIN
