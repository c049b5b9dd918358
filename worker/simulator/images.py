"""Real JPEG and PNG pictures for the simulated photos, made with Pillow."""

import asyncio
import dataclasses
import io
import math
import random
import struct
import zlib
from dataclasses import dataclass
from typing import Literal

from PIL import Image

from worker.simulator.scenes import Effect, add_noise, render_scene, spoil

PhotoFormat = Literal["jpeg", "png"]
MIME_TYPES: dict[PhotoFormat, str] = {"jpeg": "image/jpeg", "png": "image/png"}
_PIL_FORMATS: dict[PhotoFormat, str] = {"jpeg": "JPEG", "png": "PNG"}
# Bytes per pixel: PNG stored without compression is raw RGB (of noise); a JPEG scene with
# sensor-like noise at quality 85 measured at about 0.5, as a phone photo. Sized pictures start
# from this guess and correct it.
_NOISE_DENSITY: dict[PhotoFormat, float] = {"jpeg": 0.5, "png": 3.0}
_NOISE_AMPLITUDE = 12
# Restart markers every few 8x8 blocks make the entropy-coded data a row of independent pieces,
# which `variants.py` shuffles to make each photo another image of exactly the same size.
_RESTART_BLOCKS = 4
_SIZE_TOLERANCE = 0.03
_SIZE_ATTEMPTS = 6
_MIN_PADDING = 12  # room for the smallest PNG chunk or JPEG comment segment
_MAX_JPEG_SEGMENT = 65535


@dataclass(frozen=True)
class Picture:
    """Encoded image bytes and what they really are."""

    data: bytes
    image_format: PhotoFormat
    width: int
    height: int

    @property
    def mime_type(self) -> str:
        return MIME_TYPES[self.image_format]


def render_photo(
    image_format: PhotoFormat,
    seed: int,
    caption: str,
    *,
    effect: Effect | None = None,
    exif: bytes | None = None,
) -> Picture:
    """A 640x480 scene (tens of KB) whose pixels depend on seed and caption, spoiled by `effect`
    if asked, with the camera's EXIF if given."""
    return encode_photo(render_scene(seed, caption), image_format, effect=effect, exif=exif)


def encode_photo(
    image: Image.Image,
    image_format: PhotoFormat,
    *,
    effect: Effect | None = None,
    exif: bytes | None = None,
) -> Picture:
    """A picture drawn elsewhere, spoiled by `effect` if asked, with the camera's EXIF."""
    if effect is not None:
        image = spoil(image, effect)
    return _encode(image, image_format, quality=85, exif=exif)


def render_sized(image_format: PhotoFormat, size: int, seed: int = 0) -> Picture:
    """A valid noise picture of exactly ``size`` bytes.

    Noise keeps the density (bytes per pixel) stable, so a guess corrected once or twice lands
    just below the size; a padding segment placed after the pixel data fills the rest, so the
    headers stay at the front and the first bytes are enough to read the dimensions.
    """
    best = _render_noise(image_format, 0, seed)
    overhead = len(best.data)
    density = _NOISE_DENSITY[image_format]
    budget = size * (1 - _SIZE_TOLERANCE) - overhead
    for _ in range(_SIZE_ATTEMPTS):
        candidate = _render_noise(image_format, budget / density, seed)
        if len(best.data) < len(candidate.data) <= size - _MIN_PADDING:
            best = candidate
        if len(best.data) >= size * (1 - 2 * _SIZE_TOLERANCE):
            break
        density = (len(candidate.data) - overhead) / (candidate.width * candidate.height)
        if len(candidate.data) > size - _MIN_PADDING:
            # JPEG grows by whole 8x8 blocks: aim lower to fall below the step.
            budget *= 1 - 2 * _SIZE_TOLERANCE
    return dataclasses.replace(best, data=_pad(best, size))


def _render_noise(image_format: PhotoFormat, pixels: float, seed: int) -> Picture:
    width = max(4, round(math.sqrt(pixels * 4 / 3)))
    height = max(3, round(pixels / width))
    if image_format == "jpeg":
        scene = render_scene(seed, "", (width, height))
        return _encode(add_noise(scene, seed, _NOISE_AMPLITUDE), "jpeg", quality=85)
    noise = random.Random(seed).randbytes(width * height * 3)  # noqa: S311 - test pixels
    return _encode(Image.frombytes("RGB", (width, height), noise), "png", quality=100)


def _encode(
    image: Image.Image, image_format: PhotoFormat, quality: int, exif: bytes | None = None
) -> Picture:
    buffer = io.BytesIO()
    extra = {"exif": exif} if exif else {}
    if image_format == "jpeg":
        image.save(
            buffer,
            "JPEG",
            quality=quality,
            subsampling=0,
            restart_marker_blocks=_RESTART_BLOCKS,
            **extra,
        )
    else:
        # Level 0 keeps big noise pictures fast to encode; small ones compress well anyway.
        image.save(buffer, "PNG", compress_level=0 if quality == 100 else 6, **extra)
    return Picture(buffer.getvalue(), image_format, image.width, image.height)


def with_png_width(picture: Picture, width: int) -> Picture:
    """The same PNG whose header declares another width (CRC made right, so readers accept it)."""
    if picture.image_format != "png":
        return picture
    ihdr = picture.data[12:29]  # type and data of the first chunk, always IHDR
    patched = ihdr[:4] + struct.pack(">I", width) + ihdr[8:]
    crc = struct.pack(">I", zlib.crc32(patched))
    return dataclasses.replace(picture, data=picture.data[:12] + patched + crc + picture.data[33:])


def _pad(picture: Picture, size: int) -> bytes:
    gap = size - len(picture.data)
    if picture.image_format == "png":
        return pad_png(picture.data, gap)
    return _pad_jpeg(picture.data, gap)


def pad_png(data: bytes, gap: int) -> bytes:
    """Insert a private ancillary chunk (decoders skip it) just before IEND."""
    if gap == 0:
        return data
    payload = bytes(gap - 12)
    chunk_type = b"paDd"
    chunk = struct.pack(">I", len(payload)) + chunk_type + payload
    chunk += struct.pack(">I", zlib.crc32(chunk_type + payload))
    return data[:-12] + chunk + data[-12:]


def _pad_jpeg(data: bytes, gap: int) -> bytes:
    """Insert comment segments (decoders skip them) just before EOI."""
    segments = []
    while gap > 0:
        length = min(gap, _MAX_JPEG_SEGMENT + 2)
        if 0 < gap - length < 4:
            length -= 4
        segments.append(b"\xff\xfe" + struct.pack(">H", length - 2) + bytes(length - 4))
        gap -= length
    return data[:-2] + b"".join(segments) + data[-2:]


class PictureCache:
    """Sized pictures, made once per (format, size) in a thread and shared by every photo."""

    def __init__(self) -> None:
        self._sized: dict[tuple[PhotoFormat, int], asyncio.Future[Picture]] = {}

    async def sized(self, image_format: PhotoFormat, size: int) -> Picture:
        key = (image_format, size)
        future = self._sized.get(key)
        if future is None:
            future = asyncio.ensure_future(asyncio.to_thread(render_sized, image_format, size))
            self._sized[key] = future
        # A caller that gives up must not cancel the rendering others wait for.
        return await asyncio.shield(future)

    async def close(self) -> None:
        pending = [future for future in self._sized.values() if not future.done()]
        await asyncio.gather(*pending, return_exceptions=True)
        self._sized.clear()
