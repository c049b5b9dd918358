"""The big-tables benchmark's database, made by SQL: a million finished requests, ten million
attempts and a hundred thousand pending requests.

On top of the console's data (`console_data.py`, with five times its attempts: 1 to 3 per
request, times 5), 80,000 more pending requests received over the last 7 days, 5 attempts each;
every pending request's next attempt is spread over the next hour, a few of them due now (as in
the idle benchmark: about 30 fall due every second).
"""

from __future__ import annotations

import time

import asyncpg

from tests.bench import console_data

REQUESTS = 1_000_000
EXTRA_PENDING = 80_000
ATTEMPTS_SCALE = 5

_PENDING = """
INSERT INTO photo_requests (message_id, code_oc, reference_commande_sous_traitant_oi, status,
    attempts, last_http_status, next_attempt_at, received_at, resultat, updated_at)
SELECT md5('w' || g)::uuid, (ARRAY['OC01','OC01','OC02','OC03','OC04','OC05','OC06','OC07'])
        [1 + g % 8], 'WAIT-' || g, 'pending', 5, 202, now(),
    now() - make_interval(secs => (g * 604800.0 / $1)), 'OK', now()
FROM generate_series(1, $1) AS g
"""
_PENDING_ATTEMPTS = """
INSERT INTO request_attempts (message_id, attempt, worker, operation, reference, http_status,
    x_request_id, outcome, started_at, finished_at, next_attempt_at)
SELECT r.message_id, a, 'bench-1', 'intervention', r.reference_commande_sous_traitant_oi, 202,
    md5('x' || r.message_id || a)::uuid, 'retry:not_ready',
    r.received_at + make_interval(secs => a * 60), r.received_at + make_interval(secs => a * 60.2),
    r.received_at + make_interval(secs => a * 60 + 60)
FROM photo_requests r CROSS JOIN LATERAL generate_series(1, r.attempts) AS a
WHERE r.reference_commande_sous_traitant_oi LIKE 'WAIT-%'
"""
# Every pending request: next attempt within the hour, the first few seconds' worth due now.
_SPREAD = """
UPDATE photo_requests
SET next_attempt_at = now() + make_interval(secs => (hashtext(message_id::text) & 4095) - 10)
WHERE status = 'pending'
"""


async def fill(conn: asyncpg.Connection) -> dict[str, float]:
    took = await console_data.fill(conn, REQUESTS, ATTEMPTS_SCALE)
    steps: list[tuple[str, str, tuple[object, ...]]] = [
        ("pending requests", _PENDING, (EXTRA_PENDING,)),
        ("their attempts", _PENDING_ATTEMPTS, ()),
        ("next attempts spread", _SPREAD, ()),
    ]
    took |= await console_data.run_steps(conn, steps)
    started = time.monotonic()
    await conn.execute("VACUUM ANALYZE")
    took["vacuum analyze, again"] = time.monotonic() - started
    return took
