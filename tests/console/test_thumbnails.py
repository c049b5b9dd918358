"""Thumbnails: reduced decoding, orientation, the pixel limits, the disk cache, and the
processes that make them under limits (memory, time, one decode per photo)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.console.seed import image_bytes, png_bomb, truncated_jpeg
from tests.services import wait_until
from worker.console.gallery import thumbnail_size
from worker.console.thumbnails import MIB, NoThumbnail, Thumbnails, make_thumbnail


@asynccontextmanager
async def _thumbnails(directory: Path, **options: Any) -> AsyncIterator[Thumbnails]:
    thumbnails = Thumbnails(directory, **options)
    try:
        yield thumbnails
    finally:
        await thumbnails.close()


def _loader(data: bytes, loads: list[int]) -> Callable[[], Awaitable[bytes]]:
    async def load() -> bytes:
        loads.append(1)
        return data

    return load


def _open(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_jpeg_is_decoded_at_reduced_scale_and_fits_the_box() -> None:
    thumb = _open(make_thumbnail(image_bytes((4000, 3000)), box=320))
    assert thumb.format == "JPEG"
    assert thumb.size == (320, 240)


def test_draft_mode_decodes_a_smaller_image() -> None:
    # What make_thumbnail relies on: the JPEG decoder scales down by itself before thumbnail().
    with Image.open(io.BytesIO(image_bytes((4000, 3000)))) as image:
        image.draft("RGB", (320, 320))
        assert image.size == (500, 375)


def test_png_and_small_images() -> None:
    thumb = _open(make_thumbnail(image_bytes((200, 100), "PNG"), box=320))
    assert thumb.format == "JPEG"
    assert thumb.size == (200, 100), "never enlarged"


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (400, 200), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    assert _open(make_thumbnail(out.getvalue(), box=320)).size == (160, 320)


def test_pixel_limit_is_checked_before_decoding() -> None:
    # A PNG cannot be decoded at reduced scale: its pixels are what decoding costs.
    with pytest.raises(NoThumbnail, match="over 1,000,000 pixels"):
        make_thumbnail(image_bytes((1200, 900), "PNG"), max_pixels=1_000_000)
    # A JPEG is measured after its reduction (4000x3000 decodes as 500x375).
    assert make_thumbnail(image_bytes((4000, 3000)), max_pixels=1_000_000)
    # Pillow's own limit stays on.
    assert Image.MAX_IMAGE_PIXELS
    assert make_thumbnail(image_bytes((1200, 900)))


def test_a_png_bomb_is_refused_from_its_header() -> None:
    with pytest.raises(NoThumbnail, match="9400x9500 decoded is over 16,000,000 pixels"):
        make_thumbnail(png_bomb(), max_pixels=16_000_000)
    with pytest.raises(NoThumbnail, match="Pillow's pixel limit"):
        make_thumbnail(png_bomb(12000, 12000))


@pytest.mark.parametrize(
    "data", [b"not an image", b"\xff\xd8\xff" + b"\x00" * 100, b"", truncated_jpeg((800, 600))]
)
def test_what_cannot_be_decoded_has_no_thumbnail(data: bytes) -> None:
    with pytest.raises(NoThumbnail):
        make_thumbnail(data)


async def test_cache_is_written_once_by_sha256_and_read_back(tmp_path: Path) -> None:
    loads: list[int] = []
    load = _loader(image_bytes((800, 600)), loads)
    sha = "ab" * 32
    async with _thumbnails(tmp_path / "cache") as thumbnails:
        first = await thumbnails.get(sha, load)
        second = await thumbnails.get(sha, load)
    assert first == second
    assert len(loads) == 1
    assert (tmp_path / "cache" / "ab" / f"{sha}-320.jpg").read_bytes() == first
    assert not list((tmp_path / "cache").rglob("*.part"))
    assert thumbnails.etag(sha) == f'"t320-{sha}"'


async def test_an_unwritable_cache_costs_speed_not_the_thumbnail(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    async with _thumbnails(tmp_path / "file") as thumbnails:
        made = await thumbnails.get("cd" * 32, _loader(image_bytes((800, 600)), []))
    assert _open(made).size == (320, 240)


async def test_a_failure_is_kept_and_costs_one_decode(tmp_path: Path) -> None:
    loads: list[int] = []
    load = _loader(truncated_jpeg(), loads)
    sha = "ef" * 32
    async with _thumbnails(tmp_path / "cache") as thumbnails:
        for _ in range(3):
            with pytest.raises(NoThumbnail, match="truncated"):
                await thumbnails.get(sha, load)
    assert len(loads) == 1
    assert "truncated" in (tmp_path / "cache" / "ef" / f"{sha}-320.none").read_text()


async def test_one_decode_per_photo_however_many_ask_at_once(tmp_path: Path) -> None:
    loads: list[int] = []
    release = asyncio.Event()

    async def load() -> bytes:
        loads.append(1)
        await release.wait()  # every request below is waiting by then
        return image_bytes((1600, 1200))

    async with _thumbnails(tmp_path / "cache") as thumbnails:
        asked = [asyncio.create_task(thumbnails.get("12" * 32, load)) for _ in range(16)]

        async def all_waiting() -> bool:
            return thumbnails.waiting("12" * 32) == 16

        await wait_until(all_waiting, 10, "the 16 requests to wait for one decode")
        release.set()
        made = await asyncio.gather(*asked)
    assert len(loads) == 1
    assert len(set(made)) == 1


async def test_a_decode_over_the_memory_limit_fails_in_its_process(tmp_path: Path) -> None:
    # No pixel cap: the bomb (268 MB decoded) meets the process's address-space limit.
    async with _thumbnails(tmp_path / "cache", memory=200 * MIB) as thumbnails:
        with pytest.raises(NoThumbnail, match="memory limit"):
            await thumbnails.get("34" * 32, _loader(png_bomb(), []))
        # The pool goes on: the next photo gets its thumbnail.
        made = await thumbnails.get("56" * 32, _loader(image_bytes((800, 600)), []))
    assert _open(made).size == (320, 240)


async def test_a_decode_over_its_time_is_stopped(tmp_path: Path) -> None:
    async with _thumbnails(tmp_path / "cache", seconds=0.01) as thumbnails:
        with pytest.raises(NoThumbnail, match=r"not made in 0\.01 s"):
            await thumbnails.get("78" * 32, _loader(png_bomb(4000, 4000), []))


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        (4000, 3000, (320, 240)),
        (3000, 4000, (240, 320)),
        (100, 50, (100, 50)),
        (None, 5, (320, 240)),
    ],
)
def test_thumbnail_size_for_the_page_layout(
    width: int | None, height: int | None, expected: tuple[int, int]
) -> None:
    assert thumbnail_size(width, height) == expected
