"""Composition root: everything ``leadcast up`` runs, wired in one place.

One process, one event loop:

- the lead API (FastAPI under uvicorn) with the dashboard's static files at ``/``;
- the real-time server (``leadcast realtime``) for the same app credentials;
- the outbox relay, woken after every committed lead, delivering through the signed Pusher
  HTTP API to the real-time server (or to hosted Pusher, when ``PUSHER_HOST`` says so);
- with ``--demo``, a realistic lead every few seconds.

The database is migrated and the demo accounts are created on start. Nothing here runs at
import time; :func:`serve_up` builds it all from :class:`UpOptions` and the environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from sqlalchemy.engine import Engine
from starlette.staticfiles import StaticFiles

from leadcast import __version__
from leadcast.api import create_api
from leadcast.config import DEVELOPMENT_DEFAULTS, Settings
from leadcast.db import make_engine, migrate
from leadcast.protocol.apps import App, AppRegistry
from leadcast.realtime.server import RealtimeServer
from leadcast.relay import Relay
from leadcast.services.demo import DemoData, demo_lead, ensure_demo_data
from leadcast.services.distribution import Distributor
from leadcast.services.intake import LeadInput

__all__ = ["UpOptions", "default_dashboard_dir", "serve_up", "up_environment"]

log = logging.getLogger("leadcast.up")


@dataclass(frozen=True, slots=True)
class UpOptions:
    host: str = "127.0.0.1"
    port: int = 8001
    ws_port: int = 6001
    realtime: bool = True
    demo: bool = False
    demo_interval: float = 4.0
    demo_accounts: bool = True
    dashboard_dir: Path | None = None


def default_dashboard_dir() -> Path:
    """``dashboard/dist`` of a source checkout."""
    return Path(__file__).resolve().parents[2] / "dashboard" / "dist"


def up_environment(env: Mapping[str, str], options: UpOptions) -> dict[str, str]:
    """The environment ``leadcast up`` reads its settings from.

    The development defaults lie under the real environment. Unless ``PUSHER_HOST`` is set
    (hosted Pusher or another server), the relay publishes to the embedded server.
    """
    merged = {**DEVELOPMENT_DEFAULTS, **env}
    if options.realtime and not env.get("PUSHER_HOST"):
        merged["PUSHER_HOST"] = _loopback(options.host)
        merged["PUSHER_PORT"] = str(options.ws_port)
        merged["PUSHER_SCHEME"] = "http"
    return merged


def _loopback(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket for the API, so a busy port is reported before anything starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError:
        listener.close()
        raise
    listener.listen(1024)
    listener.setblocking(False)
    return listener


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: ``leadcast up`` stops everything together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _banner(options: UpOptions, settings: Settings, demo: DemoData | None, dashboard: bool) -> str:
    base = f"http://{_loopback(options.host)}:{options.port}"
    lines = [f"leadcast {__version__} is up: listening on {base}"]
    lines.append(f"  dashboard   {base}/" if dashboard else "  dashboard   (not built: see README)")
    lines.append(f"  API docs    {base}/api/docs")
    if options.realtime:
        lines.append(f"  real-time   ws://{_loopback(options.host)}:{options.ws_port}/app/{{key}}")
    if settings.broadcast_driver == "pusher":
        lines.append(f"  broadcasts  pusher → {settings.pusher_base_url}")
    else:
        lines.append(f"  broadcasts  {settings.broadcast_driver} (nothing reaches a browser)")
    lines.append(f"  database    {settings.database_url}")
    if demo is not None:
        lines.append("  log in as (demo accounts):")
        for account in (*demo.pms, demo.admin):
            lines.append(f"    {account.email:<28} password {account.password:<16} {account.name}")
        if demo.api_key:
            lines.append(f"  lead-source API key (shown once): {demo.api_key}")
    return "\n".join(lines)


async def _submit_demo_leads(
    engine: Engine, settings: Settings, relay: Relay, every: float
) -> None:
    distributor = Distributor.from_settings(engine, settings, on_commit=relay.wake)
    rng = random.Random()
    while True:
        await asyncio.sleep(every)
        try:
            lead = LeadInput.parse(demo_lead(rng))
            result = await asyncio.to_thread(distributor.submit, lead)
        except Exception:  # keep the demo going; the API reports real errors to callers
            log.exception("demo lead failed")
            continue
        log.info("demo lead %s distributed to %d PMs", result.lead_id, result.recipients)


async def serve_up(
    settings: Settings,
    options: UpOptions,
    stop: asyncio.Event,
    *,
    ready: asyncio.Event | None = None,
) -> None:
    """Run the whole system until ``stop`` is set."""
    engine = make_engine(settings.database_url)
    try:
        await asyncio.to_thread(migrate, engine)
        demo = await asyncio.to_thread(ensure_demo_data, engine) if options.demo_accounts else None
        relay = Relay.from_settings(engine, settings)
        api = create_api(settings, engine=engine, on_commit=relay.wake)
        dashboard = options.dashboard_dir or default_dashboard_dir()
        has_dashboard = (dashboard / "index.html").is_file()
        if has_dashboard:
            api.mount("/", StaticFiles(directory=dashboard, html=True), name="dashboard")
        listener = _listen(options.host, options.port)

        loop = asyncio.get_running_loop()
        realtime: RealtimeServer | None = None
        if options.realtime:
            app = App(
                id=settings.pusher_app_id,
                key=settings.pusher_app_key,
                secret=settings.pusher_app_secret,
            ).check()
            realtime = RealtimeServer(AppRegistry([app]), loop=loop)
            try:
                await realtime.start(options.host, options.ws_port)
            except OSError:
                listener.close()
                raise

        config = uvicorn.Config(api, log_level="warning", access_log=False)
        server = _EmbeddedUvicorn(config)
        tasks = [
            asyncio.create_task(server.serve(sockets=[listener]), name="api"),
            asyncio.create_task(relay.run(stop), name="relay"),
        ]
        if options.demo:
            tasks.append(
                asyncio.create_task(
                    _submit_demo_leads(engine, settings, relay, options.demo_interval), name="demo"
                )
            )
        while not server.started and not tasks[0].done():
            await asyncio.sleep(0.02)
        # Everything built so far lives for the whole run: keep it out of the collector's
        # full passes, which otherwise pause the one event loop for tens of milliseconds.
        gc.freeze()
        print(_banner(options, settings, demo, has_dashboard), flush=True)
        if ready is not None:
            ready.set()
        await stop.wait()
        log.info("shutting down")
        server.should_exit = True
        for task in tasks[2:]:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if realtime is not None:
            await realtime.stop()
        await relay.aclose()
    finally:
        engine.dispose()
