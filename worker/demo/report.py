"""The demo's closing summary: one line per sample message, then where things are."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from worker.demo.samples import DemoRun

_COLUMNS = ("#", "scenario", "OC", "status", "photos", "attempts", "expected", "findings", "note")


def print_report(
    run: DemoRun, rows: dict[uuid.UUID, Any], storage_url: str, log_file: Path, seconds: float
) -> bool:
    """Print the summary; True if every scenario ended as expected."""
    table = [_line(i, sample, rows, run) for i, sample in enumerate(run.samples, 1)]
    widths = [max(len(str(row[c])) for row in [_COLUMNS, *table]) for c in range(len(_COLUMNS) - 1)]
    print(
        f"\nDemo finished in {seconds:.1f} s: {len(run.samples)} messages published,"
        f" {len(rows)} requests recorded, {len(run.events)} result events received.\n"
    )
    for row in [_COLUMNS, *table]:
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  " + "  ".join(cells) + "  " + _clip(str(row[-1]), 90))
    _print_findings(run, rows)
    _print_files(rows, storage_url)
    kinds = Counter(f"photos.{event.get('status', 'reviewed')}" for event in run.events)
    print(
        "\nEvents on exchange order-flow: "
        + ", ".join(f"{key} x{count}" for key, count in sorted(kinds.items()))
    )
    print(f"Worker log (JSON lines): {log_file}")
    as_expected = _all_as_expected(run, rows)
    print(
        "Every scenario ended as expected."
        if as_expected
        else "Some scenarios did not end as expected: see the table."
    )
    return as_expected


def _line(index: int, sample: Any, rows: dict[uuid.UUID, Any], run: DemoRun) -> tuple[Any, ...]:
    body = sample.body
    message_id = body.get("messageId")
    oc = body.get("codeOC", "-")
    if message_id in run.dead_letters:
        return (
            index,
            sample.title,
            oc,
            "dead-lettered",
            "-",
            "-",
            sample.expected,
            "-",
            run.dead_letters[message_id],
        )
    if sample.expected == "ignored":
        first = next(
            i for i, s in enumerate(run.samples, 1) if s.body.get("messageId") == message_id
        )
        return (
            index,
            sample.title,
            oc,
            "ignored",
            "-",
            "-",
            sample.expected,
            "-",
            f"duplicate of #{first}: nothing changed",
        )
    row = rows.get(uuid.UUID(message_id)) if message_id else None
    if row is None:
        return (index, sample.title, oc, "missing", "-", "-", sample.expected, "-", "")
    return (
        index,
        sample.title,
        oc,
        row["status"],
        len(row["keys"]),
        row["attempts"],
        sample.expected,
        len(json.loads(row["findings"])),
        row["last_error"] or "",
    )


def _print_findings(run: DemoRun, rows: dict[uuid.UUID, Any]) -> None:
    """What the photo checks flagged, request by request (none on the normal photos)."""
    lines = []
    for index, sample in enumerate(run.samples, 1):
        row = rows.get(uuid.UUID(sample.body["messageId"])) if "messageId" in sample.body else None
        if row is None or sample.expected == "ignored":
            continue
        for finding in json.loads(row["findings"]):
            detail = _clip(finding["detail"], 100)
            lines.append(f"  {index:<3} {finding['severity']:8} {finding['kind']:19} {detail}")
    print(f"\nPhoto findings ({len(lines)}; `worker findings` reports them by OC and kind):")
    print("\n".join(lines) if lines else "  none")


def _print_files(rows: dict[uuid.UUID, Any], storage_url: str) -> None:
    keys = [key for row in rows.values() for key in row["keys"]]
    print(f"\nPhotos stored: {len(keys)} files under {storage_url}, for example:")
    for key in keys[:4]:
        print(f"  {key}")


def _all_as_expected(run: DemoRun, rows: dict[uuid.UUID, Any]) -> bool:
    return all(_line(i, s, rows, run)[3] == s.expected for i, s in enumerate(run.samples, 1))


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
