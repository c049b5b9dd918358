"""Download one listed photo into storage, checking it on the way, then record it."""

from __future__ import annotations

import uuid

import asyncpg
import structlog

from worker import catalog
from worker.metrics import Metrics
from worker.partner_api import CHUNK_BYTES, PartnerClient, read_capped
from worker.photo_records import PhotoRecord
from worker.photo_stream import PhotoInspector, PhotoRefused, describe_anomalies, inspected
from worker.repository import Claim
from worker.storage import PhotoStore
from worker.verdicts import excerpt, is_transient

log = structlog.get_logger()


class PhotoNotFound(Exception):
    """getPhoto answered 404: the OC may not have it yet; counts toward the 404 limit."""


class PhotoUnavailable(Exception):
    """getPhoto answered 429 or 5xx: transient."""


class PhotoFetcher:
    def __init__(
        self,
        pool: asyncpg.Pool,
        store: PhotoStore,
        client: PartnerClient,
        max_bytes: int,
        metrics: Metrics,
    ) -> None:
        self._pool = pool
        self._store = store
        self._client = client
        self._max_bytes = max_bytes
        self._metrics = metrics

    async def fetch(self, claim: Claim, record: PhotoRecord) -> None:
        """Stream the body into storage under its key, then upsert its row.

        A crash anywhere in between is harmless: the next attempt writes the same key again.
        """
        inspector = PhotoInspector(record.mime_type, self._max_bytes)
        key = record.storage_key(claim.code_oc)
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
            chunks = response.content.iter_chunked(CHUNK_BYTES)
            await self._store.put(key, inspected(chunks, inspector), record.mime_type)
        facts = inspector.facts
        assert facts is not None  # set by the stream's last step, which put() has consumed
        anomalies = describe_anomalies(facts, record.width, record.height, record.size)
        await catalog.save_photo(
            self._pool, claim.message_id, claim.code_oc, record, facts, anomalies
        )
        self._metrics.photos_stored.labels(claim.code_oc).inc()
        self._metrics.photo_bytes.labels(claim.code_oc).inc(facts.size)
        log.debug(
            "photo stored",
            photo_id=str(record.id),
            photo_request_id=str(request_id),
            storage_key=key,
            size=facts.size,
            anomalies=anomalies or None,
        )

    async def _refuse_status(
        self, record: PhotoRecord, status: int, body: bytes, request_id: uuid.UUID
    ) -> None:
        said = f"getPhoto {record.id} answered {status} (X-Request-Id {request_id}){excerpt(body)}"
        if status == 404:
            raise PhotoNotFound(said)
        if is_transient(status):
            raise PhotoUnavailable(said)
        raise PhotoRefused(f"http_{status}" if status in (400, 401, 403) else "http_other", said)
