"""reused_photo: the same image already stored for another intervention, of any OC.

Exact copies are found through the sha256 index; near copies (re-encoded, resized, retouched)
through the four band indexes of the perceptual hash (migration 0008): one indexed probe per band
value, never a scan, whatever the number of photos stored. Each probe reads at most
`_PER_PROBE` rows, so that an image shared by thousands of photos cannot make it slow.

"Another intervention" is a request of another OC, or of this OC sharing none of this request's
references: a later CR_STOC for the same order (KO, then OK) lists the earlier photos again,
legitimately.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from worker.findings.hashing import band_probes
from worker.findings.model import Finding, PhotoView, RequestView

_PER_PROBE = 100

_BAND = """
    SELECT q.photo_id AS mine, c.code_oc, c.photo_id, c.phash
    FROM probe q CROSS JOIN LATERAL (
        SELECT code_oc, photo_id, phash FROM photos p
        WHERE p.phash IS NOT NULL AND phash_band(p.phash, {band}) = q.value
        LIMIT {limit}
    ) c
    WHERE q.band = {band}
"""

_REUSED = f"""
WITH mine AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[]) AS m(photo_id, sha256, phash)
), probe AS (
    SELECT * FROM unnest($4::uuid[], $5::int[], $6::int[]) AS q(photo_id, band, value)
), near AS (
    {" UNION ALL ".join(_BAND.format(band=b, limit=_PER_PROBE) for b in range(4))}
), candidate AS (
    SELECT m.photo_id AS mine, c.code_oc, c.photo_id, true AS exact, 0 AS distance
    FROM mine m CROSS JOIN LATERAL (
        SELECT code_oc, photo_id FROM photos p WHERE p.sha256 = m.sha256 LIMIT {_PER_PROBE}
    ) c
    UNION ALL
    SELECT n.mine, n.code_oc, n.photo_id, false, d.distance
    FROM near n JOIN mine m ON m.photo_id = n.mine,
        LATERAL (SELECT bit_count((n.phash # m.phash)::bit(64))::int AS distance) d
    WHERE d.distance <= $7
)
SELECT DISTINCT ON (c.mine) c.mine, c.exact, c.distance, c.photo_id, r.message_id,
    r.code_oc, r.received_at, coalesce(r.reference_commande_sous_traitant_oi,
        r.reference_commande_prise_interne_oc, r.reference_prestation_prise) AS reference
FROM candidate c
JOIN photo_request_photos l ON l.code_oc = c.code_oc AND l.photo_id = c.photo_id
JOIN photo_requests r ON r.message_id = l.message_id
WHERE r.message_id <> $8 AND NOT (r.code_oc = $9 AND (
    r.reference_commande_sous_traitant_oi = $10 OR r.reference_commande_prise_interne_oc = $11
    OR r.reference_prestation_prise = $12) IS TRUE)
ORDER BY c.mine, c.exact DESC, c.distance, r.received_at
"""


async def reused_photos(
    pool: asyncpg.Pool | asyncpg.Connection,
    request: RequestView,
    photos: list[PhotoView],
    max_distance: int,
) -> list[Finding]:
    """One finding per photo seen before in another intervention: the earliest such request."""
    if not photos:
        return []
    rows = await pool.fetch(_REUSED, *_arguments(request, photos, max_distance))
    by_id = {photo.photo_id: photo for photo in photos}
    return [_finding(by_id[row["mine"]], row, max_distance) for row in rows]


def _arguments(request: RequestView, photos: list[PhotoView], max_distance: int) -> list[Any]:
    probes = [
        (photo.photo_id, band, value)
        for photo in photos
        if photo.traits.phash is not None
        for band, value in band_probes(photo.traits.phash, max_distance)
    ]
    refs = request.references
    return [
        [photo.photo_id for photo in photos],
        [photo.sha256 for photo in photos],
        [photo.traits.phash for photo in photos],
        [probe[0] for probe in probes],
        [probe[1] for probe in probes],
        [probe[2] for probe in probes],
        max_distance,
        request.message_id,
        request.code_oc,
        refs.get("intervention"),
        refs.get("order"),
        refs.get("access"),
    ]


def _finding(photo: PhotoView, row: asyncpg.Record, max_distance: int) -> Finding:
    other: uuid.UUID = row["message_id"]
    where = (
        f"photo {row['photo_id']} of request {other} ({row['code_oc']}, reference"
        f" {row['reference']}, received {row['received_at']:%Y-%m-%d %H:%M} UTC)"
    )
    if row["exact"]:
        detail = f"{photo.type} is the very same file as {where}"
        return Finding("reused_photo", "suspect", detail, (photo.photo_id,), other)
    detail = (
        f"{photo.type} is nearly the same image as {where}: perceptual hashes"
        f" {row['distance']} bits apart of 64 (threshold {max_distance})"
    )
    return Finding("reused_photo", "warning", detail, (photo.photo_id,), other)
