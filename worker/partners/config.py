"""The partners file: one table per OC, validated whole before the worker starts."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote, urlparse

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from worker.partners.agreement import Breaker, DailyQuota, OpeningHours, RateLimit
from worker.partners.duration import Duration
from worker.settings import ConfigError, Settings
from worker.validation import describe_errors

Query = Literal["intervention", "order", "access"]
QUERY_ORDER: tuple[Query, ...] = ("intervention", "order", "access")
OC_CODE = r"^[A-Z0-9]{4}$"


def choose_query(preferred: Query, references: dict[Query, str | None]) -> tuple[Query, str]:
    """The OC's configured query if the message has that reference, else the next one present."""
    for query in (preferred, *QUERY_ORDER):
        value = references[query]
        if value:
            return query, value
    raise ValueError("no reference")  # unreachable for a validated message


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _doc(model: type[BaseModel]) -> str:
    """A table's description is its class's docstring: one text for the code and the docs."""
    return (model.__doc__ or "").strip()


class OAuth2Config(_Strict):
    """OAuth 2.0 client credentials; the secret comes from the environment, never the file."""

    token_url: HttpUrl = Field(description="the OC's token endpoint")
    client_id: str = Field(min_length=1, description="our client id at the OC")
    client_secret_env: str = Field(
        min_length=1, description="the environment variable holding our client secret"
    )
    scope: str | None = Field(None, description="the scope asked for, if the OC wants one")
    auth_method: Literal["client_secret_basic", "client_secret_post"] = Field(
        "client_secret_basic", description="how the client id and secret are sent"
    )


class PathsConfig(_Strict):
    """Request paths relative to `base_url`; `{id}` is replaced by the percent-encoded value."""

    intervention: str = Field("/intervention/{id}/photos", description="getPhotosByIntervention")
    order: str = Field("/order/{id}/photos", description="getPhotosByOrder")
    access: str = Field("/access/{id}/photos", description="getPhotosByAccess")
    photo: str = Field("/photo/{id}", description="getPhoto")

    @field_validator("intervention", "order", "access", "photo")
    @classmethod
    def _has_one_placeholder(cls, value: str) -> str:
        if value.count("{id}") != 1 or not value.startswith("/"):
            raise ValueError("must start with '/' and contain '{id}' once")
        return value


