"""The photos the simulated OC has listed, and what getPhoto serves for each."""

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from PIL import Image

from worker.simulator.framing import Spot, pair_pictures, pto_picture
from worker.simulator.images import (
    PhotoFormat,
    Picture,
    PictureCache,
    encode_photo,
    render_photo,
    with_png_width,
)
from worker.simulator.records import PHOTO_TYPES, Shot, build_record, photo_seed, shot_of
from worker.simulator.scenarios import Scenario
from worker.simulator.scenes import Effect, camera_exif
from worker.simulator.variants import inflate, vary


@dataclass
class Photo:
    """One listed photo: its record, the bytes served for it, and its getPhoto count.

    A sized photo is a variant (`variant` is its seed) of a picture shared by every photo of
    that size: its bytes are made when it is downloaded, not kept.
    """

    index: int
    record: dict[str, Any]
    picture: Picture
    scenario: Scenario
    variant: int | None = None
    calls: int = 0

    @property
    def photo_id(self) -> str:
        return str(self.record["id"])

    async def body(self) -> bytes:
        if self.variant is None:
            return self.picture.data
        return await asyncio.to_thread(vary, self.picture, self.variant)


class Catalog:
    """Listings per reference, built once (the same reference always lists the same photos)."""

    def __init__(self) -> None:
        self._pictures = PictureCache()
        self._listings: dict[str, asyncio.Future[list[Photo]]] = {}
        self._photos: dict[str, Photo] = {}

    def find(self, photo_id: str) -> Photo | None:
        return self._photos.get(photo_id)

    async def listing(self, reference: str, scenario: Scenario) -> list[Photo]:
        future = self._listings.get(reference)
        if future is None:
            future = asyncio.ensure_future(self._build(reference, scenario))
            self._listings[reference] = future
        return await asyncio.shield(future)

    async def close(self) -> None:
        pending = [future for future in self._listings.values() if not future.done()]
        await asyncio.gather(*pending, return_exceptions=True)
        await self._pictures.close()

    async def _build(self, reference: str, scenario: Scenario) -> list[Photo]:
        listed_at = datetime.now(UTC)
        indexes = range(1, scenario.photos + 1)
        shots = [shot_of(reference, scenario, index, listed_at) for index in indexes]
        formats = [_served_format(scenario, index) for index in indexes]
        if scenario.size is None:
            # Distinct pictures per photo; drawn in a thread so a long listing does not stall
            # the other clients.
            pictures = await asyncio.to_thread(_render_all, reference, scenario, formats, shots)
            variants: list[int | None] = [None] * scenario.photos
        else:
            sized = {fmt: await self._pictures.sized(fmt, scenario.size) for fmt in set(formats)}
            pictures = [sized[fmt] for fmt in formats]
            variants = [photo_seed(reference, scenario.source_of(index)) for index in indexes]
        if "pngwidth" in scenario.poison:
            pictures = [with_png_width(picture, 2**31 + 1) for picture in pictures]
        photos = [
            Photo(index, build_record(reference, scenario, index, picture, shot), picture, scenario)
            for index, picture, shot in zip(indexes, pictures, shots, strict=True)
        ]
        for photo, variant in zip(photos, variants, strict=True):
            photo.variant = variant
        self._photos.update((photo.photo_id, photo) for photo in photos)
        return photos


def _served_format(scenario: Scenario, index: int) -> PhotoFormat:
    declared = scenario.format_of(index)
    if index not in scenario.badmagic:
        return declared
    return "png" if declared == "jpeg" else "jpeg"


def _render_all(
    reference: str, scenario: Scenario, formats: list[PhotoFormat], shots: list[Shot]
) -> list[Picture]:
    pictures: list[Picture] = []
    afters: dict[int, Image.Image] = {}  # the after photo drawn with its before photo
    for index, (fmt, shot) in enumerate(zip(formats, shots, strict=True), start=1):
        if index in scenario.copy:
            pictures.append(pictures[index - 2])
        elif index == 1 and scenario.reuse:
            # No EXIF: a photo sent again is the same file, whatever it was sent for.
            seed = uuid.uuid5(uuid.NAMESPACE_URL, scenario.reuse).int & 0xFFFFFFFF
            pictures.append(render_photo(fmt, seed, f"photo {scenario.reuse}"))
        else:
            exif = camera_exif(shot.camera_taken_at, shot.camera_place, offset=index % 2 == 1)
            seed, caption = photo_seed(reference, index), f"{scenario.label} #{index}"
            effect = _effect(scenario, index)
            framed = _framed(scenario, index, seed, afters)
            if framed is None:
                pictures.append(render_photo(fmt, seed, caption, effect=effect, exif=exif))
            else:
                pictures.append(encode_photo(framed, fmt, effect=effect, exif=exif))
        if index in scenario.bomb:
            pictures[-1] = inflate(pictures[-1])
    return pictures


def _effect(scenario: Scenario, index: int) -> Effect | None:
    effects: tuple[Effect, ...] = ("blur", "dark", "tiny")
    return next((effect for effect in effects if index in getattr(scenario, effect)), None)


def _framed(
    scenario: Scenario, index: int, seed: int, afters: dict[int, Image.Image]
) -> Image.Image | None:
    """The framing scenario's picture for this photo (`pto=`, `spot=`), if it asks for one."""
    photo_type = PHOTO_TYPES[(index - 1) % len(PHOTO_TYPES)]
    if photo_type == "PTO" and scenario.pto:
        return pto_picture(seed, scenario.pto)
    if index in afters:
        return afters.pop(index)
    if photo_type in {"PBO_AVANT", "PM_AVANT"} and scenario.spot:
        spot: Spot = scenario.spot  # type: ignore[assignment]
        before, afters[index + 1] = pair_pictures(seed, spot)
        return before
    return None
