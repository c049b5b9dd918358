"""When and where the camera says a photo was taken: EXIF DateTimeOriginal and GPS."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from PIL import Image
from PIL.ExifTags import GPS, IFD, Base

_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")


def capture_time(exif: Image.Exif, local: tzinfo) -> datetime | None:
    """DateTimeOriginal with its OffsetTimeOriginal, else read in the `local` zone.

    EXIF times have no zone unless the camera wrote the offset (EXIF 2.31); a phone in France
    writes local time, hence the configured zone for the others.
    """
    tags = exif.get_ifd(IFD.Exif)
    raw = _text(tags.get(Base.DateTimeOriginal))
    if raw is None:
        return None
    try:
        naive = datetime.strptime(raw, "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    return naive.replace(tzinfo=_offset(_text(tags.get(Base.OffsetTimeOriginal))) or local)


def position(exif: Image.Exif) -> tuple[float, float] | None:
    """GPS latitude and longitude in degrees, or None if absent or unreadable."""
    tags = exif.get_ifd(IFD.GPSInfo)
    latitude = _degrees(tags.get(GPS.GPSLatitude), tags.get(GPS.GPSLatitudeRef), "S")
    longitude = _degrees(tags.get(GPS.GPSLongitude), tags.get(GPS.GPSLongitudeRef), "W")
    if latitude is None or longitude is None:
        return None
    if abs(latitude) > 90 or abs(longitude) > 180:
        return None
    return latitude, longitude


def _degrees(value: Any, ref: Any, negative: str) -> float | None:
    """(degrees, minutes, seconds) rationals, signed by the reference letter."""
    try:
        degrees, minutes, seconds = (float(part) for part in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    total = degrees + minutes / 60 + seconds / 3600
    if not math.isfinite(total):
        return None
    return -total if _text(ref) == negative else total


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    return value.strip("\x00 ") or None


def _offset(text: str | None) -> timezone | None:
    match = _OFFSET.match(text or "")
    if match is None:
        return None
    sign = -1 if match[1] == "-" else 1
    return timezone(sign * timedelta(hours=int(match[2]), minutes=int(match[3])))
