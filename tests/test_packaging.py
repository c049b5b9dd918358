"""The wheel, installed away from the checkout, runs `worker` and applies its packaged migrations.

This is what the Docker image does: `pip wheel .`, install the wheel, `worker migrate`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
TABLES = {
    "schema_migrations",
    "photo_requests",
    "photos",
    "photo_request_photos",
    "photo_refusals",
    "request_attempts",
    "outbox",
}

pytestmark = pytest.mark.services


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _fetch(dsn: str, sql: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return {row[0] for row in await conn.fetch(sql)}
    finally:
        await conn.close()


def test_installed_wheel_runs_and_migrates_a_fresh_database(tmp_path: Path) -> None:
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheels, ROOT, cwd=tmp_path)
    (wheel,) = wheels.glob("photo_worker-*.whl")
    _run(
        sys.executable,
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--target",
        site,
        wheel,
        cwd=tmp_path,
    )

    name = f"wt{os.getpid()}_pkg_{uuid.uuid4().hex[:8]}"
    dsn = f"postgresql://postgres@127.0.0.1:5432/{name}"
    # Dependencies come from this virtualenv; the package itself only from the wheel.
    env = {**os.environ, "PYTHONPATH": str(site), "WORKER_DATABASE_URL": dsn}
    where = _run(
        sys.executable, "-c", "import worker; print(worker.__file__)", cwd=tmp_path, env=env
    )
    assert Path(where.strip()).is_relative_to(site), where
    assert "migrate" in _run(sys.executable, "-m", "worker", "--help", cwd=tmp_path, env=env)
    assert (site / "worker/_migrations/0001_initial.sql").is_file()
    # The console's templates and its one script and stylesheet travel with the package.
    console = ROOT / "worker/console"
    for folder in ("templates", "static"):
        shipped = {p.name for p in (site / "worker/console" / folder).iterdir()}
        assert shipped == {p.name for p in (console / folder).iterdir()}, folder

    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        _run(sys.executable, "-m", "worker", "migrate", cwd=tmp_path, env=env)
        tables = asyncio.run(
            _fetch(dsn, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        )
        versions = asyncio.run(_fetch(dsn, "SELECT version FROM schema_migrations"))
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    assert tables >= TABLES
    assert versions == {p.stem for p in (ROOT / "migrations").glob("*.sql")}
