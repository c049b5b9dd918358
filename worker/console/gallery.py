"""A request's photos grouped by what they show, AVANT beside APRES, each with its findings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from worker.console.thumbnails import BOX, why_no_preview

# The spec's photo types by place; a place with AVANT and APRES types is shown as a pair.
_PLACES = ("PTO", "PBO", "PM", "PT_PENETRATION_LGT", "AERIEN_CABLE_TRAVERSE", "AERIEN_CABLE_POTEAU")
_SIDES = {"_AVANT": "before", "_APRES": "after"}


@dataclass
class Group:
    place: str
    before: list[dict[str, Any]] = field(default_factory=list)
    after: list[dict[str, Any]] = field(default_factory=list)
    alone: list[dict[str, Any]] = field(default_factory=list)

    @property
    def paired(self) -> bool:
        return bool(self.before or self.after)


def group_photos(photos: list[dict[str, Any]], findings: list[dict[str, Any]]) -> list[Group]:
    """Groups in the spec's order (unknown types last, by name); each photo gets `findings`,
    the findings that name it."""
    groups: dict[str, Group] = {}
    for row in photos:
        width, height = thumbnail_size(row["width"], row["height"])
        photo = row | {
            "findings": [f for f in findings if row["photo_id"] in f["photo_ids"]],
            "thumb_width": width,
            "thumb_height": height,
            "no_preview": why_no_preview(row["width"], row["height"]),
        }
        place, side = _place(photo["type"])
        group = groups.setdefault(place, Group(place))
        getattr(group, side).append(photo)
    return sorted(groups.values(), key=_rank)


def thumbnail_size(width: int | None, height: int | None, box: int = BOX) -> tuple[int, int]:
    """The thumbnail's size, so that the page does not jump as thumbnails arrive."""
    if not width or not height:
        return box, box * 3 // 4
    scale = min(1.0, box / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _place(photo_type: str) -> tuple[str, str]:
    for suffix, side in _SIDES.items():
        if photo_type.endswith(suffix):
            return photo_type.removesuffix(suffix), side
    return photo_type, "alone"


def _rank(group: Group) -> tuple[int, str]:
    known = group.place in _PLACES
    return (_PLACES.index(group.place) if known else len(_PLACES), group.place)


def badges(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One badge per kind, with how many and the gravest severity, gravest kinds first."""
    grouped: dict[str, dict[str, Any]] = {}
    for finding in findings:
        badge = grouped.setdefault(
            finding["kind"], {"kind": finding["kind"], "n": 0, "severity": "info", "details": []}
        )
        badge["n"] += 1
        badge["details"].append(finding["detail"])
        if _GRAVITY[finding["severity"]] > _GRAVITY[badge["severity"]]:
            badge["severity"] = finding["severity"]
    return sorted(grouped.values(), key=lambda b: -_GRAVITY[b["severity"]])


_GRAVITY = {"info": 0, "warning": 1, "suspect": 2}
