"""The console on a big database: `.venv/bin/python -m tests.bench.console [--requests 1000000]`.

Makes (once; `--rebuild` to make it again) a database `console_bench` of N requests with their
attempts, photos, findings, events and dead letters (`console_data.py`), serves the console on it
in this process, asks each page several times over HTTP and prints the median and slowest times,
then the EXPLAIN ANALYZE of each page's slowest statement. A thumbnail is timed too, on a real
12-megapixel JPEG written to a scratch photo directory.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web
from PIL import Image

from tests.bench import console_data
from tests.bench.environment import ADMIN_DSN
from worker.console import findings, oncall, overview
from worker.console.app import build_app
from worker.console.forms import Csrf
from worker.console.guard import Access
from worker.console.pages import ConsoleState
from worker.console.refusals import Refusals
from worker.console.thumbnails import Thumbnails
from worker.database.migrations import migrate
from worker.ops.rates import ClosedWeeks
from worker.ops.verdicts import review_queue
from worker.photos.storage import open_store
from worker.settings import Settings

DB = "console_bench"
DSN = f"postgresql://postgres@127.0.0.1:5432/{DB}"
RUNS = 9


class RecordingPool:
    """The pool, noting each statement a page runs and how long it took (for the plans)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.statements: list[tuple[float, str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)

    def _timed(self, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def run(sql: str, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await method(sql, *args, **kwargs)
            finally:
                self.statements.append((time.perf_counter() - started, sql, args))

        return run

    @property
    def fetch(self) -> Callable[..., Awaitable[Any]]:
        return self._timed(self._pool.fetch)

    @property
    def fetchrow(self) -> Callable[..., Awaitable[Any]]:
        return self._timed(self._pool.fetchrow)

    @property
    def fetchval(self) -> Callable[..., Awaitable[Any]]:
        return self._timed(self._pool.fetchval)


async def prepare(requests: int, rebuild: bool, name: str = DB) -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists and not rebuild:
            return
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(DSN.replace(DB, name))
    try:
        await migrate(conn)
        print(f"Making {requests:,} requests in {name}:", flush=True)
        await console_data.fill(conn, requests)
    finally:
        await conn.close()


async def pages(pool: asyncpg.Pool) -> dict[str, str]:
    """The pages to time, with values taken from the data (a middle row, a reference...)."""
    middle = await pool.fetchrow(
        "SELECT message_id, received_at, reference_commande_sous_traitant_oi AS ref"
        " FROM photo_requests WHERE status = 'completed' ORDER BY received_at"
        " OFFSET (SELECT count(*) / 2 FROM photo_requests WHERE status = 'completed') LIMIT 1"
    )
    mid, ref, at = middle["message_id"], middle["ref"], middle["received_at"]
    day = at.date().isoformat()
    queued = (await review_queue(pool))[0]["message_id"]
    cursor = f"after={at.isoformat()}&after_id={mid}".replace("+", "%2B")
    return {
        "overview (made afresh, not cached)": "/",
        "overview panel (refresh, made afresh)": "/overview",
        "requests": "/requests",
        "requests, page in the middle (cursor)": f"/requests?{cursor}",
        "requests, OC": "/requests?oc=OC03",
        "requests, status failed": "/requests?status=failed",
        "requests, OC + status, rare (OC08 expired)": "/requests?oc=OC08&status=expired",
        "requests, pending": "/requests?status=pending",
        "requests, one day": f"/requests?from={day}&to={day}",
        "requests, finding kind": "/requests?kind=reused_photo",
        "requests, kind + status (rare)": "/requests?kind=low_quality&status=failed",
        "search, messageId": f"/requests?q={mid}",
        "search, exact reference": f"/requests?q={ref}",
        "search, reference prefix (broad)": "/requests?q=INT-OC03-1",
        "search, order reference prefix": "/requests?q=CMD-5000",
        "request page": f"/requests/{mid}",
        "findings, 7 days": "/findings?days=7",
        "findings, 30 days": "/findings?days=30",
        "findings, 90 days": "/findings?days=90",
        "findings, 90 days, one OC": "/findings?days=90&oc=OC01",
        "findings CSV, 1 day": "/findings.csv?days=1",
        "findings CSV, 90 days (46,000 requests)": "/findings.csv?days=90",
        "dead letters": "/dead-letters",
        "review queue (worst first)": "/queue",
        "review queue, one OC": "/queue?oc=OC03",
        "request page opened from the queue": f"/requests/{queued}?queue=1",
        "on-call view (made afresh)": "/on-call",
        "on-call panel (refresh, made afresh)": "/on-call/panel",
    }


async def time_page(session: aiohttp.ClientSession, url: str) -> list[float]:
    times = []
    for _ in range(RUNS + 1):
        started = time.perf_counter()
        async with session.get(url) as response:
            await response.read()
            assert response.status == 200, (url, response.status)
        times.append(time.perf_counter() - started)
    return times[1:]  # the first warms the caches and prepares the statements


async def explain(pool: asyncpg.Pool, sql: str, args: tuple[Any, ...]) -> str:
    async with pool.acquire() as conn:
        rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)
    return "\n".join(f"    {row[0]}" for row in rows)


async def thumbnail_times(
    session: aiohttp.ClientSession, base: str, pool: asyncpg.Pool, photos: Path
) -> tuple[float, float]:
    """A real 4000x3000 JPEG under the key of one photo: the first thumbnail, then cached."""
    row = await pool.fetchrow("SELECT code_oc, photo_id, storage_key FROM photos LIMIT 1")
    image = Image.effect_mandelbrot((4000, 3000), (-2.0, -1.2, 1.0, 1.2), 60).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    (photos / row["storage_key"]).parent.mkdir(parents=True, exist_ok=True)
    (photos / row["storage_key"]).write_bytes(out.getvalue())
    url = f"{base}/photos/{row['code_oc']}/{row['photo_id']}/thumb"
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        async with session.get(url) as response:
            await response.read()
            if response.status != 200:  # reported, not fatal: the pages' plans still follow
                print(f"| thumbnail: answered {response.status} | | | |")
                return float("nan"), float("nan")
        timings.append(time.perf_counter() - started)
    return timings[0], timings[1]


async def run(args: argparse.Namespace) -> None:
    await prepare(args.requests, args.rebuild, args.database)
    await time_console(DSN.replace(DB, args.database), args.pages, not args.count_every_week)


async def time_console(dsn: str, only: str = "", kept_weeks: bool = True) -> float:
    """Serve the console on `dsn` and time its pages; the slowest page's median (ms), CSV
    downloads left out."""
    with tempfile.TemporaryDirectory() as scratch:
        photos = Path(scratch) / "photos"
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=dsn,
            storage_url=f"file://{photos}",
            console_thumbnail_dir=Path(scratch) / "thumbnails",
        )
        pool = await asyncpg.create_pool(dsn, min_size=2, max_size=8)
        assert pool is not None
        recording = RecordingPool(pool)
        thumbnails = Thumbnails(
            settings.console_thumbnail_dir, max_pixels=settings.qa_max_decode_pixels
        )
        console = ConsoleState(
            settings,
            recording,
            open_store(settings),
            thumbnails,
            Csrf(),
            Refusals(),
        )  # type: ignore[arg-type]
        app = build_app(console, Access.from_settings(settings))
        # Every overview is made afresh: its real cost, not the cache's (docs/console.md).
        app[overview.CACHE] = overview.OverviewCache(0)
        app[oncall.CACHE] = oncall.OnCallCache(0)
        if not kept_weeks:  # the findings' denominators of ended weeks counted on every view
            app[findings.WEEKS] = ClosedWeeks(0)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        try:
            medians = await report(base, pool, recording, photos, only)
        finally:
            await runner.cleanup()
            await thumbnails.close()
            await pool.close()
    return max((ms for name, ms in medians.items() if "CSV" not in name), default=0.0)


async def report(
    base: str, pool: asyncpg.Pool, recording: RecordingPool, photos: Path, only: str = ""
) -> dict[str, float]:
    count = await pool.fetchval("SELECT count(*) FROM photo_requests")
    async with pool.acquire() as conn:
        await console_data.freshen(conn)
    print(f"\n{count:,} requests. Times over HTTP, {RUNS} runs after one warm-up (ms):\n")
    print("| page | median | slowest | slowest statement |\n|---|---|---|---|")
    plans = []
    medians: dict[str, float] = {}
    async with aiohttp.ClientSession() as session:
        for name, path in (await pages(pool)).items():
            if only not in name:
                continue
            recording.statements.clear()
            times = await time_page(session, base + path)
            worst = max(recording.statements, default=(0.0, "", ()))
            medians[name] = statistics.median(times) * 1000
            print(
                f"| {name} | {statistics.median(times) * 1000:.0f} | {max(times) * 1000:.0f}"
                f" | {worst[0] * 1000:.1f} |",
                flush=True,
            )
            if worst[1]:
                plans.append((name, path, worst))
        cold, warm = await thumbnail_times(session, base, pool, photos)
        print(
            f"| thumbnail of a 4000x3000 JPEG, made / cached | {cold * 1000:.0f} |"
            f" {warm * 1000:.0f} | |"
        )
    print("\nThe slowest statement of each page, EXPLAIN (ANALYZE, BUFFERS):")
    for name, path, (_, sql, sql_args) in plans:
        print(f"\n## {name}: {path}\n    {' '.join(sql.split())[:400]}")
        print(await explain(pool, sql, sql_args))
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.console", description=__doc__)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--rebuild", action="store_true", help="make the database again")
    parser.add_argument("--database", default=DB, help="its name (another engineer's: another)")
    parser.add_argument("--pages", default="", help="only the pages whose name has this text")
    parser.add_argument(
        "--count-every-week",
        action="store_true",
        help="the findings page counts the finished requests of every week on each view",
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
