"""The operators' commands: status, show, replay-dead-letters, refetch, findings, review, purge."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Protocol

import asyncpg

from worker.database.migrations import check_schema
from worker.findings.model import KINDS
from worker.observe.logs import configure_logging
from worker.ops.detail import build_detail, render_dead_letters, render_detail
from worker.ops.formatting import plain
from worker.ops.lookup import find_dead_letters, find_requests
from worker.ops.purge import Retention, purge
from worker.ops.purge_text import render_purge
from worker.ops.quality import Selection, build_quality_report, render_csv, render_json, render_text
from worker.ops.refetch import REFETCHABLE, RefetchSelection, refetch
from worker.ops.replay import (
    REASONS,
    DeadLetterFilter,
    mark_replayed,
    replay_dead_letters,
    replay_started,
)
from worker.ops.status import build_status, render_status
from worker.partners.config import secrets_of
from worker.photos.storage import open_store
from worker.resources import close_pool, connect_database, open_pool
from worker.settings import ConfigError, Settings, load_settings, parse_duration

Handler = Callable[[argparse.Namespace], int]


class Adder(Protocol):
    def __call__(
        self, name: str, handler: Handler, text: str, reads: tuple[str, ...] = ()
    ) -> argparse.ArgumentParser: ...


def add_operator_commands(add: Adder) -> None:
    status = add(
        "status",
        _status,
        "counts by status and OC, oldest pending, next retries, dead letters",
        ("database_url", "amqp_url"),
    )
    status.add_argument("--json", action="store_true", help="one JSON object, for scripts")
    show = add(
        "show",
        _show,
        "requests and dead letters by messageId or reference (or its prefix)",
        ("database_url", "storage_url"),
    )
    show.add_argument(
        "key",
        help="a messageId, or a reference (intervention, order or access); REF* for every"
        " reference starting with REF (also used when nothing matches REF exactly)",
    )
    show.add_argument("--json", action="store_true")
    replay = add(
        "replay-dead-letters",
        _replay,
        "send dead letters back to photos.cr_stoc",
        ("amqp_url", "database_url"),
    )
    replay.add_argument("--dry-run", action="store_true", help="list what would be replayed")
    replay.add_argument("--reason", choices=REASONS, help="only dead letters of this reason")
    replay.add_argument("--message-id", help="only this messageId")
    replay.add_argument(
        "--contains", help="only bodies containing this text (a codeOC, a reference)"
    )
    replay.add_argument("--limit", type=int, help="at most this many")
    again = add(
        "refetch", _refetch, "move requests forward to an immediate new attempt", ("database_url",)
    )
    again.add_argument("keys", nargs="*", metavar="KEY", help="messageIds or references")
    again.add_argument("--status", choices=REFETCHABLE, help="every request in this status...")
    again.add_argument("--oc", help="...of this OC")
    again.add_argument("--dry-run", action="store_true", help="list what would move")
    report = add(
        "findings",
        _findings,
        "photo findings per OC and kind, worst requests first",
        ("database_url",),
    )
    report.add_argument("--oc", help="only this OC")
    report.add_argument("--since", default="30d", help="how far back: 30d, 36h... (30d)")
    report.add_argument("--kind", choices=KINDS, help="only this kind")
    report.add_argument("--limit", type=int, default=20, help="requests listed (20)")
    report.add_argument("--format", choices=("text", "csv", "json"), default="text")
    again = add(
        "review",
        _review,
        "run the current photo checks again on stored photos (read back from storage)",
        REVIEW_FIELDS,
    )
    again.add_argument("--since", required=True, help="requests finished in this window: 30d...")
    again.add_argument("--oc", help="only this OC")
    again.add_argument("--kind", choices=KINDS, help="only requests with a finding of this kind")
    again.add_argument("--batch", type=int, default=100, help="requests queued at once (100)")
    again.add_argument("--pause", type=float, default=1.0, help="seconds between batches (1)")
    again.add_argument(
        "--processes", type=int, default=1, help="review processes of this command (1)"
    )
    purge = add(
        "purge",
        _purge,
        "delete what the retention settings no longer keep, in small batches",
        PURGE_FIELDS,
    )
    purge.add_argument("--dry-run", action="store_true", help="count what would go")
    purge.add_argument("--json", action="store_true", help="one JSON object, for scripts")


REVIEW_FIELDS = (
    "database_url",
    "storage_url",
    "aws_endpoint_url",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_region",
    "review_memory_mb",
    "review_timeout_seconds",
    "review_nice",
    "lease_seconds",
    "max_interruptions",
    "log_level",
    "log_format",
    *(name for name in Settings.model_fields if name.startswith("qa_")),
)
PURGE_FIELDS = (
    "database_url",
    "keep_attempts",
    "keep_events",
    "keep_dead_letters",
    "keep_finished",
    "keep_purged_ids",
    "purge_batch",
    "purge_pause_seconds",
    "storage_url",  # the objects of purged finished requests
    "aws_endpoint_url",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_region",
    "log_level",
    "log_format",
)


async def _with_db(settings: Settings, work: Callable[[asyncpg.Connection], Awaitable[int]]) -> int:
    conn = await connect_database(settings)
    try:
        await check_schema(conn)
        return await work(conn)
    finally:
        await conn.close()


def _status(args: argparse.Namespace) -> int:
    settings = load_settings()

    async def work(conn: asyncpg.Connection) -> int:
        report = await build_status(conn, settings)
        print(json.dumps(report.as_json(), indent=2) if args.json else render_status(report))
        return 0

    return asyncio.run(_with_db(settings, work))


def _show(args: argparse.Namespace) -> int:
    settings = load_settings()

    async def work(conn: asyncpg.Connection) -> int:
        found = await find_requests(conn, args.key)
        letters = await find_dead_letters(conn, args.key)
        if not found and not letters:
            print(
                f"no request or dead letter with messageId or reference {args.key!r}",
                file=sys.stderr,
            )
            return 1
        details = [await build_detail(conn, mid, settings.storage_url) for mid in found]
        if args.json:
            shown = details + [{"dead_letter": plain(letter)} for letter in letters]
            print(json.dumps(shown[0] if len(shown) == 1 else shown, indent=2))
        else:
            texts = [render_detail(d) for d in details]
            print("\n\n".join(texts + ([render_dead_letters(letters)] if letters else [])))
        return 0

    return asyncio.run(_with_db(settings, work))


def _replay(args: argparse.Namespace) -> int:
    settings = load_settings()
    wanted = DeadLetterFilter(args.reason, args.message_id, args.contains, args.limit)

    async def work(conn: asyncpg.Connection) -> int:
        started = await replay_started(conn)
        letters = await replay_dead_letters(settings, wanted, args.dry_run)
        verb = "would replay" if args.dry_run else "replayed"
        for letter in letters:
            mark = verb if letter.replayed else "kept"
            print(f"{mark:12}  {letter.message_id or '-'}  {letter.reason}: {letter.detail[:80]}")
        chosen = sum(letter.replayed for letter in letters)
        print(
            f"{len(letters)} dead letters looked at, {chosen} {verb}, "
            f"{len(letters) - chosen} left in the dead-letter queue"
        )
        if not args.dry_run and chosen:
            who = f"{getpass.getuser()} (command line)"
            marked = await mark_replayed(conn, letters, who, started)
            print(f"{marked} of their dead_letters rows marked replayed")
        return 0

    return asyncio.run(_with_db(settings, work))


def _findings(args: argparse.Namespace) -> int:
    try:
        since = parse_duration(args.since)
    except ValueError as exc:
        raise ConfigError(f"--since: {exc}") from None
    settings = load_settings()
    csv_rows = args.format == "csv"  # a row per finding, linked to the console when it is known
    wanted = Selection(since, args.oc, args.kind, args.limit, findings=csv_rows)

    async def work(conn: asyncpg.Connection) -> int:
        report = await build_quality_report(conn, wanted)
        if csv_rows:
            print(render_csv(report, ",", settings.console_public_origin))
        else:
            print(render_json(report) if args.format == "json" else render_text(report))
        return 0

    return asyncio.run(_with_db(settings, work))


def _purge(args: argparse.Namespace) -> int:
    settings = load_settings()
    # The log line goes to stderr, the report to stdout (--json: parsable as it is).
    secrets = secrets_of(settings, {})
    configure_logging(settings.log_level, settings.log_format, secrets, sys.stderr)
    retention = Retention.of(settings)
    store = open_store(settings) if retention.finished is not None else None

    async def work(conn: asyncpg.Connection) -> int:
        by = f"{getpass.getuser()}@{settings.instance}"
        report = await purge(conn, retention, store, args.dry_run, by)
        print(json.dumps(report.as_json()) if args.json else render_purge(report, retention))
        return 3 if report.skipped else 0

    return asyncio.run(_with_db(settings, work))


def _refetch(args: argparse.Namespace) -> int:
    if not (args.keys or args.status or args.oc):
        print("worker refetch: give KEYs, or --status and/or --oc", file=sys.stderr)
        return 2
    settings = load_settings()
    selection = RefetchSelection(tuple(args.keys), args.status, args.oc)

    async def work(conn: asyncpg.Connection) -> int:
        chosen = await refetch(conn, selection, args.dry_run)
        for item in chosen:
            note = (
                "in flight: left alone"
                if item.in_flight
                else ("would be due now" if args.dry_run else "due now")
            )
            print(f"{item.message_id}  {item.code_oc}  was {item.was:8}  {note}")
        moved = sum(not item.in_flight for item in chosen)
        print(
            f"{moved} request(s) {'would move' if args.dry_run else 'moved'} forward"
            + ("" if chosen else f" (refetch takes {', '.join(REFETCHABLE)} requests)")
        )
        return 0

    return asyncio.run(_with_db(settings, work))


def _review(args: argparse.Namespace) -> int:
    # Imported here: the checks bring numpy and Pillow, which the other commands do without.
    from worker.review.requeue import Selection
    from worker.review.rereview import Pace, rereview

    try:
        since = parse_duration(args.since)
    except ValueError as exc:
        raise ConfigError(f"--since: {exc}") from None
    if args.batch < 1 or args.processes < 1 or args.pause < 0:
        raise ConfigError("--batch and --processes: at least 1; --pause: 0 or more")
    settings = load_settings(review_processes=args.processes)
    configure_logging(settings.log_level, settings.log_format, secrets_of(settings, {}), sys.stderr)
    selection = Selection(since, args.oc, args.kind)
    pace = Pace(args.batch, args.pause)

    async def work(_: asyncpg.Connection) -> int:
        pool = await open_pool(settings)
        try:
            by = f"{getpass.getuser()}@{settings.instance}"
            await rereview(pool, open_store(settings), settings, selection, pace, by, sys.stdout)
        finally:
            await close_pool(pool)
        return 0

    return asyncio.run(_with_db(settings, work))
