"""Decoding and measuring one photo, on real images made here (pure, no services)."""

from __future__ import annotations

import struct
import zlib
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from PIL import Image, ImageFilter

from tests.findings.images import LIMITS, analysed, encode, oriented, scene, with_camera
from worker.findings.imaging import Limits, analyse

TAKEN = datetime(2026, 7, 14, 9, 30, tzinfo=UTC)
PLACE = (48.8566, 2.3522)


_analyse = analysed


def test_a_sharp_well_lit_photo() -> None:
    traits = _analyse(encode(scene(1, (4000, 3000)), quality=90))
    assert traits.error is None
    assert traits.sharpness is not None
    assert traits.sharpness > 200
    assert traits.brightness is not None
    assert 60 < traits.brightness < 200
    assert traits.phash is not None


def test_blur_darkness_and_burn_are_measured() -> None:
    image = scene(2)
    sharp = _analyse(encode(image)).sharpness
    blurred = _analyse(encode(image.filter(ImageFilter.GaussianBlur(4)))).sharpness
    assert sharp is not None
    assert blurred is not None
    assert blurred < 20 < sharp
    dark = _analyse(encode(Image.eval(image, lambda v: v // 7))).brightness
    burnt = _analyse(encode(Image.eval(image, lambda v: 235 + v // 14))).brightness
    assert dark is not None
    assert dark < 40
    assert burnt is not None
    assert burnt > 220


def test_the_same_scene_hashes_alike_at_any_size() -> None:
    image = scene(4, (3200, 2400))
    large = _analyse(encode(image, quality=92)).phash
    small = _analyse(encode(image.resize((800, 600)), quality=60)).phash
    assert large is not None
    assert small is not None
    assert (large ^ small).bit_count() <= 4


def test_exif_time_with_its_offset_and_gps() -> None:
    traits = _analyse(with_camera(scene(5), TAKEN, PLACE, offset=True))
    assert traits.exif_taken_at == TAKEN
    assert traits.exif_taken_at is not None
    assert traits.exif_taken_at.utcoffset() == timedelta(hours=2)  # Paris in summer
    assert traits.exif_latitude == pytest.approx(PLACE[0], abs=1e-5)
    assert traits.exif_longitude == pytest.approx(PLACE[1], abs=1e-5)


def test_exif_time_without_offset_is_read_in_the_configured_zone() -> None:
    data = with_camera(scene(5), TAKEN, (-21.1, 55.5), offset=False)  # written as Paris time
    assert _analyse(data).exif_taken_at == TAKEN
    reunion = Limits(16_000_000, ZoneInfo("Indian/Reunion"))  # UTC+4 all year
    assert _analyse(data, limits=reunion).exif_taken_at == TAKEN - timedelta(hours=2)
    traits = _analyse(data)
    assert (traits.exif_latitude, traits.exif_longitude) == pytest.approx((-21.1, 55.5))


def test_a_photo_without_exif_has_no_camera_facts() -> None:
    traits = _analyse(encode(scene(6)))
    assert (traits.exif_taken_at, traits.exif_latitude, traits.error) == (None, None, None)


def test_png_photos_are_measured_too() -> None:
    traits = _analyse(encode(scene(7), "PNG"), "image/png")
    assert traits.error is None
    assert traits.phash is not None


def _png_declaring(width: int, height: int) -> bytes:
    """A valid little PNG whose header claims another size (a decompression bomb's header)."""
    data = bytearray(encode(scene(8, (64, 48)), "PNG"))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def test_a_png_declaring_100000_by_100000_is_never_decoded() -> None:
    data = _png_declaring(100_000, 100_000)
    traits = analyse(data, "image/png", (100_000, 100_000), LIMITS)
    assert traits.error is not None
    assert "10000000000 pixels" in traits.error
    assert "not decoded" in traits.error
    assert traits.phash is None
    # Even when the header could not be read beforehand, Pillow's own limit refuses it.
    traits = analyse(data, "image/png", (None, None), LIMITS)
    assert traits.error is not None
    assert "decompression bomb" in traits.error


def test_the_decode_limit_is_a_setting() -> None:
    data = encode(scene(9), "PNG")
    traits = analyse(data, "image/png", (640, 480), Limits(100_000, LIMITS.local_zone))
    assert traits.error is not None
    assert "WORKER_QA_MAX_DECODE_PIXELS" in traits.error


def test_a_large_jpeg_is_decoded_reduced() -> None:
    # 6000 x 4000 = 24 M pixels is over the decode limit, but a JPEG is decoded at 1/8.
    data = encode(scene(10, (6000, 4000)), quality=80)
    traits = analyse(data, "image/jpeg", (6000, 4000), Limits(1_000_000, LIMITS.local_zone))
    assert traits.error is None


@pytest.mark.parametrize("mime_type", ["image/jpeg", "image/png"])
def test_bytes_that_are_not_an_image_say_why(mime_type: str) -> None:
    traits = analyse(b"\xff\xd8\xff" + bytes(100), mime_type, (None, None), LIMITS)
    assert traits.error is not None
    assert traits.error.startswith("the image cannot be decoded")


def test_a_truncated_jpeg_is_a_qa_error() -> None:
    data = encode(scene(11))
    traits = _analyse(data[: len(data) // 2])
    assert traits.error is not None


def test_exif_zone_of_a_broken_offset_falls_back_to_the_local_zone() -> None:
    from worker.findings.exif import _offset

    assert _offset("+05:30") == timezone(timedelta(hours=5, minutes=30))
    assert _offset("5h") is None


@pytest.mark.parametrize("orientation", range(2, 9))
def test_a_photo_turned_by_its_exif_orientation_is_measured_upright(orientation: int) -> None:
    upright = scene(5)
    png = _analyse(oriented(upright, orientation, "PNG"), "image/png")
    assert png == _analyse(encode(upright, "PNG"), "image/png")  # lossless: the same traits
    large = scene(6, (2400, 1800))  # a JPEG decoded reduced (1/4), then turned
    for image in (upright, large):
        jpeg = _analyse(oriented(image, orientation))
        original = _analyse(oriented(image, 1))
        assert jpeg.error is None
        assert jpeg.phash == original.phash
        assert jpeg.sharpness == pytest.approx(original.sharpness, rel=0.01)
        assert jpeg.brightness == pytest.approx(original.brightness, abs=0.5)


def test_an_orientation_out_of_range_leaves_the_photo_as_it_is() -> None:
    exif = Image.Exif()
    exif[0x0112] = 9  # no such orientation
    traits = _analyse(encode(scene(5), quality=90, exif=exif.tobytes()))
    assert traits.error is None
    assert traits.phash == _analyse(encode(scene(5), quality=90)).phash
