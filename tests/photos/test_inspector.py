"""PhotoInspector: sha256, size, magic bytes, size cap and dimensions, learned while streaming."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from collections.abc import AsyncIterator, Iterable

import pytest
from PIL import Image

from worker.photos.inspector import (
    PhotoFacts,
    PhotoInspector,
    PhotoRefused,
    describe_anomalies,
    inspected,
    read_dimensions,
)

MiB = 1024 * 1024


def picture(fmt: str, width: int = 40, height: int = 30) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 20)).save(buffer, fmt)
    return buffer.getvalue()


JPEG = picture("JPEG", 40, 30)
PNG = picture("PNG", 24, 18)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data)
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def declared_png(width: int, height: int) -> bytes:
    """A PNG whose header declares this size; its (empty) pixel data is never decoded."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b""))
        + png_chunk(b"IEND", b"")
    )


def declared_jpeg(width: int, height: int) -> bytes:
    """A real baseline JPEG with its SOF0 frame header rewritten to declare this size."""
    sof = JPEG.index(b"\xff\xc0")
    # FF C0, length (2), precision (1), height (2), width (2)
    return JPEG[: sof + 5] + struct.pack(">HH", height, width) + JPEG[sof + 9 :]


def with_app_segment(jpeg: bytes, size: int) -> bytes:
    """Insert an APP1 segment (where EXIF lives) of this size between SOI and the frame."""
    payload = b"\x00" * size
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", size + 2) + payload + jpeg[2:]


def inspect(mime_type: str, chunks: Iterable[bytes], max_bytes: int = 50 * MiB) -> PhotoFacts:
    inspector = PhotoInspector(mime_type, max_bytes)
    for chunk in chunks:
        inspector.feed(chunk)
    facts = inspector.finish()
    assert inspector.facts == facts
    return facts


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize(
    ("mime_type", "data", "dimensions"),
    [("image/jpeg", JPEG, (40, 30)), ("image/png", PNG, (24, 18))],
)
@pytest.mark.parametrize("chunk_size", [1, 7, 4096, 1_000_000])
def test_facts(mime_type: str, data: bytes, dimensions: tuple[int, int], chunk_size: int) -> None:
    facts = inspect(mime_type, split(data, chunk_size))
    assert facts.sha256 == hashlib.sha256(data).hexdigest()
    assert facts.size == len(data)
    assert (facts.width, facts.height) == dimensions


@pytest.mark.parametrize(
    ("mime_type", "data"),
    [
        ("image/jpeg", PNG),
        ("image/png", JPEG),
        ("image/jpeg", b"GIF89a" + b"\x00" * 100),
        ("image/png", b"<html>error</html>"),
    ],
)
def test_bad_magic_is_refused_on_the_first_chunk(mime_type: str, data: bytes) -> None:
    inspector = PhotoInspector(mime_type, 50 * MiB)
    with pytest.raises(PhotoRefused) as info:
        inspector.feed(data[:16])
    assert info.value.reason == "bad_magic"
    assert mime_type in info.value.detail


def feed_all(inspector: PhotoInspector, chunks: Iterable[bytes]) -> int:
    """Feed every chunk; the number of chunks fed, counting the one that raised."""
    fed = 0
    for chunk in chunks:
        fed += 1
        inspector.feed(chunk)
    return fed


def test_bad_magic_in_one_byte_chunks() -> None:
    inspector = PhotoInspector("image/png", 50 * MiB)
    chunks = iter(split(JPEG, 1))
    with pytest.raises(PhotoRefused, match="bad_magic"):
        feed_all(inspector, chunks)
    # Refused as soon as the 8 bytes of the PNG signature are in, not at the end.
    assert len(list(chunks)) == len(JPEG) - 8


@pytest.mark.parametrize(
    ("mime_type", "data"), [("image/jpeg", b""), ("image/png", b""), ("image/jpeg", b"\xff\xd8")]
)
def test_empty_or_too_short_body_is_bad_magic_at_finish(mime_type: str, data: bytes) -> None:
    inspector = PhotoInspector(mime_type, 50 * MiB)
    inspector.feed(data)
    with pytest.raises(PhotoRefused) as info:
        inspector.finish()
    assert info.value.reason == "bad_magic"
    assert inspector.facts is None


