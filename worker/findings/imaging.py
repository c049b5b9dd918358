"""One photo decoded, reduced, and measured: sharpness, brightness, perceptual hash, EXIF.

Runs in a worker thread (Pillow and numpy release the GIL while they work). A JPEG is decoded at
the smallest scale libjpeg offers (1/8, 1/4 or 1/2) that keeps at least 512 pixels on the long
side, in grey levels only: most of the cost is then reading the compressed data, not making
pixels. A PNG has no reduced decode and is decoded whole, within WORKER_QA_MAX_DECODE_PIXELS.
Pillow's own decompression-bomb limit stays on: an image that declares more pixels than it
allows is never decoded. Every trait is measured on the photo upright, as a viewer shows it: the
EXIF orientation is applied to the reduced image.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, replace
from datetime import tzinfo

import cv2
import numpy as np
from PIL import Image, ImageOps

from worker.findings import exif
from worker.findings.hashing import turned_hashes
from worker.findings.model import PhotoTraits

ANALYSIS_SIDE = 512
_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG"}
_DECODE_ERRORS = (OSError, SyntaxError, ValueError)
_EXIF_ERRORS = (OSError, SyntaxError, ValueError, KeyError, TypeError)


@dataclass(frozen=True)
class Limits:
    max_decode_pixels: int
    local_zone: tzinfo


class NotDecoded(Exception):
    """The image is refused before decoding; the message says why."""


def analyse(
    data: bytes, mime_type: str, header_size: tuple[int | None, int | None], limits: Limits
) -> PhotoTraits:
    """Every trait that can be read; `error` says what could not be, and why.

    `header_size` is what the inspector read from the header while the body streamed in.
    """
    try:
        check_declared_pixels(*header_size)
        with Image.open(io.BytesIO(data), formats=[_FORMATS[mime_type]]) as image:
            grey = _upright(_decode_reduced(image, limits.max_decode_pixels))
            traits = _camera_facts(image, limits.local_zone)
    except NotDecoded as exc:
        return PhotoTraits(error=str(exc))
    except Image.DecompressionBombError as exc:
        return PhotoTraits(error=f"Pillow refused to decode it: {exc}")
    except _DECODE_ERRORS as exc:
        return PhotoTraits(error=f"the image cannot be decoded: {exc}")
    return _measured(traits, grey)


def check_declared_pixels(width: int | None, height: int | None) -> None:
    """Pillow's limit, applied to the header's dimensions before anything is decoded.

    Image.open() only warns between the limit and twice the limit (and refuses above); here
    both are refused, before Image.open() is called.
    """
    limit = Image.MAX_IMAGE_PIXELS
    if width and height and limit and width * height > limit:
        raise NotDecoded(
            f"declares {width}x{height} = {width * height} pixels, over Pillow's"
            f" decompression-bomb limit of {limit}: not decoded"
        )


def _decode_reduced(image: Image.Image, max_pixels: int) -> Image.Image:
    check_declared_pixels(*image.size)
    if image.format == "JPEG":
        scale = _jpeg_scale(*image.size)
        image.draft("L", (-(-image.width // scale), -(-image.height // scale)))
    pixels = image.width * image.height
    if pixels > max_pixels:
        raise NotDecoded(
            f"decoding it would make {image.width}x{image.height} = {pixels} pixels, over"
            f" WORKER_QA_MAX_DECODE_PIXELS ({max_pixels}): not decoded"
        )
    image.load()
    return image.convert("L")


def _upright(grey: Image.Image) -> Image.Image:
    """The image turned as its EXIF Orientation says (after the reduction: fewer pixels to move).

    An orientation that cannot be read leaves the image as it is: `_camera_facts` says why.
    """
    with contextlib.suppress(*_EXIF_ERRORS):
        ImageOps.exif_transpose(grey, in_place=True)
    return grey


def _analysis_size(grey: Image.Image) -> Image.Image:
    """The image at ANALYSIS_SIDE on the long side, where sharpness and light are measured.

    Nearest-neighbour sampling: a tenth of the cost of averaging (BOX: 0.9 ms of a 4 ms
    analysis at 200 KB), and it keeps the pixels' own sharpness, which is what is measured.
    """
    if max(grey.size) <= ANALYSIS_SIDE:
        return grey
    ratio = ANALYSIS_SIDE / max(grey.size)
    size = (max(1, round(grey.width * ratio)), max(1, round(grey.height * ratio)))
    return grey.resize(size, Image.Resampling.NEAREST)


def _jpeg_scale(width: int, height: int) -> int:
    """1, 2, 4 or 8: the largest reduction that keeps ANALYSIS_SIDE pixels on the long side."""
    for scale in (8, 4, 2):
        if max(width, height) // scale >= ANALYSIS_SIDE:
            return scale
    return 1


def _camera_facts(image: Image.Image, local: tzinfo) -> PhotoTraits:
    try:
        tags = image.getexif()
        taken_at = exif.capture_time(tags, local)
        place = exif.position(tags)
    except _EXIF_ERRORS as exc:
        return PhotoTraits(error=f"the EXIF data cannot be read: {exc}")
    latitude, longitude = place or (None, None)
    return PhotoTraits(exif_taken_at=taken_at, exif_latitude=latitude, exif_longitude=longitude)


def _measured(traits: PhotoTraits, grey: Image.Image) -> PhotoTraits:
    # OpenCV on the 8-bit pixels: a third of numpy's cost on float copies (1.4 of a 5 ms
    # analysis at 200 KB), the same figures (the Laplacian of 8-bit pixels is exact in 16 bits).
    pixels = np.asarray(_analysis_size(grey))
    hashes = turned_hashes(grey)  # averaged from the decoded image: as stable as before
    return replace(
        traits,
        brightness=round(cv2.mean(pixels)[0], 2),
        sharpness=_laplacian_variance(pixels),
        phash=hashes[0] if hashes else None,
        phash_turns=hashes[1:],
    )


def _laplacian_variance(pixels: np.ndarray) -> float | None:
    """Variance of the 4-neighbour Laplacian (ksize 1: the kernel [0 1 0; 1 -4 1; 0 1 0]) inside
    the border: edges make it large, blur makes it small."""
    if min(pixels.shape) < 3:
        return None
    laplacian = cv2.Laplacian(pixels, cv2.CV_16S, ksize=1)[1:-1, 1:-1]
    _, deviation = cv2.meanStdDev(laplacian)
    return round(float(deviation[0, 0]) ** 2, 2)
