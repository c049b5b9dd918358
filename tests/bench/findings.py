"""What the photo checks cost (`python -m tests.bench --only findings`).

- throughput with the checks on against off, on the same run: the throughput row's burst (N
  requests of 6 photos of 200 KB) sent to a worker with WORKER_QA_ENABLED true, then false (or
  the reverse: the two take turns going first, after `sync`); photos/s and the worker process's
  CPU seconds (user + system) per photo, steadier than rates on a shared machine;
- the cost per photo of the analysis alone, on a 200 KB and a 5 MB JPEG (`findings_cost.py`);
- the reuse lookup's plan and time with 1,000,000 stored hashes (`findings_cost.py`; `--only
  reuse`, it takes minutes to fill).
"""

from __future__ import annotations

import asyncio
import os
import time

from tests.bench import findings_cost
from tests.bench.environment import BenchEnvironment
from tests.bench.scenarios import Figures, publish

PHOTOS_PER_REQUEST = 6
Row = tuple[str, str, str, str]
TARGET = 10.0  # per cent of throughput the checks may cost (issue 10)


async def checks_on_off(env: BenchEnvironment, requests: int, runs: int) -> Figures:
    """The same burst with the checks on and off, alternating which goes first."""
    figures = Figures()
    for run in range(runs):
        order = ("on", "off") if run % 2 == 0 else ("off", "on")
        for checks in order:
            await env.reset()
            os.sync()
            figures.add(**await _burst(env, requests, run, checks))
        on, off = (figures.values[f"photos_s_{c}"][-1] for c in ("on", "off"))
        cpu_on, cpu_off = (figures.values[f"cpu_ms_{c}"][-1] for c in ("on", "off"))
        done_on, done_off = (figures.values[f"completed_s_{c}"][-1] for c in ("on", "off"))
        figures.add(
            cost=100 * (1 - on / off),
            cpu_cost=100 * (cpu_on / cpu_off - 1),
            completed_ratio=done_on / done_off,  # of the two bursts of one run, side by side
        )
    return figures


async def _burst(env: BenchEnvironment, requests: int, run: int, checks: str) -> dict[str, float]:
    enabled = "true" if checks == "on" else "false"
    worker = env.worker(f"findings-{run}-{checks}", qa_enabled=enabled)
    await worker.ready()
    references = [
        f"QA{run}{checks}-{i}:photos={PHOTOS_PER_REQUEST}:size=200k:format=jpeg"
        for i in range(requests)
    ]
    before = worker.sample()
    started = time.monotonic()
    await publish(env, references)
    await env.wait_completed(requests)
    seconds = time.monotonic() - started
    cpu = worker.sample().cpu_seconds - before.cpu_seconds
    reviewed = {}
    if checks == "on":  # and then until the last review is written
        while await env.count("SELECT count(*) FROM request_reviews WHERE reviewed_at IS NULL"):
            await asyncio.sleep(0.05)
        reviewed = {"reviewed_s": time.monotonic() - started}
    worker.stop()
    photos = requests * PHOTOS_PER_REQUEST
    flagged = await env.count("SELECT count(*) FROM photo_findings")
    return {
        f"photos_s_{checks}": photos / seconds,
        f"cpu_ms_{checks}": 1000 * cpu / photos,
        f"findings_{checks}": flagged,
        f"completed_s_{checks}": seconds,
        **reviewed,
    }


async def measure(env: BenchEnvironment, requests: int, runs: int) -> dict[str, Figures]:
    """Checks on against off, and one photo's analysis (the reuse lookup is `--only reuse`)."""
    return {
        "findings": await checks_on_off(env, requests, runs),
        "findings_analysis": findings_cost.analysis_cost(runs),
    }


def rows(results: dict[str, Figures], requests: int) -> list[Row]:
    rows: list[Row] = []
    if (t := results.get("findings")) is not None:
        rows += _throughput_rows(t, requests)
    if (a := results.get("findings_analysis")) is not None:
        rows += findings_cost.analysis_rows(a)
    if (r := results.get("findings_reuse")) is not None:
        rows += findings_cost.reuse_rows(r)
    return rows


def _throughput_rows(t: Figures, requests: int) -> list[Row]:
    cost, cpu_cost = t.median("cost"), t.median("cpu_cost")
    runs = ", ".join(f"{value:.0f}" for value in t.values["cost"])
    ratio = t.median("completed_ratio")
    ratios = ", ".join(f"{value:.2f}" for value in t.values["completed_ratio"])
    return [
        (
            f"photo checks on / off, {requests} x 6 x 200 KB",
            f"{t.median('photos_s_on'):.0f} / {t.median('photos_s_off'):.0f} photos/s;"
            f" worker CPU {t.median('cpu_ms_on'):.2f} / {t.median('cpu_ms_off'):.2f} ms per photo;"
            f" {t.median('findings_on'):.0f} findings",
            "",
            "",
        ),
        (
            "time to the last photos.completed, checks on against off; then to the last review",
            f"{ratio:.2f} x, median of each run's on / off (runs: {ratios});"
            f" {t.median('completed_s_on'):.1f} s against {t.median('completed_s_off'):.1f} s;"
            f" last review written {t.median('reviewed_s'):.1f} s after publication",
            "within 1.15 x",
            "yes" if ratio <= 1.15 else "no",
        ),
        (
            "cost of the photo checks",
            f"{cost:.0f} % of throughput (runs: {runs} %); +{cpu_cost:.0f} % worker CPU",
            f"< {TARGET:.0f} %",
            "yes" if cost < TARGET else "no",
        ),
    ]
