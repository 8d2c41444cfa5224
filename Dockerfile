# summary-bot: Telegram/Slack article summaries. Default command: `summary-bot run`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    SUMMARY_BOT_SEEDS_DIR=/app/seeds \
    SUMMARY_BOT_SQLITE_PATH=/data/store.sqlite3 \
    SUMMARY_BOT_MODEL_CACHE_DIR=/opt/summary-bot/models

WORKDIR /app

# CPU-only torch first, as the README installs it, so the project's dependency on torch
# does not pull a multi-GB CUDA build.
RUN pip install torch==2.13.0 --extra-index-url https://download.pytorch.org/whl/cpu

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY seeds ./seeds
RUN pip install . && useradd --create-home --uid 10001 bot && mkdir -p /data && chown bot /data
# The int8 ONNX encoder is built here, once, so containers start warm and never import torch
# to serve. Root-owned and readable by `bot`: a graph that fails its checks at start-up is
# reported rather than rebuilt in place.
RUN summary-bot prepare-model && chmod -R a+rX /opt/summary-bot/models

USER bot
# The SQLite store of a single container lives in /data: mount a named volume there
# (`-v summary-data:/data`). No VOLUME line: with Redis (compose) nothing reads /data, and
# a VOLUME would leave an anonymous volume behind for every container.
EXPOSE 8080
# 200 once the process can do its job (the model loaded; on a front, Redis reachable).
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SUMMARY_BOT_HTTP_PORT', '8080'), timeout=4)" || exit 1
# Webhooks (Telegram) and events (Slack) arrive on SUMMARY_BOT_HTTP_PORT (8080).
CMD ["summary-bot", "run"]
