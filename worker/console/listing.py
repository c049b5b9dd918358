"""The requests page: filters (OC, status, days received, finding kind), search by messageId or
reference, keyset pagination.

Each way of listing reads an index in the order it shows, so a page costs about the same on the
millionth row as on the first, whatever the filters (the figures are in docs/benchmarks.md):

- browsing: newest received first, one index range per (OC, status), merged: finished requests
  through `photo_requests_finished` (migration 0009), pending ones through the due index;
- a finding kind: most recently flagged first, through the findings' (kind, created_at) index;
- a search: by messageId, or by reference prefix (`ops.lookup`), in reference order.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import asyncpg
from aiohttp import web

from worker.console import params
from worker.console.filters import SEARCHED, BadFilter, Filters
from worker.console.pages import render, state
from worker.console.voice import N_, Text, voice
from worker.findings.label_lookup import requests_reading
from worker.findings.model import KINDS
from worker.ops.lookup import Key, by_reference_prefix
from worker.ops.status import STATUSES

PAGE = 50


@dataclass
class Page:
    rows: list[dict[str, Any]]
    next_cursor: dict[str, str] | None
    heading: Text
    ocs: list[str] = field(default_factory=list)
    # An exact match (a messageId, a photoId, a sha256) opens its request; at this photo, if any.
    exact: bool = False
    photo: uuid.UUID | None = None


class _Conditions:
    """SQL conditions on `r` (photo_requests) with their numbered arguments."""

    def __init__(self, args: list[Any] | None = None) -> None:
        self.sql: list[str] = []
        self.args: list[Any] = list(args or [])

    def add(self, template: str, *values: Any) -> None:
        """`template` names its values {0}, {1}...: they become the next $n."""
        numbers = [f"${len(self.args) + i + 1}" for i in range(len(values))]
        self.args += values
        self.sql.append(template.format(*numbers))

    def received(self, filters: Filters) -> _Conditions:
        start, end = filters.received_range()
        if start:
            self.add("r.received_at >= {0}", start)
        if end:
            self.add("r.received_at < {0}", end)
        return self

    def text(self) -> str:
        return " AND ".join(self.sql)


async def list_requests(pool: asyncpg.Pool, filters: Filters, label: str | None = None) -> Page:
    """`label`: the OI's PTO reference pattern; a search that matches it whole also finds the
    requests whose PTO photo reads that reference."""
    ocs = await known_ocs(pool)
    key = Key.parse(filters.q) if filters.q else None
    reading = await _by_label(pool, filters.q, label) if key is not None and label else None
    photo = await _by_photo(pool, key, ocs) if key is not None else None
    if reading is not None:
        page = reading
    elif photo is not None:
        page = photo
    elif key is not None and key.message_id is not None:
        page = await _by_message_id(pool, key.message_id)
    elif key is not None and not await _any_match(pool, filters, ocs):
        page = Page(
            [],
            None,
            N_("References starting with “%(prefix)s”: none within the filters", prefix=key.text),
        )
    elif key is not None:
        page = await _by_reference(pool, filters, key.text)
    elif filters.kind:
        page = await _by_finding(pool, filters)
    else:
        page = await _browse(pool, filters, [filters.oc] if filters.oc else ocs)
    page.ocs = ocs
    return page


async def known_ocs(pool: asyncpg.Pool) -> list[str]:
    """Every OC with requests: a skip scan of each index that starts with code_oc."""
    rows = await pool.fetch(_KNOWN_OCS)
    return [row["code_oc"] for row in rows]


_SKIP_SCAN = """
    (SELECT code_oc FROM photo_requests WHERE status {op} 'pending' ORDER BY code_oc LIMIT 1)
    UNION ALL
    SELECT (SELECT r.code_oc FROM photo_requests r WHERE r.status {op} 'pending'
            AND r.code_oc > s.code_oc ORDER BY r.code_oc LIMIT 1)
    FROM {name} s WHERE s.code_oc IS NOT NULL
