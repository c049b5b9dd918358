"""The spec's framing rules ("Cadrage des photos") as findings (pure).

PTO: "présentant de façon lisible et claire la référence de la PTO": the reference read on the
photo (`pto_label.py`) must exist and be the message's `referencePTO`. PBO_APRES, PM_APRES:
"pris du même endroit que pour le cliché ..._AVANT": the pair must show one spot
(`same_spot.py`). `label_lookup.py` finds the same reference on another access's photo.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from worker.findings.checks import PAIRS
from worker.findings.model import Finding, PhotoView, RequestView, SpotMatch
from worker.findings.pto_reference import same_reference


@dataclass(frozen=True)
class Elsewhere:
    """Another request whose PTO photo shows the same reference (found by `label_lookup.py`)."""

    photo_id: uuid.UUID
    message_id: uuid.UUID
    code_oc: str
    reference: str | None  # the other request's own reference (intervention, order or access)
    received_at: datetime


def pto_references(
    request: RequestView, photos: Sequence[PhotoView], pattern: str
) -> list[Finding]:
    """A PTO photo whose reference cannot be read, or reads another than the message's."""
    found = []
    for photo in photos:
        if photo.type != "PTO" or not photo.traits.label_checked:
            continue
        label, ids = photo.traits.label, (photo.photo_id,)
        if label is None:
            detail = (
                f"PTO: no reference matching the OI's pattern {pattern} could be read on the"
                " label (no barcode holds one, no line of text reads as one)"
            )
            found.append(Finding("pto_reference_unreadable", "warning", detail, ids))
        elif request.reference_pto and not same_reference(label.text, request.reference_pto):
            detail = (
                f"PTO: the label reads {label.describe()}; the message's referencePTO is"
                f" {request.reference_pto}"
            )
            found.append(Finding("pto_reference_mismatch", "suspect", detail, ids))
    return found


def spot_pairs(photos: Sequence[PhotoView]) -> list[tuple[PhotoView, PhotoView]]:
    """The before and after photos the same-spot check compares: each after with each before
    of its kind, unless it is the very same file (`same_before_after` says so already)."""
    return [
        (before, after)
        for first, second in PAIRS
        for before in photos
        if before.type == first
        for after in photos
        if after.type == second and after.sha256 != before.sha256
    ]


def not_same_spot(
    compared: Sequence[tuple[PhotoView, PhotoView, SpotMatch]], min_inliers: int
) -> list[Finding]:
    """A pair whose views agree on too few points to be one spot seen twice."""
    return [
        Finding(
            "not_same_spot",
            "warning",
            f"{after.type} does not show the spot of {before.type}: {match.describe()};"
            f" one spot seen twice agrees on at least {min_inliers}",
            (before.photo_id, after.photo_id),
        )
        for before, after, match in compared
        if not match.same_spot(min_inliers)
    ]


def pto_reference_elsewhere(photo: PhotoView, other: Elsewhere) -> Finding:
    """The reference read here was read on the PTO photo of another access."""
    label = photo.traits.label
    read = label.describe() if label else "?"
    detail = (
        f"PTO: the label reads {read}; the same reference was read on PTO photo"
        f" {other.photo_id} of request {other.message_id} ({other.code_oc}, reference"
        f" {other.reference}, received {other.received_at:%Y-%m-%d %H:%M} UTC): one outlet,"
        " or one photo, serves two accesses"
    )
    return Finding(
        "pto_reference_elsewhere", "suspect", detail, (photo.photo_id,), other.message_id
    )
