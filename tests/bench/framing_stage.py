"""The framing checks' cost in the review stage: CPU per PTO photo (the PTO reference read) and
per AVANT/APRES pair (the same-spot check), as the review processes measure it, the stage's
photos/s, and the findings against the known truth.

`.venv/bin/python -m tests.bench.framing_stage [--requests 60] [--processes 2] [--cache FILE]`

Makes its own database (migrated) and photo directory; stores `--requests` requests of five
photos made by the evaluation generator (`tests/evaluation`, family `evaluation`): a PTO photo
(the outlet's label, its reference known; `referencePTO` declares it) and two AVANT/APRES pairs
(PBO, PM; half of the pairs one spot, a quarter two places, a quarter two look-alike places).
Then it runs a ReviewStage with the framing rules on (their default settings) until every
request is reviewed, after a warm-up request of six PTO photos and two pairs (each process
loads its OCR engine on its first PTO photo, about 0.7 s: not a photo's cost).

The per-check figures are those `worker_review_check_cpu_seconds{check}` observes, kept one by
one here: CPU time in the review process around each check (`decoding.timed`), the image's
decoding included, other programs not counted. Photos/s and the stage's CPU per photo (this
process's and its review processes', psutil) depend on the machine's load as well.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import statistics
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import astuple, dataclass
from pathlib import Path

import asyncpg
import numpy as np
import psutil

from tests.bench.review_alone import _cpu, _database, _drop, store_photo
from tests.evaluation.dataset import EVALUATION, HOLDOUT, label_cases, pair_cases
from worker.border import Redactor, Sanitizer
from worker.findings.pto_reference import same_reference
from worker.observe.metrics import Metrics
from worker.photos.storage import PhotoStore, open_store
from worker.review.stage import ReviewStage
from worker.settings import Settings

PAIRS = (("PBO_AVANT", "PBO_APRES"), ("PM_AVANT", "PM_APRES"))


@dataclass(frozen=True)
class Photo:
    type: str
    body: bytes
    reference: str | None = None  # a PTO photo's printed reference
    legible: bool = True
    same: bool | None = None  # an AVANT/APRES photo: whether its pair shows one spot


class Recorder:
    """Stands for the histogram: keeps each observation, by check."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self.on = False

    def labels(self, check: str) -> Recorder._Check:
        return Recorder._Check(self, check)

    class _Check:
        def __init__(self, recorder: Recorder, check: str) -> None:
            self._recorder, self._check = recorder, check

        def observe(self, seconds: float) -> None:
            if self._recorder.on:
                self._recorder.seconds[self._check].append(seconds)


def requests(count: int) -> Iterator[list[Photo]]:
    labels = label_cases(EVALUATION, count)
    pairs = pair_cases(EVALUATION, 2 * count)
    for label in labels:
        photos = [Photo("PTO", label.data, label.reference, label.legible)]
        for before, after in PAIRS:
            case = next(pairs)
            photos += [Photo(before, case.before, same=case.same), Photo(after, case.after)]
        yield photos


def warm_up() -> list[Photo]:
    """Photos of other seeds (the holdout's), and no reference declared: the warm-up makes
    no finding about the measured requests."""
    labels = [Photo("PTO", case.data) for case in label_cases(HOLDOUT, 6)]
    case = next(pair_cases(HOLDOUT, 1))
    return [*labels, Photo("PBO_AVANT", case.before), Photo("PBO_APRES", case.after)]


async def _store(
    pool: asyncpg.Pool, store: PhotoStore, photos: list[Photo], n: int
) -> tuple[uuid.UUID, dict[uuid.UUID, Photo]]:
    message_id = uuid.uuid4()
    reference = next((p.reference for p in photos if p.type == "PTO"), None)
    await pool.execute(
        "INSERT INTO photo_requests (message_id, code_oc, status, completed_at,"
        " reference_commande_sous_traitant_oi, reference_pto)"
        " VALUES ($1, 'BNCH', 'completed', now(), $2, $3)",
        message_id,
        f"FRAMING-{n}" if n >= 0 else "WARM-UP",
        reference,
    )
    stored = {}
    for photo in photos:
        photo_id = uuid.uuid4()
        await store_photo(pool, store, message_id, photo_id, photo.type, photo.body, photo.body)
        stored[photo_id] = photo
    return message_id, stored