"""
_KNOWN_OCS = f"""
WITH RECURSIVE finished(code_oc) AS ({_SKIP_SCAN.format(op="<>", name="finished")}),
pending(code_oc) AS ({_SKIP_SCAN.format(op="=", name="pending")})
SELECT code_oc FROM finished WHERE code_oc IS NOT NULL
UNION SELECT code_oc FROM pending WHERE code_oc IS NOT NULL
ORDER BY code_oc
"""


async def _browse(pool: asyncpg.Pool, filters: Filters, ocs: list[str]) -> Page:
    statuses = [filters.status] if filters.status else list(STATUSES)
    pairs = [(oc, s) for oc in ocs for s in statuses if s != "pending"]
    waiting = ocs if "pending" in statuses else []
    cond = _Conditions([[oc for oc, _ in pairs], [s for _, s in pairs], waiting])
    cond.received(filters)
    if filters.after and filters.after_id:
        cond.add("(r.received_at, r.message_id) < ({0}, {1})", *_cursor(filters))
    inner = ("AND " + cond.text()) if cond.sql else ""
    order = "ORDER BY r.received_at DESC, r.message_id DESC LIMIT " + str(PAGE + 1)
    # The status is a constant in each part, so that each can use its partial index.
    sql = (
        "(SELECT p.* FROM unnest($1::text[], $2::text[]) AS k(code_oc, status) CROSS JOIN LATERAL"
        " (SELECT r.message_id, r.received_at FROM photo_requests r WHERE r.status <> 'pending'"
        f" AND r.code_oc = k.code_oc AND r.status = k.status {inner} {order}) p)"
        " UNION ALL (SELECT p.* FROM unnest($3::text[]) AS k(code_oc) CROSS JOIN LATERAL"
        " (SELECT r.message_id, r.received_at FROM photo_requests r WHERE r.status = 'pending'"
        f" AND r.code_oc = k.code_oc {inner} {order}) p)"
        f" ORDER BY received_at DESC, message_id DESC LIMIT {PAGE + 1}"
    )
    found = await pool.fetch(sql, *cond.args)
    rows = await hydrate(pool, [row["message_id"] for row in found])
    more = len(rows) > PAGE
    last = rows[PAGE - 1] if more else None
    cursor = (
        {"after": last["received_at"].isoformat(), "after_id": str(last["message_id"])}
        if last
        else None
    )
    return Page(rows[:PAGE], cursor, N_("Requests, newest first"))


def _cursor(filters: Filters) -> tuple[datetime, uuid.UUID]:
    return params.instant("after", filters.after or ""), params.uuid(
        "after_id", filters.after_id or ""
    )


async def _any_match(pool: asyncpg.Pool, filters: Filters, ocs: list[str]) -> bool:
    """Whether the filters alone match any request, read through the indexes the listing reads.
    A search walks its prefix's range in a reference index and keeps the rows the filters
    match: within filters that match nothing, it would read the whole range (a seq scan)."""
    if not (filters.oc or filters.status or filters.kind or filters.since or filters.until):
        return True
    if filters.oc and filters.oc not in ocs:
        return False
    alone = replace(filters, q="", after=None, after_id=None)
    found = await (
        _by_finding(pool, alone)
        if alone.kind
        else _browse(pool, alone, [alone.oc] if alone.oc else ocs)
    )
    return bool(found.rows)


async def _by_label(pool: asyncpg.Pool, q: str | None, pattern: str) -> Page | None:
    """The requests whose PTO photo reads `q`, when `q` is a whole PTO reference read somewhere."""
    if not q or not re.fullmatch(pattern, q.strip().upper()):
        return None
    reference = q.strip().upper()
    ids = await requests_reading(pool, reference, PAGE)
    if not ids:
        return None
    return Page(
        await hydrate(pool, ids),
        None,
        N_("PTO photos whose label reads “%(reference)s”", reference=reference),
    )


_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
# By the photos' sha256 index, or by their primary key (code_oc, photo_id) once per OC.
_BY_SHA256 = """
SELECT l.message_id, p.photo_id FROM photos p JOIN photo_request_photos l USING (code_oc, photo_id)
WHERE p.sha256 = $1 ORDER BY p.stored_at DESC LIMIT $2
"""
_BY_PHOTO_ID = """
SELECT l.message_id, p.photo_id FROM photos p JOIN photo_request_photos l USING (code_oc, photo_id)
WHERE p.code_oc = ANY($1::text[]) AND p.photo_id = $2 LIMIT $3
"""


async def _by_photo(pool: asyncpg.Pool, key: Key, ocs: list[str]) -> Page | None:
    """The requests that list a photo, by its sha256 or its photoId (not a messageId)."""
    if _SHA256.fullmatch(key.text):
        rows = await pool.fetch(_BY_SHA256, key.text.lower(), PAGE)
        title = N_("Photos whose sha256 is %(sha256)s", sha256=key.text.lower())
    elif key.message_id is not None:
        if await pool.fetchval(_IS_REQUEST, key.message_id):
            return None
        rows = await pool.fetch(_BY_PHOTO_ID, ocs, key.message_id, PAGE)
        title = N_("photoId %(id)s", id=str(key.message_id))
    else:
        return None
    if not rows:
        return None
    ids = list(dict.fromkeys(row["message_id"] for row in rows))
    return Page(await hydrate(pool, ids), None, title, exact=True, photo=rows[0]["photo_id"])


_IS_REQUEST = "SELECT true FROM photo_requests WHERE message_id = $1"


async def _by_message_id(pool: asyncpg.Pool, message_id: uuid.UUID) -> Page:
    rows = await hydrate(pool, [message_id])
    return Page(rows, None, N_("messageId %(id)s", id=str(message_id)), exact=True)


async def _by_reference(pool: asyncpg.Pool, filters: Filters, prefix: str) -> Page:
    cond = _narrowing(filters)
    after = None
    if filters.after and filters.after_id:
        after = (filters.after, params.uuid("after_id", filters.after_id))
    matches = await by_reference_prefix(pool, prefix, PAGE + 1, after, (cond.text(), cond.args))
    rows = await hydrate(pool, [m.message_id for m in matches])
    matched = {m.message_id: m.reference for m in matches}
    for row in rows:
        row["matched"] = matched[row["message_id"]]
    more = len(rows) > PAGE
    cursor = (
        {"after": matches[PAGE - 1].key, "after_id": str(matches[PAGE - 1].message_id)}
        if more
        else None
    )
    heading = N_("References starting with “%(prefix)s”, exact match first", prefix=prefix)
    return Page(rows[:PAGE], cursor, heading)


def _narrowing(filters: Filters) -> _Conditions:
    """The filters as plain conditions, for a search (which reads its own index)."""
    cond = _Conditions()
    if filters.oc:
        cond.add("r.code_oc = {0}", filters.oc)
    if filters.status:
        cond.add("r.status = {0}", filters.status)
    if filters.kind:
        cond.add(
            "EXISTS (SELECT 1 FROM photo_findings f WHERE f.message_id = r.message_id"
            " AND f.kind = {0} AND f.created_at >= coalesce({1}::timestamptz, '-infinity'))",
            filters.kind,
            filters.flagged_from,
        )
    return cond.received(filters)


async def _by_finding(pool: asyncpg.Pool, filters: Filters) -> Page:
    cond = _Conditions()
    cond.add("f.kind = {0}", filters.kind)
    if filters.oc:
        cond.add("f.code_oc = {0}", filters.oc)
    if filters.status:
        cond.add("r.status = {0}", filters.status)
    if filters.flagged_from:
        cond.add("f.created_at >= {0}", filters.flagged_from)
    cond.received(filters)
    if filters.after and filters.after_id:
        at = params.instant("after", filters.after)
        finding = params.integer("after_id", filters.after_id)
        cond.add("(f.created_at, f.id) < ({0}, {1})", at, finding)
    found = await pool.fetch(
        "SELECT f.id, f.created_at, f.message_id FROM photo_findings f"
        f" JOIN photo_requests r USING (message_id) WHERE {cond.text()}"
        f" ORDER BY f.created_at DESC, f.id DESC LIMIT {PAGE + 1}",
        *cond.args,
    )
    more = len(found) > PAGE
    found = found[:PAGE]
    ids = list(dict.fromkeys(row["message_id"] for row in found))  # a request flagged twice
    cursor = (
        {"after": found[-1]["created_at"].isoformat(), "after_id": str(found[-1]["id"])}
        if more
        else None
    )
    heading = N_(
        "Requests with a “%(kind)s” finding, most recently flagged first", kind=filters.kind
    )
    if filters.flagged_from:
        heading = N_(
            "Requests with a “%(kind)s” finding, most recently flagged first, flagged since"
            " %(since)s UTC",
            kind=filters.kind,
            since=f"{filters.flagged_from:%Y-%m-%d %H:%M}",
        )
    return Page(await hydrate(pool, ids), cursor, heading)


async def hydrate(pool: asyncpg.Pool, ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    """The rows to show for these requests, in this order, each with its findings' kinds."""
    rows = await pool.fetch(_ROWS, ids)
    by_id = {row["message_id"]: dict(row) | {"findings": []} for row in rows}
    for finding in await pool.fetch(_FINDING_KINDS, ids):
        by_id[finding["message_id"]]["findings"].append(dict(finding))
    return [by_id[i] for i in ids if i in by_id]


