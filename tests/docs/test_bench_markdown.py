"""`python -m tests.bench --markdown FILE` writes the table of the run it made, with the machine,
the date and the command, as docs/benchmarks.md keeps its figures."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from tests.bench.table import markdown

ROOT = Path(__file__).resolve().parents[2]


def test_the_markdown_says_what_ran_where_and_when() -> None:
    text = markdown(
        [("CPU per poll", "0.91 ms", "<= 0.3 ms", "no"), ("a | b", "1", "", "")],
        "2 cores (AMD EPYC), 24 GiB, Python 3.11.7",
        "Medians of 3 runs.",
        ["--only", "idle", "--runs", "3"],
        now=datetime(2026, 11, 22, 18, 5, tzinfo=UTC),
    )
    lines = text.splitlines()
    assert lines[0] == "Run of 2026-11-22 18:05 UTC on 2 cores (AMD EPYC), 24 GiB, Python 3.11.7."
    assert lines[1] == "Command: `python -m tests.bench --only idle --runs 3`. Medians of 3 runs."
    assert lines[3:5] == ["| measure | result | target | met |", "|---|---|---|---|"]
    assert lines[5] == "| CPU per poll | 0.91 ms | <= 0.3 ms | no |"
    assert lines[6] == "| a \\| b | 1 |  |  |"


def test_a_real_run_writes_its_table(tmp_path: Path) -> None:
    # The cheapest measure: no services, about a second.
    page = tmp_path / "bench.md"
    command = [sys.executable, "-m", "tests.bench", "--only", "logging", "--runs", "1"]
    done = subprocess.run(
        [*command, "--markdown", str(page)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    text = page.read_text(encoding="utf-8")
    assert "Command: `python -m tests.bench --only logging --runs 1 --markdown " in text
    assert "| one log line: ordinary / with two 100 KB values" in text
    assert text.splitlines()[0].startswith(f"Run of {datetime.now(UTC):%Y-%m-%d}")
