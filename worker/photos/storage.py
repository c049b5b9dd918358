"""Where photo bytes go: local files (the default), S3, or memory, behind obstore's one API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Coroutine, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import obstore
from obstore.store import LocalStore, MemoryStore, ObjectStore, S3Store

from worker.photos.local_files import clear_staging, sync, write_file
from worker.settings import ConfigError, Settings

MIB = 1024 * 1024
_ABORT_SECONDS = 10.0  # to abort a stopped multipart upload, at most
_DELETE_BATCH = 1000  # keys in one S3 DeleteObjects request, at most


class StorageError(Exception):
    """The store failed (not the photo): the request is retried later."""


class PhotoStore:
    """Writes each object whole or not at all; a second write of the same key replaces it.

    Bodies up to one part are written with a single PUT; larger ones stream as a multipart
    upload, so memory stays at a few parts per photo in flight, whatever the photo's size. An
    upload interrupted by a cancellation (lease lost, shutdown) is aborted, not left behind.
    A local file is on disk (fsynced, and its directory) when its write returns, so that a row
    written after it never points at an empty file after a power loss.
    """

    def __init__(
        self,
        store: ObjectStore,
        url: str,
        part_size: int,
        *,
        typed: bool,
        root: Path | None = None,
    ) -> None:
        self._store = store
        self.url = url.rstrip("/")
        self._part_size = part_size
        self._typed = typed  # LocalStore cannot keep a Content-Type; the extension says it
        self._root = root  # local files only: where to fsync

    async def put(self, key: str, chunks: AsyncIterator[bytes], content_type: str) -> None:
        """Store the body, whole or not at all."""
        await (await self.receive(key, chunks, content_type))

    async def receive(
        self, key: str, chunks: AsyncIterator[bytes], content_type: str
    ) -> Coroutine[Any, Any, None]:
        """Read the body; return what finishes storing it.

        A body of up to one part is only read here: the write it returns can run while the next
        photo downloads. A larger one streams into a multipart upload here, and what comes back
        has nothing left to do. The source's own errors (refused photo, broken download) come out
        as they are; anything else that fails is a StorageError.
        """
        attributes = {"Content-Type": content_type} if self._typed else None
        source = _Source(chunks)
        head, rest = await _peek(source, self._part_size)
        if rest is None:
            return self._guarded(key, self._put(key, b"".join(head), attributes), source)
        streaming = obstore.put_async(
            self._store,
            key,
            _chain(head, rest),
            attributes=attributes,
            chunk_size=self._part_size,
            max_concurrency=2,
        )
        upload = asyncio.ensure_future(self._guarded(key, streaming, source, synced=False))
        try:
            await asyncio.shield(upload)
        except asyncio.CancelledError:
            # Dropping the upload would leave it incomplete in the bucket: make it fail where
            # it reads the body instead, and obstore aborts it.
            source.stop()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(upload, _ABORT_SECONDS)
            raise
        return _done()

    async def _put(self, key: str, body: bytes, attributes: dict[str, str] | None) -> None:
        if self._root is not None:
            await asyncio.to_thread(write_file, self._root / key, body)
            return
        # Called when the write runs, not when it is scheduled: obstore copies the body then.
        await obstore.put_async(self._store, key, body, attributes=attributes)

    async def _guarded(
        self, key: str, writing: Awaitable[object], source: _Source, *, synced: bool = True
    ) -> None:
        try:
            await writing
            if self._root is not None and not synced:
                await asyncio.to_thread(sync, self._root / key)
        except Exception as exc:
            if exc is source.error:
                raise
            raise StorageError(f"storing {key}: {_one_line(exc)}") from exc

    async def problem(self, name: str) -> str | None:
        """What stops this store from taking photos, found by writing and deleting a small
        object (`_probe/<name>`); None when it works."""
        key = f"_probe/{name}"
        try:
            await obstore.put_async(self._store, key, b"probe")
            await obstore.delete_async(self._store, key)
        except Exception as exc:
            return f"storage {self.url}: cannot write: {_one_line(exc)}"
        return None

    async def read(self, key: str) -> bytes:
        result = await obstore.get_async(self._store, key)
        return bytes(await result.bytes_async())

    async def open(
        self, key: str, chunk_size: int = 256 * 1024
    ) -> tuple[int, AsyncIterator[bytes]]:
        """The object's size, and its bytes as they arrive; FileNotFoundError at once if there
        is none."""
        result = await obstore.get_async(self._store, key)
        return result.meta["size"], _bytes(result.stream(min_chunk_size=chunk_size))

    async def delete(self, keys: Sequence[str]) -> None:
        """Remove these objects; one already gone is not an error."""
        for start in range(0, len(keys), _DELETE_BATCH):
            chunk = list(keys[start : start + _DELETE_BATCH])
            try:
                await obstore.delete_async(self._store, chunk)
            except FileNotFoundError:
                # Local files are deleted one by one, and the first missing one stops the list.
                for key in chunk:
                    with contextlib.suppress(FileNotFoundError):
                        await obstore.delete_async(self._store, key)

    async def clear_staging(self, older_than: float) -> int:
        """Remove the staging files of local writes cut by a kill; none elsewhere (an S3
        bucket drops unfinished multipart uploads by its own lifecycle rule)."""
        if self._root is None:
            return 0
        return await asyncio.to_thread(clear_staging, self._root, older_than)

    def location(self, key: str) -> str:
        return f"{self.url}/{key}"


def object_url(storage_url: str, key: str) -> str:
    """Where an object is, for people: an absolute file:// URL or the s3:// URL."""
    if storage_url.startswith("file://"):
        return f"file://{local_root(storage_url)}/{key}"
    return f"{storage_url.rstrip('/')}/{key}"


