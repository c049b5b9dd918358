"""Helpers over the real services: RabbitMQ vhosts made in batches, free ports, waiting."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import Any

_BATCH = 16


class VhostPool:
    """One vhost per test. `rabbitmqctl` costs about a second a call, so vhosts are created in
    batches with one `import_definitions` and deleted all at once at the end of the session."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._ready: list[str] = []
        self._made = 0

    def take(self) -> str:
        if not self._ready:
            self._create_batch()
        return self._ready.pop(0)

    def _create_batch(self) -> None:
        names = [f"{self._prefix}{self._made + i}" for i in range(_BATCH)]
        self._made += _BATCH
        permissions = [
            {"user": "guest", "vhost": n, "configure": ".*", "write": ".*", "read": ".*"}
            for n in names
        ]
        definitions = {"vhosts": [{"name": n} for n in names], "permissions": permissions}
        _rabbitmqctl("import_definitions", stdin=json.dumps(definitions))
        _wait_for_vhosts(names)
        self._ready += names

    def delete_all(self) -> None:
        _delete_vhosts(f'binary:match(V, <<"{self._prefix}">>) =:= {{0, {len(self._prefix)}}}')

    def delete_stale(self, alive: Callable[[int], bool]) -> None:
        """Vhosts of test sessions that were killed before their teardown."""
        listed = _rabbitmqctl("list_vhosts", "--quiet", "--no-table-headers").split()
        stale = {v.split("-")[0] for v in listed if v.startswith("wt") and "-" in v}
        dead = [p for p in stale if p[2:].isdigit() and not alive(int(p[2:]))]
        for prefix in dead:
            VhostPool(f"{prefix}-").delete_all()


def _delete_vhosts(condition: str) -> None:
    _rabbitmqctl(
        "eval",
        f'[rabbit_vhost:delete(V, <<"tests">>) || V <- rabbit_vhost:list_names(), {condition}].',
    )


def _wait_for_vhosts(names: list[str]) -> None:
    # import_definitions returns before the import is done.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listed = set(_rabbitmqctl("list_vhosts", "--quiet", "--no-table-headers").split())
        if listed.issuperset(names):
            return
        time.sleep(0.2)
    raise RuntimeError(f"vhosts {names[0]}... did not appear")


def _rabbitmqctl(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["rabbitmqctl", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {args[0]} failed: {done.stderr or done.stdout}")
    return done.stdout


def rabbitmqctl(*args: str) -> str:
    return _rabbitmqctl(*args)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


async def wait_until(
    condition: Callable[[], Awaitable[Any]], timeout: float = 20.0, what: str = "the condition"
) -> Any:
    """Poll `condition` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = await condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)
