"""The language and the time zone a page speaks in: French or English, from the setting or the
browser's Accept-Language, and times in the console's zone.

The French catalog is `translations/fr.po`, kept as text in the repository and compiled in memory
when the console starts (Babel reads it, writes the .mo into a buffer, gettext loads that). Code
that makes a message once for every page (a health reason, a notice) makes a `Text` with `N_`;
the page translates it in its own language (the `tr` filter). Code that runs for one page uses
its `Voice` (`voice.gettext`).
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES = ("en", "fr")  # English first: the messages' own language, the fallback
COOKIE = "console_language"  # the switch in the header, when the setting is `auto`
_YEAR = 365 * 86400
CATALOGS = Path(__file__).parent / "translations"


@dataclass(frozen=True)
class Text:
    """A message to translate when a page shows it: `msgid % params`, each param a value or a
    `Text` itself."""

    msgid: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:  # logs and plain-text answers: the English
        return (
            self.msgid % {k: str(v) for k, v in self.params.items()} if self.params else self.msgid
        )


def N_(msgid: str, **params: Any) -> Text:  # the name gettext tools look for
    return Text(msgid, params)


@dataclass(frozen=True)
class Voice:
    language: str
    translations: gettext.NullTranslations
    zone: ZoneInfo

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.translations.ngettext(singular, plural, n)

    def tr(self, value: Text | str) -> str:
        """A `Text` in this language; anything else (data) as it is."""
        if not isinstance(value, Text):
            return value
        translated = self.gettext(value.msgid)
        if not value.params:
            return translated
        return translated % {k: self.tr(v) for k, v in value.params.items()}


def load_translations() -> dict[str, gettext.NullTranslations]:
    """Each language's translations, the catalogs compiled from their .po files."""
    found: dict[str, gettext.NullTranslations] = {"en": gettext.NullTranslations()}
    for language in LANGUAGES[1:]:
        with (CATALOGS / f"{language}.po").open("rb") as po:
            catalog = read_po(po, locale=language)
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        found[language] = gettext.GNUTranslations(compiled)
    return found


@dataclass(frozen=True)
class Voices:
    """Chooses each request's voice; made once at start-up."""

    setting: str  # "auto", "en" or "fr"
    zone: ZoneInfo
    translations: dict[str, gettext.NullTranslations]

    def choose(self, request: web.Request) -> Voice:
        if _CHOSEN in request:
            return request[_CHOSEN]
        language = self.setting
        if language not in LANGUAGES:
            language = request.cookies.get(COOKIE, "")
        if language not in LANGUAGES:
            language = negotiate(request.headers.get("Accept-Language", ""))
        chosen = Voice(language, self.translations[language], self.zone)
        request[_CHOSEN] = chosen
        return chosen


VOICES = web.AppKey("voices", Voices)
_CHOSEN = web.RequestKey("voice", Voice)


def voice(request: web.Request) -> Voice:
    """The request's voice; English and UTC in an application without voices (the guard's
    unit tests run it on a mocked request)."""
    voices = request.app.get(VOICES)
    if not isinstance(voices, Voices):  # a bare application (a mocked one's answers anything)
        return Voice(LANGUAGES[0], gettext.NullTranslations(), ZoneInfo("UTC"))
    return voices.choose(request)


async def switch_language(request: web.Request) -> web.Response:
    """`GET /language/fr?back=/requests`: remembers the choice in a cookie, back to the page."""
    language = request.match_info["language"]
    if language not in LANGUAGES:
        raise web.HTTPNotFound(text="fr or en\n")
    back = request.query.get("back", "/")
    if not back.startswith("/") or back.startswith("//") or "\\" in back:
        back = "/"  # a path of the console only: never another site
    answer = web.HTTPSeeOther(location=back)
    answer.set_cookie(
        COOKIE, language, max_age=_YEAR, httponly=True, samesite="Lax", secure=request.secure
    )
    raise answer


def negotiate(accept_language: str) -> str:
    """The first of LANGUAGES the browser prefers (`fr-FR,fr;q=0.9,en;q=0.8`), by its q-values
    and then its order; English when it names none of them."""
    ranked: list[tuple[float, int, str]] = []
    for order, part in enumerate(accept_language.split(",")[:32]):
        tag, _, rest = part.strip().partition(";")
        quality = 1.0
        for parameter in rest.split(";"):
            name, _, value = parameter.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        primary = tag.strip().split("-")[0].lower()
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, order, primary))
    return min(ranked)[2] if ranked else LANGUAGES[0]
