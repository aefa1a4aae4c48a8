"""RedisStore: entries in Redis in mneme-cache 1.0's key layout (the engine's RedisStore). It
connects on open(); pass `url=` or a redis-py `client=` (its connection settings are used)."""

from ._native import RedisStore

__all__ = ["RedisStore"]
