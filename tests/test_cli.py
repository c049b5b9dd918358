"""The `worker` command: clear start-up errors, help, the simulator process, the example files."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.services import free_port, wait_for_port
from worker.cli import build_parser
from worker.partners.config import load_partners
from worker.settings import Settings, env_name

ROOT = Path(__file__).parent.parent


def _worker(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("WORKER_")}
    return subprocess.run(
        [sys.executable, "-m", "worker", *args],
        env={**base, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_run_without_the_oi_code_stops_with_one_clear_message(tmp_path: Path) -> None:
    done = _worker("run", cwd=tmp_path)
    assert done.returncode == 2
    assert "WORKER_OI_CODE" in done.stderr
    assert done.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ('[oc.ABCD]\nbase_url = "https://x.example"\ntokn = "x"\n', "oc.ABCD.tokn"),
        ('[oc.ABCD]\nbase_url = "not a url"\n', "oc.ABCD.base_url"),
        ('[oc.ABCD]\nbase_url = "https://x.example"\nmax_wait = "a week"\n', "oc.ABCD.max_wait"),
        ('[oc.ABCD]\nbase_url = "https://x.example"\ntoken_env = "NOPE_TOKEN"\n', "NOPE_TOKEN"),
        ("[oc.ABCD\n", "not valid TOML"),
    ],
)
def test_a_bad_partners_file_stops_start_up_naming_the_key(
    tmp_path: Path, content: str, named: str
) -> None:
    (tmp_path / "partners.toml").write_text(content)
    done = _worker("run", env={"WORKER_OI_CODE": "OI01"}, cwd=tmp_path)
    assert done.returncode == 2
    assert named in done.stderr
    assert "configuration error" in done.stderr
    assert done.stdout == ""  # nothing started, nothing logged


def test_a_missing_partners_file_is_named(tmp_path: Path) -> None:
    done = _worker(
        "run", env={"WORKER_OI_CODE": "OI01", "WORKER_PARTNERS_FILE": "nope.toml"}, cwd=tmp_path
    )
    assert done.returncode == 2
    assert "nope.toml" in done.stderr


def _commands() -> list[str]:
    subparsers = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    )
    return list(subparsers.choices)


def test_help_lists_every_command_and_version_says_which() -> None:
    done = _worker("--help")
    assert done.returncode == 0
    listed = re.findall(r"^    (\S+)", done.stdout, re.M)
    assert listed == _commands()
    assert {"migrate", "run", "status", "show", "console", "demo"} <= set(listed)
    version = _worker("--version")
    assert version.returncode == 0
    assert re.fullmatch(r"worker \d+\.\d+\.\d+\n", version.stdout)


@pytest.mark.parametrize("command", _commands())
def test_every_command_has_help_naming_the_settings_it_reads(command: str) -> None:
    done = _worker(command, "--help")
    assert done.returncode == 0
    assert "usage: worker" in done.stdout
    text = " ".join(done.stdout.split())
    named = re.search(r"Settings read \(environment, or \.env\): ([A-Z0-9_, ]+)\.", text)
    if command == "simulator":
        assert "Reads no setting." in text
        return
    assert named, text
    known = {env_name(field) for field in Settings.model_fields}
    variables = named.group(1).split(", ")
    assert set(variables) <= known
    assert len(variables) == len(set(variables))


@pytest.mark.parametrize(
    ("command", "variables"),
    [
        (
            "migrate",
            {
                "WORKER_DATABASE_URL",
                "WORKER_MIGRATE_LOCK_TIMEOUT_SECONDS",
                "WORKER_MIGRATE_LOCK_RETRIES",
            },
        ),
        ("run", {"WORKER_AMQP_URL", "WORKER_PARTNERS_FILE", "AWS_REGION"}),
        ("status", {"WORKER_DATABASE_URL", "WORKER_AMQP_URL"}),
        ("replay-dead-letters", {"WORKER_AMQP_URL", "WORKER_DATABASE_URL"}),
        ("console", {"WORKER_CONSOLE_PASSWORD", "WORKER_STORAGE_URL", "WORKER_DATABASE_URL"}),
    ],
)
def test_what_each_command_reads(command: str, variables: set[str]) -> None:
    text = " ".join(_worker(command, "--help").stdout.split())
    assert all(variable in text for variable in variables)
    if command != "console":
        assert "WORKER_CONSOLE_" not in text


def test_replay_accepts_only_known_reasons() -> None:
    done = _worker("replay-dead-letters", "--reason", "unkown_oc")
    assert done.returncode == 2
    assert "invalid choice: 'unkown_oc'" in done.stderr
    assert "unknown_oc" in done.stderr


def test_simulator_process_serves_and_stops_on_sigterm() -> None:
    port = free_port()
    command = [sys.executable, "-m", "worker", "simulator", "--port", str(port), "--token", "t"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            wait_for_port(port, timeout=30)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
                assert answer.status == 200
        finally:
            process.send_signal(signal.SIGTERM)
            started = time.monotonic()
            output, _ = process.communicate(timeout=10)
        assert process.returncode == 0
        assert time.monotonic() - started < 5
        assert f"http://127.0.0.1:{port}" in output


def test_the_example_partners_file_is_valid(tmp_path: Path) -> None:
    text = (ROOT / "deploy" / "partners.example.toml").read_text()
    for name in ("efgh-ca.pem", "oi-client.pem", "oi-client.key"):
        (tmp_path / name).write_text("placeholder")
        text = text.replace(f"/etc/photo-worker/{name}", str(tmp_path / name))
    (tmp_path / "partners.toml").write_text(text)
    partners = load_partners(
        tmp_path / "partners.toml", {"ABCD_TOKEN": "a", "EFGH_CLIENT_SECRET": "b"}
    )
    assert sorted(partners) == ["ABCD", "EFGH"]
    assert (
        partners["EFGH"].url("order", "R/1")
        == "https://api.oc-efgh.example/interop/cri/v2/orders/R%2F1/photos"
    )


@pytest.mark.parametrize(
    ("variable", "url", "named"),
    [
        ("WORKER_AMQP_URL", "amqp://u:pw-0f9e8d@127.0.0.1:{port}/", "RabbitMQ"),
        ("WORKER_DATABASE_URL", "postgresql://u:pw-0f9e8d@127.0.0.1:{port}/x", "PostgreSQL"),
    ],
)
@pytest.mark.services
def test_an_unreachable_service_is_named_without_its_password(
    tmp_path: Path, database_url: str, variable: str, url: str, named: str
) -> None:
    (tmp_path / "partners.toml").write_text('[oc.ABCD]\nbase_url = "http://127.0.0.1:9"\n')
    env = {"WORKER_OI_CODE": "OI01", "WORKER_DATABASE_URL": database_url}
    env[variable] = url.format(port=free_port())
    done = _worker("run", env=env, cwd=tmp_path)
    assert done.returncode == 1
    assert f"{named} at 127.0.0.1" in done.stdout
    assert "pw-0f9e8d" not in done.stdout + done.stderr


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    """Everything the command said, which must be one line and no traceback."""
    said = (done.stdout + done.stderr).strip()
    assert "Traceback" not in said, said
    assert said.count("\n") == 0, said
    return said


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("postgresql://postgres@127.0.0.1:5432/no_such_database", "does not exist"),
        ("postgresql://postgres@127.0.0.1:{port}/x", "Connect call failed"),
    ],
)
def test_migrate_against_a_missing_or_unreachable_database_is_one_line(
    tmp_path: Path, url: str, named: str
) -> None:
    done = _worker("migrate", env={"WORKER_DATABASE_URL": url.format(port=free_port())})
    assert done.returncode == 1
    said = _one_line(done)
    assert said.startswith("worker: cannot reach PostgreSQL at 127.0.0.1")
    assert named in said


def _run_env(database_url: str, amqp_url: str, tmp_path: Path, **more: str) -> dict[str, str]:
    (tmp_path / "partners.toml").write_text('[oc.ABCD]\nbase_url = "http://127.0.0.1:9"\n')
    return {
        "WORKER_OI_CODE": "OI01",
        "WORKER_DATABASE_URL": database_url,
        "WORKER_AMQP_URL": amqp_url,
        "WORKER_STORAGE_URL": f"file://{tmp_path}/photos",
        "WORKER_METRICS_PORT": "0",
        "WORKER_LOG_FORMAT": "json",
        **more,
    }


@pytest.mark.services
def test_a_storage_that_cannot_be_written_stops_the_start(
    tmp_path: Path, database_url: str, amqp_url: str
) -> None:
    (tmp_path / "photos").write_text("a file where the photo directory should be")
    done = _worker("run", env=_run_env(database_url, amqp_url, tmp_path), cwd=tmp_path)
    assert done.returncode == 2
    said = _one_line(done)
    assert said.startswith("worker: configuration error: WORKER_STORAGE_URL: cannot use file://")


@pytest.mark.services
def test_s3_without_credentials_stops_the_start_saying_so(
    tmp_path: Path, database_url: str, amqp_url: str, moto_endpoint: str, s3_bucket: str
) -> None:
    env = _run_env(
        database_url,
        amqp_url,
        tmp_path,
        WORKER_STORAGE_URL=f"s3://{s3_bucket}/photos",
        AWS_ENDPOINT_URL=moto_endpoint,
        AWS_REGION="us-east-1",
    )
    done = _worker("run", env={k: v for k, v in env.items()}, cwd=tmp_path)
    assert done.returncode == 1
    said = _one_line(done)
    assert "cannot write" in said
    assert "no S3 credentials" in said


@pytest.mark.services
def test_a_metrics_port_in_use_is_one_line(
    tmp_path: Path, database_url: str, amqp_url: str
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        env = _run_env(
            database_url,
            amqp_url,
            tmp_path,
            WORKER_METRICS_PORT=port,
            WORKER_METRICS_HOST="127.0.0.1",
        )
        done = _worker("run", env=env, cwd=tmp_path)
    assert done.returncode == 2
    assert f"WORKER_METRICS_PORT: cannot serve on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.services
@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("amqp://guest:guest@127.0.0.1:5672/no-such-vhost", "virtual host 'no-such-vhost' refused"),
        ("amqp://guest:wrong@127.0.0.1:5672/", "login refused for user 'guest'"),
    ],
)
def test_a_refused_vhost_or_login_is_named(
    tmp_path: Path, database_url: str, url: str, named: str
) -> None:
    done = _worker("run", env=_run_env(database_url, url, tmp_path), cwd=tmp_path)
    assert done.returncode == 1
    said = done.stdout.strip().splitlines()[-1]
    assert named in said
    assert "Traceback" not in done.stdout + done.stderr


def test_secrets_named_by_the_partners_file_are_read_from_the_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker.settings import environment

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ABCD_TOKEN", raising=False)
    monkeypatch.setenv("EFGH_SECRET", "from-the-process")
    (tmp_path / ".env").write_text("ABCD_TOKEN=from-the-file\nEFGH_SECRET=from-the-file\n")
    (tmp_path / "p.toml").write_text(
        '[oc.ABCD]\nbase_url = "https://a.example"\ntoken_env = "ABCD_TOKEN"\n'
        '[oc.EFGH]\nbase_url = "https://e.example"\ntoken_env = "EFGH_SECRET"\n'
    )
    partners = load_partners(tmp_path / "p.toml", environment())
    assert partners["ABCD"].token is not None
    assert partners["ABCD"].token.get_secret_value() == "from-the-file"
    assert partners["EFGH"].token is not None
    assert partners["EFGH"].token.get_secret_value() == "from-the-process"


def test_a_simulator_client_without_its_secret_is_refused_by_the_command_line() -> None:
    done = _worker("simulator", "--oauth-client", "client-without-secret")
    assert done.returncode == 2
    assert "expected ID:SECRET" in done.stderr
    assert "Traceback" not in done.stderr
