"""What a phone does to a scene: the viewpoint, the light, the focus, the sensor, the JPEG.

The framing scenes (`outlets.py`, `cabinets.py`) are drawn flat and frontal, as RGB numpy
arrays; a `Shot` says how the technician's phone saw one: where it stood (a homography from
the flat drawing to the photo), how the light fell, how sharp the focus was.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageFont

_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
_FACES = ("DejaVuSans-Bold.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansCondensed-Bold.ttf")


@dataclass(frozen=True)
class Exposure:
    """How the light fell and how well the phone focused."""

    gain: float = 1.0  # overall light, 1 as drawn
    gradient: float = 0.0  # light falling off across the picture, 0-1
    gradient_angle: float = 0.0  # radians
    warmth: float = 0.0  # -1 bluish (daylight) to 1 yellowish (bulb)
    blur: float = 0.0  # Gaussian sigma, in pixels of the photo
    noise: float = 3.0  # sensor noise, standard deviation in grey levels
    quality: int = 85  # JPEG


def font(size: int, face: int = 0) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A bold face if the system has DejaVu, else Pillow's own (scalable since Pillow 10.1)."""
    path = _DEJAVU / _FACES[face % len(_FACES)]
    if path.is_file():
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


def warp(
    flat: np.ndarray, matrix: np.ndarray, size: tuple[int, int], background: np.ndarray | None
) -> np.ndarray:
    """The flat drawing seen through `matrix` (3x3, flat to photo), over `background`."""
    width, height = size
    seen = cv2.warpPerspective(flat, matrix, (width, height), flags=cv2.INTER_AREA)
    if background is None:
        return np.asarray(seen)
    mask = cv2.warpPerspective(
        np.full(flat.shape[:2], 255, np.uint8), matrix, (width, height), flags=cv2.INTER_LINEAR
    )
    alpha = (mask.astype(np.float32) / 255)[..., None]
    return (seen * alpha + background * (1 - alpha)).astype(np.uint8)


def expose(image: np.ndarray, exposure: Exposure, rng: np.random.Generator) -> np.ndarray:
    """Light, focus and sensor noise applied to an RGB picture."""
    height, width = image.shape[:2]
    pixels: np.ndarray = image.astype(np.float32)
    if exposure.blur > 0:
        pixels = cv2.GaussianBlur(pixels, (0, 0), exposure.blur)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    along = (xs / width - 0.5) * np.cos(exposure.gradient_angle) + (ys / height - 0.5) * np.sin(
        exposure.gradient_angle
    )
    light = exposure.gain * (1 - exposure.gradient * (along + 0.5))
    tint = np.array([1 + 0.12 * exposure.warmth, 1.0, 1 - 0.12 * exposure.warmth], np.float32)
    pixels = pixels * light[..., None] * tint
    if exposure.noise > 0:
        pixels += rng.standard_normal(pixels.shape, np.float32) * exposure.noise
    return np.asarray(np.clip(pixels, 0, 255), np.uint8)


def jpeg(image: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def texture(
    rng: np.random.Generator, size: tuple[int, int], base: tuple[int, ...], grain: float
) -> np.ndarray:
    """A wall: a colour with low-frequency stains and fine grain (plaster, concrete)."""
    width, height = size
    stains = cv2.resize(
        rng.standard_normal((max(2, height // 60), max(2, width // 60)), np.float32),
        (width, height),
        interpolation=cv2.INTER_CUBIC,
    )
    fine = cv2.GaussianBlur(rng.standard_normal((height, width), np.float32), (0, 0), 1.2)
    shade = 1 + 0.06 * stains + grain * fine
    wall = np.array(base, np.float32)[None, None, :] * shade[..., None]
    return np.clip(wall, 0, 255).astype(np.uint8)


def homography(
    rng: np.random.Generator,
    flat_size: tuple[int, int],
    target: tuple[float, float, float],
    tilt: float,
    turn: float,
) -> np.ndarray:
    """Flat drawing to photo: centred on target (x, y, width in photo pixels), turned by `turn`
    radians, seen at an angle: each corner moved by up to `tilt` of the width (perspective)."""
    width, height = flat_size
    cx, cy, shown = target
    scale = shown / width
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    centred = (corners - [width / 2, height / 2]) * scale
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]], np.float32)
    placed = centred @ rotation.T + [cx, cy]
    # Seen at an angle: the far side of the drawing shorter than the near one (yaw, pitch).
    yaw, pitch = rng.uniform(-tilt, tilt, 2) * shown / 2
    placed += np.array([[pitch, -yaw], [-pitch, yaw], [pitch, -yaw], [-pitch, yaw]], np.float32)
    placed += rng.uniform(-0.01, 0.01, (4, 2)).astype(np.float32) * shown
    return cv2.getPerspectiveTransform(corners, placed.astype(np.float32))
