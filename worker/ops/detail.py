"""`worker show`: one request in detail, found by messageId or by any of its three references."""

from __future__ import annotations

import json
import uuid
from typing import Any

from worker.ops.formatting import plain, table
from worker.ops.status import Db
from worker.photos.storage import object_url

_REQUEST_COLUMNS = (
    "message_id",
    "code_oc",
    "status",
    "attempts",
    "last_http_status",
    "received_at",
    "next_attempt_at",
    "completed_at",
    "refetched_at",
    "first_ready_at",
    "last_error",
    "reference_commande_sous_traitant_oi",
    "reference_commande_prise_interne_oc",
    "reference_prestation_prise",
    "date_intervention",
    "resultat",
    "actions",
    "lease_owner",
)


async def load_detail(conn: Db, message_id: uuid.UUID) -> dict[str, Any]:
    """Everything recorded about one request, as database values (the console renders these)."""
    request = await conn.fetchrow(
        f"SELECT {', '.join(_REQUEST_COLUMNS)} FROM photo_requests WHERE message_id = $1",  # noqa: S608
        message_id,
    )
    return {
        "request": dict(request) if request else None,
        "attempts": [dict(r) for r in await conn.fetch(_ATTEMPTS, message_id)],
        "photos": [dict(r) for r in await conn.fetch(_PHOTOS, message_id)],
        "refused": [dict(r) for r in await conn.fetch(_REFUSED, message_id)],
        "findings": [dict(r) for r in await conn.fetch(_FINDINGS, message_id)],
        "events": [dict(r) for r in await conn.fetch(_EVENTS, message_id)],
        "review": _review(await conn.fetchrow(_REVIEW, message_id)),
    }


def _review(row: Any) -> dict[str, Any] | None:
    """The request's review (None: nothing to review); `reviewed_at` None while pending;
    `spot_pairs` the same-spot figures of its AVANT/APRES pairs."""
    if row is None:
        return None
    return dict(row) | {"spot_pairs": json.loads(row["spot_pairs"] or "[]")}


async def build_detail(conn: Db, message_id: uuid.UUID, storage_url: str) -> dict[str, Any]:
    """`worker show`: the detail as plain JSON values, with where each photo is stored."""
    detail = await load_detail(conn, message_id)
    for photo in detail["photos"]:
        photo["location"] = object_url(storage_url, photo["storage_key"])
    for event in detail["events"]:
        event["body"] = json.loads(event["body"])
    plain_detail: dict[str, Any] = plain(detail)
    return plain_detail


_ATTEMPTS = """
SELECT attempt, started_at, finished_at, worker, operation, reference, http_status, x_request_id,
    outcome, error, next_attempt_at
FROM request_attempts WHERE message_id = $1 ORDER BY id
"""
_PHOTOS = """
SELECT p.photo_id, p.code_oc, p.type, p.mime_type, p.size_bytes, p.width, p.height, p.sha256,
    p.storage_key, p.taken_at, p.anomalies, p.stored_at, p.name, p.title, p.description,
    p.declared_size, p.declared_width, p.declared_height, p.latitude, p.longitude, p.projection,
    p.exif_taken_at, p.exif_latitude, p.exif_longitude, p.sharpness, p.brightness, p.qa_error,
    p.label_text, p.label_box, p.label_method, p.label_confidence
FROM photo_request_photos l JOIN photos p USING (code_oc, photo_id)
WHERE l.message_id = $1 ORDER BY p.type, p.taken_at, p.photo_id
"""
_REFUSED = """
SELECT photo_id, reason, detail, refused_at FROM photo_refusals WHERE message_id = $1 ORDER BY id
"""
_FINDINGS = """
SELECT f.kind, f.severity, f.photo_ids, f.detail, f.related_message_id, f.created_at,
    v.verdict, v.decided_by, v.decided_at, v.comment AS verdict_comment
FROM photo_findings f
LEFT JOIN finding_verdicts v USING (message_id, kind, photo_ids)
WHERE f.message_id = $1
ORDER BY array_position(ARRAY['suspect', 'warning', 'info'], f.severity), f.kind, f.id
"""
_REVIEW = """
SELECT queued_at, reviewed_at, reviews, checks_version, lease_owner, spot_pairs::text AS spot_pairs
FROM request_reviews WHERE message_id = $1
"""
_EVENTS = """
SELECT routing_key, created_at, sent_at, body::text AS body
FROM outbox WHERE message_id = $1 ORDER BY id
"""


