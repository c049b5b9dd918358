"""When to ask a partner again: exponential backoff with jitter, `Retry-After`, and the deadline."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

# The shortest wait a partner's Retry-After can ask for (unless WORKER_RETRY_INITIAL_SECONDS is
# shorter still): a partner answering `Retry-After: 0` for days cannot make us poll it in a loop.
RETRY_AFTER_FLOOR = 5.0


def retry_floor(initial: float) -> float:
    return min(initial, RETRY_AFTER_FLOOR)


def backoff_delay(
    retry: int,
    initial: float,
    cap: float,
    rng: random.Random,
    retry_after: float | None = None,
    floor: float = RETRY_AFTER_FLOOR,
) -> float:
    """Seconds to wait before retry number `retry` (1 for the first).

    The partner's `Retry-After`, when it sends one, is the delay: it knows when its photos will
    be ready (at least `floor`, so that it cannot make us spin; up to 10 % later, so that
    requests told the same thing do not come back in one burst; the deadline caps it later).
    Otherwise half the exponential step is fixed and half random, so a burst of requests that got
    their 202 together spreads out without ever retrying much sooner than the schedule says.
    """
    if retry_after is not None:
        return max(retry_after, floor) * rng.uniform(1.0, 1.1)
    step = min(cap, initial * 2.0 ** min(retry - 1, 60))
    return step / 2 + rng.uniform(0, step / 2)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP-date; None if absent, bad,
    or a date that is not in the future (no advice: the backoff decides)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: year 99999999999999999999
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - now).total_seconds()
    return seconds if seconds > 0 else None


def next_attempt(now: datetime, delay: float, deadline: datetime) -> datetime | None:
    """The next attempt's time, never past the deadline; None once the deadline has passed.

    Clamping to the deadline gives the partner one last chance exactly at `max_wait`.
    """
    if now >= deadline:
        return None
    if delay >= (deadline - now).total_seconds():
        return deadline  # also keeps an absurd Retry-After from overflowing datetime
    return now + timedelta(seconds=delay)
