"""Photo bodies written to local files by the worker's own thread call, not through obstore,
and the staging files a killed process leaves behind.

For a body already in hand, obstore's `put` hands the bytes to its runtime's threads and the
sync needs a second thread call: per 200 KB photo that cost more CPU than downloading it. One
call here writes, renames and syncs, as obstore would: whole or not at all.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path

# Staging files: ours (`.<name>.<hex token>.part`) and obstore's (`<name>#<n>`, larger uploads).
_STAGING = re.compile(r"^\..+\.[0-9a-f]{32}\.part$|^.+#[0-9]+$")


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


def clear_staging(root: Path, older_than: float) -> int:
    """Remove the staging files under `root` not written to for `older_than` seconds: what a
    killed process left (a live write touches its file at every chunk). How many went."""
    limit = time.time() - older_than
    removed = 0
    for directory, _, names in os.walk(root):
        for name in names:
            if not _STAGING.match(name):
                continue
            path = Path(directory, name)
            try:
                if path.stat().st_mtime < limit:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:  # renamed into place, or removed by another replica
                continue
    return removed
