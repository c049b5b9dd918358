"""An OC's TLS files: loaded, their expiry measured, re-read when renewed, kept when broken."""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from cryptography.hazmat.primitives import serialization
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from structlog.testing import capture_logs

from tests.harness import (
    OAUTH_CLIENT,
    OAUTH_SECRET,
    OI_CODE,
    STATIC_TOKEN,
    Broker,
    InProcessWorker,
    cr_stoc,
    load_test_partners,
    make_settings,
)
from tests.partners.pki import Issued, TestCA
from worker.observe.metrics import Metrics
from worker.partners.client import PartnerClient, open_session
from worker.partners.config import Partner, PartnerConfig
from worker.partners.tls import EXPIRY_WARNING_DAYS, PartnerTls, open_tls
from worker.settings import ConfigError
from worker.simulator import Simulator, SimulatorConfig, start

CHECK_SECONDS = 60.0


class Clock:
    """The monotonic clock of the checks and the wall clock of the expiry, moved by the test."""

    def __init__(self) -> None:
        self.monotonic = 1000.0
        self.wall = datetime.now(UTC)

    def advance(self, seconds: float) -> None:
        self.monotonic += seconds
        self.wall += timedelta(seconds=seconds)


class Files:
    """The CA file, client certificate and key of an OC, renewed as cert-manager does: the new
    files are written beside the old ones, then renamed over them."""

    def __init__(self, directory: Path, ca: TestCA) -> None:
        self.ca, self.cert, self.key = (
            directory / n for n in ("ca.pem", "client.pem", "client.key")
        )
        self.ca.write_bytes(ca.cert_pem())

    def install(self, issued: Issued) -> None:
        self.serial = issued.serial
        self.replace(self.cert, issued.cert_pem())
        self.replace(self.key, issued.key_pem())

    def replace(self, path: Path, content: bytes) -> None:
        staged = path.with_suffix(".new")
        staged.write_bytes(content)
        os.replace(staged, path)

    def config(self, **changes: Any) -> PartnerConfig:
        keys = {"ca_file": self.ca, "client_cert": self.cert, "client_key": self.key}
        return PartnerConfig(**{"base_url": "https://oc.example/cri", **keys, **changes})


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA(days=400)


@pytest.fixture
def files(tmp_path: Path, ca: TestCA) -> Files:
    made = Files(tmp_path, ca)
    made.install(ca.issue("oi-photo-worker", days=90))
    return made


def _open(config: PartnerConfig, clock: Clock, metrics: Metrics | None = None) -> PartnerTls:
    return PartnerTls(
        "OCAA",
        config,
        metrics or Metrics(),
        CHECK_SECONDS,
        clock=lambda: clock.monotonic,
        now=lambda: clock.wall,
    )


def _gauge(metrics: Metrics, file: str) -> float | None:
    labels = {"oc": "OCAA", "file": file}
    return metrics.registry.get_sample_value("worker_certificate_expiry_days", labels)


def _failures(metrics: Metrics) -> float | None:
    labels = {"oc": "OCAA"}
    return metrics.registry.get_sample_value("worker_certificate_reload_failures_total", labels)


def test_expiry_days_of_the_client_certificate_and_the_ca(files: Files) -> None:
    metrics, clock = Metrics(), Clock()
    with capture_logs() as logs:
        tls = _open(files.config(), clock, metrics)
    assert tls.days_left("client_cert") == pytest.approx(90, abs=0.01)
    assert _gauge(metrics, "client_cert") == pytest.approx(90, abs=0.01)
    assert _gauge(metrics, "ca_file") == pytest.approx(400, abs=0.01)
    clock.advance(86400 * 10)
    assert _gauge(metrics, "client_cert") == pytest.approx(80, abs=0.01)
    [loaded] = logs
    assert loaded["event"] == "TLS files loaded"
    assert loaded["code_oc"] == "OCAA"
    assert loaded["client_cert_expires"].startswith(str((clock.wall + timedelta(days=80)).date()))
    assert "ca_file_expires" in loaded
    assert "client_cert_serial" in loaded


def test_a_ca_bundle_counts_its_soonest_certificate(files: Files, ca: TestCA) -> None:
    files.replace(files.ca, ca.cert_pem() + TestCA(days=20).cert_pem())
    metrics = Metrics()
    _open(files.config(), Clock(), metrics)
    assert _gauge(metrics, "ca_file") == pytest.approx(20, abs=0.01)


def test_only_the_files_given_are_watched(files: Files) -> None:
    metrics = Metrics()
    _open(files.config(client_cert=None, client_key=None), Clock(), metrics)
    assert _gauge(metrics, "ca_file") is not None
    assert _gauge(metrics, "client_cert") is None


