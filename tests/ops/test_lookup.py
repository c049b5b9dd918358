"""The lookup shared by `worker show` and the console's search."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from tests.console import seed
from worker.ops.lookup import Key, by_reference_prefix, find_dead_letters, find_requests, prefix_end


@pytest.mark.parametrize(
    ("prefix", "end"),
    [
        ("INT-1", "INT-2"),
        ("a", "b"),
        ("é", "ê"),
        ("x\U0010ffff", "y"),
        ("\U0010ffff", None),
        ("\ud7ff", "\ue000"),  # the next storable character after the surrogates
    ],
)
def test_prefix_end_is_the_first_string_after_every_extension(prefix: str, end: str | None) -> None:
    assert prefix_end(prefix) == end


def test_prefix_end_bounds_in_utf8_byte_order() -> None:
    prefix = "REF-é"
    end = prefix_end(prefix)
    assert end is not None
    for extension in ("", "0", "zzz", "\U0010ffff" * 3, "日本"):
        assert prefix.encode() <= (prefix + extension).encode() < end.encode()


def test_keys() -> None:
    message_id = uuid.uuid4()
    assert Key.parse(f" {message_id} ") == Key(str(message_id), message_id, False)
    assert Key.parse("INT-4*") == Key("INT-4", None, True)
    assert Key.parse("INT-4") == Key("INT-4", None, False)


@pytest.mark.services
async def test_exact_reference_or_else_prefix(db: asyncpg.Pool) -> None:
    exact = await seed.request(db, reference="INT-7")
    longer = await seed.request(db, reference="INT-70", order="ORD-1")
    by_order = await seed.request(db, reference="X", order="INT-7b")
    assert await find_requests(db, "INT-7") == [exact.message_id]
    assert await find_requests(db, "INT-7*") == [
        exact.message_id,
        longer.message_id,
        by_order.message_id,
    ]
    assert await find_requests(db, "INT-70") == [longer.message_id]
    assert await find_requests(db, "INT-7b") == [by_order.message_id]
    assert await find_requests(db, "INT-") == [
        exact.message_id,
        longer.message_id,
        by_order.message_id,
    ]
    assert await find_requests(db, str(longer.message_id)) == [longer.message_id]
    assert await find_requests(db, str(uuid.uuid4())) == []
    assert await find_requests(db, "NOPE") == []


@pytest.mark.services
async def test_a_reference_in_another_case_is_the_same_reference(db: asyncpg.Pool) -> None:
    exact = await seed.request(db, reference="Int-Mixed-1")
    longer = await seed.request(db, reference="INT-MIXED-10")
    assert await find_requests(db, "int-mixed-1") == [exact.message_id]
    assert await find_requests(db, "INT-MIXED-1") == [exact.message_id]
    assert await find_requests(db, "int-mixed-1*") == [exact.message_id, longer.message_id]
    assert await find_requests(db, "int-mixed-10") == [longer.message_id]
    accented = await seed.request(db, reference="RÉF-Été-1")
    assert await find_requests(db, "réf-été") == [accented.message_id]  # PostgreSQL's lower()


@pytest.mark.services
async def test_prefix_pages_in_reference_order(db: asyncpg.Pool) -> None:
    made = [await seed.request(db, reference=f"P-{i:03}") for i in range(25)]
    first = await by_reference_prefix(db, "P-", 10)
    second = await by_reference_prefix(db, "P-", 10, (first[-1].key, first[-1].message_id))
    rest = await by_reference_prefix(db, "P-", 10, (second[-1].key, second[-1].message_id))
    references = [m.reference for m in first + second + rest]
    assert references == [f"P-{i:03}" for i in range(25)]
    assert {m.message_id for m in first + second + rest} == {s.message_id for s in made}


@pytest.mark.services
async def test_dead_letters_by_message_id_or_by_text_of_their_body(db: asyncpg.Pool) -> None:
    message_id = str(uuid.uuid4())
    by_id = await seed.dead_letter(db, "unknown_oc", message_id=message_id)
    by_body = await seed.dead_letter(db, "invalid_fields", body='{"ref": "INT-DEAD-1"}')
    assert [d["id"] for d in await find_dead_letters(db, message_id)] == [by_id]
    assert [d["id"] for d in await find_dead_letters(db, "INT-DEAD")] == [by_body]
    assert await find_dead_letters(db, "nothing") == []
