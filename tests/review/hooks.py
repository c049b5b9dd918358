"""A check for the review processes that tests can hold and kill: it runs in a child process.

Each call leaves `started-<n>` (holding its pid) in `directory`; it then waits for `release`
to exist before running the real check. A test kills the held process by its pid.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from worker.findings.model import PhotoTraits
from worker.review.decoding import check

_HOLD_SECONDS = 60.0


def held_check(
    directory: Path,
    body: bytes,
    mime_type: str,
    header: tuple[int | None, int | None],
    max_pixels: int,
    zone: str,
) -> PhotoTraits:
    started = len(list(directory.glob("started-*"))) + 1
    (directory / f"started-{started}").write_text(str(os.getpid()))
    deadline = time.monotonic() + _HOLD_SECONDS
    while not (directory / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.01)  # a child process held on purpose: nothing else to wait on here
    return check(body, mime_type, header, max_pixels, zone)