async def _reviewed(pool: asyncpg.Pool, stage: ReviewStage, ids: list[uuid.UUID]) -> None:
    await pool.execute(
        "INSERT INTO request_reviews (message_id, code_oc) SELECT unnest($1::uuid[]), 'BNCH'",
        ids,
    )
    stage.reviewer.wake()
    while await pool.fetchval("SELECT count(*) FROM request_reviews WHERE reviewed_at IS NULL"):
        await asyncio.sleep(0.05)


async def _agreement(pool: asyncpg.Pool, truth: dict[uuid.UUID, Photo]) -> list[str]:
    tally: Counter[str] = Counter()
    for row in await pool.fetch("SELECT photo_id, label_text FROM photos WHERE type = 'PTO'"):
        photo = truth.get(row["photo_id"])
        if photo is None:
            continue
        state = "legible" if photo.legible else "illegible"
        tally[state] += 1
        if row["label_text"] is None:
            continue
        if photo.reference and same_reference(row["label_text"], photo.reference):
            tally[f"read {state}"] += 1
        else:
            tally["wrong"] += 1
    for row in await pool.fetch(
        "SELECT spot_pairs::text FROM request_reviews r JOIN photo_requests q USING (message_id)"
        " WHERE q.reference_commande_sous_traitant_oi LIKE 'FRAMING-%'"
    ):
        for pair in json.loads(row["spot_pairs"] or "[]"):
            photo = truth.get(uuid.UUID(pair["before"]))
            if photo is None:
                continue  # the warm-up's
            kind = "same" if photo.same else "two places"
            tally[f"pairs {kind}"] += 1
            tally[f"flagged {kind}"] += not pair["same_spot"]
    findings = await pool.fetch(
        "SELECT kind, count(*) FROM photo_findings JOIN photo_requests USING (message_id)"
        " WHERE reference_commande_sous_traitant_oi LIKE 'FRAMING-%' AND kind IN"
        " ('pto_reference_unreadable', 'pto_reference_mismatch', 'pto_reference_elsewhere',"
        " 'not_same_spot') GROUP BY kind ORDER BY kind"
    )
    unread = tally["illegible"] - tally["read illegible"] + tally["legible"] - tally["read legible"]
    return [
        "| truth | found |",
        "|---|---|",
        f"| legible labels: reference read (twins O/0, I/1, S/5, B/8 allowed) |"
        f" {tally['read legible']} of {tally['legible']} |",
        f"| illegible labels: reference read all the same | {tally['read illegible']} of"
        f" {tally['illegible']} |",
        f"| wrong references read | {tally['wrong']} |",
        f"| same-spot pairs flagged not_same_spot | {tally['flagged same']} of"
        f" {tally['pairs same']} |",
        f"| two-place pairs flagged not_same_spot | {tally['flagged two places']} of"
        f" {tally['pairs two places']} |",
        "| framing findings written (expected: unreadable"
        f" {unread}, mismatch 0, elsewhere 0, not_same_spot {tally['pairs two places']}) | "
        + ", ".join(f"{r['kind']} {r['count']}" for r in findings)
        + " |",
    ]


def _ms(values: list[float], percentile: float) -> str:
    return f"{1000 * float(np.percentile(values, percentile)):.0f}" if values else "n/a"


