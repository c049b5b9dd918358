"""Running the simulator on a TCP port, in a test or from the command line."""

import asyncio
import ssl
from types import TracebackType
from urllib.parse import quote

from aiohttp import web

from worker.simulator.app import build_app, recorded_calls
from worker.simulator.calls import CallRecord
from worker.simulator.config import SimulatorConfig

_GRACE_SECONDS = 0.5


class Simulator:
    """A simulator listening on a port; close() stops it."""

    def __init__(self, app: web.Application, runner: web.AppRunner, base_url: str) -> None:
        self.app = app
        self.base_url = base_url
        self._runner = runner

    @property
    def calls(self) -> list[CallRecord]:
        """The live call journal (the same list /_sim/calls answers)."""
        return recorded_calls(self.app)

    def metadata_url(self, reference: str, resource: str = "intervention") -> str:
        """URL of a metadata call; resource is intervention, order or access."""
        return f"{self.base_url}/{resource}/{quote(reference, safe='')}/photos"

    def photo_url(self, photo_id: str) -> str:
        return f"{self.base_url}/photo/{quote(photo_id, safe='')}"

    async def close(self) -> None:
        await self._runner.cleanup()

    async def __aenter__(self) -> "Simulator":
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


async def start(
    config: SimulatorConfig,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
) -> Simulator:
    """Start a simulator; port 0 picks a free port, which base_url tells. HTTPS with a context."""
    app = build_app(config)
    # No access log: a benchmark makes thousands of calls and reads the journal instead.
    # A short grace period: a delay= scenario may hold a call for minutes.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=_GRACE_SECONDS)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_host, bound_port = runner.addresses[0][:2]
    scheme = "https" if ssl_context is not None else "http"
    return Simulator(app, runner, _url(scheme, bound_host, bound_port))


async def serve_forever(config: SimulatorConfig, host: str, port: int, stop: asyncio.Event) -> None:
    """Serve until stop is set; print the URL once listening."""
    simulator = await start(config, host, port)
    try:
        print(f"simulator listening on {simulator.base_url}", flush=True)
        await stop.wait()
    finally:
        await simulator.close()


def _url(scheme: str, host: str, port: int) -> str:
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"
