"""Photo records of a metadata answer: valid ones kept, broken ones refused with id and reason."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import pytest

from worker.partners.records import MalformedAnswer, PhotoType, parse_photo_list

ID1 = "11111111-1111-4111-8111-111111111111"
ID2 = "22222222-2222-4222-8222-222222222222"
ID3 = "33333333-3333-4333-8333-333333333333"
DROP = object()


def record(photo_id: str = ID1, **changes: Any) -> dict[str, Any]:
    full = {
        "id": photo_id,
        "type": "PBO_AVANT",
        "mimeType": "image/jpeg",
        "name": "pbo.jpg",
        "date": "2024-05-01T10:00:00+02:00",
        "title": "PBO avant",
        "description": "boîtier ouvert",
        "width": 1600,
        "height": 1200,
        "size": 123456,
        "geoPositionCoords": {"latitude": 48.85, "longitude": 2.35, "projection": "WGS84"},
        **changes,
    }
    return {k: v for k, v in full.items() if v is not DROP}


def encode(items: object) -> bytes:
    return json.dumps(items).encode()


def test_valid_record() -> None:
    photos = parse_photo_list(encode([record()]))
    assert photos.refusals == []
    [photo] = photos.records
    assert photo.id == UUID(ID1)
    assert photo.type is PhotoType.PBO_AVANT
    assert photo.mime_type == "image/jpeg"
    assert (photo.width, photo.height, photo.size) == (1600, 1200, 123456)
    assert photo.geo is not None
    assert (photo.geo.latitude, photo.geo.longitude, photo.geo.projection) == (48.85, 2.35, "WGS84")
    assert photo.date is not None
    assert photo.date.utcoffset() is not None


def test_minimal_record_and_extra_fields() -> None:
    minimal = {"id": ID2, "type": "PTO", "mimeType": "image/png", "vendorField": {"x": 1}}
    photos = parse_photo_list(encode([minimal]))
    assert photos.refusals == []
    [photo] = photos.records
    assert photo.type is PhotoType.PTO
    assert (photo.name, photo.width, photo.size, photo.geo) == (None, None, None, None)


def test_empty_list() -> None:
    photos = parse_photo_list(b"[]")
    assert (photos.records, photos.refusals) == ([], [])


@pytest.mark.parametrize(
    ("broken", "photo_id", "field"),
    [
        (record(type="SELFIE"), ID1, "type"),
        (record(type=None), ID1, "type"),
        (record(mimeType="image/gif"), ID1, "mimeType"),
        (record(mimeType=DROP), ID1, "mimeType"),
        (record(id=DROP), None, "id"),
        (record(id="photo-7"), "photo-7", "id"),
        (record(size=-1), ID1, "size"),
        (record(width=0), ID1, "width"),
        (record(height=-5), ID1, "height"),
        (record(date="2024-05-01T10:00:00"), ID1, "date"),
        (record(geoPositionCoords={"longitude": 2.35, "projection": "WGS84"}), ID1, "latitude"),
        (
            record(geoPositionCoords={"latitude": 91, "longitude": 0, "projection": "x"}),
            ID1,
            "latitude",
        ),
    ],
)
def test_broken_record_is_refused_with_id_and_reason(
    broken: dict[str, Any], photo_id: str | None, field: str
) -> None:
    photos = parse_photo_list(encode([record(ID2), broken, record(ID3)]))
    assert [str(r.id) for r in photos.records] == [ID2, ID3]
    [refusal] = photos.refusals
    assert refusal.photo_id == photo_id
    assert refusal.detail.startswith("record 1: ")
    assert field in refusal.detail


@pytest.mark.parametrize("item", [42, "x", None, [record()]])
def test_item_that_is_not_an_object(item: object) -> None:
    [refusal] = parse_photo_list(encode([item])).refusals
    assert refusal.photo_id is None
    assert refusal.detail.startswith("record 0: ")


def test_long_raw_id_is_cut() -> None:
    [refusal] = parse_photo_list(encode([record("x" * 500)])).refusals
    assert refusal.photo_id == "x" * 100


def test_repeated_ids_count_once_and_the_first_wins() -> None:
    items = [record(ID1, title="first"), record(ID2), record(ID1.upper(), title="second")]
    photos = parse_photo_list(encode(items))
    assert [str(r.id) for r in photos.records] == [ID1, ID2]
    assert photos.records[0].title == "first"
    assert photos.refusals == []


@pytest.mark.parametrize("raw", [b"", b"<html>oops</html>", b"[{]", b"\xff\xfe[]"])
def test_not_json(raw: bytes) -> None:
    with pytest.raises(MalformedAnswer, match="not JSON"):
        parse_photo_list(raw)


@pytest.mark.parametrize(
    ("raw", "kind"),
    [(b"{}", "dict"), (b'{"photos": []}', "dict"), (b"null", "NoneType"), (b"3", "int")],
)
def test_not_a_list(raw: bytes, kind: str) -> None:
    with pytest.raises(MalformedAnswer, match=f"JSON {kind}, not a list"):
        parse_photo_list(raw)


@pytest.mark.parametrize(("mime_type", "extension"), [("image/jpeg", "jpg"), ("image/png", "png")])
def test_storage_key(mime_type: str, extension: str) -> None:
    [photo] = parse_photo_list(encode([record(mimeType=mime_type)])).records
    assert photo.storage_key("ABCD") == f"ABCD/{ID1}.{extension}"
