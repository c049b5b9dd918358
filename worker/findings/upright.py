"""A stored photo decoded for the framing checks: upright (EXIF orientation applied), in grey
levels, and no larger than the check needs (a JPEG decoded at 1/2, 1/4 or 1/8 by libjpeg).

The PTO label is read on a photo of at most PTO_SIDE pixels on the long side (small labels need
the pixels); the same-spot check compares SPOT_SIDE pixels (`same_spot.SIDE`), and decoding
at that scale is most of the saving.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps

from worker.findings.imaging import check_declared_pixels

PTO_SIDE = 2000
SPOT_SIDE = 640


def upright_grey(data: bytes, side: int) -> tuple[np.ndarray, float]:
    """The photo in grey levels, turned as its EXIF says, at about `side` on the long side
    (at least `side`, unless the photo is smaller; never above 2 x `side`), and the photo's
    upright pixels per pixel of it. Raises what Pillow raises for an image it cannot decode."""
    with Image.open(io.BytesIO(data)) as image:
        check_declared_pixels(*image.size)
        full = max(image.size)
        if image.format == "JPEG":
            scale = _scale(max(image.size), side)
            image.draft("L", (-(-image.width // scale), -(-image.height // scale)))
        turned = ImageOps.exif_transpose(image.convert("L"))
    if max(turned.size) > 2 * side:
        turned.thumbnail((2 * side, 2 * side), Image.Resampling.BOX)
    return np.asarray(turned), full / max(turned.size)


def _scale(long_side: int, side: int) -> int:
    for scale in (8, 4, 2):
        if long_side // scale >= side:
            return scale
    return 1
