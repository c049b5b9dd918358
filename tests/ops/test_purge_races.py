"""The purge of finished requests beside running requests (issue 17): each interleaving the
review found is forced with a hook or a lock held in a second connection."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from tests.harness import Broker, InProcessWorker, StartWorker, cr_stoc, wait_for_status
from tests.ops import history_rows as rows
from tests.services import wait_until
from worker.ops import purge as purge_module
from worker.ops.purge import Retention, purge
from worker.photos import catalog
from worker.photos.storage import PhotoStore, open_store

pytestmark = pytest.mark.services

DAY = timedelta(days=1)
FINISHED = Retention(None, None, None, 365 * DAY, batch=10, pause=0, purged_ids=365 * DAY)


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    yield connection
    await connection.close()


async def _old_request(db: asyncpg.Pool, broker: Broker, reference: str) -> dict[str, Any]:
    """A request run to completion by the worker, its event sent, then dated 400 days back."""
    message = cr_stoc(intervention=reference)
    assert (await broker.run(db, message))["status"] == "completed"
    await wait_until(lambda: _sent(db, message["messageId"]), what="its event to be sent")
    await db.execute(
        "UPDATE photo_requests SET completed_at = now() - interval '400 days'"
        " WHERE message_id = $1",
        uuid.UUID(message["messageId"]),
    )
    return message


async def _sent(db: asyncpg.Pool, message_id: str) -> bool:
    return bool(
        await db.fetchval(
            "SELECT count(*) FROM outbox WHERE message_id = $1 AND sent_at IS NOT NULL",
            uuid.UUID(message_id),
        )
    )


async def _event(broker: Broker, message_id: str) -> dict[str, Any]:
    async def one() -> list[dict[str, Any]]:
        return broker.events_for(message_id)

    [event] = await wait_until(one, what=f"the event of {message_id}")
    return event


async def _check_stored(db: asyncpg.Pool, store: PhotoStore, event: dict[str, Any]) -> None:
    """Every photo the event names has its row, its link and its object."""
    assert event["photos"]
    for photo in event["photos"]:
        key = photo["storageKey"]
        row = await db.fetchrow(
            "SELECT p.storage_key FROM photos p JOIN photo_request_photos l"
            " USING (code_oc, photo_id) WHERE l.message_id = $1 AND p.photo_id = $2",
            uuid.UUID(event["messageId"]),
            uuid.UUID(photo["photoId"]),
        )
        assert row is not None
        assert row["storage_key"] == key
        assert await store.read(key), f"{key} is named by the event but not in storage"


def _hook(
    monkeypatch: pytest.MonkeyPatch,
    owner: object,
    name: str,
    before: Callable[[], Awaitable[None]],
) -> None:
    """Run `before` once, the first time `owner.name` is called, then the real one."""
    real = getattr(owner, name)
    done = False

    async def hooked(*args: Any, **kwargs: Any) -> Any:
        nonlocal done
        if not done:
            done = True
            await before()
        return await real(*args, **kwargs)

    monkeypatch.setattr(owner, name, hooked)


async def test_a_photo_stored_again_between_the_purge_commit_and_its_object_deletion_stays(
    worker: InProcessWorker,
    broker: Broker,
    db: asyncpg.Pool,
    conn: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = await _old_request(db, broker, "PURGE-AGAIN:photos=2")
    again = cr_stoc(intervention="PURGE-AGAIN:photos=2")  # lists the same photos
    store = open_store(worker.settings)

    async def run_the_other_request() -> None:
        # The purge has committed the deletion of the old request and of the photos' rows.
        assert await db.fetchval("SELECT count(*) FROM photos") == 0
        assert (await broker.run(db, again))["status"] == "completed"

    _hook(monkeypatch, purge_module, "delete_objects", run_the_other_request)
    report = await purge(conn, FINISHED, store)

    assert report.deleted["requests"] == 1
    assert (
        await rows.count(db, "photo_requests", "message_id = $1", uuid.UUID(old["messageId"])) == 0
    )
    await _check_stored(db, store, await _event(broker, again["messageId"]))


async def test_a_photo_purged_between_its_lookup_and_its_link_is_downloaded_again(
    worker: InProcessWorker,
    broker: Broker,
    db: asyncpg.Pool,
    conn: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _old_request(db, broker, "PURGE-LINK:photos=3")
    store = open_store(worker.settings)
    purged: list[int] = []

    async def purge_now() -> None:
        report = await purge(conn, FINISHED, store)
        purged.append(report.deleted["photos"])

    real = catalog.known_photos

    async def lookup_then_purge(*args: Any, **kwargs: Any) -> Any:
        found = await real(*args, **kwargs)
        if not purged:  # the attempt found the photos stored; the purge removes them now
            [known] = found  # one attempt's lookup
            assert len(known) == 3
            await purge_now()
        return found

    monkeypatch.setattr(catalog, "known_photos", lookup_then_purge)
    message = cr_stoc(intervention="PURGE-LINK:photos=3")
    row = await broker.run(db, message)

    assert purged == [3]
    assert row["status"] == "completed", row["last_error"]
    await _check_stored(db, store, await _event(broker, message["messageId"]))


async def test_a_rescheduled_attempt_whose_known_photos_were_purged_waits_not_fails(
    start_worker: StartWorker,
    broker: Broker,
    db: asyncpg.Pool,
    conn: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker = await start_worker({"not_found_retries": 1})
    reference = "PURGE-WAIT:photos=3:photo404=3"  # photo 3 never comes: every attempt retries
    old = cr_stoc(intervention=reference)
    assert (await broker.run(db, old))["status"] == "failed"
    await wait_until(lambda: _sent(db, old["messageId"]), what="its event to be sent")
    await db.execute(
        "UPDATE photo_requests SET completed_at = now() - interval '400 days'"
        " WHERE message_id = $1",
        uuid.UUID(old["messageId"]),
    )
    store = open_store(worker.settings)
    purged: list[int] = []
    real = catalog.known_photos

    async def lookup_then_purge(*args: Any, **kwargs: Any) -> Any:
        found = await real(*args, **kwargs)
        if not purged:  # photos 1 and 2 found stored; purged before the attempt is rescheduled
            [known] = found  # one attempt's lookup
            assert len(known) == 2
            purged.append((await purge(conn, FINISHED, store)).deleted["photos"])
        return found

    monkeypatch.setattr(catalog, "known_photos", lookup_then_purge)
    message = cr_stoc(intervention=reference)
    row = await broker.run(db, message)

    assert purged == [2]
    assert row["status"] == "failed"
    assert "could not be recorded" not in row["last_error"]
    assert "404" in row["last_error"]
    assert row["attempts"] == 2  # the first rescheduled without the purged photos' links
    event = await _event(broker, message["messageId"])
    assert len(event["photos"]) == 2  # stored again by the second attempt
    await _check_stored(db, store, event)


async def test_a_purge_cut_after_its_commit_leaves_the_objects_to_the_next_run(
    db: asyncpg.Pool, conn: asyncpg.Connection, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(_file_settings(tmp_path))
    old = await rows.request(db, "completed", 400 * DAY)
    key = await rows.photo(db, old, uuid.uuid4())
    await store.put(key, _body(), "image/jpeg")

    async def killed() -> None:
        raise RuntimeError("the purge was killed here")

    _hook(monkeypatch, purge_module, "delete_objects", killed)
    with pytest.raises(RuntimeError):
        await purge(conn, FINISHED, store)
    await conn.execute("SELECT pg_advisory_unlock_all()")
    assert await rows.count(db, "photos") == 0
    assert await store.read(key)  # the rows went, the object is still there

    monkeypatch.undo()
    report = await purge(conn, FINISHED, store)
    assert report.objects == 1
    with pytest.raises(FileNotFoundError):
        await store.read(key)
    assert await rows.count(db, "doomed_objects") == 0


async def test_a_link_being_written_while_the_purge_runs_keeps_its_photo(
    db: asyncpg.Pool, database_url: str, conn: asyncpg.Connection, tmp_path: Any
) -> None:
    store = open_store(_file_settings(tmp_path))
    old = await rows.request(db, "completed", 400 * DAY)
    photo_id = uuid.uuid4()
    key = await rows.photo(db, old, photo_id)
    await store.put(key, _body(), "image/jpeg")
    fresh = await rows.request(db, "pending", timedelta(0))
    linking = await asyncpg.connect(database_url)
    try:
        # An attempt's outcome linking the photo, not committed yet.
        transaction = linking.transaction()
        await transaction.start()
        await linking.execute(
            "INSERT INTO photo_request_photos (message_id, code_oc, photo_id)"
            " VALUES ($1, 'OCAA', $2)",
            fresh,
            photo_id,
        )
        purging = asyncio.create_task(purge(conn, FINISHED, store))
        try:
            await wait_until(lambda: _done(purging), timeout=10, what="the purge to end")
        finally:
            await transaction.commit()
        report = await purging
    finally:
        await linking.close()

    assert report.deleted["requests"] == 1
    assert report.deleted["photos"] == 0
    assert await rows.count(db, "photos", "photo_id = $1", photo_id) == 1
    assert await store.read(key)


async def _done(task: asyncio.Task[Any]) -> bool:
    return task.done()


async def test_a_purged_message_id_sent_again_changes_nothing(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    old = await _old_request(db, broker, "PURGE-IDEM:photos=2")
    report = await purge(conn, FINISHED, open_store(worker.settings))
    assert report.deleted["requests"] == 1

    await broker.publish(old)  # redelivered, or sent again by the publisher
    fresh = cr_stoc(intervention="PURGE-IDEM-NEXT:photos=1")
    await broker.publish(fresh)  # in the same burst: accepted
    await wait_for_status(db, fresh["messageId"])

    duplicates = worker.metrics.messages_settled.labels("duplicate")._value.get()
    assert duplicates == 1
    old_id = uuid.UUID(old["messageId"])
    assert await rows.count(db, "photo_requests", "message_id = $1", old_id) == 0
    assert await rows.count(db, "photos") == 1  # the fresh request's only
    assert len(broker.events_for(old["messageId"])) == 1  # the first one, before the purge
    assert await rows.count(db, "request_attempts", "message_id = $1", old_id) == 0
    remembered = await db.fetchrow("SELECT * FROM purged_messages WHERE message_id = $1", old_id)
    assert remembered is not None
    assert remembered["code_oc"] == "OCAA"


async def test_purged_message_ids_are_forgotten_after_their_retention(
    db: asyncpg.Pool, conn: asyncpg.Connection, tmp_path: Any
) -> None:
    old, recent = uuid.uuid4(), uuid.uuid4()
    await db.execute(
        "INSERT INTO purged_messages (message_id, code_oc, purged_at) VALUES"
        " ($1, 'OCAA', now() - interval '400 days'), ($2, 'OCAA', now() - interval '10 days')",
        old,
        recent,
    )
    store = open_store(_file_settings(tmp_path))
    dry = await purge(conn, FINISHED, store, dry_run=True)
    assert dry.deleted["purged_ids"] == 1
    assert await rows.count(db, "purged_messages") == 2
    report = await purge(conn, FINISHED, store)
    assert report.deleted["purged_ids"] == 1
    assert [r["message_id"] for r in await db.fetch("SELECT * FROM purged_messages")] == [recent]


def _file_settings(tmp_path: Any) -> Any:
    from worker.settings import Settings

    return Settings(_env_file=None, storage_url=f"file://{tmp_path}/photos")  # type: ignore[call-arg]


def _body() -> AsyncIterator[bytes]:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"\xff\xd8\xff"

    return chunks()
