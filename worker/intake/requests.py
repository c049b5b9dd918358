"""The SQL of intake: a batch of accepted messages becomes request rows; refusals are kept too.

A refusal is recorded whatever its bytes: the message id and the excerpt are made storable.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg

from worker.border import cap, storable
from worker.intake.message import CrStoc

Pool = asyncpg.Pool
# Header of a dead-lettered copy: the id of its `dead_letters` row, which a replay marks.
DEAD_LETTER_ID = "x-dead-letter-id"


async def insert_requests(pool: Pool, messages: Sequence[CrStoc]) -> list[bool]:
    """Record these requests, due now, in one statement; for each, whether it was new.

    A known messageId changes nothing (ON CONFLICT DO NOTHING), nor does the messageId of a
    purged request (`purged_messages`, kept `WORKER_KEEP_PURGED_IDS` after the purge); a
    messageId repeated in the batch is new once.
    """
    first: dict[uuid.UUID, CrStoc] = {}
    for message in messages:
        first.setdefault(message.message_id, message)
    new = await _insert_new(pool, list(first.values()))
    return [first[m.message_id] is m and m.message_id in new for m in messages]


async def _insert_new(pool: Pool, messages: Sequence[CrStoc]) -> set[uuid.UUID]:
    # Column arrays, encoded by asyncpg in binary: no JSON document of the batch to build per
    # insert. Actions are enum names, so a comma joins them.
    rows = await pool.fetch(
        """
        INSERT INTO photo_requests (message_id, code_oc, reference_prestation_prise,
            reference_commande_prise_interne_oc, reference_commande_sous_traitant_oi,
            date_intervention, resultat, actions, reference_pto, next_attempt_at)
        SELECT r.message_id, r.code_oc, r.access, r.ordered, r.intervention, r.date_intervention,
            r.resultat, string_to_array(r.actions, ','), r.pto, now()
        FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
            $6::timestamptz[], $7::text[], $8::text[], $9::text[])
            AS r(message_id, code_oc, access, ordered, intervention, date_intervention, resultat,
                actions, pto)
        WHERE NOT EXISTS (SELECT 1 FROM purged_messages p WHERE p.message_id = r.message_id)
        ON CONFLICT (message_id) DO NOTHING
        RETURNING message_id
        """,
        [m.message_id for m in messages],
        [m.code_oc for m in messages],
        [m.reference_prestation_prise for m in messages],
        [m.reference_commande_prise_interne_oc for m in messages],
        [m.reference_commande_sous_traitant_oi for m in messages],
        [m.date_intervention for m in messages],
        [m.resultat for m in messages],
        [None if m.actions is None else ",".join(m.actions) for m in messages],
        [m.reference_pto for m in messages],
    )
    return {row["message_id"] for row in rows}


async def record_dead_letter(
    pool: Pool, message_id: str | None, reason: str, detail: str, body: bytes, worker: str
) -> int:
    """The row's id, which the dead-lettered copy carries so that a replay can mark the row."""
    record_id: int = await pool.fetchval(
        "INSERT INTO dead_letters (message_id, reason, detail, body_excerpt, worker)"
        " VALUES ($1, $2, $3, $4, $5) RETURNING id",
        storable(cap(message_id, 255)) if message_id is not None else None,
        reason,
        storable(cap(detail, 2000)),
        storable(body[:2000].decode("utf-8", errors="replace")),
        worker,
    )
    return record_id
