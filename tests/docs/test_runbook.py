"""Every alert rule has a `runbook_url` that resolves to its section of docs/runbook.md, with the
anchor computed as MkDocs computes it (the toc extension's slugify of the heading's text)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from markdown.extensions.toc import slugify

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RUNBOOK = ROOT / "docs" / "runbook.md"
# Relative to the root of the documentation site: runbook.md is built as runbook/index.html.
URL = re.compile(r"^runbook/#(?P<anchor>[a-z0-9_-]+)$")


def _alerts() -> dict[str, dict[str, str]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return {
        rule["alert"]: rule.get("annotations", {})
        for group in groups
        for rule in group["rules"]
        if "alert" in rule
    }


def anchors(markdown: str) -> set[str]:
    """The ids MkDocs gives the headings of a page (outside code blocks), markup stripped."""
    found, fenced = set(), False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (match := re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)):
            text = re.sub(r"[`*_]", "", match.group(1))
            found.add(slugify(text, "-"))
    return found


def test_the_anchors_are_computed_as_mkdocs_does() -> None:
    assert anchors("# Title\n```\n# not a heading\n```\n## `[oc.XXXX.oauth2]`\n") == {
        "title",
        "ocxxxxoauth2",
    }


def test_every_alert_has_a_runbook_url_to_an_existing_section() -> None:
    alerts = _alerts()
    assert len(alerts) >= 16
    sections = anchors(RUNBOOK.read_text(encoding="utf-8"))
    for name, notes in alerts.items():
        url = notes.get("runbook_url")
        assert url, f"{name} has no runbook_url annotation"
        match = URL.match(url)
        assert match, f"{name}: runbook_url {url!r} is not runbook/#<anchor>"
        anchor = match["anchor"]
        assert anchor in sections, f"{name}: docs/runbook.md has no section #{anchor}"
        assert match["anchor"] == name.lower()


def test_every_runbook_alert_section_is_a_rule() -> None:
    names = {name.lower() for name in _alerts()}
    found = anchors(RUNBOOK.read_text(encoding="utf-8"))
    sections = {a for a in found if a.startswith("photoworker")}
    assert sections == names
