"""What runs in a review process: its limits, set once when it starts, and one photo's check.

Everything here runs in a child process of the pool (`processes.py`), never in the worker's
event loop: an image that makes a native decoder crash or allocate without end takes this
process down, and the pool starts another.
"""

from __future__ import annotations

import functools
import os
import resource
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from worker.findings.imaging import Limits, analyse
from worker.findings.model import LabelReading, PhotoTraits, SpotMatch
from worker.findings.pto_label import LabelReader
from worker.findings.same_spot import compare_views, reduced_grey
from worker.findings.upright import SPOT_SIDE, upright_grey


def limit_process(memory_bytes: int, niceness: int) -> None:
    """The pool's initializer: an address-space cap and a lower CPU priority than ingestion's.

    Set after numpy and Pillow are loaded (the spawned child imported this module first), so the
    cap bounds what decoding allocates, not the interpreter's start.
    """
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    if niceness:
        os.nice(niceness)


def timed(function: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    """`function(*args)` and the CPU seconds this process spent on it (all its threads: the
    OCR's too). A pool's process runs one check at a time, so nothing else is counted."""
    start = time.process_time()
    result = function(*args)
    return result, time.process_time() - start


def check(
    body: bytes,
    mime_type: str,
    header_size: tuple[int | None, int | None],
    max_decode_pixels: int,
    zone: str,
) -> PhotoTraits:
    """One photo's traits (`imaging.analyse`): what can be read, and why the rest cannot."""
    return analyse(body, mime_type, header_size, Limits(max_decode_pixels, ZoneInfo(zone)))


def read_label(
    body: bytes, pattern: str, min_confidence: float, threads: int
) -> LabelReading | None:
    """The PTO reference on a stored PTO photo (`pto_label.LabelReader`), None if unreadable."""
    return _reader(pattern, min_confidence, threads).read_photo(body)


def compare_spot(before: bytes, after: bytes) -> SpotMatch:
    """How far an AVANT/APRES pair agrees on one spot (`same_spot.compare_views`)."""
    views = [reduced_grey(upright_grey(body, SPOT_SIDE)[0]) for body in (before, after)]
    return compare_views(views[0], views[1])


@functools.cache
def _reader(pattern: str, min_confidence: float, threads: int) -> LabelReader:
    # One per process, kept: building the OCR engine costs about 0.7 s of CPU and 190 MB.
    return LabelReader(pattern, min_confidence=min_confidence, threads=threads)
