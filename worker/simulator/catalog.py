"""The photos the simulated OC has listed, and what getPhoto serves for each."""

import asyncio
from dataclasses import dataclass
from typing import Any

from worker.simulator.images import (
    PhotoFormat,
    Picture,
    PictureCache,
    render_small,
    with_png_width,
)
from worker.simulator.records import build_record, photo_seed
from worker.simulator.scenarios import Scenario


@dataclass
class Photo:
    """One listed photo: its record, the bytes served for it, and its getPhoto count."""

    index: int
    record: dict[str, Any]
    picture: Picture
    scenario: Scenario
    calls: int = 0

    @property
    def photo_id(self) -> str:
        return str(self.record["id"])


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
        pictures = await self._pictures_for(reference, scenario)
        if "pngwidth" in scenario.poison:
            pictures = [with_png_width(picture, 2**31 + 1) for picture in pictures]
        photos = [
            Photo(index, build_record(reference, scenario, index, picture), picture, scenario)
            for index, picture in enumerate(pictures, start=1)
        ]
        self._photos.update((photo.photo_id, photo) for photo in photos)
        return photos

    async def _pictures_for(self, reference: str, scenario: Scenario) -> list[Picture]:
        formats = [_served_format(scenario, index) for index in range(1, scenario.photos + 1)]
        if scenario.size is None:
            # Distinct small pictures per photo; drawn in a thread so a long listing
            # does not stall the other clients.
            return await asyncio.to_thread(_render_all_small, reference, scenario.label, formats)
        size = scenario.size
        by_format = {fmt: await self._pictures.sized(fmt, size) for fmt in set(formats)}
        return [by_format[fmt] for fmt in formats]


def _served_format(scenario: Scenario, index: int) -> PhotoFormat:
    declared = scenario.format_of(index)
    if index not in scenario.badmagic:
        return declared
    return "png" if declared == "jpeg" else "jpeg"


def _render_all_small(reference: str, label: str, formats: list[PhotoFormat]) -> list[Picture]:
    return [
        render_small(fmt, photo_seed(reference, index), f"{label} #{index}")
        for index, fmt in enumerate(formats, start=1)
    ]
