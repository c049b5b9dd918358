"""Finding requests and dead letters by a key: a messageId, or a reference, exact or as a prefix.

One lookup for `worker show` and the console's search. A reference is matched whatever the case
it is typed in: a prefix of `lower(reference)` is read through the `text_pattern_ops` indexes of
the three reference columns' lower case (migration 0024) as a range, in byte order, so that the
exact reference, if there is one, comes first.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

Db = asyncpg.Connection | asyncpg.Pool
REFERENCE_COLUMNS = (
    "reference_commande_sous_traitant_oi",
    "reference_commande_prise_interne_oc",
    "reference_prestation_prise",
)
_LAST_CODE_POINT = 0x10FFFF


@dataclass(frozen=True)
class Key:
    """What an operator typed: a messageId, or a reference (`REF*` asks for the prefix)."""

    text: str
    message_id: uuid.UUID | None
    prefix_only: bool

    @classmethod
    def parse(cls, typed: str) -> Key:
        text = typed.strip()
        prefix_only = text.endswith("*")
        text = text.rstrip("*")
        try:
            return cls(text, uuid.UUID(text), False)
        except ValueError:
            return cls(text, None, prefix_only)


def prefix_end(prefix: str) -> str | None:
    """The first string after every string that starts with `prefix`, in code point order
    (UTF-8 byte order, which `text_pattern_ops` uses); None when there is no such bound."""
    chars = list(prefix)
    while chars and ord(chars[-1]) == _LAST_CODE_POINT:
        chars.pop()
    if not chars:
        return None
    following = ord(chars[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates cannot be stored: skip to what follows them
        following = 0xE000
    return "".join(chars[:-1]) + chr(following)


@dataclass(frozen=True)
class Match:
    message_id: uuid.UUID
    reference: str  # the reference that matched, as stored
    key: str  # its lower case: the order of the results, and a page's cursor


async def lowered(db: Db, text: str) -> str:
    """`text` in lower case as PostgreSQL writes it (`lower()`, which the indexes hold): Python
    agrees for ASCII, not for every other letter."""
    if text.isascii():
        return text.lower()
    lower: str = await db.fetchval("SELECT lower($1::text)", text)
    return lower


async def by_reference_prefix(
    db: Db,
    prefix: str,
    limit: int,
    after: tuple[str, uuid.UUID] | None = None,
    conditions: tuple[str, list[Any]] = ("", []),
) -> list[Match]:
    """Requests with a reference starting with `prefix` in any case, by that reference in lower
    case then messageId, after the cursor `after` (a `Match.key` and its messageId);
    `conditions` narrows them (SQL on `r`, its arguments from $1)."""
    extra, args = conditions
    base = len(args)
    prefix = await lowered(db, prefix)
    end = prefix_end(prefix)
    args = [*args, prefix, end or prefix, limit]
    branches = [
        _branch(column, base, extra, after is not None, end is not None)
        for column in REFERENCE_COLUMNS
    ]
    if after is not None:
        args += [after[0], after[1]]
    sql = (
        "SELECT message_id, matched, key FROM ("
        + " UNION ALL ".join(branches)
        + f") m ORDER BY key USING ~<~, message_id LIMIT ${base + 3}"
    )
    seen: set[uuid.UUID] = set()
    found = []
    for row in await db.fetch(sql, *args):
        if row["message_id"] not in seen:  # a request whose two references both match
            seen.add(row["message_id"])
            found.append(Match(row["message_id"], row["matched"], row["key"]))
    return found


def _branch(column: str, base: int, extra: str, paged: bool, bounded: bool) -> str:
    """One reference column's range, in index order, at most `limit` rows. Both ends of the
    range are index conditions: a prefix with few matches must not read on to the index's end.
    `lower(column)` is spelt as migration 0024's indexes spell it."""
    key = f"lower(r.{column})"
    where = [f"{key} ~>=~ ${base + 1}"]
    where.append(f"{key} ~<~ ${base + 2}" if bounded else f"${base + 2}::text IS NOT NULL")
    if paged:
        where.append(
            f"{key} ~>=~ ${base + 4} AND ({key} ~>~ ${base + 4} OR r.message_id > ${base + 5})"
        )
    if extra:
        where.append(extra)
    return (
        f"(SELECT r.message_id, r.{column} AS matched, {key} AS key FROM photo_requests r"
        f" WHERE {' AND '.join(where)}"
        f" ORDER BY {key} USING ~<~, r.message_id LIMIT ${base + 3})"
    )


async def find_requests(db: Db, typed: str, limit: int = 50) -> list[uuid.UUID]:
    """`worker show`: the request of a messageId; or those carrying the reference exactly (in
    any case), and when none does (or the key ends with `*`), those whose reference starts
    with it."""
    key = Key.parse(typed)
    if key.message_id is not None:
        found = await db.fetchval(
            "SELECT message_id FROM photo_requests WHERE message_id = $1", key.message_id
        )
        return [found] if found else []
    matches = await by_reference_prefix(db, key.text, limit)
    text = await lowered(db, key.text)
    exact = [m.message_id for m in matches if m.key == text]
    return exact if exact and not key.prefix_only else [m.message_id for m in matches]


async def find_dead_letters(db: Db, typed: str, limit: int = 20) -> list[dict[str, Any]]:
    """Dead letters that carried this messageId, or whose body holds this text."""
    key = Key.parse(typed)
    rows = await db.fetch(
        "SELECT id, dead_lettered_at, message_id, reason, detail, body_excerpt, worker,"
        " replayed_at, replayed_by, dismissed_at, dismissed_by FROM dead_letters"
        " WHERE message_id = $1 OR strpos(body_excerpt, $1) > 0 ORDER BY id DESC LIMIT $2",
        key.text,
        limit,
    )
    return [dict(row) for row in rows]
