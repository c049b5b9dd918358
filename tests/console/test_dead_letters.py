"""Dead letters in the console: counted by reason, replay offered only where it can succeed, a
replay's outcome (refused again, recorded, not found), dismissal, bulk replay after a
confirmation page. On the real PostgreSQL and RabbitMQ (each test its own database and vhost)."""

from __future__ import annotations

import json
import re
import uuid

import aio_pika
import asyncpg
import pytest
from structlog.testing import capture_logs

from tests.console import seed
from tests.console.conftest import StartConsole
from tests.harness import Broker, StartWorker, cr_stoc, partners_toml
from tests.services import wait_until
from worker.console.dead_letter_rows import body_message_id
from worker.console.replay_advice import advise
from worker.events.topology import DEAD_QUEUE, QUEUE
from worker.ops.detail import render_dead_letters
from worker.ops.lookup import find_dead_letters

pytestmark = pytest.mark.services


def _token(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9]+\.[0-9a-f]{64})"', html)
    assert found, "the page holds a form with its token"
    return found.group(1)


def _row(html: str, record_id: int) -> str:
    found = re.search(rf'<tr id="dead-letter-{record_id}"[^>]*>(.*?)</tr>', html, re.S)
    assert found, f"dead letter #{record_id} is listed"
    return found.group(1)


def _body(code_oc: str) -> str:
    return json.dumps(cr_stoc(code_oc=code_oc))


def test_advice_by_reason() -> None:
    assert not advise("not_json", "{bad", None).replayable
    assert not advise("invalid_fields", "{}", None).replayable
    assert not advise("unstorable", "{}", None).replayable
    known = advise("unknown_oc", _body("OCAA"), {"OCAA"})
    assert (known.replayable, known.doubtful) == (True, False)
    still = advise("unknown_oc", _body("ZZZZ"), {"OCAA"})
    assert (still.replayable, still.doubtful) == (True, True)
    assert "ZZZZ is still not in the partners file" in str(still.note)
    assert advise("unknown_oc", '{"codeOC": "OCAA", "trunc', {"OCAA"}).doubtful
    assert advise("unknown_oc", _body("OCAA"), None).doubtful
    assert advise("rejected_by_broker", "", None).replayable
    message_id = str(uuid.uuid4())
    assert body_message_id(json.dumps({"messageId": message_id.upper()})) == message_id
    for body in ("[1]", '"x"', '{"messageId": 3}', '{"messageId": "nope"}', "{bad"):
        assert body_message_id(body) is None


async def test_grouped_by_reason_and_replay_offered_only_where_it_can_succeed(
    start_console: StartConsole, db: asyncpg.Pool
) -> None:
    console = await start_console(console_actions=True)
    console.settings.partners_file.write_text(partners_toml("http://oc.invalid"))
    broken = await seed.dead_letter(db, "not_json", body="{broken json")
    invalid = await seed.dead_letter(db, "invalid_fields", body="{}")
    known = await seed.dead_letter(db, "unknown_oc", body=_body("OCAA"))
    unknown = await seed.dead_letter(db, "unknown_oc", body=_body("ZZZZ"))
    dismissed = await seed.dead_letter(db, "unknown_oc", body=_body("ZZZZ"))
    await db.execute("UPDATE dead_letters SET dismissed_at = now() WHERE id = $1", dismissed)
    page = await console.get("/dead-letters")
    assert page.status == 200
    reasons = re.search(r'<tr id="reason-unknown_oc">(.*?)</tr>', page.text, re.S)
    assert reasons
    cells = re.findall(r'<td class="num">(?:<a [^>]*>)?([0-9]+)', reasons.group(1))
    assert cells == ["2", "0", "1", "3"], "waiting, replayed, dismissed, all"
    assert "Bulk replay" in reasons.group(1)
    not_json = re.search(r'<tr id="reason-not_json">(.*?)</tr>', page.text, re.S)
    assert not_json
    assert "Bulk replay" not in not_json.group(1)
    for hopeless in (broken, invalid):
        row = _row(page.text, hopeless)
        assert "/replay" not in row, "no replay button where it can only fail again"
        assert "would be refused again" in row
        assert "/dismiss" in row
    assert "/replay" in _row(page.text, known)
    assert "in the partners file now" in _row(page.text, known)
    row = _row(page.text, unknown)
    assert "Replay anyway" in row
    assert "ZZZZ is still not in the partners file" in row
    assert "dismissed" in _row(page.text, dismissed)
    only = await console.get("/dead-letters?state=waiting&reason=unknown_oc")
    assert f"dead-letter-{known}" in only.text
    assert f"dead-letter-{dismissed}" not in only.text
    assert (await console.get("/dead-letters?state=gone")).status == 400


