"""Photo records of a metadata answer, checked one by one against the spec."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from worker.validation import describe_errors

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}


class PhotoType(StrEnum):
    PTO = "PTO"
    PBO_AVANT = "PBO_AVANT"
    PBO_APRES = "PBO_APRES"
    PM_AVANT = "PM_AVANT"
    PM_APRES = "PM_APRES"
    PT_PENETRATION_LGT = "PT_PENETRATION_LGT"
    AERIEN_CABLE_TRAVERSE = "AERIEN_CABLE_TRAVERSE"
    AERIEN_CABLE_POTEAU = "AERIEN_CABLE_POTEAU"


class GeoPosition(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    projection: str


class PhotoRecord(BaseModel):
    """One element of the list (spec: getPhotosByAccess, Réponse). Extra fields are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    id: UUID
    type: PhotoType
    mime_type: Literal["image/jpeg", "image/png"] = Field(alias="mimeType")
    name: str | None = None
    date: AwareDatetime | None = None
    title: str | None = None
    description: str | None = None
    width: int | None = Field(None, ge=1)
    height: int | None = Field(None, ge=1)
    size: int | None = Field(None, ge=0)
    geo: GeoPosition | None = Field(None, alias="geoPositionCoords")

    def storage_key(self, code_oc: str) -> str:
        return f"{code_oc}/{self.id}.{EXTENSIONS[self.mime_type]}"


@dataclass(frozen=True)
class RecordRefusal:
    """A record that breaks the spec: its id if one can be read, and why."""

    photo_id: str | None
    detail: str


class MalformedAnswer(Exception):
    """A 200 whose body is not a JSON list."""


@dataclass(frozen=True)
class PhotoList:
    records: list[PhotoRecord]
    refusals: list[RecordRefusal]


def parse_photo_list(body: bytes) -> PhotoList:
    """Keep every valid record, refuse each broken one with its reason; duplicates count once."""
    try:
        items = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedAnswer(f"metadata answer is not JSON ({exc})") from None
    if not isinstance(items, list):
        raise MalformedAnswer(f"metadata answer is a JSON {type(items).__name__}, not a list")
    records: dict[UUID, PhotoRecord] = {}
    refusals = []
    for index, item in enumerate(items):
        try:
            record = PhotoRecord.model_validate(item)
        except ValidationError as exc:
            refusals.append(RecordRefusal(_raw_id(item), f"record {index}: {describe_errors(exc)}"))
            continue
        records.setdefault(record.id, record)
    return PhotoList(list(records.values()), refusals)


def _raw_id(item: Any) -> str | None:
    raw = item.get("id") if isinstance(item, dict) else None
    return str(raw)[:100] if raw is not None else None
