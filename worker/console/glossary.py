"""What the console's codes mean, in the page's language: the spec's field names and photo types
(shown as they are, explained on hover and in a legend), and the labels of the findings' kinds,
severities and statuses (shown beside or instead of the code).

The field names are the CR_STOC message's (docs/contract: the message's table) and the photo
types the spec's table "Types de photos attendus".
"""

from __future__ import annotations

from typing import Any

import jinja2
from markupsafe import Markup

from worker.console.voice import N_, Text
from worker.partners.records import PhotoType

FIELDS: dict[str, Text] = {
    "messageId": N_("the unique id of the CR_STOC message; the same id twice is one request"),
    "codeOC": N_("the commercial operator (OC), by its four-character InterOp code"),
    "referenceCommandeSousTraitantOI": N_(
        "the STOC order reference (the OI working as the OC's subcontractor): the photos by"
        " intervention"
    ),
    "referenceCommandePriseInterneOC": N_("the OC's internal order reference: the photos by order"),
    "referencePrestationPrise": N_("the access (outlet) reference: the photos by access"),
    "referencePTO": N_("the PTO reference labelled on the outlet, from the optical route"),
    "dateIntervention": N_("when the technician's intervention took place"),
    "resultat": N_("the outcome the CR_STOC reports: OK or KO"),
    "actions": N_("what the technician did, as action codes (POSE_PTO, CABLAGE_PBO...)"),
    "CR_STOC": N_(
        "compte rendu STOC: the report of an intervention done by the OI as the OC's subcontractor"
    ),
    "photoId": N_("the photo's id in the OC's API"),
    "sha256": N_("the fingerprint of the photo's bytes: the same file has the same one"),
    "X-Request-Id": N_("the id the OC's API gave this call, to quote to the OC"),
    "OC": N_("opérateur commercial: the operator that sells the line and holds the photos"),
    "OI": N_("opérateur d'infrastructure: the operator of the fibre network"),
    "PTO": N_("prise terminale optique: the fibre outlet in the home (photo of its label)"),
    "PBO": N_("point de branchement optique: the street or building box"),
    "PBO_AVANT": N_("the open PBO, wide angle, before the cabling"),
    "PBO_APRES": N_("the open PBO, wide angle, after the cabling, from the same spot"),
    "PM": N_("point de mutualisation: the cabinet shared by the operators"),
    "PM_AVANT": N_("the open PM, wide angle, before the cabling"),
    "PM_APRES": N_("the open PM, wide angle, after the cabling, from the same spot"),
    "PT_PENETRATION_LGT": N_("where the fibre enters the home, from outside"),
    "AERIEN_CABLE_TRAVERSE": N_("the crossing laid on an aerial support"),
    "AERIEN_CABLE_POTEAU": N_("the pole, after the cabling"),
}

# The fields the request page and the list show, in the order of their legend.
MESSAGE_TERMS = (
    "messageId",
    "codeOC",
    "referenceCommandeSousTraitantOI",
    "referenceCommandePriseInterneOC",
    "referencePrestationPrise",
    "dateIntervention",
    "resultat",
    "actions",
    "CR_STOC",
)
PHOTO_TERMS = (*(photo_type.value for photo_type in PhotoType), "photoId", "sha256")

LABELS: dict[str, Text] = {
    # The findings' kinds (worker.findings.model.KINDS).
    "missing_type": N_("photo type missing"),
    "unpaired": N_("before or after missing"),
    "same_before_after": N_("same photo before and after"),
    "reused_photo": N_("photo reused"),
    "date_out_of_window": N_("date outside the intervention"),
    "location_far": N_("taken far away"),
    "declared_mismatch": N_("differs from what was declared"),
    "low_quality": N_("poor quality"),
    "qa_error": N_("not checked"),
    "pto_reference_unreadable": N_("PTO label unreadable"),
    "pto_reference_mismatch": N_("PTO label of another outlet"),
    "pto_reference_elsewhere": N_("PTO label seen on another request"),
    "not_same_spot": N_("before and after not from the same spot"),
    # Severities.
    "suspect": N_("suspect"),
    "warning": N_("warning"),
    "info": N_("info"),
    # The requests' statuses (worker.ops.status.STATUSES).
    "pending": N_("pending"),
    "completed": N_("completed"),
    "unavailable": N_("unavailable"),
    "expired": N_("expired"),
    "failed": N_("failed"),
    # The dead letters' states.
    "waiting": N_("waiting"),
    "replayed": N_("replayed"),
    "dismissed": N_("dismissed"),
}


@jinja2.pass_context
def label(context: Any, code: str) -> str:
    """The code's label in the page's language; an unknown code as it is."""
    known = LABELS.get(code)
    return code if known is None else str(context["voice"].tr(known))


@jinja2.pass_context
def term(context: Any, name: str) -> Markup | str:
    """A spec name as it is, explained on hover: `<abbr title="...">codeOC</abbr>`."""
    meaning = explain(context, name)
    if not meaning:
        return name
    return Markup('<abbr title="{}">{}</abbr>').format(meaning, name)


@jinja2.pass_context
def explain(context: Any, name: str) -> str:
    known = FIELDS.get(name)
    return "" if known is None else str(context["voice"].tr(known))


_ICONS = {"suspect": "\u2716", "warning": "\u25b2", "info": "\u2139"}


@jinja2.pass_context
def severity_icon(context: Any, severity: str) -> Markup:
    """A finding's severity as a shape with its word (in the page's language) for screen readers
    and on hover: never by the badge's colour alone (WCAG 1.4.1)."""
    return Markup('<span class="sev" role="img" aria-label="{0}" title="{0}">{1}</span> ').format(
        label(context, severity), _ICONS.get(severity, "\u2022")
    )
