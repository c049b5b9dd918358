"""README.md is the front door: short, and every link it gives into docs/ resolves."""

from __future__ import annotations

import re
from pathlib import Path

from tests.docs.test_runbook import anchors

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_stays_a_front_door() -> None:
    assert len(README.splitlines()) <= 220


def test_every_link_into_docs_resolves() -> None:
    links = re.findall(r"\]\((docs/[^)#\s]+)(?:#([^)\s]+))?\)", README)
    assert len(links) >= 15
    for path, anchor in links:
        target = ROOT / path
        assert target.is_file(), f"README links to {path}, which does not exist"
        if anchor:
            assert anchor in anchors(target.read_text(encoding="utf-8")), f"{path}#{anchor}"
