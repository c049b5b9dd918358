"""docs/configuration.md is generated from the Settings model and the partners-file schema: the
page in the repository must be what the code generates, and say every setting and key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from worker.docs.configuration import PAGE, render
from worker.partners.config import OAuth2Config, PartnerConfig
from worker.settings import Settings, env_name

ROOT = Path(__file__).resolve().parents[2]


def test_the_page_is_what_the_code_generates() -> None:
    committed = (ROOT / PAGE).read_text(encoding="utf-8")
    assert committed == render(), f"{PAGE} is stale: run `python -m worker.docs` and commit it"


def test_every_setting_has_a_description_and_a_row() -> None:
    page = render()
    for name, field in Settings.model_fields.items():
        assert field.description, f"Settings.{name} has no Field(description=...)"
        assert f"| `{env_name(name)}` |" in page


def test_every_partners_key_has_a_description_and_a_row() -> None:
    page = render()
    for model, section in ((PartnerConfig, "[oc.XXXX]"), (OAuth2Config, "[oc.XXXX.oauth2]")):
        table = page.split(f"### `{section}`", 1)[1].split("\n### ", 1)[0]
        for key, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{key} has no description"
            assert f"| `{key}` |" in table


def test_defaults_are_shown_as_written_in_the_environment() -> None:
    page = render()
    assert "| `WORKER_KEEP_ATTEMPTS` | duration, optional | `90d` |" in page
    assert "| `WORKER_QUEUE_TYPE` | `quorum` or `classic` | `quorum` |" in page
    assert "| `base_url` | URL | **required** |" in page
    assert "| `spread` | duration | `15m` |" in page


def test_the_check_command_fails_on_a_stale_page(tmp_path: Path) -> None:
    page = tmp_path / "configuration.md"
    page.write_text(render().replace("RabbitMQ", "Kafka"), encoding="utf-8")
    command = [sys.executable, "-m", "worker.docs", "--check", "--page", str(page)]
    stale = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    assert stale.returncode == 1
    assert "python -m worker.docs" in stale.stderr
    written = subprocess.run([*command[:3], "--page", str(page)], cwd=ROOT, check=False)
    assert written.returncode == 0
    assert subprocess.run(command, cwd=ROOT, check=False).returncode == 0
