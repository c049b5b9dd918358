"""The three metadata operations (getPhotosByIntervention, ByOrder, ByAccess)."""

import asyncio

from aiohttp import web

from worker.simulator.responses import (
    error_response,
    poisoned_error,
    retry_headers,
    unauthorized,
)
from worker.simulator.scenarios import Scenario, ScenarioError, parse_scenario
from worker.simulator.state import STATE, SimulatorState


async def list_photos(request: web.Request) -> web.StreamResponse:
    """Answer a metadata call as the scenario encoded in its reference says."""
    state = request.app[STATE]
    operation = request.match_info.route.name or ""
    reference = request.match_info["id"]
    try:
        scenario = parse_scenario(reference)
    except ScenarioError as error:
        return error_response(400, f"invalid scenario in reference {reference!r}: {error}")
    call = state.count_metadata_call(operation, reference)
    if scenario.is_delayed(call):
        await asyncio.sleep(scenario.delay / 1000)
    status = scenario.metadata_status(call)
    if status == 401:
        # Only an issued token is revoked, so a client that fetches a new one gets through.
        state.tokens.revoke(request.headers.get("Authorization"))
    if status >= 400 and scenario.poison & {"errbody", "echo"}:
        return poisoned_error(scenario, status, request.headers.get("Authorization"))
    return await _answer(state, reference, scenario, status)


async def _answer(
    state: SimulatorState, reference: str, scenario: Scenario, status: int
) -> web.StreamResponse:
    headers = retry_headers(scenario, status)
    if status == 200:
        photos = await state.catalog.listing(reference, scenario)
        return web.json_response([photo.record for photo in photos])
    if status in (202, 204):
        return web.Response(status=status, headers=headers)
    if status == 401:
        return unauthorized(f"scenario {scenario.label} refuses this token")
    return error_response(status, f"scenario {scenario.label} answers {status}", headers)
