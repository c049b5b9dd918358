"""The aiohttp application of the simulated OC API."""

import time

from aiohttp import web

from worker.simulator.calls import CallRecord
from worker.simulator.config import SimulatorConfig
from worker.simulator.guard import guard
from worker.simulator.limits import seconds_of
from worker.simulator.metadata import list_photos
from worker.simulator.oauth import issue_token
from worker.simulator.photos import get_photo
from worker.simulator.state import STATE, SimulatorState


def build_app(config: SimulatorConfig) -> web.Application:
    """An application serving the partner API at its root, plus /oauth/token and /_sim/calls."""
    app = web.Application(middlewares=[guard])
    app[STATE] = SimulatorState.create(config)
    app.router.add_get("/intervention/{id}/photos", list_photos, name="getPhotosByIntervention")
    app.router.add_get("/order/{id}/photos", list_photos, name="getPhotosByOrder")
    app.router.add_get("/access/{id}/photos", list_photos, name="getPhotosByAccess")
    app.router.add_get("/photo/{id}", get_photo, name="getPhoto")
    app.router.add_post("/oauth/token", issue_token, name="token")
    app.router.add_get("/_sim/calls", list_calls, name="calls")
    app.router.add_delete("/_sim/calls", forget_calls, name="forget_calls")
    app.router.add_post("/_sim/outage", start_outage, name="outage")
    app.router.add_post("/_sim/closed", start_closure, name="closed")
    app.router.add_get("/healthz", check_health, name="healthz")
    app.on_cleanup.append(_close_state)
    return app


def recorded_calls(app: web.Application) -> list[CallRecord]:
    """The live call journal of an application made by build_app, oldest first."""
    return app[STATE].calls


async def list_calls(request: web.Request) -> web.Response:
    """Every journaled call so far, oldest first."""
    return web.json_response([call.to_json() for call in request.app[STATE].calls])


async def forget_calls(request: web.Request) -> web.Response:
    request.app[STATE].calls.clear()
    return web.Response(status=204)


async def start_outage(request: web.Request) -> web.Response:
    """`POST /_sim/outage?seconds=S`: every API call answers 503 for S seconds."""
    seconds = seconds_of(request)
    request.app[STATE].conditions.down_until = time.monotonic() + seconds
    return web.json_response({"down_for": seconds})


async def start_closure(request: web.Request) -> web.Response:
    """`POST /_sim/closed?seconds=S`: closed, every API call answers 503, for S seconds."""
    seconds = seconds_of(request)
    request.app[STATE].conditions.closed_until = time.monotonic() + seconds
    return web.json_response({"closed_for": seconds})


async def check_health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _close_state(app: web.Application) -> None:
    await app[STATE].catalog.close()
