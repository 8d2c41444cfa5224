"""Log lines on stderr: text by default, or one JSON object a line (SUMMARY_BOT_LOG_FORMAT=json)
for log collectors that parse fields rather than text.

No token, message text or pasted text in a line at INFO or above: the libraries that would
write one are held back (httpx logs every request's URL at INFO, and Telegram's URLs carry the
bot token: `/bot<token>/getUpdates`; arq logs each job's arguments, a whole chat message, as
it starts it), and every line is scrubbed of what looks like a token (Telegram's, Slack's) or
a URL's query string, in case one slips through (an exception's text, say)."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Loggers that say too much below WARNING: each request's URL (with Telegram's token in it).
QUIET_LOGGERS = ("httpx", "httpcore", "hpack", "urllib3")
ARQ_JOB_START = "%6.2fs → %s(%s)%s"  # arq.worker's line as a job starts: its arguments are the message

_SECRETS = [
    (re.compile(r"\b(bot)?\d{5,}:[A-Za-z0-9_-]{30,}"), r"\1<telegram-token>"),  # Telegram: <bot id>:<secret>
    (re.compile(r"\bxox[a-z]-[A-Za-z0-9-]+"), "<slack-token>"),
    (re.compile(r"\bxapp-[A-Za-z0-9-]+"), "<slack-app-token>"),
    (re.compile(r"(https?://hooks\.slack\.com)/[^\s'\"]*"), r"\1/<response_url>"),
    (re.compile(r"(https?://[^\s?#'\"]+)\?[^\s#'\"]+"), r"\1?<query>"),  # a link's query may hold a key
]


def scrub(text: str) -> str:
    """`text` without what looks like a token, a Slack response_url or a URL's query string."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class Scrubber(logging.Filter):
    """Rewrites each record's message through `scrub` (and drops arq's job arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "arq.worker" and record.msg == ARQ_JOB_START and isinstance(record.args, tuple):
            record.args = (*record.args[:2], "…", *record.args[3:])
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        return True


class JsonFormatter(logging.Formatter):
    """{"time", "level", "logger", "message"} and, where there is one, "exception"."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)  # exc_text: scrubbed
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, log_format: str) -> None:
    """Send the root logger's records at `level` and above to stderr, as text or JSON,
    scrubbed (see the module); the chatty libraries only from WARNING unless at DEBUG."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(Scrubber())
    logging.basicConfig(level=level, handlers=[handler])
    quiet()
    if str(level).upper() != "DEBUG":
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)


def quiet() -> None:
    """arq's job-start lines lose their arguments at the source, so no handler sees them."""
    arq = logging.getLogger("arq.worker")
    if not any(isinstance(f, Scrubber) for f in arq.filters):
        arq.addFilter(Scrubber())
