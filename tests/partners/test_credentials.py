"""OAuth 2.0 client credentials against the in-process simulator's token endpoint."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from worker.partners.config import OAuth2Config, Partner, PartnerConfig
from worker.partners.credentials import (
    ClientCredentials,
    NoCredentials,
    StaticToken,
    TokenRefused,
    TokenUnavailable,
    credentials_for,
)
from worker.simulator import Simulator, SimulatorConfig, start

CLIENT = "cid"
SECRET = "p@ss:w/rd+&=%20 x"  # form-encoding matters for both auth methods


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = await start(SimulatorConfig(oauth_clients={CLIENT: SECRET}, token_ttl=600))
    yield simulator
    await simulator.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as client:
        yield client


def oauth2(token_url: str, auth_method: str = "client_secret_basic") -> OAuth2Config:
    return OAuth2Config.model_validate(
        {
            "token_url": token_url,
            "client_id": CLIENT,
            "client_secret_env": "OC_SECRET",
            "auth_method": auth_method,
        }
    )


MakeCredentials = Callable[..., ClientCredentials]


@pytest.fixture
def make(sim: Simulator, session: aiohttp.ClientSession) -> MakeCredentials:
    def make(
        auth_method: str = "client_secret_basic",
        secret: str = SECRET,
        clock: Callable[[], float] = time.time,
    ) -> ClientCredentials:
        config = oauth2(f"{sim.base_url}/oauth/token", auth_method)
        return ClientCredentials(config, SecretStr(secret), session, clock)

    return make


def token_calls(sim: Simulator) -> int:
    return sum(call.operation == "token" for call in sim.calls)


async def api_status(session: aiohttp.ClientSession, sim: Simulator, header: str | None) -> int:
    headers = {"X-Request-Id": str(uuid.uuid4()), "X-Client-Id": "ABCD"}
    if header is not None:
        headers["Authorization"] = header
    async with session.get(sim.metadata_url("INT-1"), headers=headers) as response:
        await response.read()
        return response.status


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
async def test_both_auth_methods_give_a_token_the_api_accepts(
    make: MakeCredentials, sim: Simulator, session: aiohttp.ClientSession, auth_method: str
) -> None:
    credentials = make(auth_method)
    header = await credentials.authorization()
    assert header is not None
    assert header.startswith("Bearer ")
    [call] = [c for c in sim.calls if c.operation == "token"]
    assert call.status == 200
    # Basic puts the credentials in the Authorization header; post puts them in the form.
    assert call.authorization is (auth_method == "client_secret_basic")
    assert await api_status(session, sim, header) == 200
    assert await api_status(session, sim, None) == 401


async def test_token_is_fetched_once_and_cached(make: MakeCredentials, sim: Simulator) -> None:
    credentials = make()
    first = await credentials.authorization()
    assert [await credentials.authorization() for _ in range(5)] == [first] * 5
    assert token_calls(sim) == 1


async def test_concurrent_first_calls_share_one_fetch(
    make: MakeCredentials, sim: Simulator
) -> None:
    credentials = make()
    headers = await asyncio.gather(*(credentials.authorization() for _ in range(10)))
    assert len(set(headers)) == 1
    assert token_calls(sim) == 1


async def test_token_is_renewed_shortly_before_it_expires(
    make: MakeCredentials, sim: Simulator
) -> None:
    clock = Clock()
    credentials = make(clock=clock)
    first = await credentials.authorization()
    # token_ttl=600: renewed 60 s (a tenth of the lifetime) before the end.
    clock.now += 539
    assert await credentials.authorization() == first
    assert token_calls(sim) == 1
    clock.now += 2
    second = await credentials.authorization()
    assert second != first
    assert token_calls(sim) == 2


async def test_renew_fetches_only_for_the_current_token(
    make: MakeCredentials, sim: Simulator
) -> None:
    credentials = make()
    first = await credentials.authorization()
    await credentials.renew("Bearer some-other-token")
    assert token_calls(sim) == 1
    assert await credentials.authorization() == first
    await credentials.renew(first)
    assert token_calls(sim) == 2
    second = await credentials.authorization()
    assert second != first
    await credentials.renew(first)  # a late 401 for the old token changes nothing
    assert token_calls(sim) == 2
    assert await credentials.authorization() == second


async def test_concurrent_renewals_for_one_rejected_token_fetch_once(
    make: MakeCredentials, sim: Simulator
) -> None:
    credentials = make()
    rejected = await credentials.authorization()
    await asyncio.gather(*(credentials.renew(rejected) for _ in range(10)))
    assert token_calls(sim) == 2
    assert await credentials.authorization() != rejected
    assert token_calls(sim) == 2


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
async def test_wrong_secret_is_refused(
    make: MakeCredentials, sim: Simulator, auth_method: str
) -> None:
    credentials = make(auth_method, secret="wrong")
    with pytest.raises(TokenRefused, match="401: invalid_client"):
        await credentials.authorization()
    assert [c.status for c in sim.calls if c.operation == "token"] == [401]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_token_url(session: aiohttp.ClientSession) -> None:
    config = oauth2(f"http://127.0.0.1:{closed_port()}/oauth/token")
    credentials = ClientCredentials(config, SecretStr(SECRET), session)
    with pytest.raises(TokenUnavailable, match="token endpoint"):
        await credentials.authorization()


async def test_credentials_for(session: aiohttp.ClientSession) -> None:
    config = PartnerConfig.model_validate({"base_url": "https://oc.example"})
    none = Partner("ABCD", config, token=None, client_secret=None)
    assert isinstance(credentials_for(none, session), NoCredentials)
    assert await credentials_for(none, session).authorization() is None

    static = Partner("ABCD", config, token=SecretStr("tok"), client_secret=None)
    credentials = credentials_for(static, session)
    assert isinstance(credentials, StaticToken)
    assert await credentials.authorization() == "Bearer tok"
    await credentials.renew("Bearer tok")
    assert await credentials.authorization() == "Bearer tok"

    with_oauth = config.model_copy(update={"oauth2": oauth2("https://auth.example/token")})
    oauth = Partner("ABCD", with_oauth, token=None, client_secret=SecretStr("s"))
    assert isinstance(credentials_for(oauth, session), ClientCredentials)


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (503, "busy", TokenUnavailable),
        (429, "slow down", TokenUnavailable),
        (200, "<html>login</html>", TokenUnavailable),
        (200, '{"token_type": "Bearer"}', TokenUnavailable),
        (
            200,
            '{"access_token": "t", "token_type": "Bearer", "expires_in": "soon"}',
            TokenUnavailable,
        ),
        (400, '{"error": "slow_down"}', TokenUnavailable),
        (400, '{"error": "invalid_scope"}', TokenUnavailable),
        (403, "<html>Request blocked by the firewall</html>", TokenUnavailable),
        (302, "", TokenUnavailable),
        (400, '{"error": "invalid_client"}', TokenRefused),
        (401, '{"error": "invalid_client", "error_description": "bad secret"}', TokenRefused),
    ],
)
async def test_token_endpoint_answers(
    session: aiohttp.ClientSession, status: int, body: str, error: type[Exception]
) -> None:
    async def token(_: web.Request) -> web.Response:
        return web.Response(status=status, text=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/token", token)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        failures: list[str] = []
        credentials = ClientCredentials(
            oauth2(f"http://127.0.0.1:{port}/token"),
            SecretStr(SECRET),
            session,
            on_failure=failures.append,
        )
        with pytest.raises(error):
            await credentials.authorization()
        assert len(failures) == 1
        assert (failures[0] == "invalid_client") is (error is TokenRefused)
    finally:
        await runner.cleanup()


async def test_a_failing_endpoint_is_not_asked_again_at_once(
    session: aiohttp.ClientSession,
) -> None:
    config = oauth2(f"http://127.0.0.1:{closed_port()}/oauth/token")
    clock, failures = Clock(), []
    credentials = ClientCredentials(
        config, SecretStr(SECRET), session, clock, on_failure=failures.append
    )
    for _ in range(3):
        with pytest.raises(TokenUnavailable):
            await credentials.authorization()
    assert failures == ["unreachable"]  # the next two were told without asking
    clock.now += 1.5
    with pytest.raises(TokenUnavailable):
        await credentials.authorization()
    assert failures == ["unreachable", "unreachable"]
