"""Each OC's conditions of use as `worker status` and the console show them: the agreement in
the partners file, and where the deployment stands with it now (the shared `partner_limits`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from worker.limits.gatekeeper import block_of, is_limited, quota_used_today
from worker.limits.ledger import Shared
from worker.partners.config import PartnerConfig, read_partners_file
from worker.settings import ConfigError, Settings

Db = asyncpg.Connection | asyncpg.Pool


async def partner_limits(db: Db, settings: Settings) -> list[dict[str, Any]]:
    """One entry per OC with conditions of use; ConfigError if the partners file is unreadable."""
    configs = {c: cfg for c, cfg in read_partners_file(settings.partners_file).items()}
    limited = {code: config for code, config in configs.items() if is_limited(config)}
    if not limited:
        return []
    now: datetime = await db.fetchval("SELECT now()")
    rows = {
        row["code_oc"]: row
        for row in await db.fetch(
            "SELECT code_oc, quota_day, quota_used, failures, breaker_until FROM partner_limits"
        )
    }
    entries = []
    for code, config in sorted(limited.items()):
        row = rows.get(code)
        shared = Shared(
            now,
            row["quota_day"] if row else None,
            row["quota_used"] if row else 0,
            row["failures"] if row else 0,
            row["breaker_until"] if row else None,
        )
        entries.append(_entry(code, config, shared))
    return entries


def _entry(code: str, config: PartnerConfig, shared: Shared) -> dict[str, Any]:
    block = block_of(config, shared)
    rate, quota = config.rate, config.quota
    return {
        "oc": code,
        "state": "open" if block is None else f"held ({block.reason})",
        "until": block.until if block else None,
        "rate": f"{rate.per_second:g}/s, burst {rate.capacity}" if rate else None,
        "quota": f"{quota_used_today(quota, shared)} of {quota.calls}" if quota else None,
        "breaker": _breaker(config, shared),
    }


def _breaker(config: PartnerConfig, shared: Shared) -> str | None:
    if config.breaker is None:
        return None
    return _breaker_state(shared.breaker_until, shared.now, shared.failures)


def _breaker_state(until: datetime | None, now: datetime, failures: int) -> str:
    if until is None:
        return f"closed ({failures} failures in a row)"
    if until <= now:
        return "half-open (a probe may go)"
    return f"open until {until.isoformat(timespec='seconds')}"


def limits_lines(entries: list[dict[str, Any]] | str) -> list[str]:
    """`worker status`'s section; a string is why the limits could not be read."""
    if isinstance(entries, str):
        return [f"Partner limits: unknown ({entries})"]
    if not entries:
        return ["Partner limits: none configured"]
    lines = ["Partner limits (the partners file's conditions of use, for every replica):"]
    for e in entries:
        until = f" until {e['until'].isoformat(timespec='seconds')}" if e["until"] else ""
        parts = [f"  {e['oc']}: {e['state']}{until}"]
        parts += [f"{k} {e[k]}" for k in ("rate", "quota", "breaker") if e[k] is not None]
        lines.append("; ".join(parts))
    return lines


async def breakers_seen(db: Db) -> list[dict[str, Any]]:
    """Without the partners file (a console kept away from its tokens): the breakers that the
    shared rows say are open, which need no agreement to be read."""
    rows = await db.fetch(
        "SELECT now() AS now, code_oc, failures, breaker_until FROM partner_limits"
        " WHERE breaker_until IS NOT NULL ORDER BY code_oc"
    )
    return [
        {
            "oc": row["code_oc"],
            "state": "held (breaker)",
            "until": row["breaker_until"],
            "rate": None,
            "quota": None,
            "breaker": _breaker_state(row["breaker_until"], row["now"], row["failures"]),
        }
        for row in rows
    ]


async def limits_or_reason(db: Db, settings: Settings) -> list[dict[str, Any]] | str:
    try:
        return await partner_limits(db, settings)
    except ConfigError as exc:
        return str(exc)
