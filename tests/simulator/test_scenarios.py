"""Parsing of the scenarios encoded in references, and the answers they imply."""

import pytest

from worker.simulator.scenarios import (
    MAX_SIZE,
    SCENARIO_KEYS,
    PhotoOutcome,
    Scenario,
    ScenarioError,
    parse_scenario,
    parse_size,
)


def test_plain_reference_gives_defaults() -> None:
    assert parse_scenario("INT-0001") == Scenario(label="INT-0001")
    scenario = parse_scenario("INT-0001")
    assert scenario.photos == 3
    assert scenario.after == 0
    assert scenario.final == 200
    assert scenario.code == 500
    assert scenario.image_format == "mixed"


def test_every_key_is_read() -> None:
    reference = (
        "X:photos=6:after=3:final=204:status=403:errors=2:code=503:retry_after=1:notfound=1"
        ":unauth=2:delay=250:delayed=1:size=200k:format=png:slow=10:photoerrors=1:truncate=2"
        ":badmagic=1:badrecord=2:mismatch=3:photo404=4,5:poison=text,echo:copy=3"
    )
    assert parse_scenario(reference) == Scenario(
        label="X",
        photos=6,
        after=3,
        final=204,
        status=403,
        errors=2,
        code=503,
        retry_after=1,
        notfound=1,
        unauth=2,
        delay=250,
        delayed=1,
        size=200 * 1024,
        image_format="png",
        slow=10,
        photoerrors=1,
        truncate=2,
        badmagic=frozenset({1}),
        badrecord=frozenset({2}),
        mismatch=frozenset({3}),
        photo404=frozenset({4, 5}),
        poison=frozenset({"text", "echo"}),
        copy=frozenset({3}),
    )
    drawn = parse_scenario("Y:photos=6:blur=1:dark=2:tiny=3:olddate=4:faraway=5,6:reuse=T-1:bomb=2")
    assert (drawn.blur, drawn.dark, drawn.tiny) == ({1}, {2}, {3})
    assert (drawn.olddate, drawn.faraway, drawn.reuse) == ({4}, {5, 6}, "T-1")
    framed = parse_scenario("Z:pto=AB-1234-5678:spot=alike")
    assert (framed.pto, framed.spot) == ("AB-1234-5678", "alike")
    assert parse_scenario("Z:pto=blank").pto == "blank"
    assert len(SCENARIO_KEYS) == 31


@pytest.mark.parametrize("value", ["past", "far", "30"])
def test_retry_after_takes_seconds_or_a_date_kind(value: str) -> None:
    expected = int(value) if value.isdigit() else value
    assert parse_scenario(f"X:retry_after={value}").retry_after == expected


def test_an_unknown_poison_is_refused() -> None:
    with pytest.raises(ScenarioError, match="unknown poison"):
        parse_scenario("X:poison=text,arsenic")


def test_after_never_means_forever() -> None:
    assert parse_scenario("X:after=never").after is None


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("5000", 5000),
        ("200k", 204800),
        ("200K", 204800),
        ("30m", 30 * 1024 * 1024),
        ("1.5m", 1572864),
    ],
)
def test_sizes_accept_units(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("reference", "reason"),
    [
        ("X:colour=red", "unknown scenario key 'colour'"),
        ("X:photos=3:photos=4", "given twice"),
        ("X:photos", "not key=value"),
        ("X:photos=", "not key=value"),
        ("X::photos=1", "not key=value"),
        ("X:photos=-1", "not a non-negative integer"),
        ("X:photos=two", "not a non-negative integer"),
        ("X:photos=²", "not a non-negative integer"),
        ("X:after=sometimes", "after:"),
        ("X:final=201", "final: 201 is not allowed"),
        ("X:status=302", "status: 302 is not allowed"),
        ("X:code=200", "code: 200 is not allowed"),
        ("X:format=gif", "format:"),
        ("X:size=1", "size: size 1 is outside"),
        (f"X:size={MAX_SIZE + 1}", "outside"),
        ("X:size=12q", "not a size"),
        ("X:badmagic=0", "start at 1"),
        ("X:badrecord=4", "badrecord: index beyond photos=3"),
        ("X:photos=2:photo404=1,3", "photo404: index beyond"),
        ("X:photos=100000", "at most"),
        ("X:copy=1", "no photo before it"),
        ("X:blur=4", "blur: index beyond"),
        ("X:size=200k:dark=1", "dark: only with the default pictures"),
        ("X:reuse=a.b", "not a tag"),
        ("X:pto=ab-1", "pto: 'ab-1' is not blank"),
        ("X:spot=near", "spot: 'near' is not one of"),
        ("X:size=200k:spot=same", "spot: only with the default pictures"),
    ],
)
def test_typos_are_refused_with_a_reason(reference: str, reason: str) -> None:
    with pytest.raises(ScenarioError, match=reason):
        parse_scenario(reference)


def test_label_may_hold_anything_but_a_colon() -> None:
    assert parse_scenario("a/b c=d%").label == "a/b c=d%"
    assert parse_scenario("").label == ""


def statuses(reference: str, calls: int) -> list[int]:
    scenario = parse_scenario(reference)
    return [scenario.metadata_status(call) for call in range(1, calls + 1)]


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("X", [200, 200]),
        ("X:after=2", [202, 202, 200, 200]),
        ("X:after=1:final=204", [202, 204, 204]),
        ("X:after=never", [202, 202, 202, 202]),
        ("X:status=404", [404, 404, 404]),
        ("X:status=404:after=1", [404, 404]),
        ("X:errors=2", [500, 500, 200]),
        ("X:errors=1:code=429:after=1", [429, 202, 200]),
        ("X:notfound=2", [404, 404, 200]),
        ("X:unauth=1", [401, 200]),
        ("X:unauth=1:notfound=1:errors=1:code=503:after=1", [401, 404, 503, 202, 200, 200]),
    ],
)
def test_metadata_answers_follow_the_phases(reference: str, expected: list[int]) -> None:
    assert statuses(reference, len(expected)) == expected


def test_photo_outcomes_fail_then_truncate_then_complete() -> None:
    scenario = parse_scenario("X:photoerrors=2:truncate=1")
    assert [scenario.photo_outcome(call) for call in range(1, 5)] == [
        PhotoOutcome.ERROR,
        PhotoOutcome.ERROR,
        PhotoOutcome.TRUNCATED,
        PhotoOutcome.COMPLETE,
    ]


def test_delay_applies_to_all_calls_or_the_first_ones() -> None:
    assert not parse_scenario("X").is_delayed(1)
    assert parse_scenario("X:delay=10").is_delayed(99)
    delayed_once = parse_scenario("X:delay=10:delayed=1")
    assert delayed_once.is_delayed(1)
    assert not delayed_once.is_delayed(2)


def test_mixed_format_alternates_jpeg_and_png() -> None:
    assert [parse_scenario("X").format_of(i) for i in (1, 2, 3)] == ["jpeg", "png", "jpeg"]
    assert parse_scenario("X:format=png").format_of(1) == "png"
