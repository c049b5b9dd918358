"""getPhoto over real HTTP: the bytes served, and the photo scenarios."""

import asyncio
import hashlib
import io
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from PIL import Image

from worker.simulator import Simulator, SimulatorConfig

MAGIC = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n"}

MakeSimulator = Callable[..., Awaitable[Simulator]]


def api_headers(client_id: str = "ABCD", token: str | None = None) -> dict[str, str]:
    headers = {"X-Request-Id": str(uuid.uuid4()), "X-Client-Id": client_id}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


async def list_photos(
    session: aiohttp.ClientSession, simulator: Simulator, reference: str
) -> list[dict[str, Any]]:
    async with session.get(simulator.metadata_url(reference), headers=api_headers()) as response:
        assert response.status == 200
        records: list[dict[str, Any]] = await response.json()
        return records


async def download(
    session: aiohttp.ClientSession, simulator: Simulator, photo_id: str
) -> tuple[int, bytes, aiohttp.ClientResponse]:
    """Read a photo the way the worker does, chunk by chunk."""
    async with session.get(simulator.photo_url(photo_id), headers=api_headers()) as response:
        body = b"".join([chunk async for chunk in response.content.iter_chunked(64 * 1024)])
        return response.status, body, response


def assert_real_image(record: dict[str, Any], body: bytes) -> None:
    assert len(body) == record["size"]
    assert body.startswith(MAGIC[record["mimeType"]])
    with Image.open(io.BytesIO(body)) as image:
        image.load()
        assert image.size == (record["width"], record["height"])
        assert Image.MIME[image.format or ""] == record["mimeType"]


async def test_photos_are_the_declared_images(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    records = await list_photos(session, simulator, "INT-0001:photos=4")
    digests = set()
    for record in records:
        status, body, response = await download(session, simulator, record["id"])
        assert status == 200
        assert response.headers["Content-Type"] == record["mimeType"]
        assert response.headers["Content-Length"] == str(record["size"])
        assert_real_image(record, body)
        digests.add(hashlib.sha256(body).hexdigest())
    assert len(digests) == 4


@pytest.mark.parametrize(
    ("reference", "mime_types"),
    [
        ("F:format=png:photos=2", ["image/png", "image/png"]),
        ("F:format=jpeg:photos=2", ["image/jpeg", "image/jpeg"]),
        ("F:format=jpeg:photos=2:size=20k", ["image/jpeg", "image/jpeg"]),
    ],
)
async def test_formats(
    simulator: Simulator, session: aiohttp.ClientSession, reference: str, mime_types: list[str]
) -> None:
    records = await list_photos(session, simulator, reference)
    assert [record["mimeType"] for record in records] == mime_types
    for record in records:
        assert_real_image(record, (await download(session, simulator, record["id"]))[1])


async def test_sized_photos(simulator: Simulator, session: aiohttp.ClientSession) -> None:
    records = await list_photos(session, simulator, "BIG:size=3m:photos=3")
    assert [record["size"] for record in records] == [3 * 1024 * 1024] * 3
    bodies = [(await download(session, simulator, record["id"]))[1] for record in records]
    for record, body in zip(records, bodies, strict=True):
        assert len(body) == record["size"]
        with Image.open(io.BytesIO(body[: 512 * 1024])) as header:
            assert header.size == (record["width"], record["height"])
    # Each photo is another image (a variant of the picture rendered once per format and size).
    assert len({hashlib.sha256(body).hexdigest() for body in bodies}) == 3
    again = (await download(session, simulator, records[0]["id"]))[1]
    assert again == bodies[0]


async def test_photoerrors_fail_each_photo_first(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    first, second = await list_photos(session, simulator, "E:photos=2:photoerrors=2:retry_after=3")
    answers = [await download(session, simulator, first["id"]) for _ in range(3)]
    assert [status for status, _, _ in answers] == [500, 500, 200]
    assert answers[0][2].headers["Retry-After"] == "3"
    assert (await download(session, simulator, second["id"]))[0] == 500


async def test_truncated_body_is_a_payload_error(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    (record,) = await list_photos(session, simulator, "T:photos=1:size=300k:truncate=1")
    with pytest.raises(aiohttp.ClientPayloadError):
        await download(session, simulator, record["id"])
    status, body, _ = await download(session, simulator, record["id"])
    assert status == 200
    assert len(body) == record["size"]


async def test_truncation_comes_after_errors(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    (record,) = await list_photos(session, simulator, "T:photos=1:photoerrors=1:truncate=1")
    assert (await download(session, simulator, record["id"]))[0] == 500
    with pytest.raises(aiohttp.ClientPayloadError):
        await download(session, simulator, record["id"])
    assert_real_image(record, (await download(session, simulator, record["id"]))[1])


async def test_badmagic_serves_another_format(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    bad, good = await list_photos(session, simulator, "M:photos=2:badmagic=1")
    _, body, response = await download(session, simulator, bad["id"])
    assert bad["mimeType"] == response.headers["Content-Type"] == "image/jpeg"
    assert body.startswith(MAGIC["image/png"])
    assert len(body) == bad["size"]
    assert_real_image(good, (await download(session, simulator, good["id"]))[1])


async def test_badrecord_breaks_one_record(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    records = await list_photos(session, simulator, "B:photos=3:badrecord=2")
    assert [record["type"] for record in records] == ["PTO", "SELFIE", "PBO_APRES"]


async def test_mismatch_declares_wrong_dimensions(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    lying, honest = await list_photos(session, simulator, "W:photos=2:mismatch=1")
    _, body, _ = await download(session, simulator, lying["id"])
    assert len(body) != lying["size"]
    with Image.open(io.BytesIO(body)) as image:
        assert image.size != (lying["width"], lying["height"])
    assert_real_image(honest, (await download(session, simulator, honest["id"]))[1])


async def test_photo404_and_unknown_ids(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    records = await list_photos(session, simulator, "N:photos=3:photo404=2")
    assert [(await download(session, simulator, r["id"]))[0] for r in records] == [200, 404, 200]
    assert (await download(session, simulator, records[1]["id"]))[0] == 404
    unknown = "00000000-0000-0000-0000-000000000000"
    assert (await download(session, simulator, unknown))[0] == 404


async def test_slow_photos_pause_between_chunks(
    make_simulator: MakeSimulator, session: aiohttp.ClientSession
) -> None:
    simulator = await make_simulator(SimulatorConfig(chunk_size=2048))
    (record,) = await list_photos(session, simulator, "S:photos=1:size=8k:slow=50")
    started = time.monotonic()
    status, body, _ = await download(session, simulator, record["id"])
    assert status == 200
    assert len(body) == 8192
    assert time.monotonic() - started >= 0.14  # four chunks, three pauses


async def test_getphoto_needs_the_token_too(
    make_simulator: MakeSimulator, session: aiohttp.ClientSession
) -> None:
    simulator = await make_simulator(SimulatorConfig(tokens=frozenset({"t"})))
    url = simulator.metadata_url("A:photos=1")
    async with session.get(url, headers=api_headers(token="t")) as response:
        (record,) = await response.json()
    assert (await download(session, simulator, record["id"]))[0] == 401
    headers = api_headers(token="t")
    async with session.get(simulator.photo_url(record["id"]), headers=headers) as response:
        assert response.status == 200


async def test_many_parallel_downloads(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    records = await list_photos(session, simulator, "P:photos=40:size=200k")
    results = await asyncio.gather(*(download(session, simulator, r["id"]) for r in records))
    assert {(status, len(body)) for status, body, _ in results} == {(200, 200 * 1024)}
