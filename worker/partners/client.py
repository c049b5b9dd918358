"""HTTP client of one OC's API CRI asynchrone: the headers of the contract on every call."""

from __future__ import annotations

import ssl
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

import aiohttp
from yarl import URL

from worker.observe.metrics import Metrics
from worker.partners.config import Partner, Query
from worker.partners.credentials import Credentials, credentials_for
from worker.partners.tls import PartnerTls

Operation = Query | Literal["photo"]
CHUNK_BYTES = 64 * 1024
# A list of photo records is a few KB; anything this large is not a metadata answer.
METADATA_MAX_BYTES = 8 * 1024 * 1024
# Enough of an error answer to explain it in last_error.
ERROR_BODY_BYTES = 500


class PartnerUnreachable(Exception):
    """No HTTP answer (connection, timeout, truncated body): transient."""


class CallRefused(Exception):
    """The OC's conditions of use forbid this call until `until` (its daily quota is spent).

    Not a failure of the request: it waits without spending an attempt.
    """

    def __init__(self, reason: str, until: datetime) -> None:
        super().__init__(f"{reason}: no call before {until.isoformat()}")
        self.reason = reason
        self.until = until


class Gate(Protocol):
    """What stands before each call to an OC (see `worker/limits/`)."""

    async def before_call(self) -> None:
        """Wait for this call's turn, or raise CallRefused."""

    def after_call(self, answered: bool | None) -> None:
        """True: the OC answered; False: a transient failure (no answer, 5xx); None: neither."""

    async def unspent(self, lease_id: uuid.UUID) -> None:
        """The attempt of this lease ends without having called the OC."""


class _Open:
    async def before_call(self) -> None:
        return None

    def after_call(self, answered: bool | None) -> None:
        return None

    async def unspent(self, lease_id: uuid.UUID) -> None:
        return None


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    retry_after: str | None
    request_id: uuid.UUID


class PartnerClient:
    def __init__(
        self,
        partner: Partner,
        oi_code: str,
        session: aiohttp.ClientSession,
        metrics: Metrics,
        tls: PartnerTls | None,
    ) -> None:
        """`tls`: the OC's own TLS files (None: the system's CAs), passed with each call so that
        renewed files are used without a new session."""
        self.partner = partner
        self._oi_code = oi_code
        self._session = session
        self._metrics = metrics
        self._tls = tls
        self.gate: Gate = _Open()
        self.credentials: Credentials = credentials_for(
            partner,
            session,
            lambda kind: metrics.token_failures.labels(partner.code, kind).inc(),
            self.ssl_context,
        )

    def ssl_context(self) -> ssl.SSLContext | bool:
        """What aiohttp's `ssl=` gets for a new call: True verifies with the system's CAs."""
        return self._tls.context() if self._tls is not None else True

    async def fetch_metadata(self, query: Query, reference: str) -> Answer:
        """One metadata call (after a 401, one retry with renewed credentials)."""
        async with self.request(query, reference) as (response, request_id):
            # One byte over the cap tells a 200 that is too large from one that just fits.
            limit = METADATA_MAX_BYTES + 1 if response.status == 200 else ERROR_BODY_BYTES
            body = await read_capped(response, limit)
            return Answer(response.status, body, response.headers.get("Retry-After"), request_id)

    @asynccontextmanager
    async def request(
        self, operation: Operation, value: str
    ) -> AsyncIterator[tuple[aiohttp.ClientResponse, uuid.UUID]]:
        url = self.partner.url(operation, value)
        response, request_id = await self._send(operation, url)
        if response.status == 401:
            response.release()
            await self.credentials.renew(response.request_info.headers.get("Authorization"))
            response, request_id = await self._send(operation, url)
        try:
            yield response, request_id
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PartnerUnreachable(f"{operation}: {_describe(exc)}") from None
        finally:
            response.release()

    async def _send(
        self, operation: Operation, url: str
    ) -> tuple[aiohttp.ClientResponse, uuid.UUID]:
        request_id = uuid.uuid4()
        headers = {"X-Request-Id": str(request_id), "X-Client-Id": self._oi_code}
        authorization = await self.credentials.authorization()
        if authorization:
            headers["Authorization"] = authorization
        await self.gate.before_call()
        started = time.monotonic()
        try:
            # encoded=True: the path is sent as we percent-encoded it, not re-normalised by yarl.
            response = await self._session.get(
                URL(url, encoded=True),
                headers=headers,
                allow_redirects=False,
                ssl=self.ssl_context(),
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._count(operation, _error_kind(exc), started)
            self.gate.after_call(False)
            raise PartnerUnreachable(f"{operation}: {_describe(exc)}") from None
        self._count(operation, str(response.status), started)
        self.gate.after_call(None if response.status == 429 else response.status < 500)
        return response, request_id

    def _count(self, operation: str, status: str, started: float) -> None:
        oc = self.partner.code
        self._metrics.partner_calls.labels(oc, operation, status).inc()
        self._metrics.partner_latency.labels(oc, operation).observe(time.monotonic() - started)


async def read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    body = bytearray()
    async for chunk in response.content.iter_chunked(CHUNK_BYTES):
        body += chunk
        if len(body) > limit:
            break
    return bytes(body[:limit])


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return "timeout"
    return "connection_error"


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def open_session(partner: Partner) -> aiohttp.ClientSession:
    """One session per OC: its own connection pool, limits and timeouts (TLS: per call)."""
    config = partner.config
    connector = aiohttp.TCPConnector(limit=config.concurrency * 2)
    timeout = aiohttp.ClientTimeout(
        total=config.total_timeout,
        connect=config.connect_timeout,
        sock_connect=config.connect_timeout,
        sock_read=config.read_timeout,
    )
    return aiohttp.ClientSession(connector=connector, timeout=timeout, raise_for_status=False)


def is_transient(status: int) -> bool:
    return status == 429 or status >= 500


def excerpt(body: bytes, limit: int = 200) -> str:
    """A short, single-line quote of an error body, to explain a failure in last_error."""
    text = " ".join(body.decode("utf-8", errors="replace").split())
    if not text:
        return ""
    return f": {text[:limit]}{'…' if len(text) > limit else ''}"
