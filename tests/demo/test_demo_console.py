"""`worker demo --console`: the demo, then the console on its data until Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.services, pytest.mark.slow]


def _wait_for_url(process: subprocess.Popen[str], output: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r"Console on the demo's data: (http://\S+)", output.read_text())
        if found:
            return found.group(1)
        assert process.poll() is None, output.read_text()
        time.sleep(0.2)
    raise AssertionError(f"no console URL after {timeout}s:\n{output.read_text()}")


def test_demo_leaves_the_console_running_on_its_data(
    tmp_path: Path, database_url: str, amqp_url: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WORKER_", "AWS_"))}
    env |= {
        "WORKER_DATABASE_URL": database_url,
        "WORKER_AMQP_URL": amqp_url,
        "WORKER_CONSOLE_PORT": "0",
    }
    output = tmp_path / "out.txt"
    with output.open("w") as stream:
        process = subprocess.Popen(
            [sys.executable, "-m", "worker", "demo", "--console"],
            cwd=tmp_path,
            env=env,
            stdout=stream,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        url = _wait_for_url(process, output, timeout=90)
        with urllib.request.urlopen(f"{url}requests", timeout=10) as page:
            html = page.read().decode()
        assert "Every scenario ended as expected." in output.read_text()
        assert re.search(r"DEMO[0-9A-F]{4}-READY", html), "the demo's requests are listed"
        assert html.count('href="/requests/') >= 8
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
    assert code == 0
    assert "console stopped" in (tmp_path / "data" / "demo-console.log").read_text()
