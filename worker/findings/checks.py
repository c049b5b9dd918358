"""The checks of a request's photos among themselves and against their records (pure).

Each function returns the findings of one kind; `circumstances.py` has the date and place ones
and `reuse.py` the comparison with every photo stored before.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from worker.findings.hashing import distance
from worker.findings.model import Finding, PhotoView, RequestView
from worker.settings import Settings

# The contract's table "Types de photos attendus".
EXPECTED_TYPES: dict[str, tuple[str, ...]] = {
    "POSE_PTO": ("PTO",),
    "CABLAGE_PBO": ("PBO_AVANT", "PBO_APRES"),
    "CABLAGE_PM": ("PM_AVANT", "PM_APRES"),
    "PENETRATION_LOGEMENT": ("PT_PENETRATION_LGT",),
    "POSE_TRAVERSE_AERIEN": ("AERIEN_CABLE_TRAVERSE",),
    "CABLAGE_APPUI_AERIEN": ("AERIEN_CABLE_POTEAU",),
}
PAIRS = (("PBO_AVANT", "PBO_APRES"), ("PM_AVANT", "PM_APRES"))
_DECLARED = ("size:", "width:", "height:")


def missing_types(request: RequestView) -> list[Finding]:
    """A type the message's actions call for that the OC did not list."""
    found = []
    for action in request.actions:
        for expected in EXPECTED_TYPES.get(action, ()):
            if expected not in request.listed_types:
                detail = f"{action} calls for a {expected} photo; the OC listed none"
                found.append(Finding("missing_type", "warning", detail))
    return found


def unpaired(request: RequestView, photos: list[PhotoView]) -> list[Finding]:
    """A before photo without its after photo, or the reverse (unless already missing_type)."""
    expected = {t for action in request.actions for t in EXPECTED_TYPES.get(action, ())}
    found = []
    for before, after in PAIRS:
        present = {before, after} & request.listed_types
        if len(present) != 1:
            continue
        (have,) = present
        lacking = after if have == before else before
        if lacking in expected:
            continue  # reported as missing_type already
        ids = tuple(p.photo_id for p in photos if p.type == have)
        detail = f"{have} without {lacking}: the work cannot be compared before and after"
        found.append(Finding("unpaired", "warning", detail, ids))
    return found


def same_before_after(photos: list[PhotoView], max_distance: int) -> list[Finding]:
    """An after photo that is its before photo again: the same file, or nearly the same image."""
    found = []
    for before, after in PAIRS:
        for first in _of_type(photos, before):
            for second in _of_type(photos, after):
                finding = _compare_pair(first, second, max_distance)
                if finding is not None:
                    found.append(finding)
    return found


def _compare_pair(first: PhotoView, second: PhotoView, max_distance: int) -> Finding | None:
    ids = (first.photo_id, second.photo_id)
    if first.sha256 == second.sha256:
        detail = f"{second.type} is the very same file as {first.type} (same sha256)"
        return Finding("same_before_after", "suspect", detail, ids)
    one, other = first.traits.phash, second.traits.phash
    if one is None or other is None:
        return None
    bits = distance(one, other)
    if bits > max_distance:
        return None
    detail = (
        f"{second.type} is nearly the same image as {first.type} (perceptual hashes"
        f" {bits} bits apart of 64; threshold {max_distance})"
    )
    return Finding("same_before_after", "warning", detail, ids)


def declared_mismatches(photos: list[PhotoView]) -> list[Finding]:
    """Declared size, width or height that the bytes contradict."""
    found = []
    for photo in photos:
        lines = [line for line in photo.anomalies if line.startswith(_DECLARED)]
        if lines:
            detail = f"{photo.type}: " + "; ".join(lines)
            found.append(Finding("declared_mismatch", "info", detail, (photo.photo_id,)))
    return found


def low_quality(photos: list[PhotoView], settings: Settings) -> list[Finding]:
    """Too small, blurred, too dark or burnt: hard for an analyst to judge the work from."""
    found = []
    for photo in photos:
        reasons = list(_quality_problems(photo, settings))
        if reasons:
            detail = f"{photo.type}: " + "; ".join(reasons)
            found.append(Finding("low_quality", "warning", detail, (photo.photo_id,)))
    return found


def _quality_problems(photo: PhotoView, settings: Settings) -> Iterator[str]:
    if photo.width and photo.height and min(photo.width, photo.height) < settings.qa_min_side:
        yield (
            f"too small ({photo.width}x{photo.height}, short side under {settings.qa_min_side} px)"
        )
    traits = photo.traits
    if traits.sharpness is not None and traits.sharpness < settings.qa_blur_below:
        yield f"blurred (sharpness {traits.sharpness:.1f}, under {settings.qa_blur_below:g})"
    if traits.brightness is not None and traits.brightness < settings.qa_dark_below:
        yield f"too dark (mean luminance {traits.brightness:.0f} of 255)"
    if traits.brightness is not None and traits.brightness > settings.qa_bright_above:
        yield f"burnt (mean luminance {traits.brightness:.0f} of 255)"


def qa_errors(photos: list[PhotoView]) -> list[Finding]:
    """Photos the image checks could not read: say why, so that someone looks by hand."""
    return [
        Finding("qa_error", "info", f"{photo.type}: {photo.traits.error}", (photo.photo_id,))
        for photo in photos
        if photo.traits.error
    ]


def _of_type(photos: Iterable[PhotoView], photo_type: str) -> list[PhotoView]:
    return [photo for photo in photos if photo.type == photo_type]
