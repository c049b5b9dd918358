"""Tried as a new user would: docs/getting-started.md's steps 4 to 9 followed literally, for one
OC reached over mutual TLS with a static token, photos in S3 (moto_server).

The page's files are used as written; only what points at this machine's services is replaced
(the OC's address, /etc/photo-worker, the RabbitMQ, PostgreSQL and S3 addresses and keys), and
the metrics port is left to the system (other tests share the machine)."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import boto3
import pytest
from dotenv import dotenv_values

from tests.harness import Broker
from tests.partners.pki import TestCA
from tests.services import wait_until
from worker.simulator import Simulator, SimulatorConfig, start

pytestmark = [pytest.mark.services, pytest.mark.slow]

PAGE = Path(__file__).resolve().parents[2] / "docs" / "getting-started.md"
BIN = Path(sys.executable).parent
ETC = "/etc/photo-worker/"
OC_URL = "https://photos.oc-abcd.example/cri/v1"
REFERENCE = "GETTING-STARTED-1:photos=3"


def _file(page: str, title: str) -> str:
    """The fenced block the page titles with this path."""
    match = re.search(rf'^```\w+ title="{re.escape(title)}"\n(.*?)^```', page, re.S | re.M)
    assert match, f"getting-started.md has no block titled {title}"
    return match.group(1)


def _commands(page: str, heading: str) -> list[str]:
    """The lines of the first sh block under this heading."""
    section = page.split(heading, 1)[1]
    match = re.search(r"^```sh\n(.*?)^```", section, re.S | re.M)
    assert match
    return match.group(1).strip().splitlines()


class Shell:
    """A shell that has only what the page puts in it (the worker's commands on its PATH)."""

    def __init__(self, etc: Path, source: str) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("WORKER_", "AWS_"))}
        # The one setting left at its default that a shared test machine cannot keep: port 9300.
        self.env = clean | {"PATH": f"{BIN}:{os.environ['PATH']}", "WORKER_METRICS_PORT": "0"}
        self.etc = etc
        self.source = source

    def script(self, command: str) -> list[str]:
        return ["bash", "-c", f"{self.source}\n{command}".replace(ETC, f"{self.etc}/")]

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.script(command), env=self.env, capture_output=True, text=True, check=False
        )


@pytest.fixture
def etc(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    return tmp_path / "etc"


@pytest.fixture
def ca() -> TestCA:
    return TestCA(days=400)


@pytest.fixture
async def oc_api(ca: TestCA, tmp_path: Path) -> AsyncIterator[Simulator]:
    """The OC: its API over mutual TLS, knowing the OI as the page's OI code and token."""
    page = PAGE.read_text(encoding="utf-8")
    env = dotenv_values(stream=io.StringIO(_file(page, f"{ETC}worker.env")))
    (tmp_path / "server").mkdir()
    config = SimulatorConfig(client_id=env["WORKER_OI_CODE"], tokens=frozenset({env["ABCD_TOKEN"]}))
    simulator = await start(config, ssl_context=ca.server_context(tmp_path / "server"))
    yield simulator
    await simulator.close()


async def test_from_the_page_to_a_worker_over_mutual_tls_storing_in_s3(
    etc: Path,
    ca: TestCA,
    oc_api: Simulator,
    database_url: str,
    amqp_url: str,
    broker: Broker,
    db: asyncpg.Pool,
    moto_endpoint: str,
    s3_bucket: str,
) -> None:
    page = PAGE.read_text(encoding="utf-8")
    # Step 4: the partners file, as written; the OC's files are what it would have sent.
    partners = _file(page, f"{ETC}partners.toml")
    assert OC_URL in partners
    (etc / "partners.toml").write_text(
        partners.replace(ETC, f"{etc}/").replace(OC_URL, oc_api.base_url), encoding="utf-8"
    )
    (etc / "abcd-ca.pem").write_bytes(ca.cert_pem())
    client = ca.issue("oi-photo-worker", days=90)
    client.write(etc / "oi-client.pem", etc / "oi-client.key")
    # Steps 5 and 7: the environment file, as written but for this machine's services.
    written = _file(page, f"{ETC}worker.env")
    ours = {
        "WORKER_AMQP_URL": amqp_url,
        "WORKER_DATABASE_URL": database_url,
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }
    lines = []
    for line in written.splitlines():
        name, _, value = line.partition("=")
        value = ours.get(name, value).replace(ETC, f"{etc}/")
        if name == "WORKER_STORAGE_URL":
            value = re.sub(r"^s3://[^/]+/", f"s3://{s3_bucket}/", value)
        lines.append(f"{name}={value}")
    (etc / "worker.env").write_text("\n".join(lines) + "\n", encoding="utf-8")
    prefix = re.search(r"^WORKER_STORAGE_URL=s3://[^/]+/(.+)$", written, re.M)
    assert prefix, "the page's storage is S3"

    # Step 8: migrate and run.
    source, migrate, run = _commands(page, "## 8. Migrate and run")
    assert (migrate, run) == ("worker migrate", "worker run")
    shell = Shell(etc, source)
    done = shell.run(migrate)
    assert done.returncode == 0, done.stderr
    with (etc.parent / "worker.log").open("wb") as log:
        worker = subprocess.Popen(
            shell.script(f"exec {run}"), env=shell.env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            await wait_until(broker.consumers, timeout=60, what="`worker run` consuming")
            await _first_status(page, shell, db)
        finally:
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=40) == 0

    stored = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    ).list_objects_v2(Bucket=s3_bucket, Prefix=f"{prefix.group(1)}/ABCD/")
    assert stored.get("KeyCount") == 3
    serials = {int(call.client_cert_serial or "0", 16) for call in oc_api.calls}
    assert serials == {client.serial}, "every call presented the page's client certificate"


async def _first_status(page: str, shell: Shell, db: asyncpg.Pool) -> None:
    """Step 9: a first message, then the page's `worker status` and `worker show`."""
    sent = shell.run(f"worker send --oc ABCD --intervention '{REFERENCE}'")
    assert sent.returncode == 0, sent.stderr

    async def finished() -> str | None:
        status: str | None = await db.fetchval(
            "SELECT status FROM photo_requests WHERE reference_commande_sous_traitant_oi = $1"
            " AND status <> 'pending'",
            REFERENCE,
        )
        return status

    assert await wait_until(finished, timeout=60, what="the request finished") == "completed"
    for written in _commands(page, "## 9. The first `worker status`"):
        shown = shell.run(written.replace("<the reference>", f"'{REFERENCE}'"))
        assert shown.returncode == 0, shown.stderr
        assert "ABCD" in shown.stdout
        assert "completed" in shown.stdout
