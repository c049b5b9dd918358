"""Migrations on busy tables: `.venv/bin/python -m tests.bench.migration_locks [--before REV]`.

Makes a database, applies the migrations before 0004 (the first that builds an index), fills a
million requests and 200,000 photos (tests/database/traffic.py), then applies the later
migrations one file at a time while intake, claims, renewals and outcomes run in other
connections, and prints for each file how long it took, the longest lock wait of the traffic
(read from pg_locks.waitstart every 50 ms) and the traffic's slowest statement.

`--before REV` applies the migration files of that git revision instead (e.g. `5e48a2a`, before
issue 17), each in its transaction and without lock_timeout, as the runner of that time did.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import asyncpg

from tests.bench.environment import ADMIN_DSN
from tests.database.traffic import FIRST_INDEX_BUILD, Traffic, fill
from worker.database.lock_policy import LockPolicy
from worker.database.migrations import discover, migrate, migrations_dir

DB = "migration_locks_bench"
DSN = f"postgresql://postgres@127.0.0.1:5432/{DB}"


def _files_of(revision: str, into: Path) -> Path:
    names = subprocess.run(
        ["git", "ls-tree", "--name-only", revision, "migrations/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in names:
        text = subprocess.run(
            ["git", "show", f"{revision}:{name}"], capture_output=True, text=True, check=True
        ).stdout
        (into / Path(name).name).write_text(text, encoding="utf-8")
    return into


async def run(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="migration-locks-"))
    source = migrations_dir()
    if args.before:
        (work / "source").mkdir()
        source = _files_of(args.before, work / "source")
    policy = LockPolicy(timeout_seconds=3600) if args.before else LockPolicy()
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DB}"')
        conn = await asyncpg.connect(DSN, server_settings={"application_name": "migrate"})
        try:
            await _measure(conn, source, work / "applied", policy, args)
        finally:
            await conn.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    finally:
        await admin.close()
        shutil.rmtree(work)


async def _measure(
    conn: asyncpg.Connection,
    source: Path,
    applied: Path,
    policy: LockPolicy,
    args: argparse.Namespace,
) -> None:
    applied.mkdir()
    migrations = discover(source)
    for m in migrations:
        if m.version < FIRST_INDEX_BUILD:
            shutil.copy(source / f"{m.version}.sql", applied)
    await migrate(conn, applied, policy)
    started = time.monotonic()
    await fill(conn, args.requests, args.requests // 5)
    print(f"{args.requests:,} requests filled in {time.monotonic() - started:.0f} s", flush=True)
    print(f"{'migration':26} {'seconds':>8} {'longest lock wait':>18} {'slowest statement':>18}")
    worst = 0.0
    async with Traffic(DSN) as traffic:
        for m in migrations:
            if m.version < FIRST_INDEX_BUILD:
                continue
            shutil.copy(source / f"{m.version}.sql", applied)
            traffic.reset()
            started = time.monotonic()
            await migrate(conn, applied, policy)
            took = time.monotonic() - started
            await traffic.settle()
            worst = max(worst, traffic.longest_wait)
            print(
                f"{m.version:26} {took:8.2f} {traffic.longest_wait:17.3f}s"
                f" {traffic.slowest:17.3f}s",
                flush=True,
            )
    print(f"longest wait of intake, claims, renewals or outcomes for a lock: {worst:.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.migration_locks", description=__doc__
    )
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--before", help="a git revision: its migration files, no lock_timeout")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
