"""What looking up a photo's eight turns adds to the reuse check (`python -m
tests.bench.turned_copies [--photos 3000]`).

- false matches: distinct photos (the simulator's scenes, each seed another picture, at five
  sizes and both orientations, some with sensor noise, blurred or darkened, JPEG quality 60 to
  95), analysed as the worker does (`imaging.analyse`); each photo is looked up against every
  photo before it, as the reuse check would: with its upright hash only (before) and with the
  hashes of its eight turns (after). Pairs within the distance are counted at the default
  threshold and at the largest the setting allows. The lookup finds exactly the pairs within
  the distance (tests/findings/test_hashing.py), so pairs of hashes are counted here, in numpy.
- found: the first photos rotated by 90, 180 and 270 degrees and mirrored (pixels turned, no
  EXIF, encoded again), and how many the lookup's probes find (`reuse._probes`: every probe of
  the distance for the upright hash, the exact band probes for the turned ones).
"""

from __future__ import annotations

import argparse
import io
import time
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from worker.findings import imaging, reuse
from worker.findings.hashing import band, band_probes, distance, to_signed
from worker.settings import Settings
from worker.simulator.scenes import add_noise, render_scene, spoil

SIZES = ((640, 480), (480, 640), (1024, 768), (800, 800), (1200, 1600))
TURNS = (
    Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_180,
    Image.Transpose.ROTATE_270,
    Image.Transpose.FLIP_LEFT_RIGHT,
)
DEFAULT = Settings.model_fields["qa_near_distance"].default
LARGEST = 7  # the setting's maximum
LIMITS = imaging.Limits(16_000_000, ZoneInfo("Europe/Paris"))


def photo(seed: int) -> Image.Image:
    image = render_scene(seed, f"photo {seed}", SIZES[seed % len(SIZES)])
    if seed % 2:
        image = add_noise(image, seed, 12)
    if seed % 7 == 3:
        image = spoil(image, "blur")
    if seed % 11 == 5:
        image = spoil(image, "dark")
    return image


def hashes(image: Image.Image, quality: int) -> list[int]:
    """The photo's eight hashes, upright first; none for a photo too flat to hash."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    traits = imaging.analyse(buffer.getvalue(), "image/jpeg", image.size, LIMITS)
    assert traits.error is None, traits.error
    return [traits.phash, *traits.phash_turns] if traits.phash is not None else []


def closest(table: NDArray[np.uint64], upright: NDArray[np.uint64]) -> NDArray[np.int64]:
    """For each photo, the fewest bits to any photo before it: upright hash only, or any turn."""
    nearest = np.full(len(upright), 64, dtype=np.int64)
    for index in range(1, len(upright)):
        bits = np.bitwise_count(table[index][:, None] ^ upright[None, :index])
        nearest[index] = int(bits.min())
    return nearest


def pairs_within(
    table: NDArray[np.uint64], upright: NDArray[np.uint64], distance: int
) -> tuple[int, int]:
    """(pairs within `distance` upright only, with the eight turns)."""
    before = after = 0
    for index in range(1, len(upright)):
        bits = np.bitwise_count(table[index][:, None] ^ upright[None, :index])
        before += int((bits[0] <= distance).sum())
        after += int((bits.min(axis=0) <= distance).sum())
    return before, after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photos", type=int, default=3000)
    parser.add_argument("--turned", type=int, default=100, help="photos turned 4 ways each")
    args = parser.parse_args()
    started = time.monotonic()
    rows = {seed: hashes(photo(seed), 60 + seed % 36) for seed in range(args.photos)}
    hashed = [seed for seed, row in rows.items() if row]
    table = np.array([rows[seed] for seed in hashed], dtype=np.int64).view(np.uint64)
    upright = table[:, 0].copy()
    print(
        f"{args.photos} distinct photos analysed in {time.monotonic() - started:.0f} s;"
        f" {len(hashed)} hashed (the others too flat)"
    )
    photos = len(hashed)
    for bits in (DEFAULT, LARGEST):
        before, after = pairs_within(table, upright, bits)
        print(
            f"pairs within {bits} bits: {before} upright only, {after} with the eight turns"
            f" (+{after - before}) of {photos * (photos - 1) // 2}"
        )
    for name, column in (("upright only", table[:, :1]), ("eight turns", table)):
        nearest = closest(column, upright)[1:]
        print(
            f"closest earlier photo, {name}: min {nearest.min()}, 1st percentile"
            f" {np.percentile(nearest, 1):.0f}, median {np.median(nearest):.0f} bits"
        )
    found, missed = 0, []
    for index, seed in enumerate(hashed[: args.turned]):
        original = photo(seed)
        for turn in TURNS:
            turned = hashes(original.transpose(turn), 90)
            if _looked_up(turned, int(upright[index])):
                found += 1
            else:
                missed.append(min((distance(h, int(upright[index])) for h in turned), default=64))
    print(
        f"turned copies found by the lookup's probes: {found} of {found + len(missed)}"
        f" (the others at {sorted(missed)} bits); {time.monotonic() - started:.0f} s in all"
    )


def _looked_up(turned: list[int], stored: int) -> bool:
    """Whether the worker's lookup finds `stored` from these hashes: a band probe in common
    (upright: every probe of the distance; turns: the exact ones) and within the distance."""
    stored_bands = {(index, band(to_signed(stored), index)) for index in range(4)}
    for turn, value in enumerate(turned):
        reach = DEFAULT if turn == 0 else min(DEFAULT, reuse._TURN_REACH)
        probes = set(band_probes(value, reach))
        if probes & stored_bands and distance(value, stored) <= DEFAULT:
            return True
    return False


if __name__ == "__main__":
    main()
