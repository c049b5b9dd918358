"""Checks every partner API call passes before its handler runs, and the call journal."""

import re
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from worker.simulator.calls import CallRecord
from worker.simulator.responses import error_response, unauthorized
from worker.simulator.state import STATE, SimulatorState

API_OPERATIONS = frozenset(
    {"getPhotosByIntervention", "getPhotosByOrder", "getPhotosByAccess", "getPhoto"}
)
JOURNALED_OPERATIONS = API_OPERATIONS | {"token"}
_REQUEST_ID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_CLIENT_ID = re.compile(r"[A-Z0-9]{4}")


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Journal the partner API and token calls, and refuse API calls with bad headers."""
    operation = request.match_info.route.name
    if operation not in JOURNALED_OPERATIONS:
        return await handler(request)
    state = request.app[STATE]
    record = _start_record(request, operation)
    state.calls.append(record)
    try:
        refusal = None
        if operation in API_OPERATIONS:
            refusal = state.conditions.refusal() or _refusal(request, state)
        response = refusal if refusal is not None else await handler(request)
    except web.HTTPException as error:
        record.status = error.status
        raise
    record.status = response.status
    return response


def _start_record(request: web.Request, operation: str) -> CallRecord:
    identifier = request.match_info.get("id")
    return CallRecord(
        method=request.method,
        path=request.rel_url.raw_path,
        operation=operation,
        reference=identifier if operation != "getPhoto" else None,
        photo_id=identifier if operation == "getPhoto" else None,
        request_id=request.headers.get("X-Request-Id"),
        client_id=request.headers.get("X-Client-Id"),
        authorization="Authorization" in request.headers,
        at=time.monotonic(),
        wall=time.time(),
        client_cert_serial=_client_cert_serial(request),
    )


def _client_cert_serial(request: web.Request) -> str | None:
    """The serial number (hex) of the client certificate of a mutual-TLS connection."""
    transport = request.transport
    peer = transport.get_extra_info("peercert") if transport is not None else None
    serial = peer.get("serialNumber") if isinstance(peer, dict) else None
    return str(serial) if serial else None


def _refusal(request: web.Request, state: SimulatorState) -> web.Response | None:
    """The error answer the headers deserve: 400, then 401, then 403; None when they are fine."""
    request_id = request.headers.get("X-Request-Id", "")
    if _REQUEST_ID.fullmatch(request_id) is None:
        return error_response(400, "X-Request-Id must be a UUID of 36 characters")
    client_id = request.headers.get("X-Client-Id", "")
    if _CLIENT_ID.fullmatch(client_id) is None:
        return error_response(400, "X-Client-Id must be 4 characters [A-Z0-9]")
    if not state.tokens.accepts(request.headers.get("Authorization")):
        return unauthorized("missing, unknown or expired bearer token")
    expected = state.config.client_id
    if expected is not None and client_id != expected:
        return error_response(403, f"client {client_id} may not read these photos")
    return None
