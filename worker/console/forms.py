"""The actions' forms: where they may come from, and their CSRF tokens.

A token is `ISSUED.MAC`: the time it was made and an HMAC, under a key of this process, of who
is signed in, the browser's session cookie and that time. A page of another site can neither
read nor compute one; a token is good for `LIFETIME` seconds, for one person in one browser
(two local users, both "local", have two sessions). A restart changes the key: forms are
reloaded.

The form must also come from the console's own origin: the configured public origin
(WORKER_CONSOLE_PUBLIC_ORIGIN, behind a proxy that changes the scheme or the host), or else the
scheme and Host of the request itself; a browser's `Sec-Fetch-Site` must say same-origin.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable

from aiohttp import web

SESSION_COOKIE = "console_session"
LIFETIME = 8 * 3600  # seconds: a working day
_SESSION = re.compile(r"[A-Za-z0-9_-]{43}")
_TOKEN = re.compile(r"([0-9]{1,12})\.([0-9a-f]{64})")


def new_session() -> str:
    return secrets.token_urlsafe(32)


class Csrf:
    def __init__(
        self,
        key: bytes | None = None,
        public_origin: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key or secrets.token_bytes(32)
        self._public_origin = public_origin
        self._clock = clock

    @staticmethod
    def session(request: web.Request) -> str | None:
        """The browser's session, if its cookie is one the console set."""
        value = request.cookies.get(SESSION_COOKIE, "")
        return value if _SESSION.fullmatch(value) else None

    def keep_session(
        self, request: web.Request, response: web.StreamResponse, session: str
    ) -> None:
        """The browser keeps its session in a cookie no script reads and no other site sends."""
        secure = request.secure or (self._public_origin or "").startswith("https:")
        response.set_cookie(
            SESSION_COOKIE, session, httponly=True, samesite="Strict", secure=secure, path="/"
        )

    def token(self, who: str, session: str) -> str:
        issued = int(self._clock())
        return f"{issued}.{self._mac(who, session, issued)}"

    def _mac(self, who: str, session: str, issued: int) -> str:
        message = f"{who}\0{session}\0{issued}".encode(errors="surrogateescape")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def refusal(self, request: web.Request, who: str, given: str | None) -> str | None:
        """Why this form is refused ("origin" or "csrf"), None if it is accepted."""
        origin = request.headers.get("Origin")
        expected = self._public_origin or f"{request.scheme}://{request.host}"
        if origin is not None and origin.lower() != expected.lower():
            return "origin"
        if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            return "origin"
        session = self.session(request)
        match = _TOKEN.fullmatch(given or "")
        if session is None or match is None:
            return "csrf"
        issued = int(match[1])
        if not 0 <= self._clock() - issued <= LIFETIME:
            return "csrf"
        if not hmac.compare_digest(match[2], self._mac(who, session, issued)):
            return "csrf"
        return None
