"""Busy tables for the migrations: a million requests, and the worker's traffic on them.

`fill` writes the rows at the schema before the first index-building migration (0004), in one
INSERT ... SELECT per table. `Traffic` runs, each in its own connection, what the replicas do all
day: intake's inserts, the claims (UPDATE ... FOR UPDATE SKIP LOCKED), the lease renewals, and the
outcomes (a photo, its link, the status, an event), timing every statement; a watcher reads
`pg_locks.waitstart` of these sessions, so that a statement held by a lock is told from one slowed
by a busy machine. Used by tests/database/test_busy_tables.py and tests/bench/migration_locks.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from worker.database.migrations import discover, migrations_dir

FIRST_INDEX_BUILD = "0004_due_index"
OCS = ("OC01", "OC02", "OC03", "OC04")
PAUSE = 0.01  # between two statements of one connection: a steady trickle, not a CPU hog


def files_before(version: str, directory: Path | None = None) -> list[Path]:
    source = directory or migrations_dir()
    return [source / f"{m.version}.sql" for m in discover(source) if m.version < version]


async def fill(conn: asyncpg.Connection, requests: int, photos: int) -> None:
    """`requests` requests (one in 20 pending and due) and `photos` photos. The tables' indexes
    (but their keys) are dropped during the INSERTs and built again after: several times faster."""
    defs = await conn.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
        " AND tablename IN ('photo_requests', 'photos') AND indexname NOT IN"
        " (SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u'))"
    )
    for row in defs:
        await conn.execute(f'DROP INDEX "{row["indexname"]}"')
    await conn.execute(
        """
        INSERT INTO photo_requests (message_id, code_oc, status, attempts, next_attempt_at,
            received_at, completed_at, reference_prestation_prise,
            reference_commande_prise_interne_oc, reference_commande_sous_traitant_oi)
        SELECT lpad(to_hex(i), 32, '0')::uuid, 'OC0' || (1 + i % 4),
            CASE WHEN i % 20 = 0 THEN 'pending' ELSE 'completed' END, 1,
            CASE WHEN i % 20 = 0 THEN now() - make_interval(secs => i % 86400) END,
            now() - make_interval(secs => i),
            CASE WHEN i % 20 <> 0 THEN now() - make_interval(secs => i) END,
            'ACC' || i, 'ORD' || i, 'INT' || i
        FROM generate_series(1, $1) AS i
        """,
        requests,
    )
    await conn.execute(
        """
        INSERT INTO photos (code_oc, photo_id, type, mime_type, size_bytes, sha256, storage_key,
            stored_at)
        SELECT 'OC0' || (1 + i % 4), lpad(to_hex(i), 32, '0')::uuid, 'photo', 'image/jpeg', 1000,
            encode(sha256(i::text::bytea), 'hex'), 'k/' || i, now() - make_interval(secs => i)
        FROM generate_series(1, $1) AS i
        """,
        photos,
    )
    for row in defs:
        await conn.execute(row["indexdef"])
    await conn.execute("ANALYZE photo_requests; ANALYZE photos")


@dataclass
class Kind:
    """One kind of statement of the traffic: how many ran, the slowest, the longest lock wait."""

    statements: int = 0
    slowest: float = 0.0
    longest_wait: float = 0.0
    waited_for: str = ""  # what held the longest wait: the blockers' statements

    def line(self, name: str) -> str:
        held = f" (held by: {self.waited_for})" if self.waited_for else ""
        return (
            f"{name:9} {self.statements:6} statements, slowest {self.slowest:6.3f} s,"
            f" longest lock wait {self.longest_wait:6.3f} s{held}"
        )


@dataclass
class Traffic:
    dsn: str
    kinds: dict[str, Kind] = field(default_factory=dict)
    # (message_id, lease_id) of the requests claimed, newest last.
    leases: deque[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=lambda: deque(maxlen=200))
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def __aenter__(self) -> Traffic:
        loops: dict[str, Callable[[asyncpg.Connection], Awaitable[object]]] = {
            "intake": self._intake,
            "claims": self._claim,
            "renewals": self._renew,
            "outcomes": self._outcome,
        }
        for name, step in loops.items():
            self.kinds[name] = Kind()
            self._tasks.append(asyncio.create_task(self._loop(name, step)))
        self._tasks.append(asyncio.create_task(self._watch()))
        deadline = time.monotonic() + 60
        while not all(kind.statements for kind in self.kinds.values()):
            for task in self._tasks:
                if task.done():
                    task.result()
            assert time.monotonic() < deadline, "the traffic did not start"
            await asyncio.sleep(0.05)
        return self

    async def __aexit__(self, *_: object) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def settle(self) -> None:
        """Wait for each loop to end one more statement: one held until now has been counted."""
        counts = {name: kind.statements for name, kind in self.kinds.items()}
        deadline = time.monotonic() + 60
        while any(self.kinds[name].statements <= n for name, n in counts.items()):
            assert time.monotonic() < deadline, "the traffic stalled"
            await asyncio.sleep(0.02)

    def reset(self) -> None:
        for name in self.kinds:
            self.kinds[name] = Kind()

    @property
    def longest_wait(self) -> float:
        return max(kind.longest_wait for kind in self.kinds.values())

    @property
    def slowest(self) -> float:
        return max(kind.slowest for kind in self.kinds.values())

    def report(self) -> str:
        return "\n".join(kind.line(name) for name, kind in self.kinds.items())

    async def _connect(self, name: str) -> asyncpg.Connection:
        settings = {"application_name": f"traffic-{name}"}
        return await asyncpg.connect(self.dsn, server_settings=settings)

    async def _loop(
        self, name: str, step: Callable[[asyncpg.Connection], Awaitable[object]]
    ) -> None:
        conn = await self._connect(name)
        kind = self.kinds
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                await step(conn)
                took = time.monotonic() - started
                kind[name].statements += 1
                kind[name].slowest = max(kind[name].slowest, took)
                await asyncio.sleep(PAUSE)
        finally:
            await conn.close()

    async def _intake(self, conn: asyncpg.Connection) -> None:
        await conn.execute(
            "INSERT INTO photo_requests (message_id, code_oc, reference_prestation_prise,"
            " next_attempt_at)"
            " SELECT gen_random_uuid(), $1, 'ACC-new', now() FROM generate_series(1, 5)"
            " ON CONFLICT (message_id) DO NOTHING",
            OCS[self.kinds["intake"].statements % len(OCS)],
        )

    async def _claim(self, conn: asyncpg.Connection) -> None:
        rows = await conn.fetch(
            """
            UPDATE photo_requests p
            SET next_attempt_at = now() + interval '30 s', lease_owner = 'traffic',
                lease_id = gen_random_uuid(), attempts = attempts + 1, updated_at = now()
            FROM (
                SELECT message_id FROM photo_requests
                WHERE status = 'pending' AND code_oc = $1 AND next_attempt_at <= now()
                ORDER BY next_attempt_at LIMIT 5
                FOR UPDATE SKIP LOCKED
            ) due
            WHERE p.message_id = due.message_id
            RETURNING p.message_id, p.lease_id
            """,
            OCS[self.kinds["claims"].statements % len(OCS)],
        )
        self.leases.extend((row["message_id"], row["lease_id"]) for row in rows)

    async def _renew(self, conn: asyncpg.Connection) -> None:
        held = list(self.leases)[-50:]
        await conn.execute(
            "UPDATE photo_requests SET next_attempt_at = now() + interval '30 s'"
            " WHERE message_id = ANY($1::uuid[]) AND lease_id = ANY($2::uuid[])"
            " AND status = 'pending'",
            [message_id for message_id, _ in held],
            [lease for _, lease in held],
        )

    async def _outcome(self, conn: asyncpg.Connection) -> None:
        if not self.leases:
            return
        message_id, lease = self.leases.popleft()
        async with conn.transaction():
            request = await conn.fetchrow(
                "UPDATE photo_requests SET status = 'completed', next_attempt_at = NULL,"
                " completed_at = now(), lease_id = NULL, updated_at = now()"
                " WHERE message_id = $1 AND lease_id = $2 AND status = 'pending'"
                " RETURNING message_id, code_oc",
                message_id,
                lease,
            )
            if request is None:
                return
            photo = uuid.uuid4()
            await conn.execute(
                "INSERT INTO photos (code_oc, photo_id, type, mime_type, size_bytes, sha256,"
                " storage_key) VALUES ($1, $2, 'photo', 'image/jpeg', 1000, $3, $4)",
                request["code_oc"],
                photo,
                hashlib.sha256(photo.bytes).hexdigest(),
                f"k/{photo}",
            )
            await conn.execute(
                "INSERT INTO photo_request_photos (message_id, code_oc, photo_id)"
                " VALUES ($1, $2, $3)",
                request["message_id"],
                request["code_oc"],
                photo,
            )
            await conn.execute(
                "INSERT INTO outbox (message_id, routing_key, body) VALUES ($1, 'done', '{}')",
                request["message_id"],
            )

    async def _watch(self) -> None:
        """Every 50 ms, the lock waits of the traffic's sessions, as long as they lasted so far:
        a wait of a second is seen some twenty times, so none escapes."""
        conn = await self._connect("watch")
        try:
            while not self._stop.is_set():
                rows = await conn.fetch(
                    """
                    SELECT substr(a.application_name, 9) AS kind,
                        extract(epoch FROM clock_timestamp() - l.waitstart)::float8 AS waited,
                        (SELECT string_agg(left(regexp_replace(b.query, '\\s+', ' ', 'g'), 100),
                                           ' | ')
                         FROM pg_stat_activity b
                         WHERE b.pid = ANY(pg_blocking_pids(a.pid))) AS blockers
                    FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                    WHERE NOT l.granted AND l.waitstart IS NOT NULL
                        AND a.application_name LIKE 'traffic-%'
                    """
                )
                for row in rows:
                    kind = self.kinds.get(row["kind"])
                    if kind is not None and row["waited"] > kind.longest_wait:
                        kind.longest_wait = row["waited"]
                        kind.waited_for = row["blockers"] or ""
                await asyncio.sleep(0.05)
        finally:
            await conn.close()
