"""A console benchmark's database: N requests with their attempts, photos, findings, events and
some dead letters, made by SQL (generate_series) in a few minutes for a million requests.

Shapes, for N requests over the last 180 days, eight OCs of unequal size:
- statuses: 93 % completed, 2.5 % failed, 1.5 % unavailable, 1 % expired, 2 % pending;
- references: every request an intervention reference `INT-<OC>-<n>`, half an order reference
  `CMD-<n>`, a fifth an access reference `ACC-<n>`;
- attempts: 1 to 3 per request (2 per request on average), times `attempts_scale`; photos: 3
  per completed request;
- findings: one request in ten (of every OC: chosen by a hash of its messageId, not of its
  number, which gave OC01's alone), 1 or 2 findings of the nine kinds; events: one per final
  status;
- dead letters: N / 200;
- the desk and the on-call view's data: a verdict on half the suspect findings (a quarter of
  them false alarms), six worker heartbeats (four live, made fresh by `freshen` before timing),
  the pending requests due in the next hours but one in ten overdue, a third of those still
  leased by a worker that stopped.
"""

from __future__ import annotations

import time

import asyncpg

KINDS = (
    "missing_type",
    "unpaired",
    "same_before_after",
    "reused_photo",
    "date_out_of_window",
    "location_far",
    "declared_mismatch",
    "low_quality",
    "qa_error",
)
SEVERITIES = ("info", "warning", "suspect")

# A cheap deterministic hash of g into [0, 1000), so that every run makes the same data.
_H = "(({g}::bigint * 2654435761) % 1000)"