class PartnerConfig(_Strict):
    """One `[oc.XXXX]` table."""

    base_url: HttpUrl = Field(
        description="the OC's API CRI asynchrone, the operations' paths relative to it",
        examples=["https://photos.oc-abcd.example/cri/v1"],
    )
    query: Query = Field(
        "intervention",
        description="which reference to ask by first (then the next one the message has)",
    )
    token: SecretStr | None = Field(None, description="a static bearer token, in the file")
    token_env: str | None = Field(
        None,
        description="the environment variable holding a static bearer token",
        examples=["ABCD_TOKEN"],
    )
    oauth2: OAuth2Config | None = Field(None, description=_doc(OAuth2Config))
    max_wait: Duration = Field(
        timedelta(days=7),
        description="then `expired` if the OC still answers 202 (`36h`, `1d12h`, `90m`...)",
    )
    concurrency: int = Field(
        4, ge=1, le=256, description="requests of this OC in flight in one worker process"
    )
    ca_file: Path | None = Field(
        None,
        description="PEM: the CA (or bundle) that signed the OC's server certificate; without"
        " it, the system's CAs",
        examples=["/etc/photo-worker/efgh-ca.pem"],
    )
    client_cert: Path | None = Field(
        None,
        description="PEM: our client certificate for mutual TLS, then its chain (the key may"
        " follow)",
        examples=["/etc/photo-worker/oi-client.pem"],
    )
    client_key: Path | None = Field(
        None,
        description="PEM: the client certificate's key, unencrypted",
        examples=["/etc/photo-worker/oi-client.key"],
    )
    paths: PathsConfig = Field(PathsConfig(), description=_doc(PathsConfig))
    rate: RateLimit | None = Field(None, description=_doc(RateLimit))
    quota: DailyQuota | None = Field(None, description=_doc(DailyQuota))
    hours: OpeningHours | None = Field(None, description=_doc(OpeningHours))
    breaker: Breaker | None = Field(None, description=_doc(Breaker))
    # Requests held back by a closure, a spent quota or an open breaker are let go over this
    # span after it ends, so that the reopening is not a burst.
    spread: Duration = Field(
        timedelta(minutes=15),
        description="requests held back by a closure, a spent quota or an open breaker are let"
        " go over this span once it ends",
    )
    connect_timeout: float = Field(10.0, gt=0, description="seconds to connect")
    read_timeout: float = Field(
        60.0, gt=0, description="seconds without a byte before a call is abandoned"
    )
    total_timeout: float = Field(
        600.0, gt=0, description="seconds for one whole call (a 50 MiB photo on a slow link)"
    )

    @model_validator(mode="after")
    def _one_credential(self) -> PartnerConfig:
        given = [k for k in ("token", "token_env", "oauth2") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give at most one of token, token_env, oauth2 (got {given})")
        if self.client_key is not None and self.client_cert is None:
            raise ValueError("client_key needs client_cert")
        for name in ("ca_file", "client_cert", "client_key"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name}: no such file {path}")
        return self


class PartnersFile(_Strict):
    oc: dict[Annotated[str, Field(pattern=OC_CODE)], PartnerConfig] = Field(min_length=1)


@dataclass(frozen=True)
class Partner:
    """An OC as the worker uses it: its configuration with secrets resolved."""

    code: str
    config: PartnerConfig
    token: SecretStr | None
    client_secret: SecretStr | None

    def url(self, operation: Query | Literal["photo"], value: str) -> str:
        template: str = getattr(self.config.paths, operation)
        base = str(self.config.base_url).rstrip("/")
        return base + template.replace("{id}", quote(value, safe=""))


def load_partners(path: Path, environ: Mapping[str, str]) -> dict[str, Partner]:
    """Read and check the whole file; any problem raises ConfigError naming the key."""
    parsed = read_partners_file(path)
    return {code: _resolve(code, config, path, environ) for code, config in parsed.items()}


def read_partners_file(path: Path) -> dict[str, PartnerConfig]:
    """The file's tables, checked, secrets left unresolved (for the operators' commands)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"partners file {path}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"partners file {path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"partners file {path}: not valid TOML ({exc})") from None
    try:
        return PartnersFile.model_validate(raw).oc
    except ValidationError as exc:
        raise ConfigError(f"partners file {path}: {describe_errors(exc)}") from None


def _resolve(code: str, config: PartnerConfig, path: Path, env: Mapping[str, str]) -> Partner:
    token = config.token
    if config.token_env is not None:
        token = SecretStr(_from_env(env, config.token_env, f"oc.{code}.token_env", path))
    secret = None
    if config.oauth2 is not None:
        key = f"oc.{code}.oauth2.client_secret_env"
        secret = SecretStr(_from_env(env, config.oauth2.client_secret_env, key, path))
    return Partner(code=code, config=config, token=token, client_secret=secret)


def _from_env(env: Mapping[str, str], name: str, key: str, path: Path) -> str:
    value = env.get(name)
    if not value:
        raise ConfigError(f"partners file {path}: {key}: environment variable {name} is not set")
    return value


def secrets_of(settings: Settings, partners: Mapping[str, Partner]) -> list[str]:
    """Every secret the process knows, so that logs can never print one."""
    values = [
        settings.amqp_url,
        settings.database_url,
        settings.aws_secret_access_key,
        settings.console_password,
    ]
    for partner in partners.values():
        values += [partner.token, partner.client_secret]
    found = [v.get_secret_value() for v in values if v is not None]
    return found + [_password(url) for url in found if "://" in url]


def _password(url: str) -> str:
    return urlparse(url).password or ""
