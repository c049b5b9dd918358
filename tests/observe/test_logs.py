"""Redaction of secrets in log events, and the JSON lines configure_logging writes."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from worker.border import Redactor
from worker.observe.logs import EventCleaner, configure_logging

SECRET = "s3cr3t-Value_42"


def clean(value: Any, secrets: tuple[str, ...] = ()) -> Any:
    return EventCleaner(Redactor(secrets))(None, "info", {"value": value})["value"]


def test_known_secret_is_removed_verbatim() -> None:
    text = f"login failed for {SECRET}, retrying with {SECRET}!"
    assert (
        Redactor([SECRET]).redact(text) == "login failed for [REDACTED], retrying with [REDACTED]!"
    )


def test_longest_secret_first_and_short_ones_ignored() -> None:
    redactor = Redactor(["abc", "s3cr3t", "s3cr3t-long"])
    assert redactor.redact("s3cr3t-long abc") == "[REDACTED] abc"


@pytest.mark.parametrize(
    ("text", "leaked", "kept"),
    [
        ("Authorization: Bearer eyJhbGciOi.eyJzdWIi.SflKxw", "eyJhbGciOi", "Authorization: Bearer"),
        ("headers={'Authorization': 'Bearer abc-123'}", "abc-123", "Authorization"),
        ("token is bearer x.y~z+/=", "x.y~z", "bearer"),
        ("Authorization=tok123456", "tok123456", "Authorization="),
        ('{"authorization": "raw-token-value"}', "raw-token-value", "authorization"),
        ("amqp://guest:hunter2@rabbit:5672/vh", "hunter2", "amqp://guest:"),
        ("postgresql://u:p4ss@h/db", "p4ss", "@h/db"),
        ("connect to postgresql://postgres:pw@127.0.0.1:5432/x failed", ":pw@", "127.0.0.1"),
        ("grant_type=client_credentials&client_secret=abc%2B1&scope=x", "abc%2B1", "&scope=x"),
        ('{"access_token": "tok-9", "expires_in": 3600}', "tok-9", '"expires_in": 3600'),
        ("password=hunter2 user=bob", "hunter2", "user=bob"),
    ],
)
def test_patterns(text: str, leaked: str, kept: str) -> None:
    redacted = Redactor().redact(text)
    assert leaked not in redacted
    assert kept in redacted
    assert "[REDACTED]" in redacted


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Basic dXNlcjpwYXNzd29yZA==",
        "{'Authorization': 'Basic dXNlcjpwYXNzd29yZA=='}",
    ],
)
def test_basic_authorization_header(text: str) -> None:
    assert "dXNlcjpwYXNzd29yZA" not in Redactor().redact(text)


def test_authorization_value_in_a_headers_dict() -> None:
    cleaned = clean({"headers": {"Authorization": "Basic dXNlcjpwYXNzd29yZA=="}})
    assert "dXNlcjpwYXNzd29yZA" not in json.dumps(cleaned)


@pytest.mark.parametrize(
    "text",
    [
        "photo 3f0c2a4e stored under ABCD/3f0c.jpg",
        "GET https://photos.oc.example/cri/v1/intervention/A%2FB/photos answered 202",
        "mailto:someone@example.com and user@host",
        "ratio: 3/4, key=value, secretary: Bob",
        "",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert Redactor([SECRET]).redact(text) == text


def test_nested_values_and_exceptions() -> None:
    event = {
        "event": f"call with {SECRET}",
        "nested": {"deep": [f"x {SECRET}", ("Bearer abc.def",)], "n": 3},
        "error": RuntimeError(f"cannot connect to amqp://u:pw1@h/ ({SECRET})"),
        "count": 7,
        "none": None,
    }
    cleaned = EventCleaner(Redactor([SECRET]))(None, "info", event)
    text = json.dumps(cleaned)
    for leaked in (SECRET, "abc.def", "pw1"):
        assert leaked not in text
    assert cleaned["count"] == 7
    assert cleaned["none"] is None
    assert cleaned["nested"]["n"] == 3
    assert cleaned["error"].startswith("RuntimeError(")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.usefixtures("restore_logging")
def test_json_line_has_no_secret_from_an_exception() -> None:
    stream = io.StringIO()
    configure_logging("info", fmt="json", secrets=[SECRET], stream=stream)
    log = structlog.get_logger("worker.test")
    try:
        raise ConnectionError(f"broker refused {SECRET} at amqp://guest:pw2@mq/")
    except ConnectionError:
        log.exception("connection lost", url="postgresql://u:pw3@db/x", token=SECRET)
    log.debug("not shown at info")
    [line] = lines(stream)
    assert line["event"] == "connection lost"
    assert line["level"] == "error"
    assert line["logger"] == "worker.test"
    assert "ConnectionError" in line["exception"]
    for leaked in (SECRET, "pw2", "pw3"):
        assert leaked not in stream.getvalue()


@pytest.mark.usefixtures("restore_logging")
def test_library_logs_are_redacted_too() -> None:
    stream = io.StringIO()
    configure_logging("debug", fmt="json", secrets=[SECRET], stream=stream)
    logging.getLogger("aiohttp.client").warning("sent Bearer tok.en-1 and %s", SECRET)
    [line] = lines(stream)
    assert line["logger"] == "aiohttp.client"
    assert line["level"] == "warning"
    assert "tok.en-1" not in line["event"]
    assert SECRET not in line["event"]


def test_a_long_value_is_cut_after_redaction_and_says_how_much() -> None:
    # The secret straddles the cut: it is still recognised whole, and nothing of it is shown.
    text = "x" * 1990 + SECRET + "y" * 100_000
    cut = Redactor([SECRET]).redact_capped(text, 2000)
    assert len(cut) <= 2000
    assert SECRET[:4] not in cut
    redacted_length = len(text) - len(SECRET) + len("[REDACTED]")
    assert cut.endswith(f"…[{redacted_length - 1964} more characters]")


def test_a_log_line_with_a_100_kb_value_is_short() -> None:
    cleaned = clean("a" * 100_000 + f" Bearer {SECRET}")
    assert len(cleaned) <= 2000
    assert "more characters]" in cleaned


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize(("stream", "coloured"), [(io.StringIO(), False), (_Terminal(), True)])
def test_console_lines_are_coloured_only_on_a_terminal(stream: io.StringIO, coloured: bool) -> None:
    configure_logging("info", fmt="console", stream=stream)
    structlog.get_logger("worker.test").warning("something to see", oc="ABCD")
    text = stream.getvalue()
    assert "something to see" in text
    assert ("\x1b[" in text) is coloured


@pytest.mark.usefixtures("restore_logging")
def test_the_library_lines_of_a_routine_reconnect_are_dropped_and_others_kept() -> None:
    stream = io.StringIO()
    configure_logging("info", fmt="json", stream=stream)
    routine = [
        ("aiormq.connection", logging.ERROR, 'Unexpected connection close from remote "amqp://x"'),
        ("aiormq.connection", logging.WARNING, "Cancelling cause reader exited abnormally"),
        (
            "aio_pika.tools",
            logging.ERROR,
            "Callback <OneShotCallback: cb=<bound method RobustChannel._on_close of <x>>>"
            " error: RuntimeError",
        ),
    ]
    kept = [
        (
            "aio_pika.robust_connection",
            logging.INFO,
            "Connection to amqp://x closed. Reconnecting after 2.0 seconds.",
        ),
        (
            "aio_pika.robust_connection",
            logging.WARNING,
            'Connection attempt to "amqp://x" failed: refused. Reconnecting after 2 seconds.',
        ),
        ("aiormq.connection", logging.ERROR, "something else went wrong"),
        ("worker.test", logging.ERROR, "Unexpected connection close from remote"),
    ]
    for name, level, message in routine + kept:
        logging.getLogger(name).log(level, message)
    assert [(line["logger"], line["event"]) for line in lines(stream)] == [
        (name, message) for name, _, message in kept
    ]


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("fmt", ["console", "json"])
def test_control_characters_from_outside_are_escaped_in_every_format(fmt: str) -> None:
    stream = io.StringIO()
    configure_logging("info", fmt=fmt, stream=stream)
    hostile = "\x1b[2J\x1b]0;pwned\x07alice\r\nfake line\x9b31m"
    structlog.get_logger("worker.test").warning("console: refused", who=hostile)
    logging.getLogger("aiohttp.access").warning("GET %s", hostile)
    text = stream.getvalue()
    for raw in ("\x1b", "\x07", "\r", "\x9b"):
        assert raw not in text
    assert text.count("\n") == 2, "one line each: no line of the attacker's"
    assert "\\x1b[2J\\x1b]0;pwned\\x07alice\\r\\nfake line\\x9b31m" in text.replace("\\\\", "\\")


def test_a_traceback_keeps_its_line_breaks() -> None:
    cleaned = EventCleaner(Redactor(()))(None, "error", {"exception": "a\n  b\x1b"})
    assert cleaned["exception"] == "a\n  b\\x1b"
