"""Bolt's OAuth stores (installations, OAuth state) kept in our own store, Redis or SQLite.

One hash per workspace (or Enterprise Grid org) keeps that workspace's data apart from
every other's: `slack:installation:{enterprise}:{team}` with the field `bot` (the latest
bot installation), `installer` (the latest installation by anyone) and `installer:{user}`
(each installing user's latest). Objects are stored the way slack-sdk's own file store
stores them: the JSON of their attributes, read back with their constructors.
"""

from __future__ import annotations

import json
import logging
import secrets

from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from bot.store import Store, keys

log = logging.getLogger(__name__)

BOT_FIELD = "bot"
LATEST_INSTALLER_FIELD = "installer"
OAUTH_STATE_TTL = 600  # seconds a person has to approve the installation in Slack


def _workspace_key(enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False) -> str:
    # An org-wide install is one installation for every workspace in the org.
    team = "-" if is_enterprise_install else (team_id or "-")
    return keys.slack_installation(enterprise_id or "-", team)


def _installer_field(user_id: str) -> str:
    return f"{LATEST_INSTALLER_FIELD}:{user_id}"


def _dump(model: Bot | Installation) -> bytes:
    return json.dumps(model.__dict__).encode()


class StoreInstallationStore(AsyncInstallationStore):
    def __init__(self, store: Store):
        self.store = store

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        key = _workspace_key(installation.enterprise_id, installation.team_id, installation.is_enterprise_install)
        await self.async_save_bot(installation.to_bot())
        data = _dump(installation)
        await self.store.hset(key, LATEST_INSTALLER_FIELD, data)
        await self.store.hset(key, _installer_field(installation.user_id), data)

    async def async_save_bot(self, bot: Bot) -> None:
        if bot.bot_token is None:
            return  # a user-token-only installation has no bot to remember
        key = _workspace_key(bot.enterprise_id, bot.team_id, bot.is_enterprise_install)
        await self.store.hset(key, BOT_FIELD, _dump(bot))

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        data = await self.store.hget(_workspace_key(enterprise_id, team_id, is_enterprise_install), BOT_FIELD)
        return Bot(**json.loads(data)) if data is not None else None

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        key = _workspace_key(enterprise_id, team_id, is_enterprise_install)
        field = _installer_field(user_id) if user_id is not None else LATEST_INSTALLER_FIELD
        data = await self.store.hget(key, field)
        if data is None:
            return None
        installation = Installation(**json.loads(data))
        if user_id is not None or installation.bot_token is None:
            # A user's own installation may predate the workspace's current bot token.
            bot = await self.async_find_bot(
                enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install
            )
            if bot is not None:
                installation.bot_id = bot.bot_id
                installation.bot_user_id = bot.bot_user_id
                installation.bot_token = bot.bot_token
                installation.bot_scopes = bot.bot_scopes
                installation.bot_refresh_token = bot.bot_refresh_token
                installation.bot_token_expires_at = bot.bot_token_expires_at
        return installation

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.store.hdel(_workspace_key(enterprise_id, team_id), BOT_FIELD)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        key = _workspace_key(enterprise_id, team_id)
        if user_id is not None:
            await self.store.hdel(key, _installer_field(user_id))
            return
        fields = [f for f in await self.store.hgetall(key) if f.startswith(LATEST_INSTALLER_FIELD)]
        if fields:
            await self.store.hdel(key, *fields)

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.store.delete(_workspace_key(enterprise_id, team_id))


class StoreOAuthStateStore(AsyncOAuthStateStore):
    """One-time OAuth `state` values: issued with an expiry, consumed at most once."""

    def __init__(self, store: Store, expiration_seconds: int = OAUTH_STATE_TTL):
        self.store = store
        self.expiration_seconds = expiration_seconds

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args, **kwargs) -> str:
        state = secrets.token_urlsafe(32)
        await self.store.set(self._key(state), b"1", ttl=self.expiration_seconds)
        return state

    async def async_consume(self, state: str) -> bool:
        # delete() counts only live keys, so an expired or already used state is refused.
        return await self.store.delete(self._key(state)) == 1

    @staticmethod
    def _key(state: str) -> str:
        return keys.slack_oauth_state(state)
