"""Schema migrations: numbered SQL files applied once each, recorded in `schema_migrations`."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from pathlib import Path

import asyncpg

# Any constant works; it only has to be the same for every process migrating this database.
_LOCK_KEY = 0x70686F746F73
_LOCK_RETRY_SECONDS = 0.1
# A file whose first line is this holds one statement that cannot run in a transaction.
NO_TRANSACTION = "-- migrate: no-transaction"


class MigrationError(Exception):
    """A migration already applied was edited afterwards, or a file is misnamed."""


@dataclass(frozen=True)
class Migration:
    version: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migrations_dir() -> Path:
    """`worker/_migrations` in an installed wheel, `migrations/` in a source checkout."""
    package = Path(__file__).parents[1]
    packaged = package / "_migrations"
    return packaged if packaged.is_dir() else package.parent / "migrations"


def discover(directory: Path | None = None) -> list[Migration]:
    files = sorted((directory or migrations_dir()).glob("*.sql"))
    if not files:
        raise MigrationError(f"no migrations found in {directory or migrations_dir()}")
    return [Migration(f.stem, f.read_text(encoding="utf-8")) for f in files]


async def check_schema(conn: asyncpg.Connection | asyncpg.Pool) -> None:
    """Refuse to work on a database whose schema is behind this code."""
    try:
        rows = await conn.fetch("SELECT version FROM schema_migrations")
    except asyncpg.UndefinedTableError:
        rows = []
    missing = [m.version for m in discover() if m.version not in {r["version"] for r in rows}]
    if missing:
        raise MigrationError(
            f"the database schema is behind this worker (missing {', '.join(missing)}):"
            " run `worker migrate` first"
        )


async def migrate(conn: asyncpg.Connection, directory: Path | None = None) -> list[str]:
    """Apply what is missing, each file in its own transaction; returns the versions applied.

    The advisory lock makes two processes migrating at once take turns; the second then finds
    everything applied.
    """
    # Asked again rather than waited for: a process blocked in pg_advisory_lock() holds a
    # snapshot, which CREATE INDEX CONCURRENTLY in the process migrating would wait for
    # (a deadlock).
    while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _LOCK_KEY):  # noqa: ASYNC110
        await asyncio.sleep(_LOCK_RETRY_SECONDS)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
        applied = {row["version"]: row["checksum"] for row in rows}
        return [m.version for m in discover(directory) if await _apply(conn, m, applied)]
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)


async def _apply(conn: asyncpg.Connection, migration: Migration, applied: dict[str, str]) -> bool:
    if migration.version in applied:
        if applied[migration.version] != migration.checksum:
            raise MigrationError(f"migration {migration.version} changed after it was applied")
        return False
    if migration.sql.startswith(NO_TRANSACTION):
        # CREATE INDEX CONCURRENTLY refuses to run in a transaction; IF NOT EXISTS makes a
        # rerun after a crash between the statement and the record harmless.
        await conn.execute(migration.sql)
        await _record(conn, migration)
        return True
    async with conn.transaction():
        await conn.execute(migration.sql)
        await _record(conn, migration)
    return True


async def _record(conn: asyncpg.Connection, migration: Migration) -> None:
    await conn.execute(
        "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
        migration.version,
        migration.checksum,
    )
