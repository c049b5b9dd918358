"""`worker findings` and the findings in `worker show`, run as processes."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import asyncpg
import pytest

from tests.harness import Broker, InProcessWorker, cr_stoc, wait_for_reviews
from tests.ops.test_commands import _worker_command

pytestmark = pytest.mark.services


async def _flagged(broker: Broker, db: asyncpg.Pool) -> dict[str, str]:
    now = datetime.now(UTC).isoformat()
    bodies = {
        "worst": cr_stoc(intervention="Q-WORST:photos=3:copy=3:olddate=1", dateIntervention=now),
        "mild": cr_stoc(intervention="Q-MILD:photos=3:blur=1", dateIntervention=now),
        "other": cr_stoc(code_oc="OCOA", intervention="Q-OTHER:photos=2"),
        "clean": cr_stoc(intervention="Q-CLEAN:photos=3", dateIntervention=now),
    }
    for body in bodies.values():
        await broker.run(db, body)
    await wait_for_reviews(db)
    return {name: body["messageId"] for name, body in bodies.items()}


async def test_report_counts_per_oc_and_kind_worst_first(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    ids = await _flagged(broker, db)
    done = await _worker_command(worker, "findings", "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    counts = {(c["code_oc"], c["kind"]): c["findings"] for c in report["counts"]}
    assert counts == {
        ("OCAA", "same_before_after"): 1,
        ("OCAA", "date_out_of_window"): 1,
        ("OCAA", "low_quality"): 1,
        ("OCOA", "unpaired"): 1,
    }
    assert report["flagged"] == {"OCAA": 2, "OCOA": 1, "all": 3}, "requests, not findings"
    assert report["rates"]["finished"] == {"OCAA": 3, "OCOA": 1, "all": 4}, "the denominators"
    order = [r["message_id"] for r in report["requests"]]
    assert order[0] == ids["worst"]  # two suspects
    assert ids["clean"] not in order

    only = json.loads(
        (await _worker_command(worker, "findings", "--oc", "OCOA", "--format", "json")).stdout
    )
    assert [r["message_id"] for r in only["requests"]] == [ids["other"]]
    kind = await _worker_command(worker, "findings", "--kind", "low_quality", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(kind.stdout)))
    assert [(r["message_id"], r["warning"], r["kinds"]) for r in rows] == [
        (ids["mild"], "1", "low_quality")
    ]
    assert rows[0]["kind"] == "low_quality", "a row per finding, with its detail"
    assert rows[0]["detail"]
    assert rows[0]["link"] == "", "no console origin set: no link"
    text = (await _worker_command(worker, "findings", "--since", "1h")).stdout
    assert "By OC and kind:" in text
    assert "Requests to look at first (3 of 3):" in text
    assert "OCAA  2        3         66.7" in text, "flagged, finished, per 100"
    assert "same_before_after" in text
    assert text.index(ids["worst"]) < text.index(ids["mild"])


async def test_report_refuses_a_bad_duration(worker: InProcessWorker) -> None:
    done = await _worker_command(worker, "findings", "--since", "a month")
    assert done.returncode == 2
    assert "--since: not a duration" in done.stderr


async def test_show_lists_the_findings(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    body = cr_stoc(intervention="SHOW-Q:photos=3:copy=3")
    await broker.run(db, body)
    await wait_for_reviews(db)
    text = (await _worker_command(worker, "show", body["messageId"])).stdout
    assert "Review: reviewed" in text
    assert "Findings (1):" in text
    assert "suspect  same_before_after: PBO_APRES is the very same file as PBO_AVANT" in text
    detail = json.loads((await _worker_command(worker, "show", body["messageId"], "--json")).stdout)
    [finding] = detail["findings"]
    assert finding["kind"] == "same_before_after"
    assert len(finding["photo_ids"]) == 2
