"""The getPhoto operation: the bytes of one listed photo, streamed."""

import asyncio

from aiohttp import web

from worker.simulator.catalog import Photo
from worker.simulator.responses import error_response, retry_headers
from worker.simulator.scenarios import PhotoOutcome
from worker.simulator.state import STATE


async def get_photo(request: web.Request) -> web.StreamResponse:
    """Serve a photo listed earlier, unless its scenario asks for a failure."""
    state = request.app[STATE]
    photo = state.catalog.find(request.match_info["id"])
    if photo is None or photo.index in photo.scenario.photo404:
        return error_response(404, "unknown photo")
    photo.calls += 1
    outcome = photo.scenario.photo_outcome(photo.calls)
    if outcome is PhotoOutcome.ERROR:
        headers = retry_headers(photo.scenario, 500)
        return error_response(500, f"scenario {photo.scenario.label} fails this photo", headers)
    truncated = outcome is PhotoOutcome.TRUNCATED
    return await _stream(request, photo, state.config.chunk_size, truncated=truncated)


async def _stream(
    request: web.Request, photo: Photo, chunk_size: int, *, truncated: bool
) -> web.StreamResponse:
    data = memoryview(await photo.body())
    response = web.StreamResponse()
    # The declared type, even when badmagic serves other bytes: that is the lie to catch.
    response.content_type = str(photo.record["mimeType"])
    response.content_length = len(data)
    if truncated:
        # Closing the connection once the handler returns, with the body short of the
        # declared Content-Length, is what a client sees as a broken download.
        response.force_close()
    await response.prepare(request)
    end = len(data) // 2 if truncated else len(data)
    pause = photo.scenario.slow / 1000
    for start in range(0, end, chunk_size):
        if pause and start:
            await asyncio.sleep(pause)
        await response.write(data[start : min(start + chunk_size, end)])
    await response.write_eof()
    return response
