"""The framing scenarios over real HTTP: the PTO photo shows its label, the before and after
photos one spot or two places, as the framing readers see them."""

import io
from typing import Any

import aiohttp
import numpy as np
import pytest
from PIL import Image

from tests.simulator.test_sim_photos import download, list_photos
from worker.findings.pto_label import LabelReader
from worker.findings.same_spot import compare_views, reduced_grey
from worker.settings import Settings
from worker.simulator import Simulator

SETTINGS = Settings(_env_file=None)  # type: ignore[call-arg]


async def photos(
    session: aiohttp.ClientSession, simulator: Simulator, reference: str
) -> dict[str, np.ndarray]:
    records: list[dict[str, Any]] = await list_photos(session, simulator, reference)
    found = {}
    for record in records:
        status, body, _ = await download(session, simulator, record["id"])
        assert status == 200
        found[record["type"]] = np.asarray(Image.open(io.BytesIO(body)).convert("L"))
    return found


def same_spot(before: np.ndarray, after: np.ndarray) -> bool:
    match = compare_views(reduced_grey(before), reduced_grey(after))
    return match.same_spot(SETTINGS.qa_same_spot_min_inliers)


async def test_a_clean_framing_scenario(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    shown = await photos(session, simulator, "FRAME-1:photos=5:pto=AB-12CD-3456:spot=same")
    reading = LabelReader(SETTINGS.pto_reference_pattern).read(shown["PTO"])
    assert reading is not None
    assert reading.text == "AB-12CD-3456"
    assert shown["PTO"].shape == (1200, 1600)
    assert same_spot(shown["PBO_AVANT"], shown["PBO_APRES"])
    assert same_spot(shown["PM_AVANT"], shown["PM_APRES"])


@pytest.mark.parametrize("spot", ["other", "alike"])
async def test_two_places(simulator: Simulator, session: aiohttp.ClientSession, spot: str) -> None:
    shown = await photos(session, simulator, f"FRAME-2:photos=3:spot={spot}")
    assert not same_spot(shown["PBO_AVANT"], shown["PBO_APRES"])


async def test_a_blank_label(simulator: Simulator, session: aiohttp.ClientSession) -> None:
    shown = await photos(session, simulator, "FRAME-3:photos=1:pto=blank")
    assert LabelReader(SETTINGS.pto_reference_pattern).read(shown["PTO"]) is None
