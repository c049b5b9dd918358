"""The reuse lookup against the real PostgreSQL: exact and near copies, and what is not reuse."""

from __future__ import annotations

import uuid
from dataclasses import replace

import asyncpg
import pytest
from PIL import Image

from tests.findings.images import analysed, encode, oriented, scene
from worker.findings.hashing import band_probes, distance
from worker.findings.model import PhotoTraits, PhotoView, RequestView
from worker.findings.reuse import _PROBES, _arguments, reused_photos

pytestmark = pytest.mark.services

HASH = 0x1234_5678_9ABC_DEF0


async def stored(
    db: asyncpg.Pool,
    *,
    oc: str = "ABCD",
    intervention: str | None = "OLD-1",
    order: str | None = None,
    sha256: str = "a" * 64,
    phash: int | None = HASH,
) -> uuid.UUID:
    """A request with one stored photo; returns the request's messageId."""
    message_id, photo_id = uuid.uuid4(), uuid.uuid4()
    await db.execute(
        "INSERT INTO photo_requests (message_id, code_oc, reference_commande_sous_traitant_oi,"
        " reference_commande_prise_interne_oc, status) VALUES ($1, $2, $3, $4, 'completed')",
        message_id,
        oc,
        intervention,
        order,
    )
    await db.execute(
        "INSERT INTO photos (code_oc, photo_id, type, mime_type, size_bytes, sha256,"
        " storage_key, phash) VALUES ($1, $2, 'PTO', 'image/jpeg', 1, $3, 'k', $4)",
        oc,
        photo_id,
        sha256,
        phash,
    )
    await db.execute(
        "INSERT INTO photo_request_photos VALUES ($1, $2, $3)", message_id, oc, photo_id
    )
    return message_id


def new_request(intervention: str = "NEW-1", order: str | None = None) -> RequestView:
    return RequestView(
        message_id=uuid.uuid4(),
        code_oc="ABCD",
        references={"intervention": intervention, "order": order, "access": None},
        actions=(),
        date_intervention=None,
        listed_types=frozenset({"PTO"}),
    )


def new_photo(sha256: str = "b" * 64, phash: int | None = HASH) -> PhotoView:
    return PhotoView(
        photo_id=uuid.uuid4(),
        type="PTO",
        sha256=sha256,
        width=640,
        height=480,
        taken_at=None,
        latitude=None,
        longitude=None,
        traits=PhotoTraits(phash=phash),
    )


async def test_the_same_bytes_in_another_intervention(db: asyncpg.Pool) -> None:
    first = await stored(db, sha256="c" * 64, phash=None)
    [finding] = await reused_photos(db, new_request(), [new_photo("c" * 64, None)], 4)
    assert (finding.kind, finding.severity) == ("reused_photo", "suspect")
    assert finding.related_message_id == first
    assert "very same file" in finding.detail
    assert "OLD-1" in finding.detail


@pytest.mark.parametrize(("flipped", "found"), [(0, True), (3, True), (4, True), (5, False)])
async def test_a_near_image_within_the_distance(
    db: asyncpg.Pool, flipped: int, found: bool
) -> None:
    first = await stored(db)
    # Bits spread over the four bands, so that no band matches exactly once 4 are flipped.
    near = HASH ^ sum(1 << (16 * (bit % 4) + bit) for bit in range(flipped))
    findings = await reused_photos(db, new_request(), [new_photo(phash=near)], 4)
    assert [f.related_message_id for f in findings] == ([first] if found else [])
    if found:
        assert findings[0].severity == "warning"
        assert f"{flipped} bits apart" in findings[0].detail


async def test_another_oc_counts_the_same_reference_of_this_oc_does_not(
    db: asyncpg.Pool,
) -> None:
    await stored(db, intervention="NEW-1")  # this intervention, sent again
    await stored(db, intervention="OTHER", order="ORD-9")  # same order: an earlier visit
    assert await reused_photos(db, new_request(order="ORD-9"), [new_photo()], 4) == []
    elsewhere = await stored(db, oc="WXYZ", intervention="NEW-1")
    [finding] = await reused_photos(db, new_request(order="ORD-9"), [new_photo()], 4)
    assert finding.related_message_id == elsewhere
    assert "WXYZ" in finding.detail


async def test_the_earliest_other_request_is_named(db: asyncpg.Pool) -> None:
    first = await stored(db, intervention="A")
    await stored(db, intervention="B")
    [finding] = await reused_photos(db, new_request(), [new_photo()], 4)
    assert finding.related_message_id == first


async def test_photos_without_hash_are_only_compared_by_bytes(db: asyncpg.Pool) -> None:
    await stored(db)
    photo = replace(new_photo(), traits=PhotoTraits())
    assert await reused_photos(db, new_request(), [photo], 4) == []


