"""The readers on generated photos: the PTO label (barcode, OCR, nothing) and the same spot."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from tests.findings.framing_images import decoded, outlet, same_spot_pair, two_places
from worker.findings.pto_label import LabelReader
from worker.findings.pto_reference import ReferencePattern, same_reference
from worker.findings.same_spot import compare_views, reduced_grey
from worker.findings.upright import PTO_SIDE, SPOT_SIDE, upright_grey
from worker.settings import Settings

SETTINGS = Settings(_env_file=None)  # type: ignore[call-arg]
PATTERN = ReferencePattern(SETTINGS.pto_reference_pattern)


@pytest.fixture(scope="module")
def reader() -> LabelReader:
    return LabelReader(SETTINGS.pto_reference_pattern, threads=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("AB-12CD-34EF", ["AB-12CD-34EF"]),
        ("PTO: AB-12CD-34EF", ["AB-12CD-34EF"]),
        ("AB - 12CD - 34EF", ["AB-12CD-34EF"]),
        ("A8-12CD-34EF", ["AB-12CD-34EF"]),  # an 8 where a letter must be is a B
        ("0S-1234-5678", ["OS-1234-5678"]),
        ("ab\u201412cd\u201334ef", ["AB-12CD-34EF"]),  # em and en dashes
        ("AB-12CD-34E", []),
        ("FIBRE OPTIQUE", []),
        ("88-8888-8888", ["BB-8888-8888"]),
    ],
)
def test_the_pattern_settles_what_ocr_confuses(text: str, expected: list[str]) -> None:
    assert [match.text for match in PATTERN.find(text)] == expected


def test_a_reading_needing_too_many_swaps_is_no_reference() -> None:
    letters = ReferencePattern("[A-Z]{6}")
    assert [m.text for m in letters.find("SOB8IX")] == ["SOBBIX"]
    assert letters.find("5088IX") == []  # four swaps: noise, not a reference


def test_twins_are_the_same_reference() -> None:
    assert same_reference("AB-1O2S-3I4B", "AB-1025-3148")
    assert not same_reference("AB-1O2S-3I4B", "AB-1025-3149")


def test_a_qr_code_is_read_first(reader: LabelReader) -> None:
    look, data = outlet(11, qr=True)
    reading = reader.read(decoded(data))
    assert reading is not None
    assert (reading.text, reading.method, reading.confidence) == (look.reference, "barcode", 1.0)


@pytest.mark.parametrize("seed", [12, 13])
def test_a_printed_label_is_read_by_ocr(reader: LabelReader, seed: int) -> None:
    look, data = outlet(seed, qr=False)
    image = decoded(data)
    reading = reader.read(image)
    assert reading is not None
    assert reading.method == "ocr"
    assert same_reference(reading.text, look.reference)
    assert reading.confidence >= SETTINGS.qa_pto_min_confidence
    x0, y0, x1, y1 = reading.box
    assert 0 <= x0 < x1 <= image.shape[1]
    assert 0 <= y0 < y1 <= image.shape[0]


def test_a_wall_without_a_label_reads_nothing(reader: LabelReader) -> None:
    rng = np.random.default_rng(14)
    wall = rng.integers(100, 140, (1200, 1600), dtype=np.uint8)
    assert reader.read(wall) is None


def test_one_spot_seen_twice_agrees_on_many_points() -> None:
    before, after = same_spot_pair(21)
    match = compare_views(reduced_grey(decoded(before)), reduced_grey(decoded(after)))
    assert match.same_spot(SETTINGS.qa_same_spot_min_inliers), match.describe()


@pytest.mark.parametrize("look_alike", [False, True])
def test_two_places_agree_on_few(look_alike: bool) -> None:
    before, after = two_places(22, look_alike=look_alike)
    match = compare_views(reduced_grey(decoded(before)), reduced_grey(decoded(after)))
    assert not match.same_spot(SETTINGS.qa_same_spot_min_inliers), match.describe()
    assert f"{match.inliers} matched points agree" in match.describe()


def test_the_ocr_models_ship_in_the_wheel() -> None:
    """With every socket refused, the engine loads and reads: nothing is downloaded."""
    script = textwrap.dedent(
        """
        import socket
        def refuse(*args, **kwargs):
            raise OSError("no network in this test")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        from tests.findings.framing_images import decoded, outlet
        from worker.findings.pto_label import LabelReader
        look, data = outlet(12, qr=False)
        reading = LabelReader("[A-Z]{2}-[0-9A-Z]{4}-[0-9A-Z]{4}").read(decoded(data))
        print(reading.method if reading else None)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ocr"


def test_the_engine_is_not_built_at_import() -> None:
    script = "import sys, worker.findings.pto_label; print('rapidocr' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip() == "False", done.stderr


def test_photos_are_decoded_upright_and_reduced() -> None:
    image = Image.new("RGB", (4000, 3000), "white")
    exif = image.getexif()
    exif[0x0112] = 6  # the phone was held upright: turn 90 degrees
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif.tobytes())
    grey, scale = upright_grey(buffer.getvalue(), PTO_SIDE)
    assert (grey.shape, scale) == ((2000, 1500), 2.0)
    grey, scale = upright_grey(buffer.getvalue(), SPOT_SIDE)
    assert (grey.shape, scale) == ((1000, 750), 4.0)


def test_a_stored_photo_is_read_with_its_box_in_its_own_pixels(reader: LabelReader) -> None:
    look, data = outlet(15, qr=True)
    big = Image.open(io.BytesIO(data)).resize((4800, 3600))
    buffer = io.BytesIO()
    big.save(buffer, "JPEG", quality=90)
    reading = reader.read_photo(buffer.getvalue())
    direct = reader.read(decoded(data))
    assert reading is not None
    assert direct is not None
    assert reading.text == look.reference
    # Read at 2400 px (a 1/2 decode), the box is given back in the 4800 px photo's pixels.
    assert all(abs(a - 3 * b) <= 12 for a, b in zip(reading.box, direct.box, strict=True))
