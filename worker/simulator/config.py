"""What a simulated OC expects from its callers."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


def _no_clients() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class SimulatorConfig:
    """Settings of one simulated OC API.

    When neither ``tokens`` nor ``oauth_clients`` is given, the API is open: any
    Authorization header, or none, is accepted.
    """

    client_id: str | None = None
    """If set, X-Client-Id must equal it (403 otherwise)."""
    tokens: frozenset[str] = frozenset()
    """Static bearer tokens accepted forever."""
    oauth_clients: Mapping[str, str] = field(default_factory=_no_clients)
    """client_id -> client_secret accepted by POST /oauth/token."""
    token_ttl: float = 3600.0
    """Lifetime in seconds of the tokens issued by POST /oauth/token."""
    chunk_size: int = 64 * 1024
    """Size of the chunks photo bodies are streamed in."""
    rate: float | None = None
    """API calls a second over which the OC answers 429 (with Retry-After: 1); None: no limit."""
    burst: int | None = None
    """Calls at once after a quiet spell, under `rate` (default: the rate, rounded up)."""

    def __post_init__(self) -> None:
        if self.chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        if self.token_ttl <= 0:
            raise ValueError("token_ttl must be positive")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("rate must be positive")
        if self.burst is not None and self.burst < 1:
            raise ValueError("burst must be at least 1")

    @property
    def requires_auth(self) -> bool:
        return bool(self.tokens or self.oauth_clients)