_ROWS = """
SELECT message_id, code_oc, status, attempts, last_http_status, received_at, completed_at,
    next_attempt_at, last_error, reference_commande_sous_traitant_oi,
    reference_commande_prise_interne_oc, reference_prestation_prise
FROM photo_requests WHERE message_id = ANY($1::uuid[])
"""
_FINDING_KINDS = """
SELECT message_id, kind, count(*) AS n, (ARRAY['info', 'warning', 'suspect'])[
    max(array_position(ARRAY['info', 'warning', 'suspect'], severity))] AS severity
FROM photo_findings WHERE message_id = ANY($1::uuid[])
GROUP BY message_id, kind ORDER BY message_id, kind
"""


async def requests_page(request: web.Request) -> web.Response:
    pool = state(request).pool
    context: dict[str, Any] = {"statuses": STATUSES, "kinds": KINDS}
    try:
        filters = Filters.parse(request.query, voice(request).zone)
        page = await list_requests(pool, filters, state(request).settings.pto_reference_pattern)
    except BadFilter as exc:
        empty = Page([], None, N_("Requests"), await known_ocs(pool))
        typed = request.query.get("q", "")
        shown = Filters(q=typed[:SEARCHED] if params.printable(typed) else "")
        context |= {"f": shown, "page": empty}
        return render(request, "requests.html", context | {"error": str(exc)}, status=400)
    if page.exact and len(page.rows) == 1:
        anchor = f"#photo-{page.photo}" if page.photo else ""
        raise web.HTTPSeeOther(location=f"/requests/{page.rows[0]['message_id']}{anchor}")
    return render(request, "requests.html", context | {"f": filters, "page": page, "error": ""})
