"""An OC's own conditions as the simulator enforces them: a rate over which it answers 429, an
outage during which it answers 503, and closed hours during which it answers 503 too.

The rate is configured (`SimulatorConfig.rate`, `--rate`); an outage or a closure is switched on
for a number of seconds by `POST /_sim/outage?seconds=S` or `POST /_sim/closed?seconds=S`.
"""

import time
from dataclasses import dataclass, field

from aiohttp import web

from worker.simulator.responses import error_response


@dataclass
class Conditions:
    rate: float | None = None
    burst: int = 1
    down_until: float = 0.0
    closed_until: float = 0.0
    _tokens: float = field(default=0.0, init=False)
    _refilled: float = field(default_factory=time.monotonic, init=False)

    def __post_init__(self) -> None:
        self._tokens = float(self.burst)

    def refusal(self) -> web.Response | None:
        """The answer an API call gets instead of its own, if the OC refuses it now."""
        now = time.monotonic()
        if now < self.down_until:
            return error_response(503, "simulated outage: the API is down")
        if now < self.closed_until:
            return error_response(503, "closed: outside the API's opening hours")
        if self.rate is None:
            return None
        self._tokens = min(self.burst, self._tokens + (now - self._refilled) * self.rate)
        self._refilled = now
        if self._tokens < 1:
            refused = f"over the agreed rate of {self.rate}/s"
            return error_response(429, refused, {"Retry-After": "1"})
        self._tokens -= 1
        return None


def seconds_of(request: web.Request) -> float:
    """The `?seconds=S` of an outage or a closure."""
    try:
        seconds = float(request.query.get("seconds", ""))
    except ValueError:
        raise web.HTTPBadRequest(text="give ?seconds=S (a number)") from None
    if not 0 <= seconds <= 86400:
        raise web.HTTPBadRequest(text="seconds must be between 0 and 86400")
    return seconds
