"""PTO photos: an optical outlet on a wall, its label printed with the PTO reference, seen by a
phone at an angle, in some light and some focus.

`OutletLook` holds every choice; `draw_look` makes them from a seed within `LookRanges`, so
that the simulator, the tests and the evaluation set (tests/evaluation) draw from separate
seeds and ranges. `legible` is the generator's own verdict, decided from the label's size in
the photo, the blur and the light, before anything reads it.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import cv2
import numpy as np
import zxingcpp
from PIL import Image, ImageDraw

from worker.simulator.camera import Exposure, expose, font, homography, jpeg, texture, warp

PHOTO = (1600, 1200)
_FLAT = (600, 720)  # the outlet drawn frontal, in its own pixels
_ALNUM = string.ascii_uppercase + string.digits


@dataclass(frozen=True)
class LookRanges:
    """The spread of the looks drawn: the evaluation set draws from wider ones."""

    shown: tuple[float, float] = (0.22, 0.5)  # the outlet's width, share of the photo's
    tilt: float = 0.25  # perspective, share of the outlet's width
    turn: float = 0.2  # radians
    blur: tuple[float, float] = (0.0, 1.5)
    gain: tuple[float, float] = (0.6, 1.15)
    quality: tuple[int, int] = (70, 92)
    qr_share: float = 0.4


@dataclass(frozen=True)
class OutletLook:
    reference: str
    qr: bool
    face: int  # font face
    text_size: int  # font size on the flat drawing
    label_colour: tuple[int, int, int]
    shown: float
    tilt: float
    turn: float
    exposure: Exposure


@dataclass(frozen=True)
class OutletPhoto:
    data: bytes  # JPEG
    look: OutletLook
    text_height: float  # of the reference's capitals, in photo pixels
    legible: bool


def random_reference(rng: np.random.Generator) -> str:
    """A reference of the default pattern `[A-Z]{2}-[0-9A-Z]{4}-[0-9A-Z]{4}`."""
    letters = "".join(rng.choice(list(string.ascii_uppercase), 2))
    groups = ["".join(rng.choice(list(_ALNUM if rng.random() < 0.5 else string.digits), 4))]
    groups.append("".join(rng.choice(list(_ALNUM if rng.random() < 0.5 else string.digits), 4)))
    return f"{letters}-{groups[0]}-{groups[1]}"


def draw_look(seed: int, ranges: LookRanges, reference: str | None = None) -> OutletLook:
    rng = np.random.default_rng(seed)
    label = (255, 255, 255) if rng.random() < 0.7 else (250, 225, 90)
    exposure = Exposure(
        gain=float(rng.uniform(*ranges.gain)),
        gradient=float(rng.uniform(0, 0.5)),
        gradient_angle=float(rng.uniform(0, 2 * np.pi)),
        warmth=float(rng.uniform(-1, 1)),
        blur=float(rng.uniform(*ranges.blur)),
        noise=float(rng.uniform(1.5, 6)),
        quality=int(rng.integers(*ranges.quality, endpoint=True)),
    )
    return OutletLook(
        reference=reference or random_reference(rng),
        qr=bool(rng.random() < ranges.qr_share),
        face=int(rng.integers(3)),
        text_size=int(rng.integers(44, 60)),
        label_colour=label,
        shown=float(rng.uniform(*ranges.shown)),
        tilt=float(rng.uniform(0, ranges.tilt)),
        turn=float(rng.uniform(-ranges.turn, ranges.turn)),
        exposure=exposure,
    )


def render_outlet(seed: int, look: OutletLook) -> OutletPhoto:
    """The photo of the outlet, as JPEG bytes, and whether a person could read its label."""
    image, text_height, legible = outlet_image(seed, look)
    return OutletPhoto(jpeg(image, look.exposure.quality), look, text_height, legible)


def outlet_image(seed: int, look: OutletLook) -> tuple[np.ndarray, float, bool]:
    """The photo as RGB pixels, the reference's capitals' height in it, and whether a person
    could read them (big enough, sharp enough, lit enough)."""
    rng = np.random.default_rng(seed)
    flat, text_size = _flat_outlet(look, rng)
    wall_colour = tuple(int(c) for c in rng.integers(150, 235, 3))
    wall = texture(rng, PHOTO, wall_colour, grain=float(rng.uniform(0.01, 0.05)))
    shown = look.shown * PHOTO[0]
    margin = shown * 0.7
    centre = (
        float(rng.uniform(margin, PHOTO[0] - margin)),
        float(rng.uniform(min(margin, PHOTO[1] / 2), max(PHOTO[1] / 2, PHOTO[1] - margin))),
        shown,
    )
    matrix = homography(rng, _FLAT, centre, look.tilt, look.turn)
    seen = expose(warp(flat, matrix, PHOTO, _shadowed(wall, matrix)), look.exposure, rng)
    text_height = text_size * 0.73 * shown / _FLAT[0] * (1 - look.tilt)
    legible = (
        text_height >= 11
        and look.exposure.blur <= text_height / 5
        and look.exposure.gain >= 0.35
        and look.exposure.quality >= 30
    )
    return seen, text_height, legible


def _shadowed(wall: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """A soft shadow under the outlet, offset down and right."""
    height, width = wall.shape[:2]
    shade = cv2.warpPerspective(np.full(_FLAT[::-1], 255, np.uint8), matrix, (width, height))
    shade = cv2.GaussianBlur(np.roll(shade, (14, 10), (0, 1)).astype(np.float32), (0, 0), 12)
    return (wall * (1 - 0.35 * shade[..., None] / 255)).astype(np.uint8)


def _flat_outlet(look: OutletLook, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """The outlet drawn frontal, and the font size its reference was printed at."""
    width, height = _FLAT
    tone = int(rng.integers(225, 250))
    image = Image.new("RGB", _FLAT, (tone, tone, tone - 6))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((4, 4, width - 5, height - 5), 40, outline=(160, 160, 160), width=6)
    draw.rounded_rectangle((40, 330, width - 40, height - 40), 24, fill=(tone - 18,) * 3)
    # The fibre port: a shutter with its coloured SC connector.
    draw.rectangle((240, 450, 360, 620), fill=(70, 70, 75))
    draw.rectangle(
        (265, 480, 335, 590), fill=((40, 150, 70) if rng.random() < 0.5 else (40, 80, 170))
    )
    draw.text((width / 2, 655), "FIBRE OPTIQUE", fill=(90, 90, 90), font=font(30, 2), anchor="mm")
    size = _label(image, look, rng)
    return np.asarray(image), size


def _label(image: Image.Image, look: OutletLook, rng: np.random.Generator) -> int:
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = 50, 60, image.width - 50, 300
    draw.rectangle(
        (left, top, right, bottom), fill=look.label_colour, outline=(30, 30, 30), width=3
    )
    ink = (int(rng.integers(0, 40)),) * 3
    text_left = left + 20
    if look.qr:
        code = _qr(look.reference, bottom - top - 40)
        image.paste(code, (left + 20, top + 20))
        text_left = left + 40 + code.width
    centre = (text_left + right) / 2
    draw.text((centre, top + 55), "PTO", fill=ink, font=font(34, 0), anchor="mm")
    size = look.text_size
    face = font(size, look.face)
    while draw.textlength(look.reference, font=face) > right - text_left - 20 and size > 16:
        size -= 2
        face = font(size, look.face)
    draw.text((centre, top + 150), look.reference, fill=ink, font=face, anchor="mm")
    return size


def _qr(text: str, side: int) -> Image.Image:
    matrix = np.asarray(zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode).to_image())
    code = Image.fromarray(matrix.astype(np.uint8))
    return code.resize((side, side), Image.Resampling.NEAREST)
