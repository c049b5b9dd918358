"""The cost of one log line, ordinary and with a 100 KB value (hostile input, cut to 2,000
characters after redaction): `python -m tests.bench --only logging`."""

from __future__ import annotations

import logging
import os
import time

import structlog

from tests.bench.scenarios import Figures
from worker.observe.logs import configure_logging

_LINES = 300


def logging_cost(runs: int) -> Figures:
    figures = Figures()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    with open(os.devnull, "w", encoding="utf-8") as sink:
        configure_logging("info", "json", secrets=["s3cret-token-value"], stream=sink)
        log = structlog.get_logger("bench")
        try:
            for _ in range(runs):
                figures.add(short_us=1e6 * _per_line(log, "OPS-12:photos=4"))
                figures.add(hostile_ms=1e3 * _per_line(log, "a" * 100_000))
        finally:
            structlog.reset_defaults()
            root.handlers[:], root.level = handlers, level
    return figures


def _per_line(log: structlog.stdlib.BoundLogger, value: str) -> float:
    started = time.perf_counter()
    for _ in range(_LINES):
        log.info("message settled", outcome="dead_lettered", detail=value, reference=value)
    return (time.perf_counter() - started) / _LINES
