"""The journal of the calls the simulator received, for tests to inspect."""

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class CallRecord:
    """One HTTP call and how it was answered (status is filled in once known)."""

    method: str
    path: str
    """Path as received on the wire, still percent-encoded, without the query string."""
    operation: str
    """getPhotosByIntervention, getPhotosByOrder, getPhotosByAccess, getPhoto or token."""
    reference: str | None
    """Decoded reference of a metadata call."""
    photo_id: str | None
    """Decoded photo id of a getPhoto call."""
    request_id: str | None
    client_id: str | None
    authorization: bool
    """Whether an Authorization header was present."""
    at: float
    """time.monotonic() when the call arrived."""
    wall: float
    """time.time() when the call arrived, to compare with the worker's clock and windows."""
    status: int | None = None
    client_cert_serial: str | None = None
    """Serial number (hex) of the client certificate presented over mutual TLS."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
