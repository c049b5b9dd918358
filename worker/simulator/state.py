"""Everything one simulator instance remembers between calls."""

import math
from dataclasses import dataclass, field

from aiohttp import web

from worker.simulator.calls import CallRecord
from worker.simulator.catalog import Catalog
from worker.simulator.config import SimulatorConfig
from worker.simulator.limits import Conditions
from worker.simulator.tokens import TokenStore


@dataclass
class SimulatorState:
    config: SimulatorConfig
    tokens: TokenStore
    conditions: Conditions
    catalog: Catalog = field(default_factory=Catalog)
    calls: list[CallRecord] = field(default_factory=list)
    metadata_calls: dict[tuple[str, str], int] = field(default_factory=dict)

    @classmethod
    def create(cls, config: SimulatorConfig) -> "SimulatorState":
        burst = config.burst or max(1, math.ceil(config.rate or 1))
        return cls(
            config=config, tokens=TokenStore(config), conditions=Conditions(config.rate, burst)
        )

    def count_metadata_call(self, operation: str, reference: str) -> int:
        """Count one more metadata call about (operation, reference); return its 1-based rank."""
        key = (operation, reference)
        self.metadata_calls[key] = self.metadata_calls.get(key, 0) + 1
        return self.metadata_calls[key]


STATE = web.AppKey("simulator_state", SimulatorState)
