"""The perceptual hash and the band probes of the reuse index (pure)."""

from __future__ import annotations

import io
import itertools
import random

import pytest
from PIL import Image, ImageEnhance

from tests.findings.images import encode, scene
from worker.findings.hashing import (
    TURNS,
    band,
    band_probes,
    distance,
    perceptual_hash,
    to_signed,
    turned_hashes,
)


def _hash(data: bytes) -> int:
    with Image.open(io.BytesIO(data)) as image:
        value = perceptual_hash(image.convert("L"))
    assert value is not None
    return value


def test_copies_stay_close_and_other_photos_are_far() -> None:
    original = scene(3)
    reference = _hash(encode(original, quality=90))
    copies = [
        encode(original, quality=40),
        encode(original.resize((400, 300))),
        encode(ImageEnhance.Brightness(original).enhance(1.2)),
        encode(original, "PNG"),
    ]
    assert max(distance(reference, _hash(copy)) for copy in copies) <= 4
    others = [_hash(encode(scene(seed))) for seed in range(10, 40)]
    assert min(distance(reference, other) for other in others) > 10


def test_a_flat_image_has_no_hash() -> None:
    assert perceptual_hash(Image.new("L", (640, 480), 12)) is None
    assert turned_hashes(Image.new("L", (640, 480), 12)) == ()


def _turned(image: Image.Image, turn: Image.Transpose | None) -> Image.Image:
    return image if turn is None else image.transpose(turn)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_each_turns_hash_is_the_hash_of_the_turned_image(seed: int) -> None:
    # At the hash's own 32x32 nothing is resampled: the DCT transform is exact.
    small = scene(seed).convert("L").resize((32, 32), Image.Resampling.BOX)
    hashes = turned_hashes(small)
    assert hashes[0] == perceptual_hash(small)
    assert len(set(hashes)) == len(TURNS)  # not a symmetric picture
    assert [turned_hashes(_turned(small, turn))[0] for turn in TURNS] == list(hashes)


@pytest.mark.parametrize("size", [(640, 480), (1003, 601)])
def test_at_photo_size_the_resampling_moves_a_turns_hash_by_two_bits_at_most(
    size: tuple[int, int],
) -> None:
    for seed in range(1, 9):
        grey = scene(seed, size).convert("L")
        hashes = turned_hashes(grey)
        for turn, value in zip(TURNS, hashes, strict=True):
            assert distance(value, turned_hashes(_turned(grey, turn))[0]) <= 2
        # ...while the turns of one photo are as far apart as different photos.
        assert min(distance(hashes[0], other) for other in hashes[1:]) > 10


def test_hashes_fit_a_signed_bigint() -> None:
    assert to_signed(2**64 - 1) == -1
    assert to_signed(5) == 5
    assert distance(-1, 0) == 64
    assert band(-1, 3) == 0xFFFF


@pytest.mark.parametrize("max_distance", range(8))
def test_every_hash_within_the_distance_shares_a_probe(max_distance: int) -> None:
    rnd = random.Random(max_distance)
    # Whether a hash shares a probe depends only on how many bits differ in each band: every
    # split of the distance over the four bands, the worst ones included, random bits each.
    splits = [s for s in itertools.product(range(8), repeat=4) if sum(s) <= max_distance]
    for split in splits * 20:
        value = to_signed(rnd.getrandbits(64))
        flipped = [
            16 * index + bit for index, n in enumerate(split) for bit in rnd.sample(range(16), n)
        ]
        near = to_signed((value & (2**64 - 1)) ^ sum(1 << bit for bit in flipped))
        assert distance(value, near) <= max_distance
        bands_of_near = {(index, band(near, index)) for index in range(4)}
        assert bands_of_near & set(band_probes(value, max_distance)), split


def test_probes_beyond_the_index_are_refused() -> None:
    assert [len(band_probes(12345, k)) for k in range(8)] == [4] * 4 + [20, 36, 52, 68]
    with pytest.raises(ValueError, match="up to 7"):
        band_probes(12345, 8)
