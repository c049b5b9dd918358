"""Photo bodies written to local files by the worker's own thread call, not through obstore.

For a body already in hand, obstore's `put` hands the bytes to its runtime's threads and the
sync needs a second thread call: per 200 KB photo that cost more CPU than downloading it. One
call here writes, renames and syncs, as obstore would: whole or not at all.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def write_file(path: Path, body: bytes) -> None:
    """Into a staging file beside it, renamed over it (whole or not at all), then on disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    try:
        with staging.open("wb") as file:
            file.write(body)
        os.replace(staging, path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    sync(path)


def sync(path: Path) -> None:
    """The file and its directory entry on disk."""
    for target, flags in ((path, os.O_RDONLY), (path.parent, os.O_RDONLY | os.O_DIRECTORY)):
        fd = os.open(target, flags)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
