"""The CR_STOC completion message the worker consumes (contract §1)."""

from __future__ import annotations

import codecs
import email.message
import re
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from worker.partners.config import Query
from worker.validation import describe_errors


class Action(StrEnum):
    POSE_PTO = "POSE_PTO"
    CABLAGE_PBO = "CABLAGE_PBO"
    CABLAGE_PM = "CABLAGE_PM"
    PENETRATION_LOGEMENT = "PENETRATION_LOGEMENT"
    POSE_TRAVERSE_AERIEN = "POSE_TRAVERSE_AERIEN"
    CABLAGE_APPUI_AERIEN = "CABLAGE_APPUI_AERIEN"


REFERENCE_MAX_LENGTH = 255
# Unicode's control characters (category Cc) and surrogates (Cs), as one class: a regular
# expression scans a reference in C, instead of a category lookup in Python per character.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def check_reference(value: str) -> str:
    """A reference becomes a path segment at the OC and a value in our rows and logs: text of
    1 to 255 characters, not blank, with no control characters, and not `.` or `..` (a partner
    or a proxy that normalises paths would serve another resource, with the OI's token)."""
    if not value.strip():
        raise ValueError("must not be blank")
    if _UNSAFE.search(value):
        raise ValueError("must not contain control characters")
    if value in {".", ".."}:
        raise ValueError("must not be '.' or '..'")
    return value


Reference = Annotated[
    str, Field(min_length=1, max_length=REFERENCE_MAX_LENGTH), AfterValidator(check_reference)
]


class InvalidMessage(Exception):
    """The body breaks the contract; it goes to the dead-letter queue, never retried."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class CrStoc(BaseModel):
    """A validated message. Strict: a number where a string is expected is refused, not cast."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True, populate_by_name=True)

    message_id: UUID = Field(alias="messageId")
    flux: Literal["CR_STOC"]
    code_oc: str = Field(alias="codeOC", pattern=r"^[A-Z0-9]{4}$")
    reference_prestation_prise: Reference | None = Field(None, alias="referencePrestationPrise")
    reference_commande_prise_interne_oc: Reference | None = Field(
        None, alias="referenceCommandePriseInterneOC"
    )
    reference_commande_sous_traitant_oi: Reference | None = Field(
        None, alias="referenceCommandeSousTraitantOI"
    )
    date_intervention: AwareDatetime | None = Field(None, alias="dateIntervention")
    resultat: Literal["OK", "KO"] | None = None
    actions: list[Action] | None = None
    # The outlet's reference from the optical route: the photo checks compare it with the
    # label read on the PTO photo.
    reference_pto: Reference | None = Field(None, alias="referencePTO")

    @model_validator(mode="after")
    def _one_reference(self) -> CrStoc:
        if not any(self.references().values()):
            raise ValueError(
                "one of referencePrestationPrise, referenceCommandePriseInterneOC,"
                " referenceCommandeSousTraitantOI is required"
            )
        return self

    def references(self) -> dict[Query, str | None]:
        return {
            "intervention": self.reference_commande_sous_traitant_oi,
            "order": self.reference_commande_prise_interne_oc,
            "access": self.reference_prestation_prise,
        }


# Byte order marks of the encodings JSON once allowed (RFC 4627): UTF-32 before UTF-16, whose
# little-endian mark begins UTF-32's.
_OTHER_MARKS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def parse_message(body: bytes, content_type: str | None = None) -> CrStoc:
    """Validate a delivery body; raises InvalidMessage with a short reason and a readable detail.

    The body must be UTF-8 (RFC 8259 §8.1). A UTF-8 byte order mark, which .NET's
    `Encoding.UTF8` writes, is ignored as the RFC allows; the content type is not read, except
    to name a declared charset when the body is refused.
    """
    try:
        return CrStoc.model_validate_json(body.removeprefix(codecs.BOM_UTF8))
    except ValidationError as exc:
        if not _is_json_error(exc):
            raise InvalidMessage("invalid_fields", describe_errors(exc)) from None
        said = _encoding_said(body, content_type)
        raise InvalidMessage("not_json", said + describe_errors(exc)) from None


def _encoding_said(body: bytes, content_type: str | None) -> str:
    """Why a body that is not JSON may be text in another encoding, if it looks so."""
    for mark, name in _OTHER_MARKS:
        if body.startswith(mark):
            return f"the body is {name} (byte order mark {mark.hex(' ').upper()}), not UTF-8: "
    if b"\x00" in body[:4]:
        return "the body looks like UTF-16 or UTF-32 (NUL bytes among its first four), not UTF-8: "
    charset = _charset(content_type)
    if charset and charset.replace("-", "").replace("_", "") not in {"utf8", "usascii"}:
        return f"content type declares charset={charset}; only UTF-8 is accepted: "
    return ""


def _charset(content_type: str | None) -> str | None:
    message = email.message.Message()
    message["content-type"] = content_type or ""
    charset = message.get_param("charset")
    return charset.lower() if isinstance(charset, str) else None


def _is_json_error(exc: ValidationError) -> bool:
    return any(e["type"] in {"json_invalid", "json_type"} for e in exc.errors())