def test_empty_body_is_described() -> None:
    with pytest.raises(PhotoRefused, match="an empty body"):
        PhotoInspector("image/jpeg", 10).finish()


def test_size_cap() -> None:
    assert inspect("image/jpeg", [JPEG], max_bytes=len(JPEG)).size == len(JPEG)
    inspector = PhotoInspector("image/jpeg", len(JPEG) - 1)
    with pytest.raises(PhotoRefused) as info:
        feed_all(inspector, split(JPEG, 100))
    assert info.value.reason == "too_large"


def test_big_app_segment_before_the_frame_still_gives_dimensions() -> None:
    data = with_app_segment(JPEG, 60_000)
    facts = inspect("image/jpeg", split(data, 8192))
    assert (facts.width, facts.height) == (40, 30)
    assert facts.size == len(data)


def test_corrupt_body_after_good_magic_has_no_dimensions() -> None:
    facts = inspect("image/png", [PNG[:8] + b"\x00" * 64])
    assert (facts.width, facts.height) == (None, None)


@pytest.mark.parametrize(
    ("mime_type", "data"),
    [("image/png", declared_png(10_000, 10_000)), ("image/jpeg", declared_jpeg(10_000, 10_000))],
    ids=["png", "jpeg"],
)
def test_large_declared_image_is_read_without_a_warning(mime_type: str, data: bytes) -> None:
    # 10^8 pixels: above Pillow's DecompressionBombWarning threshold (filterwarnings = error).
    facts = inspect(mime_type, [data])
    assert (facts.width, facts.height) == (10_000, 10_000)


@pytest.mark.parametrize(
    ("mime_type", "data", "size"),
    [
        ("image/png", declared_png(100_000, 100_000), (100_000, 100_000)),
        ("image/jpeg", declared_jpeg(65_000, 65_000), (65_000, 65_000)),
    ],
    ids=["png", "jpeg"],
)
def test_huge_declared_image_dimensions_are_read(
    mime_type: str, data: bytes, size: tuple[int, int]
) -> None:
    assert read_dimensions(data, mime_type) == size


def test_huge_declared_image_does_not_raise_or_warn() -> None:
    facts = inspect("image/png", [declared_png(100_000, 100_000)])
    assert facts.sha256 == hashlib.sha256(declared_png(100_000, 100_000)).hexdigest()


async def source(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def test_inspected_yields_the_chunks_and_finishes() -> None:
    chunks = split(JPEG, 100)
    inspector = PhotoInspector("image/jpeg", 50 * MiB)
    assert [c async for c in inspected(source(chunks), inspector)] == chunks
    assert inspector.facts == PhotoFacts(hashlib.sha256(JPEG).hexdigest(), len(JPEG), 40, 30)


async def collect(chunks: AsyncIterator[bytes], passed: list[bytes]) -> None:
    async for chunk in chunks:
        passed.append(chunk)


async def test_inspected_refuses_before_yielding_anything() -> None:
    passed: list[bytes] = []
    inspector = PhotoInspector("image/jpeg", 50 * MiB)
    with pytest.raises(PhotoRefused, match="bad_magic"):
        await collect(inspected(source(split(PNG, 64)), inspector), passed)
    assert passed == []


async def test_inspected_empty_body_fails_before_the_end() -> None:
    passed: list[bytes] = []
    inspector = PhotoInspector("image/png", 50 * MiB)
    with pytest.raises(PhotoRefused, match="bad_magic"):
        await collect(inspected(source([]), inspector), passed)
    assert inspector.facts is None


FACTS = PhotoFacts("0" * 64, 1000, 40, 30)


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ((40, 30, 1000), []),
        ((None, None, None), []),
        ((40, 30, 999), ["size: declared 999, actual 1000"]),
        (
            (41, 31, 1000),
            ["width: declared 41, actual 40", "height: declared 31, actual 30"],
        ),
    ],
)
def test_describe_anomalies(
    declared: tuple[int | None, int | None, int | None], expected: list[str]
) -> None:
    assert describe_anomalies(FACTS, *declared) == expected


def test_describe_anomalies_unreadable_dimensions() -> None:
    facts = PhotoFacts("0" * 64, 1000, None, None)
    assert describe_anomalies(facts, 40, 30, 1000) == [
        "dimensions: not readable from the image header"
    ]
