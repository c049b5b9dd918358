"""The HTTP client of an OC: TLS options, mutual TLS, redirects, timeouts."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web

from tests.harness import OI_CODE, STATIC_TOKEN
from worker.attempt.verdicts import Final, judge_metadata
from worker.observe.metrics import Metrics
from worker.partners.client import PartnerClient, PartnerUnreachable, open_session
from worker.partners.config import Partner, PartnerConfig
from worker.partners.tls import open_tls
from worker.simulator import Simulator, SimulatorConfig, start


def _partner(base_url: str, token: str | None = None, **config: Any) -> Partner:
    parsed = PartnerConfig(base_url=base_url, token=token, **config)
    return Partner("OCAA", parsed, parsed.token, None)


async def _metadata(partner: Partner, reference: str = "TLS:photos=1") -> int:
    session = open_session(partner)
    try:
        metrics = Metrics()
        client = PartnerClient(partner, OI_CODE, session, metrics, open_tls(partner, metrics, 60))
        return (await client.fetch_metadata("intervention", reference)).status
    finally:
        await session.close()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def pki(ca: trustme.CA, tmp_path: Path) -> dict[str, Path]:
    files = {name: tmp_path / f"{name}.pem" for name in ("ca", "client", "other_ca")}
    ca.cert_pem.write_to_path(str(files["ca"]))
    ca.issue_cert("oi-photo-worker.example").private_key_and_cert_chain_pem.write_to_path(
        str(files["client"])
    )
    trustme.CA().cert_pem.write_to_path(str(files["other_ca"]))
    return files


@pytest.fixture
async def mtls_simulator(ca: trustme.CA) -> AsyncIterator[Simulator]:
    """The simulator over HTTPS, requiring a client certificate signed by our CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED
    simulator = await start(SimulatorConfig(client_id=OI_CODE), ssl_context=context)
    yield simulator
    await simulator.close()


async def test_mutual_tls_with_a_private_ca(
    mtls_simulator: Simulator, pki: dict[str, Path]
) -> None:
    partner = _partner(mtls_simulator.base_url, ca_file=pki["ca"], client_cert=pki["client"])
    assert mtls_simulator.base_url.startswith("https://")
    assert await _metadata(partner) == 200
    [call] = mtls_simulator.calls
    assert call.client_id == OI_CODE


async def test_without_a_client_certificate_the_call_fails(
    mtls_simulator: Simulator, pki: dict[str, Path]
) -> None:
    with pytest.raises(PartnerUnreachable):
        await _metadata(_partner(mtls_simulator.base_url, ca_file=pki["ca"]))
    assert mtls_simulator.calls == []


async def test_an_unknown_server_certificate_is_refused(
    mtls_simulator: Simulator, pki: dict[str, Path]
) -> None:
    partner = _partner(mtls_simulator.base_url, ca_file=pki["other_ca"], client_cert=pki["client"])
    with pytest.raises(PartnerUnreachable, match="certificate"):
        await _metadata(partner)


@pytest.fixture
async def redirecting_server() -> AsyncIterator[tuple[str, list[str]]]:
    seen: list[str] = []

    async def redirect(request: web.Request) -> web.Response:
        seen.append(request.path)
        if request.path.startswith("/elsewhere"):
            return web.json_response([])
        raise web.HTTPFound("/elsewhere")

    app = web.Application()
    app.router.add_get("/{tail:.*}", redirect)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()


async def test_redirects_are_not_followed(redirecting_server: tuple[str, list[str]]) -> None:
    base_url, seen = redirecting_server
    partner = _partner(base_url, token="s3cr3t-token")
    session = open_session(partner)
    try:
        client = PartnerClient(partner, OI_CODE, session, Metrics(), None)
        answer = await client.fetch_metadata("intervention", "R1")
    finally:
        await session.close()
    assert answer.status == 302
    assert seen == ["/intervention/R1/photos"]
    verdict = judge_metadata(answer)
    assert isinstance(verdict, Final)
    assert verdict.status == "failed"


async def test_a_stalled_answer_times_out(simulator: Simulator) -> None:
    partner = _partner(simulator.base_url, token=STATIC_TOKEN, read_timeout=0.3)
    with pytest.raises(PartnerUnreachable, match="Timeout"):
        await _metadata(partner, "STALL:delay=3000")
    assert await _metadata(partner, "QUICK:photos=1") == 200
