"""The comparison viewer: one or two photos full screen, with linked zoom and pan, an A/B flip,
an onion-skin overlay and a brightness boost (static/viewer.js), each side with its requests,
OC, type, declared and EXIF dates and positions.

`GET /compare?left=OCAA/<photoId>&right=OCBB/<photoId>`: each side found by (codeOC, photoId)
in `photos`, as the photo route finds it; `right` is optional (one photo, zoomed).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import asyncpg
from aiohttp import web

from worker.console.evidence import evidence
from worker.console.pages import render, state
from worker.console.voice import voice

_SIDE = re.compile(r"^([A-Z0-9]{4})/([0-9a-fA-F-]{36})$")

_PHOTO = """
SELECT code_oc, photo_id, type, mime_type, width, height, size_bytes, sha256, taken_at,
    exif_taken_at, latitude, longitude, projection, exif_latitude, exif_longitude, sharpness,
    brightness
FROM photos WHERE code_oc = $1 AND photo_id = $2
"""
_REQUESTS = """
SELECT r.message_id, r.received_at, coalesce(r.reference_commande_sous_traitant_oi,
    r.reference_commande_prise_interne_oc, r.reference_prestation_prise) AS reference
FROM photo_request_photos l JOIN photo_requests r USING (message_id)
WHERE l.code_oc = $1 AND l.photo_id = $2
ORDER BY r.received_at LIMIT 5
"""


def parse_side(value: str, name: str) -> tuple[str, uuid.UUID]:
    """`OCAA/<photoId>` or a 400 that says what is expected."""
    match = _SIDE.match(value.strip())
    if match is None:
        raise web.HTTPBadRequest(text=f"{name}: expected <codeOC>/<photoId>\n")
    try:
        return match.group(1), uuid.UUID(match.group(2))
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name}: not a photoId\n") from None


async def compare_page(request: web.Request) -> web.Response:
    asked = [(name, request.query.get(name, "")) for name in ("left", "right")]
    if not asked[0][1]:
        raise web.HTTPBadRequest(text="left: expected <codeOC>/<photoId>\n")
    sides = []
    for name, value in asked:
        if value:
            sides.append(await _side(request, name, *parse_side(value, name)))
    return render(request, "compare.html", {"sides": sides})


async def _side(
    request: web.Request, name: str, code_oc: str, photo_id: uuid.UUID
) -> dict[str, Any]:
    console = state(request)
    pool: asyncpg.Pool = console.pool
    row = await pool.fetchrow(_PHOTO, code_oc, photo_id)
    if row is None:
        raise web.HTTPNotFound(text=f"{name}: no photo {code_oc}/{photo_id}\n")
    photo = dict(row)
    return {
        "name": name,
        "label": "A" if name == "left" else "B",
        "p": photo,
        "ev": evidence(photo, console.settings, voice(request)),
        "requests": [dict(r) for r in await pool.fetch(_REQUESTS, code_oc, photo_id)],
    }
