"""What every page shares: the console's state, rendering with the common context in the page's
voice (language and time zone), and the template filters that turn timestamps, durations, sizes
and codes into text for people (worker.console.formats, worker.console.glossary)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
import asyncpg
import jinja2
from aiohttp import web

from worker.console import formats
from worker.console.forms import Csrf, new_session
from worker.console.glossary import MESSAGE_TERMS, PHOTO_TERMS, explain, label, severity_icon, term
from worker.console.guard import WHO
from worker.console.refusals import Refusals
from worker.console.thumbnails import Thumbnails
from worker.console.voice import N_, VOICES, Text, Voice, Voices, load_translations, voice
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
    "refetch-due": N_("Refetch: due now."),
    "refetch-in-flight": N_("Refetch: in flight: left alone."),
    "refetch-refused": N_("Refetch: not refetchable."),
    "replayed": N_("Dead letter sent back to photos.cr_stoc."),
    "replay-missing": N_("Dead letter not in the dead-letter queue."),
    "replay-done": N_("Dead letter already replayed."),
    "replay-refused": N_("Not replayed: this dead letter would be refused again."),
    "bulk-replayed": N_("Dead letters sent back to photos.cr_stoc."),
    "bulk-missing": N_(
        "Dead letters sent back to photos.cr_stoc; some were not in the dead-letter"
        " queue (marked so)."
    ),
    "bulk-none": N_("Nothing replayed: none of those dead letters is waiting and replayable now."),
    "dismissed": N_("Dead letter dismissed."),
    "dismiss-done": N_("Dead letter already dismissed or replayed."),
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
        "voice": voice(request),
        # Where the language switch comes back to: this page, without a notice to repeat.
        "here": str(
            request.rel_url.with_query([q for q in request.query.items() if q[0] != "notice"])
        ),
        "switchable": console.settings.console_language == "auto",
    }
    common["csrf_token"] = console.csrf.token(who, session)
    response = aiohttp_jinja2.render_template(template, request, common | context, status=status)
    if fresh:
        console.csrf.keep_session(request, response, session)
    # Pages show live data: never from a cache, the browser's included.
    response.headers["Cache-Control"] = "no-store"
    return response


def setup_templates(app: web.Application, settings: Settings) -> None:
    app[VOICES] = Voices(
        settings.console_language, ZoneInfo(settings.console_timezone), load_translations()
    )
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("worker.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_callables(  # type: ignore[attr-defined]  # added by the extension
        _gettext, _ngettext, newstyle=True
    )
    env.filters.update(
        when=_by_voice(formats.when),
        ago=_by_voice(formats.ago),
        stamp=_by_voice(formats.stamp),
        duration=_by_voice(formats.duration),
        size=_by_voice(formats.size),
        decimal=_by_voice(formats.decimal),
        day=_by_voice(formats.day),
        tr=_by_voice(_translate),
    )
    env.globals.update(
        url=url, static=static, term=term, label=label, explain=explain, severity_icon=severity_icon
    )
    env.globals.update(message_terms=MESSAGE_TERMS, photo_terms=PHOTO_TERMS)


def _by_voice(format_: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that formats in the voice of the page being rendered."""

    @jinja2.pass_context
    def filter_(context: Any, value: Any, *args: Any) -> Any:
        return format_(value, context["voice"], *args)

    return filter_


def _translate(value: Text | str, voice_: Voice) -> str:
    return voice_.tr(value)


@jinja2.pass_context
def _gettext(context: Any, message: str) -> str:
    return str(context["voice"].gettext(message))


@jinja2.pass_context
def _ngettext(context: Any, singular: str, plural: str, n: int) -> str:
    return str(context["voice"].ngettext(singular, plural, n))


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
