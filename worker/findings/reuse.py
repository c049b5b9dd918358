"""reused_photo: the same image already stored for another intervention, of any OC.

Exact copies are found through the sha256 index; near copies (re-encoded, resized, retouched)
through the four band indexes of the perceptual hash (migration 0008): one indexed probe per band
value, never a scan, whatever the number of photos stored. Each probe reads at most
`_PER_PROBE` rows, so that an image shared by thousands of photos cannot make it slow. A photo
rotated or mirrored is found too: the stored hashes are upright, and the photo is looked up with
the hash of each of its eight turns (`hashing.TURNS`).

"Another intervention" is a request of another OC, or of this OC sharing none of this request's
references: a later CR_STOC for the same order (KO, then OK) lists the earlier photos again,
legitimately.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from worker.findings.hashing import BAND_BITS, BANDS, flipped_bands
from worker.findings.model import Finding, PhotoView, RequestView

_PER_PROBE = 100
# The distance a turned hash's probes guarantee: one band equal (see `_probes`).
_TURN_REACH = BANDS - 1

# What the photo turned `TURNS[k]` is of the stored one it matches, in the finding's words.
_TURNED = (
    "",
    ", mirrored left to right",
    ", mirrored top to bottom",
    ", rotated by 180 degrees",
    ", rotated by 90 degrees and mirrored",
    ", rotated by 90 degrees clockwise",
    ", rotated by 90 degrees counter-clockwise",
    ", rotated by 90 degrees and mirrored",
)

_BAND = """
    SELECT q.photo_id AS mine, q.turn, c.code_oc, c.photo_id,
        bit_count((c.phash # q.hash)::bit(64))::int AS distance
    FROM probe q CROSS JOIN LATERAL (
        SELECT code_oc, photo_id, phash FROM photos p
        WHERE p.phash IS NOT NULL AND phash_band(p.phash, {band}) = q.value
        LIMIT {limit}
    ) c
    WHERE q.band = {band}
"""

# The probe table (photo, turn, hash, band, value): `hashing.band_probes` of each distinct hash,
# made here from one row a hash (its own bands, and the first `flipped` bands one bit away),
# not sent as one row a probe: 50 rows a photo cost the worker more to encode than the lookup.
_PROBES = f"""
    SELECT h.photo_id, h.turn, h.hash, b.band, phash_band(h.hash, b.band) # f.flip AS value
    FROM unnest($3::uuid[], $4::int[], $5::bigint[], $6::int[]) AS h(photo_id, turn, hash, flipped)
    CROSS JOIN generate_series(0, {BANDS - 1}) AS b(band)
    CROSS JOIN LATERAL (
        SELECT 0 AS flip
        UNION ALL
        SELECT 1 << n FROM generate_series(0, {BAND_BITS - 1}) AS n WHERE b.band < h.flipped
    ) f
"""

_REUSED = f"""
WITH mine AS (
    SELECT * FROM unnest($1::uuid[], $2::text[]) AS m(photo_id, sha256)
), probe AS (
    {_PROBES}
), near AS (
    {" UNION ALL ".join(_BAND.format(band=b, limit=_PER_PROBE) for b in range(4))}
), candidate AS (
    SELECT m.photo_id AS mine, 0 AS turn, c.code_oc, c.photo_id, true AS exact, 0 AS distance
    FROM mine m CROSS JOIN LATERAL (
        SELECT code_oc, photo_id FROM photos p WHERE p.sha256 = m.sha256 LIMIT {_PER_PROBE}
    ) c
    UNION ALL
    SELECT mine, turn, code_oc, photo_id, false, distance FROM near WHERE distance <= $7
)
SELECT DISTINCT ON (c.mine) c.mine, c.exact, c.distance, c.turn, c.photo_id, r.message_id,
    r.code_oc, r.received_at, coalesce(r.reference_commande_sous_traitant_oi,
        r.reference_commande_prise_interne_oc, r.reference_prestation_prise) AS reference
FROM candidate c
JOIN photo_request_photos l ON l.code_oc = c.code_oc AND l.photo_id = c.photo_id
JOIN photo_requests r ON r.message_id = l.message_id
WHERE r.message_id <> $8 AND NOT (r.code_oc = $9 AND (
    r.reference_commande_sous_traitant_oi = $10 OR r.reference_commande_prise_interne_oc = $11
    OR r.reference_prestation_prise = $12) IS TRUE)
ORDER BY c.mine, c.exact DESC, c.distance, c.turn, r.received_at
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
    refs = request.references
    return [
        [photo.photo_id for photo in photos],
        [photo.sha256 for photo in photos],
        *_probes(photos, max_distance),
        max_distance,
        request.message_id,
        request.code_oc,
        refs.get("intervention"),
        refs.get("order"),
        refs.get("access"),
    ]


def _probes(photos: list[PhotoView], max_distance: int) -> list[list[Any]]:
    """The hashes to look up, as columns: photo, turn, the turned hash, bands flipped
    (`hashing.flipped_bands`); `_PROBES` makes each one's probes (`hashing.band_probes`).

    The upright hash gets every probe the distance needs. The seven turned ones get the four
    exact band probes only (`_TURN_REACH`): 28 probes of about 15 rows a photo, where the
    values one bit away would add 16 more for each. A turned copy is then found when within
    3 bits, or within the distance with one band equal (at 4 bits, 90 % of the ways to differ).
    A symmetric photo has the same hash for some of its turns: it is looked up once, as the
    first of them.
    """
    columns: list[list[Any]] = [[], [], [], []]
    upright, turned = flipped_bands(max_distance), flipped_bands(min(max_distance, _TURN_REACH))
    for photo in photos:
        if photo.traits.phash is None:
            continue
        hashes = (photo.traits.phash, *photo.traits.phash_turns)
        for value in dict.fromkeys(hashes):
            turn = hashes.index(value)
            columns[0].append(photo.photo_id)
            columns[1].append(turn)
            columns[2].append(value)
            columns[3].append(upright if turn == 0 else turned)
    return columns


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
        f"{photo.type} is nearly the same image as {where}{_TURNED[row['turn']]}: perceptual"
        f" hashes {row['distance']} bits apart of 64 (threshold {max_distance})"
    )
    return Finding("reused_photo", "warning", detail, (photo.photo_id,), other)
