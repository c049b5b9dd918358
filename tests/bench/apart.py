"""Measures run in a process of their own, on uvloop as the worker runs (the benchmark's own
loop is asyncio's, as the bare loop it compares against)."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from collections.abc import Awaitable, Callable

from tests.bench.scenarios import Figures


def run_apart(module: str, *args: object) -> Figures:
    """`python -m module args`, which prints its figures' values as JSON on its last line."""
    done = subprocess.run(
        [sys.executable, "-m", module, *map(str, args)], capture_output=True, check=True, text=True
    )
    figures = Figures()
    figures.values = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def serve_apart(measure: Callable[[str, int, int], Awaitable[Figures]]) -> None:
    """The other side: `measure(text, count, runs)` from the command line, on uvloop."""
    import uvloop

    async def main() -> None:
        figures = await measure(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
        print(json.dumps(figures.values))

    uvloop.run(main())


def cpu_seconds() -> float:
    """This process's CPU time, user and system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
