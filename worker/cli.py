"""The `worker` command: the worker, its operator commands, the console, the simulator, the demo."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import uvloop

from worker.database.migrations import MigrationError, migrate
from worker.observe.logs import configure_logging
from worker.ops.commands import Adder, Handler, add_operator_commands
from worker.partners.config import load_partners, secrets_of
from worker.resources import ServiceUnavailable
from worker.settings import (
    ConfigError,
    Settings,
    env_name,
    environment,
    load_settings,
    service_fields,
)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        code = args.handler(args)
    except ConfigError as exc:
        print(f"worker: configuration error: {exc}", file=sys.stderr)
        code = 2
    except MigrationError as exc:
        print(f"worker: migration error: {exc}", file=sys.stderr)
        code = 1
    except ServiceUnavailable as exc:
        print(f"worker: cannot reach {exc}", file=sys.stderr)
        code = 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # obstore's Tokio threads can abort the interpreter while it finalises
    # (PyO3/pyo3-async-runtimes#40); everything is closed and flushed by now, so skip finalising.
    os._exit(code)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="worker", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND", title="commands")
    add = _adder(commands)
    logs = ("log_level", "log_format")
    add(
        "migrate",
        _migrate,
        "apply the SQL migrations (safe to run twice, or from two processes)",
        ("database_url", "migrate_lock_timeout_seconds", "migrate_lock_retries", *logs),
    )
    add(
        "run",
        _run,
        "consume CR_STOC messages, fetch photos and review them until SIGTERM or SIGINT"
        " (WORKER_ROLES: ingest, review, or both)",
        service_fields(),
    )
    simulator = add("simulator", _simulator, "serve the simulated OC API (API CRI asynchrone)")
    simulator.add_argument("--host", default="127.0.0.1")
    simulator.add_argument("--port", type=int, default=8080)
    simulator.add_argument("--client-id", help="require this X-Client-Id")
    simulator.add_argument("--token", action="append", default=[], help="accept this bearer token")
    simulator.add_argument(
        "--oauth-client",
        action="append",
        default=[],
        type=_client_credentials,
        metavar="ID:SECRET",
        help="accept these client credentials at /oauth/token",
    )
    simulator.add_argument("--token-ttl", type=float, default=3600.0)
    simulator.add_argument("--rate", type=float, help="answer 429 over this many calls a second")
    simulator.add_argument("--burst", type=int, help="calls at once under --rate")
    send = add(
        "send",
        _send,
        "publish CR_STOC messages to order-flow, as the order flow does",
        ("amqp_url",),
    )
    send.add_argument("--oc", required=True, help="codeOC of the messages")
    for query in ("intervention", "order", "access"):
        send.add_argument(f"--{query}", metavar="REF", help=f"the {query} reference; {{n}}: index")
    send.add_argument("--count", type=int, default=1)
    add_operator_commands(add)
    add(
        "console",
        _console,
        "serve the operators' web console: requests, photos, findings",
        CONSOLE_FIELDS,
    )
    demo = add(
        "demo",
        _demo,
        "run migrations, the simulator and the worker on sample messages",
        tuple(Settings.model_fields),
    )
    demo.add_argument(
        "--timeout", type=float, default=120.0, help="give up after this many seconds"
    )
    demo.add_argument(
        "--console",
        action="store_true",
        help="then serve the console on the demo's data (WORKER_CONSOLE_PORT) until Ctrl-C",
    )
    return parser


def _client_credentials(value: str) -> tuple[str, str]:
    client_id, colon, secret = value.partition(":")
    if not (colon and client_id and secret):
        raise argparse.ArgumentTypeError(f"expected ID:SECRET, got {value!r}")
    return client_id, secret


CONSOLE_FIELDS = (
    "console_host",
    "console_port",
    "console_password",
    "console_trusted_header",
    "console_trusted_proxies",
    "console_actions",
    "console_thumbnail_dir",
    "console_refresh_seconds",
    "database_url",
    "amqp_url",  # replaying a dead letter
    "storage_url",
    "aws_endpoint_url",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_region",
    "instance",
    "log_level",
    "log_format",
)


def _adder(commands: Any) -> Adder:
    def add(
        name: str, handler: Handler, text: str, reads: tuple[str, ...] = ()
    ) -> argparse.ArgumentParser:
        read = ", ".join(env_name(field) for field in reads)
        epilog = f"Settings read (environment, or .env): {read}." if reads else "Reads no setting."
        sub: argparse.ArgumentParser = commands.add_parser(
            name, help=text, description=text, epilog=epilog
        )
        sub.set_defaults(handler=handler)
        return sub

    return add


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("photo-worker")
    except PackageNotFoundError:  # a checkout used without installing it
        return "(not installed)"


def _migrate(_: argparse.Namespace) -> int:
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format, secrets_of(settings, {}))
    return asyncio.run(_apply_migrations(settings))


async def _apply_migrations(settings: Settings) -> int:
    import structlog

    from worker.database.lock_policy import LockPolicy
    from worker.resources import connect_database

    policy = LockPolicy(settings.migrate_lock_timeout_seconds, settings.migrate_lock_retries)
    conn = await connect_database(settings)
    try:
        applied = await migrate(conn, policy=policy)
    finally:
        await conn.close()
    structlog.get_logger().info("migrations applied", applied=applied or "none, up to date")
    return 0


def _run(_: argparse.Namespace) -> int:
    import structlog

    from worker.service import WorkerCrashed, run_worker

    settings = load_settings()
    settings.require_oi_code()
    partners = load_partners(settings.partners_file, environment())
    configure_logging(settings.log_level, settings.log_format, secrets_of(settings, partners))
    try:
        # The grace for running attempts, then a few seconds to flush events and close: 30 s in
        # all by default, whatever state the broker and the database are in.
        limit = settings.shutdown_grace_seconds + 5
        return run_until_signalled(lambda stop: run_worker(settings, partners, stop), limit)
    except WorkerCrashed:
        return 1
    except MigrationError as exc:
        structlog.get_logger().critical("cannot start", error=str(exc))
        return 1
    except ServiceUnavailable as exc:
        structlog.get_logger().critical("cannot start: a service is unavailable", error=str(exc))
        return 1


def run_until_signalled(
    work: Callable[[asyncio.Event], Coroutine[Any, Any, None]], limit: float = 30.0
) -> int:
    """SIGTERM or SIGINT sets the stop flag; a second one exits at once, and so does the process
    if stopping takes more than `limit` seconds (a service that hangs cannot keep it alive)."""

    async def supervise() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            if stop.is_set():
                os._exit(130)
            stop.set()
            loop.call_later(limit, _overdue, limit)

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal)
        await work(stop)
        return 0

    # uvloop: the same asyncio, with its socket and timer work in C (a quarter less CPU per
    # photo in the benchmark).
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(supervise())


def _overdue(limit: float) -> None:
    import structlog

    structlog.get_logger().critical("stopping took too long; exiting now", limit=limit)
    logging.shutdown()
    os._exit(1)


def _simulator(args: argparse.Namespace) -> int:
    from worker.simulator import SimulatorConfig, serve_forever

    clients = dict(args.oauth_client)
    config = SimulatorConfig(
        client_id=args.client_id,
        tokens=frozenset(args.token),
        oauth_clients=clients,
        token_ttl=args.token_ttl,
        rate=args.rate,
        burst=args.burst,
    )
    return run_until_signalled(lambda stop: serve_forever(config, args.host, args.port, stop))


def _send(args: argparse.Namespace) -> int:
    from worker.ops.sender import send_messages

    references = {
        q: getattr(args, q) for q in ("intervention", "order", "access") if getattr(args, q)
    }
    if not references:
        raise ConfigError("give at least one of --intervention, --order, --access")
    settings = load_settings()
    sent = asyncio.run(send_messages(settings, args.oc, references, args.count))
    print("\n".join(sent) if len(sent) <= 20 else f"{len(sent)} messages sent")
    return 0


def _console(_: argparse.Namespace) -> int:
    from worker.console.app import serve_console

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format, secrets_of(settings, {}))
    return run_until_signalled(lambda stop: serve_console(settings, stop))


def _demo(args: argparse.Namespace) -> int:
    from worker.demo.console import serve_demo_console
    from worker.demo.run import run_demo

    code = asyncio.run(run_demo(args.timeout))
    if args.console:
        settings = load_settings()
        log_file = Path("data/demo-console.log")
        run_until_signalled(lambda stop: serve_demo_console(settings, log_file, stop))
    return code
