"""What `worker purge` prints: the retention in force, then what went (or would go), by table."""

from __future__ import annotations

from datetime import timedelta

from worker.ops.purge import PurgeReport, Retention
from worker.partners.duration import format_duration

_TABLES = (
    "attempts",
    "events",
    "dead_letters",
    "requests",
    "findings",
    "photos",
    "purged_ids",
)


def render_purge(report: PurgeReport, retention: Retention) -> str:
    if report.skipped:
        return "purge skipped: another purge is running (advisory lock held)"
    kept = ", ".join(
        f"{name} {_keep(value)}"
        for name, value in (
            ("attempts", retention.attempts),
            ("sent events", retention.events),
            ("dead letters", retention.dead_letters),
            ("finished requests and their photos", retention.finished),
            ("message ids of purged requests", retention.purged_ids),
        )
    )
    verb = "would delete" if report.dry_run else "deleted"
    lines = [f"Retention: {kept}.", f"{'Dry run: ' if report.dry_run else ''}rows {verb}:"]
    width = max(len(name) for name in _TABLES)
    lines += [f"  {name:{width}}  {report.deleted.get(name, 0):>12,}" for name in _TABLES]
    if not report.dry_run:
        lines.append(f"  {'objects':{width}}  {report.objects:>12,}  (photo files removed)")
    lines.append(f"{report.batches} batches in {report.seconds:.1f} s")
    return "\n".join(lines)


def _keep(value: timedelta | None) -> str:
    return "for ever" if value is None else format_duration(value.total_seconds())
