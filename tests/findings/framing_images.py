"""Generated photos for the framing tests: seeds under 1,000, apart from the evaluation set's."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
from PIL import Image

from worker.simulator.cabinets import Viewpoint, cabled, draw_site, photograph
from worker.simulator.camera import Exposure
from worker.simulator.outlets import LookRanges, OutletLook, draw_look, render_outlet

RANGES = LookRanges(blur=(0.0, 0.8), gain=(0.8, 1.1), shown=(0.3, 0.45))


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def outlet(seed: int, *, qr: bool, reference: str | None = None) -> tuple[OutletLook, bytes]:
    look = replace(draw_look(seed, RANGES, reference), qr=qr)
    return look, render_outlet(seed, look).data


def same_spot_pair(seed: int) -> tuple[bytes, bytes]:
    site = draw_site(seed, seed)
    after = Viewpoint(shift=(0.04, -0.03), turn=0.05, zoom=1.1, exposure=Exposure(gain=0.8))
    return photograph(site, Viewpoint(), seed), photograph(cabled(site, seed), after, seed + 1)


def two_places(seed: int, *, look_alike: bool) -> tuple[bytes, bytes]:
    here = draw_site(seed, seed)
    there = draw_site(seed if look_alike else seed + 1, seed + 2)
    return photograph(here, Viewpoint(), seed), photograph(cabled(there, seed), Viewpoint(), seed)
