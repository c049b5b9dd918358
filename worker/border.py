"""What crosses the border into our rows, events and logs: secrets redacted, text made storable
and capped, integers bounded. The rules live here and nowhere else; pure functions.

PostgreSQL refuses NUL in text and lone surrogates in UTF-8, and an int4 column refuses 2^31:
one such value from a partner must not make the statement that records an outcome fail for ever.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_PATTERNS = (
    # Authorization header values, whatever the scheme (Bearer, Basic...), wherever quoted.
    (
        re.compile(
            r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?(?:(?:bearer|basic|digest|token)\s+)?)"
            r"[^'\",}\s]+"
        ),
        r"\1[REDACTED]",
    ),
    (re.compile(r"(?i)\b((?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{6,}"), r"\1[REDACTED]"),
    # Passwords in URLs: scheme://user:password@host. The look-behind makes the scheme start only
    # where a run of scheme characters starts: without it, a long run of letters is tried from
    # each of its characters, and each try reads to its end (quadratic: 8,000 letters took 0.25 s).
    (
        re.compile(r"(?i)(?<![a-z0-9+.-])([a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+@"),
        r"\1[REDACTED]@",
    ),
    (
        re.compile(
            r"(?i)((?:client_secret|access_token|password)['\"]?\s*[:=]\s*['\"]?)[^'\"&,}\s]+"
        ),
        r"\1[REDACTED]",
    ),
)
# Every pattern above needs one of these words (in any case): text without any (nearly all of
# it: names, descriptions, log values) skips the four patterns, each a scan of the text.
_PATTERN_WORDS = (
    "authorization",
    "bearer",
    "basic",
    "://",
    "client_secret",
    "access_token",
    "password",
)
# The same test for text beyond ASCII, where a few other characters match these letters when
# case is ignored (a long s, a dotless i, the Kelvin sign): the regex engine's own rule.
_PATTERN_NEEDS = re.compile("(?i)" + "|".join(map(re.escape, _PATTERN_WORDS)))
# ...and a space, a colon or an equals sign.
_PATTERN_MARKS = re.compile(r"[\s:=]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"
INT4 = (-(2**31), 2**31 - 1)
INT8 = (-(2**63), 2**63 - 1)


class Redactor:
    """Removes secrets from text: the ones the process knows, verbatim, and patterns.

    Linear in the length of the text, whatever its content, so that logging a hostile value
    cannot stall the event loop.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[REDACTED]")
        if not _may_hold_a_pattern(text):
            return text
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def redact_capped(self, text: str, limit: int) -> str:
        """Redacted, then cut to `limit` characters. Only what can be shown is redacted (a
        window four times longer, so that a secret crossing the cut is still recognised whole):
        a 100 KB value costs little more than a short one."""
        window = text[: limit * _WINDOW]
        return cap(self.redact(window), limit, total=len(text) - len(window))


def _may_hold_a_pattern(text: str) -> bool:
    if _PATTERN_MARKS.search(text) is None:  # ids, hashes, file names: the cheapest test
        return False
    if text.isascii():  # a tenth of the regex's cost
        lowered = text.lower()
        return any(word in lowered for word in _PATTERN_WORDS)
    return _PATTERN_NEEDS.search(text) is not None


_NOTE_ROOM = 36  # "…[123456789012345 more characters]" fits
_WINDOW = 4


def cap(text: str, limit: int, total: int = 0) -> str:
    """At most `limit` characters, saying how many were cut (`total` more were cut before)."""
    if len(text) <= limit and not total:
        return text
    if limit <= _NOTE_ROOM:
        return text[:limit]
    keep = min(len(text), limit - _NOTE_ROOM)
    return f"{text[:keep]}…[{len(text) - keep + total} more characters]"


def storable(text: str) -> str:
    """NUL and lone surrogates replaced by U+FFFD: PostgreSQL stores every other character."""
    return _UNSTORABLE.sub(REPLACEMENT, text)


def bounded(value: int | None, limits: tuple[int, int] = INT4) -> int | None:
    """The value if it fits the column's integer type, else None (the caller says why)."""
    if value is None or not limits[0] <= value <= limits[1]:
        return None
    return value


class Sanitizer:
    """Text from outside made safe to store and publish: redacted, capped, storable."""

    def __init__(self, redactor: Redactor, limit: int = 2000) -> None:
        self._redactor = redactor
        self._limit = limit

    def text(self, value: str | None, limit: int | None = None) -> str | None:
        if value is None:
            return None
        return storable(self._redactor.redact_capped(value, limit or self._limit))

    def payload(self, value: Any) -> Any:
        """Every string of a JSON-like value (dicts, lists) made safe; other values kept."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.payload(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.payload(v) for v in value]
        return value
