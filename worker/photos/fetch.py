"""Download one listed photo into storage, checking it on the way."""

from __future__ import annotations

import uuid
from collections.abc import Coroutine
from typing import Any

import structlog

from worker.observe.metrics import Metrics
from worker.partners.client import PartnerClient, excerpt, is_transient, read_capped
from worker.partners.records import PhotoRecord
from worker.photos.catalog import StoredPhoto
from worker.photos.inspector import PhotoInspector, PhotoRefused, describe_anomalies, inspected
from worker.photos.storage import PhotoStore

log = structlog.get_logger()


class PhotoNotFound(Exception):
    """getPhoto answered 404: the OC may not have it yet; counts toward the 404 limit."""


class PhotoUnavailable(Exception):
    """getPhoto answered 429 or 5xx: transient."""


class PhotoFetcher:
    def __init__(
        self, store: PhotoStore, client: PartnerClient, max_bytes: int, metrics: Metrics
    ) -> None:
        self._store = store
        self._client = client
        self._max_bytes = max_bytes
        self._metrics = metrics

    async def fetch(
        self, code_oc: str, record: PhotoRecord
    ) -> tuple[StoredPhoto, Coroutine[Any, Any, None]]:
        """Download and check the body; returns the photo and what finishes writing it (the
        review stage reads the photo back from storage: nothing is kept in hand).

        Its row is written with the attempt's outcome. A crash in between is harmless: the next
        attempt writes the same key again.
        """
        inspector = PhotoInspector(record.mime_type, self._max_bytes)
        key = record.storage_key(code_oc)
        async with self._client.request("photo", str(record.id)) as (response, request_id):
            if response.status != 200:
                body = await read_capped(response, 500)
                await self._refuse_status(record, response.status, body, request_id)
            if (response.content_length or 0) > self._max_bytes:
                raise PhotoRefused(
                    "too_large",
                    f"Content-Length {response.content_length} exceeds the cap"
                    f" of {self._max_bytes} bytes",
                )
            # As aiohttp received them: re-cutting them to a fixed size would copy every byte.
            chunks = response.content.iter_any()
            write = await self._store.receive(key, inspected(chunks, inspector), record.mime_type)
        facts = inspector.facts
        if facts is None:  # set by the stream's last step, which put() consumed
            raise RuntimeError("the photo stream ended without its final check")
        anomalies = describe_anomalies(facts, record.width, record.height, record.size)
        log.debug(
            "photo received",
            photo_id=str(record.id),
            photo_request_id=str(request_id),
            storage_key=key,
            size=facts.size,
            anomalies=anomalies or None,
        )
        return StoredPhoto(record, facts, tuple(anomalies), key), write

    async def _refuse_status(
        self, record: PhotoRecord, status: int, body: bytes, request_id: uuid.UUID
    ) -> None:
        said = f"getPhoto {record.id} answered {status} (X-Request-Id {request_id}){excerpt(body)}"
        if status == 404:
            raise PhotoNotFound(said)
        if is_transient(status):
            raise PhotoUnavailable(said)
        raise PhotoRefused(f"http_{status}" if status in (400, 401, 403) else "http_other", said)
