"""A console served by `serve_console` on a free port, over the test's own database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yarl

from tests.harness import make_settings
from tests.services import wait_until
from worker.console.app import serve_console
from worker.settings import Settings


@dataclass
class Page:
    status: int
    text: str
    headers: Any


@dataclass
class Console:
    url: str
    settings: Settings
    session: aiohttp.ClientSession

    @property
    def photos(self) -> Path:
        return Path(self.settings.storage_url.removeprefix("file://"))

    async def get(self, path: str, **kwargs: Any) -> Page:
        async with self.session.get(self.url + path.lstrip("/"), **kwargs) as response:
            body = await response.read()
            return Page(response.status, body.decode(errors="replace"), response.headers)

    async def post(self, path: str, data: dict[str, str], **kwargs: Any) -> Page:
        kwargs.setdefault("allow_redirects", False)
        async with self.session.post(self.url + path.lstrip("/"), data=data, **kwargs) as response:
            body = await response.read()
            return Page(response.status, body.decode(errors="replace"), response.headers)


StartConsole = Callable[..., Awaitable[Console]]


# The console talks to RabbitMQ only to replay a dead letter: a test that does passes its vhost.
NO_BROKER = "amqp://guest:guest@127.0.0.1:5672/console-tests-use-no-broker"


@pytest.fixture
async def start_console(database_url: str, tmp_path: Path) -> AsyncIterator[StartConsole]:
    """`await start_console(console_actions=True, ...)`: settings overrides, served at once."""
    running: list[tuple[asyncio.Event, asyncio.Task[None], aiohttp.ClientSession]] = []

    async def start(**overrides: Any) -> Console:
        values = {
            "console_port": 0,
            "console_thumbnail_dir": tmp_path / "thumbnails",
            "console_refresh_seconds": 1,
        } | overrides
        amqp_url = values.pop("amqp_url", NO_BROKER)
        settings = make_settings(database_url, amqp_url, tmp_path, **values)
        (tmp_path / "photos").mkdir(exist_ok=True)
        stop, urls = asyncio.Event(), []
        task = asyncio.create_task(serve_console(settings, stop, urls.append))
        # Unsafe: keeps the cookies of an address (127.0.0.1), as a browser does.
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        running.append((stop, task, session))

        async def started() -> bool:
            if task.done():
                task.result()  # raises what stopped it
            return bool(urls)

        await wait_until(started, 20, "the console to serve")
        return Console(urls[0], settings, session)

    yield start
    for stop, task, session in running:
        stop.set()
        await session.close()
        if not task.done():  # one that stopped at start has told the test why
            await asyncio.wait_for(task, 10)


@pytest.fixture
async def console(start_console: StartConsole) -> Console:
    return await start_console()


async def raw_request(
    url: str, path: str, headers: list[tuple[bytes, bytes]], method: bytes = b"GET"
) -> tuple[int, bytes]:
    """Status and body of a request written byte by byte: headers no client would send
    (repeated, not UTF-8, a Host with a space). The Host header is the caller's."""
    parsed = yarl.URL(url)
    reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
    try:
        lines = [method + b" " + path.encode() + b" HTTP/1.1", b"Connection: close"]
        lines += [name + b": " + value for name, value in headers]
        writer.write(b"\r\n".join(lines) + b"\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 20)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body
