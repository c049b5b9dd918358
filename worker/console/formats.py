"""Values as people read them, in the page's language and time zone: instants, spans of time,
sizes and counts.

An instant is shown in the console's zone with the zone's abbreviation (`CET`, `CEST`), inside a
`<time>` whose `datetime` is the UTC instant and whose title (the hover) the UTC time; a relative
time (`3 min ago`) carries the absolute one for print (the print stylesheet swaps them).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from babel.dates import format_date
from babel.numbers import format_decimal
from markupsafe import Markup

from worker.console.voice import Voice

_CLOCK = "%Y-%m-%d %H:%M:%S"


def stamp(value: datetime | None, voice: Voice) -> str:
    """`2026-01-15 13:00:00 CET`: plain text, for a title or a chart."""
    if value is None:
        return "-"
    local = value.astimezone(voice.zone)
    return f"{local.strftime(_CLOCK)} {_zone_name(local)}"


def utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime(_CLOCK) + " UTC"


def when(value: datetime | None, voice: Voice) -> Markup | str:
    """The instant in the console's zone, the UTC one on hover."""
    if value is None:
        return "-"
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        _iso(value), utc(value), stamp(value, voice)
    )


def ago(value: datetime | None, voice: Voice, now: datetime | None = None) -> Markup | str:
    """`3 min ago` on screen, the instant on hover and in print."""
    if value is None:
        return "-"
    seconds = ((now or datetime.now(UTC)) - value).total_seconds()
    span = duration(abs(seconds), voice, precise=False)
    text = voice.gettext("%(span)s ago") if seconds >= 0 else voice.gettext("in %(span)s")
    absolute = stamp(value, voice)
    return Markup(
        '<time datetime="{}" title="{} · {}"><span class="screen-only">{}</span>'
        '<span class="print-only">{}</span></time>'
    ).format(_iso(value), absolute, utc(value), text % {"span": span}, absolute)


def duration(seconds: float | None, voice: Voice, precise: bool = True) -> str:
    """`850 ms`, `12.3 s`, `4 min 10 s`, `3 h 5 min`, `2 d 4 h` (`2 j 4 h` in French)."""
    if seconds is None:
        return "-"
    if seconds < 1 and precise:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        shown = decimal(seconds, voice, "0.0") if precise else f"{seconds:.0f}"
        return f"{shown} s"
    units = [(voice.gettext("d"), 86400), ("h", 3600), ("min", 60), ("s", 1)]
    parts: list[str] = []
    rest = int(seconds)
    for name, size_ in units:
        if rest >= size_ or parts:
            parts.append(f"{rest // size_} {name}")
            rest %= size_
        if len(parts) == 2:
            break
    return " ".join(parts)


def size(count: int | None, voice: Voice) -> str:
    """`512 B`, `2.4 MB` (`2,4 Mo` in French)."""
    if count is None:
        return "-"
    value = float(count)
    # Octets in French: `Mo`, not `MB`.
    units = (voice.gettext("B"), voice.gettext("KB"), voice.gettext("MB"), voice.gettext("GB"))
    for rank, unit in enumerate(units):
        if value < 1000 or rank == len(units) - 1:
            shown = f"{value:.0f}" if rank == 0 else decimal(value, voice, "0.0")
            return f"{shown} {unit}"
        value /= 1000
    raise AssertionError("unreachable: the last unit ends the loop")


def decimal(value: float, voice: Voice, pattern: str = "#,##0.#") -> str:
    """A number with the language's separators: `1,234.5`, `1 234,5`."""
    return format_decimal(value, format=pattern, locale=voice.language)


def day(value: date, voice: Voice, pattern: str = "d MMM y") -> str:
    """`7 Dec 2026`, `7 déc. 2026`."""
    return format_date(value, format=pattern, locale=voice.language)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _zone_name(local: datetime) -> str:
    # Every zone has an abbreviation or an offset as its name; UTC itself shows as `UTC`.
    return local.strftime("%Z") or local.strftime("%z")