def _made(count: int, cache: Path | None) -> tuple[list[list[Photo]], list[Photo]]:
    """The generator's photos (minutes of CPU), or those it made before for the same count.
    Kept as plain tuples: a pickled class of `__main__` would load nowhere else."""
    if cache is not None and cache.exists():
        requests_kept, warm_kept = pickle.loads(cache.read_bytes())
        if len(requests_kept) == count:
            made = [[Photo(*fields) for fields in photos] for photos in requests_kept]
            return made, [Photo(*fields) for fields in warm_kept]
    made, warm = list(requests(count)), warm_up()
    if cache is not None:
        kept = ([[astuple(p) for p in photos] for photos in made], [astuple(p) for p in warm])
        cache.write_bytes(pickle.dumps(kept))
    return made, warm


async def main(count: int, processes: int, cache: Path | None) -> None:
    started = time.perf_counter()
    made, warm = _made(count, cache)
    print(f"{count} requests made (or loaded) in {time.perf_counter() - started:.0f} s")
    url = await _database()
    try:
        with tempfile.TemporaryDirectory() as root:
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None,
                database_url=url,
                storage_url=f"file://{root}",
                review_processes=processes,
                instance="bench-framing",
            )
            assert settings.pto_reference_pattern
            assert settings.qa_same_spot_min_inliers
            pool = await asyncpg.create_pool(url, min_size=1, max_size=8)
            assert pool is not None
            try:
                store = open_store(settings)
                warm_id, _ = await _store(pool, store, warm, -1)
                truth: dict[uuid.UUID, Photo] = {}
                ids = []
                for n, photos in enumerate(made):
                    message_id, stored = await _store(pool, store, photos, n)
                    ids.append(message_id)
                    truth |= stored
                metrics = Metrics()
                recorder = Recorder()
                metrics.review_check_cpu = recorder  # type: ignore[assignment]
                stage = ReviewStage(pool, store, settings, metrics, Sanitizer(Redactor(())), _no)
                stop = asyncio.Event()
                loops = stage.loops(stop)
                me = psutil.Process()
                await _reviewed(pool, stage, [warm_id])
                recorder.on = True
                cpu, wall = sum(_cpu(me)), time.perf_counter()
                await _reviewed(pool, stage, ids)
                wall, cpu = time.perf_counter() - wall, sum(_cpu(me)) - cpu
                load = os.getloadavg()
                agreement = await _agreement(pool, truth)
                stop.set()
                await stage.stop()
                await asyncio.gather(*loops, return_exceptions=True)
            finally:
                await pool.close()
    finally:
        await _drop(url)
    seconds = recorder.seconds
    photos = len(truth)
    print(
        f"load average during the run (1, 5, 15 min): {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}"
    )
    print()
    print("| check | runs | CPU ms median | CPU ms p90 | CPU ms max |")
    print("|---|---|---|---|---|")
    for check, what in (
        ("pto_reference", "PTO reference read (per PTO photo)"),
        ("same_spot", "same spot (per AVANT/APRES pair)"),
        ("traits", "traits (per photo: decode, hashes, sharpness, light, EXIF)"),
    ):
        values = seconds.get(check, [])
        print(
            f"| {what} | {len(values)} | {_ms(values, 50)} | {_ms(values, 90)} |"
            f" {_ms(values, 100)} |"
        )
    print()
    print(
        f"stage: {photos} photos of {count} requests in {wall:.1f} s: {photos / wall:.2f} photos/s;"
        f" CPU (this process and its review processes) {1000 * cpu / photos:.0f} ms per photo;"
        f" the checks' CPU summed {1000 * sum(map(sum, seconds.values())) / photos:.0f} ms per"
        f" photo; median size {statistics.median(len(p.body) for p in truth.values()) / 1000:.0f}"
        " kB"
    )
    print()
    print("\n".join(agreement), flush=True)


def _no() -> None:
    pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.framing_stage", description=__doc__
    )
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument(
        "--cache", type=Path, help="a file to keep the generated photos in for the next run"
    )
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.processes, args.cache))
