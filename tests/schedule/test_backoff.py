"""Backoff: exponential steps with jitter, Retry-After, and the deadline."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from worker.schedule.backoff import (
    RETRY_AFTER_FLOOR,
    backoff_delay,
    next_attempt,
    parse_retry_after,
    retry_floor,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("retry", "step"),
    [(1, 60), (2, 120), (3, 240), (6, 1920), (7, 3600), (50, 3600), (10_000, 3600)],
)
def test_delay_is_between_half_step_and_step(retry: int, step: float) -> None:
    rng = random.Random(retry)
    delays = [backoff_delay(retry, 60, 3600, rng) for _ in range(200)]
    assert all(step / 2 <= d <= step for d in delays)
    # Jitter really spreads: not every draw is the same.
    assert max(delays) - min(delays) > step / 10


def test_delay_is_reproducible_with_a_seed() -> None:
    first = [backoff_delay(3, 1, 100, random.Random(7)) for _ in range(3)]
    assert first == [backoff_delay(3, 1, 100, random.Random(7)) for _ in range(3)]


@pytest.mark.parametrize("retry_after", [5.0, 120.0, 86_400.0])
def test_retry_after_is_the_delay_plus_at_most_ten_percent(retry_after: float) -> None:
    rng = random.Random(1)
    delays = [backoff_delay(1, 60, 3600, rng, retry_after=retry_after) for _ in range(200)]
    assert all(retry_after <= d <= retry_after * 1.1 for d in delays)


@pytest.mark.parametrize("retry_after", [0.0, 0.2, 4.9])
def test_retry_after_is_at_least_the_floor(retry_after: float) -> None:
    rng = random.Random(2)
    delays = [backoff_delay(4, 60, 3600, rng, retry_after=retry_after) for _ in range(100)]
    assert all(RETRY_AFTER_FLOOR <= d <= RETRY_AFTER_FLOOR * 1.1 for d in delays)


@pytest.mark.parametrize(("initial", "floor"), [(60.0, 5.0), (2.0, 2.0), (0.05, 0.05)])
def test_the_floor_is_the_first_backoff_step_when_it_is_shorter(initial: float, floor: float):
    assert retry_floor(initial) == floor
    delay = backoff_delay(1, initial, 3600, random.Random(3), 0.0, retry_floor(initial))
    assert floor <= delay <= floor * 1.1


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 30 ", 30.0),
        ("0", 0.0),
        ("Wed, 01 May 2024 12:02:00 GMT", 120.0),
        ("Wed, 01 May 2024 12:00:30 GMT", 30.0),
    ],
)
def test_parse_retry_after(value: str, seconds: float) -> None:
    assert parse_retry_after(value, NOW) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value", ["Tue, 30 Apr 2024 12:00:00 GMT", "Wed, 01 May 2024 12:00:00 GMT", "Thu, 01 Jan 1970"]
)
def test_a_date_that_is_not_in_the_future_is_no_advice(value: str) -> None:
    assert parse_retry_after(value, NOW) is None


@pytest.mark.parametrize(
    "value", ["Wed, 01 May 99999999999999999999 12:00:00 GMT", "Wed, 01 May 10000 12:00:00 GMT"]
)
def test_a_date_out_of_range_is_no_advice(value: str) -> None:
    assert parse_retry_after(value, NOW) is None


@pytest.mark.parametrize("value", [None, "", "   ", "soon", "-5", "1.5", "12 seconds"])
def test_parse_retry_after_garbage_is_none(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


def test_parse_retry_after_superscript_digit_is_none() -> None:
    # aiohttp decodes header bytes, so a partner can send b"Retry-After: \xc2\xb2".
    assert parse_retry_after("²", NOW) is None


def test_next_attempt_adds_the_delay() -> None:
    deadline = NOW + timedelta(days=7)
    assert next_attempt(NOW, 90.0, deadline) == NOW + timedelta(seconds=90)


def test_next_attempt_is_clamped_to_the_deadline() -> None:
    deadline = NOW + timedelta(minutes=5)
    assert next_attempt(NOW, 3600.0, deadline) == deadline


@pytest.mark.parametrize("late", [timedelta(0), timedelta(seconds=1), timedelta(days=1)])
def test_next_attempt_is_none_once_the_deadline_is_reached(late: timedelta) -> None:
    assert next_attempt(NOW + late, 60.0, NOW) is None


def test_next_attempt_with_an_absurd_retry_after_is_the_deadline() -> None:
    # A partner answering `Retry-After: 1000000000000` (about 31,700 years).
    deadline = NOW + timedelta(days=7)
    delay = backoff_delay(1, 60, 3600, random.Random(0), parse_retry_after("1000000000000", NOW))
    assert next_attempt(NOW, delay, deadline) == deadline
