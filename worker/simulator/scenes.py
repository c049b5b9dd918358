"""What the simulated photos show: a scene of shapes drawn from a seed, and its spoiled versions.

The scenes are made for the worker's photo checks: sharp, evenly lit, at least 640x480, and each
seed a different image to a perceptual hash. Spoiled ones (blurred, darkened, shrunk) and the
camera's EXIF (capture time, GPS) let scenarios trigger each finding on purpose.
"""

import random
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from PIL.ExifTags import GPS, IFD, Base

Effect = Literal["blur", "dark", "tiny"]
SIZE = (640, 480)
_PARIS = ZoneInfo("Europe/Paris")


def render_scene(seed: int, caption: str, size: tuple[int, int] = SIZE) -> Image.Image:
    """A gradient under random rectangles, ellipses and lines, with a caption."""
    rnd = random.Random(seed)  # noqa: S311 - test pictures
    width, height = size
    colours = [tuple(rnd.randrange(60, 200) for _ in range(3)) for _ in range(2)]
    ramp = Image.linear_gradient("L").rotate(rnd.randrange(360)).resize(size)
    image = Image.composite(
        Image.new("RGB", size, colours[0]), Image.new("RGB", size, colours[1]), ramp
    )
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rnd.randrange(width), rnd.randrange(height)
        box = (x, y, x + rnd.randrange(2, 2 + width // 2), y + rnd.randrange(2, 2 + height // 2))
        shape = draw.rectangle if rnd.random() < 0.5 else draw.ellipse
        shape(box, fill=_colour(rnd), outline=(0, 0, 0), width=2)
    for _ in range(30):
        ends = (
            rnd.randrange(width),
            rnd.randrange(height),
            rnd.randrange(width),
            rnd.randrange(height),
        )
        draw.line(ends, fill=_colour(rnd), width=rnd.randrange(1, 4))
    draw.text((10, 10), caption, fill=(255, 255, 255))
    return image


def _colour(rnd: random.Random) -> tuple[int, int, int]:
    return rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)


def spoil(image: Image.Image, effect: Effect) -> Image.Image:
    """What a careless shot looks like: out of focus, in the dark, or a thumbnail."""
    if effect == "blur":
        return image.filter(ImageFilter.GaussianBlur(4))
    if effect == "dark":
        return Image.eval(image, lambda value: value // 7)
    return image.resize((image.width // 4, image.height // 4))


def add_noise(image: Image.Image, seed: int, amplitude: int) -> Image.Image:
    """Sensor-like noise: it gives a JPEG the size a real photo of these dimensions has."""
    rng = np.random.default_rng(seed)
    pixels = np.asarray(image, dtype=np.int16)
    pixels = pixels + rng.integers(-amplitude, amplitude + 1, pixels.shape, dtype=np.int16)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def camera_exif(taken_at: datetime, place: tuple[float, float], *, offset: bool) -> bytes:
    """EXIF as a phone writes it: local time (with its UTC offset or not) and GPS position."""
    exif = Image.Exif()
    local = taken_at.astimezone(_PARIS)
    tags = exif.get_ifd(IFD.Exif)
    tags[Base.DateTimeOriginal] = local.strftime("%Y:%m:%d %H:%M:%S")
    if offset:
        tags[Base.OffsetTimeOriginal] = local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:]
    gps = exif.get_ifd(IFD.GPSInfo)
    latitude, longitude = place
    gps[GPS.GPSLatitudeRef], gps[GPS.GPSLatitude] = ("N" if latitude >= 0 else "S"), _dms(latitude)
    gps[GPS.GPSLongitudeRef] = "E" if longitude >= 0 else "W"
    gps[GPS.GPSLongitude] = _dms(longitude)
    return exif.tobytes()


def _dms(degrees: float) -> tuple[float, float, float]:
    value = abs(degrees)
    whole = int(value)
    minutes = int((value - whole) * 60)
    return float(whole), float(minutes), round((value - whole - minutes / 60) * 3600, 4)