_REQUESTS = f"""
INSERT INTO photo_requests (message_id, code_oc, reference_commande_sous_traitant_oi,
    reference_commande_prise_interne_oc, reference_prestation_prise, status, attempts,
    last_http_status, next_attempt_at, received_at, completed_at, first_ready_at, last_error,
    resultat, actions, updated_at)
SELECT md5('r' || g)::uuid, oc, 'INT-' || oc || '-' || g,
    CASE WHEN g % 2 = 0 THEN 'CMD-' || g END, CASE WHEN g % 5 = 0 THEN 'ACC-' || g END,
    status, $2::int * (1 + g % 3),
    CASE status WHEN 'completed' THEN 200 WHEN 'failed' THEN 403 WHEN 'unavailable' THEN 204
        ELSE 202 END,
    CASE WHEN status = 'pending' THEN at + interval '2 hours' END,
    at, CASE WHEN status <> 'pending' THEN at + interval '90 seconds' END,
    CASE WHEN status = 'completed' THEN at + interval '60 seconds' END,
    CASE WHEN status = 'failed' THEN 'metadata answered 403: forbidden' END,
    'OK', ARRAY['POSE_PTO', 'CABLAGE_PBO'], at
FROM (
    SELECT g, now() - make_interval(secs => (($1::bigint - g) * 15552000.0 / $1)) AS at,
        (ARRAY['OC01','OC01','OC01','OC02','OC02','OC03','OC04','OC05','OC06','OC07'])
            [1 + {_H.format(g="g")} % 10] AS oc,
        CASE WHEN {_H.format(g="g + 7")} < 930 THEN 'completed'
             WHEN {_H.format(g="g + 7")} < 955 THEN 'failed'
             WHEN {_H.format(g="g + 7")} < 970 THEN 'unavailable'
             WHEN {_H.format(g="g + 7")} < 980 THEN 'expired'
             ELSE 'pending' END AS status
    FROM generate_series(1, $1) AS g
) s
"""
# A few requests of an eighth OC, all expired long ago: the rare combination a filter can ask.
_RARE = """
UPDATE photo_requests SET code_oc = 'OC08'
WHERE message_id IN (SELECT md5('r' || g)::uuid FROM generate_series(1, $1, 997) AS g)
"""
_ATTEMPTS = """
INSERT INTO request_attempts (message_id, attempt, worker, operation, reference, http_status,
    x_request_id, outcome, error, started_at, finished_at, next_attempt_at)
SELECT r.message_id, a, 'bench-1', 'intervention', r.reference_commande_sous_traitant_oi,
    CASE WHEN a < r.attempts THEN 202 ELSE coalesce(r.last_http_status, 202) END,
    md5('x' || r.message_id || a)::uuid,
    CASE WHEN a < r.attempts OR r.status = 'pending' THEN 'retry:not_ready' ELSE r.status END,
    CASE WHEN a = r.attempts THEN r.last_error END,
    r.received_at + make_interval(secs => a * 30), r.received_at + make_interval(secs => a * 30.2),
    CASE WHEN a < r.attempts THEN r.received_at + make_interval(secs => a * 30 + 30) END
FROM photo_requests r CROSS JOIN LATERAL generate_series(1, r.attempts) AS a
"""
_PHOTOS = """
INSERT INTO photos (code_oc, photo_id, type, mime_type, name, title, taken_at, width, height,
    declared_size, size_bytes, sha256, storage_key, latitude, longitude, projection, stored_at,
    declared_width, declared_height)
SELECT r.code_oc, md5('p' || r.message_id || k)::uuid,
    (ARRAY['PTO', 'PBO_AVANT', 'PBO_APRES'])[k], 'image/jpeg', 'photo-' || k || '.jpg',
    'photo ' || k, r.received_at - interval '1 day', 4000, 3000, 2400000, 2400000,
    encode(sha256(('p' || r.message_id || k)::bytea), 'hex'),
    r.code_oc || '/' || md5('p' || r.message_id || k)::uuid || '.jpg',
    45 + k * 0.01, 5 + k * 0.01, 'WGS84', r.completed_at, 4000, 3000
FROM photo_requests r CROSS JOIN generate_series(1, 3) AS k
WHERE r.status = 'completed'
"""
_LINKS = """
INSERT INTO photo_request_photos (message_id, code_oc, photo_id)
SELECT r.message_id, r.code_oc, md5('p' || r.message_id || k)::uuid
FROM photo_requests r CROSS JOIN generate_series(1, 3) AS k
WHERE r.status = 'completed'
"""
_FINDINGS = f"""
INSERT INTO photo_findings (message_id, code_oc, kind, severity, photo_ids, detail,
    related_message_id, created_at)
SELECT r.message_id, r.code_oc, ($1::text[])[1 + ({_H.format(g="n + f")} % 9)],
    ($2::text[])[1 + ({_H.format(g="n + 3 * f")} % 3)],
    ARRAY[md5('p' || r.message_id || 1)::uuid], 'benchmark finding ' || f,
    CASE WHEN f = 2 THEN md5('r' || (n + 1))::uuid END, r.completed_at
FROM (SELECT message_id, code_oc, completed_at,
             row_number() OVER () AS n FROM photo_requests WHERE status = 'completed') r
CROSS JOIN generate_series(1, 2) AS f
WHERE abs(hashtext(r.message_id::text)) % 10 = 0 AND (f = 1 OR n % 3 = 0)
"""
_EVENTS = """
INSERT INTO outbox (message_id, routing_key, body, created_at, sent_at)
SELECT message_id, 'photos.' || status,
    jsonb_build_object('messageId', message_id, 'codeOC', code_oc, 'status', status),
    completed_at, completed_at + interval '1 second'
FROM photo_requests WHERE status <> 'pending'
"""
_DEAD = """
INSERT INTO dead_letters (message_id, reason, detail, body_excerpt, worker, dead_lettered_at,
    replayed_at)
SELECT md5('d' || g)::uuid::text, (ARRAY['not_json', 'invalid_fields', 'unknown_oc'])[1 + g % 3],
    'benchmark dead letter', '{"messageId": "' || md5('d' || g)::uuid || '"}', 'bench-1',
    now() - make_interval(secs => g * 600), CASE WHEN g % 4 = 0 THEN now() END
FROM generate_series(1, $1) AS g
"""
# Half the suspect findings judged, a day after they were raised.
_VERDICTS = f"""
INSERT INTO finding_verdicts (message_id, kind, photo_ids, code_oc, verdict, decided_by,
    decided_at, comment)
SELECT message_id, kind, photo_ids, code_oc,
    CASE WHEN {_H.format(g="id")} % 4 = 0 THEN 'false_alarm' ELSE 'confirmed' END,
    'analyst-' || id % 3, created_at + interval '1 day', ''
FROM photo_findings WHERE severity = 'suspect' AND {_H.format(g="id")} % 2 = 0
ON CONFLICT DO NOTHING
"""
# Pending requests: due within the next hours, but one in ten overdue (up to a day late), and
# a third of those still carrying the lease of a worker that went away.
_LEASES = """
UPDATE photo_requests SET
    next_attempt_at = CASE WHEN h % 10 = 0 THEN now() - make_interval(secs => 180 + h * 80)
        ELSE now() + make_interval(secs => h * 20) END,
    lease_owner = CASE WHEN h % 30 = 0 THEN 'bench-gone-' || h % 2 END,
    lease_id = CASE WHEN h % 30 = 0 THEN md5('l' || message_id)::uuid END
FROM (SELECT message_id AS id, abs(hashtext(message_id::text)) % 1000 AS h
      FROM photo_requests WHERE status = 'pending') s
WHERE photo_requests.message_id = s.id
"""
_HEARTBEATS = """
INSERT INTO worker_heartbeats (instance, roles, version, host, pid, started_at, seen_at,
    stopped_at, in_flight, queues)
SELECT 'bench-' || g, CASE WHEN g <= 2 THEN 'intake,attempts' ELSE 'review' END, '1.0.0',
    'host-' || g, 1000 + g, now() - interval '3 days', now() - make_interval(secs => g),
    CASE WHEN g = 6 THEN now() - interval '1 hour' END, g % 3,
    jsonb_build_object('photos.cr_stoc', jsonb_build_object('messages', 40 + g,
        'consumers', 2), 'photos.cr_stoc.dead', jsonb_build_object('messages', 3,
        'consumers', 0))
FROM generate_series(1, 6) AS g
"""


