"""Installing the app in any number of workspaces by OAuth (SUMMARY_BOT_SLACK_CLIENT_ID and
_CLIENT_SECRET set): Bolt's install page and redirect, with installations and OAuth states
kept in our own store, so every front and worker finds a workspace's token.

Without them the adapter serves the one workspace of SUMMARY_BOT_SLACK_BOT_TOKEN.
"""

from __future__ import annotations

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings

from adapters.slack.installation_store import MAKE_A_KEY, StoreInstallationStore, StoreOAuthStateStore, TokenCipher
from adapters.slack.settings import SlackSettings
from bot.config import ConfigError
from bot.store import Store

INSTALL_PATH = "/slack/install"
OAUTH_REDIRECT_PATH = "/slack/oauth_redirect"


def installs_by_oauth(settings: SlackSettings) -> bool:
    return bool(settings.slack_client_id and settings.slack_client_secret)


def token_cipher(settings: SlackSettings) -> TokenCipher:
    """The cipher of the workspaces' tokens at rest; without a usable key, start-up stops."""
    secret = settings.secret_key.get_secret_value() if settings.secret_key else ""
    if not secret.strip():
        raise ConfigError(f"summary-bot: installing Slack by OAuth needs SUMMARY_BOT_SECRET_KEY to encrypt tokens; make one with: {MAKE_A_KEY}")
    try:
        return TokenCipher(secret)
    except ValueError:
        raise ConfigError(f"summary-bot: SUMMARY_BOT_SECRET_KEY is not a list of Fernet keys; make one with: {MAKE_A_KEY}") from None


def oauth_settings(settings: SlackSettings, store: Store) -> AsyncOAuthSettings:
    return AsyncOAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret,
        scopes=settings.slack_scopes,
        installation_store=StoreInstallationStore(store, token_cipher(settings)),
        state_store=StoreOAuthStateStore(store),
        install_path=INSTALL_PATH,
        redirect_uri_path=OAUTH_REDIRECT_PATH,
    )


def add_oauth_routes(app: web.Application, flow: AsyncOAuthFlow) -> None:
    """The "Add to Slack" page and the page Slack sends the installing person back to."""

    async def install_page(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await flow.handle_installation(await to_bolt_request(request)))

    async def oauth_redirect(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await flow.handle_callback(await to_bolt_request(request)))

    app.router.add_get(flow.install_path, install_page)
    app.router.add_get(flow.redirect_uri_path, oauth_redirect)
