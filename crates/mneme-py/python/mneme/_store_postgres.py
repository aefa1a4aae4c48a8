"""PostgresStore: entries in PostgreSQL in mneme-cache 1.0's schema (the engine's PostgresStore).
It connects on open(); pass a `dsn`, or a psycopg `connection=`/`pool=` whose settings it reuses."""

from ._native import PostgresStore

__all__ = ["PostgresStore"]
