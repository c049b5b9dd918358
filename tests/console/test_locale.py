"""The console's language and time zone: times in the console's zone with UTC on hover, French
or English from the browser or the setting, the spec's names explained, and a French catalog
that translates every message the console can show."""

from __future__ import annotations

import gettext
import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from tests.console import seed
from tests.console.conftest import Console, StartConsole
from tests.harness import make_settings
from worker.console import formats
from worker.console.voice import CATALOGS, Voice, load_translations, negotiate

ROOT = Path(__file__).resolve().parents[2]
WINTER = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
SUMMER = datetime(2026, 7, 15, 12, 0, tzinfo=UTC)
FRENCH = {"Accept-Language": "fr-FR,fr;q=0.9"}


def _voice(zone: str, language: str = "en") -> Voice:
    translations = load_translations()[language] if language != "en" else None
    return Voice(language, translations or gettext.NullTranslations(), ZoneInfo(zone))


def test_a_utc_time_shows_in_paris_time_in_winter_and_summer_with_utc_on_hover() -> None:
    paris = _voice("Europe/Paris")
    assert formats.when(WINTER, paris) == (
        '<time datetime="2026-01-15T12:00:00Z" title="2026-01-15 12:00:00 UTC">'
        "2026-01-15 13:00:00 CET</time>"
    )
    assert formats.when(SUMMER, paris) == (
        '<time datetime="2026-07-15T12:00:00Z" title="2026-07-15 12:00:00 UTC">'
        "2026-07-15 14:00:00 CEST</time>"
    )
    assert formats.when(None, paris) == "-"
    assert formats.stamp(SUMMER, paris) == "2026-07-15 14:00:00 CEST"


def test_another_zone_setting_shows_its_own_time_and_name() -> None:
    assert ">2026-01-15 07:00:00 EST</time>" in formats.when(WINTER, _voice("America/New_York"))
    assert ">2026-07-15 12:00:00 UTC</time>" in formats.when(SUMMER, _voice("UTC"))
    # A zone without an abbreviation shows its offset.
    assert ">2026-01-15 15:00:00 +03</time>" in formats.when(WINTER, _voice("Europe/Istanbul"))


def test_a_relative_time_carries_the_absolute_one_for_hover_and_print() -> None:
    now = datetime(2026, 1, 15, 12, 3, tzinfo=UTC)
    shown = formats.ago(WINTER, _voice("Europe/Paris", "fr"), now)
    assert 'title="2026-01-15 13:00:00 CET · 2026-01-15 12:00:00 UTC"' in shown
    assert '<span class="screen-only">il y a 3 min 0 s</span>' in shown
    assert '<span class="print-only">2026-01-15 13:00:00 CET</span>' in shown


def test_the_zone_setting_must_be_a_zone(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        make_settings("postgresql://x", "amqp://x", tmp_path, console_timezone="Europe/Atlantis")
    settings = make_settings("postgresql://x", "amqp://x", tmp_path)
    assert (settings.console_timezone, settings.console_language) == ("Europe/Paris", "auto")


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("fr-FR,fr;q=0.9,en;q=0.8", "fr"),
        ("en-GB,en;q=0.9,fr;q=0.8", "en"),
        ("de-DE,de;q=0.9,fr;q=0.7,en;q=0.5", "fr"),
        ("en;q=0.4, fr;q=0.6", "fr"),
        ("fr;q=0, en", "en"),
        ("de", "en"),
        ("", "en"),
        ("fr;q=bad", "en"),
    ],
)
def test_the_language_from_accept_language(header: str, language: str) -> None:
    assert negotiate(header) == language


def test_every_message_of_the_console_has_a_french_translation() -> None:
    """Extracted as `pybabel extract` does (translations/babel.cfg): a new message without its
    French fails here, as does a French that drops or renames a placeholder."""
    with (CATALOGS / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    used = {
        message: filename
        for filename, _, message, _, _ in extract_from_dir(
            str(ROOT),
            method_map,
            options_map,
            keywords={"_": None, "gettext": None, "ngettext": (1, 2), "N_": None},
        )
    }
    assert len(used) > 300, "the extraction found the console's messages"
    with (CATALOGS / "fr.po").open("rb") as po:
        catalog = read_po(po, locale="fr")
    untranslated = []
    for message, filename in used.items():
        msgid = message[0] if isinstance(message, tuple) else message
        entry = catalog.get(msgid)
        strings = entry.string if entry is not None else ""
        strings = strings if isinstance(strings, tuple) else (strings,)
        if entry is None or entry.fuzzy or not all(strings):
            untranslated.append(f"{filename}: {msgid!r}")
    assert untranslated == []
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()]
    assert problems == []


