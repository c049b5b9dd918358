"""Settings from overrides, environment variables and the .env file; errors name WORKER_..."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from worker.settings import ConfigError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No WORKER_/AWS_ variable from the caller, and no .env file but the test's own."""
    for name in list(os.environ):
        if name.startswith(("WORKER_", "AWS_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults() -> None:
    settings = load_settings()
    assert settings.amqp_url.get_secret_value() == "amqp://guest:guest@127.0.0.1:5672/"
    assert (
        settings.database_url.get_secret_value() == "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    assert settings.storage_url == "file://./data/photos"
    assert settings.partners_file == Path("partners.toml")
    assert settings.oi_code is None
    assert settings.retry_initial_seconds == 60.0
    assert settings.retry_max_seconds == 3600.0
    assert settings.photo_max_bytes == 50 * 1024 * 1024
    assert settings.aws_endpoint_url is None


def test_overrides() -> None:
    settings = load_settings(oi_code="WXYZ", retry_max_seconds=120, aws_endpoint_url="http://s3")
    assert settings.oi_code == "WXYZ"
    assert settings.retry_max_seconds == 120.0
    assert settings.aws_endpoint_url == "http://s3"


def test_initial_backoff_above_the_cap_is_refused() -> None:
    with pytest.raises(ConfigError, match="WORKER_RETRY_INITIAL_SECONDS is above"):
        load_settings(retry_initial_seconds=90, retry_max_seconds=60)


def test_log_level_is_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_LOG_LEVEL", "WARNING")
    assert load_settings().log_level == "warning"


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "WORKER_OI_CODE": "OI01",
        "WORKER_AMQP_URL": "amqp://u:p@mq:5672/vh",
        "WORKER_DATABASE_URL": "postgresql://u:p@db/photos",
        "WORKER_STORAGE_URL": "s3://bucket/prefix",
        "WORKER_PARTNERS_FILE": "/etc/worker/partners.toml",
        "WORKER_RETRY_INITIAL_SECONDS": "1.5",
        "WORKER_RETRY_MAX_SECONDS": "30",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_ACCESS_KEY_ID": "key-id",
        "AWS_SECRET_ACCESS_KEY": "secret-key",
        "AWS_REGION": "eu-west-3",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.require_oi_code() == "OI01"
    assert settings.amqp_url.get_secret_value() == "amqp://u:p@mq:5672/vh"
    assert settings.database_url.get_secret_value() == "postgresql://u:p@db/photos"
    assert settings.storage_url == "s3://bucket/prefix"
    assert settings.partners_file == Path("/etc/worker/partners.toml")
    assert settings.retry_initial_seconds == 1.5
    assert settings.retry_max_seconds == 30.0
    assert settings.aws_endpoint_url == "http://127.0.0.1:9000"
    assert settings.aws_access_key_id == "key-id"
    assert settings.aws_secret_access_key is not None
    assert settings.aws_secret_access_key.get_secret_value() == "secret-key"
    assert settings.aws_region == "eu-west-3"
    assert "secret-key" not in repr(settings)
    assert "u:p@" not in repr(settings)


def test_override_wins_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_OI_CODE", "ENV1")
    assert load_settings(oi_code="ARG1").oi_code == "ARG1"


def test_env_file_in_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("WORKER_OI_CODE=FILE\nWORKER_RETRY_MAX_SECONDS=99\n")
    assert load_settings().oi_code == "FILE"
    monkeypatch.setenv("WORKER_OI_CODE", "ENV1")
    settings = load_settings()
    assert settings.oi_code == "ENV1"
    assert settings.retry_max_seconds == 99.0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WORKER_OI_CODE", "abcd"),
        ("WORKER_OI_CODE", "ABCDE"),
        ("WORKER_RETRY_INITIAL_SECONDS", "0"),
        ("WORKER_RETRY_INITIAL_SECONDS", "soon"),
        ("WORKER_RETRY_MAX_SECONDS", "-1"),
        ("WORKER_PHOTO_MAX_BYTES", "0"),
        ("WORKER_CONCURRENCY", "many"),
        ("WORKER_LOG_LEVEL", "verbose"),
        ("WORKER_METRICS_PORT", "70000"),
    ],
)
def test_bad_environment_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=f"^invalid settings: {name}: "):
        load_settings()


def test_every_bad_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_OI_CODE", "x")
    monkeypatch.setenv("WORKER_RETRY_MAX_SECONDS", "0")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "WORKER_OI_CODE" in str(info.value)
    assert "WORKER_RETRY_MAX_SECONDS" in str(info.value)


def test_bad_override_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="WORKER_RETRY_INITIAL_SECONDS"):
        load_settings(retry_initial_seconds=-3)


def test_require_oi_code() -> None:
    assert load_settings(oi_code="AB12").require_oi_code() == "AB12"
    with pytest.raises(ConfigError, match="WORKER_OI_CODE"):
        load_settings().require_oi_code()
