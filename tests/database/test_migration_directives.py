"""The runner's directives (`-- migrate: no-transaction`, `-- migrate: replaces`) and its patience
with locks (`lock_timeout`, retries), on the real PostgreSQL."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
import sqlparse
from structlog.testing import capture_logs

from worker.database.lock_policy import LockPolicy
from worker.database.migrations import Migration, MigrationError, discover, migrate, migrations_dir
from worker.settings import Settings

pytestmark = pytest.mark.services

FORMER = Path(__file__).parent / "former"
QUICK = LockPolicy(timeout_seconds=0.2, retries=30, first_pause_seconds=0.05)


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    yield connection
    await connection.close()


def _with(tmp_path: Path, name: str, sql: str) -> Path:
    """The project's migrations and one more file."""
    directory = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), directory)
    (directory / name).write_text(sql, encoding="utf-8")
    return directory


async def _eventually(check: Callable[[], Awaitable[bool] | bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if await result if isinstance(result, Awaitable) else result:
            return
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def _valid(conn: asyncpg.Connection, index: str) -> bool | None:
    valid: bool | None = await conn.fetchval(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)", index
    )
    return valid


async def _recorded(conn: asyncpg.Connection, version: str) -> bool:
    return bool(
        await conn.fetchval("SELECT count(*) FROM schema_migrations WHERE version = $1", version)
    )


async def test_statements_run_one_by_one_outside_a_transaction(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    # Sent as one query, PostgreSQL would refuse the second CONCURRENTLY (implicit transaction).
    directory = _with(
        tmp_path,
        "9001_two_builds.sql",
        "-- migrate: no-transaction\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS probe_a ON photo_requests (attempts);\n"
        "-- a comment; and another statement\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS probe_b ON photo_requests (updated_at);\n",
    )
    assert await migrate(conn, directory, QUICK) == ["9001_two_builds"]
    assert await _valid(conn, "probe_a")
    assert await _valid(conn, "probe_b")
    assert await _recorded(conn, "9001_two_builds")


async def test_an_invalid_index_left_by_a_cut_build_is_built_again(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    # A build cut half-way leaves its index INVALID. Cut one the way a crash or a lock timeout
    # does: an open writer makes the build wait, and lock_timeout ends it.
    writer = await asyncpg.connect(database_url)
    try:
        await writer.execute("BEGIN")
        await writer.execute("UPDATE photo_requests SET attempts = attempts")
        await conn.execute("SET lock_timeout = '100ms'")
        with pytest.raises(asyncpg.LockNotAvailableError):
            await conn.execute("CREATE INDEX CONCURRENTLY probe_cut ON photo_requests (attempts)")
        await conn.execute("RESET lock_timeout")
    finally:
        await writer.close()
    assert await _valid(conn, "probe_cut") is False

    directory = _with(
        tmp_path,
        "9001_resumed.sql",
        "-- migrate: no-transaction\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS probe_cut ON photo_requests (attempts);\n",
    )
    with capture_logs() as logs:
        assert await migrate(conn, directory, QUICK) == ["9001_resumed"]
    assert await _valid(conn, "probe_cut") is True
    assert any(e["event"] == "dropping an invalid index left by a cut build" for e in logs)


async def test_a_file_cut_half_way_is_not_recorded_and_resumes(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    directory = _with(
        tmp_path,
        "9001_half.sql",
        "-- migrate: no-transaction\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS probe_first ON photo_requests (attempts);\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS probe_second ON probe_later (id);\n",
    )
    with pytest.raises(asyncpg.UndefinedTableError):
        await migrate(conn, directory, QUICK)
    assert await _valid(conn, "probe_first") is True  # kept: it was its own transaction
    assert not await _recorded(conn, "9001_half")

    await conn.execute("CREATE TABLE probe_later (id integer)")
    assert await migrate(conn, directory, QUICK) == ["9001_half"]
    assert await _valid(conn, "probe_second") is True


@pytest.mark.parametrize(
    ("holder", "sql"),
    [
        # A reader in a long transaction holds ACCESS SHARE: ADD COLUMN wants ACCESS EXCLUSIVE.
        ("SELECT count(*) FROM photo_requests", "ALTER TABLE photo_requests ADD probe integer;"),
        # ANALYZE holds SHARE UPDATE EXCLUSIVE, which CREATE INDEX CONCURRENTLY wants too.
        (
            "LOCK TABLE photo_requests IN SHARE UPDATE EXCLUSIVE MODE",
            "-- migrate: no-transaction\n"
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS probe ON photo_requests (attempts);",
        ),
    ],
    ids=["transaction", "no-transaction"],
)
async def test_a_migration_waits_politely_and_goes_on_once_the_lock_is_free(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path, holder: str, sql: str
) -> None:
    directory = _with(tmp_path, "9001_blocked.sql", sql + "\n")
    blocker = await asyncpg.connect(database_url)
    intake = await asyncpg.connect(database_url)
    try:
        await blocker.execute("BEGIN")
        await blocker.execute(holder)
        with capture_logs() as logs:
            migrating = asyncio.create_task(migrate(conn, directory, QUICK))
            await _eventually(
                lambda: any(e["event"] == "migration waiting for a lock" for e in logs)
            )
            # The migration gave up its place in the queue: intake's insert goes through while
            # the long transaction still holds the table (without lock_timeout it would wait
            # behind the migration until that transaction ends).
            await asyncio.wait_for(
                intake.execute(
                    "INSERT INTO photo_requests (message_id, code_oc, next_attempt_at)"
                    " VALUES (gen_random_uuid(), 'OC01', now())"
                ),
                timeout=10,
            )
            assert not migrating.done()
            await blocker.execute("ROLLBACK")
            assert await asyncio.wait_for(migrating, timeout=60) == ["9001_blocked"]
    finally:
        await blocker.close()
        await intake.close()
    waits = [e for e in logs if e["event"] == "migration waiting for a lock"]
    assert waits[0]["version"] == "9001_blocked"
    assert "lock timeout" in waits[0]["error"]
    applied = next(e for e in logs if e["event"] == "migration applied")
    assert applied["lock_retries"] >= 1


async def test_a_lock_never_had_fails_clearly_after_the_retries(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    directory = _with(
        tmp_path, "9001_blocked.sql", "ALTER TABLE photo_requests ADD probe integer;\n"
    )
    blocker = await asyncpg.connect(database_url, server_settings={"application_name": "report"})
    try:
        await blocker.execute("BEGIN")
        await blocker.execute("SELECT count(*) FROM photo_requests")
        with pytest.raises(MigrationError) as raised:
            await migrate(conn, directory, LockPolicy(0.2, retries=2, first_pause_seconds=0.05))
    finally:
        await blocker.close()
    message = str(raised.value)
    assert "migration 9001_blocked could not have its locks" in message
    assert "3 tries" in message
    assert "report, idle in transaction" in message  # who held it
    assert not await _recorded(conn, "9001_blocked")
    assert not await conn.fetchval(
        "SELECT count(*) FROM information_schema.columns WHERE column_name = 'probe'"
    )


async def _schema(dsn: str) -> dict[str, set[tuple[str, ...]]]:
    conn = await asyncpg.connect(dsn)
    try:
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
        )
        columns = await conn.fetch(
            "SELECT table_name, column_name, data_type, ordinal_position::text"
            " FROM information_schema.columns WHERE table_schema = 'public'"
        )
        options = await conn.fetch(
            "SELECT relname, array_to_string(reloptions, ',') FROM pg_class"
            " WHERE relnamespace = 'public'::regnamespace AND reloptions IS NOT NULL"
        )
        invalid = await conn.fetch(
            "SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid"
        )
    finally:
        await conn.close()
    return {
        name: {tuple(str(v) for v in row.values()) for row in rows}
        for name, rows in {
            "indexes": indexes,
            "columns": columns,
            "options": options,
            "invalid": invalid,
        }.items()
    }


async def test_a_database_that_applied_the_former_files_upgrades_to_the_same_schema(
    empty_database: str, database_url: str, tmp_path: Path
) -> None:
    former = tmp_path / "former"
    shutil.copytree(migrations_dir(), former)
    rewritten = {path.stem for path in FORMER.glob("*.sql")}
    for path in FORMER.glob("*.sql"):
        shutil.copy(path, former / path.name)
    conn = await asyncpg.connect(empty_database)
    try:
        await migrate(conn, former)
        applied = await migrate(conn)  # the current files: the rewritten ones are accepted
    finally:
        await conn.close()
    assert not rewritten & set(applied)
    # `database_url` is a fresh install of the current files.
    assert await _schema(empty_database) == await _schema(database_url)


async def test_the_previous_release_still_finds_its_files_unchanged(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    """A rollback, or an old replica restarting during a rolling deploy, runs the former files on
    a database the current ones migrated (`conn`: a fresh install): no checksum may differ."""
    former = tmp_path / "former"
    shutil.copytree(migrations_dir(), former)
    for path in FORMER.glob("*.sql"):
        shutil.copy(path, former / path.name)
    assert await migrate(conn, former) == []


def test_each_rewritten_file_accepts_its_former_text() -> None:
    current = {m.version: m for m in discover()}
    for path in FORMER.glob("*.sql"):
        former = Migration.read(path)
        assert current[former.version].accepts(former.checksum), former.version
        assert not current[former.version].transactional


@pytest.mark.parametrize(
    ("sql", "error"),
    [
        ("-- a comment\n-- migrate: no-transaction\nSELECT 1;", "must be the first line"),
        ("-- migrate: no-transactions\nSELECT 1;", "unknown directive"),
        ("SELECT 1;\n-- migrate: replaces " + "0" * 64 + "\n", "not in the header"),
        (
            "-- migrate: no-transaction\nCREATE INDEX CONCURRENTLY probe ON photos (sha256);",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS <name>",
        ),
        (
            "-- migrate: no-transaction\nCREATE INDEX IF NOT EXISTS probe ON photos (sha256);",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS <name>",
        ),
    ],
)
def test_a_wrong_file_is_refused_before_anything_runs(tmp_path: Path, sql: str, error: str) -> None:
    (tmp_path / "9001_wrong.sql").write_text(sql)
    with pytest.raises(MigrationError, match=r"9001_wrong\.sql") as raised:
        discover(tmp_path)
    assert error in str(raised.value)


def test_the_default_policy_is_the_settings_default() -> None:
    fields = Settings.model_fields
    assert fields["migrate_lock_timeout_seconds"].default == LockPolicy().timeout_seconds
    assert fields["migrate_lock_retries"].default == LockPolicy().retries


def _words(statement: sqlparse.sql.Statement) -> list[str]:
    return [
        word.upper()
        for token in statement.flatten()
        if not token.is_whitespace and token.ttype not in sqlparse.tokens.Comment
        for word in token.value.split()
    ]


def test_no_file_in_a_transaction_builds_an_index_on_a_table_it_did_not_create() -> None:
    """In a transaction, CREATE INDEX holds SHARE on its table for the whole build (intake,
    claims and renewals wait): only a table the same file creates, still empty, may be indexed
    that way. Others go in a `-- migrate: no-transaction` file, CONCURRENTLY."""
    for migration in discover():
        if not migration.transactional:
            continue
        statements = [_words(s) for s in sqlparse.parse(migration.sql)]
        created = {w[2] for w in statements if w[:2] == ["CREATE", "TABLE"]}
        for words in statements:
            if words[:1] == ["CREATE"] and "INDEX" in words[1:3]:
                table = words[words.index("ON") + 1]
                assert table in created, f"{migration.version}: {' '.join(words[:8])}"
