"""The CR_STOC completion message the worker consumes (contract §1)."""

from __future__ import annotations

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


def parse_message(body: bytes) -> CrStoc:
    """Validate a delivery body; raises InvalidMessage with a short reason and a readable detail."""
    try:
        return CrStoc.model_validate_json(body)
    except ValidationError as exc:
        reason = "not_json" if _is_json_error(exc) else "invalid_fields"
        raise InvalidMessage(reason, describe_errors(exc)) from None


def _is_json_error(exc: ValidationError) -> bool:
    return any(e["type"] in {"json_invalid", "json_type"} for e in exc.errors())