async def test_a_hopeless_replay_is_refused_and_dismissal_records_who_and_when(
    start_console: StartConsole, db: asyncpg.Pool
) -> None:
    console = await start_console(console_actions=True)
    broken = await seed.dead_letter(db, "not_json", message_id="m-broken", body="{broken json")
    token = _token((await console.get("/dead-letters")).text)
    refused = await console.post(f"/dead-letters/{broken}/replay", {"csrf": token})
    assert refused.headers["Location"] == "/dead-letters?notice=replay-refused"
    assert await db.fetchval("SELECT replayed_at FROM dead_letters") is None

    assert (await console.post(f"/dead-letters/{broken}/dismiss", {})).status == 403
    assert (await console.post(f"/dead-letters/{broken}/dismiss", {"csrf": "0"})).status == 403
    assert (await console.post("/dead-letters/99999/dismiss", {"csrf": token})).status == 404
    assert (await console.post("/dead-letters/x1/dismiss", {"csrf": token})).status == 400
    with capture_logs() as logs:
        done = await console.post(f"/dead-letters/{broken}/dismiss", {"csrf": token})
    assert done.headers["Location"] == "/dead-letters?notice=dismissed"
    row = await db.fetchrow("SELECT dismissed_at, dismissed_by FROM dead_letters")
    assert row["dismissed_at"] is not None
    assert row["dismissed_by"] == "local"
    assert [e["action"] for e in logs if e["event"] == "console action"] == ["dismiss"]
    again = await console.post(f"/dead-letters/{broken}/dismiss", {"csrf": token})
    assert again.headers["Location"] == "/dead-letters?notice=dismiss-done"
    overview = await console.get("/")
    assert re.search(r'<span class="figure">0</span> dead letters waiting', overview.text)
    assert "by local" in _row((await console.get("/dead-letters")).text, broken)
    shown = render_dead_letters(await find_dead_letters(db, "m-broken"))
    assert re.search(r"dismissed [0-9T:-]{19} by local", shown), "`worker show` says so"


async def test_a_replay_that_finds_nothing_is_shown_as_failed(
    start_console: StartConsole, db: asyncpg.Pool, amqp_url: str
) -> None:
    console = await start_console(console_actions=True, amqp_url=amqp_url)
    gone = await seed.dead_letter(db, "unknown_oc", message_id="m-gone", body=_body("OCAA"))
    token = _token((await console.get("/dead-letters")).text)
    done = await console.post(f"/dead-letters/{gone}/replay", {"csrf": token})
    assert done.headers["Location"] == "/dead-letters?notice=replay-missing"
    row = await db.fetchrow("SELECT replayed_at, replay_missed_at FROM dead_letters")
    assert row["replayed_at"] is None
    assert row["replay_missed_at"] is not None
    shown = _row((await console.get("/dead-letters")).text, gone)
    assert "replay failed: not in the dead-letter queue" in shown
    assert "by local" in shown
    overview = await console.get("/")
    assert re.search(r'<span class="figure">1</span> dead letters waiting', overview.text)


