"""Run the benchmark: `.venv/bin/python -m tests.bench [--runs 3] [--only throughput,...]`.

Needs the local PostgreSQL and RabbitMQ (as the tests do); makes its own database, vhost and
photo directory, runs the simulated OC API and each worker as separate processes, and prints a
table of medians. `--json FILE` also writes every run's figures; `--markdown FILE` the results
table of this run with its machine, date and command, as docs/benchmarks.md keeps them.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from tests.bench import (
    bigtables,
    bursts,
    catchup,
    findings,
    findings_cost,
    ingest_cpu,
    scenarios,
    table,
)
from tests.bench.apart import run_apart
from tests.bench.environment import CONCURRENCY, BenchEnvironment, dump, machine
from tests.bench.logging_cost import logging_cost
from tests.bench.scenarios import Figures

ALL = (
    "throughput",
    "memory",
    "idle",
    "latency",
    "scaling",
    "catchup",
    "intake",
    "pollhttp",
    "logging",
    "findings",
    "reuse",
    "ingestcpu",
)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="runs of each measurement (median)")
    parser.add_argument("--requests", type=int, default=200, help="requests of the throughput run")
    parser.add_argument(
        "--backlog", type=int, default=100_000, help="messages waiting on a catch-up day"
    )
    parser.add_argument(
        "--baseline", type=Path, help="also run this checkout's worker, for before/after figures"
    )
    parser.add_argument("--idle-window", type=float, default=60.0, help="seconds of CPU measured")
    parser.add_argument(
        "--only",
        default=",".join(ALL),
        help=f"some of {', '.join(ALL)}; or bigtables (its own database, made once: minutes)",
    )
    parser.add_argument("--json", type=Path, help="also write every run's figures here")
    parser.add_argument(
        "--markdown",
        type=Path,
        help="also write this run's table, machine, date and command as Markdown here (- prints)",
    )
    parser.add_argument(
        "--worker-code", type=Path, help="run the `worker` package of another checkout (a path)"
    )
    args = parser.parse_args()
    asyncio.run(run(args))


async def run(args: argparse.Namespace) -> None:
    wanted = args.only.split(",")
    started = time.monotonic()
    results: dict[str, Figures] = {}
    if "logging" in wanted:
        results["logging"] = logging_cost(args.runs)
    if "bigtables" in wanted:
        results["bigtables"] = await bigtables.measure(max(args.runs, 9))
    if set(wanted) <= {"logging", "bigtables"}:
        _publish(results, args, time.monotonic() - started)
        return
    async with BenchEnvironment(args.worker_code) as env:
        plan = await _measure(env, wanted, args, results)
    _publish(results, args, time.monotonic() - started)
    if plan:
        print(f"\nThe reuse lookup's plan:\n{plan}")
    if args.json:
        dump({name: figures.values for name, figures in results.items()}, args.json)


async def _measure(
    env: BenchEnvironment, wanted: list[str], args: argparse.Namespace, results: dict[str, Figures]
) -> str:
    """The measures that need the environment; returns the reuse lookup's plan, if measured."""
    plan = ""
    if "throughput" in wanted:
        results["throughput"] = await bursts.throughput(
            env, args.requests, args.runs, args.baseline
        )
    if "memory" in wanted:
        results["memory"] = await scenarios.large_photos(env, args.runs)
    if "idle" in wanted:
        results |= await scenarios.idle_cost(env, args.runs, args.idle_window, args.baseline)
    if "latency" in wanted:
        results["latency"] = await scenarios.latency(env, 30, args.runs)
    if "scaling" in wanted:
        results["scaling"] = await bursts.scaling(env, args.requests * 2, args.runs)
    if "catchup" in wanted:
        results["catchup"] = await catchup.catch_up(env, args.backlog, args.runs)
    results |= _measure_apart(env, wanted, args.runs)
    if "findings" in wanted:
        results |= await findings.measure(env, args.requests, args.runs)
    if "ingestcpu" in wanted:
        results["ingestcpu"] = await ingest_cpu.measure(
            env, args.requests, args.runs, args.baseline
        )
    if "reuse" in wanted:
        results["findings_reuse"], plan = await findings_cost.reuse_lookup(env.name, args.runs)
    return plan


