"""The OAuth 2.0 token endpoint, client-credentials grant only (RFC 6749 section 4.4)."""

import base64
import binascii
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_plus

from aiohttp import web

from worker.simulator.state import STATE

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_DEFAULT_SCOPE = "photos:read"


async def issue_token(request: web.Request) -> web.Response:
    """Exchange client credentials (Basic or form fields) for a bearer token."""
    state = request.app[STATE]
    form = await request.post()
    basic = _basic_credentials(request.headers.get("Authorization"))
    client_id, secret = basic or (_form_text(form, "client_id"), _form_text(form, "client_secret"))
    if not _is_known_client(state.config.oauth_clients, client_id, secret):
        challenge = {"WWW-Authenticate": 'Basic realm="oauth"'} if basic else {}
        return _oauth_error(401, "invalid_client", challenge)
    grant_type = _form_text(form, "grant_type")
    if grant_type != "client_credentials":
        return _oauth_error(
            400, "invalid_request" if grant_type is None else "unsupported_grant_type"
        )
    body: dict[str, Any] = {
        "access_token": state.tokens.issue(),
        "token_type": "Bearer",
        "expires_in": _seconds(state.config.token_ttl),
        "scope": _form_text(form, "scope") or _DEFAULT_SCOPE,
    }
    return web.json_response(body, headers=_NO_STORE)


def _is_known_client(clients: Mapping[str, str], client_id: str | None, secret: str | None) -> bool:
    known = clients.get(client_id or "")
    return (
        known is not None
        and secret is not None
        and secrets.compare_digest(known.encode(), secret.encode())
    )


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """(client_id, secret) of a Basic header; RFC 6749 2.3.1 form-encodes both before base64."""
    if authorization is None:
        return None
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (unquote_plus(client_id), unquote_plus(secret)) if sep else None


def _form_text(form: Mapping[str, object], name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def _seconds(ttl: float) -> int | float:
    return int(ttl) if float(ttl).is_integer() else ttl


def _oauth_error(status: int, error: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"error": error}, status=status, headers={**_NO_STORE, **(headers or {})}
    )
