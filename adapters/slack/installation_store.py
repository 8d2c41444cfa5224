"""Bolt's OAuth stores (installations, OAuth state) kept in our own store, Redis or SQLite.

One hash per workspace (or Enterprise Grid org) keeps that workspace's data apart from
every other's: `slack:installation:{enterprise}:{team}` with the field `bot` (the latest
bot installation), `installer` (the latest installation by anyone) and `installer:{user}`
(each installing user's latest). Objects are stored the way slack-sdk's own file store
stores them: the JSON of their attributes, read back with their constructors.

Lookups follow slack-sdk's file and SQLAlchemy stores: a workspace of an Enterprise Grid org
is saved under `{enterprise}:{team}`, an org-wide install (`is_enterprise_install`, no team)
under `{enterprise}:-`. Our own code often knows only the team (a digest's chat names its
team, not its org), so a Grid workspace also leaves a pointer in `-:{team}` (field
`enterprise`: "E", or "E:org" for a workspace served by an org-wide install), and an org-wide
install lists the workspaces it was used in (`team:{T}` fields), so that its uninstall can
erase each of them.

Tokens at rest: with a cipher (SUMMARY_BOT_SECRET_KEY, required in OAuth mode) every token
field is stored as "fernet:" + a MultiFernet token; a plain token written before is still
read, and rewritten encrypted on the spot.
"""

from __future__ import annotations

import json
import logging
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from bot.store import Store, keys

log = logging.getLogger(__name__)

BOT_FIELD = "bot"
LATEST_INSTALLER_FIELD = "installer"
ENTERPRISE_FIELD = "enterprise"  # in `-:{team}`: the org a Grid workspace's installation is under
ORG_TEAM_PREFIX = "team:"  # in `{enterprise}:-`: a workspace an org-wide install served
OAUTH_STATE_TTL = 600  # seconds a person has to approve the installation in Slack

BOT_TOKEN_FIELDS = ("bot_token", "bot_refresh_token")
USER_TOKEN_FIELDS = ("user_token", "user_refresh_token")
TOKEN_FIELDS = BOT_TOKEN_FIELDS + USER_TOKEN_FIELDS
ENCRYPTED_PREFIX = "fernet:"
MAKE_A_KEY = 'python3 -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'


class TokenCipher:
    """Fernet over SUMMARY_BOT_SECRET_KEY, a comma-separated list: the first key encrypts,
    every key decrypts (put a new key first to rotate; drop an old one once rewritten)."""

    def __init__(self, secret_keys: str):
        parts = [part.strip() for part in secret_keys.split(",") if part.strip()]
        if not parts:
            raise ValueError("no key")
        self._fernet = MultiFernet([Fernet(part.encode()) for part in parts])  # ValueError: not a Fernet key
        self._first = Fernet(parts[0].encode())

    def encrypt(self, token: str) -> str:
        return ENCRYPTED_PREFIX + self._fernet.encrypt(token.encode()).decode()

    def decrypt(self, stored: str) -> tuple[str, bool]:
        """The token, and whether it should be written again (not under the first key)."""
        sealed = stored.removeprefix(ENCRYPTED_PREFIX).encode()
        token = self._fernet.decrypt(sealed).decode()
        try:
            self._first.decrypt(sealed)
            return token, False
        except InvalidToken:
            return token, True


def _workspace_key(enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False) -> str:
    # An org-wide install is one installation for every workspace in the org.
    team = "-" if is_enterprise_install else (team_id or "-")
    return keys.slack_installation(enterprise_id or "-", team)


def _org_teams(fields) -> list[str]:
    """The workspaces an org-wide install's hash lists (its `team:{T}` fields)."""
    return [name.removeprefix(ORG_TEAM_PREFIX) for name in fields if name.startswith(ORG_TEAM_PREFIX)]


def _installer_field(user_id: str) -> str:
    return f"{LATEST_INSTALLER_FIELD}:{user_id}"


