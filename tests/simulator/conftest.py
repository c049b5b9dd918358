"""Fixtures to run the simulator in-process and talk to it over real HTTP."""

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from worker.simulator import Simulator, SimulatorConfig, start

MakeSimulator = Callable[..., Awaitable[Simulator]]


@pytest.fixture
async def make_simulator() -> AsyncIterator[MakeSimulator]:
    """Start simulators with the given config; all of them are closed after the test."""
    started: list[Simulator] = []

    async def make(config: SimulatorConfig | None = None) -> Simulator:
        simulator = await start(config or SimulatorConfig())
        started.append(simulator)
        return simulator

    yield make
    for simulator in started:
        await simulator.close()


@pytest.fixture
async def simulator(make_simulator: MakeSimulator) -> Simulator:
    """An open simulator (no authentication required)."""
    return await make_simulator()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client
