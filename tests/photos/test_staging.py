"""Staging files left by a killed write are cleared by the worker itself: at start, then
periodically; a write in progress and the photos themselves are left alone."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path

import pytest

from tests.harness import StartWorker
from tests.services import wait_until
from worker.observe.metrics import Metrics
from worker.photos.storage import open_store
from worker.settings import Settings

pytestmark = pytest.mark.services

HOUR = 3600.0


def _file(path: Path, age: float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8\xff")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def _tree(root: Path) -> dict[str, Path]:
    photo = uuid.uuid4()
    return {
        # What a SIGKILL leaves: our staging file, and obstore's for a larger upload.
        "ours": _file(root / "OCAA" / f".{photo}.jpg.{uuid.uuid4().hex}.part", age=HOUR),
        "obstore": _file(root / "OCOA" / f"{uuid.uuid4()}.png#3", age=HOUR),
        # A write in progress (touched a moment ago) and stored photos, however old.
        "writing": _file(root / "OCAA" / f".{uuid.uuid4()}.jpg.{uuid.uuid4().hex}.part"),
        "photo": _file(root / "OCAA" / f"{photo}.jpg", age=HOUR),
        "named_part": _file(root / "OCAA" / "notes.part", age=HOUR),
    }


async def test_the_worker_clears_staging_files_left_by_a_kill_at_start(
    start_worker: StartWorker, tmp_path: Path
) -> None:
    tree = _tree(tmp_path / "photos")
    await start_worker()

    async def cleared() -> bool:
        return not tree["ours"].exists() and not tree["obstore"].exists()

    await wait_until(cleared, what="the stale staging files to be removed")
    assert tree["writing"].exists()
    assert tree["photo"].exists()
    assert tree["named_part"].exists()


async def test_the_sweep_comes_back_periodically(tmp_path: Path) -> None:
    from worker.photos.staging import sweep_staging  # here: the test above runs on any version

    settings = Settings(_env_file=None, storage_url=f"file://{tmp_path}")  # type: ignore[call-arg]
    store = open_store(settings)
    stop = asyncio.Event()
    sweeping = asyncio.create_task(sweep_staging(store, 30.0, 0.05, stop, Metrics()))
    try:
        first = _file(tmp_path / "OCAA" / f".{uuid.uuid4()}.jpg.{uuid.uuid4().hex}.part", HOUR)
        await wait_until(lambda: _gone(first), what="the first stale file to go")
        later = _file(tmp_path / "OCAA" / f"{uuid.uuid4()}.jpg#0", HOUR)
        await wait_until(lambda: _gone(later), what="a file left after the first sweep to go")
    finally:
        stop.set()
        await asyncio.wait_for(sweeping, 5)


async def _gone(path: Path) -> bool:
    return not path.exists()
