"""The photo checks' two costs that do not need a running worker.

- one photo's analysis (`findings.imaging.analyse`, as the worker's decoding threads run it) on
  a 200 KB and a 5 MB JPEG made as the simulator makes them (a scene with sensor-like noise):
  median wall and CPU milliseconds, and how much of it the reduced decode alone takes;
- the reuse lookup (`findings.reuse`, the worker's query) in a scratch database filled by SQL
  with 1,000,000 photos (random 64-bit perceptual hashes, 6 per request): EXPLAIN (ANALYZE,
  BUFFERS) and the median time for a request of 6 photos, one an exact copy of a stored photo,
  one 3 bits from another, four new; looked up with the probes of before the turned copies
  (`_as_before`), upright only, and with the eight turns of each photo (random hashes too; the
  near copy is then one of the turns), the three taking turns on the same data.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import random
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from PIL import Image

from tests.bench.environment import Place
from tests.bench.scenarios import Figures
from worker.findings import hashing, imaging, reuse
from worker.findings.model import PhotoTraits, PhotoView, RequestView
from worker.settings import Settings
from worker.simulator.images import Picture, render_sized

Row = tuple[str, str, str, str]
SIZES = {"200k": (200 * 1024, 60), "5m": (5 * 2**20, 12)}  # bytes, analyses per run
PHOTOS = 1_000_000
PER_REQUEST = 6
NEAR_DISTANCE = Settings.model_fields["qa_near_distance"].default


def analysis_cost(runs: int) -> Figures:
    settings = Settings(_env_file=None, oi_code="BNCH")  # type: ignore[call-arg]
    limits = imaging.Limits(settings.qa_max_decode_pixels, ZoneInfo(settings.qa_timezone))
    figures = Figures()
    for name, (size, repeats) in SIZES.items():
        picture = render_sized("jpeg", size, seed=11)
        for _ in range(runs):
            figures.add(**_analysis_run(name, picture, limits, repeats))
        figures.add(**{f"pixels_{name}": picture.width * picture.height})
    return figures


def _analysis_run(
    name: str, picture: Picture, limits: imaging.Limits, repeats: int
) -> dict[str, float]:
    header = (picture.width, picture.height)
    wall, cpu = _timed(
        lambda: imaging.analyse(picture.data, picture.mime_type, header, limits), repeats
    )
    decode, _ = _timed(lambda: _decode(picture.data, limits), repeats)
    return {f"wall_{name}": wall, f"cpu_{name}": cpu, f"decode_{name}": decode}


def _decode(data: bytes, limits: imaging.Limits) -> None:
    with Image.open(io.BytesIO(data), formats=["JPEG"]) as image:
        imaging._decode_reduced(image, limits.max_decode_pixels)


def _timed(work: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall and CPU (this thread's) milliseconds of `work`."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.thread_time()
        work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.thread_time() - cpu)
    return 1000 * statistics.median(walls), 1000 * statistics.median(cpus)


def analysis_rows(a: Figures) -> list[Row]:
    return [
        (
            f"photo checks, one {label} JPEG ({a.median(f'pixels_{name}') / 1e6:.1f} Mpx)",
            f"{a.median(f'wall_{name}'):.1f} ms wall, {a.median(f'cpu_{name}'):.1f} ms CPU"
            f" (reduced decode alone {a.median(f'decode_{name}'):.1f} ms wall)",
            "",
            "",
        )
        for name, label in (("200k", "200 KB"), ("5m", "5 MB"))
    ]


_FILL = (
    """
    INSERT INTO photo_requests (message_id, code_oc, reference_commande_sous_traitant_oi,
        status, received_at, completed_at)
    SELECT md5('r' || g)::uuid, 'OC0' || g % 8, 'INT-' || g, 'completed',
        now() - make_interval(secs => g * 60), now() - make_interval(secs => g * 60)
    FROM generate_series(1, $1::int / 6) AS g
    """,
    """
    INSERT INTO photos (code_oc, photo_id, type, mime_type, size_bytes, sha256, storage_key,
        phash)
    SELECT 'OC0' || g % 8, md5('p' || g || '-' || k)::uuid, 'PTO', 'image/jpeg', 204800,
        encode(sha256(('p' || g || '-' || k)::bytea), 'hex'), 'bench/' || g || '-' || k,
        (floor(random() * 4294967296)::bigint << 32) # floor(random() * 4294967296)::bigint
    FROM generate_series(1, $1::int / 6) AS g CROSS JOIN generate_series(1, 6) AS k
    """,
    """
    INSERT INTO photo_request_photos (message_id, code_oc, photo_id)
    SELECT md5('r' || g)::uuid, 'OC0' || g % 8, md5('p' || g || '-' || k)::uuid
    FROM generate_series(1, $1::int / 6) AS g CROSS JOIN generate_series(1, 6) AS k
    """,
)


async def reuse_lookup(bench_name: str, runs: int, photos: int = PHOTOS) -> tuple[Figures, str]:
    """Fill a scratch database, then time the worker's lookup; returns the figures and the plan."""
    place = await Place(f"{bench_name}_reuse").create()
    figures = Figures()
    try:
        started = time.monotonic()
        for sql in _FILL:
            await place.pool.execute(sql, photos)
            print(f"  reuse lookup data: {time.monotonic() - started:.0f} s", flush=True)
        await place.pool.execute("VACUUM ANALYZE")
        figures.add(
            fill_s=time.monotonic() - started,
            photos=await place.count("SELECT count(*) FROM photos"),
        )
        request, views = await _lookup_case(place)
        turned = _turned(views)
        arguments = reuse._arguments(request, turned, NEAR_DISTANCE)
        plan = await place.pool.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {reuse._REUSED}", *arguments)
        for _ in range(runs):
            figures.add(**await _time_lookup(place, request, views, "before", _as_before))
            figures.add(**await _time_lookup(place, request, views, "upright"))
            figures.add(**await _time_lookup(place, request, turned, "turns"))
    finally:
        await place.drop()
    return figures, "\n".join(f"    {row[0]}" for row in plan)


