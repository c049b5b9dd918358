"""The simulated OC API over real HTTP: header checks, the journal and metadata scenarios."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

import aiohttp
import pytest

from worker.simulator import Simulator, SimulatorConfig, serve_forever

PHOTO_TYPES = [
    "PTO",
    "PBO_AVANT",
    "PBO_APRES",
    "PM_AVANT",
    "PM_APRES",
    "PT_PENETRATION_LGT",
    "AERIEN_CABLE_TRAVERSE",
    "AERIEN_CABLE_POTEAU",
]

MakeSimulator = Callable[..., Awaitable[Simulator]]


def api_headers(client_id: str = "ABCD", token: str | None = None) -> dict[str, str]:
    headers = {"X-Request-Id": str(uuid.uuid4()), "X-Client-Id": client_id}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


async def poll(
    session: aiohttp.ClientSession, simulator: Simulator, reference: str, **header_args: str
) -> aiohttp.ClientResponse:
    """One metadata call; the body is read so the response can be inspected after release."""
    url = simulator.metadata_url(reference)
    async with session.get(url, headers=api_headers(**header_args)) as response:
        await response.read()
        return response


async def poll_statuses(
    session: aiohttp.ClientSession, simulator: Simulator, reference: str, calls: int
) -> list[int]:
    return [(await poll(session, simulator, reference)).status for _ in range(calls)]


async def test_health(simulator: Simulator, session: aiohttp.ClientSession) -> None:
    async with session.get(f"{simulator.base_url}/healthz") as response:
        assert response.status == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Client-Id": "ABCD"},
        {"X-Request-Id": "not-a-uuid", "X-Client-Id": "ABCD"},
        {"X-Request-Id": uuid.uuid4().hex, "X-Client-Id": "ABCD"},
        {"X-Request-Id": f"{{{uuid.uuid4()}}}", "X-Client-Id": "ABCD"},
        {"X-Request-Id": str(uuid.uuid4())},
        {"X-Request-Id": str(uuid.uuid4()), "X-Client-Id": "abcd"},
        {"X-Request-Id": str(uuid.uuid4()), "X-Client-Id": "ABCDE"},
        {"X-Request-Id": str(uuid.uuid4()), "X-Client-Id": "AB-D"},
    ],
)
async def test_bad_headers_are_refused(
    simulator: Simulator, session: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    async with session.get(simulator.metadata_url("INT-1"), headers=headers) as response:
        assert response.status == 400
        body = await response.json()
    assert body["error"] == "bad_request"
    assert "X-" in body["message"]
    async with session.get(f"{simulator.base_url}/photo/x", headers=headers) as response:
        assert response.status == 400


async def test_other_client_is_forbidden(
    make_simulator: MakeSimulator, session: aiohttp.ClientSession
) -> None:
    simulator = await make_simulator(SimulatorConfig(client_id="OI01"))
    assert (await poll(session, simulator, "INT-1", client_id="OI02")).status == 403
    assert (await poll(session, simulator, "INT-1", client_id="OI01")).status == 200


async def test_listing_follows_the_spec(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    response = await poll(session, simulator, "INT-0001:photos=9")
    records = await response.json()
    assert response.status == 200
    assert len(records) == 9
    assert [record["type"] for record in records] == [*PHOTO_TYPES, "PTO"]
    for index, record in enumerate(records, start=1):
        assert uuid.UUID(record["id"]).version == 5
        assert record["mimeType"] == ("image/jpeg" if index % 2 else "image/png")
        assert datetime.fromisoformat(record["date"]).utcoffset() is not None
        assert isinstance(record["width"], int)
        assert isinstance(record["size"], int)
        assert set(record["geoPositionCoords"]) == {"latitude", "longitude", "projection"}
        assert {"name", "title", "description"} <= set(record)
    again = await (await poll(session, simulator, "INT-0001:photos=9")).json()
    assert again == records


async def test_zero_photos_is_an_empty_list(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    response = await poll(session, simulator, "EMPTY:photos=0")
    assert (response.status, await response.json()) == (200, [])


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("A:after=2", [202, 202, 200]),
        ("A:after=never", [202, 202, 202, 202]),
        ("A:after=1:final=204", [202, 204, 204]),
        ("A:status=403", [403, 403]),
        ("A:status=500", [500, 500]),
        ("A:errors=2", [500, 500, 200]),
        ("A:errors=1:code=502", [502, 200]),
        ("A:notfound=2", [404, 404, 200]),
        ("A:unauth=1", [401, 200]),
    ],
)
async def test_metadata_scenarios(
    simulator: Simulator, session: aiohttp.ClientSession, reference: str, expected: list[int]
) -> None:
    assert await poll_statuses(session, simulator, reference, len(expected)) == expected


async def test_retry_after_on_202_429_and_5xx(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    reference = "R:errors=1:code=429:after=1:retry_after=7"
    answers = [await poll(session, simulator, reference) for _ in range(3)]
    assert [answer.status for answer in answers] == [429, 202, 200]
    assert [answer.headers.get("Retry-After") for answer in answers] == ["7", "7", None]
    failing = await poll(session, simulator, "R:status=503:retry_after=2")
    assert failing.headers["Retry-After"] == "2"
    assert "Retry-After" not in (await poll(session, simulator, "R:after=1")).headers


async def test_counters_are_per_operation_and_reference(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    assert await poll_statuses(session, simulator, "C:after=1", 1) == [202]
    assert await poll_statuses(session, simulator, "D:after=1", 1) == [202]
    url = simulator.metadata_url("C:after=1", resource="order")
    async with session.get(url, headers=api_headers()) as response:
        assert response.status == 202
    assert await poll_statuses(session, simulator, "C:after=1", 1) == [200]


async def test_invalid_scenario_says_why(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    response = await poll(session, simulator, "X:afetr=3")
    assert response.status == 400
    assert "afetr" in (await response.json())["message"]


async def test_delay_makes_clients_time_out(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    timeout = aiohttp.ClientTimeout(total=0.1)
    url = simulator.metadata_url("SLOW:delay=400:delayed=1")
    with pytest.raises(asyncio.TimeoutError):
        async with session.get(url, headers=api_headers(), timeout=timeout) as response:
            await response.read()
    async with session.get(url, headers=api_headers(), timeout=timeout) as response:
        assert response.status == 200


async def test_references_arrive_decoded(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    response = await poll(session, simulator, "ORD/2024 é#1?:photos=1")
    assert response.status == 200
    (call,) = simulator.calls
    assert call.reference == "ORD/2024 é#1?:photos=1"
    assert call.path.startswith("/intervention/ORD%2F2024%20%C3%A9%231%3F")


async def test_journal_tells_every_call(
    make_simulator: MakeSimulator, session: aiohttp.ClientSession
) -> None:
    simulator = await make_simulator(SimulatorConfig(tokens=frozenset({"t"})))
    headers = api_headers(token="t")
    async with session.get(simulator.metadata_url("J:photos=1"), headers=headers) as response:
        photo_id = (await response.json())[0]["id"]
    async with session.get(f"{simulator.base_url}/photo/{photo_id}", headers=api_headers()):
        pass
    async with session.get(f"{simulator.base_url}/_sim/calls") as response:
        calls = await response.json()
    assert [(c["operation"], c["status"], c["authorization"]) for c in calls] == [
        ("getPhotosByIntervention", 200, True),
        ("getPhoto", 401, False),
    ]
    assert calls[0]["request_id"] == headers["X-Request-Id"]
    assert calls[0]["client_id"] == "ABCD"
    assert calls[0]["reference"] == "J:photos=1"
    assert calls[1]["photo_id"] == photo_id
    assert calls[0]["at"] <= calls[1]["at"]
    async with session.delete(f"{simulator.base_url}/_sim/calls") as response:
        assert response.status == 204
    assert simulator.calls == []


async def test_serve_forever_until_stopped(
    session: aiohttp.ClientSession, capsys: pytest.CaptureFixture[str]
) -> None:
    stop = asyncio.Event()
    server = asyncio.create_task(serve_forever(SimulatorConfig(), "127.0.0.1", 0, stop))
    while "listening" not in (output := capsys.readouterr().out):
        await asyncio.sleep(0.01)
    url = output.strip().rsplit(" ", 1)[-1]
    assert url.startswith("http://127.0.0.1:")
    async with session.get(f"{url}/healthz") as response:
        assert response.status == 200
    stop.set()
    await asyncio.wait_for(server, 5)
