"""Rows and photo files for console tests, written directly (as the worker and the photo checks
would have written them)."""

from __future__ import annotations

import functools
import hashlib
import io
import struct
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from PIL import Image


def image_bytes(
    size: tuple[int, int] = (1200, 900), fmt: str = "JPEG", colour: str = "teal"
) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt)
    return out.getvalue()


@functools.cache
def png_bomb(width: int = 9400, height: int = 9500) -> bytes:
    """A black RGB PNG of this size: a few hundred KB that decode to width x height x 3 bytes.
    Written row by row, never decoded here."""
    squeeze = zlib.compressobj(1)
    row = b"\x00" * (1 + width * 3)  # filter byte, then the pixels
    data = b"".join(squeeze.compress(row) for _ in range(height)) + squeeze.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def truncated_jpeg(size: tuple[int, int] = (2400, 1800)) -> bytes:
    """A JPEG cut in the middle of its data: its header reads, its pixels do not."""
    whole = noisy_jpeg(size)
    return whole[: len(whole) // 2]


def noisy_jpeg(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.effect_noise(size, 64).convert("RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


@dataclass
class Seeded:
    message_id: uuid.UUID
    reference: str
    photos: dict[str, uuid.UUID] = field(default_factory=dict)  # type -> photoId


async def request(
    db: asyncpg.Pool,
    *,
    code_oc: str = "OCAA",
    reference: str | None = None,
    status: str = "completed",
    received_at: datetime | None = None,
    order: str | None = None,
    access: str | None = None,
    attempts: int = 1,
) -> Seeded:
    message_id = uuid.uuid4()
    reference = reference or f"REF-{message_id.hex[:8]}"
    received_at = received_at or datetime.now(UTC)
    final = status != "pending"
    await db.execute(
        "INSERT INTO photo_requests (message_id, code_oc, reference_commande_sous_traitant_oi,"
        " reference_commande_prise_interne_oc, reference_prestation_prise, status, attempts,"
        " last_http_status, next_attempt_at, received_at, completed_at, last_error)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        message_id,
        code_oc,
        reference,
        order,
        access,
        status,
        attempts,
        200 if status == "completed" else 403 if status == "failed" else 202,
        None if final else received_at + timedelta(minutes=5),
        received_at,
        received_at + timedelta(seconds=30) if final else None,
        "metadata answered 403: forbidden" if status == "failed" else None,
    )
    return Seeded(message_id, reference)


async def attempt(
    db: asyncpg.Pool, seeded: Seeded, number: int, http_status: int, outcome: str, **extra: Any
) -> uuid.UUID:
    x_request_id = uuid.uuid4()
    started = datetime.now(UTC) - timedelta(seconds=60 - number)
    await db.execute(
        "INSERT INTO request_attempts (message_id, attempt, worker, operation, reference,"
        " http_status, x_request_id, outcome, error, started_at, finished_at)"
        " VALUES ($1, $2, 'test-worker', 'intervention', $3, $4, $5, $6, $7, $8, $9)",
        seeded.message_id,
        number,
        seeded.reference,
        http_status,
        x_request_id,
        outcome,
        extra.get("error"),
        started,
        started + timedelta(milliseconds=extra.get("ms", 120)),
    )
    return x_request_id


async def photo(
    db: asyncpg.Pool,
    photos_dir: Path,
    seeded: Seeded,
    photo_type: str,
    *,
    code_oc: str = "OCAA",
    data: bytes | None = None,
    mime: str = "image/jpeg",
    readable: bool = True,
    size_bytes: int | None = None,
) -> uuid.UUID:
    """A photo row, its link to the request, and its file in the storage directory; the row's
    width and height are the image's (none when `readable` is false, as for a broken header)."""
    photo_id = uuid.uuid4()
    data = data if data is not None else image_bytes(fmt="PNG" if mime == "image/png" else "JPEG")
    key = f"{code_oc}/{photo_id}.{'png' if mime == 'image/png' else 'jpg'}"
    (photos_dir / key).parent.mkdir(parents=True, exist_ok=True)
    (photos_dir / key).write_bytes(data)
    width, height = Image.open(io.BytesIO(data)).size if readable else (None, None)
    await db.execute(
        "INSERT INTO photos (code_oc, photo_id, type, mime_type, name, title, taken_at, width,"
        " height, size_bytes, sha256, storage_key, latitude, longitude, projection)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 48.85, 2.35, 'WGS84')",
        code_oc,
        photo_id,
        photo_type,
        mime,
        f"{photo_type.lower()}.jpg",
        f"{photo_type} of {seeded.reference}",
        datetime.now(UTC) - timedelta(days=1),
        width,
        height,
        len(data) if size_bytes is None else size_bytes,
        hashlib.sha256(data).hexdigest(),
        key,
    )
    await db.execute(
        "INSERT INTO photo_request_photos (message_id, code_oc, photo_id) VALUES ($1, $2, $3)",
        seeded.message_id,
        code_oc,
        photo_id,
    )
    seeded.photos[photo_type] = photo_id
    return photo_id


async def finding(
    db: asyncpg.Pool,
    seeded: Seeded,
    kind: str,
    severity: str = "warning",
    *,
    code_oc: str = "OCAA",
    photo_ids: list[uuid.UUID] | None = None,
    related: uuid.UUID | None = None,
    detail: str | None = None,
    created_at: datetime | None = None,
) -> None:
    await db.execute(
        "INSERT INTO photo_findings (message_id, code_oc, kind, severity, photo_ids, detail,"
        " related_message_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        seeded.message_id,
        code_oc,
        kind,
        severity,
        photo_ids or [],
        detail or f"{kind} on {seeded.reference}",
        related,
        created_at or datetime.now(UTC),
    )


async def event(
    db: asyncpg.Pool, seeded: Seeded, status: str = "completed", sent: bool = True
) -> None:
    body = f'{{"messageId": "{seeded.message_id}", "status": "{status}", "photos": []}}'
    await db.execute(
        "INSERT INTO outbox (message_id, routing_key, body, sent_at)"
        " VALUES ($1, $2, $3::jsonb, CASE WHEN $4 THEN now() END)",
        seeded.message_id,
        f"photos.{status}",
        body,
        sent,
    )


async def dead_letter(
    db: asyncpg.Pool, reason: str = "not_json", *, message_id: str | None = None, body: str = "{bad"
) -> int:
    record_id: int = await db.fetchval(
        "INSERT INTO dead_letters (message_id, reason, detail, body_excerpt, worker)"
        " VALUES ($1, $2, $3, $4, 'test-worker') RETURNING id",
        message_id,
        reason,
        f"{reason}: detail",
        body,
    )
    return record_id
