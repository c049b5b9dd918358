"""Rows as the worker writes them, dated in the past, for the purge's tests."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import asyncpg


async def request(
    db: asyncpg.Pool, status: str, age: timedelta, attempts: int = 1, code_oc: str = "OCAA"
) -> uuid.UUID:
    """A request received and (unless pending) finished `age` ago, with its attempts."""
    message_id = uuid.uuid4()
    pending = status == "pending"
    await db.execute(
        "INSERT INTO photo_requests (message_id, code_oc, reference_commande_sous_traitant_oi,"
        " status, attempts, next_attempt_at, received_at, completed_at)"
        " VALUES ($1, $2, $3, $4, $5, CASE WHEN $6 THEN now() + interval '1 hour' END,"
        " now() - $7::interval, CASE WHEN NOT $6 THEN now() - $7::interval END)",
        message_id,
        code_oc,
        f"REF-{message_id.hex[:8]}",
        status,
        attempts,
        pending,
        age,
    )
    for n in range(1, attempts + 1):
        await attempt(db, message_id, n, age)
    return message_id


async def attempt(db: asyncpg.Pool, message_id: uuid.UUID, n: int, age: timedelta) -> None:
    await db.execute(
        "INSERT INTO request_attempts (message_id, attempt, worker, outcome, started_at,"
        " finished_at) VALUES ($1, $2, 'test', 'retry:not_ready', now() - $3::interval,"
        " now() - $3::interval)",
        message_id,
        n,
        age,
    )


async def event(db: asyncpg.Pool, message_id: uuid.UUID, age: timedelta, sent: bool) -> int:
    return int(
        await db.fetchval(
            "INSERT INTO outbox (message_id, routing_key, body, created_at, sent_at)"
            " VALUES ($1, 'photos.completed', '{}', now() - $2::interval,"
            " CASE WHEN $3 THEN now() - $2::interval END) RETURNING id",
            message_id,
            age,
            sent,
        )
    )


async def dead_letter(db: asyncpg.Pool, age: timedelta) -> int:
    return int(
        await db.fetchval(
            "INSERT INTO dead_letters (reason, detail, body_excerpt, worker, dead_lettered_at)"
            " VALUES ('not_json', 'test', '{', 'test', now() - $1::interval) RETURNING id",
            age,
        )
    )


async def photo(db: asyncpg.Pool, message_id: uuid.UUID, photo_id: uuid.UUID) -> str:
    """A stored photo's row (if new) and its link to the request; its storage key."""
    key = f"OCAA/{photo_id}.jpg"
    await db.execute(
        "INSERT INTO photos (code_oc, photo_id, type, mime_type, size_bytes, sha256, storage_key)"
        " VALUES ('OCAA', $1, 'PTO', 'image/jpeg', 3, $2, $3) ON CONFLICT DO NOTHING",
        photo_id,
        hashlib.sha256(photo_id.bytes).hexdigest(),
        key,
    )
    await db.execute(
        "INSERT INTO photo_request_photos (message_id, code_oc, photo_id) VALUES ($1, 'OCAA', $2)",
        message_id,
        photo_id,
    )
    return key


async def finding(db: asyncpg.Pool, message_id: uuid.UUID) -> None:
    await db.execute(
        "INSERT INTO photo_findings (message_id, code_oc, kind, severity, detail)"
        " VALUES ($1, 'OCAA', 'low_quality', 'warning', 'test')",
        message_id,
    )


async def count(db: asyncpg.Pool, table: str, where: str = "true", *args: object) -> int:
    return int(await db.fetchval(f"SELECT count(*) FROM {table} WHERE {where}", *args))
