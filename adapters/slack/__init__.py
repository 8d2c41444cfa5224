"""Slack: events, slash commands and unfurls through slack-bolt, rendered as Block Kit.

`SlackService` (service.py) assembles the adapter from one module per job:

    gate.py       the events path's door: signature, age and shape before Bolt sees a body
    listeners.py  Bolt's app and the gestures it listens to (a new gesture goes here)
    claims.py     one answer per event however often Slack delivers it (in-process)
    handoff.py    answering an acked event here or on a worker (`answer_job`)
    inprocess.py  answers run here: bounded, "busy" past the bound, once a minute a channel
    sending.py    posting to Slack: threads, response_urls, digests; 429s waited out
    unfurl.py     digests as link previews (link_shared -> chat.unfurl)
    oauth.py      installing the app in any number of workspaces
    lifecycle.py  app_uninstalled / tokens_revoked (tokens deleted, workspace erased); legacy chat keys moved

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
