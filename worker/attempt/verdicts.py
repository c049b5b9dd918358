"""What an answer means for the request: the contract's status table, as pure functions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from worker.partners.client import excerpt, is_transient

if TYPE_CHECKING:
    from worker.partners.client import Answer

FinalStatus = Literal["completed", "unavailable", "expired", "failed"]
RetryReason = Literal["not_ready", "transient", "not_found"]


@dataclass(frozen=True)
class Refusal:
    """A listed photo that was not stored: its id if readable, a short reason, a sentence."""

    photo_id: str | None
    reason: str
    detail: str


@dataclass(frozen=True)
class Final:
    status: FinalStatus
    error: str | None
    refusals: tuple[Refusal, ...] = ()


@dataclass(frozen=True)
class Retry:
    reason: RetryReason
    error: str


Outcome = Final | Retry


def judge_metadata(answer: Answer) -> Outcome | Literal["photos"]:
    """The contract's table for metadata answers; a 401 here is one that survived a renewal."""
    status = answer.status
    if status == 200:
        return "photos"
    if status == 202:
        return Retry("not_ready", "photos not available yet (202)")
    if status == 204:
        return Final("unavailable", None)
    said = excerpt(answer.body)
    if status == 404:
        return Retry("not_found", f"metadata answered 404{said}")
    if is_transient(status):
        return Retry("transient", f"metadata answered {status}{said}")
    if status in (400, 401, 403):
        return Final("failed", f"metadata answered {status}{said}")
    return Final("failed", f"metadata answered an unexpected {status}{said}")
