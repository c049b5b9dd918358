"""Who may use the console, and the headers every answer carries.

Every request (but the probes' `/healthz` and `/metrics`) must name an allowed host
(WORKER_CONSOLE_HOSTS: a page of another site pointing its own name at the console, DNS
rebinding, gets 421), then gets in one of three ways, chosen by the settings and never combined:

- nothing: only when bound to loopback (whoever can open a socket on this machine, as "local");
- a password (HTTP Basic: the user name typed is recorded as "NAME (unverified)", since anyone
  with the password can type any name; or `Authorization: Bearer`, recorded as "token");
- a header set by a reverse proxy that authenticated the person, believed only from the
  proxies' addresses (WORKER_CONSOLE_TRUSTED_PROXIES, required), exactly once per request.

What a page of another site makes a browser send (an `<img>` of a thumbnail, a form) is refused
by its Fetch Metadata (`Sec-Fetch-Site`); a link followed to the console is not. Every refusal is
logged and counted (`refusals`); the CSRF tokens are in `forms`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from worker.console.params import BadParameter, printable
from worker.console.refusals import Refusals
from worker.console.voice import voice
from worker.settings import ConfigError, Settings

log = structlog.get_logger()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
WHO = web.RequestKey("who", str)
OPEN_PATHS = frozenset({"/healthz", "/metrics"})
NAME_LENGTH = 200  # characters of a user name
# PostgreSQL out of reach (not a failing statement, which is a bug and a 500).
_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
)
_REALM = 'Basic realm="photo-worker console", charset="UTF-8"'
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9._-]{1,253})(?::[0-9]{1,5})?")

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
    "Server": "photo-worker-console",  # aiohttp's default names its version and Python's
}
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str | None:
    """The name in a Host header (or a setting), lower case, without port, brackets or final
    dot; None if it is not one."""
    if not _HOST.fullmatch(header):
        return _address(header)
    name = header.rsplit(":", 1)[0] if not header.endswith("]") and ":" in header else header
    name = name.strip("[]").rstrip(".").lower()
    return _address(name) or name or None


def _address(text: str) -> str | None:
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        return None


@dataclass(frozen=True)
class Access:
    """The console's doorkeeper, built from the settings."""

    mode: str  # "none", "password" or "header"
    password: str | None
    trusted_header: str | None
    trusted_proxies: tuple[Network, ...]
    hosts: frozenset[str]

    @classmethod
    def from_settings(cls, settings: Settings) -> Access:
        password = settings.console_password.get_secret_value() if settings.console_password else ""
        header = settings.console_trusted_header or ""
        hosts = _host_names(settings.console_hosts)
        if password and header:
            raise ConfigError(
                "WORKER_CONSOLE_PASSWORD and WORKER_CONSOLE_TRUSTED_HEADER are both set: choose"
                " one way to sign in (README: Console)"
            )
        proxies = _networks(settings.console_trusted_proxies)
        if header and not proxies:
            raise ConfigError(
                "WORKER_CONSOLE_TRUSTED_HEADER is set without WORKER_CONSOLE_TRUSTED_PROXIES: the"
                " header would be believed from anyone; give the proxies' addresses or CIDRs"
            )
        mode = "password" if password else "header" if header else "none"
        if mode == "none" and not is_loopback(settings.console_host):
            raise ConfigError(
                f"WORKER_CONSOLE_HOST={settings.console_host} is not a loopback address: set"
                " WORKER_CONSOLE_PASSWORD or WORKER_CONSOLE_TRUSTED_HEADER (docs/console.md)"
            )
        if mode == "none" and not all(is_loopback(name) for name in hosts):
            raise ConfigError(
                "WORKER_CONSOLE_HOSTS names a host that is not loopback, without authentication:"
                " set WORKER_CONSOLE_PASSWORD or WORKER_CONSOLE_TRUSTED_HEADER"
            )
        if not hosts:
            raise ConfigError("WORKER_CONSOLE_HOSTS: no host name (comma-separated names)")
        return cls(mode, password or None, header or None, proxies, hosts)

    def identify(self, request: web.Request, refusals: Refusals) -> str:
        """Who makes this request; raises 4xx (logged and counted) when nobody acceptable does."""
        self._check_host(request, refusals)
        if _cross_site(request):
            raise refusals.refuse(
                request,
                "cross_site",
                web.HTTPForbidden(
                    text=voice(request).gettext("not from another site: open the console itself")
                    + "\n"
                ),
            )
        if self.mode == "header":
            return self._by_header(request, refusals)
        if self.mode == "password":
            return self._by_password(request, refusals)
        return "local"

    def _check_host(self, request: web.Request, refusals: Refusals) -> None:
        given = request.headers.getall("Host", [])
        name = host_name(given[0]) if len(given) == 1 else None
        if name not in self.hosts:
            raise refusals.refuse(
                request,
                "host",
                web.HTTPMisdirectedRequest(
                    text=voice(request).gettext(
                        "this host name is not the console's (WORKER_CONSOLE_HOSTS)"
                    )
                    + "\n"
                ),
            )

    def _by_header(self, request: web.Request, refusals: Refusals) -> str:
        assert self.trusted_header is not None
        sign_in = voice(request).gettext("sign in through the proxy") + "\n"
        if not self._from_proxy(request):
            raise refusals.refuse(request, "not_from_proxy", web.HTTPForbidden(text=sign_in))
        names = request.headers.getall(self.trusted_header, [])
        if not names:
            raise refusals.refuse(request, "no_user", web.HTTPUnauthorized(text=sign_in))
        if len(names) > 1:
            raise refusals.refuse(
                request, "repeated_header", web.HTTPBadRequest(text="user header repeated\n")
            )
        name = names[0].strip()
        if not name or len(name) > NAME_LENGTH or not printable(name):
            raise refusals.refuse(
                request, "bad_user", web.HTTPBadRequest(text="user header not a usable name\n")
            )
        return name

    def _from_proxy(self, request: web.Request) -> bool:
        try:
            peer = ipaddress.ip_address(request.remote or "")
        except ValueError:
            return False
        return any(peer in network for network in self.trusted_proxies)

    def _by_password(self, request: web.Request, refusals: Refusals) -> str:
        given = request.headers.getall("Authorization", [])
        if not given:
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": _REALM})
        peer = request.remote or "?"
        if wait := refusals.wait_left(peer):
            raise refusals.refuse(
                request,
                "throttled",
                web.HTTPTooManyRequests(
                    text=voice(request).gettext("too many failed sign-ins: wait") + "\n",
                    headers={"Retry-After": str(int(wait) + 1)},
                ),
            )
        who, claimed = self._check_password(given[0]) if len(given) == 1 else (None, "")
        if who is None:
            refusals.failed(peer)
            raise refusals.refuse(
                request,
                "password",
                web.HTTPUnauthorized(headers={"WWW-Authenticate": _REALM}),
                claimed,
            )
        refusals.succeeded(peer)
        return who

    def _check_password(self, header: str) -> tuple[str | None, str]:
        """(who, None if refused; the name claimed, for the log)."""
        assert self.password is not None
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() == "bearer":
            return ("token" if _same(value.strip(), self.password) else None), "token"
        if scheme.lower() != "basic":
            return None, ""
        try:
            decoded = base64.b64decode(value.strip().encode("ascii"), validate=True).decode()
        except (UnicodeError, binascii.Error):
            return None, ""
        user, _, password = decoded.partition(":")
        user = user.strip() or "operator"
        if len(user) > NAME_LENGTH or not printable(user):
            return None, user[:NAME_LENGTH]
        return (f"{user} (unverified)" if _same(password, self.password) else None), user


