"""Requests for the comparison viewer's tests: a pair with its evidence measured, a reuse."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from PIL import Image, ImageDraw, ImageEnhance, ImageFont

from tests.console import seed
from tests.console.conftest import Console


def scene(size: tuple[int, int], label: str, *, light: float = 1.0, box: str = "#8a8f98") -> bytes:
    """A JPEG that reads as a street photo at a glance (sky, ground, a pole, a cabinet, a
    cable, a label), so that zoom, flip and brightening show on the screenshots."""
    width, height = size
    image = Image.new("RGB", size, "#9bb8d8")
    draw = ImageDraw.Draw(image)
    horizon = int(height * 0.62)
    for y in range(horizon):
        shade = int(60 * y / horizon)
        draw.line([(0, y), (width, y)], fill=(120 + shade, 160 + shade // 2, 215))
    draw.rectangle([0, horizon, width, height], fill="#6f7f5a")
    pole = int(width * 0.68)
    draw.rectangle([pole, int(height * 0.12), pole + width // 40, horizon + 20], fill="#5b4632")
    draw.line([(0, int(height * 0.2)), (pole, int(height * 0.16))], fill="#222", width=4)
    cabinet = [int(width * 0.2), int(height * 0.38), int(width * 0.42), horizon + 30]
    draw.rectangle(cabinet, fill=box, outline="#333", width=5)
    draw.rectangle(
        [cabinet[0] + 20, cabinet[1] + 20, cabinet[2] - 20, cabinet[1] + 70], fill="#e8e2c8"
    )
    font = ImageFont.load_default(size=max(18, height // 18))
    draw.text((cabinet[0] + 28, cabinet[1] + 24), label, fill="#111", font=font)
    image = ImageEnhance.Brightness(image).enhance(light)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


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
    """A PBO pair, the before photo dark, blurred, 2 days off and 1.2 km off."""
    seeded = await seed.request(db, reference=reference)
    dark = scene((1600, 1200), "PBO 12 AVANT", light=0.3)
    before = await seed.photo(db, console.photos, seeded, "PBO_AVANT", data=dark)
    done = scene((1200, 900), "PBO 12 APRES", box="#3f6fb0")
    after = await seed.photo(db, console.photos, seeded, "PBO_APRES", data=done)
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
