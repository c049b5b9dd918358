"""The pictures of the framing scenarios: a PTO photo showing its label, and the before and after
photos of a PBO or PM from one spot, or from two places (`pto=` and `spot=` in scenarios.py).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
from PIL import Image

from worker.simulator.cabinets import Viewpoint, cabled, draw_site, view
from worker.simulator.camera import Exposure
from worker.simulator.outlets import LookRanges, draw_look, outlet_image

Spot = Literal["same", "other", "alike"]
# Near, sharp and lit: the label a careful technician photographs.
_CLEAR = LookRanges(shown=(0.3, 0.45), tilt=0.15, turn=0.12, blur=(0.0, 0.6), gain=(0.8, 1.1))
# Far, out of focus and dark: no reference can be read.
_MURKY = LookRanges(shown=(0.1, 0.12), tilt=0.3, turn=0.3, blur=(3.0, 4.0), gain=(0.35, 0.45))
_MOVED = Viewpoint(shift=(0.05, -0.04), turn=0.06, zoom=1.12, exposure=Exposure(gain=0.85))


def pto_picture(seed: int, label: str) -> Image.Image:
    """An outlet labelled `label` (a QR code on some), or `blank`: a label nobody can read."""
    clear = label != "blank"
    look = draw_look(seed, _CLEAR if clear else _MURKY, label if clear else None)
    if not clear:
        look = dataclasses.replace(look, qr=False)
    return Image.fromarray(outlet_image(seed, look)[0])


def pair_pictures(seed: int, spot: Spot) -> tuple[Image.Image, Image.Image]:
    """Before and after cabling: from one spot a step apart (`same`), or of another place
    (`other`), or of another place with a cabinet of the same model (`alike`)."""
    rng = np.random.default_rng(seed)
    model = int(rng.integers(1 << 30))
    here = draw_site(model, seed)
    if spot == "same":
        there, after = cabled(here, seed + 1), _MOVED
    else:
        elsewhere = draw_site(model if spot == "alike" else model + 1, seed + 2)
        there, after = cabled(elsewhere, seed + 1), Viewpoint()
    before = view(here, Viewpoint(), seed)
    return Image.fromarray(before), Image.fromarray(view(there, after, seed + 3))
