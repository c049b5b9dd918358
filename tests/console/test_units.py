"""Pure pieces of the console: photo groups, filters, cursors, the text filters of the pages."""

from __future__ import annotations

import gettext
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from worker.console.filters import BadFilter, Filters
from worker.console.formats import ago, duration, size
from worker.console.gallery import badges, group_photos
from worker.console.thumbnails import why_no_preview
from worker.console.voice import Voice

EN = Voice("en", gettext.NullTranslations(), ZoneInfo("UTC"))


def _photo(photo_type: str) -> dict[str, Any]:
    return {"photo_id": uuid.uuid4(), "type": photo_type, "width": 100, "height": 80}


def test_photos_grouped_by_place_before_beside_after_in_the_spec_order() -> None:
    photos = [
        _photo("PM_APRES"),
        _photo("PBO_AVANT"),
        _photo("SOMETHING_NEW"),
        _photo("PTO"),
        _photo("PBO_APRES"),
        _photo("PBO_AVANT"),
    ]
    finding = {"kind": "unpaired", "photo_ids": [photos[0]["photo_id"]]}
    groups = group_photos(photos, [finding])
    assert [g.place for g in groups] == ["PTO", "PBO", "PM", "SOMETHING_NEW"]
    pto, pbo, pm, new = groups
    assert not pto.paired
    assert [p["type"] for p in pto.alone] == ["PTO"]
    assert pbo.paired
    assert [p["type"] for p in pbo.before] == ["PBO_AVANT", "PBO_AVANT"]
    assert [p["type"] for p in pbo.after] == ["PBO_APRES"]
    assert pm.paired
    assert pm.before == []
    assert pm.after[0]["findings"] == [finding]
    assert pbo.after[0]["findings"] == []
    assert new.alone[0]["thumb_width"] == 100


def test_filters_are_checked_and_normalised() -> None:
    filters = Filters.parse(
        {"oc": " ocaa ", "status": "failed", "from": "2026-01-02", "to": "2026-01-03", "q": " X "}
    )
    assert (filters.oc, filters.status, filters.q) == ("OCAA", "failed", "X")
    start, end = filters.received_range()
    assert start == datetime(2026, 1, 2, tzinfo=UTC)
    assert end == datetime(2026, 1, 4, tzinfo=UTC), "the last day is included"
    assert filters.since == date(2026, 1, 2)
    paris = Filters.parse({"from": "2026-03-29", "to": "2026-03-29"}, ZoneInfo("Europe/Paris"))
    assert paris.received_range() == (
        datetime(2026, 3, 28, 23, tzinfo=UTC),
        datetime(2026, 3, 29, 22, tzinfo=UTC),
    ), "a day of the console's zone, 23 hours long when the clocks go forward"
    for bad in ({"oc": "AB"}, {"status": "done"}, {"kind": "not_a_kind"}, {"to": "01/02/2026"}):
        with pytest.raises(BadFilter):
            Filters.parse(bad)


def test_links_keep_the_filters_and_set_the_cursor_only_when_asked() -> None:
    filters = Filters.parse({"oc": "OCAA", "after": "x", "after_id": "y", "kind": "unpaired"})
    assert filters.as_query() == {"oc": "OCAA", "kind": "unpaired"}
    assert filters.as_query(after="a", after_id="b") == {
        "oc": "OCAA",
        "kind": "unpaired",
        "after": "a",
        "after_id": "b",
    }


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0123, "12 ms"), (4.56, "4.6 s"), (250, "4 min 10 s"), (7500, "2 h 5 min"), (None, "-")],
)
def test_durations_for_people(seconds: float | None, text: str) -> None:
    assert duration(seconds, EN) == text


def test_relative_times_and_sizes() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert ">3 min 0 s ago<" in ago(now - timedelta(minutes=3), EN, now)
    assert ">in 30 s<" in ago(now + timedelta(seconds=30), EN, now)
    assert ago(None, EN) == "-"
    assert size(512, EN) == "512 B"
    assert size(2_400_000, EN) == "2.4 MB"
    assert size(None, EN) == "-"


def test_finding_badges_one_per_kind_gravest_first() -> None:
    findings = [
        {"kind": "low_quality", "severity": "warning", "detail": "dark"},
        {"kind": "low_quality", "severity": "info", "detail": "small"},
        {"kind": "same_before_after", "severity": "suspect", "detail": "same file"},
    ]
    assert [(b["kind"], b["n"], b["severity"]) for b in badges(findings)] == [
        ("same_before_after", 1, "suspect"),
        ("low_quality", 2, "warning"),
    ]


@pytest.mark.parametrize(
    ("width", "height", "reason"),
    [
        (4000, 3000, ""),
        (None, 3000, "its size could not be read from its header"),
        (100_000, 100_000, "100000x100000 is over Pillow's limit of 89,478,485 pixels"),
    ],
)
def test_photos_that_get_no_preview(width: int | None, height: int | None, reason: str) -> None:
    assert why_no_preview(width, height) == reason
