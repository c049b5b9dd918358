"""The analyst's desk: verdicts on findings, the queue of what is left to judge, the precision
the verdicts give, and `worker show` telling them too."""

from __future__ import annotations

import re
import uuid

import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.console import seed
from tests.console.conftest import Console
from worker.ops.detail import build_detail, render_detail
from worker.ops.verdicts import neighbours

pytestmark = pytest.mark.services


def _token(text: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', text)
    assert found, "no form token on the page"
    return found.group(1)


async def _suspect(db: asyncpg.Pool, reference: str, findings: int = 1) -> seed.Seeded:
    seeded = await seed.request(db, reference=reference)
    for number in range(findings):
        photo = uuid.uuid4()
        await seed.finding(db, seeded, f"reused_photo_{number}", "suspect", photo_ids=[photo])
    return seeded


async def test_queue_lists_unjudged_suspects_worst_first(
    console: Console, db: asyncpg.Pool
) -> None:
    one = await _suspect(db, "ONE-SUSPECT", 1)
    three = await _suspect(db, "THREE-SUSPECT", 3)
    calm = await seed.request(db, reference="ONLY-WARNING")
    await seed.finding(db, calm, "low_quality", "warning")
    page = await console.get("/queue")
    assert page.status == 200
    assert "ONLY-WARNING" not in page.text
    assert page.text.index("THREE-SUSPECT") < page.text.index("ONE-SUSPECT")
    assert str(three.message_id) in page.text
    assert str(one.message_id) in page.text


async def test_a_verdict_is_recorded_and_takes_the_request_out_of_the_queue(
    console: Console, db: asyncpg.Pool
) -> None:
    judged = await _suspect(db, "JUDGE-ME")
    page = await console.get(f"/requests/{judged.message_id}?queue=1")
    assert page.status == 200
    assert "review queue: 1 left" in page.text
    row = await db.fetchrow("SELECT kind, photo_ids FROM photo_findings")
    answer = await console.post(
        f"/requests/{judged.message_id}/verdict",
        {
            "csrf": _token(page.text),
            "kind": row["kind"],
            "photo_ids": " ".join(str(p) for p in row["photo_ids"]),
            "verdict": "false_alarm",
            "comment": "same cabinet, new photo",
            "queue": "1",
        },
    )
    assert answer.status == 303
    assert answer.headers["Location"] == f"/requests/{judged.message_id}?queue=1#findings"
    verdict = await db.fetchrow("SELECT * FROM finding_verdicts")
    assert verdict["verdict"] == "false_alarm"
    assert verdict["decided_by"] == "local"
    assert verdict["comment"] == "same cabinet, new photo"
    assert verdict["code_oc"] == "OCAA"
    assert "JUDGE-ME" not in (await console.get("/queue")).text
    again = await console.get(f"/requests/{judged.message_id}")
    assert "false alarm</strong> by local" in again.text
    findings = await console.get("/findings")
    assert 'id="precision"' in findings.text
    assert "0 %" in findings.text

    detail = await build_detail(db, judged.message_id, "file:///photos")
    assert "verdict false_alarm by local" in render_detail(detail)


async def test_verdicts_refuse_bad_forms(console: Console, db: asyncpg.Pool) -> None:
    judged = await _suspect(db, "BAD-FORMS")
    page = await console.get(f"/requests/{judged.message_id}")
    token = _token(page.text)
    base = {"csrf": token, "kind": "reused_photo_0", "photo_ids": "", "verdict": "confirmed"}
    wrong_token = await console.post(
        f"/requests/{judged.message_id}/verdict", base | {"csrf": "0" * 64}
    )
    assert wrong_token.status == 403
    bad_verdict = await console.post(
        f"/requests/{judged.message_id}/verdict", base | {"verdict": "maybe"}
    )
    assert bad_verdict.status == 400
    no_such = await console.post(f"/requests/{judged.message_id}/verdict", base)
    assert no_such.status == 404  # the finding has a photo id: this one names none
    assert await db.fetchval("SELECT count(*) FROM finding_verdicts") == 0


def test_neighbours_in_the_queue() -> None:
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    queue = [{"message_id": a}, {"message_id": b}, {"message_id": c}]
    assert neighbours(queue, b) == (a, c)
    assert neighbours(queue, a) == (None, b)
    assert neighbours(queue, c) == (b, None)
    assert neighbours(queue, uuid.uuid4()) == (None, a)  # judged already: start again at the top


def _samples(text: str, name: str) -> dict[tuple[str, str], float]:
    return {
        (sample.labels["kind"], sample.labels["verdict"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


async def test_verdicts_are_counted_in_the_metrics(console: Console, db: asyncpg.Pool) -> None:
    judged = await _suspect(db, "COUNT-ME")
    page = await console.get(f"/requests/{judged.message_id}")
    row = await db.fetchrow("SELECT kind, photo_ids FROM photo_findings")
    form = {
        "csrf": _token(page.text),
        "kind": row["kind"],
        "photo_ids": " ".join(str(p) for p in row["photo_ids"]),
        "verdict": "false_alarm",
    }
    answer = await console.post(f"/requests/{judged.message_id}/verdict", form)
    assert answer.status == 303
    # Another replica's verdict: in the table, not in this process's counter.
    other = await _suspect(db, "ELSEWHERE")
    await db.execute(
        "INSERT INTO finding_verdicts (message_id, kind, photo_ids, code_oc, verdict, decided_by)"
        " SELECT message_id, kind, photo_ids, code_oc, 'confirmed', 'other' FROM photo_findings"
        " WHERE message_id = $1",
        other.message_id,
    )
    scraped = await console.get("/metrics")
    assert scraped.status == 200
    assert _samples(scraped.text, "worker_verdicts_total") == {("reused_photo_0", "false_alarm"): 1}
    assert _samples(scraped.text, "worker_verdicts_stored") == {
        ("reused_photo_0", "false_alarm"): 1,
        ("reused_photo_0", "confirmed"): 1,
    }
