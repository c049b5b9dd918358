"""The behaviour a reference asks of the simulator.

A reference reads ``label[:key=value]*``, e.g. ``INT-0002:after=3:photos=6``, so a test or a demo
chooses how the simulated OC answers just by picking the reference it sends. An unknown key or a
bad value makes the metadata call answer 400 with the reason, so that a typo shows.

Metadata calls are counted per (operation, reference); their answers go through these phases:
``unauth=N`` 401 (and the presented OAuth token is revoked), ``notfound=N`` 404,
``errors=E`` with ``code=CODE`` (default 500), ``after=K|never`` 202, then ``final=200|204``.
``status=CODE`` short-cuts all of them. ``retry_after=S`` adds Retry-After to 202, 429 and 5xx.
``delay=MS`` holds each metadata answer (``delayed=N``: only the first N calls).

Listings: ``photos=N`` (default 3), ``size=5000|200k|30m`` (exact byte size; default small
pictures), ``format=jpeg|png|mixed`` (mixed: odd JPEG, even PNG), and, by 1-based photo index
(a comma list is allowed): ``badmagic=I`` (bytes of the other format), ``badrecord=I``
(type SELFIE), ``mismatch=I`` (wrong width, height and size), ``photo404=I`` (getPhoto 404).

getPhoto, counted per photo: ``photoerrors=E`` 500, then ``truncate=E`` half the body and the
connection closed; ``slow=MS`` pauses between body chunks.

A hostile partner, for the tests of the worker's border: ``poison=K[,K]`` with ``text`` (NUL and
a lone surrogate in every record's text fields), ``numbers`` (declared width and height >= 2^31,
size >= 2^63), ``pngwidth`` (PNG headers declaring a width >= 2^31), ``errbody`` (error bodies
with a NUL byte), ``echo`` (error bodies echoing the Authorization header, as a bad gateway
does); ``retry_after=past|far`` sends an HTTP date in the past, or in year 99999999999999999999.

Photos that the worker's checks flag, by 1-based index: ``copy=I`` (the bytes of photo I-1, so
``copy=3`` makes PBO_APRES its PBO_AVANT again), and, with the default pictures only,
``blur=I``, ``dark=I``, ``tiny=I`` (160x120), ``olddate=I`` (the camera's clock says three days
earlier), ``faraway=I`` (the camera's GPS says 28 km away), ``bomb=I`` (a header declaring
65,500 x 65,500 pixels for a JPEG, 100,000 x 100,000 for a PNG); ``reuse=TAG`` makes photo 1 a
picture shared by every reference naming the same TAG, as a photo taken once and sent for two
interventions.

The spec's framing rules ("Cadrage des photos"), with the default pictures only: ``pto=REF``
makes each PTO photo an outlet whose label shows REF (capitals, digits and dashes; a QR code on
some), ``pto=blank`` one whose label nobody can read; ``spot=same|other|alike`` makes each
PBO_AVANT/PBO_APRES and PM_AVANT/PM_APRES pair a cabinet before and after cabling, seen from
one spot a step apart (``same``), or two places (``other``), or two places with cabinets of
the same model (``alike``). Both are real-looking photos of 1600x1200 (a few hundred KB).
"""

import dataclasses
import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

ImageFormat = Literal["jpeg", "png", "mixed"]

MAX_PHOTOS = 10_000
MIN_SIZE = 2 * 1024
MAX_SIZE = 256 * 1024 * 1024
_SIZE_PATTERN = re.compile(r"(\d+(?:\.\d+)?)([km]?)b?", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024 * 1024}
_FORMATS: dict[str, ImageFormat] = {"jpeg": "jpeg", "png": "png", "mixed": "mixed"}
_STATUSES = frozenset({200, 202, 204, *range(400, 600)})
POISONS = frozenset({"text", "numbers", "pngwidth", "errbody", "echo"})
RETRY_DATES = {
    "past": "Tue, 30 Apr 2024 12:00:00 GMT",
    "far": "Wed, 01 May 99999999999999999999 12:00:00 GMT",
}
_TAG = re.compile(r"[A-Za-z0-9_-]{1,40}")
_LABEL = re.compile(r"[A-Z0-9-]{1,40}")
SPOTS = ("same", "other", "alike")
# Keys whose effect is drawn on the default pictures (a sized picture is made once, shared).
DRAWN = ("blur", "dark", "tiny", "olddate", "faraway", "bomb")


class PhotoOutcome(enum.Enum):
    COMPLETE = "complete"
    ERROR = "error"
    """500"""
    TRUNCATED = "truncated"
    """Full Content-Length declared, half the body sent, connection closed."""


