"""Pictures made for the simulated photos are real images of the promised size."""

import io

import pytest
from PIL import Image

from worker.simulator.images import PhotoFormat, PictureCache, render_photo, render_sized
from worker.simulator.variants import vary

MAGIC = {"jpeg": b"\xff\xd8\xff", "png": b"\x89PNG\r\n\x1a\n"}


@pytest.mark.parametrize("image_format", ["jpeg", "png"])
@pytest.mark.parametrize("size", [2048, 3000, 5000, 11_372, 200 * 1024, 3 * 1024 * 1024])
def test_sized_pictures_have_the_exact_size(image_format: PhotoFormat, size: int) -> None:
    picture = render_sized(image_format, size)
    assert len(picture.data) == size
    assert picture.data.startswith(MAGIC[image_format])
    with Image.open(io.BytesIO(picture.data[: 512 * 1024])) as header:
        assert header.size == (picture.width, picture.height)
        assert header.format == image_format.upper()
    if size < 1024 * 1024:
        with Image.open(io.BytesIO(picture.data)) as image:
            image.load()


def test_sized_pictures_are_deterministic() -> None:
    assert render_sized("png", 10_000, seed=3) == render_sized("png", 10_000, seed=3)
    assert render_sized("png", 10_000, seed=3).data != render_sized("png", 10_000, seed=4).data


def test_photos_differ_per_seed() -> None:
    first, second = render_photo("jpeg", 1, "A #1"), render_photo("jpeg", 2, "A #2")
    assert first.data != second.data
    assert render_photo("jpeg", 1, "A #1") == first
    for picture in (first, second, render_photo("png", 7, "B")):
        with Image.open(io.BytesIO(picture.data)) as image:
            image.load()
            assert image.size == (picture.width, picture.height) == (640, 480)
        assert len(picture.data) < 300 * 1024


@pytest.mark.parametrize("image_format", ["jpeg", "png"])
def test_variants_are_other_images_of_the_same_size(image_format: PhotoFormat) -> None:
    picture = render_sized(image_format, 200 * 1024)
    variants = [vary(picture, seed) for seed in range(3)]
    assert len({picture.data, *variants}) == 4
    assert vary(picture, 1) == variants[1]
    for data in variants:
        assert len(data) == len(picture.data)
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            assert image.size == (picture.width, picture.height)


async def test_cache_renders_each_size_once() -> None:
    cache = PictureCache()
    first = await cache.sized("jpeg", 50_000)
    assert await cache.sized("jpeg", 50_000) is first
    assert (await cache.sized("png", 50_000)).image_format == "png"
    await cache.close()
