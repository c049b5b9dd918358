"""Real images for the checks' tests, made with Pillow (scenes from the simulator's drawing)."""

from __future__ import annotations

import io
from datetime import datetime
from zoneinfo import ZoneInfo

from PIL import ExifTags, Image

from worker.findings.imaging import Limits, analyse
from worker.findings.model import PhotoTraits
from worker.simulator.scenes import camera_exif, render_scene

LIMITS = Limits(max_decode_pixels=16_000_000, local_zone=ZoneInfo("Europe/Paris"))


def scene(seed: int = 1, size: tuple[int, int] = (640, 480)) -> Image.Image:
    return render_scene(seed, f"test {seed}", size)


def encode(
    image: Image.Image,
    image_format: str = "JPEG",
    *,
    quality: int = 85,
    exif: bytes | None = None,
) -> bytes:
    buffer = io.BytesIO()
    extra = {"exif": exif} if exif else {}
    if image_format == "JPEG":
        image.save(buffer, "JPEG", quality=quality, **extra)
    else:
        image.save(buffer, image_format, **extra)
    return buffer.getvalue()


def with_camera(
    image: Image.Image, taken_at: datetime, place: tuple[float, float], *, offset: bool = True
) -> bytes:
    return encode(image, exif=camera_exif(taken_at, place, offset=offset))


# What a viewer does to the stored pixels for each EXIF Orientation (as ImageOps.exif_transpose),
# and so what a camera did to the upright scene before storing it: the inverse turn.
_VIEWER = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_INVERSE = {Image.Transpose.ROTATE_90: Image.Transpose.ROTATE_270}
_INVERSE |= {turn: back for back, turn in _INVERSE.items()}


def oriented(upright: Image.Image, orientation: int, image_format: str = "JPEG") -> bytes:
    """The file a camera would write: pixels stored turned, with the EXIF Orientation tag that
    makes a viewer show `upright` again."""
    turn = _VIEWER[orientation]
    stored = upright if turn is None else upright.transpose(_INVERSE.get(turn, turn))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    return encode(stored, image_format, quality=90, exif=exif.tobytes())


def analysed(data: bytes, mime_type: str = "image/jpeg", limits: Limits = LIMITS) -> PhotoTraits:
    """The traits the worker measures, given the size the header declares."""
    with Image.open(io.BytesIO(data)) as image:
        size = image.size
    return analyse(data, mime_type, size, limits)
