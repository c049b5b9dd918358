"""Authentication by the simulated OC: static tokens, OAuth client credentials, revocation."""

import asyncio
import base64
import uuid
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from worker.simulator import Simulator, SimulatorConfig

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


async def test_open_api_accepts_any_authorization(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    assert (await poll(session, simulator, "INT-1")).status == 200
    assert (await poll(session, simulator, "INT-1", token="whatever")).status == 200


async def test_static_token_is_required(
    make_simulator: MakeSimulator, session: aiohttp.ClientSession
) -> None:
    simulator = await make_simulator(SimulatorConfig(tokens=frozenset({"s3cret"})))
    missing = await poll(session, simulator, "INT-1")
    assert missing.status == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await poll(session, simulator, "INT-1", token="wrong")).status == 401
    assert (await poll(session, simulator, "INT-1", token="s3cret")).status == 200


async def test_static_token_survives_unauth(
    make_simulator: MakeSimulator, session: aiohttp.ClientSession
) -> None:
    simulator = await make_simulator(SimulatorConfig(tokens=frozenset({"s3cret"})))
    statuses = [
        (await poll(session, simulator, "U:unauth=2", token="s3cret")).status for _ in "abc"
    ]
    assert statuses == [401, 401, 200]


def basic_auth(login: str, password: str) -> dict[str, str]:
    credentials = base64.b64encode(f"{login}:{password}".encode()).decode()
    return {"Authorization": f"Basic {credentials}"}


OAUTH = SimulatorConfig(oauth_clients={"oi-app": "pa:ss word"}, token_ttl=60)


async def fetch_token(
    session: aiohttp.ClientSession, simulator: Simulator, *, basic: bool = True, **form: str
) -> tuple[int, dict[str, object], aiohttp.ClientResponse]:
    data = {"grant_type": "client_credentials", **form}
    # RFC 6749 2.3.1: the secret is form-encoded before going into the Basic header.
    headers = basic_auth("oi-app", "pa%3Ass+word") if basic else {}
    url = f"{simulator.base_url}/oauth/token"
    async with session.post(url, data=data, headers=headers) as response:
        return response.status, await response.json(), response


async def test_oauth_basic_and_post_give_working_tokens(
    make_simulator: MakeSimulator, session: aiohttp.ClientSession
) -> None:
    simulator = await make_simulator(OAUTH)
    status, body, response = await fetch_token(session, simulator, scope="photos")
    assert status == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 60
    assert body["scope"] == "photos"
    posted = await fetch_token(
        session, simulator, basic=False, client_id="oi-app", client_secret="pa:ss word"
    )
    assert posted[0] == 200
    for token in (body["access_token"], posted[1]["access_token"]):
        assert isinstance(token, str)
        assert (await poll(session, simulator, "INT-1", token=token)).status == 200


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"client_id": "oi-app", "client_secret": "nope"}, 401, "invalid_client"),
        ({"client_id": "other", "client_secret": "pa:ss word"}, 401, "invalid_client"),
        ({}, 401, "invalid_client"),
        (
            {"client_id": "oi-app", "client_secret": "pa:ss word", "grant_type": "password"},
            400,
            "unsupported_grant_type",
        ),
    ],
)
async def test_oauth_refusals(
    make_simulator: MakeSimulator,
    session: aiohttp.ClientSession,
    form: dict[str, str],
    status: int,
    error: str,
) -> None:
    simulator = await make_simulator(OAUTH)
    answer = await fetch_token(session, simulator, basic=False, **form)
    assert (answer[0], answer[1]) == (status, {"error": error})


async def test_oauth_tokens_expire(
    make_simulator: MakeSimulator, session: aiohttp.ClientSession
) -> None:
    simulator = await make_simulator(SimulatorConfig(oauth_clients={"oi-app": "x"}, token_ttl=0.1))
    async with session.post(
        f"{simulator.base_url}/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth("oi-app", "x"),
    ) as response:
        body = await response.json()
    assert body["expires_in"] == 0.1
    assert (await poll(session, simulator, "INT-1", token=body["access_token"])).status == 200
    await asyncio.sleep(0.15)
    assert (await poll(session, simulator, "INT-1", token=body["access_token"])).status == 401


async def test_unauth_revokes_the_oauth_token(
    make_simulator: MakeSimulator, session: aiohttp.ClientSession
) -> None:
    simulator = await make_simulator(OAUTH)
    first = str((await fetch_token(session, simulator))[1]["access_token"])
    assert (await poll(session, simulator, "U:unauth=1", token=first)).status == 401
    assert (await poll(session, simulator, "U:unauth=1", token=first)).status == 401
    second = str((await fetch_token(session, simulator))[1]["access_token"])
    assert (await poll(session, simulator, "U:unauth=1", token=second)).status == 200


async def test_oauth_needs_a_grant_type(
    make_simulator: MakeSimulator, session: aiohttp.ClientSession
) -> None:
    simulator = await make_simulator(OAUTH)
    form = {"client_id": "oi-app", "client_secret": "pa:ss word"}
    async with session.post(f"{simulator.base_url}/oauth/token", data=form) as response:
        assert (response.status, await response.json()) == (400, {"error": "invalid_request"})


async def test_oauth_basic_refusal_challenges(
    make_simulator: MakeSimulator, session: aiohttp.ClientSession
) -> None:
    simulator = await make_simulator(OAUTH)
    async with session.post(
        f"{simulator.base_url}/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth("oi-app", "wrong"),
    ) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic")
        assert response.headers["Cache-Control"] == "no-store"
