"""The request-level checks on views of photos (pure): each kind, and its edges."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from worker.findings import requests
from worker.findings.model import Finding, PhotoTraits, PhotoView, RequestView
from worker.settings import Settings

SETTINGS = Settings(_env_file=None)  # type: ignore[call-arg]


def compare(request: RequestView, photos: list[PhotoView], settings: Settings) -> list[Finding]:
    """Both sets: what ingestion finds without decoding, and what the review adds."""
    return [
        *requests.without_decoding(request, photos),
        *requests.compare(request, photos, settings),
    ]


WHEN = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
HERE = (45.764, 4.8357)


def photo(photo_type: str, n: int, **changes: object) -> PhotoView:
    view = PhotoView(
        photo_id=uuid.UUID(int=n),
        type=photo_type,
        sha256=f"{n:064x}",
        width=1600,
        height=1200,
        taken_at=WHEN,
        latitude=HERE[0],
        longitude=HERE[1],
        traits=PhotoTraits(phash=n * 0x0101_0101_0101_0101, sharpness=900.0, brightness=120.0),
    )
    return replace(view, **changes)  # type: ignore[arg-type]


def request(
    *types: str, actions: tuple[str, ...] = (), when: datetime | None = WHEN
) -> RequestView:
    return RequestView(
        message_id=uuid.uuid4(),
        code_oc="ABCD",
        references={"intervention": "INT-1", "order": None, "access": None},
        actions=actions,
        date_intervention=when,
        listed_types=frozenset(types),
    )


def kinds(findings: list[Finding]) -> list[str]:
    return [finding.kind for finding in findings]


CLEAN = [photo("PTO", 1), photo("PBO_AVANT", 2), photo("PBO_APRES", 3)]


def test_a_clean_set_has_no_finding() -> None:
    clean = request("PTO", "PBO_AVANT", "PBO_APRES", actions=("POSE_PTO", "CABLAGE_PBO"))
    assert compare(clean, CLEAN, SETTINGS) == []


def test_missing_type_names_the_action() -> None:
    listed = request("PTO", actions=("POSE_PTO", "CABLAGE_PM"))
    findings = compare(listed, [photo("PTO", 1)], SETTINGS)
    assert kinds(findings) == ["missing_type", "missing_type"]
    assert "CABLAGE_PM calls for a PM_AVANT photo" in findings[0].detail
    assert findings[0].severity == "warning"


def test_unpaired_unless_already_missing() -> None:
    photos = [photo("PTO", 1), photo("PBO_AVANT", 2)]
    findings = compare(request("PTO", "PBO_AVANT"), photos, SETTINGS)
    assert kinds(findings) == ["unpaired"]
    assert findings[0].photo_ids == (uuid.UUID(int=2),)
    expected = compare(request("PTO", "PBO_AVANT", actions=("CABLAGE_PBO",)), photos, SETTINGS)
    assert kinds(expected) == ["missing_type"]


def test_same_before_after_exact_then_near() -> None:
    same = [photo("PBO_AVANT", 2), photo("PBO_APRES", 3, sha256=f"{2:064x}")]
    [exact] = compare(request("PBO_AVANT", "PBO_APRES"), same, SETTINGS)
    assert (exact.kind, exact.severity) == ("same_before_after", "suspect")
    near_hash = (2 * 0x0101_0101_0101_0101) ^ 0b1011
    near = [photo("PBO_AVANT", 2), photo("PBO_APRES", 3, traits=PhotoTraits(phash=near_hash))]
    [finding] = compare(request("PBO_AVANT", "PBO_APRES"), near, SETTINGS)
    assert (finding.kind, finding.severity) == ("same_before_after", "warning")
    assert "3 bits apart" in finding.detail
    far_hash = (2 * 0x0101_0101_0101_0101) ^ 0b11111
    far = [photo("PBO_AVANT", 2), photo("PBO_APRES", 3, traits=PhotoTraits(phash=far_hash))]
    assert compare(request("PBO_AVANT", "PBO_APRES"), far, SETTINGS) == []


def test_date_window_prefers_the_camera_and_handles_zones() -> None:
    paris = WHEN.astimezone(ZoneInfo("Europe/Paris"))
    on_time = photo("PTO", 1, taken_at=paris + timedelta(hours=23))
    assert compare(request("PTO"), [on_time], SETTINGS) == []
    late = photo("PTO", 1, taken_at=WHEN + timedelta(hours=30))
    [finding] = compare(request("PTO"), [late], SETTINGS)
    assert (finding.kind, finding.severity) == ("date_out_of_window", "warning")
    assert "30.0 h after" in finding.detail
    camera = photo("PTO", 1, traits=PhotoTraits(exif_taken_at=WHEN - timedelta(days=3)))
    [finding] = compare(request("PTO"), [camera], SETTINGS)
    assert (finding.kind, finding.severity) == ("date_out_of_window", "suspect")
    assert "(EXIF), 3.0 days before" in finding.detail
    assert compare(request("PTO", when=None), [camera], SETTINGS) == []


def test_location_far_from_the_declared_position_and_spread() -> None:
    moved = PhotoTraits(exif_latitude=HERE[0] + 0.01, exif_longitude=HERE[1])  # 1.1 km north
    photos = [photo("PTO", 1, traits=moved), photo("PBO_AVANT", 2), photo("PBO_APRES", 3)]
    [finding] = compare(request("PTO", "PBO_AVANT", "PBO_APRES"), photos, SETTINGS)
    assert (finding.kind, finding.severity) == ("location_far", "suspect")
    assert "1.1 km from the declared one" in finding.detail
    spread = [
        photo("PTO", 1, latitude=HERE[0] + 0.05),
        photo("PBO_AVANT", 2),
        photo("PBO_APRES", 3),
    ]
    [finding] = compare(request("PTO", "PBO_AVANT", "PBO_APRES"), spread, SETTINGS)
    assert (finding.kind, finding.severity) == ("location_far", "warning")
    assert "spread over 5.6 km" in finding.detail
    assert set(finding.photo_ids) == {uuid.UUID(int=1), uuid.UUID(int=2)}


def test_declared_mismatch_comes_from_the_anomalies() -> None:
    lying = photo("PTO", 1, anomalies=("size: declared 1000, actual 1200", "pixels: huge"))
    [finding] = compare(request("PTO"), [lying], SETTINGS)
    assert (finding.kind, finding.severity) == ("declared_mismatch", "info")
    assert finding.detail == "PTO: size: declared 1000, actual 1200"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"width": 320, "height": 240}, "too small (320x240"),
        ({"traits": PhotoTraits(sharpness=3.0, brightness=120)}, "blurred (sharpness 3.0"),
        ({"traits": PhotoTraits(sharpness=900, brightness=12)}, "too dark (mean luminance 12"),
        ({"traits": PhotoTraits(sharpness=900, brightness=250)}, "burnt (mean luminance 250"),
    ],
)
def test_low_quality_says_why(changes: dict[str, object], reason: str) -> None:
    [finding] = compare(request("PTO"), [photo("PTO", 1, **changes)], SETTINGS)
    assert (finding.kind, finding.severity) == ("low_quality", "warning")
    assert reason in finding.detail


def test_qa_error_carries_the_reason() -> None:
    broken = photo("PTO", 1, traits=PhotoTraits(error="the image cannot be decoded: truncated"))
    [finding] = compare(request("PTO"), [broken], SETTINGS)
    assert (finding.kind, finding.severity) == ("qa_error", "info")
    assert finding.detail == "PTO: the image cannot be decoded: truncated"


def test_event_shape() -> None:
    finding = Finding("reused_photo", "suspect", "seen", (uuid.UUID(int=1),), uuid.UUID(int=2))
    assert finding.as_event() == {
        "kind": "reused_photo",
        "severity": "suspect",
        "photoIds": [str(uuid.UUID(int=1))],
        "detail": "seen",
        "relatedMessageId": str(uuid.UUID(int=2)),
    }
    assert "relatedMessageId" not in Finding("qa_error", "info", "x").as_event()
