"""What runs in a review process: its limits, set once when it starts, and one photo's check.

Everything here runs in a child process of the pool (`processes.py`), never in the worker's
event loop: an image that makes a native decoder crash or allocate without end takes this
process down, and the pool starts another.
"""

from __future__ import annotations

import os
import resource
from zoneinfo import ZoneInfo

from worker.findings.imaging import Limits, analyse
from worker.findings.model import PhotoTraits


def limit_process(memory_bytes: int, niceness: int) -> None:
    """The pool's initializer: an address-space cap and a lower CPU priority than ingestion's.

    Set after numpy and Pillow are loaded (the spawned child imported this module first), so the
    cap bounds what decoding allocates, not the interpreter's start.
    """
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    if niceness:
        os.nice(niceness)


def check(
    body: bytes,
    mime_type: str,
    header_size: tuple[int | None, int | None],
    max_decode_pixels: int,
    zone: str,
) -> PhotoTraits:
    """One photo's traits (`imaging.analyse`): what can be read, and why the rest cannot."""
    return analyse(body, mime_type, header_size, Limits(max_decode_pixels, ZoneInfo(zone)))
