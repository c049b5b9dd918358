"""The operators' web console (`worker console`): requests, photos, findings and dead letters
in a browser, served apart from the workers (own process, own port).

Server-rendered pages (aiohttp + Jinja2, autoescaped), vendored scripts (htmx, and idiomorph to
morph the live panels in place) for the refreshes, a strict Content-Security-Policy. It reads
PostgreSQL and the photo store; its two actions (refetch, replay) are the operator commands' own
code.

May use: the stages' modules, `resources`, `ops`, `observe`, `database`, `settings`. Only `cli`
and `demo` import it.
"""
