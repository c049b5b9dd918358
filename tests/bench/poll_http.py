"""The cost of one 202 poll's HTTP call, alone: the same aiohttp GET of the simulator, in a tight
loop, in waves (14 every 0.5 s: what the worker's batched wake-ups make of 100,000 requests due
over an hour), and one at a time every 35 ms (the same rate, spread). CPU per call from the
kernel's `getrusage`: how much of a poll's CPU is doing little at a time."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.bench.apart import cpu_seconds, serve_apart
from tests.bench.environment import TOKEN
from tests.bench.scenarios import Figures

URL = "{base}/cri/v1/interventions/POLL-1:after=never:retry_after=3600/photos"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "X-Client-Id": "OIBN", "X-Request-Id": "bench"}
PACES = {"tight": (1, 0.0), "waves": (14, 0.5), "spread": (1, 0.035)}  # calls per wake, pause


async def poll_http(base: str, calls: int, runs: int) -> Figures:
    figures = Figures()
    async with aiohttp.ClientSession() as session:
        await _call(session, base)
        for _ in range(runs):
            figures.add(
                **{name: await _cost(session, base, calls, *pace) for name, pace in PACES.items()}
            )
    return figures


async def _cost(
    session: aiohttp.ClientSession, base: str, calls: int, wave: int, pause: float
) -> float:
    """Microseconds of CPU per call."""
    before = cpu_seconds()
    for _ in range(calls // wave):
        for _ in range(wave // 4 or 1):  # an OC's 4 slots at once
            await asyncio.gather(*(_call(session, base) for _ in range(min(wave, 4))))
        await asyncio.sleep(pause)
    return 1e6 * (cpu_seconds() - before) / (calls // wave * wave)


async def _call(session: aiohttp.ClientSession, base: str) -> None:
    async with session.get(URL.format(base=base), headers=HEADERS) as response:
        await response.read()


if __name__ == "__main__":
    serve_apart(poll_http)
