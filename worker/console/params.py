"""The strict parsers of what a URL, a form or a header gives the console: one per type.

Each takes the raw text and returns the value or raises `BadParameter`, whose message names the
parameter in one line; the guard answers it with a 400. Python's own parsers are too lenient
for a value from outside (`'²'.isdigit()` is true, `int()` takes any Unicode digit and 5,000 of
them, `date.fromisoformat` takes 9999-12-31, whose next day does not exist): each value is first
matched against an ASCII pattern, then bounded.
"""

from __future__ import annotations

import re
import uuid as uuid_
from collections.abc import Collection
from datetime import UTC, date, datetime

INT64_MAX = 2**63 - 1
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2999, 12, 31)
_DIGITS = re.compile(r"[0-9]{1,19}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
# What the console writes in its own links (`datetime.isoformat()`), offsets within a day.
_INSTANT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?"
    r"(?:Z|[+-][0-9]{2}:[0-9]{2})?"
)
# C0 and C1 controls, DEL, and lone surrogates (what undecodable bytes become).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


class BadParameter(ValueError):
    """A value that cannot be used; the message says which and what is expected, in one line."""


def _show(value: str) -> str:
    return ascii(value[:40]) + ("..." if len(value) > 40 else "")


def text(name: str, value: str, longest: int) -> str:
    """Printable text of at most `longest` characters, trimmed."""
    if _CONTROL.search(value):
        raise BadParameter(f"{name}: control characters are not allowed")
    value = value.strip()
    if len(value) > longest:
        raise BadParameter(f"{name}: at most {longest} characters")
    return value


def integer(name: str, value: str, low: int = 0, high: int = INT64_MAX) -> int:
    """ASCII digits, between `low` and `high` (a PostgreSQL bigint by default)."""
    if not _DIGITS.fullmatch(value) or not low <= int(value) <= high:
        raise BadParameter(f"{name} {_show(value)}: a whole number from {low} to {high}")
    return int(value)


def day(name: str, value: str) -> date:
    """YYYY-MM-DD, from 1970 to 2999."""
    wrong = BadParameter(f"{name} {_show(value)}: a date as YYYY-MM-DD")
    if not _DAY.fullmatch(value):
        raise wrong
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise wrong from None
    if not FIRST_DAY <= parsed <= LAST_DAY:
        raise BadParameter(f"{name} {_show(value)}: a date from {FIRST_DAY} to {LAST_DAY}")
    return parsed


def instant(name: str, value: str) -> datetime:
    """An ISO 8601 date and time (no offset: UTC), between 1970 and 2999 once in UTC."""
    wrong = BadParameter(f"{name} {_show(value)}: a date and time (ISO 8601)")
    if not _INSTANT.fullmatch(value):
        raise wrong
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        in_utc = parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise wrong from None
    if not FIRST_DAY <= in_utc.date() <= LAST_DAY:
        raise BadParameter(f"{name} {_show(value)}: a time from {FIRST_DAY} to {LAST_DAY}")
    return in_utc


def uuid(name: str, value: str) -> uuid_.UUID:
    """A UUID in its usual hyphenated form."""
    if not _UUID.fullmatch(value):
        raise BadParameter(f"{name} {_show(value)}: a UUID")
    return uuid_.UUID(value)


def choice(name: str, value: str, allowed: Collection[str]) -> str:
    if value not in allowed:
        raise BadParameter(f"{name} {_show(value)}: one of {', '.join(allowed)}")
    return value


def printable(value: str) -> bool:
    """No control characters and no undecodable bytes: safe to show, log and store."""
    return not _CONTROL.search(value)
