"""Which bearer tokens the simulated OC currently accepts."""

import secrets
import time
from collections.abc import Callable

from worker.simulator.config import SimulatorConfig


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if that is what it is."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class TokenStore:
    """Static tokens from the configuration plus the tokens issued by the token endpoint."""

    def __init__(
        self, config: SimulatorConfig, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._config = config
        self._clock = clock
        self._issued: dict[str, float] = {}

    def issue(self) -> str:
        token = secrets.token_urlsafe(32)
        self._issued[token] = self._clock() + self._config.token_ttl
        return token

    def accepts(self, authorization: str | None) -> bool:
        """Whether a request carrying this Authorization header is authenticated."""
        if not self._config.requires_auth:
            return True
        token = bearer_token(authorization)
        if token is None:
            return False
        return token in self._config.tokens or self._is_live(token)

    def revoke(self, authorization: str | None) -> None:
        """Forget an issued token; static tokens cannot be revoked."""
        token = bearer_token(authorization)
        if token is not None:
            self._issued.pop(token, None)

    def _is_live(self, token: str) -> bool:
        expires_at = self._issued.get(token)
        if expires_at is None:
            return False
        if self._clock() >= expires_at:
            del self._issued[token]
            return False
        return True
