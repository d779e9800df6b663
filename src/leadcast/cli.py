"""The ``leadcast`` command line."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leadcast import __version__
from leadcast.config import DEVELOPMENT_DEFAULTS, Settings, SettingsError
from leadcast.protocol.apps import App, AppRegistry, apps_from_env, apps_from_toml
from leadcast.protocol.errors import ConfigError

if TYPE_CHECKING:
    from leadcast.realtime.redis_backend import RedisOptions
    from leadcast.realtime.redis_state import RedisCluster
    from leadcast.realtime.server import HttpLimits

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
        "--webhook-delay",
        type=float,
        default=os.environ.get("LEADCAST_WEBHOOK_DELAY") or "3",
        help="seconds channel_vacated and member_removed webhooks wait for a rejoin (3)",
    )
    realtime.add_argument(
        "--request-timeout",
        type=float,
        metavar="SECONDS",
        default=os.environ.get("LEADCAST_REQUEST_TIMEOUT") or "10",
        help="seconds a connection has to send a complete request or WebSocket handshake (10)",
    )
    realtime.add_argument(
        "--keepalive-timeout",
        type=float,
        metavar="SECONDS",
        default=os.environ.get("LEADCAST_KEEPALIVE_TIMEOUT") or "30",
        help="seconds an idle kept-alive HTTP connection stays open (30)",
    )
    realtime.add_argument(
        "--max-pending-connections",
        type=int,
        metavar="N",
        default=os.environ.get("LEADCAST_MAX_PENDING_CONNECTIONS") or "1000",
        help="connections not yet upgraded to WebSocket at once; more get 503 (1000)",
    )
    _redis_options(realtime)
    _log_level(realtime)

    up = commands.add_parser(
        "up",
        help="run everything: lead API, dashboard, real-time server and outbox relay",
        description=(
            "Start the whole system in one process: the lead API with its dashboard and docs, "
            "the real-time server, and the relay that delivers lead.distributed events. "
            "Migrates the database (DATABASE_URL, default sqlite:///leadcast.db) and creates "
            "demo accounts on first start, then prints how to log in."
        ),
    )
    up.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    up.add_argument("--port", type=int, default=8001, help="API and dashboard port (8001)")
    up.add_argument("--ws-port", type=int, default=6001, help="real-time server port (6001)")
    up.add_argument(
        "--no-realtime",
        action="store_true",
        help="do not start the real-time server (broadcast to PUSHER_HOST or hosted Pusher)",
    )
    up.add_argument("--demo", action="store_true", help="submit a realistic lead every few seconds")
    up.add_argument(
        "--no-demo-accounts",
        action="store_true",
        help="do not create the demo accounts (known passwords) on a database without users: "
        "for anything but a trial, create your admin with `leadcast users create --admin`",
    )
    up.add_argument(
        "--demo-interval",
        type=float,
        default=4.0,
        metavar="SECONDS",
        help="seconds between demo leads with --demo (4; at least 0.05)",
    )
    up.add_argument("--dashboard-dir", type=Path, default=None, help="built dashboard to serve")
    _log_level(up)

    migrate = commands.add_parser(
        "migrate", help="upgrade the database (DATABASE_URL) to the newest schema"
    )
    _log_level(migrate)

    users = commands.add_parser("users", help="manage users (PMs and admins)")
    user_commands = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    create = user_commands.add_parser(
        "create",
        help="create a PM (or, with --admin, an admin)",
        description="Create a user in DATABASE_URL (migrated first if needed).",
    )
    create.add_argument("--email", required=True)
    secret = create.add_mutually_exclusive_group(required=True)
    secret.add_argument("--password", help="8-256 characters (visible in ps and shell history)")
    secret.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input instead",
    )
    create.add_argument("--name", default=None)
    create.add_argument(
        "--admin", action="store_true", help="an admin instead of a PM (takes none of the below)"
    )
    create.add_argument(
        "--property-types", default="", help="comma-separated, e.g. residential,commercial"
    )
    create.add_argument("--zips", default="", help="service ZIP codes, e.g. 78701,78702")
    create.add_argument("--min-units", type=int, default=None)
    create.add_argument("--max-units", type=int, default=None)
    create.add_argument("--daily-cap", type=int, default=None, help="no cap unless given")
    create.add_argument("--max-open-leads", type=int, default=None, help="no cap unless given")
    _log_level(create)
    _outbox_parser(commands)
    return parser


def _outbox_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    outbox = commands.add_parser(
        "outbox",
        help="show undelivered broadcasts; requeue the ones the relay gave up on",
        description=(
            "The outbox holds the lead.distributed events the relay sends. A row the Pusher "
            "HTTP API refuses for good (a 4xx) or that keeps failing for "
            "LEADCAST_RELAY_GIVE_UP_AFTER seconds is marked failed and no longer retried."
        ),
    )
    actions = outbox.add_subparsers(dest="outbox_command", metavar="ACTION", required=True)
    status = actions.add_parser(
        "status",
        help="pending and failed rows, the oldest pending one's age, the last errors",
        description="Print the outbox's pending and failed rows and their latest errors.",
    )
    status.add_argument(
        "--errors", type=int, default=5, metavar="N", help="errors to show of each kind (5)"
    )
    _log_level(status)
    retry = actions.add_parser(
        "retry",
        help="requeue failed rows",
        description=(
            "Put failed rows back in the queue, due at once, with a fresh give-up window. "
            "A running relay (leadcast up) sends them on its next poll. With --id, every "
            "row given must be a failed one, or nothing is requeued."
        ),
    )
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--id",
        dest="ids",
        type=int,
        nargs="+",
        action="extend",
        metavar="N",
        help="the failed rows to requeue (ids as `outbox status` shows them)",
    )
    which.add_argument("--all-failed", action="store_true", help="requeue every failed row")
    _log_level(retry)


def _redis_options(realtime: argparse.ArgumentParser) -> None:
    cluster = realtime.add_argument_group(
        "scaling out",
        "Several servers behind one load balancer share channels, presence and webhooks "
        "through one Redis server. Without --redis-url the server runs alone, in memory.",
    )
    cluster.add_argument(
        "--redis-url",
        metavar="URL",
        default=os.environ.get("LEADCAST_REDIS_URL") or None,
        help="redis://[:password@]host[:port][/db] shared by every server of the cluster",
    )
    cluster.add_argument(
        "--redis-prefix",
        metavar="PREFIX",
        default=os.environ.get("LEADCAST_REDIS_PREFIX") or "leadcast",
        help="starts every Redis key and channel; one per deployment sharing a Redis (leadcast)",
    )
    cluster.add_argument(
        "--redis-node-ttl",
        type=float,
        metavar="SECONDS",
        default=os.environ.get("LEADCAST_REDIS_NODE_TTL") or "10",
        help="a server that stops beating for this long is gone; others remove its members (10)",
    )


def _log_level(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-level",
        default=os.environ.get("LEADCAST_LOG_LEVEL", "info"),
        choices=["debug", "info", "warning", "error"],
    )


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


async def _serve_realtime(
    registry: AppRegistry,
    host: str,
    port: int,
    prefix: str,
    webhook_delay: float,
    limits: HttpLimits,
    redis: RedisOptions | None = None,
) -> None:
    from leadcast.realtime.server import RealtimeServer
    from leadcast.realtime.webhook_http import HttpxPoster
    from leadcast.realtime.webhooks import WebhookOptions, Webhooks

    loop = asyncio.get_running_loop()
    cluster = await _join_cluster(registry, redis) if redis is not None else None
    webhooks = None
    if any(app.webhooks for app in registry):
        webhooks = Webhooks(registry, HttpxPoster(), WebhookOptions(delay=webhook_delay))
        webhooks.start()
    server = RealtimeServer(
        registry,
        path_prefix=prefix,
        loop=loop,
        webhooks=webhooks,
        limits=limits,
        broker=cluster.broker if cluster is not None else None,
        cluster=cluster.state if cluster is not None else None,
    )
    try:
        bound_host, bound_port = await server.start(host, port)
    except OSError as error:
        if webhooks is not None:
            await webhooks.close(grace=0)
        if cluster is not None:
            await cluster.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    if cluster is not None:
        cluster.state.start()
        log.info(
            "cluster: node %s, Redis %s, prefix %r",
            cluster.state.node_id,
            cluster.where,
            redis.prefix if redis is not None else "",
        )
    gc.freeze()  # start-up objects live for the whole run: keep them out of full collections
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
    if cluster is not None:
        await cluster.state.close()
    if webhooks is not None:
        await webhooks.close()
    if cluster is not None:
        await cluster.close()


async def _join_cluster(registry: AppRegistry, options: RedisOptions) -> RedisCluster:
    """Connect to Redis, claim a node id and subscribe; ``ConfigError`` naming what failed."""
    from leadcast.realtime.redis_state import RedisCluster

    return await RedisCluster.open(options, registry)


def _run(main: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is installed on Linux and macOS
        asyncio.run(main)
    else:
        uvloop.run(main)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Third-party chatter (every HTTP request, every migration plugin) only when debugging.
    quiet = logging.DEBUG if args.log_level == "debug" else logging.WARNING
    for name in ("httpx", "httpcore", "alembic"):
        logging.getLogger(name).setLevel(quiet)
    try:
        if args.command == "realtime":
            registry = AppRegistry(load_apps(args.apps_file))
            _check_port("--port", args.port)
            if not 0 <= args.webhook_delay <= 60:
                raise ConfigError(f"--webhook-delay must be 0-60 seconds, not {args.webhook_delay}")
            from leadcast.realtime.server import HttpLimits

            limits = HttpLimits(
                request_timeout=args.request_timeout,
                keepalive_timeout=args.keepalive_timeout,
                max_pending=args.max_pending_connections,
            ).check()
            redis = None
            if args.redis_url:
                from leadcast.realtime.redis_backend import RedisOptions

                redis = RedisOptions(
                    args.redis_url,
                    args.redis_prefix,
                    node_ttl=args.redis_node_ttl,
                    hold=args.webhook_delay,
                ).check()
            _run(
                _serve_realtime(
                    registry,
                    args.host,
                    args.port,
                    args.path_prefix,
                    args.webhook_delay,
                    limits,
                    redis,
                )
            )
        elif args.command == "up":
            return _up(args)
        elif args.command == "migrate":
            from leadcast.db import migrate

            settings = _lead_settings(os.environ)
            migrate(settings.database_url)
            print(f"leadcast migrate: {settings.database_url} is at the newest schema")
        elif args.command == "users":
            return _create_user(args)
        elif args.command == "outbox":
            return _outbox(args)
    except (ConfigError, SettingsError) as error:
        print(f"leadcast {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"leadcast {args.command}: error: {error}", file=sys.stderr)
        return 1
    return 0


def _check_port(option: str, port: int) -> None:
    if not 0 <= port <= 65535:
        raise ConfigError(f"{option} must be 0-65535, not {port}")


def _lead_settings(env: Mapping[str, str]) -> Settings:
    """Settings for commands that only touch the database: no broadcaster needed."""
    return Settings.from_env({**DEVELOPMENT_DEFAULTS, **env})


def _up(args: argparse.Namespace) -> int:
    from leadcast.bootstrap import UpOptions, serve_up, up_environment

    if args.demo_interval < 0.05:
        raise ConfigError("--demo-interval must be at least 0.05 seconds")
    _check_port("--port", args.port)
    _check_port("--ws-port", args.ws_port)
    options = UpOptions(
        host=args.host,
        port=args.port,
        ws_port=args.ws_port,
        realtime=not args.no_realtime,
        demo=args.demo,
        demo_interval=args.demo_interval,
        demo_accounts=not args.no_demo_accounts,
        dashboard_dir=args.dashboard_dir,
    )
    settings = Settings.from_env(up_environment(os.environ, options))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await serve_up(settings, options, stop)

    _run(main())
    return 0


def _create_user(args: argparse.Namespace) -> int:
    from leadcast.db import make_engine, migrate
    from leadcast.services.accounts import Accounts
    from leadcast.services.errors import ServiceError
    from leadcast.services.profiles import Preferences, Role

    pm_only = [
        flag
        for flag, given in (
            ("--property-types", args.property_types),
            ("--zips", args.zips),
            ("--min-units", args.min_units is not None),
            ("--max-units", args.max_units is not None),
            ("--daily-cap", args.daily_cap is not None),
            ("--max-open-leads", args.max_open_leads is not None),
        )
        if given
    ]
    if args.admin and pm_only:
        return _refuse(f"--admin takes no PM preferences, leave out {', '.join(pm_only)}")
    password = args.password
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            return _refuse("--password-stdin: no password on the first line of standard input")
    settings = _lead_settings(os.environ)
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
        preferences = Preferences(
            property_types=_split(args.property_types),
            service_zips=_split(args.zips),
            min_units=args.min_units,
            max_units=args.max_units,
            daily_cap=args.daily_cap,
            max_open_leads=args.max_open_leads,
        )
        user = Accounts(engine).create_user(
            email=args.email,
            password=password,
            name=args.name,
            role=Role.ADMIN if args.admin else Role.PM,
            preferences=None if args.admin else preferences,
        )
    except ServiceError as error:
        details = getattr(error, "fields", {})
        reasons = "; ".join(f"{name}: {why}" for name, why in sorted(details.items()))
        return _refuse(reasons or str(error))
    finally:
        engine.dispose()
    print(f"created {user.role} {user.email} (id {user.id})")
    return 0


def _refuse(message: str) -> int:
    print(f"leadcast users create: error: {message}", file=sys.stderr)
    return 2


def _split(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _outbox(args: argparse.Namespace) -> int:
    from leadcast.db import current_revision, head_revision, make_engine
    from leadcast.relay import deadletters
    from leadcast.services.clock import utc_now

    engine = make_engine(_lead_settings(os.environ).database_url)
    try:
        if current_revision(engine) != head_revision():
            raise ConfigError("the database is not at the newest schema: run `leadcast migrate`")
        now = utc_now()
        if args.outbox_command == "status":
            status = deadletters.outbox_status(engine, errors=max(args.errors, 0))
            print(deadletters.format_status(status, now=now))
            return 0
        if args.all_failed:
            count = deadletters.requeue_all_failed(engine, now=now)
        else:
            count = deadletters.requeue_failed(engine, args.ids, now=now)
    except deadletters.NotFailed as error:
        print(f"leadcast outbox retry: error: {error}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(f"requeued {count} failed row(s); a running relay sends them on its next poll")
    return 0