async def freshen(conn: asyncpg.Connection) -> None:
    """The heartbeats of the live workers (the first four) seen now, as when they beat."""
    await conn.execute(
        "UPDATE worker_heartbeats SET seen_at = now() - make_interval(secs => pid - 1000)"
        " WHERE instance IN ('bench-1', 'bench-2', 'bench-3', 'bench-4')"
    )


async def fill(
    conn: asyncpg.Connection, requests: int, attempts_scale: int = 1
) -> dict[str, float]:
    """Insert everything; returns the seconds each step took. `attempts_scale` multiplies the
    attempts of every request (the big-tables benchmark asks 5: 10 million for a million)."""
    steps: list[tuple[str, str, tuple[object, ...]]] = [
        ("requests", _REQUESTS, (requests, attempts_scale)),
        ("rare OC", _RARE, (requests,)),
        ("attempts", _ATTEMPTS, ()),
        ("photos", _PHOTOS, ()),
        ("photo links", _LINKS, ()),
        ("findings", _FINDINGS, (list(KINDS), list(SEVERITIES))),
        ("events", _EVENTS, ()),
        ("dead letters", _DEAD, (max(1, requests // 200),)),
        ("verdicts", _VERDICTS, ()),
        ("pending leases", _LEASES, ()),
        ("heartbeats", _HEARTBEATS, ()),
    ]
    took = await run_steps(conn, steps)
    started = time.monotonic()
    await conn.execute("VACUUM ANALYZE")
    took["vacuum analyze"] = time.monotonic() - started
    return took


async def run_steps(
    conn: asyncpg.Connection, steps: list[tuple[str, str, tuple[object, ...]]]
) -> dict[str, float]:
    took = {}
    for name, sql, args in steps:
        started = time.monotonic()
        await conn.execute(sql, *args)
        took[name] = time.monotonic() - started
        print(f"  {name}: {took[name]:.0f} s", flush=True)
    return took