def test_a_renewed_certificate_is_loaded_at_the_next_check(files: Files, ca: TestCA) -> None:
    metrics, clock = Metrics(), Clock()
    tls = _open(files.config(), clock, metrics)
    before = tls.context()
    renewed = ca.issue("oi-photo-worker", days=200)
    files.install(renewed)
    clock.advance(CHECK_SECONDS / 2)
    assert tls.context() is before, "files are looked at once per check period"
    clock.advance(CHECK_SECONDS / 2)
    with capture_logs() as logs:
        after = tls.context()
    assert after is not before
    assert tls.context() is after
    assert _gauge(metrics, "client_cert") == pytest.approx(200, abs=0.01)
    [reloaded] = logs
    assert reloaded["event"] == "TLS files reloaded"
    assert reloaded["client_cert_serial"] == f"{renewed.serial:x}"


def test_a_scrape_finds_a_renewal_of_an_idle_oc(files: Files, ca: TestCA) -> None:
    metrics, clock = Metrics(), Clock()
    _open(files.config(), clock, metrics)
    files.install(ca.issue("oi-photo-worker", days=200))
    clock.advance(CHECK_SECONDS)
    assert _gauge(metrics, "client_cert") == pytest.approx(200, abs=0.01)


@pytest.mark.parametrize("broken", ["garbage", "empty", "missing"])
def test_an_invalid_renewed_file_keeps_the_previous_context(
    files: Files, ca: TestCA, broken: str
) -> None:
    metrics, clock = Metrics(), Clock()
    tls = _open(files.config(), clock, metrics)
    before = tls.context()
    if broken == "missing":
        files.cert.unlink()
    else:
        files.replace(
            files.cert, b"-----BEGIN CERTIFICATE-----\nhalf" if broken == "garbage" else b""
        )
    clock.advance(CHECK_SECONDS)
    with capture_logs() as logs:
        assert tls.context() is before
    [failed] = logs
    assert failed["log_level"] == "error"
    assert "client_cert" in failed["error"]
    assert _failures(metrics) == 1
    assert _gauge(metrics, "client_cert") == pytest.approx(90, abs=0.01)
    # Tried again at the next check, and loaded once the files are whole.
    files.install(ca.issue("oi-photo-worker", days=120))
    clock.advance(CHECK_SECONDS)
    assert tls.context() is not before
    assert _gauge(metrics, "client_cert") == pytest.approx(120, abs=0.01)
    assert _failures(metrics) == 1


def test_a_certificate_whose_key_is_not_renewed_yet_keeps_the_previous_context(
    files: Files, ca: TestCA
) -> None:
    metrics, clock = Metrics(), Clock()
    tls = _open(files.config(), clock, metrics)
    before = tls.context()
    renewed = ca.issue("oi-photo-worker", days=200)
    files.replace(files.cert, renewed.cert_pem())
    clock.advance(CHECK_SECONDS)
    with capture_logs() as logs:
        assert tls.context() is before
    assert "the key is not the certificate's" in logs[0]["error"]
    assert _failures(metrics) == 1
    files.replace(files.key, renewed.key_pem())
    clock.advance(CHECK_SECONDS)
    assert tls.context() is not before
    assert _gauge(metrics, "client_cert") == pytest.approx(200, abs=0.01)


def test_expiring_soon_is_warned_at_load_then_once_a_day(files: Files, ca: TestCA) -> None:
    files.install(ca.issue("oi-photo-worker", days=EXPIRY_WARNING_DAYS - 1))
    clock = Clock()
    with capture_logs() as logs:
        tls = _open(files.config(), clock)
        for _ in range(10):  # ten checks within the same day
            clock.advance(CHECK_SECONDS)
            tls.check()
        clock.advance(86400)
        tls.check()
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert [w["event"] for w in warnings] == ["TLS certificate expires soon"] * 2
    assert [w["file"] for w in warnings] == ["client_cert"] * 2
    assert [w["days_left"] for w in warnings] == pytest.approx([27, 26], abs=0.1)


def test_files_that_do_not_load_stop_the_start(files: Files, ca: TestCA) -> None:
    other = ca.issue("someone-else")
    files.replace(files.key, other.key_pem())
    with pytest.raises(ConfigError, match=r"oc\.OCAA: client_cert and client_key: .*MISMATCH"):
        _open(files.config(), Clock())
    files.replace(files.ca, b"not a certificate")
    with pytest.raises(ConfigError, match=r"oc\.OCAA: ca_file: .*no valid PEM certificate"):
        _open(files.config(), Clock())


@pytest.mark.parametrize("where", ["client_key", "client_cert"])
def test_an_encrypted_key_is_refused_without_prompting(
    files: Files, ca: TestCA, where: str
) -> None:
    issued = ca.issue("oi-photo-worker")
    encryption = serialization.BestAvailableEncryption(b"passphrase")
    encrypted = issued.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    if where == "client_key":
        files.install(issued)
        files.replace(files.key, encrypted)
        config = files.config()
    else:  # the key in the certificate's file, as some tools write them
        files.replace(files.cert, issued.cert_pem() + encrypted)
        config = files.config(client_key=None)
    with pytest.raises(ConfigError, match=f"oc\\.OCAA: {where}.*encrypted"):
        _open(config, Clock())


