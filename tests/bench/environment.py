"""What a benchmark needs: databases and vhosts of its own, a photo directory, the simulator
process, and worker processes started and measured from outside."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import asyncpg
import psutil

from tests.services import free_port, rabbitmqctl, wait_for_port
from worker.database.migrations import migrate
from worker.events.topology import EXCHANGE

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
TOKEN = "bench-token"
OC = "BNCH"
CONCURRENCY = 4  # the partners file's default per-OC concurrency
COMPLETED = "SELECT count(*) FROM photo_requests WHERE status = 'completed'"


@dataclass
class Sample:
    cpu_seconds: float
    rss: int
    peak_rss: int


class WorkerProcess:
    """`worker run` in its own process, so that its CPU and memory can be read by psutil."""

    def __init__(self, env: dict[str, str], log_path: Path, code: Path | None = None) -> None:
        """`code`: another checkout whose `worker` package runs (None: this one)."""
        self._log_path = log_path
        with log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "worker", "run"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                # `python -m` puts the working directory first on sys.path, before PYTHONPATH
                # and this checkout's editable install: that directory decides which code runs.
                cwd=code,
            )
        self.process = psutil.Process(self.popen.pid)

    async def ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while '"worker started"' not in self._log_path.read_text(errors="replace"):
            if self.popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start: {self._log_path.read_text()[-2000:]}")
            await asyncio.sleep(0.05)

    def sample(self) -> Sample:
        times = self.process.cpu_times()
        rss = self.process.memory_info().rss
        return Sample(times.user + times.system, rss, _peak_rss(self.popen.pid))

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        self.popen.wait(timeout=60)


def _peak_rss(pid: int) -> int:
    """The kernel's high-water mark of the resident set (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


class Place:
    """A database and a RabbitMQ vhost of their own, for one worker (or one group of them)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dsn = f"postgresql://postgres@127.0.0.1:5432/{name}"
        self.amqp_url = f"amqp://guest:guest@127.0.0.1:5672/{name}"
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "the place is not created"
        return self._pool

    async def create(self) -> Place:
        await _admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        await _admin(f'CREATE DATABASE "{self.name}"')
        conn = await asyncpg.connect(self.dsn)
        await migrate(conn)
        await conn.close()
        self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=4)
        rabbitmqctl("add_vhost", self.name)
        rabbitmqctl("set_permissions", "-p", self.name, "guest", ".*", ".*", ".*")
        await self._bind_events()
        return self

    async def _bind_events(self) -> None:
        """A consumer's queue for the result events, as in production: an event nobody's queue
        takes is returned and kept as unroutable, which is not the path to measure. It keeps
        only the last event (`x-max-length`), so nothing piles up."""
        connection = await aio_pika.connect(self.amqp_url)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(
                EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
            )
            queue = await channel.declare_queue("bench.events", arguments={"x-max-length": 1})
            await queue.bind(exchange, "photos.#")

    async def drop(self) -> None:
        if self._pool is not None:
            await self._pool.close()
        await _admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        rabbitmqctl("delete_vhost", self.name)

    async def reset(self) -> None:
        """Empty the tables and the queues."""
        await self.pool.execute(
            "TRUNCATE photo_requests, photos, photo_request_photos, photo_refusals, photo_findings,"
            " request_attempts, outbox, dead_letters RESTART IDENTITY CASCADE"
        )
        for queue in ("photos.cr_stoc", "photos.cr_stoc.dead"):
            with contextlib.suppress(RuntimeError):  # not declared yet
                rabbitmqctl("purge_queue", "-p", self.name, queue)

    async def count(self, sql: str, *args: object) -> int:
        return int(await self.pool.fetchval(sql, *args))

    async def wait_completed(self, count: int, timeout: float = 600) -> float:
        """Seconds until `count` requests are completed (checked every 20 ms)."""
        started = time.monotonic()
        while await self.count(COMPLETED) < count:
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"fewer than {count} requests completed after {timeout}s")
            await asyncio.sleep(0.02)
        return time.monotonic() - started


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


class BenchEnvironment(Place):
    """The main place, the photo directory, the partners file and the simulator process."""

    def __init__(self, worker_code: Path | None = None) -> None:
        super().__init__(f"bench{os.getpid()}")
        self._worker_code = worker_code
        self.root = Path(tempfile.mkdtemp(prefix="photo-bench-"))
        self.photos = self.root / "photos"
        self.simulator_url = ""
        self._simulator: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> BenchEnvironment:
        await self.create()
        port = free_port()
        self._simulator = subprocess.Popen(
            [sys.executable, "-m", "worker", "simulator", "--port", str(port), "--token", TOKEN],
            stdout=subprocess.DEVNULL,
        )
        wait_for_port(port, timeout=30)
        self.simulator_url = f"http://127.0.0.1:{port}"
        self.set_concurrency(CONCURRENCY)
        return self

    def set_concurrency(self, concurrency: int) -> None:
        """The OC's concurrency in the partners file, for the workers started from now on."""
        (self.root / "partners.toml").write_text(
            f'[oc.{OC}]\nbase_url = "{self.simulator_url}"\ntoken = "{TOKEN}"\n'
            f"concurrency = {concurrency}\n"
        )

    async def __aexit__(self, *_: object) -> None:
        if self._simulator is not None:
            self._simulator.terminate()
            self._simulator.wait(timeout=10)
        await self.drop()
        shutil.rmtree(self.root, ignore_errors=True)

    async def reset(self) -> None:
        await super().reset()
        shutil.rmtree(self.photos, ignore_errors=True)

    def worker(
        self, instance: str, place: Place | None = None, code: Path | None = None, **settings: str
    ) -> WorkerProcess:
        place = place or self
        code = code or self._worker_code
        env = {k: v for k, v in os.environ.items() if not k.startswith("WORKER_")}
        env |= {
            "WORKER_DATABASE_URL": place.dsn,
            "WORKER_AMQP_URL": place.amqp_url,
            "WORKER_STORAGE_URL": f"file://{self.photos}",
            "WORKER_PARTNERS_FILE": str(self.root / "partners.toml"),
            "WORKER_OI_CODE": "OIBN",
            "WORKER_METRICS_PORT": "0",
            "WORKER_METRICS_HOST": "127.0.0.1",
            "WORKER_INSTANCE": instance,
            "WORKER_LOG_FORMAT": "json",
        }
        env |= {f"WORKER_{k.upper()}": v for k, v in settings.items()}
        return WorkerProcess(env, self.root / f"{instance}.log", code)


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    memory = psutil.virtual_memory().total / 2**30
    return f"{psutil.cpu_count()} cores ({cpu}), {memory:.0f} GiB, Python {sys.version.split()[0]}"


def dump(results: object, path: Path) -> None:
    path.write_text(json.dumps(results, indent=2, default=str))
