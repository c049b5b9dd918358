"""Requests for the comparison viewer's tests: a pair with its evidence measured, a reuse."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from tests.console import seed
from tests.console.conftest import Console


async def traits(db: asyncpg.Pool, photo_id: uuid.UUID, **columns: Any) -> None:
    """What the photo checks would have measured (columns of migration 0008)."""
    names = list(columns)
    sets = ", ".join(f"{name} = ${i + 2}" for i, name in enumerate(names))
    await db.execute(
        f"UPDATE photos SET {sets} WHERE photo_id = $1",
        photo_id,
        *columns.values(),
    )


async def pair(console: Console, db: asyncpg.Pool, reference: str = "INT-PAIR") -> seed.Seeded:
    """A PBO pair, navy before and orange after, the before photo 2 days off and 1.2 km off."""
    seeded = await seed.request(db, reference=reference)
    before = await seed.photo(
        db, console.photos, seeded, "PBO_AVANT", data=seed.image_bytes((1600, 1200), colour="navy")
    )
    after = await seed.photo(
        db, console.photos, seeded, "PBO_APRES", data=seed.image_bytes((1200, 900), colour="orange")
    )
    taken = await db.fetchval("SELECT taken_at FROM photos WHERE photo_id = $1", before)
    await traits(
        db,
        before,
        exif_taken_at=taken - timedelta(days=2),
        exif_latitude=48.85 + 0.0108,  # about 1.2 km north of the declared 48.85, 2.35
        exif_longitude=2.35,
        sharpness=12.0,
        brightness=31.0,
    )
    await traits(db, after, sharpness=150.0, brightness=120.0)
    return seeded


@dataclass
class Reuse:
    earlier: seed.Seeded
    later: seed.Seeded
    original: uuid.UUID  # the earlier request's photo
    copy: uuid.UUID  # the later request's, the same bytes


async def reuse(console: Console, db: asyncpg.Pool) -> Reuse:
    data = seed.image_bytes((1000, 750), colour="olive")
    earlier = await seed.request(
        db, reference="INT-FIRST", received_at=datetime.now(UTC) - timedelta(days=30)
    )
    await seed.photo(db, console.photos, earlier, "PTO", data=seed.image_bytes(colour="gray"))
    original = await seed.photo(db, console.photos, earlier, "PBO_AVANT", data=data)
    later = await seed.request(db, reference="INT-AGAIN-LATER")
    copy = await seed.photo(db, console.photos, later, "PBO_AVANT", data=data)
    await seed.finding(
        db,
        later,
        "reused_photo",
        "suspect",
        photo_ids=[copy],
        related=earlier.message_id,
        detail=f"PBO_AVANT is the very same file as photo {original} of request"
        f" {earlier.message_id} (OCAA, reference INT-FIRST, received ...)",
    )
    return Reuse(earlier, later, original, copy)