def test_an_oc_without_tls_files_uses_the_system_cas(files: Files) -> None:
    config = PartnerConfig(base_url="https://oc.example/cri")
    assert open_tls(Partner("OCAA", config, None, None), Metrics(), CHECK_SECONDS) is None
    tls = open_tls(Partner("OCAA", files.config(), None, None), Metrics(), CHECK_SECONDS)
    assert tls is not None
    assert isinstance(tls.context(), ssl.SSLContext)


# ---- over real connections: the simulator over HTTPS, requiring a client certificate


def _serials(simulator: Simulator, since: int = 0) -> list[int | None]:
    return [_serial(call.client_cert_serial) for call in simulator.calls[since:]]


def _serial(value: str | None) -> int | None:
    return int(value, 16) if value else None


@pytest.fixture
async def mtls_simulator(ca: TestCA, tmp_path: Path) -> AsyncIterator[Simulator]:
    (tmp_path / "server").mkdir()
    config = SimulatorConfig(
        client_id=OI_CODE,
        tokens=frozenset({STATIC_TOKEN}),
        oauth_clients={OAUTH_CLIENT: OAUTH_SECRET},
    )
    simulator = await start(config, ssl_context=ca.server_context(tmp_path / "server"))
    yield simulator
    await simulator.close()


async def test_calls_and_token_requests_after_a_renewal_present_the_new_certificate(
    files: Files, ca: TestCA, mtls_simulator: Simulator
) -> None:
    oauth2 = {
        "token_url": f"{mtls_simulator.base_url}/oauth/token",
        "client_id": OAUTH_CLIENT,
        "client_secret_env": "SECRET",
    }
    config = files.config(base_url=mtls_simulator.base_url, oauth2=oauth2)
    partner = Partner("OCAA", config, None, SecretStr(OAUTH_SECRET))
    first = files.serial
    clock, metrics = Clock(), Metrics()
    session = open_session(partner)
    try:
        client = PartnerClient(partner, OI_CODE, session, metrics, _open(config, clock, metrics))
        assert (await client.fetch_metadata("intervention", "A:photos=1")).status == 200
        assert _serials(mtls_simulator) == [first, first]  # token, then metadata
        renewed = ca.issue("oi-photo-worker", days=200)
        files.install(renewed)
        clock.advance(CHECK_SECONDS)
        # A 401 revokes the token: the token endpoint too is called with the renewed certificate.
        assert (await client.fetch_metadata("intervention", "B:unauth=1")).status == 200
    finally:
        await session.close()
    operations = [call.operation for call in mtls_simulator.calls[2:]]
    assert operations == ["getPhotosByIntervention", "token", "getPhotosByIntervention"]
    assert _serials(mtls_simulator, 2) == [renewed.serial] * 3


@pytest.mark.services
async def test_a_renewed_client_certificate_is_used_without_a_restart(
    files: Files,
    ca: TestCA,
    mtls_simulator: Simulator,
    database_url: str,
    amqp_url: str,
    tmp_path: Path,
    broker: Broker,
    db: asyncpg.Pool,
) -> None:
    """The worker (consuming from RabbitMQ, writing to PostgreSQL) completes a request with
    certificate A; A is renewed on disk as cert-manager does; the next request's calls present B,
    and /metrics follows, while the same worker runs on."""
    # Files looked at before every call, so that the next call, not a scrape, finds the renewal.
    settings = make_settings(database_url, amqp_url, tmp_path, certificate_check_seconds=0.001)
    tls = {"ca_file": str(files.ca), "client_cert": str(files.cert), "client_key": str(files.key)}
    partners = load_test_partners(settings, mtls_simulator.base_url, OCAA=tls)
    worker = await InProcessWorker(settings, partners, broker).start()
    try:
        first = await broker.run(db, cr_stoc("OCAA", "CERT-A:photos=2"))
        assert first["status"] == "completed"
        assert set(_serials(mtls_simulator)) == {files.serial}
        assert await _expiry_days(worker) == pytest.approx(90, abs=0.01)
        seen = len(mtls_simulator.calls)

        renewed = ca.issue("oi-photo-worker", days=200)
        files.install(renewed)
        second = await broker.run(db, cr_stoc("OCAA", "CERT-B:photos=2"))
        assert second["status"] == "completed"
        assert _serials(mtls_simulator, seen) == [renewed.serial] * 3  # metadata, two photos
        assert await _expiry_days(worker) == pytest.approx(200, abs=0.01)
        assert worker.metrics.registry.get_sample_value(
            "worker_certificate_reload_failures_total", {"oc": "OCAA"}
        ) in (None, 0.0)
    finally:
        await worker.stop()


async def _expiry_days(worker: InProcessWorker) -> float:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{worker.monitor_url}/metrics") as response,
    ):
        text = await response.text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "worker_certificate_expiry_days" and sample.labels == {
                "oc": "OCAA",
                "file": "client_cert",
            }:
                return float(sample.value)
    raise AssertionError("no worker_certificate_expiry_days for OCAA's client_cert")
