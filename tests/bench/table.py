"""Rows of the benchmark's table for the bursts (throughput, CPU per photo, scaling), the
catch-up day and the cost of a poll."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Sequence
from datetime import UTC, datetime

from tests.bench import bursts, scenarios
from tests.bench.scenarios import Figures

Row = tuple[str, str, str, str]


def _met(ok: bool) -> str:
    return "yes" if ok else "no"


def header() -> list[str]:
    return ["| measure | result | target | met |", "|---|---|---|---|"]


def markdown(
    rows: Sequence[Row],
    machine: str,
    about: str,
    arguments: Sequence[str],
    now: datetime | None = None,
) -> str:
    """One run's results as docs/benchmarks.md keeps them: what ran, where, when, then the rows."""
    when = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    command = shlex.join(["python", "-m", "tests.bench", *arguments])
    lines = [
        f"Run of {when} on {machine}.",
        f"Command: `{command}`. {about}",
        "",
        *header(),
        *("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows),
    ]
    return "\n".join(lines) + "\n"


def throughput_rows(results: dict[str, Figures], args: argparse.Namespace) -> list[Row]:
    if (t := results.get("throughput")) is None:
        return []
    runs = ", ".join(f"{r:.2f}" for r in t.values["nochecks_cpu_ratio"])
    rows = [
        (
            f"throughput, raw aiohttp loop ({args.requests} x 6 x 200 KB)",
            f"{t.median('raw_photos_s'):.0f} photos/s, {t.median('raw_mb_s'):.1f} MB/s;"
            f" CPU {t.median('raw_cpu_ms'):.2f} ms per photo",
            "",
            "",
        ),
        _worker_row(t, "", "worker, photo checks on (the default)"),
        _worker_row(t, "nochecks_", "worker, photo checks off"),
    ]
    if "before_nochecks_worker_cpu_ms" in t.values:
        rows.append(_worker_row(t, "before_nochecks_", "before (--baseline), checks off"))
    rows.append(
        (
            "CPU per photo, worker vs bare loop (same run; checks off)",
            f"ratio {t.median('nochecks_cpu_ratio'):.2f} (runs: {runs})",
            ">= 0.8",
            _met(t.median("nochecks_cpu_ratio") >= 0.8),
        )
    )
    return rows


def _worker_row(t: Figures, prefix: str, name: str) -> Row:
    ratio = t.median(f"{prefix}ratio")
    return (
        f"throughput, {name} (publish to last completed)",
        f"{t.median(f'{prefix}worker_photos_s'):.0f} photos/s (ratio to raw {ratio:.2f});"
        f" CPU {t.median(f'{prefix}worker_cpu_ms'):.2f} ms per photo (ratio"
        f" {t.median(f'{prefix}cpu_ratio'):.2f})",
        ">= 0.8" if prefix == "nochecks_" else "",
        _met(ratio >= 0.8) if prefix == "nochecks_" else "",
    )


def scaling_rows(results: dict[str, Figures], args: argparse.Namespace) -> list[Row]:
    if (s := results.get("scaling")) is None:
        return []
    rows = []
    for n in bursts.SCALES:
        speedup = f", speed-up x{s.median(f'speedup_{n}'):.2f}" if n > 1 else ""
        rows.append(
            (
                f"scaling, burst of {args.requests * 2} requests: {n} process(es)",
                f"{s.median(f'seconds_{n}'):.1f} s{speedup}; machine CPU busy"
                f" {s.median(f'busy_{n}'):.0f} %; busiest process made"
                f" {100 * s.median(f'share_{n}'):.0f} % of the attempts;"
                f" {s.median(f'xacts_{n}'):.1f} PostgreSQL transactions per request;"
                f" done twice: {int(max(s.values[f'twice_{n}']))}",
                "nothing twice",
                _met(max(s.values[f"twice_{n}"]) == 0),
            )
        )
    return rows


def before_poll(results: dict[str, Figures]) -> str:
    if (before := results.get(scenarios.BEFORE)) is None:
        return ""
    return (
        f" (before, --baseline, same runs: {before.median('ms_per_poll'):.2f} ms,"
        f" {before.median('cpu_percent'):.2f} %)"
    )


def catchup_rows(results: dict[str, Figures], args: argparse.Namespace) -> list[Row]:
    if (c := results.get("catchup")) is None:
        return []
    return [
        (
            f"catch-up day: {args.backlog:,} CR_STOC waiting at start, 200 with one photo",
            f"intake {c.median('intake_per_s'):,.0f} messages/s recorded; all finished in"
            f" {c.median('finish_s'):.0f} s ({c.median('reviewed_at_finish'):,.0f} reviewed by"
            f" then); then {c.median('review_per_s'):.1f} reviews/s, all reviewed"
            f" {'(projected at that rate) ' if c.median('review_projected') else ''}in"
            f" {c.median('review_s'):,.0f} s; worker CPU {c.median('cpu_ms'):.2f} ms per request",
            "intake >= 5,000/s",
            _met(c.median("intake_per_s") >= 5000),
        )
    ]


def apart_rows(results: dict[str, Figures]) -> list[Row]:
    """Intake alone, and one poll's HTTP call at three paces (see tests/bench/apart.py)."""
    rows = []
    if (i := results.get("intake")) is not None:
        rows.append(
            (
                "intake alone (the Intake class, 30,000 waiting, no attempts; uvloop)",
                f"{i.median('per_s'):,.0f} messages/s; CPU {i.median('cpu_us'):.0f} us per message",
                "",
                "",
            )
        )
    if (h := results.get("pollhttp")) is not None:
        rows.append(
            (
                "one 202 poll's HTTP call (aiohttp GET of the simulator), CPU per call",
                f"tight loop {h.median('tight'):.0f} us; 14 every 0.5 s {h.median('waves'):.0f} us;"
                f" one every 35 ms {h.median('spread'):.0f} us",
                "",
                "",
            )
        )
    return rows


def poll_row(results: dict[str, Figures]) -> list[Row]:
    if (many := results.get("idle_100k")) is None or "ms_per_poll" not in many.values:
        return []
    return [
        (
            "CPU per poll (202 to next_attempt_at written), 100,000 due over the next hour",
            f"{many.median('ms_per_poll'):.2f} ms" + before_poll(results),
            "<= 0.3 ms",
            _met(many.median("ms_per_poll") <= 0.3),
        )
    ]
