"""The framing rules' work of one request, in the review processes: the PTO reference read on
each PTO photo, and each AVANT/APRES pair compared for one spot.

The bodies are read from storage once per review and photo: those read for the photo's traits
are kept for its pair. A check that crashes or overruns its process is a qa_error finding, as
for traits.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence

from worker.findings.checks import PAIRS
from worker.findings.framing import spot_pairs
from worker.findings.model import Finding, PhotoTraits, PhotoView, SpotMatch
from worker.photos.storage import PhotoStore
from worker.review.processes import Decoders, Failure
from worker.review.spent import CpuSpent

Compared = tuple[PhotoView, PhotoView, SpotMatch]
PAIR_TYPES = frozenset(kind for pair in PAIRS for kind in pair)


async def read_label(
    decoders: Decoders, body: bytes, traits: PhotoTraits, spent: CpuSpent
) -> PhotoTraits:
    """A PTO photo's traits with the reference read on it (or none readable)."""
    if traits.error is not None:
        return traits  # not decodable: its qa_error says so already
    try:
        reading = await decoders.label(body, spent)
    except Exception as exc:  # what the decoder says of a bad image: a finding, not a retry
        return dataclasses.replace(traits, error=f"the PTO reference check failed: {exc!r}")
    if isinstance(reading, Failure):
        return dataclasses.replace(traits, error=f"the PTO reference check {reading.detail}")
    return dataclasses.replace(traits, label_checked=True, label=reading)


async def compare_pairs(
    decoders: Decoders,
    store: PhotoStore,
    photos: Sequence[PhotoView],
    keys: dict[uuid.UUID, str],
    bodies: dict[uuid.UUID, bytes],
    spent: CpuSpent,
) -> tuple[list[Compared], list[Finding]]:
    """Each AVANT/APRES pair's agreement; a pair that could not be compared is a qa_error.
    `bodies` are those already read for this review; the others are read here."""
    pairs = [
        (b, a) for b, a in spot_pairs(photos) if b.traits.error is None and a.traits.error is None
    ]
    for photo_id in {p.photo_id for pair in pairs for p in pair} - bodies.keys():
        bodies[photo_id] = await store.read(keys[photo_id])
    compared: list[Compared] = []
    errors: list[Finding] = []
    for before, after in pairs:
        try:
            match = await decoders.spot(bodies[before.photo_id], bodies[after.photo_id], spent)
        except Exception as exc:  # a bad image: a finding, not a retry
            match = Failure("failed", f"failed: {exc!r}")
        if isinstance(match, Failure):
            detail = f"the same-spot check of {before.type} and {after.type} {match.detail}"
            errors.append(Finding("qa_error", "info", detail, (before.photo_id, after.photo_id)))
        else:
            compared.append((before, after, match))
    return compared, errors


def pair_figures(compared: Sequence[Compared], min_inliers: int) -> list[dict[str, object]]:
    """What the console shows beside each pair: the figures and the verdict of the threshold."""
    return [
        {
            "before": str(before.photo_id),
            "after": str(after.photo_id),
            "inliers": match.inliers,
            "matches": match.matches,
            "features": list(match.features),
            "spread": round(match.spread, 3),
            "same_spot": match.same_spot(min_inliers),
            "threshold": min_inliers,
        }
        for before, after, match in compared
    ]