def _one_line(exc: BaseException) -> str:
    """obstore's errors run over many lines (a debug dump of the whole chain): keep the first,
    and say what a request to the cloud's metadata endpoint means."""
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    if "169.254.169.254" in first:
        first += (
            " (no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where"
            " an instance role gives them)"
        )
    return f"{type(exc).__name__}: {first}"


class UploadStopped(Exception):
    """The upload was stopped from outside: its body ends in an error, so the store aborts it."""


class _Source:
    """The body being stored, remembering the error it raised, if any; `stop()` makes the read
    in progress (the store's task, waiting for the partner's next bytes) fail at once."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self.error: BaseException | None = None
        self._reader: asyncio.Task[Any] | None = None
        self._stopped = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self._stopped:
            raise UploadStopped("upload stopped")
        self._reader = asyncio.current_task()
        try:
            return await anext(self._chunks)
        except StopAsyncIteration:
            raise
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            self._reader = None

    def stop(self) -> None:
        self._stopped = True
        if self._reader is not None:
            self._reader.cancel()


async def _peek(
    chunks: AsyncIterator[bytes], limit: int
) -> tuple[list[bytes], AsyncIterator[bytes] | None]:
    """Read up to `limit` bytes (kept as chunks, not copied); the iterator comes back only if
    the body is longer."""
    head: list[bytes] = []
    size = 0
    async for chunk in chunks:
        head.append(chunk)
        size += len(chunk)
        if size > limit:
            return head, chunks
    return head, None


async def _bytes(chunks: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        yield bytes(chunk)


async def _done() -> None:
    return None


async def _chain(first: list[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in first:
        yield chunk
    async for chunk in rest:
        yield chunk


def open_store(settings: Settings) -> PhotoStore:
    """`file://path` (relative paths are taken from the working directory), `s3://bucket/prefix`,
    or `memory://` (tests)."""
    url = settings.storage_url
    scheme = urlparse(url).scheme
    if scheme == "file":
        root = local_root(url)
        try:
            local = LocalStore(root, mkdir=True)
        except Exception as exc:
            raise ConfigError(f"WORKER_STORAGE_URL: cannot use {url}: {_one_line(exc)}") from None
        return PhotoStore(local, f"file://{root}", MIB, typed=False, root=root)
    if scheme == "s3":
        return PhotoStore(_s3_store(settings), url, 5 * MIB, typed=True)
    if scheme == "memory":
        return PhotoStore(MemoryStore(), url, MIB, typed=True)
    raise ConfigError(f"WORKER_STORAGE_URL: unsupported scheme in {url!r} (file://, s3://)")


def local_root(url: str) -> Path:
    """The directory of a `file://` storage URL; a relative one is taken from the working dir."""
    return Path(url.removeprefix("file://")).resolve()


def _s3_store(settings: Settings) -> S3Store:
    parsed = urlparse(settings.storage_url)
    if not parsed.netloc:
        raise ConfigError("WORKER_STORAGE_URL: s3:// URL needs a bucket, as s3://bucket/prefix")
    config: dict[str, str] = {}
    if settings.aws_endpoint_url:
        config["endpoint"] = settings.aws_endpoint_url
    if settings.aws_access_key_id:
        config["access_key_id"] = settings.aws_access_key_id
    if settings.aws_secret_access_key:
        config["secret_access_key"] = settings.aws_secret_access_key.get_secret_value()
    if settings.aws_region:
        config["region"] = settings.aws_region
    plain_http = (settings.aws_endpoint_url or "").startswith("http://")
    return S3Store(
        parsed.netloc,
        prefix=parsed.path.strip("/") or None,
        config=config,  # type: ignore[arg-type]
        client_options={"allow_http": plain_http},
    )
