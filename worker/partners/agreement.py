"""An OC's conditions of use, as its partners-file table states them: rate, quota, hours, breaker.

Each is optional; the worker enforces them for the deployment as a whole (see `worker/limits/`).
"""

from __future__ import annotations

import math
from datetime import timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from worker.partners.duration import Duration
from worker.partners.hours import Rule, Timetable, parse_rule, zone_named


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Zoned(_Strict):
    timezone: str = Field("Europe/Paris", description="an IANA time zone")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone_named(value)
        return value

    @cached_property
    def zone(self) -> ZoneInfo:
        return zone_named(self.timezone)


class RateLimit(_Strict):
    """At most `per_second` calls a second on average, `burst` at once after a quiet spell."""

    per_second: float = Field(gt=0, le=10_000, description="calls a second on average")
    burst: int | None = Field(
        None, ge=1, le=100_000, description="calls at once after a lull (default: the rate)"
    )

    @property
    def capacity(self) -> int:
        return self.burst or max(1, math.ceil(self.per_second))


class DailyQuota(_Zoned):
    """At most `calls` calls (metadata and photos) per calendar day in `timezone`."""

    calls: int = Field(ge=1, description="calls (metadata and photos) a calendar day")


class OpeningHours(_Zoned):
    """When the OC may be called: `open` spans (always, when empty) minus `closed` ones."""

    open: tuple[str, ...] = Field(
        (),
        description="spans when the OC may be called (none: always): `mon-fri 08:00-20:00`,"
        " `daily 06:00-23:00`, `3rd sat 16:00-22:00`, `sun 23:30-01:00`...",
        examples=[["mon-fri 07:00-21:00", "sat 08:00-13:00"]],
    )
    closed: tuple[str, ...] = Field(
        (),
        description="spans taken out of `open`: the same rules, or a one-off"
        " `2026-12-24T18:00/2026-12-26T08:00` (local times)",
        examples=[["3rd sat 16:00-22:00"]],
    )

    @field_validator("open", "closed")
    @classmethod
    def _rules_parse(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for rule in value:
            parse_rule(rule)
        return value

    @model_validator(mode="after")
    def _opens_sometimes(self) -> OpeningHours:
        if not self.open and not self.closed:
            raise ValueError("give open or closed spans (or leave the table out)")
        return self

    @cached_property
    def timetable(self) -> Timetable:
        return Timetable(self.zone, _rules(self.open), _rules(self.closed))


def _rules(texts: tuple[str, ...]) -> tuple[Rule, ...]:
    return tuple(parse_rule(text) for text in texts)


class Breaker(_Strict):
    """After `failures` transient failures in a row, no call for `cooldown`, then one probe."""

    failures: int = Field(
        5, ge=1, le=10_000, description="transient failures in a row that open the breaker"
    )
    cooldown: Duration = Field(
        timedelta(minutes=1), description="no call for this long, then one probe"
    )