def _cross_site(request: web.Request) -> bool:
    """A request a page of another site made the browser send (an `<img>`, a form, a fetch):
    only a link followed to the console is let through (Fetch Metadata, sent by browsers)."""
    site = request.headers.get("Sec-Fetch-Site", "same-origin")
    if site in ("same-origin", "none"):
        return False
    navigation = request.headers.get("Sec-Fetch-Mode") == "navigate"
    return not (navigation and request.method == "GET")


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(errors="surrogateescape"), expected.encode())


def _host_names(text: str) -> frozenset[str]:
    names = {part.strip(): host_name(part.strip()) for part in text.split(",") if part.strip()}
    if bad := [part for part, name in names.items() if name is None]:
        raise ConfigError(f"WORKER_CONSOLE_HOSTS: not host names: {', '.join(bad)}")
    return frozenset(name for name in names.values() if name)


def _networks(text: str | None) -> tuple[Network, ...]:
    try:
        return tuple(
            ipaddress.ip_network(part.strip(), strict=False)
            for part in (text or "").split(",")
            if part.strip()
        )
    except ValueError as exc:
        raise ConfigError(f"WORKER_CONSOLE_TRUSTED_PROXIES: {exc}") from None


def guard(access: Access, refusals: Refusals) -> Middleware:
    """The middleware: who is it (4xx if nobody acceptable), a bad parameter as a 400, and
    failures as one log line."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in OPEN_PATHS:
            request[WHO] = access.identify(request, refusals)
        try:
            response = await handler(request)
        except web.HTTPException:
            raise
        except BadParameter as exc:
            raise web.HTTPBadRequest(text=f"{exc}\n") from None
        except _UNAVAILABLE as exc:
            log.error("console: PostgreSQL unavailable", path=request.path, error=repr(exc))
            raise web.HTTPServiceUnavailable(
                text=voice(request).gettext("PostgreSQL is unavailable; try again shortly") + "\n"
            ) from None
        except Exception:
            log.exception("console: page failed", path=request.path)
            raise web.HTTPInternalServerError(
                text=voice(request).gettext("the console failed on this page; its log says why")
                + "\n"
            ) from None
        return response

    return middleware


async def add_security_headers(_: web.Request, response: web.StreamResponse) -> None:
    """On every answer as it is sent (streamed ones, errors and static files included)."""
    response.headers.update(SECURITY_HEADERS)
