"""`worker replay-dead-letters`: send dead letters back to the work queue once the cause is fixed.

Each message taken from `photos.cr_stoc.dead` that matches the filter is published again straight
to `photos.cr_stoc` (through the default exchange, so that other consumers of `order-flow` do not
get it twice), confirmed, and only then removed from the dead queue; the others are given back to
it untouched. With `--dry-run` nothing moves.
"""

from __future__ import annotations

from dataclasses import dataclass

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
REASONS = ("not_json", "invalid_fields", "unknown_oc", "rejected_by_broker")


@dataclass(frozen=True)
class DeadLetterFilter:
    reason: str | None = None
    message_id: str | None = None
    contains: str | None = None  # a substring of the body, e.g. a codeOC or a reference
    limit: int | None = None
    record_id: int | None = None  # the `dead_letters` row the message was recorded as

    def matches(self, letter: DeadLetter) -> bool:
        return (
            (self.reason is None or letter.reason == self.reason)
            and (self.message_id is None or letter.message_id == self.message_id)
            and (self.contains is None or self.contains in letter.body_text)
            and (self.record_id is None or letter.record_id == self.record_id)
        )


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


async def mark_replayed(db: Db, letters: list[DeadLetter], who: str) -> int:
    """Mark the rows of the letters replayed; returns how many. A message dead-lettered before
    its copies carried their row's id is matched by messageId and reason instead."""
    sent = [letter for letter in letters if letter.replayed]
    ids = [letter.record_id for letter in sent if letter.record_id is not None]
    marked = len(
        await db.fetch(
            "UPDATE dead_letters SET replayed_at = now(), replayed_by = $2"
            " WHERE id = ANY($1::bigint[]) AND replayed_at IS NULL RETURNING id",
            ids,
            who,
        )
    )
    for letter in sent:
        if letter.record_id is None and letter.message_id is not None:
            marked += len(await db.fetch(_MARK_ONE, letter.message_id, letter.reason, who))
    return marked


_MARK_ONE = """
UPDATE dead_letters SET replayed_at = now(), replayed_by = $3
WHERE id = (SELECT id FROM dead_letters WHERE message_id = $1 AND reason = $2
            AND replayed_at IS NULL ORDER BY id LIMIT 1)
RETURNING id
"""