async def test_turned_copies_are_found_and_another_photo_is_not(db: asyncpg.Pool) -> None:
    upright = scene(7)
    original = analysed(encode(upright, quality=90))
    first = await stored(db, phash=original.phash)
    copies = {f"EXIF orientation {o}": oriented(upright, o) for o in range(1, 9)}
    turns = {
        "rotated by 90 degrees counter-clockwise": Image.Transpose.ROTATE_90,
        "rotated by 180 degrees": Image.Transpose.ROTATE_180,
        "rotated by 90 degrees clockwise": Image.Transpose.ROTATE_270,
        "mirrored left to right": Image.Transpose.FLIP_LEFT_RIGHT,
    }
    # Pixels turned, no EXIF: the upright hash alone is far from the original's.
    copies |= {name: encode(upright.transpose(turn), quality=90) for name, turn in turns.items()}
    photos = {
        name: replace(new_photo(f"{n:064x}"), traits=analysed(data))
        for n, (name, data) in enumerate(copies.items())
    }
    for name in turns:
        assert distance(_hash(photos[name]), _hash(original)) > 4
    findings = await reused_photos(db, new_request(), list(photos.values()), 4)
    found = {finding.photo_ids[0]: finding for finding in findings}
    assert {found[photo.photo_id].related_message_id for photo in photos.values()} == {first}
    for name, photo in photos.items():
        detail = found[photo.photo_id].detail
        if name in turns:
            assert f", {name}: perceptual hashes" in detail
        else:  # measured upright: the same hash as the original
            assert ": perceptual hashes 0 bits apart" in detail, detail
    unrelated = analysed(encode(scene(8), quality=90))
    others = [replace(new_photo(), traits=unrelated)]
    others += [replace(new_photo(), traits=analysed(oriented(scene(8), o))) for o in (3, 6)]
    assert await reused_photos(db, new_request(), others, 4) == []


def _hash(photo: PhotoView | PhotoTraits) -> int:
    traits = photo.traits if isinstance(photo, PhotoView) else photo
    assert traits.phash is not None
    return traits.phash


def test_a_symmetric_photo_is_looked_up_once_per_distinct_hash() -> None:
    traits = PhotoTraits(phash=HASH, phash_turns=(HASH,) * 3 + (HASH ^ 1,) * 4)
    arguments = _arguments(new_request(), [replace(new_photo(), traits=traits)], 4)
    turns, hashes, flipped = arguments[3], arguments[4], arguments[5]
    # upright: every probe of 4 bits (band 0 one bit away too); a turn: the exact bands
    assert list(zip(turns, hashes, flipped, strict=True)) == [(0, HASH, 1), (4, HASH ^ 1, 0)]


@pytest.mark.parametrize("max_distance", range(8))
async def test_the_probes_made_in_sql_are_the_band_probes(
    db: asyncpg.Pool, max_distance: int
) -> None:
    """`_PROBES` makes in PostgreSQL what `hashing.band_probes` says, for the upright hash and
    for the turned ones (looked up by their exact bands from 4 bits on)."""
    hashes = (HASH, -HASH, 0, -1, 0x0001_8000_FFFF_7FFF)
    traits = PhotoTraits(phash=hashes[0], phash_turns=hashes[1:])
    photo = replace(new_photo(), traits=traits)
    arguments = _arguments(new_request(), [photo], max_distance)
    used = "$1::uuid[] = $1 AND $2::text[] = $2"  # the probes do not read them
    query = f"SELECT turn, hash, band, value FROM ({_PROBES}) p WHERE {used}"
    rows = await db.fetch(query, *arguments[:6])
    made = {(row["turn"], row["hash"], row["band"], row["value"]) for row in rows}
    assert len(made) == len(rows)
    expected = set()
    for turn, value in enumerate(hashes):
        reach = max_distance if turn == 0 else min(max_distance, 3)
        expected |= {(turn, value, band, probe) for band, probe in band_probes(value, reach)}
    assert made == expected


@pytest.mark.parametrize(
    ("max_distance", "split"),
    [
        (4, (1, 1, 1, 1)),
        (5, (1, 1, 1, 2)),
        (5, (2, 1, 1, 1)),
        (6, (2, 1, 2, 1)),
        (6, (1, 2, 2, 1)),
        (7, (2, 2, 1, 2)),
    ],
)
async def test_the_worst_spread_of_bits_is_found_at_each_distance(
    db: asyncpg.Pool, max_distance: int, split: tuple[int, int, int, int]
) -> None:
    """No band equal: only the probes one bit away find it (`hashing.band_probes`)."""
    first = await stored(db)
    flipped = [16 * band + 3 * bit for band, count in enumerate(split) for bit in range(count)]
    near = HASH ^ sum(1 << bit for bit in flipped)
    findings = await reused_photos(db, new_request(), [new_photo(phash=near)], max_distance)
    assert [f.related_message_id for f in findings] == [first]
    assert f"{sum(split)} bits apart" in findings[0].detail
    assert await reused_photos(db, new_request(), [new_photo(phash=near)], sum(split) - 1) == []


async def test_a_turned_hash_is_looked_up_by_its_exact_bands(db: asyncpg.Pool) -> None:
    """The limit that keeps the lookup fast: a turned copy 4 bits away, one in each band, is
    not found; 4 bits in two bands, or 3 anywhere, are."""
    first = await stored(db)
    spread = HASH ^ sum(1 << (16 * band + 5) for band in range(4))
    grouped = HASH ^ 0b11 ^ (0b11 << 16)
    three = HASH ^ sum(1 << (16 * band + 7) for band in range(3))
    for near, found in ((spread, []), (grouped, [first]), (three, [first])):
        turned = PhotoTraits(phash=HASH ^ -1, phash_turns=(HASH ^ -1, near))
        photo = replace(new_photo(), traits=turned)
        findings = await reused_photos(db, new_request(), [photo], 4)
        assert [f.related_message_id for f in findings] == found
