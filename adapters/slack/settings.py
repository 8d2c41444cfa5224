"""Slack's settings: `SUMMARY_BOT_SLACK_*` environment variables (pydantic-settings), read
like the core's (`bot.config.load_settings(SlackSettings)`: a bad value is one line)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.config import ENV_PREFIX, split_commas


class SlackSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    slack_bot_token: str | None = None  # one workspace
    slack_signing_secret: str | None = None  # events over HTTP
    slack_api_url: str = "https://slack.com/api/"
    slack_app_token: str | None = None  # Socket Mode
    slack_client_id: str | None = None  # with the secret: installs by OAuth, any number of workspaces
    slack_client_secret: str | None = None
    # SUMMARY_BOT_SECRET_KEY: Fernet key(s), comma-separated, the first encrypts; OAuth tokens at rest
    secret_key: SecretStr | None = None
    slack_unfurl_domains: Annotated[list[str], NoDecode] = []
    # in-process: events answered at once (as many again wait; past that, "busy"), as Telegram's 64 updates
    slack_concurrency: int = Field(64, ge=1)
    # bot scopes asked for when a workspace installs the app (OAuth)
    slack_scopes: Annotated[list[str], NoDecode] = [
        "app_mentions:read", "channels:history", "groups:history", "im:history", "mpim:history",
        "chat:write", "commands", "links:read", "links:write",
    ]  # fmt: skip

    @property
    def configured(self) -> bool:
        return bool(self.slack_bot_token or (self.slack_client_id and self.slack_client_secret))

    @field_validator("slack_unfurl_domains", mode="before")
    @classmethod
    def _parse_domains(cls, value):
        return [d.lower() for d in split_commas(value)]

    @field_validator("slack_scopes", mode="before")
    @classmethod
    def _parse_scopes(cls, value):
        return split_commas(value)