def _lang(html: str) -> str:
    match = re.search(r'<html lang="([a-z]+)">', html)
    assert match, "the page names its language"
    return match.group(1)


async def test_a_french_browser_gets_french_an_english_one_english(console: Console) -> None:
    french = await console.get("/", headers=FRENCH)
    assert french.status == 200
    assert _lang(french.text) == "fr"
    assert "<h1>Vue d\u2019ensemble</h1>" in french.text
    assert "File de revue" in french.text
    assert "Demandes par OC et par statut" in french.text
    english = await console.get("/", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert _lang(english.text) == "en"
    assert "<h1>Overview</h1>" in english.text
    assert "Requests by OC and status" in english.text
    silent = await console.get("/")
    assert _lang(silent.text) == "en", "no Accept-Language: English"
    assert "<h1>Overview</h1>" in silent.text


async def test_the_setting_overrides_the_browser(start_console: StartConsole) -> None:
    console = await start_console(console_language="fr")
    page = await console.get("/dead-letters", headers={"Accept-Language": "en"})
    assert _lang(page.text) == "fr"
    assert "<h1>Lettres mortes</h1>" in page.text
    assert "Aucune lettre morte." in page.text


async def test_a_french_request_page_in_paris_time_with_its_legend(
    console: Console, db: asyncpg.Pool
) -> None:
    seeded = await seed.request(db, reference="INT-FR", received_at=SUMMER)
    await seed.finding(db, seeded, "reused_photo", "suspect")
    page = await console.get(f"/requests/{seeded.message_id}", headers=FRENCH)
    assert page.status == 200
    html = page.text
    assert "<h1>Demande INT-FR" in html
    assert (
        '<time datetime="2026-07-15T12:00:00Z" title="2026-07-15 12:00:00 UTC">'
        "2026-07-15 14:00:00 CEST</time>" in html
    ), "received, in Paris time, UTC on hover"
    assert "photo réutilisée" in html, "the kind's label beside its code"
    assert "<code>reused_photo</code>" in html, "the code kept"
    assert re.search(
        r'<abbr title="la référence de commande STOC[^"]*">referenceCommandeSousTraitantOI</abbr>',
        html,
    ), "a spec name explained on hover"
    legend = re.search(r'<details class="legend" id="legend">(.*?)</details>', html, re.S)
    assert legend, "the legend of the spec's names"
    assert "<dt><code>PBO_AVANT</code></dt><dd>le PBO ouvert, grand angle, avant câblage" in (
        legend.group(1)
    )
    english = await console.get(f"/requests/{seeded.message_id}")
    assert "the STOC order reference" in english.text
    assert "2026-07-15 14:00:00 CEST" in english.text, "the zone does not depend on the language"


async def test_times_in_the_zone_of_the_setting(
    start_console: StartConsole, db: asyncpg.Pool
) -> None:
    console = await start_console(console_timezone="UTC")
    seeded = await seed.request(db, reference="INT-UTC", received_at=WINTER)
    page = await console.get("/requests")
    assert ">2026-01-15 12:00:00 UTC</time>" in page.text
    assert "<dt><code>codeOC</code></dt>" in page.text, "the list's legend: the message's names"
    assert "<dt><code>PBO_AVANT</code></dt>" not in page.text, "no photo types on the list"
    detail = await console.get(f"/requests/{seeded.message_id}")
    assert ">2026-01-15 12:00:00 UTC</time>" in detail.text


async def test_the_header_switch_remembers_a_language_in_a_cookie(
    start_console: StartConsole,
) -> None:
    console = await start_console()
    overview = await console.get("/", headers={"Accept-Language": "en"})
    assert 'href="/language/fr?back=/"' in overview.text
    noticed = await console.get("/requests?status=failed&notice=refetch-due")
    assert 'href="/language/fr?back=/requests?status%3Dfailed"' in noticed.text, "no notice again"
    switched = await console.get(
        "/language/fr?back=/dead-letters?state=waiting", allow_redirects=False
    )
    assert switched.status == 303
    assert switched.headers["Location"] == "/dead-letters?state=waiting"
    assert "console_language=fr" in switched.headers["Set-Cookie"]
    assert "HttpOnly" in switched.headers["Set-Cookie"]
    page = await console.get("/dead-letters", headers={"Accept-Language": "en"})
    assert _lang(page.text) == "fr", "the cookie before the browser's languages"
    assert '<strong lang="fr">FR</strong>' in page.text
    for elsewhere in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        away = await console.get("/language/en", params={"back": elsewhere}, allow_redirects=False)
        assert away.headers["Location"] == "/", "never to another site"
    assert (await console.get("/language/de", allow_redirects=False)).status == 404
    forced = await start_console(console_language="en")
    assert "/language/" not in (await forced.get("/")).text, "no switch when the setting decides"
