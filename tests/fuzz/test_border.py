"""Property-based fuzzing of everything that crosses the border: messages, photo records,
image headers, Retry-After, and the cleaning of what reaches PostgreSQL, events and logs.

Each parser either accepts its input or refuses it with its own error, whatever the input; what
it accepts is safe to store. `pytest tests/fuzz --hypothesis-show-statistics` counts the cases.
"""

from __future__ import annotations

import json
import time
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.strategies import hostile_text, json_values, messages, records
from worker import border
from worker.border import INT4, Redactor, Sanitizer, bounded, storable
from worker.intake.message import InvalidMessage, parse_message
from worker.partners.records import MalformedAnswer, parse_photo_list
from worker.photos.inspector import PhotoFacts, PhotoInspector, PhotoRefused, read_dimensions
from worker.schedule.backoff import parse_retry_after

FUZZ = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
T = TypeVar("T")


def _dumps(value: object) -> bytes:
    return json.dumps(value, allow_nan=True).encode("utf-8", errors="surrogatepass")


@FUZZ
@given(st.one_of(st.binary(max_size=400), messages.map(_dumps), json_values.map(_dumps)))
def test_a_message_is_accepted_safe_or_refused_with_a_reason(body: bytes) -> None:
    message = _outcome(parse_message, body)
    if isinstance(message, InvalidMessage):
        assert message.reason in {"not_json", "invalid_fields"}
        assert message.detail
        return
    for reference in message.references().values():
        if reference is None:
            continue
        assert 1 <= len(reference) <= 255
        assert reference not in {".", ".."}
        assert storable(reference) == reference
        assert not any(unicodedata.category(c) == "Cc" for c in reference)


@FUZZ
@given(st.one_of(st.lists(records, max_size=5).map(_dumps), json_values.map(_dumps), st.binary()))
def test_a_listing_keeps_valid_records_and_refuses_each_broken_one(body: bytes) -> None:
    listing = _outcome(parse_photo_list, body)
    if isinstance(listing, MalformedAnswer):
        return
    items = json.loads(body)
    assert len(listing.records) + len(listing.refusals) <= len(items)
    for record in listing.records:
        assert record.mime_type in {"image/jpeg", "image/png"}
        for value in (record.width, record.height):
            assert value is None or value >= 1
    for refusal in listing.refusals:
        assert refusal.photo_id is None or len(refusal.photo_id) <= 100


_HEADS = st.sampled_from([b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b""])
_MIME_TYPES = st.sampled_from(["image/jpeg", "image/png"])
_HTTP_DATES = st.from_regex(r"\A[A-Za-z]{3}, \d{1,2} [A-Za-z]{3} \d{1,30} \d\d:\d\d:\d\d GMT\Z")


def _inspect(mime_type: str, chunks: list[bytes]) -> PhotoFacts:
    inspector = PhotoInspector(mime_type, max_bytes=8000)
    for chunk in chunks:
        inspector.feed(chunk)
    return inspector.finish()


def _outcome(parse: Callable[..., T], *args: object) -> T | Exception:
    """What `parse` returned, or the exception it raised: the test says which are allowed."""
    try:
        return parse(*args)
    except (InvalidMessage, MalformedAnswer, PhotoRefused) as refused:
        return refused


@FUZZ
@given(_HEADS, st.lists(st.binary(max_size=2000), max_size=6), _MIME_TYPES)
def test_the_inspector_refuses_or_describes_any_body(
    head: bytes, chunks: list[bytes], mime_type: str
) -> None:
    facts = _outcome(_inspect, mime_type, [head + (chunks[0] if chunks else b""), *chunks[1:]])
    if isinstance(facts, PhotoRefused):
        assert facts.reason in {"bad_magic", "too_large"}
        return
    assert facts.size == len(head) + sum(map(len, chunks))
    assert len(facts.sha256) == 64


@FUZZ
@given(st.binary(max_size=3000), _MIME_TYPES)
def test_header_reading_never_raises(head: bytes, mime_type: str) -> None:
    dimensions = read_dimensions(head, mime_type)
    assert dimensions is None or all(isinstance(n, int) for n in dimensions)


@FUZZ
@given(
    st.one_of(
        hostile_text,
        st.from_regex(r"\A[A-Za-z]{3}, \d{1,2} [A-Za-z]{3} \d{1,30} \d\d:\d\d:\d\d GMT\Z"),
    )
)
def test_retry_after_is_a_positive_delay_or_no_advice(value: str) -> None:
    delay = parse_retry_after(value, NOW)
    assert delay is None or delay >= 0


@FUZZ
@given(json_values, st.integers(min_value=10, max_value=3000))
def test_what_is_stored_or_published_is_storable_capped_and_redacted(
    value: object, limit: int
) -> None:
    sanitizer = Sanitizer(Redactor(["s3cret-token"]), limit=limit)
    cleaned = sanitizer.payload(value)
    text = json.dumps(cleaned)  # no lone surrogate: it would not encode
    text.encode("utf-8")
    assert "\\u0000" not in text
    assert "s3cret-token" not in text
    for string in _strings(cleaned):
        assert len(string) <= limit


# Letters the patterns' words are made of, in other cases and as the characters that match
# them when case is ignored (a dotless i, an I with a dot, a long s, the Kelvin sign).
_LOOKALIKES = "AaBbCcEeHhIiNnOoPpRrSsTtUuWwZzKk_:/= \t'\"\u0131\u0130\u017f\u212a"
_WORDED = st.lists(
    st.sampled_from(["Authorization", "bearer ", "BASIC ", "://", "client_secret", "Password"])
    | st.text(alphabet=_LOOKALIKES, max_size=12),
    max_size=6,
).map("".join)


@FUZZ
@given(_WORDED | hostile_text)
def test_the_shortcut_past_the_patterns_skips_no_text_they_would_change(text: str) -> None:
    # Redacting skips the four patterns for text without any of their words: the same text
    # through every pattern must then come out unchanged.
    by_patterns = text
    for pattern, replacement in border._PATTERNS:
        by_patterns = pattern.sub(replacement, by_patterns)
    assert Redactor().redact(text) == by_patterns


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@FUZZ
@given(st.integers(min_value=-(2**80), max_value=2**80))
def test_integers_fit_their_column_or_are_left_out(value: int) -> None:
    kept = bounded(value, INT4)
    assert kept is None or INT4[0] <= kept <= INT4[1]
    assert (kept is None) is not (INT4[0] <= value <= INT4[1])


@pytest.mark.parametrize(
    "unit", ["a", "a:", "a://", "a://b:", "bearer ", "authorization:", " ", "x@", "ab1+.-"]
)
def test_redaction_of_a_megabyte_of_hostile_text_ends(unit: str) -> None:
    # Linear, about 50 ms for a megabyte; the pattern it replaced was quadratic (0.25 s for 8 KB,
    # hours for this). A generous bound: a hang guard, not a speed test.
    text = unit * (1_000_000 // len(unit))
    started = time.perf_counter()
    Redactor(["s3cret-token"]).redact(text)
    assert time.perf_counter() - started < 10
