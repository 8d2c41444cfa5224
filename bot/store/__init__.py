"""Storage: one protocol (`Store`), two backends. `open_store` picks one from settings."""

from urllib.parse import urlsplit

from bot.config import ConfigError
from bot.store.base import Store

__all__ = ["Store", "open_store"]


async def open_store(settings) -> Store:
    """Redis when `SUMMARY_BOT_REDIS_URL` is set, else the embedded SQLite file. A Redis
    server that does not answer stops start-up with one line naming it (ConfigError)."""
    if settings.redis_url:
        import redis.exceptions

        from bot.store.redis_store import RedisStore

        try:
            return await RedisStore.connect(
                settings.redis_url,
                connect_timeout=settings.redis_connect_timeout,
                socket_timeout=settings.redis_socket_timeout,
            )
        except (redis.exceptions.RedisError, OSError) as exc:
            raise ConfigError(
                f"summary-bot: cannot reach Redis at {_server_of(settings.redis_url)} "
                f"(SUMMARY_BOT_REDIS_URL): {_one_line(exc)}"
            ) from None
    from bot.store.sqlite_store import SQLiteStore

    return await SQLiteStore.open(settings.sqlite_path)


def _server_of(url: str) -> str:
    """Where `url` points, without its password: "host:port", or the socket's path."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    try:
        port = parts.port or 6379
    except ValueError:
        port = "?"
    return f"{parts.hostname or 'localhost'}:{port}"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