async def test_replays_show_their_outcome_and_bulk_replay_asks_first(
    start_console: StartConsole,
    start_worker: StartWorker,
    broker: Broker,
    db: asyncpg.Pool,
    amqp_url: str,
) -> None:
    """Two messages of an OC not yet configured and one of an OC never configured are refused;
    the OC is added and the workers restarted; the bulk replay takes the two, the third is
    replayed alone and refused again."""
    first = await start_worker()
    new_oc = [cr_stoc(code_oc="OCNW", intervention=f"REF-N{i}") for i in range(2)]
    never = cr_stoc(code_oc="ZZZZ")
    for body in [*new_oc, never]:
        await broker.publish(body, message_id=body["messageId"])

    async def dead() -> bool:
        return await broker.queue_depth("photos.cr_stoc.dead") == 3

    await wait_until(dead, what="three dead letters")
    await first.stop()
    await start_worker(OCNW={})
    refused = {row["id"] for row in await db.fetch("SELECT id FROM dead_letters")}
    console = await start_console(console_actions=True, amqp_url=amqp_url)

    confirm = await console.get("/dead-letters/replay?reason=unknown_oc")
    assert confirm.status == 200
    chosen = re.search(r'<table id="bulk-chosen">(.*?)</table>', confirm.text, re.S)
    left = re.search(r'<table id="bulk-left">(.*?)</table>', confirm.text, re.S)
    assert chosen
    assert left
    assert chosen.group(1).count("<tr>") == 3, "a header and the two of OCNW"
    assert "ZZZZ is still not in the partners file" in left.group(1)
    moved = "SELECT count(*) FROM dead_letters WHERE replayed_at IS NOT NULL"
    assert await db.fetchval(moved) == 0, "the confirmation page moves nothing"
    listed = re.findall(r'<input type="hidden" name="id" value="([0-9]+)">', confirm.text)
    assert len(listed) == 2
    form = [("csrf", _token(confirm.text)), ("reason", "unknown_oc")] + [("id", i) for i in listed]
    assert (await console.post("/dead-letters/replay", {"csrf": "0", "reason": "x"})).status == 403
    with capture_logs() as logs:
        done = await console.post("/dead-letters/replay", form)  # type: ignore[arg-type]
    assert done.headers["Location"] == "/dead-letters?reason=unknown_oc&notice=bulk-replayed"
    [action] = [entry for entry in logs if entry["event"] == "console action"]
    assert (action["action"], action["replayed"], action["missing"]) == ("bulk replay", 2, 0)

    async def recorded() -> bool:
        wanted = [uuid.UUID(body["messageId"]) for body in new_oc]
        count = "SELECT count(*) FROM photo_requests WHERE message_id = ANY($1::uuid[])"
        return int(await db.fetchval(count, wanted)) == 2

    await wait_until(recorded, what="the two replayed requests recorded")
    page = await console.get("/dead-letters")
    for body in new_oc:
        record_id = await db.fetchval(
            "SELECT id FROM dead_letters WHERE message_id = $1", body["messageId"]
        )
        row = _row(page.text, record_id)
        assert "replayed, recorded" in row
        assert f'href="/requests/{body["messageId"]}"' in row

    never_id = await db.fetchval(
        "SELECT id FROM dead_letters WHERE message_id = $1", never["messageId"]
    )
    assert "waiting" in _row(page.text, never_id)
    await console.post(f"/dead-letters/{never_id}/replay", {"csrf": _token(page.text)})

    async def refused_again() -> str | None:
        row = _row((await console.get("/dead-letters")).text, never_id)
        return row if "refused again" in row else None

    row = await wait_until(refused_again, what="the replayed message refused again")
    assert "replayed, refused again: unknown_oc" in row
    again_id = await db.fetchval("SELECT max(id) FROM dead_letters")
    assert again_id not in refused
    assert f'href="#dead-letter-{again_id}"' in row
    assert "waiting" in _row((await console.get("/dead-letters")).text, again_id)


async def test_a_copy_without_its_rows_id_is_found_by_message_id(
    start_console: StartConsole, broker: Broker, db: asyncpg.Pool, amqp_url: str
) -> None:
    """Dead-lettered before copies carried their row's id: two rows of the same messageId, the
    second one chosen; its copy is found by messageId and reason, and the chosen row marked."""
    body = _body("OCAA")
    older = await seed.dead_letter(db, "unknown_oc", message_id="m-old", body=body)
    chosen = await seed.dead_letter(db, "unknown_oc", message_id="m-old", body=body)
    copy = aio_pika.Message(
        body.encode(), message_id="m-old", headers={"x-dead-letter-reason": "unknown_oc"}
    )
    await broker.channel.default_exchange.publish(copy, DEAD_QUEUE)
    console = await start_console(console_actions=True, amqp_url=amqp_url)
    token = _token((await console.get("/dead-letters")).text)
    done = await console.post(f"/dead-letters/{chosen}/replay", {"csrf": token})
    assert done.headers["Location"] == "/dead-letters?notice=replayed"
    marks = dict(await db.fetch("SELECT id, replayed_at IS NOT NULL FROM dead_letters"))
    assert marks == {older: False, chosen: True}
    assert await broker.queue_depth(DEAD_QUEUE) == 0
    assert await broker.queue_depth(QUEUE) == 1, "back in the work queue (no worker here)"

    bad = {"csrf": token, "reason": "unknown_oc", "id": "x"}
    assert (await console.post("/dead-letters/replay", bad)).status == 400
    assert (await console.post("/dead-letters/replay", bad | {"reason": "nope"})).status == 400
    none = await console.post("/dead-letters/replay", {"csrf": token, "reason": "not_json"})
    assert none.headers["Location"] == "/dead-letters?reason=not_json&notice=bulk-none"