def _review_text(review: dict[str, Any] | None) -> str:
    if review is None:
        return "none (no photo to review, or the checks are off)"
    if review["reviewed_at"] is None:
        return f"pending since {review['queued_at']}: the findings below need no decoding"
    return f"reviewed {review['reviewed_at']} with checks {review['checks_version']}"


def render_detail(detail: dict[str, Any]) -> str:
    request = detail["request"]
    lines = [f"Request {request['message_id']} ({request['code_oc']})"]
    lines += [f"  {name}: {request[name]}" for name in _REQUEST_COLUMNS[2:] if request[name]]
    lines += ["", f"Attempts ({len(detail['attempts'])}):"]
    lines += table(
        ["#", "started", "worker", "asked", "HTTP", "X-Request-Id", "outcome", "error"],
        [
            [
                a["attempt"],
                a["started_at"][:19],
                a["worker"],
                f"{a['operation']} {a['reference']}",
                a["http_status"] or "-",
                a["x_request_id"] or "-",
                a["outcome"],
                (a["error"] or "")[:60],
            ]
            for a in detail["attempts"]
        ],
    )
    lines += ["", f"Photos stored ({len(detail['photos'])}):"]
    lines += [
        f"  {p['photo_id']}  {p['type']}  {p['size_bytes']} bytes  {p['width']}x"
        f"{p['height']}  sha256 {p['sha256'][:16]}…  {p['location']}"
        + (f"  anomalies: {'; '.join(p['anomalies'])}" if p["anomalies"] else "")
        for p in detail["photos"]
    ]
    lines += ["", f"Photos refused ({len(detail['refused'])}):"]
    lines += [f"  {r['photo_id'] or '-'}  {r['reason']}: {r['detail']}" for r in detail["refused"]]
    lines += ["", f"Review: {_review_text(detail['review'])}"]
    lines += [f"Findings ({len(detail['findings'])}):"]
    lines += [
        f"  {f['severity']:8} {f['kind']}: {f['detail']}"
        + (f" (see {f['related_message_id']})" if f["related_message_id"] else "")
        + _verdict_text(f)
        for f in detail["findings"]
    ]
    lines += ["", "Result events:"]
    lines += [
        f"  {e['routing_key']}  written {e['created_at'][:19]}  "
        f"{'published ' + e['sent_at'][:19] if e['sent_at'] else 'not yet published'}"
        for e in detail["events"]
    ] or ["  none yet"]
    return "\n".join(lines)


def _verdict_text(finding: dict[str, Any]) -> str:
    if not finding["verdict"]:
        return ""
    said = f": {finding['verdict_comment']}" if finding["verdict_comment"] else ""
    return (
        f"\n           verdict {finding['verdict']} by {finding['decided_by']}"
        f" {finding['decided_at'][:19]}{said}"
    )


def render_dead_letters(letters: list[dict[str, Any]]) -> str:
    lines = [f"Dead letters ({len(letters)}):"]
    for letter in letters:
        replayed, dismissed = letter["replayed_at"], letter.get("dismissed_at")
        lines += [
            f"  #{letter['id']}  {letter['dead_lettered_at']:%Y-%m-%dT%H:%M:%S}  messageId"
            f" {letter['message_id'] or '-'}  {letter['reason']}: {letter['detail']}",
            "    "
            + (
                f"replayed {replayed:%Y-%m-%dT%H:%M:%S} by {letter['replayed_by'] or '-'}"
                if replayed
                else f"dismissed {dismissed:%Y-%m-%dT%H:%M:%S} by {letter['dismissed_by'] or '-'}"
                if dismissed
                else "not replayed (worker replay-dead-letters)"
            ),
            f"    body: {letter['body_excerpt'][:200]}",
        ]
    return "\n".join(lines)
