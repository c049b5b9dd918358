"""`worker replay-dead-letters`: send dead letters back to the work queue once the cause is fixed.

Each message taken from `photos.cr_stoc.dead` that matches the filter is published again straight
to `photos.cr_stoc` (through the default exchange, so that other consumers of `order-flow` do not
get it twice), confirmed, and only then removed from the dead queue; the others are given back to
it untouched. With `--dry-run` nothing moves.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from worker.events.topology import DEAD_QUEUE, QUEUE, QueuePolicy, declare, persistent_copy
from worker.intake.requests import DEAD_LETTER_ID
from worker.ops.status import Db
from worker.resources import connect_broker
from worker.settings import Settings

_OUR_HEADERS = (
    "x-dead-letter-reason",
    "x-dead-letter-detail",
    "x-dead-lettered-by",
    "x-death",
    DEAD_LETTER_ID,
)
# Why a message is dead: intake's reasons (intake/message.py, intake/consumer.py), and the
# broker's own rejections, which carry no reason of ours.
REASONS = ("not_json", "invalid_fields", "unknown_oc", "unstorable", "rejected_by_broker")


@dataclass(frozen=True)
class DeadLetterFilter:
    reason: str | None = None
    message_id: str | None = None
    contains: str | None = None  # a substring of the body, e.g. a codeOC or a reference
    limit: int | None = None
    record_id: int | None = None  # the `dead_letters` row the message was recorded as
    # Any of these rows; a copy that carries no row's id, by its (messageId, reason).
    records: frozenset[int] | None = None
    untagged: frozenset[tuple[str, str]] = frozenset()

    def matches(self, letter: DeadLetter) -> bool:
        return (
            (self.reason is None or letter.reason == self.reason)
            and (self.message_id is None or letter.message_id == self.message_id)
            and (self.contains is None or self.contains in letter.body_text)
            and (self.record_id is None or letter.record_id == self.record_id)
            and (self.records is None or self._one_of_records(letter))
        )

    def _one_of_records(self, letter: DeadLetter) -> bool:
        if letter.record_id is not None:
            return letter.record_id in (self.records or ())
        return letter.message_id is not None and (letter.message_id, letter.reason) in self.untagged


@dataclass(frozen=True)
class DeadLetter:
    message_id: str | None
    reason: str
    detail: str
    body_text: str
    replayed: bool
    record_id: int | None = None


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value or "")


def describe(message: AbstractIncomingMessage, replayed: bool) -> DeadLetter:
    headers = message.headers or {}
    # A message the broker itself dead-lettered carries x-death instead of our reason.
    reason = _text(headers.get("x-dead-letter-reason")) or "rejected_by_broker"
    return DeadLetter(
        message_id=message.message_id,
        reason=reason,
        detail=_text(headers.get("x-dead-letter-detail")),
        body_text=message.body[:2000].decode("utf-8", errors="replace"),
        replayed=replayed,
        record_id=_record_id(headers.get(DEAD_LETTER_ID)),
    )


def _record_id(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


async def replay_dead_letters(
    settings: Settings, wanted: DeadLetterFilter, dry_run: bool
) -> list[DeadLetter]:
    """Every dead letter looked at, each saying whether it was (or would be) replayed."""
    connection = await connect_broker(settings)
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        await declare(channel, QueuePolicy.of(settings))
        return await _sweep(channel, wanted, dry_run)
    finally:
        await connection.close()


async def _sweep(
    channel: AbstractChannel, wanted: DeadLetterFilter, dry_run: bool
) -> list[DeadLetter]:
    queue = await channel.get_queue(DEAD_QUEUE)
    seen: list[DeadLetter] = []
    kept: list[AbstractIncomingMessage] = []
    replayed = 0
    # Messages stay unacked on this channel while we look, so get() never returns one twice.
    while (message := await queue.get(no_ack=False, fail=False)) is not None:
        take = wanted.matches(describe(message, True)) and (
            wanted.limit is None or replayed < wanted.limit
        )
        seen.append(describe(message, take))
        if take and not dry_run:
            await channel.default_exchange.publish(_fresh_copy(message), QUEUE)
            await message.ack()
            replayed += 1
        else:
            replayed += int(take)
            kept.append(message)
    for message in kept:
        await message.nack(requeue=True)
    return seen


def _fresh_copy(message: AbstractIncomingMessage) -> aio_pika.Message:
    headers = {k: v for k, v in (message.headers or {}).items() if k not in _OUR_HEADERS}
    replays = headers.get("x-replayed", 0)
    headers["x-replayed"] = (replays if isinstance(replays, int) else 0) + 1
    return persistent_copy(message, headers)


@dataclass(frozen=True)
class Chosen:
    """A `dead_letters` row an operator chose to replay."""

    record_id: int
    message_id: str | None
    reason: str


async def replay_rows(settings: Settings, db: Db, rows: list[Chosen], who: str) -> list[int]:
    """Replay the messages of these rows and mark them; returns the ids of the rows whose message
    was not in the dead-letter queue, which are marked so (`replay_missed_at`).

    The copies that carry their row's id first; then, for the rows still not found, copies made
    before copies carried it, by messageId and reason."""
    if not rows:
        return []
    started = await replay_started(db)
    by_id = DeadLetterFilter(records=frozenset(row.record_id for row in rows))
    sent = [
        letter for letter in await replay_dead_letters(settings, by_id, False) if letter.replayed
    ]
    found = {letter.record_id for letter in sent}
    rest = [row for row in rows if row.record_id not in found and row.message_id]
    if rest:
        untagged = frozenset((row.message_id, row.reason) for row in rest if row.message_id)
        limit = 1 if len(rest) == 1 else None
        old = DeadLetterFilter(records=frozenset(), untagged=untagged, limit=limit)
        older = await replay_dead_letters(settings, old, dry_run=False)
        if len(rest) == 1:
            # Such a copy stands for the row chosen, not for the oldest row of its messageId.
            older = [replace(letter, record_id=rest[0].record_id) for letter in older]
        sent += [letter for letter in older if letter.replayed]
    await mark_replayed(db, sent, who, started)
    missed = await db.fetch(_MARK_MISSED, [row.record_id for row in rows], who)
    return [int(row["id"]) for row in missed]


_MARK_MISSED = """
UPDATE dead_letters SET replay_missed_at = now(), replay_missed_by = $2
WHERE id = ANY($1::bigint[]) AND replayed_at IS NULL
RETURNING id
"""


async def replay_started(db: Db) -> datetime:
    """The database's time before a replay: a replayed message refused again within a moment
    gets a later `dead_lettered_at` than this, which is how the console tells the outcome."""
    started: datetime = await db.fetchval("SELECT now()")
    return started


async def mark_replayed(
    db: Db, letters: list[DeadLetter], who: str, at: datetime | None = None
) -> int:
    """Mark the rows of the letters replayed (at `at`, from `replay_started`); returns how many.
    A message dead-lettered before its copies carried their row's id is matched by messageId and
    reason instead."""
    sent = [letter for letter in letters if letter.replayed]
    ids = [letter.record_id for letter in sent if letter.record_id is not None]
    marked = len(
        await db.fetch(
            "UPDATE dead_letters SET replayed_at = coalesce($3, now()), replayed_by = $2"
            " WHERE id = ANY($1::bigint[]) AND replayed_at IS NULL RETURNING id",
            ids,
            who,
            at,
        )
    )
    for letter in sent:
        if letter.record_id is None and letter.message_id is not None:
            marked += len(await db.fetch(_MARK_ONE, letter.message_id, letter.reason, who, at))
    return marked


_MARK_ONE = """
UPDATE dead_letters SET replayed_at = coalesce($4, now()), replayed_by = $3
WHERE id = (SELECT id FROM dead_letters WHERE message_id = $1 AND reason = $2
            AND replayed_at IS NULL ORDER BY id LIMIT 1)
RETURNING id
"""