class StoreInstallationStore(AsyncInstallationStore):
    def __init__(self, store: Store, cipher: TokenCipher | None = None):
        self.store = store
        self.cipher = cipher  # None: tokens kept as given (tests of the lookups alone)

    @property
    def logger(self) -> logging.Logger:
        return log

    # -- tokens at rest ------------------------------------------------------------------
    def _dump(self, model: Bot | Installation | dict) -> bytes:
        data = dict(model if isinstance(model, dict) else model.__dict__)
        for field in TOKEN_FIELDS:
            value = data.get(field)
            if self.cipher is not None and value and not value.startswith(ENCRYPTED_PREFIX):
                data[field] = self.cipher.encrypt(value)
        return json.dumps(data).encode()

    async def _read(self, key: str, field: str) -> dict | None:
        """A stored object's attributes with its tokens in clear; a plain (or old-key) token
        found makes every record of the workspace be rewritten encrypted under the first key."""
        raw = await self.store.hget(key, field)
        if raw is None:
            return None
        data, rewrite = self._opened(raw)
        if rewrite:
            for name, other in (await self.store.hgetall(key)).items():
                if name == BOT_FIELD or name.startswith(LATEST_INSTALLER_FIELD):
                    await self.store.hset(key, name, self._dump(self._opened(other)[0]))
        return data

    def _opened(self, raw: bytes) -> tuple[dict, bool]:
        """A record with its tokens decrypted, and whether it should be written again."""
        data = json.loads(raw)
        rewrite = False
        for name in TOKEN_FIELDS:
            value = data.get(name)
            if not value:
                continue
            if value.startswith(ENCRYPTED_PREFIX):
                if self.cipher is None:
                    data[name] = None
                    continue
                try:
                    data[name], stale = self.cipher.decrypt(value)
                except InvalidToken:
                    log.warning("a stored Slack token could not be decrypted with SUMMARY_BOT_SECRET_KEY (was its key removed?)")
                    data[name] = None
                    continue
                rewrite = rewrite or stale
            elif self.cipher is not None:
                rewrite = True  # stored before encryption was on
        return data, rewrite

    # -- where a workspace's installation is -------------------------------------------
    async def _locate(self, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None) -> str:
        """The hash holding the installation that serves (enterprise_id, team_id)."""
        if enterprise_id is None and team_id and not is_enterprise_install:
            pointer = await self.store.hget(_workspace_key(None, team_id), ENTERPRISE_FIELD)
            if pointer is not None:
                enterprise, _, org = pointer.decode().partition(":")
                return _workspace_key(enterprise, team_id, org == "org")
        return _workspace_key(enterprise_id, team_id, is_enterprise_install)

    async def _point(self, enterprise_id: str | None, team_id: str | None, org: bool) -> None:
        """Let a lookup by team alone find a Grid workspace's installation."""
        if not (enterprise_id and team_id):
            return
        pointer = f"{enterprise_id}:org" if org else enterprise_id
        here = _workspace_key(None, team_id)
        if await self.store.hget(here, ENTERPRISE_FIELD) != pointer.encode():
            await self.store.hset(here, ENTERPRISE_FIELD, pointer.encode())
        if org:
            await self.store.hset(_workspace_key(enterprise_id, None, True), ORG_TEAM_PREFIX + team_id, b"1")

    async def teams_served(self, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None) -> list[str]:
        """The workspaces an installation serves: its team, or every workspace an org-wide
        install was used in."""
        if not is_enterprise_install:
            return [team_id] if team_id else []
        teams = _org_teams(await self.store.hgetall(_workspace_key(enterprise_id, None, True)))
        return sorted(set(teams) | ({team_id} if team_id else set()))

    # -- AsyncInstallationStore --------------------------------------------------------
    async def async_save(self, installation: Installation) -> None:
        key = _workspace_key(installation.enterprise_id, installation.team_id, installation.is_enterprise_install)
        await self.async_save_bot(installation.to_bot())
        data = self._dump(installation)
        await self.store.hset(key, LATEST_INSTALLER_FIELD, data)
        await self.store.hset(key, _installer_field(installation.user_id), data)
        if not installation.is_enterprise_install:
            await self._point(installation.enterprise_id, installation.team_id, False)

    async def async_save_bot(self, bot: Bot) -> None:
        if bot.bot_token is None:
            return  # a user-token-only installation has no bot to remember
        key = _workspace_key(bot.enterprise_id, bot.team_id, bot.is_enterprise_install)
        await self.store.hset(key, BOT_FIELD, self._dump(bot))

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        key = await self._locate(enterprise_id, team_id, is_enterprise_install)
        data = await self._read(key, BOT_FIELD)
        if data is None or not data.get("bot_token"):
            return None
        if is_enterprise_install:
            await self._point(enterprise_id, team_id, True)
        return Bot(**data)

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        key = await self._locate(enterprise_id, team_id, is_enterprise_install)
        field = _installer_field(user_id) if user_id is not None else LATEST_INSTALLER_FIELD
        data = await self._read(key, field)
        if data is None:
            return None
        installation = Installation(**data)
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
        elif is_enterprise_install:
            await self._point(enterprise_id, team_id, True)
        return installation

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        """The bot token is gone: its record, and its copy in every installer record."""
        key = await self._locate(enterprise_id, team_id, team_id is None and enterprise_id is not None)
        await self.store.hdel(key, BOT_FIELD)
        await self._strip(key, BOT_TOKEN_FIELDS, lambda data: True)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        key = await self._locate(enterprise_id, team_id, team_id is None and enterprise_id is not None)
        if user_id is not None:
            await self.store.hdel(key, _installer_field(user_id))
            # The latest installation may be theirs: it stays (it holds the bot), their token goes.
            await self._strip(key, USER_TOKEN_FIELDS, lambda data: data.get("user_id") == user_id)
            return
        fields = [f for f in await self.store.hgetall(key) if f.startswith(LATEST_INSTALLER_FIELD)]
        if fields:
            await self.store.hdel(key, *fields)

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        org = team_id is None and enterprise_id is not None
        key = await self._locate(enterprise_id, team_id, org)
        teams = _org_teams(await self.store.hgetall(key))
        pointers = [_workspace_key(None, team) for team in teams + ([team_id] if team_id else [])]
        await self.store.delete(key, *[p for p in pointers if p != key])

    async def _strip(self, key: str, fields: tuple[str, ...], whose) -> None:
        for name, raw in (await self.store.hgetall(key)).items():
            if not name.startswith(LATEST_INSTALLER_FIELD):
                continue
            data = json.loads(raw)
            if whose(data) and any(data.get(field) for field in fields):
                await self.store.hset(key, name, json.dumps({**data, **dict.fromkeys(fields)}).encode())


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
