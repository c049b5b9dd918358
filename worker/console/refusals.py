"""Refused sign-ins, form tokens, origins and host names: each one log line (who it claimed to
be, the peer, the reason) and one count by reason, and a peer that keeps failing to sign in is
made to wait.

The back-off: after `FREE_FAILURES` wrong credentials in a row, a peer is answered 429 without
its credentials being looked at for 1 s, then 2, 4... up to `LONGEST_WAIT`, from its last failure.
A right password resets it. The peer is the TCP peer: behind a proxy, the proxy (forwarded
addresses are not believed), so one attacker there slows everyone behind it, never for longer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

log = structlog.get_logger()
FREE_FAILURES = 5
LONGEST_WAIT = 60.0
_FORGET_AFTER = 900.0  # seconds without a failure
_TRACKED = 10_000  # peers remembered at most


@dataclass
class _Failures:
    count: int
    last: float


class Refusals:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.registry = CollectorRegistry()
        self._counter = Counter(
            "worker_console_refusals",
            "Requests the console refused: sign-in, form token, origin, host name, throttled",
            ["reason"],
            registry=self.registry,
        )
        self._clock = clock
        self._peers: dict[str, _Failures] = {}

    def refuse(
        self, request: web.Request, reason: str, answer: web.HTTPException, claimed: str = ""
    ) -> web.HTTPException:
        """Log and count the refusal; returns `answer` for the caller to raise."""
        self._counter.labels(reason).inc()
        log.warning(
            "console: refused",
            reason=reason,
            who=claimed,
            peer=request.remote,
            method=request.method,
            path=request.path,
            status=answer.status,
        )
        return answer

    def wait_left(self, peer: str) -> float:
        """Seconds this peer must still wait before its credentials are looked at again."""
        failures = self._peers.get(peer)
        if failures is None or failures.count < FREE_FAILURES:
            return 0.0
        wait = min(2.0 ** (failures.count - FREE_FAILURES), LONGEST_WAIT)
        return max(0.0, failures.last + wait - self._clock())

    def failed(self, peer: str) -> None:
        now = self._clock()
        if len(self._peers) >= _TRACKED:
            kept = {p: f for p, f in self._peers.items() if now - f.last < _FORGET_AFTER}
            # Still full: so many peers fail at once that remembering them costs more than it saves.
            self._peers = kept if len(kept) < _TRACKED else {}
        failures = self._peers.setdefault(peer, _Failures(0, now))
        if now - failures.last >= _FORGET_AFTER:
            failures.count = 0
        failures.count += 1
        failures.last = now

    def succeeded(self, peer: str) -> None:
        self._peers.pop(peer, None)
