"""`worker demo --console`: after the demo, the console on the demo's data until Ctrl-C."""

from __future__ import annotations

import asyncio
import errno
from pathlib import Path

from worker.console.app import serve_console
from worker.observe.logs import configure_logging
from worker.settings import Settings


async def serve_demo_console(settings: Settings, log_file: Path, stop: asyncio.Event) -> None:
    """Serve the console (its log in `log_file`), on any free port if the usual one is taken."""

    def started(url: str) -> None:
        print(f"\nConsole on the demo's data: {url}  (its log: {log_file}; Ctrl-C to stop)")
        print("  requests, photos AVANT beside APRES, findings and dead letters", flush=True)

    with log_file.open("a", encoding="utf-8") as stream:
        configure_logging(settings.log_level, "json", stream=stream)
        try:
            await serve_console(settings, stop, started)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or settings.console_port == 0:
                raise
            print(f"Port {settings.console_port} is taken; the console takes a free one.")
            await serve_console(settings.model_copy(update={"console_port": 0}), stop, started)
