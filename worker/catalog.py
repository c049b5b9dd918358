"""The SQL of stored photos: one row per (OC, photo id), linked to each request that listed it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from worker.photo_records import PhotoRecord
from worker.photo_stream import PhotoFacts
from worker.repository import Conn, Pool

_UPSERT = """
INSERT INTO photos (code_oc, photo_id, type, mime_type, name, title, description, taken_at,
    width, height, declared_size, size_bytes, sha256, storage_key, latitude, longitude,
    projection, declared_width, declared_height, anomalies, stored_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
    $20, now())
ON CONFLICT (code_oc, photo_id) DO UPDATE SET
    type = EXCLUDED.type, mime_type = EXCLUDED.mime_type, name = EXCLUDED.name,
    title = EXCLUDED.title, description = EXCLUDED.description, taken_at = EXCLUDED.taken_at,
    width = EXCLUDED.width, height = EXCLUDED.height, declared_size = EXCLUDED.declared_size,
    size_bytes = EXCLUDED.size_bytes, sha256 = EXCLUDED.sha256,
    storage_key = EXCLUDED.storage_key, latitude = EXCLUDED.latitude,
    longitude = EXCLUDED.longitude, projection = EXCLUDED.projection,
    declared_width = EXCLUDED.declared_width, declared_height = EXCLUDED.declared_height,
    anomalies = EXCLUDED.anomalies, stored_at = EXCLUDED.stored_at
"""


async def stored_photo_ids(
    pool: Pool, code_oc: str, photo_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Photos of this OC already stored (by any request): no need to download them again."""
    rows = await pool.fetch(
        "SELECT photo_id FROM photos WHERE code_oc = $1 AND photo_id = ANY($2::uuid[])",
        code_oc,
        list(photo_ids),
    )
    return {row["photo_id"] for row in rows}


async def save_photo(
    pool: Pool,
    message_id: uuid.UUID,
    code_oc: str,
    record: PhotoRecord,
    facts: PhotoFacts,
    anomalies: Sequence[str],
) -> None:
    """Upsert the photo row and link it to the request; running it twice changes nothing."""
    geo = record.geo
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            _UPSERT,
            code_oc,
            record.id,
            record.type.value,
            record.mime_type,
            record.name,
            record.title,
            record.description,
            record.date,
            facts.width,
            facts.height,
            record.size,
            facts.size,
            facts.sha256,
            record.storage_key(code_oc),
            geo.latitude if geo else None,
            geo.longitude if geo else None,
            geo.projection if geo else None,
            record.width,
            record.height,
            list(anomalies),
        )
        await link_photos(conn, message_id, code_oc, [record.id])


async def link_photos(
    conn: Pool | Conn,
    message_id: uuid.UUID,
    code_oc: str,
    photo_ids: Sequence[uuid.UUID],
) -> None:
    await conn.execute(
        "INSERT INTO photo_request_photos (message_id, code_oc, photo_id)"
        " SELECT $1, $2, unnest($3::uuid[]) ON CONFLICT DO NOTHING",
        message_id,
        code_oc,
        list(photo_ids),
    )
