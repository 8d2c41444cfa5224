"""Storage: one protocol (`Store`), two backends. `open_store` picks one from settings."""

from bot.store.base import Store

__all__ = ["Store", "open_store"]


async def open_store(settings) -> Store:
    """Redis when `SUMMARY_BOT_REDIS_URL` is set, else the embedded SQLite file."""
    if settings.redis_url:
        from bot.store.redis_store import RedisStore

        return await RedisStore.connect(settings.redis_url)
    from bot.store.sqlite_store import SQLiteStore

    return await SQLiteStore.open(settings.sqlite_path)
