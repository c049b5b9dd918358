"""Measures run in a process of their own, on uvloop as the worker runs (the benchmark's own
loop is asyncio's, as the bare loop it compares against)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.bench.scenarios import Figures


def run_apart(module: str, *args: object) -> Figures:
    """`python -m module args`, which prints its figures' values as JSON on its last line."""
    done = subprocess.run(
        [sys.executable, "-m", module, *map(str, args)], capture_output=True, check=True, text=True
    )
    figures = Figures()
    figures.values = json.loads(done.stdout.strip().splitlines()[-1])
    return figures
