"""What a photo body is, learned while it streams through: sha256, size, type and dimensions."""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass

from PIL.JpegImagePlugin import JpegImageFile
from PIL.PngImagePlugin import PngImageFile

MAGIC = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n"}
HEADER_READERS = {"image/jpeg": JpegImageFile, "image/png": PngImageFile}
# More pixels than any camera takes (about 16k x 16k): worth flagging, harmless to store.
MAX_PIXELS = 1 << 28
# Headers (EXIF and other segments before the JPEG frame header included) fit in this.
HEAD_BYTES = 512 * 1024


class PhotoRefused(Exception):
    """The body cannot be stored as this photo: `reason` is a short code, `detail` a sentence."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class PhotoFacts:
    sha256: str
    size: int
    width: int | None
    height: int | None


class PhotoInspector:
    """Fed every chunk before it is stored; raises PhotoRefused as soon as the body is wrong.

    The first chunks are kept by reference (not copied) until HEAD_BYTES are seen, for the
    magic bytes and the dimensions; most headers are read from the first chunk alone.
    """

    def __init__(self, mime_type: str, max_bytes: int) -> None:
        self._mime_type = mime_type
        self._max_bytes = max_bytes
        self._hash = hashlib.sha256()
        self._head: list[bytes] = []
        self._head_size = 0
        self._magic_seen = False
        self._size = 0
        self.facts: PhotoFacts | None = None

    def feed(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self._max_bytes:
            raise PhotoRefused("too_large", f"body exceeds the cap of {self._max_bytes} bytes")
        if self._head_size < HEAD_BYTES:
            self._head.append(chunk)
            self._head_size += len(chunk)
            self._check_magic(final=False)
        self._hash.update(chunk)

    def finish(self) -> PhotoFacts:
        self._check_magic(final=True)
        dimensions = read_dimensions(self._head[0], self._mime_type) if self._head else None
        if dimensions is None and len(self._head) > 1:
            dimensions = read_dimensions(b"".join(self._head)[:HEAD_BYTES], self._mime_type)
        width, height = dimensions or (None, None)
        self.facts = PhotoFacts(self._hash.hexdigest(), self._size, width, height)
        self._head.clear()
        return self.facts

    def _check_magic(self, *, final: bool) -> None:
        magic = MAGIC[self._mime_type]
        if self._magic_seen or (self._head_size < len(magic) and not final):
            return
        start = _first_bytes(self._head, len(magic))
        if start != magic:
            found = start.hex(" ") or "an empty body"
            raise PhotoRefused("bad_magic", f"declared {self._mime_type} but starts with {found}")
        self._magic_seen = True


def _first_bytes(chunks: list[bytes], count: int) -> bytes:
    start = b""
    for chunk in chunks:
        start += chunk[: count - len(start)]
        if len(start) >= count:
            break
    return start


async def inspected(
    chunks: AsyncIterator[bytes], inspector: PhotoInspector
) -> AsyncIterator[bytes]:
    """Pass chunks on to the store only after the inspector has seen them.

    The final check runs before the iterator ends, so a refused body is never committed.
    """
    async for chunk in chunks:
        inspector.feed(chunk)
        yield chunk
    inspector.finish()


def read_dimensions(head: bytes, mime_type: str) -> tuple[int, int] | None:
    """Width and height from the header alone; the image is never decoded.

    The format's own reader parses only the header. Image.open() would add its decompression-bomb
    check, which guards decoding: here a huge pixel count is only a number, kept as an anomaly.
    """
    try:
        with HEADER_READERS[mime_type](io.BytesIO(head)) as image:
            width, height = image.size
    except (OSError, SyntaxError, ValueError):
        return None
    return int(width), int(height)


def describe_anomalies(
    facts: PhotoFacts, width: int | None, height: int | None, size: int | None
) -> list[str]:
    """Where the stored image disagrees with what its record declared."""
    anomalies = []
    for name, declared, actual in (
        ("size", size, facts.size),
        ("width", width, facts.width),
        ("height", height, facts.height),
    ):
        if declared is not None and actual is not None and declared != actual:
            anomalies.append(f"{name}: declared {declared}, actual {actual}")
    if facts.width is None or facts.height is None:
        anomalies.append("dimensions: not readable from the image header")
    elif facts.width * facts.height > MAX_PIXELS:
        anomalies.append(f"pixels: {facts.width}x{facts.height} is more than {MAX_PIXELS}")
    return anomalies
