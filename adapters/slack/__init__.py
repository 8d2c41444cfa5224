"""Slack: events, slash commands and unfurls through slack-bolt, rendered as Block Kit."""

from adapters.slack.service import SlackService

__all__ = ["SlackService"]
