"""Slack: events, slash commands and unfurls through slack-bolt, rendered as Block Kit.

`SlackSettings` (settings.py) holds SUMMARY_BOT_SLACK_*; the stand-in Web API and
`summary-bot bench slack` are in the benchmarks package.
"""

from __future__ import annotations


def __getattr__(name: str):
    # Imported on first use, so that commands which never talk to Slack (and reading
    # SlackSettings) do not pay for importing slack-bolt.
    if name == "SlackService":
        from adapters.slack.service import SlackService

        return SlackService
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["SlackService"]
