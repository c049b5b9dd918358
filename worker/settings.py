"""The worker's settings: environment variables (or an env file), read once at start-up."""

from __future__ import annotations

import os
import re
import socket
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from pydantic import (
    AliasChoices,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024
_lower = BeforeValidator(lambda value: value.lower() if isinstance(value, str) else value)


_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(value: object) -> timedelta:
    """`7d`, `36h`, `1d12h`, `90m`, `45s`, or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _duration(seconds=value, given=value)
    match = _DURATION.match(str(value).strip()) if isinstance(value, str) else None
    if not match or not any(match.groups()):
        raise ValueError(f"not a duration: {value!r} (expected e.g. '7d', '12h', '30m', '45s')")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return _duration(days=days, hours=hours, minutes=minutes, seconds=seconds, given=value)


def _duration(given: object, **parts: float) -> timedelta:
    try:
        duration = timedelta(**parts)
    except (OverflowError, ValueError):
        raise ValueError(f"duration out of range: {given!r}") from None
    if duration <= timedelta(0):
        raise ValueError(f"duration must be positive: {given!r}")
    return duration


def _optional_duration(value: object) -> timedelta | None:
    """A duration, or nothing (an empty value): for ever."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_duration(value)


Retention = Annotated[timedelta | None, BeforeValidator(_optional_duration)]


class ConfigError(Exception):
    """A setting or the partners file is wrong; the message names the key."""


class Settings(BaseSettings):
    """Every environment variable the worker reads. Names are `WORKER_<FIELD>` unless aliased."""

    model_config = SettingsConfigDict(
        env_prefix="WORKER_",
        env_file=".env",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    amqp_url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    database_url: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:5432/postgres")
    storage_url: str = "file://./data/photos"
    partners_file: Path = Path("partners.toml")
    oi_code: str | None = Field(None, pattern=r"^[A-Z0-9]{4}$")
    retry_initial_seconds: float = Field(60.0, gt=0)
    retry_max_seconds: float = Field(3600.0, gt=0)

    concurrency: int = Field(16, ge=1, description="requests in flight in this process, all OCs")
    prefetch: int = Field(1000, ge=1, description="unacked CR_STOC deliveries held at once")
    lease_seconds: float = Field(30.0, ge=1, description="claim lifetime; renewed while working")
    poll_seconds: float = Field(2.0, gt=0, description="longest sleep between schedule checks")
    photo_max_bytes: int = Field(50 * MIB, ge=1)
    not_found_retries: int = Field(3, ge=0, description="404 answers tolerated before failed")
    max_interruptions: int = Field(
        5, ge=1, description="attempts in a row ending without an outcome before failed"
    )
    shutdown_grace_seconds: float = Field(25.0, ge=0)
    queue_type: Annotated[Literal["quorum", "classic"], _lower] = "quorum"
    delivery_limit: int = Field(
        20, ge=1, description="deliveries of one message before the broker dead-letters it"
    )
    metrics_port: int = Field(9300, ge=0, le=65535, description="0: any free port")
    metrics_host: str = "0.0.0.0"  # noqa: S104 - scraped from outside the container
    log_level: Annotated[Literal["debug", "info", "warning", "error"], _lower] = "info"
    log_format: Annotated[Literal["auto", "json", "console"], _lower] = "auto"
    instance: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    certificate_check_seconds: float = Field(
        60.0, gt=0, description="how often an OC's TLS files are looked at for a renewal"
    )

    # `worker console`: the operators' web console (README "Console").
    console_host: str = Field("127.0.0.1", description="anything but loopback needs auth")
    console_port: int = Field(8400, ge=0, le=65535, description="0: any free port")
    console_password: SecretStr | None = Field(None, description="HTTP Basic or Bearer secret")
    console_trusted_header: str | None = Field(None, description="who, set by a reverse proxy")
    console_trusted_proxies: str | None = Field(None, description="comma list of proxy CIDRs")
    console_actions: bool = Field(False, description="refetch and replay buttons")
    console_thumbnail_dir: Path = Path("data/thumbnails")
    console_refresh_seconds: float = Field(5.0, ge=1)

    # Photo checks (README "Photo findings"): what a quality analyst would look at first.
    qa_enabled: bool = True
    qa_threads: int = Field(2, ge=1, le=64, description="decoding threads; photos held at once")
    qa_max_decode_pixels: int = Field(16_000_000, ge=1, description="after JPEG reduction")
    qa_min_side: int = Field(480, ge=0, description="pixels of the short side; below: low_quality")
    qa_blur_below: float = Field(20.0, ge=0, description="variance of the Laplacian at 512 px")
    qa_dark_below: float = Field(40.0, ge=0, le=255, description="mean luminance, 0-255")
    qa_bright_above: float = Field(220.0, ge=0, le=255, description="mean luminance, 0-255")
    # The reuse index answers up to 7 exactly (4 bands of 16 bits, one bit of slack each).
    qa_near_distance: int = Field(4, ge=0, le=7, description="perceptual hash bits, of 64")
    qa_date_window_hours: float = Field(24.0, gt=0)
    qa_timezone: str = Field("Europe/Paris", description="of EXIF times without an offset")
    qa_gps_distance_m: float = Field(300.0, gt=0, description="EXIF GPS to declared position")
    qa_spread_m: float = Field(3000.0, gt=0, description="between the photos of a request")
    # The spec's framing rules (docs/notes-framing.md): the PTO reference read on the PTO photo,
    # and the before and after photos taken from the same spot.
    pto_reference_pattern: str = Field(
        r"[A-Z]{2}-[0-9A-Z]{4}-[0-9A-Z]{4}", description="the OI's PTO references, whole"
    )
    qa_pto_min_confidence: float = Field(
        0.9, ge=0, le=1, description="a line with a character read less surely is dropped"
    )
    qa_ocr_threads: int = Field(1, ge=1, le=16, description="onnxruntime threads per reader")
    qa_same_spot_min_inliers: int = Field(
        80, ge=4, description="matched points agreeing with one viewpoint; below: not_same_spot"
    )

    # Retention (README "Retention"), applied by `worker purge`: empty keeps for ever.
    keep_attempts: Retention = timedelta(days=90)
    keep_events: Retention = Field(timedelta(days=30), description="sent events only")
    keep_dead_letters: Retention = timedelta(days=90)
    keep_finished: Retention = Field(None, description="requests, photos and their objects")
    purge_batch: int = Field(5000, ge=1, le=100_000, description="rows deleted per transaction")
    purge_pause_seconds: float = Field(0.05, ge=0, description="between two batches")

    aws_endpoint_url: str | None = Field(None, validation_alias=AliasChoices("AWS_ENDPOINT_URL"))
    aws_access_key_id: str | None = Field(None, validation_alias=AliasChoices("AWS_ACCESS_KEY_ID"))
    aws_secret_access_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("AWS_SECRET_ACCESS_KEY")
    )
    aws_region: str | None = Field(None, validation_alias=AliasChoices("AWS_REGION"))

    @field_validator("qa_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name such as Europe/Paris)"
            ) from None
        return value

    @field_validator("pto_reference_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _backoff_in_order(self) -> Settings:
        if self.retry_initial_seconds > self.retry_max_seconds:
            raise ValueError("WORKER_RETRY_INITIAL_SECONDS is above WORKER_RETRY_MAX_SECONDS")
        if (self.aws_access_key_id is None) != (self.aws_secret_access_key is None):
            raise ValueError("give both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither")
        return self

    def require_oi_code(self) -> str:
        """Calling partners needs it; migrating or reading the tables does not."""
        if self.oi_code is None:
            raise ConfigError(
                "invalid settings: WORKER_OI_CODE: required (the OI's 4-char InterOp code)"
            )
        return self.oi_code


def environment() -> dict[str, str]:
    """The variables the partners file may name (`token_env`, `client_secret_env`): the env file
    that Settings reads, under the process environment, which wins as it does for Settings."""
    env_file = Path(str(Settings.model_config.get("env_file") or ".env"))
    from_file = dotenv_values(env_file) if env_file.is_file() else {}
    return {**{k: v for k, v in from_file.items() if v is not None}, **os.environ}


def env_name(field: str) -> str:
    """The environment variable of a setting: `WORKER_<FIELD>`, or its alias (`AWS_REGION`)."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"WORKER_{field.upper()}"


def service_fields() -> tuple[str, ...]:
    """What `worker run` reads: every setting but the console's."""
    return tuple(name for name in Settings.model_fields if not name.startswith("console_"))


def load_settings(**overrides: object) -> Settings:
    """Build the settings, turning pydantic's report into one message that names each bad key."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(describe_settings_errors(exc)) from None


def describe_settings_errors(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors(include_url=False):
        if not error["loc"]:
            lines.append(error["msg"].removeprefix("Value error, "))
            continue
        field = str(error["loc"][0])
        name = field if field.isupper() else f"WORKER_{field.upper()}"
        lines.append(f"{name}: {error['msg']}")
    return "invalid settings: " + "; ".join(lines)
