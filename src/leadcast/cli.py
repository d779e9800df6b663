"""The ``leadcast`` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from leadcast import __version__
from leadcast.protocol.apps import App, AppRegistry, apps_from_env, apps_from_toml
from leadcast.protocol.errors import ConfigError

__all__ = ["main"]

log = logging.getLogger("leadcast")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leadcast",
        description="Real-time lead alerts for property-management marketplaces.",
    )
    parser.add_argument("--version", action="version", version=f"leadcast {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    realtime = commands.add_parser(
        "realtime",
        help="run the Pusher-compatible WebSocket server and HTTP API",
        description=(
            "Serve the Pusher Channels protocol (v7): WebSocket clients at /app/{key} and the "
            "Pusher HTTP API at /apps/{id}/..., on one port. Apps come from --apps-file "
            "(or LEADCAST_APPS_FILE), else from PUSHER_APP_ID, PUSHER_APP_KEY and "
            "PUSHER_APP_SECRET."
        ),
    )
    realtime.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    realtime.add_argument(
        "--port", type=int, default=6001, help="port to bind (default 6001; 0 picks one)"
    )
    realtime.add_argument(
        "--apps-file",
        type=Path,
        default=os.environ.get("LEADCAST_APPS_FILE") or None,
        help="TOML file with [[apps]] tables (see docs/realtime.md)",
    )
    realtime.add_argument(
        "--path-prefix",
        default=os.environ.get("LEADCAST_PATH_PREFIX", ""),
        help="serve under this path prefix, e.g. /ws (pusher-js option wsPath)",
    )
    realtime.add_argument(
        "--log-level",
        default=os.environ.get("LEADCAST_LOG_LEVEL", "info"),
        choices=["debug", "info", "warning", "error"],
    )
    return parser


def load_apps(apps_file: Path | None) -> list[App]:
    """Apps from the file when given, else from the environment.

    Raises:
        ConfigError: the file cannot be read or an app is missing or malformed.
    """
    if apps_file is not None:
        try:
            text = apps_file.read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(f"cannot read apps file {apps_file}: {error.strerror}") from None
        return apps_from_toml(text, str(apps_file))
    return apps_from_env(os.environ)


async def _serve_realtime(registry: AppRegistry, host: str, port: int, prefix: str) -> None:
    from leadcast.realtime.server import RealtimeServer

    loop = asyncio.get_running_loop()
    server = RealtimeServer(registry, path_prefix=prefix, loop=loop)
    try:
        bound_host, bound_port = await server.start(host, port)
    except OSError as error:
        raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    apps = ", ".join(f"{app.id} (key {app.key})" for app in registry)
    print(
        f"leadcast realtime {__version__}: listening on http://{bound_host}:{bound_port}"
        f"{prefix} — WebSocket /app/{{key}}, HTTP API /apps/{{id}}; apps: {apps}",
        flush=True,
    )
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("shutting down: closing %d connections", server.node.connections)
    await server.stop()


def _run(coroutine_factory: object) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is installed on Linux and macOS
        asyncio.run(coroutine_factory)  # type: ignore[arg-type]
    else:
        uvloop.run(coroutine_factory)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        if args.command == "realtime":
            registry = AppRegistry(load_apps(args.apps_file))
            if not 0 <= args.port <= 65535:
                raise ConfigError(f"--port must be 0-65535, not {args.port}")
            _run(_serve_realtime(registry, args.host, args.port, args.path_prefix))
    except ConfigError as error:
        print(f"leadcast {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0
