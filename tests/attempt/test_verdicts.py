"""The contract's table for metadata answers, and the error excerpt."""

from __future__ import annotations

import uuid

import pytest

from worker.attempt.verdicts import Final, Retry, judge_metadata
from worker.partners.client import Answer, excerpt, is_transient


def answer(status: int, body: bytes = b"", retry_after: str | None = None) -> Answer:
    return Answer(status, body, retry_after, uuid.uuid4())


def test_200_downloads_the_photos() -> None:
    assert judge_metadata(answer(200, b"[]")) == "photos"


def test_202_is_not_ready() -> None:
    assert judge_metadata(answer(202, retry_after="60")) == Retry(
        "not_ready", "photos not available yet (202)"
    )


def test_204_is_unavailable() -> None:
    assert judge_metadata(answer(204)) == Final("unavailable", None)


def test_404_is_retried_as_not_found() -> None:
    assert judge_metadata(answer(404, b"unknown order")) == Retry(
        "not_found", "metadata answered 404: unknown order"
    )


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient(status: int) -> None:
    outcome = judge_metadata(answer(status, b"try later"))
    assert outcome == Retry("transient", f"metadata answered {status}: try later")
    assert is_transient(status)


@pytest.mark.parametrize("status", [400, 401, 403])
def test_refused_is_failed(status: int) -> None:
    outcome = judge_metadata(answer(status, b'{"error": "bad id"}'))
    assert outcome == Final("failed", f'metadata answered {status}: {{"error": "bad id"}}')


@pytest.mark.parametrize("status", [302, 418, 201, 304, 451])
def test_unexpected_status_is_failed(status: int) -> None:
    outcome = judge_metadata(answer(status))
    assert outcome == Final("failed", f"metadata answered an unexpected {status}")
    assert not is_transient(status)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", ""),
        (b"  \n\t ", ""),
        (b"Not found", ": Not found"),
        (b"  line one\r\n  line\ttwo  ", ": line one line two"),
        (b"caf\xc3\xa9 \xff", ": café \ufffd"),
    ],
)
def test_excerpt(body: bytes, expected: str) -> None:
    assert excerpt(body) == expected


def test_excerpt_is_cut_with_an_ellipsis() -> None:
    assert excerpt(b"x" * 200) == ": " + "x" * 200
    assert excerpt(b"x" * 201) == ": " + "x" * 200 + "…"
    assert excerpt(b"abcdef", limit=3) == ": abc…"
