"""Photos and their thumbnails over HTTP, found only by (codeOC, photoId) in `photos`: the
storage key, the content type and the ETag come from the row, never from the URL."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
from aiohttp import web

from worker.console import params
from worker.console.pages import state
from worker.console.thumbnails import NoThumbnail

_OC = re.compile(r"^[A-Z0-9]{4}$")
_SERVED_TYPES = frozenset({"image/jpeg", "image/png"})
_CACHE = "private, max-age=86400"  # a photo's bytes never change under its key


async def _photo_row(request: web.Request) -> asyncpg.Record:
    code_oc = request.match_info["code_oc"]
    try:
        photo_id = params.uuid("photoId", request.match_info["photo_id"])
    except params.BadParameter:
        raise web.HTTPNotFound(text="no such photo\n") from None
    if not _OC.fullmatch(code_oc):
        raise web.HTTPNotFound(text="no such photo\n")
    row = await state(request).pool.fetchrow(
        "SELECT photo_id, mime_type, storage_key, sha256, size_bytes, width, height"
        " FROM photos WHERE code_oc = $1 AND photo_id = $2",
        code_oc,
        photo_id,
    )
    if row is None:
        raise web.HTTPNotFound(text="no such photo\n")
    return row


def _unchanged(request: web.Request, etag: str) -> bool:
    return etag in {tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")}


async def photo(request: web.Request) -> web.StreamResponse:
    """The stored bytes, streamed from storage with the content type of the row, and the
    length storage gives (a row's size_bytes that disagrees would make the answer hang)."""
    row = await _photo_row(request)
    etag = f'"{row["sha256"]}"'
    headers = {"ETag": etag, "Cache-Control": _CACHE}
    if _unchanged(request, etag):
        return web.Response(status=304, headers=headers)
    try:
        length, chunks = await state(request).store.open(row["storage_key"])
    except FileNotFoundError:
        raise web.HTTPNotFound(text="the photo's row exists but its object is missing\n") from None
    response = web.StreamResponse(headers=headers | _type_headers(row))
    response.content_length = length
    await response.prepare(request)
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response


def _type_headers(row: asyncpg.Record) -> dict[str, Any]:
    mime = row["mime_type"]
    if mime in _SERVED_TYPES:
        # No file name here: the page's links name a download REF_TYPE.jpg (their `download`
        # attribute), which a name in this header would override.
        return {"Content-Type": mime, "Content-Disposition": "inline"}
    # Never expected (the worker stores JPEG and PNG only), and then never rendered in place.
    return {"Content-Type": "application/octet-stream", "Content-Disposition": "attachment"}


async def thumbnail(request: web.Request) -> web.Response:
    row = await _photo_row(request)
    thumbnails = state(request).thumbnails
    etag = thumbnails.etag(row["sha256"])
    headers = {"ETag": etag, "Cache-Control": _CACHE}
    if _unchanged(request, etag):
        return web.Response(status=304, headers=headers)
    if row["width"] is None or row["height"] is None:
        raise web.HTTPUnprocessableEntity(text="no preview: dimensions not readable\n")
    store = state(request).store
    try:
        body = await thumbnails.get(row["sha256"], lambda: store.read(row["storage_key"]))
    except FileNotFoundError:
        raise web.HTTPNotFound(text="the photo's object is missing\n") from None
    except NoThumbnail as exc:
        raise web.HTTPUnprocessableEntity(text=f"no preview: {exc}\n") from None
    return web.Response(body=body, content_type="image/jpeg", headers=headers)
