"""Another photo from the same sized picture, cheaply, with exactly the same size in bytes.

A sized picture is rendered once per (format, size); every photo served is a variant of it, so
that the photos of a listing are different images (to the worker's perceptual hash too) without
rendering and encoding each one.

JPEG: the picture is encoded with a restart marker every few blocks, which makes its
entropy-coded data a sequence of independent pieces; shuffling them moves blocks of the image
around without decoding anything. PNG (stored without compression): the rows are rotated and the
data stored again.
"""

import dataclasses
import functools
import random
import re
import struct
import zlib

from worker.simulator.images import Picture, pad_png

_RESTART = re.compile(rb"\xff[\xd0-\xd7]")
_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7]")  # any marker but stuffing and restarts
_SOS = 0xDA
_MARKERS = [bytes((0xFF, 0xD0 + n)) for n in range(8)]


def vary(picture: Picture, seed: int) -> bytes:
    """The bytes of another image of the same dimensions and the same byte size."""
    if picture.image_format == "jpeg":
        return _shuffle_jpeg(picture.data, seed)
    return _rotate_png(picture.data, picture.height, seed)


def _shuffle_jpeg(data: bytes, seed: int) -> bytes:
    head, pieces, tail = _jpeg_pieces(data)
    # The last piece may hold fewer blocks than the others: it stays last.
    ordered = list(pieces[:-1])
    random.Random(seed).shuffle(ordered)  # noqa: S311 - test pictures
    ordered.append(pieces[-1])
    markers = _MARKERS * (len(ordered) // 8 + 1)
    body = b"".join(piece + marker for piece, marker in zip(ordered, markers, strict=False))
    return head + body[:-2] + tail


@functools.lru_cache(maxsize=8)
def _jpeg_pieces(data: bytes) -> tuple[bytes, list[bytes], bytes]:
    """What comes before the entropy-coded data, its pieces, and what comes after (split once
    per picture: every photo of that size is a shuffle of the same pieces)."""
    start = _scan_start(data)
    found = _MARKER.search(data, start)
    end = found.start() if found else len(data)
    return data[:start], _RESTART.split(data[start:end]), data[end:]


def _scan_start(data: bytes) -> int:
    """Where the entropy-coded data begins: after the start-of-scan segment."""
    position = 2
    while True:
        marker = data[position + 1]
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        position += 2 + length
        if marker == _SOS:
            return position


def _rotate_png(data: bytes, height: int, seed: int) -> bytes:
    chunks = list(_png_chunks(data))
    raw = zlib.decompress(b"".join(payload for kind, payload in chunks if kind == b"IDAT"))
    row = len(raw) // height
    shift = row * (1 + seed % max(1, height - 1))
    header = next(payload for kind, payload in chunks if kind == b"IHDR")
    rebuilt = (
        data[:8]
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(raw[shift:] + raw[:shift], 0))
        + _png_chunk(b"IEND", b"")
    )
    return pad_png(rebuilt, len(data) - len(rebuilt))


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, position = [], 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        chunks.append(
            (data[position + 4 : position + 8], data[position + 8 : position + 8 + length])
        )
        position += 12 + length
    return chunks


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


# What a decompression bomb declares: more pixels than any decoder should be asked to make.
BOMB_SIDES = {"jpeg": 65_500, "png": 100_000}


def inflate(picture: Picture) -> Picture:
    """The same bytes, but a header declaring BOMB_SIDES pixels on each side (a few KB that
    would need tens of GB to decode)."""
    side = BOMB_SIDES[picture.image_format]
    data = bytearray(picture.data)
    if picture.image_format == "png":
        data[16:24] = struct.pack(">II", side, side)
        data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    else:
        frame = _frame_header(picture.data)
        data[frame + 5 : frame + 9] = struct.pack(">HH", side, side)
    return dataclasses.replace(picture, data=bytes(data), width=side, height=side)


def _frame_header(data: bytes) -> int:
    """Where the start-of-frame segment (dimensions) is."""
    position = 2
    while data[position + 1] not in (0xC0, 0xC1, 0xC2):
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
    return position
