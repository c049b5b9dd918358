"""The console's actions: off unless enabled, POST with a CSRF token, logged with who did it."""

from __future__ import annotations

import base64
import re

import asyncpg
import pytest
from structlog.testing import capture_logs

from tests.console import seed
from tests.console.conftest import Console, StartConsole
from tests.harness import Broker, InProcessWorker, cr_stoc
from tests.services import wait_until

pytestmark = pytest.mark.services


def _token(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9]+\.[0-9a-f]{64})"', html)
    assert found, "the page holds a form with its token"
    return found.group(1)


async def test_without_actions_no_button_and_posts_are_refused(
    console: Console, db: asyncpg.Pool
) -> None:
    failed = await seed.request(db, status="failed")
    page = await console.get(f"/requests/{failed.message_id}")
    assert 'id="refetch"' not in page.text
    refused = await console.post(f"/requests/{failed.message_id}/refetch", {"csrf": "x"})
    assert refused.status == 403
    assert "WORKER_CONSOLE_ACTIONS" in refused.text
    assert await db.fetchval("SELECT status FROM photo_requests") == "failed"


async def test_refetch_needs_the_form_token_and_moves_the_request_forward(
    start_console: StartConsole, db: asyncpg.Pool
) -> None:
    console = await start_console(console_actions=True, console_password="pw-console-1")
    auth = {"Authorization": "Basic " + base64.b64encode(b"dana:pw-console-1").decode()}
    failed = await seed.request(db, status="failed")
    page = await console.get(f"/requests/{failed.message_id}", headers=auth)
    token = _token(page.text)
    path = f"/requests/{failed.message_id}/refetch"
    for bad in ({}, {"csrf": "0" * 64}):
        assert (await console.post(path, bad, headers=auth)).status == 403
    cross = await console.post(
        path, {"csrf": token}, headers=auth | {"Origin": "http://evil.example"}
    )
    assert cross.status == 403
    assert await db.fetchval("SELECT status FROM photo_requests") == "failed"

    with capture_logs() as logs:
        done = await console.post(path, {"csrf": token}, headers=auth)
    assert done.status == 303
    assert done.headers["Location"] == f"/requests/{failed.message_id}?notice=refetch-due"
    row = await db.fetchrow("SELECT status, next_attempt_at, refetched_at FROM photo_requests")
    assert row["status"] == "pending"
    assert row["refetched_at"] is not None
    [action] = [entry for entry in logs if entry["event"] == "console action"]
    assert action["who"] == "dana (unverified)"
    assert action["action"] == "refetch"
    assert action["result"] == "due"
    shown = await console.get(done.headers["Location"], headers=auth)
    assert "Refetch: due now." in shown.text


async def test_replay_sends_the_dead_letter_back_and_marks_its_row(
    start_console: StartConsole,
    worker: InProcessWorker,
    broker: Broker,
    db: asyncpg.Pool,
    amqp_url: str,
) -> None:
    await broker.publish(cr_stoc(code_oc="ZZZZ"), message_id="m-unknown-oc")

    async def recorded() -> int:
        return int(await db.fetchval("SELECT count(*) FROM dead_letters"))

    await wait_until(recorded, what="the dead letter's row")
    await wait_until(lambda: broker.queue_depth("photos.cr_stoc.dead"), what="the dead letter")
    record_id = await db.fetchval("SELECT id FROM dead_letters")
    console = await start_console(console_actions=True, amqp_url=amqp_url)
    page = await console.get("/dead-letters")
    with capture_logs() as logs:
        done = await console.post(f"/dead-letters/{record_id}/replay", {"csrf": _token(page.text)})
    assert done.status == 303
    assert done.headers["Location"] == "/dead-letters?notice=replayed"
    shown = await console.get(done.headers["Location"])
    assert "Dead letter sent back to photos.cr_stoc." in shown.text
    row = await db.fetchrow(
        "SELECT replayed_at, replayed_by FROM dead_letters WHERE id = $1", record_id
    )
    assert row["replayed_at"] is not None
    assert row["replayed_by"] == "local"
    # The worker took it again from photos.cr_stoc, and (the OC still unknown) refused it again.
    assert await wait_until(lambda: _more_than(db, 1), what="the replayed message's new refusal")
    [action] = [entry for entry in logs if entry["event"] == "console action"]
    assert (action["action"], action["who"], action["dead_letter"]) == (
        "replay",
        "local",
        record_id,
    )

    again = await console.post(f"/dead-letters/{record_id}/replay", {"csrf": _token(page.text)})
    assert again.headers["Location"] == "/dead-letters?notice=replay-done"


async def _more_than(db: asyncpg.Pool, count: int) -> bool:
    return int(await db.fetchval("SELECT count(*) FROM dead_letters")) > count
