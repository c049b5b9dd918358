"""Private RabbitMQ nodes and PostgreSQL clusters, for the tests that restart them.

The machine's own services are shared with whoever else runs tests on it: a test never stops
them. A private node has its own ports, its own data directory under /tmp (named after the
test session's pid) and is torn down at the end whatever happens; one left by a session that
was killed is torn down by the next session.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.services import free_port

_PREFIX = "pw-node-"
PG_BIN = Path("/usr/lib/postgresql") / sorted(os.listdir("/usr/lib/postgresql"))[-1] / "bin"


def _run(*command: str, env: dict[str, str] | None = None, timeout: float = 120) -> str:
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])}... failed: {done.stderr or done.stdout}")
    return done.stdout


def _own_directory(kind: str, owner: str) -> Path:
    directory = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{kind}-{os.getpid()}-"))
    shutil.chown(directory, owner, owner)
    return directory


class PrivateRabbit:
    """A RabbitMQ node of its own: `start()`, `restart()` (the application), `close()`."""

    def __init__(self) -> None:
        self.directory = _own_directory("rabbit", "rabbitmq")
        self.port = free_port()
        self.node = f"pwtest{os.getpid()}x{self.port}@localhost"
        (self.directory / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\nloopback_users = none\n"
        )
        (self.directory / "enabled_plugins").write_text("[].\n")
        (self.directory / "rabbitmq-env.conf").write_text("")
        (self.directory / "node").write_text(self.node)
        for path in self.directory.iterdir():
            shutil.chown(path, "rabbitmq", "rabbitmq")

    def _env(self) -> dict[str, str]:
        d = self.directory
        return {
            **os.environ,
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq"),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(d / "pid"),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def start(self) -> PrivateRabbit:
        _run("rabbitmq-server", "-detached", env=self._env())
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with contextlib.suppress(RuntimeError):
                self.ctl("await_startup", "--timeout", "5")
                return self
            time.sleep(0.5)
        raise RuntimeError(f"private RabbitMQ node {self.node} did not start")

    def ctl(self, *args: str) -> str:
        return _run("rabbitmqctl", "-n", self.node, *args)

    def vhost(self, name: str) -> str:
        """A vhost of this node for one test; its AMQP URL."""
        self.ctl("add_vhost", name)
        self.ctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        return f"amqp://guest:guest@127.0.0.1:{self.port}/{name}"

    def restart(self, down_for: float = 0.0) -> None:
        """Stop and start the broker application, as a broker restart looks to its clients."""
        self.ctl("stop_app")
        time.sleep(down_for)
        self.ctl("start_app")

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.ctl("stop")
        shutil.rmtree(self.directory, ignore_errors=True)


class PrivatePostgres:
    """A PostgreSQL cluster of its own (trust auth): `start()`, `restart()`, `close()`."""

    def __init__(self) -> None:
        self.directory = _own_directory("pg", "postgres")
        self.port = free_port()
        self.data = self.directory / "data"
        _run(
            "runuser",
            "-u",
            "postgres",
            "--",
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        )

    def _ctl(self, *args: str) -> None:
        _run(
            "runuser",
            "-u",
            "postgres",
            "--",
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-w",
            *args,
        )

    def start(self) -> PrivatePostgres:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self._ctl("-l", str(self.directory / "log"), "-o", options, "start")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def restart(self, down_for: float = 0.0) -> None:
        """A crash and a restart: every connection is cut, uncommitted work is gone."""
        self._ctl("-m", "immediate", "stop")
        time.sleep(down_for)
        self.start()

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self._ctl("-m", "immediate", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)


def remove_stale(alive: object) -> None:
    """Stop and delete the nodes of test sessions that were killed before their teardown."""
    for directory in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*"):
        kind, pid = directory.name.removeprefix(_PREFIX).split("-")[:2]
        if not pid.isdigit() or alive(int(pid)):  # type: ignore[operator]
            continue
        with contextlib.suppress(Exception):
            if kind == "rabbit":
                _run("rabbitmqctl", "-n", (directory / "node").read_text(), "stop", timeout=30)
            else:
                _run(
                    "runuser",
                    "-u",
                    "postgres",
                    "--",
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(directory / "data"),
                    "-m",
                    "immediate",
                    "stop",
                    timeout=30,
                )
        shutil.rmtree(directory, ignore_errors=True)