async def _lookup_case(place: Place) -> tuple[RequestView, list[PhotoView]]:
    stored = await place.pool.fetch(
        "SELECT sha256, phash FROM photos WHERE photo_id = ANY($1::uuid[]) ORDER BY photo_id",
        [uuid.UUID(hex=_md5(f"p{g}-1")) for g in (1000, 2000)],
    )
    rnd = random.Random(5)
    hashes = [rnd.getrandbits(63), stored[1]["phash"] ^ 0b10010001]
    hashes += [rnd.getrandbits(63) for _ in range(4)]
    shas = [stored[0]["sha256"]] + [f"{rnd.getrandbits(256):064x}" for _ in range(5)]
    views = [
        PhotoView(
            uuid.uuid4(), "PTO", sha, 4000, 3000, None, None, None, traits=PhotoTraits(phash=h)
        )
        for sha, h in zip(shas, hashes, strict=True)
    ]
    request = RequestView(
        uuid.uuid4(), "OC01", {"intervention": "INT-new"}, (), None, frozenset({"PTO"})
    )
    return request, views


def _turned(views: list[PhotoView]) -> list[PhotoView]:
    """The same photos with seven random turned hashes each; the near copy's hash becomes its
    turn 5 (a quarter turn), its upright hash a random one."""
    rnd = random.Random(7)
    turned = []
    for view in views:
        turns = [rnd.getrandbits(63) for _ in range(7)]
        upright = view.traits.phash
        if view is views[1]:
            upright, turns[4] = rnd.getrandbits(63), upright
        traits = PhotoTraits(phash=upright, phash_turns=tuple(turns))
        turned.append(dataclasses.replace(view, traits=traits))
    return turned


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


async def _time_lookup(
    place: Place,
    request: RequestView,
    views: list[PhotoView],
    name: str,
    arguments: Callable[[RequestView, list[PhotoView]], list[Any]] | None = None,
) -> dict[str, float]:
    """The worker's lookup, or the same query with other `arguments` (`_as_before`)."""
    times, found = [], 0
    for _ in range(30):
        started = time.perf_counter()
        if arguments is None:
            found = len(await reuse.reused_photos(place.pool, request, views, NEAR_DISTANCE))
        else:
            found = len(await place.pool.fetch(reuse._REUSED, *arguments(request, views)))
        times.append(time.perf_counter() - started)
    return {f"lookup_ms_{name}": 1000 * statistics.median(times), f"found_{name}": found}


def _as_before(request: RequestView, views: list[PhotoView]) -> list[Any]:
    """The probes the lookup made before the turned copies, in today's query: the upright hash
    only, each band at its value and its 16 neighbours (68 probes a photo at 4 bits; the
    query's shape and the rows each probe reads are as they were)."""
    arguments = reuse._arguments(request, views, NEAR_DISTANCE)
    hashed = [view for view in views if view.traits.phash is not None]
    arguments[2:6] = [
        [view.photo_id for view in hashed],
        [0] * len(hashed),
        [view.traits.phash for view in hashed],
        [hashing.BANDS] * len(hashed),  # every band one bit away too
    ]
    return arguments


def reuse_rows(r: Figures) -> list[Row]:
    return [
        (
            f"reuse lookup, 6 photos against {r.median('photos'):,.0f} stored hashes, {label}",
            f"{r.median(f'lookup_ms_{name}'):.1f} ms (median of 30, warm; median of"
            f" {len(r.values[f'lookup_ms_{name}'])} runs; {r.median(f'found_{name}'):.0f} of 2"
            f" planted copies found); filled by SQL in {r.median('fill_s'):.0f} s",
            "",
            "",
        )
        for name, label in (
            ("before", "before: upright only, 68 probes a photo"),
            ("upright", "upright only"),
            ("turns", "eight turns each"),
        )
    ]