def _measure_apart(env: BenchEnvironment, wanted: list[str], runs: int) -> dict[str, Figures]:
    apart = {
        "intake": ("tests.bench.intake_alone", env.name, 30_000),
        "pollhttp": ("tests.bench.poll_http", env.simulator_url, 840),
    }
    return {name: run_apart(*how, runs) for name, how in apart.items() if name in wanted}


def _publish(results: dict[str, Figures], args: argparse.Namespace, seconds: float) -> None:
    print(report(results, args, seconds))
    if args.markdown is not None:
        text = table.markdown(_rows(results, args), machine(), _about(args, seconds), sys.argv[1:])
        if str(args.markdown) == "-":
            print("\n" + text)
        else:
            args.markdown.write_text(text, encoding="utf-8")


def _about(args: argparse.Namespace, seconds: float) -> str:
    return (
        f"Medians of {args.runs} runs; per-OC concurrency {CONCURRENCY} (the default);"
        f" whole benchmark {seconds / 60:.1f} min."
    )


def report(results: dict[str, Figures], args: argparse.Namespace, seconds: float) -> str:
    lines = [f"Machine: {machine()}", _about(args, seconds), "", *table.header()]
    for row in _rows(results, args):
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _rows(results: dict[str, Figures], args: argparse.Namespace) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    rows += table.throughput_rows(results, args)
    if (m := results.get("memory")) is not None:
        rows.append(
            (
                "peak RSS, 40 photos of 30 MB",
                f"{m.median('peak_rss_mb'):.0f} MB (idle {m.median('idle_rss_mb'):.0f} MB;"
                f" {m.median('stored_mb'):.0f} MiB stored)",
                "<= 150 MB",
                _met(m.median("peak_rss_mb") <= 150),
            )
        )
    rows += _idle_rows(results, args)
    rows += findings.rows(results, args.requests)
    rows += ingest_cpu.rows(results, args.requests)
    rows += bigtables.rows(results.get("bigtables"))
    if (lat := results.get("latency")) is not None:
        rows.append(
            (
                "latency, first 200 to completed (6 x 200 KB)",
                f"p50 {lat.median('p50_ms'):.0f} ms, p95 {lat.median('p95_ms'):.0f} ms",
                "p95 <= 500 ms",
                _met(lat.median("p95_ms") <= 500),
            )
        )
    rows += table.scaling_rows(results, args)
    rows += table.catchup_rows(results, args)
    rows += table.apart_rows(results)
    if (log := results.get("logging")) is not None:
        rows.append(
            (
                "one log line: ordinary / with two 100 KB values (redacted, cut to 2,000 chars)",
                f"{log.median('short_us'):.0f} us / {log.median('hostile_ms'):.2f} ms",
                "",
                "",
            )
        )
    return rows


def _idle_rows(
    results: dict[str, Figures], args: argparse.Namespace
) -> list[tuple[str, str, str, str]]:
    few, many, later = (results.get(k) for k in ("idle_10", "idle_100k", "idle_100k_later"))
    if few is None or many is None or later is None:
        return []
    window = f"{args.idle_window:.0f} s"
    cpu = many.median("cpu_percent")
    growth = many.median("rss_mb") - few.median("rss_mb")
    return [
        (
            f"idle, 10 pending: CPU over {window}, RSS",
            f"{few.median('cpu_percent'):.2f} %, {few.median('rss_mb'):.0f} MB",
            "",
            "",
        ),
        (
            "idle, 100,000 pending due over the next hour",
            f"{cpu:.2f} % ({many.median('polled'):.0f}"
            f" polls in the window), {many.median('rss_mb'):.0f} MB",
            "<= 1 % of a core",
            _met(cpu <= 1),
        ),
        *table.poll_row(results),
        (
            "idle, 100,000 pending due after the window",
            f"{later.median('cpu_percent'):.2f} %, {later.median('rss_mb'):.0f} MB",
            "<= 1 % of a core",
            _met(later.median("cpu_percent") <= 1),
        ),
        ("idle RSS, 100,000 vs 10 pending", f"{growth:+.1f} MB", "<= +20 MB", _met(growth <= 20)),
    ]


def _met(ok: bool) -> str:
    return "yes" if ok else "no"


if __name__ == "__main__":
    main()
