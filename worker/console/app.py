"""`worker console`: the application (routes, templates, static files) and its server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from worker.console import (
    actions,
    dead_letters,
    desk,
    detail,
    findings,
    images,
    listing,
    oncall,
    overview,
    viewer,
)
from worker.console.forms import Csrf
from worker.console.guard import Access, add_security_headers, guard
from worker.console.pages import STATE, ConsoleState, setup_templates, state
from worker.console.refusals import Refusals
from worker.console.thumbnails import MIB, Thumbnails
from worker.console.voice import switch_language
from worker.database.migrations import check_schema
from worker.ops.rates import ClosedWeeks
from worker.photos.storage import open_store
from worker.resources import close_pool, open_pool
from worker.settings import Settings

log = structlog.get_logger()
STATIC = Path(__file__).parent / "static"


def build_app(console: ConsoleState, access: Access) -> web.Application:
    app = web.Application(middlewares=[guard(access, console.refusals)])
    app.on_response_prepare.append(add_security_headers)
    app[STATE] = console
    # A little under the pages' refresh period: one count per period, however many pages.
    app[overview.CACHE] = overview.OverviewCache(console.settings.console_refresh_seconds - 0.5)
    app[oncall.CACHE] = oncall.OnCallCache(console.settings.console_refresh_seconds - 0.5)
    app[findings.WEEKS] = ClosedWeeks(findings.KEPT_SECONDS)
    app[desk.METRICS] = desk.VerdictGauges(
        console.refusals.registry, console.settings.console_refresh_seconds
    )
    setup_templates(app, console.settings)
    route = app.router
    route.add_get("/", overview.overview_page, name="overview")
    route.add_get("/overview", overview.overview_panel, name="overview_panel")
    route.add_get("/requests", listing.requests_page, name="requests")
    route.add_get("/requests/{message_id}", detail.request_page, name="request")
    route.add_post("/requests/{message_id}/refetch", actions.refetch_request, name="refetch")
    route.add_post("/requests/{message_id}/verdict", desk.post_verdict, name="verdict")
    route.add_get("/queue", desk.queue_page, name="queue")
    route.add_get("/findings", findings.findings_page, name="findings")
    route.add_get("/findings.csv", findings.findings_csv, name="findings_csv")
    route.add_get("/dead-letters", dead_letters.dead_letters_page, name="dead_letters")
    route.add_get("/dead-letters/replay", dead_letters.bulk_replay_page, name="bulk_replay")
    route.add_post("/dead-letters/replay", actions.replay_bulk, name="bulk_replay_confirm")
    route.add_post("/dead-letters/{record_id}/replay", actions.replay_dead_letter, name="replay")
    route.add_post("/dead-letters/{record_id}/dismiss", actions.dismiss_dead_letter, name="dismiss")
    route.add_get("/compare", viewer.compare_page, name="compare")
    route.add_get("/photos/{code_oc}/{photo_id}", images.photo, name="photo")
    route.add_get("/photos/{code_oc}/{photo_id}/thumb", images.thumbnail, name="thumbnail")
    route.add_get("/on-call", oncall.oncall_page, name="oncall")
    route.add_get("/on-call/panel", oncall.oncall_panel, name="oncall_panel")
    route.add_get("/language/{language}", switch_language, name="language")
    route.add_get("/healthz", _healthz)
    route.add_get("/metrics", _metrics)
    route.add_get("/favicon.ico", _no_icon)
    route.add_static("/static", STATIC, name="static", append_version=True)
    return app


async def _healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _metrics(request: web.Request) -> web.Response:
    """The console's own counters (refusals by reason, verdicts), open like /healthz for the
    scraper."""
    await request.app[desk.METRICS].refresh(state(request).pool)
    body = generate_latest(state(request).refusals.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _no_icon(_: web.Request) -> web.Response:
    # Browsers ask for it on every page; without an answer each visit logs a 404.
    return web.Response(status=204, headers={"Cache-Control": "max-age=86400"})


async def serve_console(
    settings: Settings, stop: asyncio.Event, on_started: Callable[[str], None] | None = None
) -> None:
    """Serve until `stop` is set. Refuses to start on a public address without authentication,
    and on a database whose schema is behind."""
    access = Access.from_settings(settings)
    async with AsyncExitStack() as stack:
        store = open_store(settings)
        pool = await open_pool(settings, max_size=8)
        stack.push_async_callback(close_pool, pool)
        await check_schema(pool)
        thumbnails = Thumbnails(
            settings.console_thumbnail_dir.resolve(),
            max_pixels=settings.qa_max_decode_pixels,
            seconds=settings.console_thumbnail_seconds,
            memory=settings.console_thumbnail_memory_mb * MIB,
        )
        stack.push_async_callback(thumbnails.close)
        csrf = Csrf(public_origin=settings.console_public_origin)
        console = ConsoleState(settings, pool, store, thumbnails, csrf, Refusals())
        app = build_app(console, access)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, settings.console_host, settings.console_port)
        await site.start()
        url = console_url(settings.console_host, runner.addresses[0][1])
        log.info(
            "console serving",
            url=url,
            actions=settings.console_actions,
            authentication=_describe(access),
            hosts=sorted(access.hosts),
        )
        if on_started is not None:
            on_started(url)
        await stop.wait()
    log.info("console stopped")


def console_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host  # noqa: S104
    return f"http://{f'[{shown}]' if ':' in shown else shown}:{port}/"


def _describe(access: Access) -> str:
    return {
        "password": "password (user names unverified)",
        "header": f"{access.trusted_header} from {', '.join(map(str, access.trusted_proxies))}",
    }.get(access.mode, "none (loopback only)")
