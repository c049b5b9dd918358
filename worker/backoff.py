"""When to ask a partner again: exponential backoff with jitter, `Retry-After`, and the deadline."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime


def backoff_delay(
    retry: int, initial: float, cap: float, rng: random.Random, retry_after: float | None = None
) -> float:
    """Seconds to wait before retry number `retry` (1 for the first).

    Half the exponential step is fixed and half random, so a burst of requests that got their 202
    together spreads out without ever retrying much sooner than the schedule says.
    """
    step = min(cap, initial * 2.0 ** min(retry - 1, 60))
    delay = step / 2 + rng.uniform(0, step / 2)
    return max(delay, retry_after or 0.0)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP-date; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def next_attempt(now: datetime, delay: float, deadline: datetime) -> datetime | None:
    """The next attempt's time, never past the deadline; None once the deadline has passed.

    Clamping to the deadline gives the partner one last chance exactly at `max_wait`.
    """
    if now >= deadline:
        return None
    return min(now + timedelta(seconds=delay), deadline)
