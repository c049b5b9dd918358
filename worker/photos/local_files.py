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
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


def write_file(path: Path, body: bytes) -> None:
    """Into a staging file beside it, renamed over it (whole or not at all), then on disk with
    its directory entry (the row that points at it is written after this returns).

    Plain `os` calls on one descriptor, synced through it once renamed: each call gives the GIL
    back and takes it again, which costs a wait whenever the event loop holds it, so the fewer
    the better (a buffered `open()` adds fstat, ioctl and lseek; syncing by path opens the file
    again, and an existing directory needs no mkdir).
    """
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    try:
        fd = os.open(staging, _CREATE, 0o666)
    except FileNotFoundError:  # the first photo of its directory
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(staging, _CREATE, 0o666)
    try:
        try:
            view = memoryview(body)
            while view:
                view = view[os.write(fd, view) :]
            os.replace(staging, path)
        except BaseException:
            staging.unlink(missing_ok=True)
            raise
        os.fsync(fd)
    finally:
        os.close(fd)
    _sync_directory(path.parent)


def sync(path: Path) -> None:
    """The file and its directory entry on disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
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
