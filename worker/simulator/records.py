"""Photo records as the spec describes them (the items of a metadata answer)."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from worker.simulator.images import Picture
from worker.simulator.scenarios import Scenario

PHOTO_TYPES = (
    "PTO",
    "PBO_AVANT",
    "PBO_APRES",
    "PM_AVANT",
    "PM_APRES",
    "PT_PENETRATION_LGT",
    "AERIEN_CABLE_TRAVERSE",
    "AERIEN_CABLE_POTEAU",
)
# Fixed so that the same reference lists the same photo ids in every run.
_PHOTO_NAMESPACE = uuid.UUID("5b0c1c8e-3f47-4c5e-9a51-6a7c2f3e8d10")
_PARIS_WINTER = timezone(timedelta(hours=1))
_OLD = timedelta(days=3)
_FAR = 0.25  # degrees of latitude: about 28 km
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}


def photo_id(reference: str, index: int) -> str:
    """Deterministic id of the index-th photo (1-based) listed for a reference."""
    return str(uuid.uuid5(_PHOTO_NAMESPACE, f"{reference}:{index}"))


def photo_seed(reference: str, index: int) -> int:
    """Deterministic 32-bit number that varies the picture and the record of a photo."""
    return uuid.UUID(photo_id(reference, index)).int & 0xFFFFFFFF


def declared_mime_type(scenario: Scenario, index: int) -> str:
    return "image/jpeg" if scenario.format_of(index) == "jpeg" else "image/png"


@dataclass(frozen=True)
class Shot:
    """When and where a photo was taken: as its record declares it, as its camera recorded it."""

    taken_at: datetime
    place: tuple[float, float]
    camera_taken_at: datetime
    camera_place: tuple[float, float]


def shot_of(reference: str, scenario: Scenario, index: int, listed_at: datetime) -> Shot:
    """The photos of a reference are taken a few minutes and a few metres apart, in the hour
    before they are listed (as the message's dateIntervention says), somewhere in France."""
    taken = listed_at - timedelta(minutes=50 - 2 * (index % 20))
    site = _position(photo_seed(reference, 0))
    place = (round(site[0] + 0.00005 * index, 6), site[1])
    camera_taken = taken - _OLD if index in scenario.olddate else taken
    camera_place = (place[0] + _FAR, place[1]) if index in scenario.faraway else place
    return Shot(taken, place, camera_taken, camera_place)


def build_record(
    reference: str, scenario: Scenario, index: int, picture: Picture, shot: Shot
) -> dict[str, Any]:
    """The record of the index-th photo, describing the picture served (unless told to lie)."""
    mime_type = declared_mime_type(scenario, index)
    photo_type = PHOTO_TYPES[(index - 1) % len(PHOTO_TYPES)]
    record: dict[str, Any] = {
        "id": photo_id(reference, index),
        "name": f"{scenario.label}_{index:02d}.{_EXTENSIONS[mime_type]}",
        # A non-UTC offset, as field devices report it, keeps clients honest about time zones.
        "date": shot.taken_at.astimezone(_PARIS_WINTER).isoformat(),
        "title": f"{photo_type} {scenario.label}",
        "description": f"Cliché {index}/{scenario.photos} de l'intervention {scenario.label}",
        "type": photo_type,
        "mimeType": mime_type,
        "width": picture.width,
        "height": picture.height,
        "size": len(picture.data),
        "geoPositionCoords": {
            "latitude": shot.place[0],
            "longitude": shot.place[1],
            "projection": "WGS84",
        },
    }
    if index in scenario.mismatch:
        record.update(
            width=picture.width + 16, height=picture.height + 8, size=len(picture.data) + 1000
        )
    if index in scenario.badrecord:
        record["type"] = "SELFIE"
    return _poisoned(record, scenario.poison)


def _poisoned(record: dict[str, Any], poison: frozenset[str]) -> dict[str, Any]:
    if "text" in poison:
        for key in ("name", "title", "description"):
            record[key] = f"{record[key]} \u0000 \ud800"
        record["geoPositionCoords"]["projection"] = "WGS\u000084 \udfff"
    if "numbers" in poison:
        record.update(width=2**31 + 7, height=2**32, size=2**63 + 1)
    return record


def _position(seed: int) -> tuple[float, float]:
    """Somewhere in metropolitan France."""
    return round(43.0 + (seed % 6000) / 1000, 6), round(-1.0 + (seed // 6000 % 8000) / 1000, 6)
