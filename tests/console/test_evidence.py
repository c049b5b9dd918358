"""The evidence beside a photo, as text: pure functions of its row and the settings."""

from __future__ import annotations

import gettext
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.harness import make_settings
from worker.console.evidence import date_gap, download_names, evidence, map_url
from worker.console.voice import Voice, load_translations

NOON = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
EN = Voice("en", gettext.NullTranslations(), ZoneInfo("UTC"))


def test_the_gap_between_the_declared_and_the_exif_date() -> None:
    assert date_gap(NOON, NOON - timedelta(days=2), EN) == "2 d before the declared date"
    assert date_gap(NOON, NOON + timedelta(hours=3, minutes=5), EN) == (
        "3 h 5 min after the declared date"
    )
    assert date_gap(NOON, NOON + timedelta(seconds=20), EN) == "same minute"
    assert date_gap(NOON, None, EN) is None
    assert date_gap(None, NOON, EN) is None


def test_the_gap_and_the_measures_in_french(tmp_path: Path) -> None:
    fr = Voice("fr", load_translations()["fr"], ZoneInfo("Europe/Paris"))
    assert date_gap(NOON, NOON - timedelta(days=2, hours=1), fr) == "2 j 1 h avant la date déclarée"
    settings = make_settings("postgresql://unused", "amqp://unused", tmp_path, qa_blur_below=25.0)
    shown = evidence({"sharpness": 24.4, "brightness": 10.0}, settings, fr)
    assert shown["sharpness"].verdict == "floue : sous 25"
    assert shown["brightness"].verdict.startswith("trop sombre : sous ")


def test_a_map_link_centred_on_the_point() -> None:
    assert map_url((48.8566, 2.3522)) == (
        "https://www.openstreetmap.org/?mlat=48.856600&mlon=2.352200#map=18/48.856600/2.352200"
    )
    assert map_url(None) is None


def test_measures_against_the_thresholds_of_the_settings(tmp_path: Path) -> None:
    settings = make_settings(
        "postgresql://unused", "amqp://unused", tmp_path, qa_blur_below=25.0, qa_bright_above=200.0
    )
    photo = {"sharpness": 24.4, "brightness": 201.0, "latitude": 48.85, "longitude": 2.35}
    shown = evidence(photo | {"exif_latitude": 48.85, "exif_longitude": 2.352}, settings, EN)
    assert (shown["sharpness"].ok, shown["sharpness"].verdict) == (False, "blurred: below 25")
    assert (shown["brightness"].ok, shown["brightness"].verdict) == (False, "too bright: above 200")
    assert shown["distance"] == "146 m"
    alone = evidence({"sharpness": None, "brightness": 100.0}, settings, EN)
    assert alone["sharpness"] is None
    assert alone["brightness"].verdict == "within 40 to 200"
    assert alone["distance"] is None
    assert alone["exif_map"] is None


def test_downloads_named_after_the_reference_and_the_type() -> None:
    photos = [
        {"photo_id": uuid.uuid4(), "type": "PBO_AVANT", "mime_type": "image/jpeg"},
        {"photo_id": uuid.uuid4(), "type": "PBO_AVANT", "mime_type": "image/jpeg"},
        {"photo_id": uuid.uuid4(), "type": "PTO", "mime_type": "image/png"},
    ]
    names = download_names(photos, 'INT 7/"x"')
    assert [names[p["photo_id"]] for p in photos] == [
        "INT-7--x-_PBO_AVANT.jpg",
        "INT-7--x-_PBO_AVANT_2.jpg",
        "INT-7--x-_PTO.png",
    ]
    assert download_names(photos[:1], "..")[photos[0]["photo_id"]] == "photo_PBO_AVANT.jpg"
