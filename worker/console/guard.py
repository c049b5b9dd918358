"""Who may use the console, and the headers every answer carries.

Three ways in, chosen by the settings: nothing (only when bound to loopback: whoever can open a
socket on this machine), a password (HTTP Basic, any user name, which is recorded as who; or
`Authorization: Bearer`), or a header set by a trusted reverse proxy that authenticated the user.
Forms carry a CSRF token bound to who is signed in; answers carry a strict CSP.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import asyncpg
import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from worker.settings import ConfigError, Settings

log = structlog.get_logger()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
WHO = web.RequestKey("who", str)
OPEN_PATHS = frozenset({"/healthz"})
_LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
# PostgreSQL out of reach (not a failing statement, which is a bug and a 500).
_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
)
_REALM = 'Basic realm="photo-worker console", charset="UTF-8"'

# No inline script or style anywhere: the pages load one script and one stylesheet of their own.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Access:
    """The console's doorkeeper, built from the settings."""

    password: str | None
    trusted_header: str | None
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    local_only: bool  # no authentication: only loopback binds and local host names

    @classmethod
    def from_settings(cls, settings: Settings) -> Access:
        password = settings.console_password
        access = cls(
            password=password.get_secret_value() if password else None,
            trusted_header=settings.console_trusted_header or None,
            trusted_proxies=_networks(settings.console_trusted_proxies),
            local_only=not (password or settings.console_trusted_header),
        )
        if access.local_only and not is_loopback(settings.console_host):
            raise ConfigError(
                f"WORKER_CONSOLE_HOST={settings.console_host} is not a loopback address: set"
                " WORKER_CONSOLE_PASSWORD or WORKER_CONSOLE_TRUSTED_HEADER (docs/console.md)"
            )
        return access

    def identify(self, request: web.Request) -> str:
        """Who makes this request; raises 401 or 403 when nobody acceptable does."""
        if self.local_only:
            return self._local(request)
        if self.trusted_header and (name := request.headers.get(self.trusted_header)):
            if self.trusted_proxies and not self._from_proxy(request):
                raise web.HTTPForbidden(text="this header is only trusted from the proxy\n")
            return name[:200]
        if self.password and (who := self._by_password(request.headers.get("Authorization"))):
            return who
        if self.password:
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": _REALM})
        raise web.HTTPUnauthorized(text="sign in through the reverse proxy\n")

    def _local(self, request: web.Request) -> str:
        # A page on another site could point a host name at 127.0.0.1 (DNS rebinding) and
        # read the console: without authentication, only local names are answered.
        if (request.url.host or "") not in _LOCAL_NAMES:
            raise web.HTTPMisdirectedRequest(text="open the console as http://127.0.0.1:PORT\n")
        return "local"

    def _from_proxy(self, request: web.Request) -> bool:
        try:
            peer = ipaddress.ip_address(request.remote or "")
        except ValueError:
            return False
        return any(peer in network for network in self.trusted_proxies)

    def _by_password(self, header: str | None) -> str | None:
        assert self.password is not None
        scheme, _, value = (header or "").partition(" ")
        if scheme.lower() == "bearer":
            return "token" if _same(value.strip(), self.password) else None
        if scheme.lower() != "basic":
            return None
        try:
            user, _, given = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return (user or "operator")[:200] if _same(given, self.password) else None


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _networks(text: str | None) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(
            ipaddress.ip_network(part.strip(), strict=False)
            for part in (text or "").split(",")
            if part.strip()
        )
    except ValueError as exc:
        raise ConfigError(f"WORKER_CONSOLE_TRUSTED_PROXIES: {exc}") from None


class Csrf:
    """Form tokens bound to who is signed in, under a key of this process: a page of another
    site can neither read nor compute one. A restart changes the key (forms are re-loaded)."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def token(self, who: str) -> str:
        return hmac.new(self._key, who.encode(), hashlib.sha256).hexdigest()

    def check(self, request: web.Request, given: str | None) -> None:
        origin = request.headers.get("Origin")
        if origin and urlsplit(origin).netloc != request.host:
            raise web.HTTPForbidden(text="cross-origin form refused\n")
        if not given or not hmac.compare_digest(given, self.token(request[WHO])):
            raise web.HTTPForbidden(text="missing or stale form token: reload the page\n")


def guard(access: Access) -> Middleware:
    """The middleware: who is it (401/403 if nobody acceptable), and failures as one log line."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in OPEN_PATHS:
            request[WHO] = access.identify(request)
        try:
            response = await handler(request)
        except web.HTTPException:
            raise
        except _UNAVAILABLE as exc:
            log.error("console: PostgreSQL unavailable", path=request.path, error=repr(exc))
            raise web.HTTPServiceUnavailable(
                text="PostgreSQL is unavailable; try again shortly\n"
            ) from None
        except Exception:
            log.exception("console: page failed", path=request.path)
            raise web.HTTPInternalServerError(
                text="the console failed on this page; its log says why\n"
            ) from None
        return response

    return middleware


async def add_security_headers(_: web.Request, response: web.StreamResponse) -> None:
    """On every answer as it is sent (streamed ones, errors and static files included)."""
    response.headers.update(SECURITY_HEADERS)
