"""Schema migrations: numbered SQL files applied once each, recorded in `schema_migrations`.

A file runs in one transaction, or, when its first line is `-- migrate: no-transaction`, one
statement at a time outside any (`directives.py`): that is how an index is built on a busy table
without locking it. Every statement runs under a short `lock_timeout`, retried later when the
lock cannot be had (`lock_policy.py`), so a migration never queues ahead of the traffic.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import asyncpg
import structlog

from worker.database.directives import Statement, read_header, split_statements
from worker.database.lock_policy import LockPolicy, LocksUnavailable, patiently

log = structlog.get_logger()

# Any constant works; it only has to be the same for every process migrating this database.
_LOCK_KEY = 0x70686F746F73
# How often a second `worker migrate` looks whether the first one is done.
_TURN_POLL_SECONDS = 0.5


class MigrationError(Exception):
    """A migration already applied was edited afterwards, a file is wrong, or a migration
    could not have its locks."""


@dataclass(frozen=True)
class Migration:
    version: str
    sql: str
    transactional: bool = True
    # Checksums of former texts of this file, which databases may have recorded.
    replaces: tuple[str, ...] = ()

    @classmethod
    def read(cls, path: Path) -> Migration:
        sql = path.read_text(encoding="utf-8")
        try:
            header = read_header(sql)
            migration = cls(path.stem, sql, header.transactional, header.replaces)
            if not migration.transactional:
                _ = migration.statements  # a wrong statement is refused before anything runs
        except ValueError as exc:
            raise MigrationError(f"migration {path.name}: {exc}") from None
        return migration

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @cached_property
    def statements(self) -> list[Statement]:
        return split_statements(self.sql)

    @property
    def recorded_checksum(self) -> str:
        """What a database applying this file records: the former text's checksum if it has one
        (the same schema, and what the previous release's runner expects)."""
        return self.replaces[0] if self.replaces else self.checksum

    def accepts(self, recorded: str) -> bool:
        return recorded == self.checksum or recorded in self.replaces


def migrations_dir() -> Path:
    """`worker/_migrations` in an installed wheel, `migrations/` in a source checkout."""
    package = Path(__file__).parents[1]
    packaged = package / "_migrations"
    return packaged if packaged.is_dir() else package.parent / "migrations"


def discover(directory: Path | None = None) -> list[Migration]:
    files = sorted((directory or migrations_dir()).glob("*.sql"))
    if not files:
        raise MigrationError(f"no migrations found in {directory or migrations_dir()}")
    return [Migration.read(f) for f in files]


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


async def migrate(
    conn: asyncpg.Connection, directory: Path | None = None, policy: LockPolicy | None = None
) -> list[str]:
    """Apply what is missing, in order; returns the versions applied.

    The advisory lock makes two processes migrating at once take turns; the second then finds
    everything applied.
    """
    policy = policy or LockPolicy()
    migrations = discover(directory)
    await _take_turn(conn)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
        applied = {row["version"]: row["checksum"] for row in rows}
        await conn.execute("SELECT set_config('lock_timeout', $1, false)", policy.lock_timeout)
        return [m.version for m in migrations if await _apply(conn, m, applied, policy)]
    finally:
        await conn.execute("RESET lock_timeout")
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)


async def _take_turn(conn: asyncpg.Connection) -> None:
    """Wait for another process migrating this database to be done, without waiting in a
    statement: a session blocked in pg_advisory_lock() holds a snapshot, which the other's
    CREATE INDEX CONCURRENTLY would wait for, while it waits for that other: a deadlock."""
    said = False
    while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _LOCK_KEY):
        if not said:
            log.info("another process is migrating this database; waiting for it")
            said = True
        await asyncio.sleep(_TURN_POLL_SECONDS)


async def _apply(
    conn: asyncpg.Connection, migration: Migration, applied: dict[str, str], policy: LockPolicy
) -> bool:
    if migration.version in applied:
        if not migration.accepts(applied[migration.version]):
            raise MigrationError(f"migration {migration.version} changed after it was applied")
        return False
    started = time.monotonic()
    try:
        if migration.transactional:
            retries = await _apply_in_transaction(conn, migration, policy)
        else:
            retries = await _apply_alone(conn, migration, policy)
    except LocksUnavailable as exc:
        raise MigrationError(_unavailable(migration, policy, exc)) from exc
    log.info(
        "migration applied",
        version=migration.version,
        transaction=migration.transactional,
        seconds=round(time.monotonic() - started, 3),
        lock_retries=retries,
    )
    return True


async def _apply_in_transaction(
    conn: asyncpg.Connection, migration: Migration, policy: LockPolicy
) -> int:
    async def run() -> None:
        async with conn.transaction():
            await conn.execute(migration.sql)
            await _record(conn, migration)

    return await patiently(conn, policy, run, version=migration.version)


async def _apply_alone(conn: asyncpg.Connection, migration: Migration, policy: LockPolicy) -> int:
    """Each statement in its own implicit transaction; recorded once they all succeeded. A file
    cut half-way (a crash, a lock never had) runs again from its first statement next time."""
    retries = 0
    for statement in migration.statements:

        async def run(statement: Statement = statement) -> None:
            if statement.builds_index:
                await _drop_if_invalid(conn, migration, statement.builds_index)
            await conn.execute(statement.sql)

        retries += await patiently(
            conn, policy, run, version=migration.version, statement=statement.summary
        )
    await _record(conn, migration)
    return retries


async def _drop_if_invalid(conn: asyncpg.Connection, migration: Migration, index: str) -> None:
    """A CREATE INDEX CONCURRENTLY that was cut (crash, lock timeout, cancel) leaves its index
    behind, INVALID: unused by queries, yet maintained on every write, and `IF NOT EXISTS` would
    keep it. Drop it, without locking the table, so that it is built again."""
    invalid = await conn.fetchval(
        "SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)", index
    )
    if invalid:
        log.warning(
            "dropping an invalid index left by a cut build", version=migration.version, index=index
        )
        # The name comes from the migration file, as written there (quoted if it needs to be).
        await conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {index}")


async def _record(conn: asyncpg.Connection, migration: Migration) -> None:
    await conn.execute(
        "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
        migration.version,
        migration.recorded_checksum,
    )


def _unavailable(migration: Migration, policy: LockPolicy, exc: LocksUnavailable) -> str:
    kept = (
        "nothing of it was applied"
        if migration.transactional
        else "its statements before that one are applied and will be skipped or redone"
    )
    holders = "; ".join(exc.holders) or "none now"
    return (
        f"migration {migration.version} could not have its locks: {exc.error}, {exc.tries} tries"
        f" {policy.timeout_seconds:g} s each; {kept}. Sessions in a long transaction: {holders}."
        " Run `worker migrate` again once they are done, or raise"
        " WORKER_MIGRATE_LOCK_TIMEOUT_SECONDS / WORKER_MIGRATE_LOCK_RETRIES"
    )
