"""Settings from `SUMMARY_BOT_*` environment variables (pydantic-settings).

Every field is documented in README.md's configuration table. `load_settings()` turns a
bad value into one line that names the variable, for start-up. These are the core's
settings; each chat platform's live with its adapter (`adapters/telegram/settings.py`,
`adapters/slack/settings.py`), read the same way with `load_settings(TheirSettings)`.
Nothing else reads the environment.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal, TypeVar
from urllib.parse import urlsplit

from platformdirs import user_data_dir
from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "SUMMARY_BOT_"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _default_sqlite_path() -> Path:
    return Path(user_data_dir("summary-bot")) / "store.sqlite3"


def split_commas(value):
    """A comma-separated environment value as a list; a list as it is."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _endpoint(text: str) -> tuple[IPAddress, int]:
    """"127.0.0.1:8000" or "[::1]:8000" as (address, port)."""
    parts = urlsplit(f"//{text}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:  # a port that is not a number, or out of range
        host, port = None, None
    if not host or port is None:
        raise ValueError(f"expected IP:port, got {text!r}")
    return ipaddress.ip_address(host), port


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    # storage
    redis_url: str | None = None
    redis_connect_timeout: float = Field(5.0, gt=0)  # seconds to open a connection to Redis
    redis_socket_timeout: float = Field(10.0, gt=0)  # seconds a Redis command may wait for its answer
    sqlite_path: Path = Field(default_factory=_default_sqlite_path)

    # fetching
    fetch_allow_private: Annotated[list[Network], NoDecode] = []
    # single local servers (IP:port) allowed without their whole network, e.g. the sample site
    fetch_allow_endpoints: Annotated[list[tuple[IPAddress, int]], NoDecode] = []
    fetch_max_bytes: int = Field(5_000_000, gt=0)
    fetch_timeout: float = Field(15.0, gt=0)
    fetch_max_redirects: int = Field(5, ge=0, le=20)
    fetch_user_agent: str = "summary-bot/0.1 (+https://github.com/summary-bot/summary-bot)"

    # extraction and summarizing
    extract_timeout: float = Field(10.0, gt=0)  # seconds of extraction work per page
    extract_workers: int = Field(2, ge=1, le=32)  # extraction processes
    extract_queue_size: int = Field(32, ge=0)  # pages waiting for an extraction process at most; beyond: "busy"
    min_article_chars: int = Field(200, ge=0)
    max_links_per_message: int = Field(3, ge=1, le=10)
    summary_length: Literal["short", "medium", "long"] = "medium"
    summarizer: Literal["extractive", "abstractive", "llm"] = "extractive"
    summarizer_model: Path | None = None  # local seq2seq folder, for "abstractive"
    # "llm": an OpenAI-compatible server (Ollama, llama.cpp server, vLLM) writes the points,
    # each checked against the article (bot/summarize/llm.py); the extractive one is the fallback
    llm_url: str | None = Field(None, validate_default=True)  # base URL, e.g. http://localhost:11434/v1
    llm_model: str | None = Field(None, validate_default=True)  # the server's model name, e.g. qwen2.5:7b-instruct
    llm_api_key: SecretStr | None = None  # if the server wants one (Ollama and llama.cpp do not)
    llm_timeout: float = Field(20.0, gt=0, le=600)  # seconds one request to the server may take
    llm_concurrency: int = Field(4, ge=1, le=256)  # requests to the server at once, per process
    llm_max_input_chars: int = Field(12_000, ge=500, le=500_000)  # article text sent (and checked against)
    llm_grounding_threshold: float = Field(0.51, ge=0, le=1)  # see `summary-bot bench grounding`
    encoder_model: Path | None = None  # local sentence-encoder folder; default: packaged MiniLM
    encoder_float32: bool = False  # torch backend: float32 even where bfloat16 is native
    # "onnx": the int8 graph on ONNX Runtime (no torch on the serving path); "torch": the
    # packaged weights through torch/transformers, as before (for comparison)
    encoder_backend: Literal["onnx", "torch"] = "onnx"
    encoder_threads: int = Field(0, ge=0, le=256)  # batches at once, a thread each; 0: all cores, 1 in `summary-bot worker`
    model_cache_dir: Path | None = None  # where the ONNX graph is kept; default: the user's cache dir
    model_queue_size: int = Field(64, ge=1)  # model jobs waiting at most; beyond: "busy, try again"
    model_job_budget: float = Field(30.0, gt=0)  # seconds one model job may run
    article_cache_ttl: int = Field(24 * 3600, gt=0)
    summary_cache_ttl: int = Field(30 * 24 * 3600, gt=0)

    # chat behaviour
    user_rate_limit: int = Field(10, ge=0)  # summaries per user per minute; 0 = unlimited
    related_scope: Literal["chat", "workspace", "global"] = "workspace"
    related_memory_size: int = Field(10_000, ge=1)  # articles remembered per scope, newest kept
    related_retention_days: float = Field(90, gt=0)  # a remembered article not shared again this long is dropped
    chat_retention_days: float = Field(365, gt=0)  # a chat idle this long, with no subscription or feed, is erased
    length_button_days: float = Field(7, gt=0, le=365)  # Shorter/Longer under a digest work this long after their last use
    privacy_url: str | None = None  # the operator's privacy policy, linked by /privacy (default: PRIVACY.md)

    # scaling out: "inprocess" (the default) or "external" (`summary-bot worker` processes
    # on SUMMARY_BOT_REDIS_URL do the work; `summary-bot run` only receives and enqueues)
    workers: Literal["inprocess", "external"] = "inprocess"
    job_timeout: float = Field(60.0, gt=0)  # one link's fetch+extract+summarize; see adapters/queue.py
    worker_concurrency: int = Field(10, ge=1)  # messages one worker handles at once (see adapters/worker.py)

    # HTTP server shared by webhooks (Telegram) and events (Slack)
    http_host: str = "0.0.0.0"
    http_port: int = Field(8080, ge=0, le=65535)

    # daily digest
    digest_send_empty: bool = False
    history_days: int = Field(7, ge=1)
    digest_grace_hours: float = Field(6.0, ge=0)

    # the sample pages `summary-bot chat` serves (default: the checkout's seeds/, ./seeds)
    seeds_dir: Path | None = None

    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"  # json: one object a line, for log collectors

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value):
        if value is None or not value.strip():
            return None
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError("expected redis://host:port/db, rediss://… or unix:///path/to/redis.sock")
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise ValueError("the port is not a number") from None
        if parts.scheme == "unix" and not parts.path:
            raise ValueError("unix:// needs the socket's path, e.g. unix:///run/redis.sock")
        database = parts.path.strip("/")
        if parts.scheme != "unix" and database and not database.isdigit():
            raise ValueError(f"the database {database!r} is not a number")
        return value

    @field_validator("seeds_dir")
    @classmethod
    def _check_seeds_dir(cls, value):
        if value is not None and not value.is_dir():
            raise ValueError(f"{value} is not a folder")
        return value

    @field_validator("llm_url")
    @classmethod
    def _check_llm_url(cls, value, info: ValidationInfo):
        value = (value or "").strip() or None
        if value is None:
            if info.data.get("summarizer") == "llm":
                raise ValueError("SUMMARY_BOT_SUMMARIZER=llm needs the server's OpenAI-compatible base URL, e.g. http://localhost:11434/v1")
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected the server's base URL, e.g. http://localhost:11434/v1")
        return value

    @field_validator("llm_model")
    @classmethod
    def _check_llm_model(cls, value, info: ValidationInfo):
        value = (value or "").strip() or None
        if value is None and info.data.get("summarizer") == "llm":
            raise ValueError("SUMMARY_BOT_SUMMARIZER=llm needs the model's name on the server, e.g. qwen2.5:7b-instruct")
        return value

    @field_validator("privacy_url")
    @classmethod
    def _check_privacy_url(cls, value):
        value = (value or "").strip() or None
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
                raise ValueError("expected the policy's web address, e.g. https://example.org/privacy")
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value):
        level = str(value).strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("fetch_allow_private", mode="before")
    @classmethod
    def _parse_networks(cls, value):
        return [ipaddress.ip_network(v, strict=False) for v in split_commas(value)]

    @field_validator("fetch_allow_endpoints", mode="before")
    @classmethod
    def _parse_endpoints(cls, value):
        return [_endpoint(v) if isinstance(v, str) else v for v in split_commas(value)]


class ConfigError(SystemExit):
    """Start-up stops with one line naming the bad variable."""


AnySettings = TypeVar("AnySettings", bound=BaseSettings)


def load_settings(kind: type[AnySettings] = Settings, /, **overrides) -> AnySettings:
    """`kind` (the core's Settings, or a platform's) from the environment and `overrides`;
    a bad value stops with one line naming its variable (ConfigError)."""
    try:
        return kind(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        prefix = kind.model_config.get("env_prefix", ENV_PREFIX)
        name = prefix + str(err["loc"][0]).upper() if err["loc"] else prefix
        raise ConfigError(f"summary-bot: invalid {name}: {err['msg']}") from None
