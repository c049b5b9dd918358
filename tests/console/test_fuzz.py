"""Every route's parameters, and the Authorization, Host and trusted headers, fuzzed against a
running console (hypothesis): a bad value is a 4xx with a one-line message, never a 500.

The requests are written byte by byte from a thread (hypothesis drives a plain function) while
the console answers on the test's event loop.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import socket
import uuid
from collections.abc import Callable
from urllib.parse import quote_from_bytes

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from tests.console import seed
from tests.console.conftest import StartConsole

pytestmark = pytest.mark.services
PASSWORD = "fuzz-password"
EXAMPLES = 300

# What broke the console before (issue 19), and values of the right shape.
KNOWN_BAD = [
    "²",
    "٣",
    "9" * 5000,
    "9" * 23,
    "-1",
    "\x00abc",
    "%00",
    "é",
    "9999-12-31",
    "0000-01-01",
    "2026-02-30",
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59-23:59",
    "2026-01-01T00:00:00+00:00",
    "2026-01-01T00:00:00",
    str(uuid.uuid4()),
    "{" + str(uuid.uuid4()) + "}",
    "OCAA",
    "INT",
    "completed",
    "low_quality",
    "not_json",
    "waiting",
    "7",
    "semicolon",
    "refetch-due",
    "1.ab",
]
VALUES = st.one_of(
    st.sampled_from(KNOWN_BAD).map(str.encode),
    st.text(max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=40),
    st.integers().map(lambda n: str(n).encode()),
)
QUERIES = {
    "/": ["notice"],
    "/overview": ["notice"],
    "/requests": ["q", "oc", "status", "kind", "from", "to", "after", "after_id", "flagged_from"],
    "/findings": ["days", "oc", "kind"],
    "/findings.csv": ["days", "oc", "kind", "sep"],
    "/dead-letters": ["reason", "state", "before"],
    "/dead-letters/replay": ["reason"],
}
PATHS = [
    "/requests/{}",
    "/requests/{}/refetch",
    "/dead-letters/{}/replay",
    "/dead-letters/{}/dismiss",
    "/photos/{}/{}",
    "/photos/OCAA/{}/thumb",
    "/photos/{}/{}/thumb",
]


def _encoded(value: bytes) -> str:
    return quote_from_bytes(value, safe="")


_PEERS = itertools.count(1)


def _request(url: str, method: str, target: str, headers: list[tuple[bytes, bytes]]) -> int:
    """The status of one request, written by hand on a blocking socket, each from its own
    loopback address: wrong passwords must not make the console slow the next ones down."""
    where = URL(url)
    n = next(_PEERS)
    peer = (f"127.1.{n // 250 % 250}.{n % 250 + 1}", 0)
    with socket.create_connection((where.host, where.port), 20, peer) as sock:
        lines = [f"{method} {target} HTTP/1.1".encode(), b"Connection: close"]
        lines += [name + b": " + value for name, value in headers]
        if method == "POST":
            lines += [b"Content-Type: application/x-www-form-urlencoded", b"Content-Length: 0"]
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n")
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def _header_value(value: bytes) -> bytes:
    """What may stand in a header line: no CR or LF (those would be another line)."""
    return value.replace(b"\r", b"").replace(b"\n", b"")


def _sweep(url: str, host: bytes, auth: list[tuple[bytes, bytes]]) -> None:
    """Every known bad value in every parameter of every route, in every path part, in every
    header: each one alone, the rest right."""
    headers = [(b"Host", host), *auth]
    for route, names in QUERIES.items():
        for name in names:
            for value in KNOWN_BAD:
                target = f"{route}?{name}={_encoded(value.encode())}"
                assert _request(url, "GET", target, headers) < 500, target
    search = "/requests?q=INT&after={}&after_id={}"
    for value in KNOWN_BAD:
        part = _encoded(value.encode())
        for target in (
            *(path.format(part, part) for path in PATHS),
            search.format(part, uuid.uuid4()),
            search.format("INT-1", part),
            f"/requests?kind=low_quality&after={part}&after_id=1",
            f"/requests?kind=low_quality&after=2026-01-01T00:00:00Z&after_id={part}",
            f"/requests?after={part}&after_id={uuid.uuid4()}",
            f"/requests?after=2026-01-01T00:00:00Z&after_id={part}",
        ):
            method = "POST" if target.endswith(("/refetch", "/replay", "/dismiss")) else "GET"
            full = target + ("&" if "?" in target else "?") + f"csrf={part}"
            assert _request(url, method, full, headers) < 500, full
        for header in (b"Authorization", b"Host"):
            for prefix in (b"", b"Basic ", b"Bearer "):
                given = dict(headers) | {header: _header_value(prefix + value.encode())}
                assert _request(url, "GET", "/", list(given.items())) < 500, given


def _fuzz(url: str, host: bytes, auth: list[tuple[bytes, bytes]]) -> Callable[[], None]:
    statuses: list[int] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        data=st.data(),
        route=st.sampled_from(sorted(QUERIES)),
        path=st.sampled_from(PATHS),
        parts=st.lists(VALUES, min_size=2, max_size=2),
        header=st.sampled_from(["none", "authorization", "host", "basic"]),
        value=VALUES,
    )
    def run(
        data: st.DataObject,
        route: str,
        path: str,
        parts: list[bytes],
        header: str,
        value: bytes,
    ) -> None:
        query = data.draw(st.dictionaries(st.sampled_from(QUERIES[route]), VALUES, max_size=4))
        headers = {b"Host": host} | dict(auth)
        if header == "authorization":
            headers[b"Authorization"] = _header_value(value)
        elif header == "basic":
            headers[b"Authorization"] = b"Basic " + base64.b64encode(value + b":" + value)
        elif header == "host":
            headers[b"Host"] = _header_value(value)
        pairs = list(headers.items())
        target = route + "?" + "&".join(f"{k}={_encoded(v)}" for k, v in query.items())
        statuses.append(status := _request(url, "GET", target, pairs))
        assert status < 500, (target, pairs, status)
        filled = path.format(*(_encoded(part) or "x" for part in parts))
        method = "POST" if filled.endswith(("/refetch", "/replay", "/dismiss")) else "GET"
        target = filled + "?csrf=" + _encoded(value)
        statuses.append(status := _request(url, method, target, pairs))
        assert status < 500, (method, target, pairs, status)

    def check() -> None:
        _sweep(url, host, auth)
        run()
        assert 200 in statuses, "some requests got through: the fuzzing reached the pages"

    return check


async def test_no_parameter_or_header_makes_a_500(
    start_console: StartConsole, db: asyncpg.Pool
) -> None:
    seeded = await seed.request(db, reference="INT-1", status="failed")
    await seed.finding(db, seeded, "low_quality")
    await seed.dead_letter(db)
    console = await start_console(console_password=PASSWORD, console_actions=True)
    host = console.url.removeprefix("http://").rstrip("/").encode()
    auth = [(b"Authorization", b"Basic " + base64.b64encode(f"a:{PASSWORD}".encode()))]
    await asyncio.to_thread(_fuzz(console.url, host, auth))


async def test_no_trusted_header_makes_a_500(start_console: StartConsole) -> None:
    console = await start_console(
        console_trusted_header="X-Auth-Request-User", console_trusted_proxies="127.0.0.0/8"
    )
    host = console.url.removeprefix("http://").rstrip("/").encode()

    @settings(max_examples=100, deadline=None, database=None)
    @given(value=VALUES)
    def run(value: bytes) -> None:
        headers = [(b"Host", host), (b"X-Auth-Request-User", _header_value(value))]
        status = _request(console.url, "GET", "/", headers)
        assert status in (200, 400, 401), (value, status)

    await asyncio.to_thread(run)