class ScenarioError(ValueError):
    """The reference does not encode a valid scenario; the message says why."""


@dataclass(frozen=True)
class Scenario:
    """How the simulator answers the calls about one reference (see ``parse_scenario``)."""

    label: str
    photos: int = 3
    after: int | None = 0
    """202 polls before the final answer; None means 202 forever."""
    final: int = 200
    status: int | None = None
    errors: int = 0
    code: int = 500
    retry_after: int | str | None = None
    """Seconds, or a key of RETRY_DATES."""
    notfound: int = 0
    unauth: int = 0
    delay: int = 0
    """Milliseconds to wait before answering a metadata call."""
    delayed: int | None = None
    """How many of the first metadata calls are delayed; None means all."""
    size: int | None = None
    image_format: ImageFormat = "mixed"
    slow: int = 0
    """Milliseconds to wait between two chunks of a photo body."""
    photoerrors: int = 0
    truncate: int = 0
    badmagic: frozenset[int] = frozenset()
    badrecord: frozenset[int] = frozenset()
    mismatch: frozenset[int] = frozenset()
    photo404: frozenset[int] = frozenset()
    poison: frozenset[str] = frozenset()
    copy: frozenset[int] = frozenset()
    blur: frozenset[int] = frozenset()
    dark: frozenset[int] = frozenset()
    tiny: frozenset[int] = frozenset()
    olddate: frozenset[int] = frozenset()
    faraway: frozenset[int] = frozenset()
    bomb: frozenset[int] = frozenset()
    reuse: str | None = None
    pto: str | None = None
    spot: str | None = None

    def metadata_status(self, call: int) -> int:
        """Status of the call-th metadata call (1-based) about this reference.

        The phases follow each other: unauth (401), notfound (404), errors (code),
        after (202), then the final answer.
        """
        if self.status is not None:
            return self.status
        for length, status in ((self.unauth, 401), (self.notfound, 404), (self.errors, self.code)):
            if call <= length:
                return status
            call -= length
        if self.after is None or call <= self.after:
            return 202
        return self.final

    def photo_outcome(self, call: int) -> PhotoOutcome:
        """How the call-th getPhoto of one photo (1-based) goes: photoerrors, then truncate."""
        if call <= self.photoerrors:
            return PhotoOutcome.ERROR
        if call <= self.photoerrors + self.truncate:
            return PhotoOutcome.TRUNCATED
        return PhotoOutcome.COMPLETE

    def is_delayed(self, call: int) -> bool:
        return self.delay > 0 and (self.delayed is None or call <= self.delayed)

    def format_of(self, index: int) -> Literal["jpeg", "png"]:
        """Format of the index-th photo (1-based): mixed alternates JPEG (odd) and PNG (even);
        a copy has the format of what it copies."""
        index = self.source_of(index)
        if self.image_format == "mixed":
            return "jpeg" if index % 2 == 1 else "png"
        return self.image_format

    def source_of(self, index: int) -> int:
        """The photo whose picture the index-th one shows: the one before it for `copy`."""
        while index in self.copy:
            index -= 1
        return index


def parse_count(value: str) -> int:
    if not value.isdigit() or not value.isascii():
        raise ScenarioError(f"{value!r} is not a non-negative integer")
    return int(value)


def parse_retry_after(value: str) -> int | str:
    return value if value in RETRY_DATES else parse_count(value)


def parse_poison(value: str) -> frozenset[str]:
    kinds = frozenset(value.split(","))
    if not kinds <= POISONS:
        raise ScenarioError(f"unknown poison {sorted(kinds - POISONS)}; known: {sorted(POISONS)}")
    return kinds


def parse_after(value: str) -> int | None:
    return None if value == "never" else parse_count(value)


def parse_final(value: str) -> int:
    return _parse_choice(value, frozenset({200, 204}))


def parse_status(value: str) -> int:
    return _parse_choice(value, _STATUSES)


def parse_code(value: str) -> int:
    return _parse_choice(value, frozenset(range(400, 600)))


def parse_format(value: str) -> ImageFormat:
    if value in _FORMATS:
        return _FORMATS[value]
    raise ScenarioError(f"{value!r} is not one of jpeg, png, mixed")


def parse_indexes(value: str) -> frozenset[int]:
    """One 1-based photo index, or several separated by commas."""
    indexes = frozenset(parse_count(part) for part in value.split(","))
    if 0 in indexes:
        raise ScenarioError("photo indexes start at 1")
    return indexes


