"""docs/schemas/: the JSON Schemas of the contract's message and events agree with what the
worker accepts (the message model, on samples and fuzzed messages) and emits (a real run)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypothesis import given, settings
from jsonschema import Draft202012Validator

from tests.fuzz.strategies import messages
from tests.harness import Broker, InProcessWorker, cr_stoc, wait_for_reviews, wait_for_status
from tests.services import wait_until
from worker.findings.model import KINDS
from worker.intake.message import InvalidMessage, parse_message

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
# The review stage (the event's `review` field, photos.reviewed) is being built on another
# branch. Until it lands, the worker's photos.<status> events have no `review`: this test says
# so, and fails the day they have one, so that the flag is turned and `review` required.
REVIEW_EMITTED = True


def _schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / f"{name}.schema.json").read_text("utf-8"))
    return schema


def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(_schema(name))


def _accepted(message: Any) -> bool:
    try:
        parse_message(json.dumps(message).encode())
    except InvalidMessage:
        return False
    return True


@pytest.mark.parametrize("name", ["cr_stoc", "photos-status", "photos-reviewed"])
def test_each_schema_is_valid_json_schema(name: str) -> None:
    Draft202012Validator.check_schema(_schema(name))


def test_both_events_describe_findings_alike_and_know_every_kind() -> None:
    status, reviewed = _schema("photos-status"), _schema("photos-reviewed")
    assert status["$defs"]["finding"] == reviewed["$defs"]["finding"]
    assert set(status["$defs"]["finding"]["properties"]["kind"]["examples"]) >= set(KINDS)


VALID = [
    cr_stoc(),
    cr_stoc(intervention=None, referencePrestationPrise="ACC-1"),
    cr_stoc(intervention=None, referenceCommandePriseInterneOC="CMD/42"),
    cr_stoc(
        dateIntervention="2026-11-20T09:30:00+01:00",
        resultat="KO",
        actions=["POSE_PTO", "CABLAGE_APPUI_AERIEN"],
        referencePTO="FI-1234-5678",
    ),
    cr_stoc(dateIntervention="2026-11-20T08:30:00.25Z", resultat=None, actions=None),
    cr_stoc(referencePrestationPrise=None, somethingNew={"ignored": True}),
    cr_stoc(intervention="x" * 255),
    cr_stoc(intervention="réf. é ✓ .../..%2F"),
]
INVALID = [
    {k: v for k, v in cr_stoc().items() if k != "codeOC"},
    {k: v for k, v in cr_stoc().items() if k != "messageId"},
    cr_stoc(code_oc="abcd"),
    cr_stoc(code_oc="ABCDE"),
    cr_stoc(flux="CR_PRO"),
    cr_stoc(messageId="not-a-uuid"),
    cr_stoc(intervention=None),
    cr_stoc(intervention=None, referencePrestationPrise=None),
    cr_stoc(intervention=""),
    cr_stoc(intervention="   "),
    cr_stoc(intervention="."),
    cr_stoc(intervention=".."),
    cr_stoc(intervention="a\x00b"),
    cr_stoc(intervention="a\nb"),
    cr_stoc(intervention="x" * 256),
    cr_stoc(intervention=42),
    cr_stoc(dateIntervention="2026-11-20T09:30:00"),
    cr_stoc(dateIntervention="yesterday"),
    cr_stoc(resultat="MAYBE"),
    cr_stoc(actions=["POSE_PTO", "DANCE"]),
    cr_stoc(actions="POSE_PTO"),
    ["not", "an", "object"],
]


@pytest.mark.parametrize("message", VALID, ids=range(len(VALID)))
def test_what_the_contract_allows_the_worker_accepts(message: dict[str, Any]) -> None:
    _validator("cr_stoc").validate(message)
    assert _accepted(message)


@pytest.mark.parametrize("message", INVALID, ids=range(len(INVALID)))
def test_what_breaks_the_contract_the_worker_refuses(message: Any) -> None:
    assert not _validator("cr_stoc").is_valid(message)
    assert not _accepted(message)


def test_the_schemas_own_example_is_accepted() -> None:
    for example in _schema("cr_stoc")["examples"]:
        _validator("cr_stoc").validate(example)
        assert _accepted(example)


@settings(max_examples=1500, deadline=None)
@given(messages)
def test_the_schema_and_the_message_model_agree_on_fuzzed_messages(message: Any) -> None:
    # As the worker reads it: JSON's escapes turn a pair of surrogates into one character.
    body = json.dumps(message)
    assert _validator("cr_stoc").is_valid(json.loads(body)) == _accepted(message), message


def test_a_reviewed_event_per_the_contract_is_valid_and_its_fields_are_required() -> None:
    event = {
        "messageId": str(uuid.uuid4()),
        "codeOC": "ABCD",
        "referencePrestationPrise": None,
        "referenceCommandePriseInterneOC": None,
        "referenceCommandeSousTraitantOI": "STOC-1",
        "findings": [
            {"kind": "low_quality", "severity": "warning", "photoIds": [], "detail": "dark"}
        ],
        "reviewedAt": "2026-11-22T10:00:00+01:00",
        "checks": "2026.11.1",
    }
    validator = _validator("photos-reviewed")
    validator.validate(event)
    for key in ("findings", "reviewedAt", "checks", "referencePrestationPrise"):
        assert not validator.is_valid({k: v for k, v in event.items() if k != key}), key


async def _events_of(broker: Broker, ids: list[str]) -> list[dict[str, Any]] | None:
    found = [event for message_id in ids for event in broker.events_for(message_id)]
    return found if len(found) >= len(ids) else None


@pytest.mark.services
async def test_the_events_the_worker_emits_match_the_schema(
    worker: InProcessWorker, broker: Broker, db: asyncpg.Pool
) -> None:
    sent = [
        cr_stoc(intervention="SCHEMA-OK:photos=3", actions=["POSE_PTO", "CABLAGE_PBO"]),
        cr_stoc(intervention="SCHEMA-SAME:photos=3:copy=3:dark=2"),
        cr_stoc(intervention="SCHEMA-NEVER:final=204"),
        cr_stoc(intervention="SCHEMA-DENIED:status=403"),
        cr_stoc(intervention="SCHEMA-BAD:photos=3:badmagic=2"),
        cr_stoc(intervention=None, referencePrestationPrise="SCHEMA-ACCESS:photos=1"),
    ]
    for message in sent:
        await broker.publish(message)
    ids = [message["messageId"] for message in sent]
    for message_id in ids:
        await wait_for_status(db, message_id)
    await wait_for_reviews(db)
    rows = await db.fetch("SELECT routing_key, body::text AS body FROM outbox ORDER BY id")
    reviewed = [json.loads(row["body"]) for row in rows if row["routing_key"] == "photos.reviewed"]
    finals = [row for row in rows if row["routing_key"] != "photos.reviewed"]
    assert len(finals) == len(sent)
    events = await wait_until(lambda: _events_of(broker, ids), what="every result event")

    validator = _validator("photos-status")
    emitted = [(e.pop("_routing_key"), e) for e in events]
    emitted = [(key, event) for key, event in emitted if key != "photos.reviewed"]
    emitted += [(row["routing_key"], json.loads(row["body"])) for row in finals]
    for routing_key, event in emitted:
        assert routing_key == f"photos.{event['status']}"
        if REVIEW_EMITTED:
            validator.validate(event)
        else:
            assert "review" not in event, "the review stage has landed: set REVIEW_EMITTED"
            validator.validate({**event, "review": "none"})  # the contract will require it
    statuses = {event["status"] for _, event in emitted}
    assert statuses == {"completed", "unavailable", "failed"}
    # The findings that need the photos decoded come with photos.reviewed.
    assert reviewed, "the completed requests were reviewed"
    reviewed_validator = _validator("photos-reviewed")
    for event in reviewed:
        reviewed_validator.validate(event)
    assert any(event["findings"] for event in reviewed)
