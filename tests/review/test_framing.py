"""The framing rules in the review stage, end to end: each finding raised by its simulator
scenario, none on the clean one, what was read stored on the PTO photo's row, and `worker
review` adding the new findings to a request reviewed before."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from structlog.testing import capture_logs

from tests.harness import Broker, StartWorker, cr_stoc, wait_for_reviews
from tests.review.test_rereview import _command
from tests.review.test_stage import completed, reviewed
from worker.settings import Settings

pytestmark = [pytest.mark.services, pytest.mark.slow]
EVERY = ["POSE_PTO", "CABLAGE_PBO", "CABLAGE_PM"]
LABEL = "FR-4242-0001"
FRAMING_ON = {  # the defaults, which the tests' settings turn off
    "pto_reference_pattern": Settings.model_fields["pto_reference_pattern"].default,
    "qa_same_spot_min_inliers": Settings.model_fields["qa_same_spot_min_inliers"].default,
}


def message(reference: str, actions: list[str], **extra: Any) -> dict[str, Any]:
    return cr_stoc(
        intervention=reference,
        dateIntervention=datetime.now(UTC).isoformat(),
        actions=actions,
        **extra,
    )


def kinds(event: dict[str, Any]) -> list[str]:
    return sorted(f["kind"] for f in event["findings"])


FRAMING = {
    "pto_reference_unreadable",
    "pto_reference_mismatch",
    "pto_reference_elsewhere",
    "not_same_spot",
}


async def test_each_framing_finding_comes_from_its_scenario(
    start_worker: StartWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    worker = await start_worker({"review_processes": 2} | FRAMING_ON)
    clean = message(f"CLEAN:photos=5:pto={LABEL}:spot=same", EVERY, referencePTO=LABEL)
    with capture_logs() as logs:
        await completed(broker, db, clean)
        review = await reviewed(broker, clean, timeout=120)
    assert FRAMING.isdisjoint(kinds(review)), review["findings"]
    # Each check's CPU, measured by the review process that ran it: one observation a run.
    registry = worker.metrics.registry
    runs = {
        check: registry.get_sample_value("worker_review_check_cpu_seconds_count", {"check": check})
        for check in ("traits", "pto_reference", "same_spot")
    }
    assert runs == {"traits": 5, "pto_reference": 1, "same_spot": 2}
    spent = registry.get_sample_value("worker_review_check_cpu_seconds_sum", {"check": "same_spot"})
    assert spent is not None
    assert spent > 0
    (line,) = [entry for entry in logs if entry["event"] == "request reviewed"]
    assert line["checks_run"] == runs
    assert set(line["cpu_ms"]) == set(runs)
    assert line["cpu_ms"]["pto_reference"] > 0
    row = await db.fetchrow(
        "SELECT label_text, label_method, label_box FROM photos WHERE type = 'PTO'"
    )
    assert row["label_text"] == LABEL
    assert row["label_method"] in ("barcode", "ocr")
    assert len(row["label_box"]) == 4
    figures = json.loads(
        await db.fetchval(
            "SELECT spot_pairs::text FROM request_reviews WHERE message_id = $1",
            uuid.UUID(clean["messageId"]),
        )
    )
    assert len(figures) == 2  # PBO and PM, each one spot: the figures the console shows
    assert all(pair["same_spot"] and pair["inliers"] >= pair["threshold"] for pair in figures)

    murky = message("MURKY:photos=5:pto=blank:spot=other", EVERY)
    swapped = message("SWAPPED:photos=3:pto=FR-9999-0002:spot=alike", EVERY[:2], referencePTO=LABEL)
    twice = message(f"TWICE:photos=1:pto={LABEL}", ["POSE_PTO"])
    for body in (murky, swapped, twice):
        await completed(broker, db, body)
    events = {
        name: await reviewed(broker, body, timeout=180)
        for name, body in (("murky", murky), ("swapped", swapped), ("twice", twice))
    }
    found = {name: kinds(event) for name, event in events.items()}
    details = {name: [f["detail"] for f in event["findings"]] for name, event in events.items()}
    assert "pto_reference_unreadable" in found["murky"], details
    assert found["murky"].count("not_same_spot") == 2  # PBO and PM: two places each
    assert "pto_reference_mismatch" in found["swapped"]
    assert "not_same_spot" in found["swapped"]  # a look-alike cabinet elsewhere
    assert "pto_reference_elsewhere" in found["twice"]
    assert "pto_reference_mismatch" not in found["twice"]  # it declared no referencePTO


async def test_worker_review_adds_the_new_findings_to_photos_reviewed_before(
    start_worker: StartWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    worker = await start_worker({"review_processes": 1} | FRAMING_ON)
    body = message("BEFORE:photos=5:pto=blank:spot=other", EVERY)
    await completed(broker, db, body)
    await reviewed(broker, body, timeout=120)
    # As a review by the checks before this change left it: no framing finding, nothing read.
    await db.execute("DELETE FROM photo_findings WHERE kind = ANY($1::text[])", list(FRAMING))
    await db.execute(
        "UPDATE photos SET label_text = NULL, label_box = NULL, label_method = NULL,"
        " label_confidence = NULL, checks_version = '2026.12-review.1'"
    )
    await db.execute("UPDATE request_reviews SET checks_version = '2026.12-review.1'")
    result = await _command(worker, "--since", "1d", "--pause", "0")
    assert result.returncode == 0, result.stderr
    await wait_for_reviews(db, timeout=180)
    rows = await db.fetch("SELECT kind FROM photo_findings ORDER BY kind")
    assert {"pto_reference_unreadable", "not_same_spot"} <= {r["kind"] for r in rows}
    assert await db.fetchval("SELECT label_method FROM photos WHERE type = 'PTO'") == "none"
