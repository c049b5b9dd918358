"""Opening hours and closures as partners publish them, in the OC's time zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from worker.partners.agreement import OpeningHours


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


WEEKDAYS = OpeningHours(
    open=["mon-fri 08:00-20:00", "sat 09:00-12:00"],
    closed=["3rd sat 16:00-22:00", "2026-12-24T18:00/2026-12-26T08:00"],
).timetable


@pytest.mark.parametrize(
    ("now", "until"),
    [
        ("2026-11-23T10:00+01:00", None),  # a Monday morning
        ("2026-11-23T19:59+01:00", None),
        ("2026-11-23T20:00+01:00", "2026-11-24T08:00+01:00"),
        ("2026-11-21T10:00+01:00", None),  # Saturday morning
        ("2026-11-21T12:30+01:00", "2026-11-23T08:00+01:00"),  # to Monday
        ("2026-12-24T17:00+01:00", None),
        ("2026-12-24T18:00+01:00", "2026-12-26T09:00+01:00"),  # to Saturday morning
        ("2026-11-23T07:00Z", None),  # 08:00 in Paris
    ],
)
def test_opening_hours_say_until_when_an_oc_is_closed(now: str, until: str | None) -> None:
    found = WEEKDAYS.closed_until(_at(now))
    assert found == (None if until is None else _at(until))


def test_closures_alone_recurring_monthly_and_overnight() -> None:
    table = OpeningHours(closed=["3rd sat 16:00-22:00", "last sun 22:00-06:00"]).timetable
    assert table.closed_until(_at("2026-11-21T16:30+01:00")) == _at("2026-11-21T22:00+01:00")
    assert table.closed_until(_at("2026-11-14T16:30+01:00")) is None  # the 2nd Saturday
    assert table.closed_until(_at("2026-11-30T02:00+01:00")) == _at("2026-11-30T06:00+01:00")
    assert table.closed_until(_at("2026-11-22T23:00+01:00")) is None  # not the last Sunday


def test_wall_clock_hours_follow_daylight_saving() -> None:
    table = OpeningHours(open=["daily 08:00-20:00"]).timetable
    # The night the clocks go forward in Paris: 08:00 is 06:00 UTC, no longer 07:00.
    assert table.closed_until(_at("2026-03-28T21:00Z")) == _at("2026-03-29T06:00Z")
    assert table.closed_until(_at("2026-11-22T21:00Z")) == _at("2026-11-23T07:00Z")


def test_another_time_zone() -> None:
    table = OpeningHours(timezone="America/Cayenne", open=["mon-fri 08:00-17:00"]).timetable
    assert table.closed_until(datetime(2026, 11, 23, 10, 0, tzinfo=UTC)) == _at("2026-11-23T11:00Z")


@pytest.mark.parametrize(
    ("hours", "says"),
    [
        ({"open": ["mon-fri 8:00-20:00"]}, "expected e.g."),
        ({"open": ["mun 08:00-20:00"]}, "'mun' is not a day"),
        ({"open": ["mon 25:00-26:00"]}, "not a time of day"),
        ({"closed": ["2026-12-26T08:00/2026-12-24T18:00"]}, "ends before it starts"),
        ({"timezone": "Mars/Olympus", "open": ["daily 08:00-20:00"]}, "unknown time zone"),
        ({}, "give open or closed"),
    ],
)
def test_bad_hours_are_refused_with_the_reason(hours: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        OpeningHours.model_validate(hours)
