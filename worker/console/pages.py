"""What every page shares: the console's state, rendering with the common context, and the
template filters that turn timestamps, durations and sizes into text for people."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp_jinja2
import asyncpg
import jinja2
import markupsafe
from aiohttp import web

from worker.console.forms import Csrf, new_session
from worker.console.guard import WHO
from worker.console.refusals import Refusals
from worker.console.thumbnails import Thumbnails
from worker.photos.storage import PhotoStore
from worker.settings import Settings


@dataclass(frozen=True)
class ConsoleState:
    settings: Settings
    pool: asyncpg.Pool
    store: PhotoStore
    thumbnails: Thumbnails
    csrf: Csrf
    refusals: Refusals


# The banners an action's redirect may ask for, by key: a link cannot make the console say
# anything else in its own voice.
NOTICES = {
    "refetch-due": "Refetch: due now.",
    "refetch-in-flight": "Refetch: in flight: left alone.",
    "refetch-refused": "Refetch: not refetchable.",
    "replayed": "Dead letter sent back to photos.cr_stoc.",
    "replay-missing": "Dead letter not in the dead-letter queue.",
    "replay-done": "Dead letter already replayed.",
    "replay-refused": "Not replayed: this dead letter would be refused again.",
    "bulk-replayed": "Dead letters sent back to photos.cr_stoc.",
    "bulk-missing": "Dead letters sent back to photos.cr_stoc; some were not in the dead-letter"
    " queue (marked so).",
    "bulk-none": "Nothing replayed: none of those dead letters is waiting and replayable now.",
    "dismissed": "Dead letter dismissed.",
    "dismiss-done": "Dead letter already dismissed or replayed.",
}
STATE = web.AppKey("console", ConsoleState)


def state(request: web.Request) -> ConsoleState:
    return request.app[STATE]


def render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    console = state(request)
    who = request.get(WHO, "")
    session = console.csrf.session(request)
    fresh = session is None
    session = session or new_session()
    common = {
        "who": who,
        "actions": console.settings.console_actions,
        "refresh_seconds": int(console.settings.console_refresh_seconds),
        "path": request.path,
        "notice": NOTICES.get(request.query.get("notice", ""), ""),
    }
    common["csrf_token"] = console.csrf.token(who, session)
    response = aiohttp_jinja2.render_template(template, request, common | context, status=status)
    if fresh:
        console.csrf.keep_session(request, response, session)
    # Pages show live data: never from a cache, the browser's included.
    response.headers["Cache-Control"] = "no-store"
    return response


def setup_templates(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("worker.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=when, ago=ago, duration=duration, size=size)
    env.globals.update(url=url, static=static, severity_icon=severity_icon)


@jinja2.pass_context
def url(context: Any, name: str, query_: dict[str, Any] | None = None, **parts: Any) -> str:
    """The path of a named route; any value (a UUID...) is a part, `query_` the query string."""
    app: web.Application = context["app"]
    path = app.router[name].url_for(**{key: str(value) for key, value in parts.items()})
    if query_:
        path = path.with_query({k: str(v) for k, v in query_.items() if v not in (None, "")})
    return str(path)


@jinja2.pass_context
def static(context: Any, filename: str) -> str:
    return url(context, "static", filename=filename)


_ICONS = {"suspect": "\u2716", "warning": "\u25b2", "info": "\u2139"}


def severity_icon(severity: str) -> markupsafe.Markup:
    """A finding's severity as a shape with its word for screen readers and on hover: never by
    the badge's colour alone (WCAG 1.4.1)."""
    return markupsafe.Markup(
        '<span class="sev" role="img" aria-label="{0}" title="{0}">{1}</span> '
    ).format(severity, _ICONS.get(severity, "•"))


def when(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def ago(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "-"
    seconds = ((now or datetime.now(UTC)) - value).total_seconds()
    text = duration(abs(seconds), precise=False)
    return f"{text} ago" if seconds >= 0 else f"in {text}"


def duration(seconds: float | None, precise: bool = True) -> str:
    """`850 ms`, `12.3 s`, `4 min 10 s`, `3 h 5 min`, `2 d 4 h`."""
    if seconds is None:
        return "-"
    if seconds < 1 and precise:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s" if precise else f"{seconds:.0f} s"
    units = [("d", 86400), ("h", 3600), ("min", 60), ("s", 1)]
    parts: list[str] = []
    rest = int(seconds)
    for name, size_ in units:
        if rest >= size_ or parts:
            parts.append(f"{rest // size_} {name}")
            rest %= size_
        if len(parts) == 2:
            break
    return " ".join(parts)


def size(count: int | None) -> str:
    if count is None:
        return "-"
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"
