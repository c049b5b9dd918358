"""`worker refetch`: move requests forward to an immediate new attempt (after a fix at an OC).

A pending request becomes due now; an expired or failed one becomes pending again, due now, and
its `max_wait` counts from the refetch. A request being worked on right now is left alone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
from asyncpg.pool import PoolConnectionProxy

REFETCHABLE = ("pending", "expired", "failed")


@dataclass(frozen=True)
class RefetchSelection:
    keys: tuple[str, ...] = ()  # messageIds or references
    status: str | None = None
    code_oc: str | None = None

    def where(self) -> tuple[str, list[object]]:
        """The SQL condition for the chosen requests, and its arguments."""
        clauses: list[str] = ["status = ANY($1::text[])"]
        args: list[object] = [list(REFETCHABLE)]
        if self.keys:
            ids, refs = _split(self.keys)
            args += [ids, refs]
            clauses.append(
                "(message_id = ANY($2::uuid[]) OR reference_commande_sous_traitant_oi = ANY($3)"
                " OR reference_commande_prise_interne_oc = ANY($3)"
                " OR reference_prestation_prise = ANY($3))"
            )
        for column, value in (("status", self.status), ("code_oc", self.code_oc)):
            if value is not None:
                args.append(value)
                clauses.append(f"{column} = ${len(args)}")
        return " AND ".join(clauses), args


def _split(keys: tuple[str, ...]) -> tuple[list[uuid.UUID], list[str]]:
    ids, refs = [], []
    for key in keys:
        try:
            ids.append(uuid.UUID(key))
        except ValueError:
            refs.append(key)
    return ids, refs


@dataclass(frozen=True)
class Refetched:
    message_id: uuid.UUID
    code_oc: str
    was: str
    in_flight: bool


async def refetch(
    conn: asyncpg.Connection | PoolConnectionProxy, selection: RefetchSelection, dry_run: bool
) -> list[Refetched]:
    """The requests chosen, each saying whether it was in flight (and so left alone)."""
    where, args = selection.where()
    async with conn.transaction():
        rows = await conn.fetch(
            f"SELECT message_id, code_oc, status, lease_id IS NOT NULL AS in_flight"  # noqa: S608
            f" FROM photo_requests WHERE {where} ORDER BY received_at FOR UPDATE",
            *args,
        )
        chosen = [
            Refetched(r["message_id"], r["code_oc"], r["status"], r["in_flight"]) for r in rows
        ]
        movable = [r.message_id for r in chosen if not r.in_flight]
        if movable and not dry_run:
            await conn.execute(
                "UPDATE photo_requests SET status = 'pending', next_attempt_at = now(),"
                " completed_at = NULL, not_found_count = 0, refetched_at = now(),"
                " updated_at = now() WHERE message_id = ANY($1::uuid[])",
                movable,
            )
    return chosen
