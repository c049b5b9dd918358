"""The perceptual hash of a photo, distances between hashes, and the probes of the band index.

The hash is pHash (as in the `imagehash` library): the image reduced to 32x32 grey levels, its
2-D DCT, and one bit per coefficient of the 8x8 lowest frequencies, set when the coefficient is
above their median. Re-encoding, resizing or a change of brightness leave it within a few bits;
two unrelated photos differ in about 32. It is a dozen lines of numpy: `imagehash` would add
scipy and PyWavelets to the image for one matrix product.

A photo turned by a multiple of 90 degrees or mirrored has another hash, but the same DCT up to
a transform: a mirror changes the sign of the odd frequencies along its axis, a transpose swaps
the two axes. The hashes of the eight turns (`TURNS`) all come from one DCT block, for the reuse
lookup to probe each; the stored hash stays the upright one.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

_SIDE = 32
_LOW = 8
_n = np.arange(_SIDE)
# Rows of the DCT-II basis for the 8 lowest frequencies (the scale factor does not change
# which coefficients are above the median).
_BASIS: NDArray[np.float64] = np.cos(np.pi * np.outer(np.arange(_LOW), 2 * _n + 1) / (2 * _SIDE))
# Below this spread of grey levels the image is too flat to fingerprint: its low frequencies
# are noise, and every black or white frame would look like every other.
_FLAT_SPREAD = 3.0
BANDS = 4
BAND_BITS = 16
# The eight turns of a photo, as Pillow names them: `turned_hashes(image)[k]` is the hash of
# `image.transpose(TURNS[k])` (None: as it is), exactly at 32x32 pixels, within 2 bits at a
# photo's size (the reduction to 32x32 rounds to grey levels in another order).
TURNS: tuple[Image.Transpose | None, ...] = (
    None,
    Image.Transpose.FLIP_LEFT_RIGHT,
    Image.Transpose.FLIP_TOP_BOTTOM,
    Image.Transpose.ROTATE_180,
    Image.Transpose.TRANSPOSE,
    Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_270,
    Image.Transpose.TRANSVERSE,
)
# Frequency k of a row (or column) read backwards is (-1)^k times the frequency k of the row.
_MIRROR = (-1.0) ** np.arange(_LOW)


def perceptual_hash(grey: Image.Image) -> int | None:
    """The 64-bit pHash as a signed integer (PostgreSQL's bigint); None for a flat image."""
    hashes = turned_hashes(grey)
    return hashes[0] if hashes else None


def turned_hashes(grey: Image.Image) -> tuple[int, ...]:
    """The pHash of the image turned each way of `TURNS` (upright first); () for a flat image."""
    small = np.asarray(grey.resize((_SIDE, _SIDE), Image.Resampling.BOX), dtype=np.float64)
    if small.std() < _FLAT_SPREAD:
        return ()
    low = _BASIS @ small @ _BASIS.T
    across = low * _MIRROR  # left to right: the odd horizontal frequencies change sign
    down = low * _MIRROR[:, None]  # top to bottom: the odd vertical ones
    both = across * _MIRROR[:, None]
    blocks = np.stack((low, across, down, both))
    # The median of each block, as np.median takes it (the mean of the two middle values), in
    # one sort; a transposed block has the same values, so the same median: its bits are the
    # block's bits transposed. The four others follow in the order of TURNS.
    ordered = np.sort(blocks.reshape(4, _LOW * _LOW), axis=1)
    middle = _LOW * _LOW // 2
    medians = (ordered[:, middle - 1] + ordered[:, middle]) / 2
    above = blocks > medians[:, None, None]
    above = np.concatenate((above, above.transpose(0, 2, 1)))
    packed = np.packbits(above.reshape(len(TURNS), _LOW * _LOW), axis=1)
    return tuple(to_signed(int.from_bytes(row.tobytes(), "big")) for row in packed)


def to_signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def distance(first: int, second: int) -> int:
    """Bits that differ between two hashes."""
    return ((first ^ second) & ((1 << 64) - 1)).bit_count()


def band(value: int, index: int) -> int:
    """The `index`-th 16-bit band, as the SQL function `phash_band` computes it."""
    return (value >> (BAND_BITS * index)) & ((1 << BAND_BITS) - 1)


def band_probes(value: int, max_distance: int) -> list[tuple[int, int]]:
    """(band, value) pairs to look up so that every hash within `max_distance` is found.

    Pigeonhole over the 4 bands of 16 bits: within k <= 3 bits, one band is equal, and each
    band's own value is looked up. Within k from 4 to 7 (the index answers no more), either one
    band is equal or every band differs, at most k - 4 of them by more than one bit: at least
    8 - k bands differ by exactly one, so one of any k - 3 bands does. Those bands are also
    looked up at their 16 values one bit away: band 0 for k = 4, bands 0 to 3 for k = 7.
    """
    probes = [(index, band(value, index)) for index in range(BANDS)]
    for index in range(flipped_bands(max_distance)):
        own = band(value, index)
        probes += [(index, own ^ (1 << bit)) for bit in range(BAND_BITS)]
    return probes


def flipped_bands(max_distance: int) -> int:
    """How many bands (the first ones) `band_probes` also looks up one bit away."""
    if max_distance >= 2 * BANDS:
        raise ValueError(f"the band index answers distances up to {2 * BANDS - 1}")
    return max(0, max_distance - BANDS + 1)