def parse_tag(value: str) -> str:
    if _TAG.fullmatch(value) is None:
        raise ScenarioError(f"{value!r} is not a tag of 1 to 40 letters, digits, - or _")
    return value


def parse_pto(value: str) -> str:
    if value != "blank" and _LABEL.fullmatch(value) is None:
        raise ScenarioError(f"{value!r} is not blank or 1 to 40 capitals, digits or dashes")
    return value


def parse_spot(value: str) -> str:
    if value not in SPOTS:
        raise ScenarioError(f"{value!r} is not one of {', '.join(SPOTS)}")
    return value


def parse_size(value: str) -> int:
    """Byte size such as ``5000``, ``200k`` or ``30m`` (k = 1024, m = 1024 * 1024)."""
    match = _SIZE_PATTERN.fullmatch(value)
    if match is None:
        raise ScenarioError(f"{value!r} is not a size such as 5000, 200k or 30m")
    size = int(float(match[1]) * _UNITS[match[2].lower()])
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ScenarioError(f"size {size} is outside {MIN_SIZE}..{MAX_SIZE} bytes")
    return size


def _parse_choice(value: str, allowed: frozenset[int]) -> int:
    code = parse_count(value)
    if code not in allowed:
        raise ScenarioError(f"{code} is not allowed here")
    return code


_KEYS: dict[str, tuple[str, Callable[[str], object]]] = {
    "photos": ("photos", parse_count),
    "after": ("after", parse_after),
    "final": ("final", parse_final),
    "status": ("status", parse_status),
    "errors": ("errors", parse_count),
    "code": ("code", parse_code),
    "retry_after": ("retry_after", parse_retry_after),
    "notfound": ("notfound", parse_count),
    "unauth": ("unauth", parse_count),
    "delay": ("delay", parse_count),
    "delayed": ("delayed", parse_count),
    "size": ("size", parse_size),
    "format": ("image_format", parse_format),
    "slow": ("slow", parse_count),
    "photoerrors": ("photoerrors", parse_count),
    "truncate": ("truncate", parse_count),
    "badmagic": ("badmagic", parse_indexes),
    "badrecord": ("badrecord", parse_indexes),
    "mismatch": ("mismatch", parse_indexes),
    "photo404": ("photo404", parse_indexes),
    "poison": ("poison", parse_poison),
    "copy": ("copy", parse_indexes),
    "blur": ("blur", parse_indexes),
    "dark": ("dark", parse_indexes),
    "tiny": ("tiny", parse_indexes),
    "olddate": ("olddate", parse_indexes),
    "faraway": ("faraway", parse_indexes),
    "bomb": ("bomb", parse_indexes),
    "reuse": ("reuse", parse_tag),
    "pto": ("pto", parse_pto),
    "spot": ("spot", parse_spot),
}
SCENARIO_KEYS = frozenset(_KEYS)


def parse_scenario(reference: str) -> Scenario:
    """Read the scenario encoded in a reference; raise ScenarioError on any typo."""
    label, *options = reference.split(":")
    changes: dict[str, Any] = {}
    for option in options:
        key, value = _split_option(option)
        if key not in _KEYS:
            raise ScenarioError(f"unknown scenario key {key!r}")
        field, parse = _KEYS[key]
        if field in changes:
            raise ScenarioError(f"scenario key {key!r} given twice")
        try:
            changes[field] = parse(value)
        except ScenarioError as error:
            raise ScenarioError(f"{key}: {error}") from None
    scenario = dataclasses.replace(Scenario(label=label), **changes)
    _check_coherence(scenario)
    return scenario


def _split_option(option: str) -> tuple[str, str]:
    key, sep, value = option.partition("=")
    if not sep or not key or not value:
        raise ScenarioError(f"{option!r} is not key=value")
    return key, value


def _check_coherence(scenario: Scenario) -> None:
    if scenario.photos > MAX_PHOTOS:
        raise ScenarioError(f"photos: at most {MAX_PHOTOS}")
    for key in ("badmagic", "badrecord", "mismatch", "photo404", "copy", *DRAWN):
        indexes: frozenset[int] = getattr(scenario, key)
        if any(index > scenario.photos for index in indexes):
            raise ScenarioError(f"{key}: index beyond photos={scenario.photos}")
    if 1 in scenario.copy:
        raise ScenarioError("copy: photo 1 has no photo before it to copy")
    drawn = [key for key in (*DRAWN, "reuse", "pto", "spot") if getattr(scenario, key)]
    if scenario.size is not None and drawn:
        raise ScenarioError(f"{drawn[0]}: only with the default pictures, not with size")
