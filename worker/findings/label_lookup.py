"""pto_reference_elsewhere: the PTO reference read on this request's PTO photo, read before on
the PTO photo of another access; and the reading stored on the photo's row.

The lookup probes the index `photos_label_key` (migration 0016_framing_index) on the reference
with its twins written as digits (`twin_key`): the same key as `same_reference` compares, so
an O read for a 0 still finds it. One probe per PTO photo, at most `_PER_PROBE` rows: a lookup,
never a scan.

"Another access" is a request of another OC, or of this OC sharing none of this request's
references (a later CR_STOC for the same order lists the same photo again, legitimately); and
not a request whose message declared this very referencePTO when this one did too (two
interventions on one outlet, such as a change of OC, are not a fraud).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg

from worker.findings.framing import Elsewhere, pto_reference_elsewhere
from worker.findings.model import Finding, PhotoTraits, PhotoView, RequestView
from worker.findings.pto_reference import twin_key

_PER_PROBE = 100
# `photos_label_key` indexes this expression; the query must spell it the same way.
LABEL_KEY = "translate(label_text, 'OISB', '0158')"

_ELSEWHERE = f"""
WITH mine AS (
    SELECT * FROM unnest($1::uuid[], $2::text[]) AS m(photo_id, key)
), candidate AS (
    SELECT m.photo_id AS mine, m.key, c.code_oc, c.photo_id
    FROM mine m CROSS JOIN LATERAL (
        SELECT code_oc, photo_id FROM photos p
        WHERE {LABEL_KEY} = m.key AND p.label_text IS NOT NULL AND p.type = 'PTO'
        LIMIT {_PER_PROBE}
    ) c
)
SELECT DISTINCT ON (c.mine) c.mine, c.photo_id, r.message_id, r.code_oc, r.received_at,
    coalesce(r.reference_commande_sous_traitant_oi, r.reference_commande_prise_interne_oc,
        r.reference_prestation_prise) AS reference
FROM candidate c
JOIN photo_request_photos l ON l.code_oc = c.code_oc AND l.photo_id = c.photo_id
JOIN photo_requests r ON r.message_id = l.message_id
WHERE r.message_id <> $3
    AND NOT (r.code_oc = $4 AND (r.reference_commande_sous_traitant_oi = $5
        OR r.reference_commande_prise_interne_oc = $6 OR r.reference_prestation_prise = $7)
        IS TRUE)
    AND NOT (translate(upper(r.reference_pto), 'OISB', '0158') = c.key AND $8 = c.key)
        IS TRUE
ORDER BY c.mine, r.received_at
"""


async def references_elsewhere(
    pool: asyncpg.Pool | asyncpg.Connection, request: RequestView, photos: Sequence[PhotoView]
) -> list[Finding]:
    """One finding per PTO photo whose reference another access's PTO photo shows: the
    earliest such request."""
    read = [p for p in photos if p.type == "PTO" and p.traits.label is not None]
    if not read:
        return []
    keys = [twin_key(p.traits.label.text) for p in read if p.traits.label is not None]
    refs = request.references
    own = twin_key(request.reference_pto) if request.reference_pto else None
    rows = await pool.fetch(
        _ELSEWHERE,
        [p.photo_id for p in read],
        keys,
        request.message_id,
        request.code_oc,
        refs.get("intervention"),
        refs.get("order"),
        refs.get("access"),
        own,
    )
    by_id = {p.photo_id: p for p in read}
    return [
        pto_reference_elsewhere(
            by_id[row["mine"]],
            Elsewhere(
                row["photo_id"],
                row["message_id"],
                row["code_oc"],
                row["reference"],
                row["received_at"],
            ),
        )
        for row in rows
    ]


async def store_reading(
    pool: asyncpg.Pool | asyncpg.Connection,
    code_oc: str,
    photo_id: uuid.UUID,
    traits: PhotoTraits,
) -> None:
    """Write what was read on a PTO photo to its row (`PhotoTraits.label_columns`)."""
    columns = traits.label_columns()
    await pool.execute(
        "UPDATE photos SET label_text = $3, label_box = $4, label_method = $5,"
        " label_confidence = $6 WHERE code_oc = $1 AND photo_id = $2",
        code_oc,
        photo_id,
        columns["label_text"],
        columns["label_box"],
        columns["label_method"],
        columns["label_confidence"],
    )


# The same index as the lookup above (photos_label_key): a probe, newest photos first.
_READING = """
SELECT l.message_id FROM photos p JOIN photo_request_photos l USING (code_oc, photo_id)
WHERE translate(p.label_text, 'OISB', '0158') = $1 AND p.label_text IS NOT NULL
ORDER BY p.stored_at DESC
LIMIT $2
"""


async def requests_reading(
    pool: asyncpg.Pool | asyncpg.Connection, reference: str, limit: int
) -> list[uuid.UUID]:
    """The requests whose PTO photo reads this reference (twins O/0, I/1, S/5, B/8 alike)."""
    rows = await pool.fetch(_READING, twin_key(reference.upper()), limit)
    return list(dict.fromkeys(row["message_id"] for row in rows))
