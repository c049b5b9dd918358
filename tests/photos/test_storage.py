"""The storage interface over local files and a real S3 HTTP server (moto_server)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import boto3
import pytest

from tests.harness import (
    Broker,
    StartWorker,
    cr_stoc,
)
from tests.services import wait_until
from worker.photos.inspector import PhotoInspector, PhotoRefused, inspected
from worker.photos.storage import PhotoStore, StorageError, open_store
from worker.settings import Settings

pytestmark = pytest.mark.services

JPEG = b"\xff\xd8\xff\xe0" + os.urandom(100)


def _s3_config(moto_endpoint: str, bucket: str) -> dict[str, str]:
    return {
        "storage_url": f"s3://{bucket}/photos",
        "aws_endpoint_url": moto_endpoint,
        "aws_access_key_id": "test",
        "aws_secret_access_key": "test",
        "aws_region": "us-east-1",
    }


def _s3(moto_endpoint: str) -> object:
    return boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )


async def _chunks(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> PhotoStore:
    if request.param == "file":
        return open_store(Settings(_env_file=None, storage_url=f"file://{tmp_path}/p"))  # type: ignore[call-arg]
    endpoint = request.getfixturevalue("moto_endpoint")
    bucket = request.getfixturevalue("s3_bucket")
    return open_store(Settings(_env_file=None, **_s3_config(endpoint, bucket)))  # type: ignore[call-arg]


@pytest.mark.parametrize("size", [10, 3 * 1024 * 1024, 12 * 1024 * 1024 + 7])
async def test_put_and_read_back(store: PhotoStore, size: int) -> None:
    data = JPEG + os.urandom(size)
    await store.put("AB12/one.jpg", _chunks(data), "image/jpeg")
    assert await store.read("AB12/one.jpg") == data
    await store.put("AB12/one.jpg", _chunks(data), "image/jpeg")  # a second write is harmless
    assert await store.read("AB12/one.jpg") == data


@pytest.mark.parametrize("size", [100, 8 * 1024 * 1024])
async def test_refused_stream_leaves_no_object(store: PhotoStore, size: int) -> None:
    inspector = PhotoInspector("image/png", max_bytes=size // 2)
    with pytest.raises(PhotoRefused):
        await store.put(
            "AB12/bad.png",
            inspected(_chunks(b"\x89PNG\r\n\x1a\n" + os.urandom(size)), inspector),
            "image/png",
        )
    with pytest.raises(FileNotFoundError):
        await store.read("AB12/bad.png")


async def test_worker_stores_photos_in_s3(
    start_worker: StartWorker, broker: Broker, db: asyncpg.Pool, moto_endpoint: str, s3_bucket: str
) -> None:
    await start_worker(_s3_config(moto_endpoint, s3_bucket))
    row = await broker.run(db, cr_stoc(intervention="S3:photos=3:size=6m"), timeout=60)

    assert row["status"] == "completed"
    photos = await db.fetch("SELECT storage_key, sha256, mime_type, size_bytes FROM photos")
    assert len(photos) == 3
    s3 = _s3(moto_endpoint)
    for photo in photos:
        got = s3.get_object(Bucket=s3_bucket, Key=f"photos/{photo['storage_key']}")  # type: ignore[attr-defined]
        body = got["Body"].read()
        assert hashlib.sha256(body).hexdigest() == photo["sha256"]
        assert len(body) == photo["size_bytes"] == 6 * 1024 * 1024
        assert got["ContentType"] == photo["mime_type"]


async def test_a_store_failure_is_a_storage_error(moto_endpoint: str) -> None:
    store = open_store(Settings(_env_file=None, **_s3_config(moto_endpoint, "no-such-bucket")))  # type: ignore[call-arg]
    with pytest.raises(StorageError, match="no-such-bucket"):
        await store.put("AB12/x.jpg", _chunks(JPEG), "image/jpeg")
    with pytest.raises(StorageError):
        await store.put("AB12/y.jpg", _chunks(JPEG + os.urandom(3 * 1024 * 1024)), "image/jpeg")


async def _stalls_after(data: bytes, stalled: asyncio.Event) -> AsyncIterator[bytes]:
    """A body that sends `data`, then waits for ever (a partner that stops sending)."""
    async for chunk in _chunks(data):
        yield chunk
    stalled.set()
    await asyncio.Event().wait()
    yield b""


async def test_a_cancelled_multipart_upload_is_aborted(moto_endpoint: str, s3_bucket: str) -> None:
    store = open_store(Settings(_env_file=None, **_s3_config(moto_endpoint, s3_bucket)))  # type: ignore[call-arg]
    stalled = asyncio.Event()
    body = _stalls_after(JPEG + os.urandom(6 * 1024 * 1024), stalled)
    upload = asyncio.create_task(store.put("AB12/cut.jpg", body, "image/jpeg"))
    await asyncio.wait_for(stalled.wait(), 10)

    async def started() -> bool:
        listed = await asyncio.to_thread(
            _s3(moto_endpoint).list_multipart_uploads, Bucket=s3_bucket
        )  # type: ignore[attr-defined]
        return bool(listed.get("Uploads"))

    await wait_until(started, what="the multipart upload to start")
    upload.cancel()  # the attempt's lease was lost, or the worker stops
    with pytest.raises(asyncio.CancelledError):
        await upload
    listed = _s3(moto_endpoint).list_multipart_uploads(Bucket=s3_bucket)  # type: ignore[attr-defined]
    assert not listed.get("Uploads"), listed["Uploads"]
    objects = _s3(moto_endpoint).list_objects_v2(Bucket=s3_bucket)  # type: ignore[attr-defined]
    assert objects.get("KeyCount", 0) == 0


async def test_a_local_file_and_its_directory_are_on_disk_when_the_write_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    store = open_store(Settings(_env_file=None, storage_url=f"file://{tmp_path}/p"))  # type: ignore[call-arg]
    for name, size in (("small", 100), ("large", 3 * 1024 * 1024)):  # one PUT, and multipart
        synced.clear()
        await store.put(f"AB12/{name}.jpg", _chunks(JPEG + os.urandom(size)), "image/jpeg")
        assert synced == [str(tmp_path / "p" / "AB12" / f"{name}.jpg"), str(tmp_path / "p/AB12")]


def test_the_lifecycle_rule_in_deploy_is_accepted_by_s3(moto_endpoint: str, s3_bucket: str) -> None:
    rules = json.loads(
        (Path(__file__).parents[2] / "deploy/s3/lifecycle.json").read_text(encoding="utf-8")
    )
    client = _s3(moto_endpoint)
    client.put_bucket_lifecycle_configuration(Bucket=s3_bucket, LifecycleConfiguration=rules)  # type: ignore[attr-defined]
    [rule] = client.get_bucket_lifecycle_configuration(Bucket=s3_bucket)["Rules"]  # type: ignore[attr-defined]
    assert rule["Status"] == "Enabled"
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
