"""Durations in the partners file's notation: `7d`, `36h`, `1d12h`, `90m`, `45s`, or seconds."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator

from worker.settings import parse_duration


def format_duration(seconds: float, units: int = 2) -> str:
    """`2d 3h` (the `units` largest), in the notation of the partners file."""
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{n}{unit}" for n, unit in parts if n][:units]
    return " ".join(shown) or "0s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
