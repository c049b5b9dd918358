"""Thumbnails of stored photos: decoded at reduced scale (JPEG draft mode) in a thread, kept on
disk by the photo's sha256, so each is made once whatever request or OC shows it.

Pillow's pixel limit stays on, and is checked on the image's own header before decoding.
"""

from __future__ import annotations

import asyncio
import io
import os
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog
from PIL import Image, ImageOps, UnidentifiedImageError

log = structlog.get_logger()
BOX = 320  # the longer side of a thumbnail, in pixels
_AT_ONCE = 2  # decodes running together: the machine's cores, and bounded memory


class NoThumbnail(Exception):
    """The image cannot be previewed (not decodable, or over the pixel limit)."""


def why_no_preview(width: int | None, height: int | None, max_pixels: int | None = None) -> str:
    """Why a stored photo gets no thumbnail, from the size its header gave ('' if it gets one)."""
    if not width or not height:
        return "its size could not be read from its header"
    limit = max_pixels or Image.MAX_IMAGE_PIXELS or 0
    if limit and width * height > limit:
        return f"{width}x{height} is over Pillow's limit of {limit:,} pixels"
    return ""


def make_thumbnail(data: bytes, box: int = BOX, max_pixels: int | None = None) -> bytes:
    """A JPEG at most `box` pixels on its longer side, turned upright (EXIF orientation)."""
    limit = max_pixels or Image.MAX_IMAGE_PIXELS or 0
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG", "PNG"]) as image:
            if limit and image.width * image.height > limit:
                raise NoThumbnail(f"{image.width}x{image.height} is over {limit} pixels")
            # JPEG only: decode straight to 1/2, 1/4 or 1/8 scale, at least `box` wide.
            image.draft("RGB", (box, box))
            upright = ImageOps.exif_transpose(image)
            upright.thumbnail((box, box))
            out = io.BytesIO()
            upright.convert("RGB").save(out, "JPEG", quality=80, optimize=True)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise NoThumbnail(f"{type(exc).__name__}: {exc}") from exc
    return out.getvalue()


class Thumbnails:
    """The on-disk cache: `{directory}/{sha256[:2]}/{sha256}-{box}.jpg`."""

    def __init__(self, directory: Path, box: int = BOX, max_pixels: int | None = None) -> None:
        self.directory = directory
        self.box = box
        self._max_pixels = max_pixels
        self._decoding = asyncio.Semaphore(_AT_ONCE)

    def etag(self, sha256: str) -> str:
        return f'"t{self.box}-{sha256}"'

    async def get(self, sha256: str, load: Callable[[], Awaitable[bytes]]) -> bytes:
        """The thumbnail of the photo with this sha256; `load` reads the photo if it is not
        cached yet."""
        path = self.directory / sha256[:2] / f"{sha256}-{self.box}.jpg"
        try:
            return await asyncio.to_thread(path.read_bytes)
        except OSError:  # not cached yet, or an unusable cache directory: make it
            pass
        async with self._decoding:
            data = await load()
            thumbnail = await asyncio.to_thread(make_thumbnail, data, self.box, self._max_pixels)
        try:
            await asyncio.to_thread(_write_atomically, path, thumbnail)
        except OSError as exc:  # a full or read-only disk costs speed, not the page
            log.warning("thumbnail not cached", path=str(path), error=repr(exc))
        return thumbnail


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
