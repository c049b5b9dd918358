"""Thumbnails of stored photos, made in separate processes under limits, kept on disk by the
photo's sha256, so each is made once whatever request or OC shows it.

A photo comes from outside: a 400 KB PNG can claim 9400x9500 pixels (a gigabyte decoded), a
truncated file can cost a second of decoding every time it is asked for. So:

- decoding runs in a pool of processes (pebble), each with its address space capped
  (RLIMIT_AS: an image that needs more fails there, the console does not grow) and each
  thumbnail killed after a timeout;
- the header is checked before decoding: Pillow's bomb limit (MAX_IMAGE_PIXELS), then the photo
  checks' limit of decoded pixels (WORKER_QA_MAX_DECODE_PIXELS) after JPEG reduction (`draft`
  decodes straight to 1/2, 1/4 or 1/8 scale);
- one decode per photo at a time (the requests that ask meanwhile wait for it), at most
  `AT_ONCE` photos read and decoding together;
- a photo that gives no thumbnail is remembered, with why, next to the thumbnails
  (`{sha256}-{box}.none`): it costs one decode, not one per request. Delete those files to try
  again (after raising a limit, say).
"""

from __future__ import annotations

import asyncio
import io
import multiprocessing
import os
import resource
import tempfile
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog
from pebble import ProcessExpired, ProcessPool
from PIL import Image, ImageOps, UnidentifiedImageError

log = structlog.get_logger()
BOX = 320  # the longer side of a thumbnail, in pixels
AT_ONCE = 1  # photos read and decoding at a time: memory bounded (README: measured peak)
MIB = 1024 * 1024


class NoThumbnail(Exception):
    """The image cannot be previewed (not decodable, over a limit, too slow)."""


def why_no_preview(width: int | None, height: int | None, max_pixels: int | None = None) -> str:
    """Why a stored photo gets no thumbnail, from the size its header gave ('' if it gets one)."""
    if not width or not height:
        return "its size could not be read from its header"
    limit = max_pixels or Image.MAX_IMAGE_PIXELS or 0
    if limit and width * height > limit:
        return f"{width}x{height} is over Pillow's limit of {limit:,} pixels"
    return ""


def make_thumbnail(data: bytes, box: int = BOX, max_pixels: int | None = None) -> bytes:
    """A JPEG at most `box` pixels on its longer side, turned upright (EXIF orientation).
    `max_pixels` caps the pixels decoded (after JPEG reduction)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=["JPEG", "PNG"]) as image:
                # JPEG only: decode straight to 1/2, 1/4 or 1/8 scale, at least `box` wide.
                image.draft("RGB", (box, box))
                if max_pixels and image.width * image.height > max_pixels:
                    raise NoThumbnail(
                        f"{image.width}x{image.height} decoded is over {max_pixels:,} pixels"
                    )
                upright = ImageOps.exif_transpose(image)
                upright.thumbnail((box, box))
                out = io.BytesIO()
                upright.convert("RGB").save(out, "JPEG", quality=80, optimize=True)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise NoThumbnail(f"over Pillow's pixel limit: {exc}") from None
    except MemoryError:
        raise NoThumbnail("over the thumbnail processes' memory limit") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise NoThumbnail(f"{type(exc).__name__}: {exc}") from None
    return out.getvalue()


def _limit_memory(limit: int) -> None:
    """In each thumbnail process, before any image: an allocation past `limit` fails there."""
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


class Thumbnails:
    """The decoding pool and the on-disk cache: `{directory}/{sha256[:2]}/{sha256}-{box}.jpg`."""

    def __init__(
        self,
        directory: Path,
        box: int = BOX,
        max_pixels: int | None = None,
        seconds: float = 10.0,
        memory: int = 256 * MIB,
    ) -> None:
        self.directory = directory
        self.box = box
        self._max_pixels = max_pixels
        self._seconds = seconds
        self._pool = ProcessPool(
            max_workers=AT_ONCE,
            initializer=_limit_memory,
            initargs=(memory,),
            # A fresh interpreter: a fork would copy the console's memory and threads.
            context=multiprocessing.get_context("spawn"),
        )
        self._decoding = asyncio.Semaphore(AT_ONCE)
        self._flights: dict[str, asyncio.Future[bytes]] = {}
        self._waiting: Counter[str] = Counter()

    async def close(self) -> None:
        self._pool.stop()  # type: ignore[no-untyped-call]
        await asyncio.to_thread(self._pool.join, 10)

    def etag(self, sha256: str) -> str:
        return f'"t{self.box}-{sha256}"'

    def _path(self, sha256: str, suffix: str) -> Path:
        return self.directory / sha256[:2] / f"{sha256}-{self.box}.{suffix}"

    async def get(self, sha256: str, load: Callable[[], Awaitable[bytes]]) -> bytes:
        """The thumbnail of the photo with this sha256; `load` reads the photo if it is not
        cached yet. NoThumbnail if it has none (and then again, from the cache)."""
        cached = await asyncio.to_thread(self._cached, sha256)
        if cached is not None:
            return cached
        flight = self._flights.get(sha256)
        if flight is None:
            flight = asyncio.ensure_future(self._make(sha256, load))
            self._flights[sha256] = flight
            flight.add_done_callback(lambda done: self._landed(sha256, done))
        self._waiting[sha256] += 1
        try:
            # A client that goes away does not stop the decode the others wait for.
            return await asyncio.shield(flight)
        finally:
            self._waiting[sha256] -= 1
            if not self._waiting[sha256]:
                del self._waiting[sha256]

    def waiting(self, sha256: str) -> int:
        """Requests waiting for this photo's thumbnail to be made."""
        return self._waiting[sha256]

    def _landed(self, sha256: str, flight: asyncio.Future[bytes]) -> None:
        self._flights.pop(sha256, None)
        if not flight.cancelled():
            flight.exception()  # retrieved: nobody may be waiting any more

    def _cached(self, sha256: str) -> bytes | None:
        try:
            return self._path(sha256, "jpg").read_bytes()
        except OSError:  # not cached yet, or an unusable cache directory: make it
            pass
        try:
            reason = self._path(sha256, "none").read_text(errors="replace")
        except OSError:
            return None
        raise NoThumbnail(reason)

    async def _make(self, sha256: str, load: Callable[[], Awaitable[bytes]]) -> bytes:
        async with self._decoding:
            data = await load()
            try:
                thumbnail = await self._decode(data)
            except NoThumbnail as exc:
                log.info("no thumbnail", sha256=sha256, reason=str(exc))
                await self._keep(self._path(sha256, "none"), str(exc).encode())
                raise
        await self._keep(self._path(sha256, "jpg"), thumbnail)
        return thumbnail

    async def _decode(self, data: bytes) -> bytes:
        future = self._pool.schedule(
            make_thumbnail, args=(data, self.box, self._max_pixels), timeout=self._seconds
        )
        try:
            return await asyncio.wrap_future(future)
        except TimeoutError:
            raise NoThumbnail(f"not made in {self._seconds:g} s") from None
        except (ProcessExpired, MemoryError):
            raise NoThumbnail("over the thumbnail processes' memory limit") from None

    async def _keep(self, path: Path, data: bytes) -> None:
        try:
            await asyncio.to_thread(_write_atomically, path, data)
        except OSError as exc:  # a full or read-only disk costs speed, not the page
            log.warning("thumbnail not cached", path=str(path), error=repr(exc))


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
