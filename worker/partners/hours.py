"""When an OC may be called: opening hours and closures, in the OC's time zone.

Rules are written as partners publish them: `mon-fri 08:00-20:00`, `daily 06:00-23:00`,
`3rd sat 16:00-22:00`, `last sun 22:00-06:00` (an end before the start runs into the next day),
and one-off closures as an ISO interval of local times, `2026-12-24T18:00/2026-12-26T08:00`.
Wall-clock times follow the zone's daylight saving changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NTH = {"1st": 1, "2nd": 2, "3rd": 3, "4th": 4, "5th": 5, "last": -1}
_TIMES = r"(\d{2}):(\d{2})-(\d{2}):(\d{2})"
_WEEKLY = re.compile(rf"^([a-z,\-]+) {_TIMES}$")
_MONTHLY = re.compile(rf"^(1st|2nd|3rd|4th|5th|last) ([a-z]{{3}}) {_TIMES}$")
_MOMENT = r"(\d{4}-\d{2}-\d{2})[t ](\d{2}:\d{2}(?::\d{2})?)"  # seconds allowed, for tests
_ONE_OFF = re.compile(rf"^{_MOMENT}/{_MOMENT}$")
# How far ahead an opening is looked for: beyond it, the partner is taken as closed for good.
_HORIZON_DAYS = 400
Span = tuple[datetime, datetime]


@dataclass(frozen=True)
class Recurring:
    """Spans that start on given weekdays (all, or only the nth/last of its month) at a time."""

    weekdays: frozenset[int]
    nth: int | None
    start: timedelta  # from midnight, local
    end: timedelta  # may pass midnight

    def spans_starting(self, day: date, zone: ZoneInfo) -> Iterator[Span]:
        if day.weekday() in self.weekdays and self._nth_matches(day):
            midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
            yield _aware(midnight + self.start), _aware(midnight + self.end)

    def _nth_matches(self, day: date) -> bool:
        if self.nth is None:
            return True
        if self.nth == -1:
            return (day + timedelta(days=7)).month != day.month
        return (day.day - 1) // 7 + 1 == self.nth


@dataclass(frozen=True)
class OneOff:
    start: datetime  # naive, local
    end: datetime

    def spans_starting(self, day: date, zone: ZoneInfo) -> Iterator[Span]:
        if self.start.date() == day:
            yield self.start.replace(tzinfo=zone), self.end.replace(tzinfo=zone)


Rule = Recurring | OneOff


def _aware(local: datetime) -> datetime:
    # Arithmetic on an aware datetime keeps its wall-clock fields: normalised, 02:30 on a
    # spring-forward night becomes the instant it stands for, not a time that never existed.
    return local.astimezone(local.tzinfo)


def parse_rule(text: str) -> Rule:
    """One rule; ValueError says what is wrong with it."""
    given = " ".join(text.lower().split())
    if match := _ONE_OFF.match(given):
        day1, time1, day2, time2 = match.groups()
        start, end = (
            datetime.fromisoformat(f"{day1}T{time1}"),
            datetime.fromisoformat(f"{day2}T{time2}"),
        )
        if end <= start:
            raise ValueError(f"{text!r}: the closure ends before it starts")
        return OneOff(start, end)
    if match := _MONTHLY.match(given):
        nth, day, *times = match.groups()
        return _recurring(text, frozenset({_day(text, day)}), _NTH[nth], times)
    if match := _WEEKLY.match(given):
        days, *times = match.groups()
        return _recurring(text, _days(text, days), None, times)
    raise ValueError(
        f"{text!r}: expected e.g. 'mon-fri 08:00-20:00', '3rd sat 16:00-22:00' or "
        "'2026-12-24T18:00/2026-12-26T08:00'"
    )


def _recurring(text: str, weekdays: frozenset[int], nth: int | None, times: list[str]) -> Rule:
    h1, m1, h2, m2 = (int(t) for t in times)
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(f"{text!r}: not a time of day")
    start, end = timedelta(hours=h1, minutes=m1), timedelta(hours=h2, minutes=m2)
    if end <= start:
        end += timedelta(days=1)
    return Recurring(weekdays, nth, start, end)


def _days(text: str, spec: str) -> frozenset[int]:
    if spec == "daily":
        return frozenset(range(7))
    found: set[int] = set()
    for part in spec.split(","):
        first, _, last = part.partition("-")
        low, high = _day(text, first), _day(text, last or first)
        found |= (
            set(range(low, high + 1)) if low <= high else set(range(low, 7)) | set(range(high + 1))
        )
    return frozenset(found)


def _day(text: str, name: str) -> int:
    if name not in DAYS:
        raise ValueError(f"{text!r}: {name!r} is not a day (mon, tue, ... sun, or daily)")
    return DAYS.index(name)


@dataclass(frozen=True)
class Timetable:
    """Open during any `opened` span (always, if there are none) and not in a `closed` one."""

    zone: ZoneInfo
    opened: Sequence[Rule]
    closed: Sequence[Rule]

    def closed_until(self, now: datetime) -> datetime | None:
        """None when the OC may be called at `now`; else when it may again (`now` aware)."""
        moment = now
        for _ in range(64):  # each step leaves a span behind; a few are enough in practice
            end = _end_of_span(self.closed, moment, self.zone)
            if end is None and self.opened and _end_of_span(self.opened, moment, self.zone) is None:
                end = self._next_opening(moment)
            if end is None:
                return None if moment == now else moment
            moment = end
        return moment

    def _next_opening(self, moment: datetime) -> datetime:
        day = moment.astimezone(self.zone).date()
        for offset in range(_HORIZON_DAYS):
            starts = [
                start
                for rule in self.opened
                for start, _ in rule.spans_starting(day + timedelta(days=offset), self.zone)
                if start > moment
            ]
            if starts:
                return min(starts)
        return moment + timedelta(days=_HORIZON_DAYS)


def _end_of_span(rules: Sequence[Rule], moment: datetime, zone: ZoneInfo) -> datetime | None:
    """The latest end of the spans of `rules` that contain `moment`, if any does."""
    day = moment.astimezone(zone).date()
    spans = [span for rule in rules for span in _spans_around(rule, day, zone)]
    return max((end for start, end in spans if start <= moment < end), default=None)


def _spans_around(rule: Rule, day: date, zone: ZoneInfo) -> list[Span]:
    if isinstance(rule, OneOff):
        return [(rule.start.replace(tzinfo=zone), rule.end.replace(tzinfo=zone))]
    # A span that began yesterday may run past midnight.
    return [span for back in (1, 0) for span in rule.spans_starting(day - timedelta(back), zone)]


def zone_named(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (expected e.g. 'Europe/Paris')") from None
