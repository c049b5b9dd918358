"""Real images for the checks' tests, made with Pillow (scenes from the simulator's drawing)."""

from __future__ import annotations

import io
from datetime import datetime

from PIL import Image

from worker.simulator.scenes import camera_exif, render_scene


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
