# summary-bot: Telegram/Slack article summaries. Default command: `summary-bot run`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    SUMMARY_BOT_SEEDS_DIR=/app/seeds \
    SUMMARY_BOT_SQLITE_PATH=/data/store.sqlite3

WORKDIR /app

# CPU-only torch first, so the project's dependency on torch does not pull a CUDA build.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY seeds ./seeds
RUN pip install . && useradd --create-home --uid 10001 bot && mkdir -p /data && chown bot /data

USER bot
VOLUME ["/data"]
EXPOSE 8080
# Webhooks (Telegram) and events (Slack) arrive on SUMMARY_BOT_HTTP_PORT (8080).
CMD ["summary-bot", "run"]
