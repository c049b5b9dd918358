"""Thumbnails: reduced decoding, orientation, the pixel limit, the disk cache."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from tests.console.seed import image_bytes
from worker.console.gallery import thumbnail_size
from worker.console.thumbnails import NoThumbnail, Thumbnails, make_thumbnail


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
    with pytest.raises(NoThumbnail, match="over 1000000 pixels"):
        make_thumbnail(image_bytes((1200, 900)), max_pixels=1_000_000)
    # Pillow's own limit stays on.
    assert Image.MAX_IMAGE_PIXELS
    assert make_thumbnail(image_bytes((1200, 900)))


@pytest.mark.parametrize("data", [b"not an image", b"\xff\xd8\xff" + b"\x00" * 100, b""])
def test_what_cannot_be_decoded_has_no_thumbnail(data: bytes) -> None:
    with pytest.raises(NoThumbnail):
        make_thumbnail(data)


async def test_cache_is_written_once_by_sha256_and_read_back(tmp_path: Path) -> None:
    thumbnails = Thumbnails(tmp_path / "cache")
    loads = []

    async def load() -> bytes:
        loads.append(1)
        return image_bytes((800, 600))

    sha = "ab" * 32
    first = await thumbnails.get(sha, load)
    second = await thumbnails.get(sha, load)
    assert first == second
    assert len(loads) == 1
    assert (tmp_path / "cache" / "ab" / f"{sha}-320.jpg").read_bytes() == first
    assert not list((tmp_path / "cache").rglob("*.part"))
    assert thumbnails.etag(sha) == f'"t320-{sha}"'


async def test_an_unwritable_cache_costs_speed_not_the_thumbnail(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    thumbnails = Thumbnails(tmp_path / "file")

    async def load() -> bytes:
        return image_bytes((800, 600))

    assert _open(await thumbnails.get("cd" * 32, load)).size == (320, 240)


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
