"""`worker migrate`: recorded, idempotent, safe from two processes at once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from worker.database.migrations import MigrationError, discover, migrate

pytestmark = pytest.mark.services


async def _tables(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    return {row["tablename"] for row in rows}


def _migrate_command(dsn: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WORKER_DATABASE_URL": dsn, "WORKER_LOG_FORMAT": "json"}
    return subprocess.run(
        [sys.executable, "-m", "worker", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_migrate_command_twice(empty_database: str) -> None:
    first = await asyncio.to_thread(_migrate_command, empty_database)
    second = await asyncio.to_thread(_migrate_command, empty_database)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "0001_initial" in first.stdout
    assert "up to date" in second.stdout
    assert {"photo_requests", "photos", "photo_request_photos", "outbox", "schema_migrations"} <= (
        await _tables(empty_database)
    )


async def test_two_processes_at_once(empty_database: str) -> None:
    results = await asyncio.gather(
        *(asyncio.to_thread(_migrate_command, empty_database) for _ in range(3))
    )
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
    conn = await asyncpg.connect(empty_database)
    try:
        versions = await conn.fetch("SELECT version FROM schema_migrations")
    finally:
        await conn.close()
    assert [v["version"] for v in versions] == [m.version for m in discover()]


async def test_an_edited_migration_is_refused(empty_database: str, tmp_path: Path) -> None:
    for migration in discover():
        (tmp_path / f"{migration.version}.sql").write_text(migration.sql)
    conn = await asyncpg.connect(empty_database)
    try:
        assert await migrate(conn, tmp_path) == [m.version for m in discover()]
        (tmp_path / "0001_initial.sql").write_text(discover()[0].sql + "\n-- edited\n")
        with pytest.raises(MigrationError, match="0001_initial changed"):
            await migrate(conn, tmp_path)
    finally:
        await conn.close()
