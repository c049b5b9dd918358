"""Reused photos seen from both requests: the photo a `reused_photo` finding matched in the
earlier request, and, on the earlier request, the later requests that reused one of its photos.

A finding stores the photo it is about and the other request (`related_message_id`), not the
matched photo: that one is found again among the other request's photos, the one its detail
names first, then the same bytes, then the nearest perceptual hash (how the check chose it).
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

_MATCHES = """
SELECT DISTINCT ON (m.n) m.n, o.code_oc, o.photo_id
FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::text[])
    WITH ORDINALITY AS m(code_oc, photo_id, related, detail, n)
JOIN photos p ON p.code_oc = m.code_oc AND p.photo_id = m.photo_id
JOIN photo_request_photos l ON l.message_id = m.related
JOIN photos o ON o.code_oc = l.code_oc AND o.photo_id = l.photo_id
ORDER BY m.n, strpos(m.detail, o.photo_id::text) > 0 DESC, o.sha256 = p.sha256 DESC,
    bit_count((o.phash # p.phash)::bit(64)) NULLS LAST, o.photo_id
"""

# One probe of photo_findings_related (migration 0020), the findings pointing at this request.
_LATER = """
SELECT f.message_id, f.code_oc, f.severity, f.photo_ids, f.detail, r.received_at,
    coalesce(r.reference_commande_sous_traitant_oi, r.reference_commande_prise_interne_oc,
        r.reference_prestation_prise) AS reference
FROM photo_findings f JOIN photo_requests r USING (message_id)
WHERE f.kind = 'reused_photo' AND f.related_message_id = $1
ORDER BY r.received_at, f.id
LIMIT 50
"""


async def with_matches(db: asyncpg.Pool, code_oc: str, findings: list[dict[str, Any]]) -> None:
    """Adds `match` ({code_oc, photo_id} of the other request's photo, or None) to each
    finding of a request of `code_oc`: only reuse findings have one."""
    for finding in findings:
        finding["match"] = None
    reuses = [
        f
        for f in findings
        if f["kind"] == "reused_photo" and f["related_message_id"] and f["photo_ids"]
    ]
    found = await _matches(
        db, [(code_oc, f["photo_ids"][0], f["related_message_id"], f["detail"]) for f in reuses]
    )
    for index, match in found.items():
        reuses[index]["match"] = match


async def later_reuses(db: asyncpg.Pool, message_id: uuid.UUID) -> list[dict[str, Any]]:
    """The later requests' reuse findings that point at this request, each with `theirs` (their
    photo) and `match` (this request's photo it matched)."""
    rows = [dict(r) for r in await db.fetch(_LATER, message_id)]
    rows = [r for r in rows if r["photo_ids"]]
    found = await _matches(
        db, [(r["code_oc"], r["photo_ids"][0], message_id, r["detail"]) for r in rows]
    )
    for index, row in enumerate(rows):
        row["theirs"] = {"code_oc": row["code_oc"], "photo_id": row["photo_ids"][0]}
        row["match"] = found.get(index)
    return rows


async def _matches(
    db: asyncpg.Pool, asked: list[tuple[str, uuid.UUID, uuid.UUID, str]]
) -> dict[int, dict[str, Any]]:
    if not asked:
        return {}
    columns = [list(column) for column in zip(*asked, strict=True)]
    rows = await db.fetch(_MATCHES, *columns)
    return {row["n"] - 1: {"code_oc": row["code_oc"], "photo_id": row["photo_id"]} for row in rows}
