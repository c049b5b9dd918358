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


Role = Literal["ingest", "review"]
ROLES: tuple[Role, ...] = ("ingest", "review")


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

    amqp_url: SecretStr = Field(
        SecretStr("amqp://guest:guest@127.0.0.1:5672/"),
        description="RabbitMQ, with its user, password and vhost",
        examples=["amqp://photo-worker:secret@rabbitmq.internal:5672/%2F"],
    )
    database_url: SecretStr = Field(
        SecretStr("postgresql://postgres@127.0.0.1:5432/postgres"),
        description="PostgreSQL",
        examples=["postgresql://photo_worker:secret@postgres.internal:5432/photos"],
    )
    storage_url: str = Field(
        "file://./data/photos",
        description="where photos go: `file:///path` (relative: `file://./data/photos`) or"
        " `s3://bucket/prefix`",
        examples=["s3://oi-stoc-photos/prod"],
    )
    partners_file: Path = Field(
        Path("partners.toml"),
        description="TOML file describing the OCs (its keys: below)",
        examples=["/etc/photo-worker/partners.toml"],
    )
    oi_code: str | None = Field(
        None,
        pattern=r"^[A-Z0-9]{4}$",
        description="the OI's InterOp code, sent as `X-Client-Id` (required by `run`)",
        examples=["OI01"],
    )
    retry_initial_seconds: float = Field(
        60.0, gt=0, description="first wait after a 202 or a transient error"
    )
    retry_max_seconds: float = Field(3600.0, gt=0, description="cap of the exponential backoff")

    concurrency: int = Field(16, ge=1, description="requests in flight in one process, all OCs")
    prefetch: int = Field(1000, ge=1, description="unacked CR_STOC deliveries held at once")
    lease_seconds: float = Field(
        30.0,
        ge=1,
        description="claim lifetime, renewed while working; a crashed attempt is retaken after it",
    )
    poll_seconds: float = Field(
        2.0,
        gt=0,
        description="longest sleep of the scheduler (picks up other replicas' and operators'"
        " changes)",
    )
    photo_max_bytes: int = Field(50 * MIB, ge=1, description="size cap of one photo (50 MiB)")
    not_found_retries: int = Field(3, ge=0, description="404 answers tolerated before `failed`")
    max_interruptions: int = Field(
        5,
        ge=1,
        description="attempts in a row that end without an outcome (killed, lease lost) before"
        " the request is finished as `failed`",
    )
    shutdown_grace_seconds: float = Field(
        25.0,
        ge=0,
        description="time given to running attempts on SIGTERM; the process exits within this"
        " plus 5 s",
    )
    queue_type: Annotated[Literal["quorum", "classic"], _lower] = Field(
        "quorum", description="the type of `photos.cr_stoc` and its dead-letter queue"
    )
    delivery_limit: int = Field(
        20, ge=1, description="deliveries of one message before a quorum queue dead-letters it"
    )
    metrics_port: int = Field(
        9300, ge=0, le=65535, description="`/metrics`, `/healthz`, `/readyz` (0: any free port)"
    )
    metrics_host: str = Field(
        "0.0.0.0",  # noqa: S104 - scraped from outside the container
        description="address of `/metrics`, `/healthz`, `/readyz`",
    )
    log_level: Annotated[Literal["debug", "info", "warning", "error"], _lower] = Field(
        "info", description="lowest level logged"
    )
    log_format: Annotated[Literal["auto", "json", "console"], _lower] = Field(
        "auto", description="`auto`: JSON lines unless stdout is a terminal"
    )
    instance: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}",
        description="name of this process in leases, attempts and logs (default: hostname-pid)",
    )
    heartbeat_seconds: float = Field(
        15.0, ge=1, description="how often each process records that it is alive (on-call view)"
    )
    certificate_check_seconds: float = Field(
        60.0,
        gt=0,
        description="how often an OC's TLS files are looked at (os.stat) for a renewal",
    )

    # `worker migrate` (docs/operations.md): how long a statement waits for a lock before it
    # gives up, lets the traffic queued behind it through, and tries again (retries times).
    migrate_lock_timeout_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="`worker migrate`: longest wait for a lock before a statement gives up and"
        " is retried, so that intake, claims and renewals are never held behind it",
    )
    migrate_lock_retries: int = Field(
        10, ge=0, le=100, description="`worker migrate`: tries after a lock timeout, then exit 1"
    )

    # `worker console`: the operators' web console (docs/console.md).
    console_host: str = Field(
        "127.0.0.1",
        description="where `worker console` listens; any address but loopback needs"
        " WORKER_CONSOLE_PASSWORD or WORKER_CONSOLE_TRUSTED_HEADER",
    )
    console_port: int = Field(
        8400, ge=0, le=65535, description="port of `worker console` (0: any free port)"
    )
    console_password: SecretStr | None = Field(
        None,
        description="the console's secret: HTTP Basic password (the user name typed is recorded"
        " as who, marked unverified) or `Authorization: Bearer` token; not with the trusted"
        " header",
    )
    console_trusted_header: str | None = Field(
        None,
        description="the header in which a reverse proxy that authenticated the user names them",
        examples=["X-Auth-Request-User"],
    )
    console_trusted_proxies: str | None = Field(
        None,
        description="the proxies' addresses or CIDRs, comma-separated, from which alone the"
        " trusted header is believed; required with WORKER_CONSOLE_TRUSTED_HEADER",
        examples=["10.0.4.0/24"],
    )
    console_hosts: str = Field(
        "localhost,127.0.0.1,::1",
        description="host names the console answers, comma-separated (any other: 421), in every"
        " sign-in mode: a page of another site that points its own name at the console is"
        " refused (DNS rebinding)",
        examples=["console.oi.example"],
    )
    console_public_origin: str | None = Field(
        None,
        description="scheme://host[:port] the browser sees, behind a proxy; forms from any other"
        " origin are refused",
        examples=["https://console.oi.example"],
    )
    console_actions: bool = Field(False, description="`true`: the refetch and replay buttons")
    console_thumbnail_dir: Path = Field(
        Path("data/thumbnails"), description="where thumbnails are kept (by the photo's sha256)"
    )
    console_refresh_seconds: float = Field(5.0, ge=1, description="the overview's refresh period")
    console_thumbnail_seconds: float = Field(
        10.0, gt=0, description="time limit of one thumbnail; its process is then killed"
    )
    console_thumbnail_memory_mb: int = Field(
        256, ge=64, description="address space of each thumbnail process (RLIMIT_AS), in MiB"
    )
    console_timezone: str = Field(
        "Europe/Paris",
        description="the zone in which the console shows times (with its abbreviation; UTC on"
        " hover), an IANA name",
        examples=["UTC"],
    )
    console_language: Annotated[Literal["auto", "fr", "en"], _lower] = Field(
        "auto",
        description="the console's language: `auto` follows the browser's Accept-Language"
        " (English when it asks for neither), `fr` or `en` for everyone",
    )

    # Photo checks (docs/findings.md): what a quality analyst would look at first.
    qa_enabled: bool = Field(
        True,
        description="run the photo checks; `false`: no decoding, no findings (the event's list"
        " stays, empty)",
    )
    qa_max_decode_pixels: int = Field(
        16_000_000,
        ge=1,
        description="pixels a decode may make (after the JPEG reduction); above: `qa_error`,"
        " not decoded",
    )
    qa_min_side: int = Field(
        480, ge=0, description="short side in pixels under which a photo is `low_quality`"
    )
    qa_blur_below: float = Field(
        20.0,
        ge=0,
        description="sharpness (variance of the Laplacian at 512 px) under which a photo is"
        " blurred",
    )
    qa_dark_below: float = Field(
        40.0, ge=0, le=255, description="mean luminance (0-255) under which a photo is too dark"
    )
    qa_bright_above: float = Field(
        220.0, ge=0, le=255, description="mean luminance (0-255) above which a photo is burnt"
    )
    # The reuse index answers up to 7 exactly (4 bands of 16 bits, one bit of slack each).
    qa_near_distance: int = Field(
        4,
        ge=0,
        le=7,
        description="perceptual hash bits (of 64) up to which two images are nearly the same",
    )
    qa_date_window_hours: float = Field(
        24.0,
        gt=0,
        description="hours between a photo's capture time and `dateIntervention` beyond which it"
        " is flagged",
    )
    qa_timezone: str = Field(
        "Europe/Paris", description="zone of EXIF capture times written without an offset"
    )
    qa_gps_distance_m: float = Field(
        300.0,
        gt=0,
        description="metres between a photo's EXIF GPS and its declared position beyond which it"
        " is flagged",
    )
    qa_spread_m: float = Field(
        3000.0,
        gt=0,
        description="metres between the photos of one request beyond which they are flagged",
    )

    # The spec's framing rules (docs/findings.md): the PTO reference read on the PTO photo, and
    # the before and after photos taken from the same spot.
    pto_reference_pattern: str = Field(
        r"[A-Z]{2}-[0-9A-Z]{4}-[0-9A-Z]{4}",
        description="the OI's PTO references, as a regular expression matching a whole reference;"
        " what the PTO photo's label must show; empty: the reference is not read",
    )
    qa_pto_min_confidence: float = Field(
        0.9,
        ge=0,
        le=1,
        description="a line of text is kept only if its least sure character reaches this"
        " confidence of the OCR (a wrong read would raise a false pto_reference_mismatch)",
    )
    qa_ocr_threads: int = Field(
        1, ge=1, le=16, description="onnxruntime threads of the OCR, in each review process"
    )
    qa_same_spot_min_inliers: int = Field(
        80,
        ge=0,
        description="matched points of an AVANT/APRES pair agreeing with one viewpoint change"
        " under which the pair is `not_same_spot`; 0: pairs are not compared",
    )

    # The review stage (docs/findings.md): which roles `worker run` plays, and the review pool.
    roles: str = Field(
        "ingest,review",
        description="what `worker run` does here: `ingest` (intake, attempts, events), `review`"
        " (the photo checks), or both (comma list)",
        examples=["ingest", "review"],
    )
    review_processes: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        le=256,
        description="processes that decode and check photos (default: the machine's cores; in a"
        " container, set it to the CPU limit)",
    )
    review_memory_mb: int = Field(
        2048, ge=128, description="address space of each review process (RLIMIT_AS), in MiB"
    )
    review_timeout_seconds: float = Field(
        60.0, gt=0, description="time limit of one photo's checks; its process is then killed"
    )
    review_nice: int = Field(
        10, ge=0, le=19, description="added to each review process's niceness: ingestion first"
    )

    # Retention (docs/operations.md), applied by `worker purge`: empty keeps for ever.
    keep_attempts: Retention = Field(
        timedelta(days=90),
        description="how long attempts (`request_attempts`) are kept; a pending request's are"
        " always kept; empty: for ever",
    )
    keep_events: Retention = Field(
        timedelta(days=30),
        description="how long result events (`outbox`) are kept once sent; unsent ones are"
        " always kept",
    )
    keep_dead_letters: Retention = Field(
        timedelta(days=90),
        description="how long the `dead_letters` rows are kept (the dead-letter queue is"
        " RabbitMQ's)",
    )
    keep_finished: Retention = Field(
        None,
        description="how long finished requests are kept; when set, older ones go with their"
        " attempts, findings, events, photo rows and stored objects (a photo another request"
        " lists stays); empty: for ever",
        examples=["1095d"],
    )
    # About 100 bytes a request: the contract's "a second message with the same messageId
    # changes nothing" holds this long after a purge.
    keep_purged_ids: Retention = Field(
        timedelta(days=365),
        description="how long the message ids of purged requests stay refused, after the purge"
        " (a resent messageId changes nothing); empty: for ever",
    )
    purge_batch: int = Field(
        5000,
        ge=1,
        le=100_000,
        description="rows deleted per batch, each its own transaction (finished requests: a"
        " tenth as many)",
    )
    purge_pause_seconds: float = Field(0.05, ge=0, description="pause between two batches")

    aws_endpoint_url: str | None = Field(
        None,
        validation_alias=AliasChoices("AWS_ENDPOINT_URL"),
        description="S3 endpoint; a plain `http://` one is accepted",
        examples=["https://s3.eu-west-3.amazonaws.com"],
    )
    aws_access_key_id: str | None = Field(
        None,
        validation_alias=AliasChoices("AWS_ACCESS_KEY_ID"),
        description="S3 access key (with AWS_SECRET_ACCESS_KEY, or neither)",
    )
    aws_secret_access_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("AWS_SECRET_ACCESS_KEY"),
        description="S3 secret key",
    )
    aws_region: str | None = Field(
        None,
        validation_alias=AliasChoices("AWS_REGION"),
        description="S3 region",
        examples=["eu-west-3"],
    )

    @field_validator("qa_timezone", "console_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name such as Europe/Paris)"
            ) from None
        return value

    @field_validator("console_password")
    @classmethod
    def _real_password(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None  # empty: none
        if not value.get_secret_value().strip():
            raise ValueError("a password of spaces only")
        return value

    @field_validator("console_public_origin")
    @classmethod
    def _origin(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not re.fullmatch(r"https?://[A-Za-z0-9.\[\]:-]+", value.rstrip("/")):
            raise ValueError(f"{value!r}: scheme://host[:port], as the browser shows it")
        return value.rstrip("/").lower()

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, value: str) -> str:
        roles = {part.strip().lower() for part in value.split(",") if part.strip()}
        unknown = roles - set(ROLES)
        if unknown or not roles:
            raise ValueError(
                f"unknown role {', '.join(sorted(unknown)) or '(none)'}: give ingest, review,"
                " or ingest,review"
            )
        return ",".join(role for role in ROLES if role in roles)

    def plays(self, role: Role) -> bool:
        """Whether `worker run` plays this role here (WORKER_ROLES)."""
        return role in self.roles.split(",")

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
    """What `worker run` reads: every setting but the console's and `worker migrate`'s."""
    return tuple(
        name for name in Settings.model_fields if not name.startswith(("console_", "migrate_"))
    )


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
