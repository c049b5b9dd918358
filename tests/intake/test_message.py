"""The CR_STOC message (contract §1): what is accepted, and each way to break the table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from worker.intake.message import Action, InvalidMessage, parse_message
from worker.partners.config import Query, choose_query

MESSAGE_ID = "3f0c2a4e-8a57-4a8e-9c0e-1b2d3c4e5f60"
MINIMAL = {
    "messageId": MESSAGE_ID,
    "flux": "CR_STOC",
    "codeOC": "ABCD",
    "referenceCommandeSousTraitantOI": "STOC-1",
}
DROP = object()


def body(**changes: Any) -> bytes:
    message = {**MINIMAL, **changes}
    return json.dumps({k: v for k, v in message.items() if v is not DROP}).encode()


def refused(raw: bytes) -> InvalidMessage:
    with pytest.raises(InvalidMessage) as info:
        parse_message(raw)
    return info.value


def test_minimal_message() -> None:
    message = parse_message(body())
    assert message.message_id == UUID(MESSAGE_ID)
    assert message.flux == "CR_STOC"
    assert message.code_oc == "ABCD"
    assert message.reference_commande_sous_traitant_oi == "STOC-1"
    assert message.reference_commande_prise_interne_oc is None
    assert message.reference_prestation_prise is None
    assert (message.date_intervention, message.resultat, message.actions) == (None, None, None)


def test_every_field_and_unknown_extras() -> None:
    message = parse_message(
        body(
            referencePrestationPrise="FI-1234",
            referenceCommandePriseInterneOC="CMD 9/9",
            dateIntervention="2024-05-01T10:30:00+02:00",
            resultat="KO",
            actions=["POSE_PTO", "CABLAGE_PBO", "CABLAGE_APPUI_AERIEN"],
            somethingNew={"nested": [1, 2]},
            version=3,
        )
    )
    assert message.references() == {
        "intervention": "STOC-1",
        "order": "CMD 9/9",
        "access": "FI-1234",
    }
    assert message.date_intervention == datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
    assert message.date_intervention.utcoffset() == timedelta(hours=2)
    assert message.resultat == "KO"
    assert message.actions == [Action.POSE_PTO, Action.CABLAGE_PBO, Action.CABLAGE_APPUI_AERIEN]


@pytest.mark.parametrize("action", list(Action))
def test_every_action_code(action: Action) -> None:
    assert parse_message(body(actions=[action.value])).actions == [action]


@pytest.mark.parametrize(
    "reference",
    [
        "referencePrestationPrise",
        "referenceCommandePriseInterneOC",
        "referenceCommandeSousTraitantOI",
    ],
)
def test_any_one_reference_is_enough(reference: str) -> None:
    raw = body(**{"referenceCommandeSousTraitantOI": DROP, reference: "REF-1"})
    assert "REF-1" in parse_message(raw).references().values()


def test_utc_date() -> None:
    message = parse_message(body(dateIntervention="2024-05-01T08:30:00Z"))
    assert message.date_intervention == datetime(2024, 5, 1, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"not json", b"{'messageId': 1}", b'{"messageId": "\xff"}', b"\xff\xfe{}"],
)
def test_not_json(raw: bytes) -> None:
    error = refused(raw)
    assert error.reason == "not_json"
    assert "JSON" in error.detail


@pytest.mark.parametrize("raw", [b"[]", b'"CR_STOC"', b"42", b"null"])
def test_not_an_object(raw: bytes) -> None:
    error = refused(raw)
    assert error.reason == "invalid_fields"
    assert "object" in error.detail


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"messageId": DROP}, "messageId"),
        ({"messageId": "not-a-uuid"}, "messageId"),
        ({"messageId": 12345}, "messageId"),
        ({"messageId": None}, "messageId"),
        ({"flux": "CR_PROV"}, "flux"),
        ({"flux": DROP}, "flux"),
        ({"codeOC": "ABC"}, "codeOC"),
        ({"codeOC": "ABCDE"}, "codeOC"),
        ({"codeOC": "abcd"}, "codeOC"),
        ({"codeOC": "AB-D"}, "codeOC"),
        ({"codeOC": "ABCD\n"}, "codeOC"),
        ({"codeOC": 1234}, "codeOC"),
        ({"codeOC": DROP}, "codeOC"),
        ({"referenceCommandeSousTraitantOI": ""}, "referenceCommandeSousTraitantOI"),
        ({"referenceCommandeSousTraitantOI": 17}, "referenceCommandeSousTraitantOI"),
        ({"referencePrestationPrise": ""}, "referencePrestationPrise"),
        ({"referenceCommandeSousTraitantOI": "  \t"}, "referenceCommandeSousTraitantOI"),
        ({"referenceCommandeSousTraitantOI": "A\u0000B"}, "referenceCommandeSousTraitantOI"),
        ({"referenceCommandeSousTraitantOI": "A\nB"}, "referenceCommandeSousTraitantOI"),
        ({"referenceCommandePriseInterneOC": "A\u007fB"}, "referenceCommandePriseInterneOC"),
        ({"referencePrestationPrise": "A\u0085B"}, "referencePrestationPrise"),
        ({"referenceCommandeSousTraitantOI": "."}, "referenceCommandeSousTraitantOI"),
        ({"referenceCommandeSousTraitantOI": ".."}, "referenceCommandeSousTraitantOI"),
        ({"referencePrestationPrise": "x" * 256}, "referencePrestationPrise"),
        ({"referencePrestationPrise": "x" * 100_000}, "referencePrestationPrise"),
        ({"dateIntervention": "2024-05-01T10:30:00"}, "dateIntervention"),
        ({"dateIntervention": 1714552200}, "dateIntervention"),
        ({"dateIntervention": "yesterday"}, "dateIntervention"),
        ({"resultat": "ok"}, "resultat"),
        ({"resultat": "PARTIEL"}, "resultat"),
        ({"actions": ["POSE_PTO", "REPARATION"]}, "actions.1"),
        ({"actions": "POSE_PTO"}, "actions"),
    ],
)
def test_broken_field_is_named(changes: dict[str, Any], field: str) -> None:
    error = refused(body(**changes))
    assert error.reason == "invalid_fields"
    assert f"{field}:" in error.detail
    assert str(error) == f"invalid_fields: {error.detail}"


@pytest.mark.parametrize(
    "changes",
    [
        {"referenceCommandeSousTraitantOI": DROP},
        {"referenceCommandeSousTraitantOI": None, "referencePrestationPrise": None},
    ],
)
def test_no_reference_at_all(changes: dict[str, Any]) -> None:
    error = refused(body(**changes))
    assert error.reason == "invalid_fields"
    for name in (
        "referencePrestationPrise",
        "referenceCommandePriseInterneOC",
        "referenceCommandeSousTraitantOI",
    ):
        assert name in error.detail


@pytest.mark.parametrize("reference", ["x" * 255, "a/b", "../etc", "...", "Réf. 7"])
def test_references_that_are_fine(reference: str) -> None:
    message = parse_message(body(referenceCommandeSousTraitantOI=reference))
    assert message.reference_commande_sous_traitant_oi == reference


ALL: dict[Query, str | None] = {"intervention": "I", "order": "O", "access": "A"}


@pytest.mark.parametrize(
    ("preferred", "references", "expected"),
    [
        ("intervention", ALL, ("intervention", "I")),
        ("order", ALL, ("order", "O")),
        ("access", ALL, ("access", "A")),
        ("access", {**ALL, "access": None}, ("intervention", "I")),
        ("order", {**ALL, "order": None}, ("intervention", "I")),
        ("intervention", {**ALL, "intervention": None}, ("order", "O")),
        ("access", {"intervention": None, "order": "O", "access": None}, ("order", "O")),
        ("intervention", {"intervention": "", "order": None, "access": "A"}, ("access", "A")),
    ],
)
def test_choose_query(
    preferred: Query, references: dict[Query, str | None], expected: tuple[Query, str]
) -> None:
    assert choose_query(preferred, references) == expected


def test_choose_query_from_a_message() -> None:
    message = parse_message(body(referencePrestationPrise="FI-1"))
    assert choose_query("access", message.references()) == ("access", "FI-1")
    assert choose_query("order", message.references()) == ("intervention", "STOC-1")


def test_a_utf8_byte_order_mark_is_ignored() -> None:
    # .NET's Encoding.UTF8 writes its preamble before the JSON (RFC 8259 lets a parser skip it).
    message = parse_message(b"\xef\xbb\xbf" + body(), "application/json; charset=utf-8")
    assert message.message_id == UUID(MESSAGE_ID)


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ("\ufeff" + json.dumps(MINIMAL), "UTF-16"),
        (json.dumps(MINIMAL), "NUL bytes"),
    ],
)
def test_utf16_is_refused_saying_so(raw: str, named: str) -> None:
    encoded = raw.encode("utf-16-le")
    error = refused(encoded)
    assert error.reason == "not_json"
    assert named in error.detail
    assert "not UTF-8" in error.detail


def test_utf32_is_named_as_such() -> None:
    error = refused(("\ufeff" + json.dumps(MINIMAL)).encode("utf-32-le"))
    assert "UTF-32" in error.detail


def test_a_declared_latin1_body_that_is_not_utf8_is_refused_naming_the_charset() -> None:
    raw = json.dumps({**MINIMAL, "referenceCommandeSousTraitantOI": "réf"}, ensure_ascii=False)
    latin1 = raw.encode("latin-1")
    with pytest.raises(InvalidMessage) as info:
        parse_message(latin1, "application/json; charset=ISO-8859-1")
    assert info.value.reason == "not_json"
    assert "charset=iso-8859-1" in info.value.detail


def test_a_declared_latin1_body_in_plain_ascii_is_accepted() -> None:
    assert parse_message(body(), "text/plain; charset=iso-8859-1").code_oc == "ABCD"
