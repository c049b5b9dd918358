"""`worker run` as a real process, for tests that kill it or run several side by side."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.harness import OAUTH_SECRET
from worker.settings import Settings

_ENV_FIELDS = (
    "amqp_url",
    "database_url",
    "storage_url",
    "partners_file",
    "oi_code",
    "retry_initial_seconds",
    "retry_max_seconds",
    "poll_seconds",
    "lease_seconds",
    "shutdown_grace_seconds",
    "concurrency",
    "photo_max_bytes",
    "max_interruptions",
    "metrics_port",
    "metrics_host",
    "pto_reference_pattern",
    "qa_same_spot_min_inliers",
)


def worker_env(settings: Settings, instance: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WORKER_", "AWS_"))}
    for name in _ENV_FIELDS:
        env[f"WORKER_{name.upper()}"] = _text(getattr(settings, name))
    for name in ("aws_endpoint_url", "aws_access_key_id", "aws_secret_access_key", "aws_region"):
        if getattr(settings, name) is not None:
            env[name.upper()] = _text(getattr(settings, name))
    env.update(
        {"WORKER_INSTANCE": instance, "WORKER_LOG_FORMAT": "json", "OCOA_SECRET": OAUTH_SECRET}
    )
    return env


def run_command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`worker ARGS` as an operator runs it, with these settings and none of this process's."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WORKER_")}
    return subprocess.run(
        [sys.executable, "-m", "worker", *args],
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _text(value: object) -> str:
    secret = getattr(value, "get_secret_value", None)
    return str(secret() if secret else value)


class WorkerProcess:
    def __init__(
        self, settings: Settings, log_dir: Path, instance: str, env: dict[str, str] | None = None
    ) -> None:
        self.instance = instance
        self.log_path = log_dir / f"{instance}.log"
        self._env = worker_env(settings, instance) | (env or {})
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "worker", "run"],
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def kill(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)
        self._process.wait(timeout=10)

    def signal(self, signum: int) -> None:
        assert self._process is not None
        self._process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        assert self._process is not None
        return self._process.wait(timeout=timeout)

    def exited(self) -> bool:
        assert self._process is not None
        return self._process.poll() is not None

    def kill_if_running(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self.kill()

    def terminate(self, timeout: float = 40) -> int:
        assert self._process is not None
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
        return self._process.wait(timeout=timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class ProcessFactory:
    """Starts worker processes for a test, and kills those still running when it ends."""

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self.started: list[WorkerProcess] = []

    def __call__(
        self, settings: Settings, instance: str, env: dict[str, str] | None = None
    ) -> WorkerProcess:
        self.started.append(WorkerProcess(settings, self._log_dir, instance, env).start())
        return self.started[-1]

    def kill_all(self) -> None:
        for process in self.started:
            process.kill_if_running()
