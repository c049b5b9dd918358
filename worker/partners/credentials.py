"""Credentials for an OC's API: none, a static bearer token, or OAuth 2.0 client credentials."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from typing import Protocol
from urllib.parse import quote_plus

import aiohttp
from oauthlib.oauth2 import BackendApplicationClient, OAuth2Error
from pydantic import SecretStr

from worker.partners.config import OAuth2Config, Partner


class TokenRefused(Exception):
    """The token endpoint said `invalid_client`: our credentials are wrong, a permanent error."""


class TokenUnavailable(Exception):
    """No token now (endpoint unreachable, an error page, a malformed answer, `slow_down`...):
    try again later. `kind` is the metric's label."""

    def __init__(self, message: str, kind: str = "unreachable") -> None:
        super().__init__(message)
        self.kind = kind


# After a failure, callers are told at once for this long instead of each asking the endpoint
# again: a token endpoint that is down is not hammered by every waiting attempt.
_FAILURE_MEMORY = 1.0


class Credentials(Protocol):
    async def authorization(self) -> str | None:
        """The Authorization header value to send now, or None."""

    async def renew(self, rejected: str | None) -> None:
        """Called after a 401 that was answered to `rejected`."""


class NoCredentials:
    async def authorization(self) -> str | None:
        return None

    async def renew(self, rejected: str | None) -> None:
        return None


class StaticToken:
    """A token given by the OC; nothing to renew, the retry after a 401 sends it again."""

    def __init__(self, token: SecretStr) -> None:
        self._header = f"Bearer {token.get_secret_value()}"

    async def authorization(self) -> str | None:
        return self._header

    async def renew(self, rejected: str | None) -> None:
        return None


class ClientCredentials:
    """Fetches a token, keeps it until shortly before it expires, and renews it once per 401.

    Concurrent attempts share one token and one renewal: after a 401, only the first caller whose
    token was rejected fetches a new one; the others find it already renewed.
    """

    def __init__(
        self,
        config: OAuth2Config,
        secret: SecretStr,
        session: aiohttp.ClientSession,
        clock: Callable[[], float] = time.time,
        on_failure: Callable[[str], None] = lambda _: None,
        tls: Callable[[], ssl.SSLContext | bool] = lambda: True,
    ) -> None:
        """`tls` gives the OC's current SSL context: the token endpoint is called with the same
        CA and client certificate as the API."""
        self._config = config
        self._secret = secret
        self._session = session
        self._clock = clock
        self._on_failure = on_failure  # counts failures by kind
        self._tls = tls
        self._lock = asyncio.Lock()
        self._header: str | None = None
        self._renew_at = 0.0
        self._failure: TokenUnavailable | None = None
        self._failed_until = 0.0

    async def authorization(self) -> str | None:
        async with self._lock:
            if self._header is None or self._clock() >= self._renew_at:
                await self._fetch()
            return self._header

    async def renew(self, rejected: str | None) -> None:
        async with self._lock:
            if rejected == self._header:
                await self._fetch()

    async def _fetch(self) -> None:
        if self._failure is not None and self._clock() < self._failed_until:
            raise self._failure
        try:
            self._header, self._renew_at = await self._new_token()
        except (TokenUnavailable, TokenRefused) as exc:
            self._on_failure(getattr(exc, "kind", "invalid_client"))
            if isinstance(exc, TokenUnavailable):
                self._failure, self._failed_until = exc, self._clock() + _FAILURE_MEMORY
            raise
        self._failure = None

    async def _new_token(self) -> tuple[str, float]:
        """The Authorization header, and when to renew it."""
        client = BackendApplicationClient(self._config.client_id)
        body = await self._post(client)
        try:
            token = client.parse_request_body_response(body, scope=None)
            lifetime = float(token.get("expires_in") or 3600)
            header = f"Bearer {token['access_token']}"
        except (OAuth2Error, ValueError, TypeError, KeyError) as exc:
            # An HTML page from a proxy, `expires_in: "soon"`...: a glitch, not a refusal.
            raise TokenUnavailable(
                f"token endpoint answered 200 without a usable token ({type(exc).__name__})",
                "bad_answer",
            ) from None
        # Renew a little early so a token never expires between being read and being checked.
        return header, self._clock() + max(lifetime - min(60.0, lifetime / 10), 0.0)

    async def _post(self, client: BackendApplicationClient) -> str:
        basic = self._config.auth_method == "client_secret_basic"
        secret = self._secret.get_secret_value()
        body = client.prepare_request_body(
            scope=self._config.scope,
            include_client_id=not basic,
            client_secret=None if basic else secret,
        )
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        if basic:
            # RFC 6749 §2.3.1: both parts are form-encoded before the Basic encoding.
            login, password = quote_plus(self._config.client_id), quote_plus(secret)
            headers["Authorization"] = aiohttp.encode_basic_auth(login, password)
        try:
            async with self._session.post(
                str(self._config.token_url),
                data=body,
                headers=headers,
                allow_redirects=False,
                ssl=self._tls(),
            ) as response:
                text = await response.text()
                return _check(response.status, text)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TokenUnavailable(f"token endpoint: {type(exc).__name__}: {exc}") from None


def _check(status: int, text: str) -> str:
    """The body of a 200. Only a clear `invalid_client` is final: a 403 from a firewall, a 400
    `slow_down`, a 5xx or a redirect is an endpoint having a bad moment."""
    if status == 200:
        return text
    try:
        BackendApplicationClient("").parse_request_body_response(text)
    except OAuth2Error as exc:
        if exc.error == "invalid_client":
            raise TokenRefused(f"token endpoint answered {status}: invalid_client") from None
        raise TokenUnavailable(
            f"token endpoint answered {status}: {exc.error}", "error_status"
        ) from None
    except (ValueError, TypeError):
        pass
    raise TokenUnavailable(f"token endpoint answered {status}", "error_status")


def credentials_for(
    partner: Partner,
    session: aiohttp.ClientSession,
    on_failure: Callable[[str], None] = lambda _: None,
    tls: Callable[[], ssl.SSLContext | bool] = lambda: True,
) -> Credentials:
    config = partner.config
    if config.oauth2 is not None and partner.client_secret is not None:
        return ClientCredentials(
            config.oauth2, partner.client_secret, session, on_failure=on_failure, tls=tls
        )
    if partner.token is not None:
        return StaticToken(partner.token)
    return NoCredentials()
