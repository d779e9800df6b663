"""Benchmark the leads path: distribution throughput, and submit → client-receive latency.

On SQLite and on PostgreSQL, with 1,000 property managers (PMs) whose preferences give every
lead at least 5 eligible PMs (so each lead goes to 5):

a. **service**: leads/s through ``Distributor.submit`` (the service layer), several threads;
   **http**: leads/s through ``POST /api/leads`` (API key) on a running ``leadcast up``,
   concurrent keep-alive clients. Target: ≥ 500 leads/s on PostgreSQL.
b. **latency**: 1,000 PMs connected to ``leadcast up``'s real-time server, each subscribed to
   its own ``private-property-manager.{id}`` with a valid signature; leads are submitted
   through the API at 50/s for 20 s; latency = client receive time − request send time, for
   every delivery. Target: p99 ≤ 100 ms.

See ``bench/README.md`` ("Leads benchmark") for the method. Loopback only; every process and
throwaway database it creates is removed on exit.

Usage::

    .venv/bin/python bench/leads_bench.py [--quick] [--only service,http,latency]
                                          [--db sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import datetime as dt
import glob
import hashlib
import hmac
import importlib.metadata
import itertools
import json
import os
import platform
import pwd
import queue
import random
import re
import resource
import secrets
import shlex
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import free_port, md_table, text_table

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BUILD = BENCH / "build"
RESULTS = BENCH / "results"

HOST = "127.0.0.1"
APP_ID, APP_KEY, APP_SECRET = "leads-bench", "leads-bench-key", "leads-bench-secret"
ENV_POSTGRES = "LEADCAST_BENCH_POSTGRES_URL"
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
SCENARIOS = ("service", "http", "latency")
DBS = ("sqlite", "postgres")

PMS = 1_000
RECIPIENTS = 5  # the default LEADCAST_MAX_RECIPIENTS
ZIPS = tuple(f"787{i:02d}" for i in range(1, 21))
TYPES = ("residential", "multifamily", "condo", "commercial")
ZIPS_PER_PM, TYPES_PER_PM = 5, 2
PM_PASSWORD = "bench-password"
TARGET_RATE = 500.0  # leads/s, PostgreSQL
TARGET_P99_MS = 100.0
WARMUP_SECONDS = 2.0  # of the latency run, at its rate, not measured
MP_THREADS = 4  # threads per process in the multi-process service steps
OTHERS_WARN_PCT = 25.0  # other processes' CPU (% of a core) during a step that earns a warning
EVENT = "lead.distributed"
PAYLOAD_KEYS = {"lead", "score", "notification", "notification_id"}
LEAD_KEYS = {
    "id", "user_lead_id", "property_type", "street_address", "city", "state", "zip_code",
    "number_of_units", "full_name", "created_at", "status",
}  # fmt: skip
BANNER = re.compile(r"is up: listening on http://(?P<host>[\d.]+):(?P<port>\d+)")
REALTIME = re.compile(r"real-time\s+ws://[\d.]+:(?P<port>\d+)/app/")


@dataclass(slots=True)
class Options:
    quick: bool
    only: list[str]
    dbs: list[str]
    python: str
    service_threads: list[int]
    service_processes: list[tuple[int, int]]  # (processes, threads each)
    http_clients: list[int]
    step_seconds: float
    rate: float
    latency_seconds: float
    connect_concurrency: int
    wait_quiet: float
    output: str


# ------------------------------------------------------------------ processes and cleanup

_children: set[subprocess.Popen[str]] = set()
_cleanups: list[Callable[[], None]] = []


def _spawn(cmd: list[str], **kwargs: Any) -> subprocess.Popen[str]:
    proc: subprocess.Popen[str] = subprocess.Popen(
        cmd, text=True, encoding="utf-8", errors="replace", start_new_session=True, **kwargs
    )
    _children.add(proc)
    return proc


def _stop(proc: subprocess.Popen[str], timeout: float = 10.0) -> int | None:
    """SIGTERM one child we started, SIGKILL after ``timeout``; close its pipes."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=5)
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
    _children.discard(proc)
    return proc.returncode


def _cleanup() -> None:
    for proc in list(_children):
        _stop(proc, timeout=3)
    while _cleanups:
        with contextlib.suppress(Exception):
            _cleanups.pop()()


def _on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def raise_nofile(want: int = 65_536) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


def proc_cpu_seconds(pid: int, *, reaped: bool = False) -> float:
    """User + system CPU seconds of a process (0 when it is gone); with ``reaped``, plus
    those of its children that have exited."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def system_ticks() -> tuple[int, int]:
    """(busy, total) ticks of all CPUs, from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()
    ticks = [int(x) for x in fields[1:9]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


POSTMASTER: list[int] = []  # the PostgreSQL server's postmaster pid, when it runs here


def parent_pid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def postgres_cpu() -> float:
    """CPU seconds of the benchmarked PostgreSQL server: its postmaster, including the
    backends it has reaped (pooled connections closed), plus its live children. Other
    clients of the same server count too; other servers do not."""
    if not POSTMASTER:
        return 0.0
    postmaster = POSTMASTER[0]
    total = proc_cpu_seconds(postmaster, reaped=True)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and parent_pid(int(entry.name)) == postmaster:
            total += proc_cpu_seconds(int(entry.name))
    return total


class CpuMeter:
    """CPU use over an interval: the whole machine, this process, given processes and the
    PostgreSQL server being benchmarked (when it runs on this machine)."""

    def __init__(self, pids: dict[str, int] | None = None) -> None:
        self.pids = pids or {}
        self.start = time.monotonic()
        self.system = system_ticks()
        self.own = own_cpu_seconds()
        self.children = {name: proc_cpu_seconds(pid) for name, pid in self.pids.items()}
        self.postgres = postgres_cpu()

    def seconds(self) -> dict[str, float]:
        """CPU seconds used since the start, per process (group)."""
        used = {"bench": own_cpu_seconds() - self.own}
        for name, pid in self.pids.items():
            used[name] = proc_cpu_seconds(pid) - self.children[name]
        used["postgres"] = max(0.0, postgres_cpu() - self.postgres)
        return used

    def read(self, leads: int = 0) -> dict[str, Any]:
        """Percent of one core per process, machine busy %, and CPU ms per lead if given."""
        wall = max(time.monotonic() - self.start, 1e-9)
        busy, total = system_ticks()
        used = self.seconds()
        out: dict[str, Any] = {
            "machine_busy_pct": round(
                100 * (busy - self.system[0]) / max(total - self.system[1], 1), 1
            ),
        }
        for name, seconds in used.items():
            out[f"{name}_cpu_pct"] = round(100 * seconds / wall, 1)
        # Whatever else ran meanwhile, in percent of one core (it competed for the cores).
        ours = sum(used.values()) / wall
        machine = (busy - self.system[0]) / max(total - self.system[1], 1) * (os.cpu_count() or 1)
        out["others_cpu_pct"] = round(max(0.0, 100 * (machine - ours)), 1)
        if leads:
            out["cpu_ms_per_lead"] = {
                name: round(1000 * seconds / leads, 2) for name, seconds in used.items()
            }
        return out


def busy_machine(figures: dict[str, Any], what: str, out: dict[str, Any]) -> None:
    """Warn when other processes took a sizeable share of the CPU during a measurement."""
    if figures.get("others_cpu_pct", 0) > OTHERS_WARN_PCT:
        out["warnings"].append(
            f"other processes used {figures['others_cpu_pct']:.0f} % of a core during {what}"
        )


def wait_quiet(opts: Options, out: dict[str, Any]) -> None:
    """Wait (at most ``--wait-quiet`` s) for the machine to be idle; warn if it stays busy."""
    deadline = time.monotonic() + opts.wait_quiet
    while True:
        first = system_ticks()
        time.sleep(1.0)
        busy, total = system_ticks()
        pct = 100 * (busy - first[0]) / max(total - first[1], 1)
        if pct < 25 or time.monotonic() >= deadline:
            break
    out["machine_busy_before_pct"] = round(pct, 1)
    if pct >= 25:
        out["warnings"].append(f"other processes kept the machine {pct:.0f} % busy before the run")


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


# ------------------------------------------------------------------ data


@dataclass(frozen=True, slots=True)
class PMSpec:
    email: str
    property_types: tuple[str, ...]
    zips: tuple[str, ...]
    min_units: int | None
    max_units: int | None

    def takes(self, lead: dict[str, Any]) -> bool:
        units = lead["number_of_units"]
        return (
            lead["property_type"] in self.property_types
            and lead["zip_code"] in self.zips
            and (self.min_units is None or units >= self.min_units)
            and (self.max_units is None or units <= self.max_units)
        )


def pm_specs(count: int) -> list[PMSpec]:
    """PMs spread over 20 ZIPs and 4 types: about 125 are eligible for any lead."""
    rng = random.Random(20_251_126)
    return [
        PMSpec(
            email=f"pm{i:04d}@bench.leadcast.test",
            property_types=tuple(sorted(rng.sample(TYPES, TYPES_PER_PM))),
            zips=tuple(sorted(rng.sample(ZIPS, ZIPS_PER_PM))),
            min_units=rng.choice((None, 1, 1, 2)),
            max_units=rng.choice((None, 500, 1_000)),
        )
        for i in range(count)
    ]


_FIRST = ("Maria", "James", "Aisha", "Chen", "Olivia", "Diego", "Priya", "Noah", "Fatima", "Liam")
_LAST = ("Garcia", "Smith", "Johnson", "Nguyen", "Patel", "Brown", "Kim", "Lopez", "Okafor")


def leads(count: int, tag: str, seed: int) -> list[dict[str, Any]]:
    """Realistic leads as ``POST /api/leads`` takes them, each with its own ``unique_id``."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        out.append(
            {
                "unique_id": f"{tag}-{i}",
                "full_name": f"{first} {last}",
                "email": f"{first}.{last}{i}@example.com".lower(),
                "phone": f"+1 512 555 {rng.randrange(10_000):04d}",
                "property_type": rng.choice(TYPES),
                "street_address": f"{rng.randint(100, 9999)} Congress Ave",
                "city": "Austin",
                "state": "TX",
                "zip_code": rng.choice(ZIPS),
                "number_of_units": rng.randint(1, 300),
                "source": rng.choice(("website", "referral", "partner", "zillow")),
            }
        )
    return out


def eligibility(specs: list[PMSpec], sample: list[dict[str, Any]]) -> dict[str, Any]:
    """How many PMs are eligible per lead (min over ``sample``): at least 5 is required."""
    by_combo: dict[tuple[str, str], list[PMSpec]] = {}
    for spec in specs:
        for zip_code in spec.zips:
            for kind in spec.property_types:
                by_combo.setdefault((zip_code, kind), []).append(spec)
    counts = [
        sum(1 for s in by_combo.get((lead["zip_code"], lead["property_type"]), []) if s.takes(lead))
        for lead in sample
    ]
    return {"min": min(counts), "median": statistics.median(counts), "max": max(counts)}


# ------------------------------------------------------------------ databases


@contextlib.contextmanager
def throwaway_postgres(workdir: Path) -> Iterator[str]:
    """initdb + pg_ctl a private server on a free port (as ``postgres`` when root)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    found = shutil.which("pg_ctl")
    if found:
        candidates.append(str(Path(found).resolve().parent))
    binaries = next(
        (Path(c) for c in candidates if Path(c, "initdb").exists() and Path(c, "pg_ctl").exists()),
        None,
    )
    if binaries is None:
        raise RuntimeError(f"no PostgreSQL: set {ENV_POSTGRES}, run one on :5432, or install it")
    prefix: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="leads-bench-pg-", dir=workdir))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
        os.chown(root, owner.pw_uid, owner.pw_gid)
    data, port = root / "data", free_port()

    def run(*command: str) -> None:
        done = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(command[0]).name}: {(done.stderr or done.stdout)[-500:]}")

    run(str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
        "--no-locale", "--no-sync")  # fmt: skip
    options = (
        f"-c listen_addresses={HOST} -c port={port} -c unix_socket_directories={root} "
        "-c max_connections=200"
    )
    run(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-o", options, "-w",
        "start")  # fmt: skip

    def stop() -> None:
        with contextlib.suppress(Exception):
            run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)

    _cleanups.append(stop)
    try:
        yield f"postgresql://postgres@{HOST}:{port}/postgres"
    finally:
        if stop in _cleanups:
            _cleanups.remove(stop)
        stop()


@contextlib.contextmanager
def postgres_server(workdir: Path) -> Iterator[tuple[str, str]]:
    """(URL of a server we may create databases on, where it came from)."""
    from sqlalchemy import text
    from sqlalchemy.pool import NullPool

    from leadcast.db import make_engine

    configured = os.environ.get(ENV_POSTGRES, "").strip()
    if configured:
        yield configured, ENV_POSTGRES
        return
    probe = make_engine(LOCAL_POSTGRES, poolclass=NullPool, connect_args={"connect_timeout": 3})
    try:
        with probe.connect() as connection:
            connection.execute(text("SELECT 1"))
        local = True
    except Exception:
        local = False
    finally:
        probe.dispose()
    if local:
        yield LOCAL_POSTGRES, "local server on 127.0.0.1:5432"
        return
    with throwaway_postgres(workdir) as url:
        yield url, "throwaway initdb server"


class Databases:
    """One backend: a seeded template, and a fresh copy of it for each scenario."""

    def __init__(self, kind: str, workdir: Path, server_url: str | None = None) -> None:
        self.kind = kind
        self.workdir = workdir
        self.server_url = server_url
        self.created: list[str] = []
        self.tag = secrets.token_hex(4)
        self.template = self._new_name("tpl")
        self.template_url = self._create(self.template)

    def _new_name(self, what: str) -> str:
        return f"leads_bench_{self.tag}_{what}"

    def _admin(self) -> Any:
        from sqlalchemy.pool import NullPool

        from leadcast.db import make_engine

        assert self.server_url is not None
        return make_engine(self.server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)

    def _url(self, name: str) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.workdir / (name + '.db')}"
        from sqlalchemy.engine import make_url

        assert self.server_url is not None
        url = make_url(self.server_url).set(database=name)
        return url.render_as_string(hide_password=False)

    def _create(self, name: str, template: str | None = None) -> str:
        if self.kind == "sqlite":
            if template is not None:
                shutil.copyfile(self.workdir / (template + ".db"), self.workdir / (name + ".db"))
            return self._url(name)
        from sqlalchemy import text

        admin = self._admin()
        try:
            with admin.connect() as connection:
                clause = f' TEMPLATE "{template}"' if template else ""
                connection.execute(text(f'CREATE DATABASE "{name}"{clause}'))
        finally:
            admin.dispose()
        self.created.append(name)
        if self.drop_all not in _cleanups:
            _cleanups.append(self.drop_all)
        return self._url(name)

    def copy(self, what: str) -> str:
        """A fresh copy of the seeded template."""
        return self._create(self._new_name(what), template=self.template)

    def drop_all(self) -> None:
        if self.kind == "sqlite":
            return
        from sqlalchemy import text

        admin = self._admin()
        try:
            with admin.connect() as connection:
                while self.created:
                    name = self.created.pop()
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()

    def postmaster(self) -> int | None:
        """The server's postmaster pid, when the server runs on this machine."""
        if self.kind == "sqlite":
            return None
        from sqlalchemy import text

        admin = self._admin()
        try:
            with admin.connect() as connection:
                backend = int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())
                parent = parent_pid(backend)
                if parent is None:  # not a local process: a remote server
                    return None
                comm = Path(f"/proc/{backend}/comm").read_text().strip()
                return parent if comm == "postgres" else None
        except (OSError, ValueError):
            return None
        finally:
            admin.dispose()

    def settings(self) -> dict[str, str]:
        """The server's durability settings (they decide what a commit costs)."""
        if self.kind == "sqlite":
            return {"journal_mode": "wal", "synchronous": "normal"}
        from sqlalchemy import text

        admin = self._admin()
        try:
            with admin.connect() as connection:
                found = {"version": str(connection.execute(text("SHOW server_version")).scalar())}
                for name in ("fsync", "synchronous_commit", "max_connections", "shared_buffers"):
                    found[name] = str(connection.execute(text(f"SHOW {name}")).scalar())
            return found
        finally:
            admin.dispose()


@dataclass(slots=True)
class Seed:
    pm_ids: list[int]
    emails: dict[int, str]
    api_key: str
    seconds: float


SEEDED_TABLES = (
    "users", "api_keys", "pm_preferences", "pm_service_zips", "pm_property_types", "pm_coverage",
)  # fmt: skip


def seed(url: str, specs: list[PMSpec]) -> Seed:
    """Migrate and create the PMs (through ``Accounts``) and a lead-source API key."""
    from sqlalchemy import select, text

    from leadcast.db import User, make_engine, migrate
    from leadcast.services.accounts import Accounts
    from leadcast.services.profiles import Preferences
    from leadcast.services.security import ScryptParams

    started = time.monotonic()
    engine = make_engine(url)
    try:
        migrate(engine)
        # Cheap password hashes: only the bench logs in, and seeding stays fast.
        accounts = Accounts(engine, scrypt=ScryptParams(n=16, r=1, p=1))
        for spec in specs:
            accounts.create_user(
                email=spec.email,
                password=PM_PASSWORD,
                name=f"Bench PM {spec.email[2:6]}",
                preferences=Preferences(
                    property_types=spec.property_types,
                    service_zips=spec.zips,
                    min_units=spec.min_units,
                    max_units=spec.max_units,
                ),
            )
        key = accounts.issue_api_key(name="leads bench").key
        with engine.connect() as connection:
            rows = connection.execute(
                select(User.id, User.email).where(User.role == "pm").order_by(User.id)
            ).all()
        if url.startswith("postgresql"):
            # Planner statistics for what the seed filled, as autovacuum keeps them on any
            # live server: a database copied straight after seeding has none, and the plans
            # then depend on whether autovacuum happened to pass before the copy. Not the
            # lead tables: analysed empty, they would be planned as empty (foreign-key checks
            # by sequential scan) until autovacuum passed again, which a live server long
            # past its first leads never sees.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text(f"ANALYZE {', '.join(SEEDED_TABLES)}"))
    finally:
        engine.dispose()
    if url.startswith("sqlite:///"):
        # Fold the WAL into the file, so that copying the file copies the whole database.
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return Seed(
        pm_ids=[row.id for row in rows],
        emails={row.id: row.email for row in rows},
        api_key=key,
        seconds=round(time.monotonic() - started, 1),
    )


def db_counts(url: str) -> dict[str, int]:
    """Rows written, and how many recipients the leads got (min/max)."""
    from sqlalchemy import func, select

    from leadcast.db import Distribution, Lead, NotificationRow, OutboxMessage, make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:

            def count(query: Any) -> int:
                return int(connection.execute(query).scalar() or 0)

            return {
                "leads": count(select(func.count()).select_from(Lead)),
                "distributions": count(select(func.count()).select_from(Distribution)),
                "notifications": count(select(func.count()).select_from(NotificationRow)),
                "outbox": count(select(func.count()).select_from(OutboxMessage)),
                "outbox_pending": count(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.sent_at.is_(None))
                ),
                "min_recipients": count(select(func.min(Lead.recipients))),
                "max_recipients": count(select(func.max(Lead.recipients))),
            }
    finally:
        engine.dispose()


def pg_sessions(url: str) -> int | None:
    """Connections ever opened to this PostgreSQL database (``pg_stat_database.sessions``,
    PostgreSQL 14+); ``None`` on SQLite or an older server."""
    if not url.startswith("postgres"):
        return None
    from sqlalchemy import text
    from sqlalchemy.pool import NullPool

    from leadcast.db import make_engine

    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            found = connection.execute(
                text("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
            ).scalar()
        return int(found) if found is not None else None
    except Exception:
        return None
    finally:
        engine.dispose()


def check_counts(counts: dict[str, int], submitted: int, out: dict[str, Any]) -> None:
    """Every submitted lead stored once, with 5 distributions, notifications and events."""
    out["db"] = counts
    if counts["leads"] != submitted:
        out["problems"].append(f"{counts['leads']} leads stored, {submitted} submitted")
    if counts["min_recipients"] != RECIPIENTS or counts["max_recipients"] != RECIPIENTS:
        out["problems"].append(
            f"leads got {counts['min_recipients']}-{counts['max_recipients']} recipients, "
            f"not {RECIPIENTS} each"
        )
    for name in ("distributions", "notifications", "outbox"):
        if counts[name] != RECIPIENTS * counts["leads"]:
            out["problems"].append(f"{counts[name]} {name} for {counts['leads']} leads")


# ------------------------------------------------------------------ a. service layer


def run_service(url: str, batch: list[dict[str, Any]], opts: Options) -> dict[str, Any]:
    """Leads/s through ``Distributor.submit`` from N threads, for each N of the sweep; then
    from several processes at once (one process is bound by its GIL)."""
    from leadcast.db import make_engine
    from leadcast.services.distribution import Distributor
    from leadcast.services.intake import LeadInput

    out: dict[str, Any] = {"problems": [], "warnings": [], "steps": []}
    wait_quiet(opts, out)
    inputs = [LeadInput.parse(lead) for lead in batch]
    postgres = url.startswith("postgresql")
    pool = {"pool_size": max(opts.service_threads) + 2, "max_overflow": 0} if postgres else {}
    engine = make_engine(url, **pool)
    distributor = Distributor(engine)  # 5 recipients, 50 candidates scored: the defaults
    position = itertools.count()
    submitted = 0
    try:
        for lead in inputs[:100]:  # warm-up: connections, statement caches
            distributor.submit(lead)
            submitted += 1
        next(itertools.islice(position, 99, 100))
        for threads in opts.service_threads:
            step = service_step(distributor, inputs, position, threads, opts.step_seconds)
            del step["_timings"]
            submitted += step["leads"]
            out["steps"].append(step)
    finally:
        engine.dispose()
    for processes, threads in opts.service_processes:
        step = service_processes(url, processes, threads, opts, seed=100 + processes)
        submitted += step["leads"] + step.pop("warmup_leads")
        out["steps"].append(step)
    for step in out["steps"]:
        if step["errors"]:
            out["problems"].append(f"{step['label']}: {step['errors']} errors")
        if step["exhausted"]:
            out["warnings"].append(f"{step['label']} ran out of pre-generated leads")
        busy_machine(step, step["label"], out)
    check_counts(db_counts(url), submitted, out)
    best = max(out["steps"], key=lambda s: s["leads_per_s"])
    out["leads_per_s"] = best["leads_per_s"]
    out["best"] = best["label"]
    return out


def service_processes(
    url: str, processes: int, threads: int, opts: Options, seed: int
) -> dict[str, Any]:
    """Several ``--worker service`` processes, each with its own engine and N threads,
    started together on disjoint leads; leads/s = all their leads ÷ the longest run."""
    count = int(1_500 * opts.step_seconds) + 200
    workers = []
    try:
        for index in range(processes):
            cmd = [opts.python, str(Path(__file__).resolve()), "--worker", "service"]
            proc = _spawn(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            config = {
                "url": url, "tag": f"mp{processes}-{index}", "seed": seed * 100 + index,
                "count": count, "threads": threads, "seconds": opts.step_seconds,
            }  # fmt: skip
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(config) + "\n")
            proc.stdin.flush()
            workers.append(proc)
        for proc in workers:
            worker_line(proc, "READY", 120)
        meter = CpuMeter({f"worker{i}": proc.pid for i, proc in enumerate(workers)})
        for proc in workers:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = [worker_line(proc, "RESULT", opts.step_seconds + 120) for proc in workers]
        cpu = meter.read()
        used = meter.seconds()
    finally:
        for proc in workers:
            _stop(proc, timeout=10)
    leads_done = sum(r["leads"] for r in results)
    elapsed = max(r["seconds"] for r in results)
    timings = [t for r in results for t in r.pop("timings")]
    worker_cpu = sum(v for k, v in used.items() if k.startswith("worker"))
    return {
        "label": f"{processes} processes × {plural(threads, 'thread')}",
        "concurrency": processes * threads,
        "leads": leads_done,
        "warmup_leads": sum(r["warmup"] for r in results),
        "seconds": round(elapsed, 2),
        "leads_per_s": round(leads_done / elapsed, 1),
        "submit_p50_ms": ms(percentile(timings, 50)),
        "submit_p99_ms": ms(percentile(timings, 99)),
        "errors": sum(r["errors"] for r in results),
        "first_error": next((r["first_error"] for r in results if r["first_error"]), None),
        "exhausted": any(r["exhausted"] for r in results),
        "machine_busy_pct": cpu["machine_busy_pct"],
        "bench_cpu_pct": round(sum(cpu[f"worker{i}_cpu_pct"] for i in range(processes)), 1),
        "postgres_cpu_pct": cpu["postgres_cpu_pct"],
        "others_cpu_pct": cpu["others_cpu_pct"],
        "cpu_ms_per_lead": {
            "bench": round(1000 * worker_cpu / max(leads_done, 1), 2),
            "postgres": round(1000 * used["postgres"] / max(leads_done, 1), 2),
        },
        "workers": results,
    }


def worker_line(proc: subprocess.Popen[str], prefix: str, timeout: float) -> dict[str, Any]:
    """The next ``PREFIX {json}`` line of a worker, waiting at most ``timeout`` s."""
    assert proc.stdout is not None
    found: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        found.put(proc.stdout.readline())

    threading.Thread(target=read, daemon=True).start()
    try:
        line = found.get(timeout=timeout)
    except queue.Empty:
        raise RuntimeError(f"worker {proc.pid}: no {prefix} within {timeout:.0f} s") from None
    if not line.startswith(prefix + " "):
        raise RuntimeError(f"worker {proc.pid}: expected {prefix}, got {line[:300]!r}")
    value: dict[str, Any] = json.loads(line[len(prefix) + 1 :])
    return value


def service_worker() -> int:
    """``--worker service``: config JSON on stdin; READY after warming up; ``go``; RESULT."""
    from leadcast.db import make_engine
    from leadcast.services.distribution import Distributor
    from leadcast.services.intake import LeadInput

    config = json.loads(sys.stdin.readline())
    threads = int(config["threads"])
    inputs = [LeadInput.parse(x) for x in leads(config["count"], config["tag"], config["seed"])]
    postgres = config["url"].startswith("postgresql")
    engine = make_engine(config["url"], **({"pool_size": threads + 2} if postgres else {}))
    try:
        distributor = Distributor(engine)
        warmup = 50
        for lead in inputs[:warmup]:
            distributor.submit(lead)
        print("READY {}", flush=True)
        if sys.stdin.readline().strip() != "go":
            return 1
        step = service_step(
            distributor, inputs, itertools.count(warmup), threads, float(config["seconds"])
        )
    finally:
        engine.dispose()
    step["warmup"] = warmup
    step["timings"] = step.pop("_timings")
    print("RESULT " + json.dumps(step), flush=True)
    return 0


def service_step(
    distributor: Any, inputs: list[Any], position: Iterator[int], threads: int, seconds: float
) -> dict[str, Any]:
    timings: list[list[float]] = [[] for _ in range(threads)]
    counters: list[Counter[int]] = [Counter() for _ in range(threads)]
    errors: list[str] = []
    exhausted = threading.Event()
    start = time.monotonic()
    deadline = start + seconds

    def work(mine: list[float], recipients: Counter[int]) -> None:
        while time.monotonic() < deadline:
            index = next(position)
            if index >= len(inputs):
                exhausted.set()
                return
            began = time.perf_counter()
            try:
                result = distributor.submit(inputs[index])
            except Exception as error:
                errors.append(f"{type(error).__name__}: {error}")
                continue
            mine.append(time.perf_counter() - began)
            recipients[result.recipients] += 1

    meter = CpuMeter()
    workers = [
        threading.Thread(target=work, args=pair, daemon=True)
        for pair in zip(timings, counters, strict=True)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=seconds + 120)
    elapsed = time.monotonic() - start
    done = [t for mine in timings for t in mine]
    return {
        "label": plural(threads, "thread"),
        "concurrency": threads,
        "leads": len(done),
        "seconds": round(elapsed, 2),
        "leads_per_s": round(len(done) / elapsed, 1),
        "submit_p50_ms": ms(percentile(done, 50)),
        "submit_p99_ms": ms(percentile(done, 99)),
        "recipients": dict(sorted(sum(counters, Counter[int]()).items())),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "exhausted": exhausted.is_set(),
        **meter.read(len(done)),
        "_timings": done,
    }


# ------------------------------------------------------------------ leadcast up


class UpServer:
    """A ``python -m leadcast up`` subprocess on free loopback ports."""

    def __init__(self, url: str, opts: Options, log_path: Path) -> None:
        self.api_port = self.ws_port = free_port()
        while self.ws_port == self.api_port:
            self.ws_port = free_port()
        self.lines: deque[str] = deque(maxlen=2_000)
        self.tracebacks = 0
        self.ready = threading.Event()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PUSHER_", "LEADCAST_", "BROADCAST_")) and k != "DATABASE_URL"
        }
        env.update(
            DATABASE_URL=url,
            PUSHER_APP_ID=APP_ID,
            PUSHER_APP_KEY=APP_KEY,
            PUSHER_APP_SECRET=APP_SECRET,
            PYTHONUNBUFFERED="1",
        )
        self.command = [opts.python, "-m", "leadcast", "up", "--host", HOST]
        self.command += ["--port", str(self.api_port), "--ws-port", str(self.ws_port)]
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.proc = _spawn(
            self.command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self._pump = threading.Thread(target=self._read, daemon=True)
        self._pump.start()
        if not self.ready.wait(90) or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError(f"leadcast up did not come up within 90 s:\n{self.tail()}")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.log_path.open("w") as log:
            for line in self.proc.stdout:
                log.write(line)
                log.flush()
                self.lines.append(line)
                if line.startswith("Traceback"):
                    self.tracebacks += 1
                if match := BANNER.search(line):
                    self.api_port = int(match["port"])
                if match := REALTIME.search(line):
                    self.ws_port = int(match["port"])
                    self.ready.set()
        self.ready.set()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def tail(self, n: int = 40) -> str:
        return "".join(list(self.lines)[-n:])

    def stop(self) -> int | None:
        code = _stop(self.proc)
        self._pump.join(timeout=5)
        return code

    def report(self, out: dict[str, Any]) -> None:
        """Stop it, recording how it ended."""
        alive = self.proc.poll() is None
        code = self.stop()
        out["server_exit"] = code
        out["server_log"] = str(self.log_path.relative_to(ROOT))
        if not alive:
            out["problems"].append(f"leadcast up died during the run (exit {code})")
        elif code != 0:
            out["problems"].append(f"leadcast up exited with {code} after SIGTERM")
        if self.tracebacks:
            out["problems"].append(f"leadcast up logged {self.tracebacks} traceback(s)")
            out["server_log_tail"] = self.tail()


class HttpConn:
    """One keep-alive HTTP/1.1 connection sending pre-built requests (no pipelining)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> HttpConn:
        reader, writer = await asyncio.open_connection(HOST, port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await self.reader.readexactly(length) if length else b""
        return status, body

    def close(self) -> None:
        self.writer.close()


def lead_request(lead: dict[str, Any], port: int, api_key: str) -> bytes:
    body = json.dumps(lead, separators=(",", ":")).encode()
    head = (
        f"POST /api/leads HTTP/1.1\r\nHost: {HOST}:{port}\r\nX-Api-Key: {api_key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def run_loop(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


# ------------------------------------------------------------------ a. HTTP API


def run_http(url: str, batch: list[dict[str, Any]], key: str, opts: Options) -> dict[str, Any]:
    """Leads/s through ``POST /api/leads`` on ``leadcast up``, for each client count."""
    out: dict[str, Any] = {"problems": [], "warnings": [], "steps": []}
    wait_quiet(opts, out)
    server = UpServer(url, opts, BUILD / "logs" / f"leads-http-{db_of(url)}.log")
    out["server_command"] = shlex.join(server.command)
    submitted = 0
    try:
        requests = [lead_request(lead, server.api_port, key) for lead in batch]
        position = itertools.count()

        async def main() -> None:
            nonlocal submitted
            warm = await http_step(server, requests[:100], itertools.count(), 4, 60.0)
            submitted += warm["leads"]
            next(itertools.islice(position, 99, 100))
            for clients in opts.http_clients:
                sessions = pg_sessions(url)
                step = await http_step(server, requests, position, clients, opts.step_seconds)
                if sessions is not None:
                    # New PostgreSQL connections the server opened during the step (pool
                    # churn), less the one this count itself opens.
                    step["pg_new_connections"] = (pg_sessions(url) or sessions) - sessions - 1
                submitted += step["leads"]
                out["steps"].append(step)
                if step["errors"]:
                    out["problems"].append(
                        f"{clients} clients: {step['errors']} errors ({step['first_error']})"
                    )
                if step["exhausted"]:
                    out["warnings"].append(f"{clients} clients ran out of pre-generated leads")
                busy_machine(step, step["label"], out)

        run_loop(main())
        # The relay publishes every lead's events to the embedded real-time server; a
        # backlog here means it did not keep up with the API.
        started = time.monotonic()
        pending = db_counts(url)["outbox_pending"]
        out["outbox_pending_after_run"] = pending
        while pending and time.monotonic() - started < 60:
            time.sleep(0.2)
            pending = db_counts(url)["outbox_pending"]
        out["outbox_drain_s"] = round(time.monotonic() - started, 2)
        if pending:
            out["problems"].append(f"{pending} outbox rows still unsent 60 s after the run")
    finally:
        server.report(out)
    check_counts(db_counts(url), submitted, out)
    best = max(out["steps"], key=lambda s: s["leads_per_s"])
    out["leads_per_s"] = best["leads_per_s"]
    out["best"] = best["label"]
    return out


async def http_step(
    server: UpServer, requests: list[bytes], position: Iterator[int], clients: int, seconds: float
) -> dict[str, Any]:
    timings: list[float] = []
    errors: list[str] = []
    exhausted = False
    conns = [await HttpConn.open(server.api_port) for _ in range(clients)]
    meter = CpuMeter({"server": server.pid})
    start = time.monotonic()
    deadline = start + seconds

    async def client(slot: int) -> None:
        nonlocal exhausted
        while time.monotonic() < deadline:
            index = next(position)
            if index >= len(requests):
                exhausted = True
                return
            began = time.perf_counter()
            try:
                status, body = await conns[slot].request(requests[index])
            except (asyncio.IncompleteReadError, OSError) as error:
                errors.append(f"connection lost: {type(error).__name__}: {error}")
                conns[slot].close()
                conns[slot] = await HttpConn.open(server.api_port)
                continue
            if status == 201:
                timings.append(time.perf_counter() - began)
            else:
                errors.append(f"HTTP {status}: {body[:200]!r}")

    try:
        await asyncio.wait_for(
            asyncio.gather(*(client(slot) for slot in range(len(conns)))), timeout=seconds + 120
        )
    finally:
        for conn in conns:
            conn.close()
    elapsed = time.monotonic() - start
    return {
        "label": plural(clients, "client"),
        "concurrency": clients,
        "leads": len(timings),
        "seconds": round(elapsed, 2),
        "leads_per_s": round(len(timings) / elapsed, 1),
        "submit_p50_ms": ms(percentile(timings, 50)),
        "submit_p99_ms": ms(percentile(timings, 99)),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "exhausted": exhausted,
        **meter.read(len(timings)),
    }


# ------------------------------------------------------------------ b. latency


def channel_for(pm_id: int) -> str:
    return f"private-property-manager.{pm_id}"


def channel_auth(socket_id: str, channel: str) -> str:
    """``key:HMAC-SHA256(secret, "socket_id:channel")``, as /api/broadcasting/auth signs."""
    to_sign = f"{socket_id}:{channel}".encode()
    return f"{APP_KEY}:{hmac.new(APP_SECRET.encode(), to_sign, hashlib.sha256).hexdigest()}"


def check_signatures(server: UpServer, seeded: Seed, count: int = 3) -> str:
    """Log a few PMs in and compare /api/broadcasting/auth's answer with our own signature."""
    base = f"http://{HOST}:{server.api_port}"
    for pm_id in seeded.pm_ids[:count]:
        login = json.dumps({"email": seeded.emails[pm_id], "password": PM_PASSWORD}).encode()
        request = urllib.request.Request(
            f"{base}/api/auth/login", login, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            token = json.loads(response.read())["token"]
        socket_id, channel = "1234.5678", channel_for(pm_id)
        form = urllib.parse.urlencode({"socket_id": socket_id, "channel_name": channel}).encode()
        request = urllib.request.Request(
            f"{base}/api/broadcasting/auth", form, {"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            auth = json.loads(response.read())["auth"]
        if auth != channel_auth(socket_id, channel):
            raise RuntimeError(f"/api/broadcasting/auth signed {channel} differently: {auth}")
    return f"ok: /api/broadcasting/auth signs like the client pool ({count} PMs checked)"


class WsPool:
    """The client pool: a worker process (``--worker ws-pool``) holding every PM's socket."""

    def __init__(self, opts: Options, ws_port: int, pm_ids: list[int]) -> None:
        cmd = [opts.python, str(Path(__file__).resolve()), "--worker", "ws-pool"]
        self.proc = _spawn(
            cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        config = {"port": ws_port, "pm_ids": pm_ids, "concurrency": opts.connect_concurrency}
        self.proc.stdin.write(json.dumps(config) + "\n")
        self.proc.stdin.flush()
        self.stderr: list[str] = []
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def expect(self, prefix: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(
                    f"client pool: no {prefix} within {timeout:.0f} s; stderr:\n"
                    + "".join(self.stderr[-20:])
                ) from None
            if line is None:
                raise RuntimeError("client pool exited:\n" + "".join(self.stderr[-20:]))
            if line.startswith(prefix + " "):
                value: dict[str, Any] = json.loads(line[len(prefix) + 1 :])
                return value

    def command(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def wait_received(self, expected: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while True:
            self.command("count")
            got = int(self.expect("COUNT", 10)["received"])
            if got >= expected or time.monotonic() > deadline:
                return got
            time.sleep(0.1)

    def close(self) -> None:
        _stop(self.proc, timeout=5)


def run_latency(
    url: str, seeded: Seed, batch: list[dict[str, Any]], opts: Options
) -> dict[str, Any]:
    """1,000 PMs connected; leads at ``--rate``/s through the API; per-delivery latency."""
    out: dict[str, Any] = {"problems": [], "warnings": []}
    wait_quiet(opts, out)
    server = UpServer(url, opts, BUILD / "logs" / f"leads-latency-{db_of(url)}.log")
    out["server_command"] = shlex.join(server.command)
    pool: WsPool | None = None
    sent: dict[int, tuple[float, float, int]] = {}
    try:
        out["signature_check"] = check_signatures(server, seeded)
        pool = WsPool(opts, server.ws_port, seeded.pm_ids)
        ready = pool.expect("READY", 180)
        out["connected"] = ready["subscribed"]
        out["connect_s"] = ready["seconds"]
        if ready["subscribed"] != len(seeded.pm_ids):
            out["problems"].append(
                f"only {ready['subscribed']} of {len(seeded.pm_ids)} clients subscribed: "
                f"{ready.get('first_error')}"
            )
        warm, count = int(opts.rate * WARMUP_SECONDS), int(opts.rate * opts.latency_seconds)
        requests = [lead_request(lead, server.api_port, seeded.api_key) for lead in batch]
        if len(requests) < warm + count:
            raise RuntimeError(f"{len(requests)} leads given, {warm + count} needed")
        # Warm-up at the same rate (pools fill, statements get prepared), not measured.
        warmup = run_loop(submit_at_rate(server.api_port, requests[:warm], opts.rate))
        meter = CpuMeter({"server": server.pid, "pool": pool.proc.pid})
        submit = run_loop(submit_at_rate(server.api_port, requests[warm:][:count], opts.rate))
        out.update(meter.read(count))
        busy_machine(out, "the measured run", out)
        measured = submit.pop("sent")
        sent = {**warmup.pop("sent"), **measured}
        out["warmup"] = warmup
        out["submit"] = submit
        expected = sum(recipients for _, _, recipients in sent.values())
        received = pool.wait_received(expected, 15)
        pool.command("stop")
        result = pool.expect("RESULT", 60)
    finally:
        if pool is not None:
            pool.close()
        server.report(out)
    out["pool"] = {k: v for k, v in result.items() if k != "records"}
    score_latency(result["records"], sent, set(measured), expected, received, out)
    check_counts(db_counts(url), len(sent), out)
    if out["db"]["outbox_pending"]:
        out["problems"].append(f"{out['db']['outbox_pending']} outbox rows never sent")
    return out


async def submit_at_rate(port: int, requests: list[bytes], rate: float) -> dict[str, Any]:
    """Open loop: request i is sent at start + i/rate on an idle connection (more if busy)."""
    idle: asyncio.Queue[HttpConn] = asyncio.Queue()
    for _ in range(8):
        idle.put_nowait(await HttpConn.open(port))
    opened = 8
    sent: dict[int, tuple[float, float, int]] = {}
    lateness: list[float] = []
    responses: list[float] = []
    errors: list[str] = []
    lags = LoopLag()
    lag_task = asyncio.create_task(lags.run())

    async def one(raw: bytes, conn: HttpConn) -> None:
        began = time.monotonic()
        try:
            status, body = await conn.request(raw)
        except (asyncio.IncompleteReadError, OSError) as error:
            errors.append(f"connection lost: {type(error).__name__}: {error}")
            conn.close()
            idle.put_nowait(await HttpConn.open(port))
            return
        answered = time.monotonic()
        idle.put_nowait(conn)
        if status != 201:
            errors.append(f"HTTP {status}: {body[:200]!r}")
            return
        reply = json.loads(body)
        sent[int(reply["id"])] = (began, answered, int(reply["recipients"]))
        responses.append(answered - began)

    tasks = []
    start = time.monotonic()
    for i, raw in enumerate(requests):
        due = start + i / rate
        if (wait := due - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        if idle.empty() and opened < 64:
            idle.put_nowait(await HttpConn.open(port))
            opened += 1
        conn = await idle.get()
        lateness.append(time.monotonic() - due)
        tasks.append(asyncio.create_task(one(raw, conn)))
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    elapsed = time.monotonic() - start
    lag_task.cancel()
    while not idle.empty():
        idle.get_nowait().close()
    return {
        "sent": sent,
        "leads": len(requests),
        "seconds": round(elapsed, 2),
        "rate_per_s": round(len(requests) / elapsed, 1),
        "connections": opened,
        "response_p50_ms": ms(percentile(responses, 50)),
        "response_p99_ms": ms(percentile(responses, 99)),
        "send_late_p99_ms": ms(percentile(lateness, 99)),
        "send_late_max_ms": ms(max(lateness, default=0.0)),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "loop_lag_p99_ms": ms(percentile(lags.samples, 99)),
        "loop_lag_max_ms": ms(max(lags.samples, default=0.0)),
    }


def score_latency(
    records: list[list[Any]],
    sent: dict[int, tuple[float, float, int]],
    measured: set[int],
    expected: int,
    received: int,
    out: dict[str, Any],
) -> None:
    """Latency of each measured delivery, and everything that must not happen (losses,
    duplicates) over all of them, warm-up included."""
    latencies, after_response = [], []
    delivered = 0
    per_lead: Counter[int] = Counter()
    seen: set[int] = set()
    duplicates = stale = 0
    for _pm, lead_id, user_lead_id, t_recv in records:
        if lead_id not in sent:
            stale += 1
            continue
        if user_lead_id in seen:
            duplicates += 1
            continue
        seen.add(user_lead_id)
        per_lead[lead_id] += 1
        delivered += 1
        if lead_id in measured:
            began, answered, _ = sent[lead_id]
            latencies.append(t_recv - began)
            after_response.append(t_recv - answered)
    short = sum(1 for lead_id, (_, _, n) in sent.items() if per_lead[lead_id] < n)
    out.update(
        measured_deliveries=len(latencies),
        deliveries=delivered,
        expected_deliveries=expected,
        missing=expected - delivered,
        duplicates=duplicates,
        stale=stale,
        leads_short_of_recipients=short,
        latency_p50_ms=ms(percentile(latencies, 50)),
        latency_p90_ms=ms(percentile(latencies, 90)),
        latency_p99_ms=ms(percentile(latencies, 99)),
        latency_max_ms=ms(max(latencies, default=None)),
        after_response_p50_ms=ms(percentile(after_response, 50)),
        after_response_p99_ms=ms(percentile(after_response, 99)),
    )
    for name in ("missing", "duplicates", "stale"):
        if out[name]:
            out["problems"].append(f"{name}={out[name]}")
    pool = out.get("pool", {})
    for name in ("misrouted", "bad_payloads", "other_frames", "closed", "errors"):
        if pool.get(name):
            out["problems"].append(f"client pool: {name}={pool[name]} ({pool.get('first_error')})")
    if received < expected:
        out["problems"].append(f"{received} of {expected} deliveries arrived within 15 s")
    if out["submit"]["errors"]:
        out["problems"].append(f"{out['submit']['errors']} submissions failed")
    if (pool.get("loop_lag_max_ms") or 0) > 20 or (out["submit"]["loop_lag_max_ms"] or 0) > 20:
        out["warnings"].append("a client event loop lagged over 20 ms: clients may add latency")


class LoopLag:
    """How late a 5 ms sleep wakes up: the event loop's own delay, in seconds."""

    def __init__(self) -> None:
        self.samples: list[float] = []

    async def run(self) -> None:
        while True:
            began = time.monotonic()
            await asyncio.sleep(0.005)
            self.samples.append(max(0.0, time.monotonic() - began - 0.005))


# ------------------------------------------------------------------ the client pool worker


def ws_pool_worker() -> int:
    """``--worker ws-pool``: config JSON on stdin, then commands count / stop."""
    config = json.loads(sys.stdin.readline())
    return int(run_loop(ws_pool(config)))


async def ws_pool(config: dict[str, Any]) -> int:
    from websockets.asyncio.client import connect

    port, pm_ids = int(config["port"]), [int(i) for i in config["pm_ids"]]
    uri = f"ws://{HOST}:{port}/app/{APP_KEY}?protocol=7&client=leads-bench&version=1.0"
    gate = asyncio.Semaphore(int(config["concurrency"]))
    records: list[tuple[int, float, str]] = []
    stats: Counter[str] = Counter()
    first_error: list[str] = []
    sockets: list[Any] = []
    subscribed = 0
    stopping = False

    def fail(what: str, error: object) -> None:
        stats[what] += 1
        if not first_error:
            first_error.append(f"{what}: {error}")

    async def client(pm_id: int) -> None:
        nonlocal subscribed
        channel = channel_for(pm_id)
        try:
            async with gate:
                ws = await connect(
                    uri, compression=None, ping_interval=None, open_timeout=60,
                    close_timeout=2, max_queue=None,
                )  # fmt: skip
                sockets.append(ws)
                hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
                socket_id = json.loads(hello["data"])["socket_id"]
                auth = channel_auth(socket_id, channel)
                subscribe = {"channel": channel, "auth": auth}
                await ws.send(json.dumps({"event": "pusher:subscribe", "data": subscribe}))
                reply = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if reply.get("event") != "pusher_internal:subscription_succeeded":
                    raise RuntimeError(f"subscription refused: {reply}")
            subscribed += 1
        except Exception as error:
            fail("errors", f"PM {pm_id}: {type(error).__name__}: {error}")
            return
        try:
            async for raw in ws:
                now = time.monotonic()
                if '"lead.distributed"' in raw:
                    records.append((pm_id, now, raw))  # parsed after the run
                elif '"pusher:ping"' in raw:
                    await ws.send('{"event":"pusher:pong","data":{}}')
                else:
                    fail("other_frames", raw[:200])
        except Exception as error:
            if not stopping:
                fail("closed", f"PM {pm_id}: {type(error).__name__}: {error}")

    started = time.monotonic()
    tasks = [asyncio.create_task(client(pm_id)) for pm_id in pm_ids]
    while subscribed + stats["errors"] < len(pm_ids) and time.monotonic() - started < 150:
        await asyncio.sleep(0.05)
    connect_s = round(time.monotonic() - started, 2)
    lags = LoopLag()
    lag_task = asyncio.create_task(lags.run())
    meter = CpuMeter()
    ready = {"subscribed": subscribed, "seconds": connect_s, "first_error": first_error[:1]}
    print("READY " + json.dumps(ready), flush=True)
    while True:
        command = (await asyncio.to_thread(sys.stdin.readline)).strip()
        if command == "count":
            print("COUNT " + json.dumps({"received": len(records)}), flush=True)
        elif command in ("stop", ""):
            break
    cpu = meter.read()
    stopping = True
    lag_task.cancel()
    for ws in sockets:
        with contextlib.suppress(Exception):
            await ws.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    parsed: list[list[Any]] = []
    for pm_id, received_at, raw in records:
        try:
            message = json.loads(raw)
            payload = json.loads(message["data"])
            lead = payload["lead"]
            if message.get("channel") != channel_for(pm_id):
                fail("misrouted", f"{message.get('channel')} on PM {pm_id}'s socket")
            text = message["data"]
            if set(payload) != PAYLOAD_KEYS or set(lead) != LEAD_KEYS or "@" in text:
                fail("bad_payloads", text[:300])
            parsed.append([pm_id, int(lead["id"]), int(lead["user_lead_id"]), received_at])
        except Exception as error:
            fail("bad_payloads", f"{type(error).__name__}: {error}: {raw[:200]}")
    result = {
        "records": parsed,
        "clients": len(pm_ids),
        "subscribed": subscribed,
        "connect_s": connect_s,
        "first_error": first_error[0] if first_error else None,
        "loop_lag_p99_ms": ms(percentile(lags.samples, 99)),
        "loop_lag_max_ms": ms(max(lags.samples, default=0.0)),
        "pool_process_cpu_pct": cpu["bench_cpu_pct"],
        **dict(stats),
    }
    print("RESULT " + json.dumps(result), flush=True)
    return 0


# ------------------------------------------------------------------ report


def db_of(url: str) -> str:
    return "postgres" if url.startswith("postgres") else "sqlite"


DB_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
HEADER = ["database", "scenario", "figure", "value", "target"]


def verdict(value: float | None, target: float, higher: bool) -> str:
    sign = "≥" if higher else "≤"
    if value is None:
        return f"{sign} {target:,.0f}"
    met = value >= target if higher else value <= target
    return f"{sign} {target:,.0f} {'✓' if met else '✗'}"


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    text = f"{value:,.0f}" if unit == "/s" or value >= 100 else f"{value:,.1f}"
    return f"{text} {unit}".rstrip()


def table_rows(results: dict[str, dict[str, Any]]) -> list[list[str]]:
    rows = []
    for db, scenarios in results.items():
        name = DB_NAMES[db]
        for key in ("service", "http"):
            run = scenarios.get(key)
            if not run or "leads_per_s" not in run:
                continue
            label = "a. service layer" if key == "service" else "a. HTTP API"
            figure = f"leads/s, {RECIPIENTS} recipients each (best: {run['best']})"
            target = verdict(run["leads_per_s"], TARGET_RATE, True) if db == "postgres" else "—"
            flag = "" if not run["problems"] else " (!)"
            rows.append([name, label, figure, fmt(run["leads_per_s"], "/s") + flag, target])
        run = scenarios.get("latency")
        if run and "latency_p99_ms" in run:
            flag = "" if not run["problems"] else " (!)"
            clients, rate = run.get("connected", 0), run["submit"]["rate_per_s"]
            where = f"{clients:,} PMs connected, {rate:.0f} leads/s"
            rows.append(
                [name, "b. latency", f"submit → receive p50 ({where})",
                 fmt(run["latency_p50_ms"], "ms") + flag, "—"]
            )  # fmt: skip
            rows.append(
                [name, "b. latency", f"submit → receive p99 ({where})",
                 fmt(run["latency_p99_ms"], "ms") + flag,
                 verdict(run["latency_p99_ms"], TARGET_P99_MS, False)]
            )  # fmt: skip
    return rows


DETAIL_HEADER = [
    "database", "scenario", "concurrency", "leads", "leads/s", "submit p50/p99 ms",
    "CPU % machine", "CPU % of a core: bench/server/postgres/others", "CPU ms per lead",
    "new PG connections", "errors",
]  # fmt: skip


def cpu_cells(run: dict[str, Any]) -> tuple[str, str]:
    """(percent of a core per process, CPU ms per lead in total) for the table."""
    names = ("bench", "server", "postgres")
    pct = " / ".join(fmt(run.get(f"{name}_cpu_pct")) for name in (*names, "others"))
    per_lead = run.get("cpu_ms_per_lead", {})
    total = sum(per_lead.get(name, 0.0) for name in names)
    return pct, fmt(total) if per_lead else "—"


def detail_rows(results: dict[str, dict[str, Any]]) -> list[list[str]]:
    rows = []
    for db, scenarios in results.items():
        for key in ("service", "http"):
            for step in scenarios.get(key, {}).get("steps", []):
                pct, per_lead = cpu_cells(step)
                rows.append(
                    [
                        DB_NAMES[db],
                        key,
                        step["label"],
                        f"{step['leads']:,}",
                        fmt(step["leads_per_s"], "/s"),
                        f"{fmt(step['submit_p50_ms'])} / {fmt(step['submit_p99_ms'])}",
                        fmt(step["machine_busy_pct"]),
                        pct,
                        per_lead,
                        str(step.get("pg_new_connections", "—")),
                        str(step["errors"]),
                    ]
                )
    return rows


LATENCY_HEADER = [
    "database", "PMs connected", "leads", "deliveries measured (all / expected)",
    "p50 / p90 / p99 / max ms",
    "API response p50/p99 ms", "receive after response p50 ms",
    "CPU % of a core: server / postgres / pool / others",
    "client loop lag max ms", "missing / dup",
]  # fmt: skip


def latency_rows(results: dict[str, dict[str, Any]]) -> list[list[str]]:
    rows = []
    for db, scenarios in results.items():
        run = scenarios.get("latency")
        if not run or "latency_p50_ms" not in run:
            continue
        submit, pool = run["submit"], run["pool"]
        lag = max(submit["loop_lag_max_ms"] or 0, pool.get("loop_lag_max_ms") or 0)
        rows.append(
            [
                DB_NAMES[db],
                f"{run['connected']:,}",
                f"{submit['leads']:,}",
                f"{run['measured_deliveries']:,} "
                f"({run['deliveries']:,} / {run['expected_deliveries']:,})",
                " / ".join(fmt(run[f"latency_{p}_ms"]) for p in ("p50", "p90", "p99", "max")),
                f"{fmt(submit['response_p50_ms'])} / {fmt(submit['response_p99_ms'])}",
                fmt(run["after_response_p50_ms"]),
                f"{fmt(run['server_cpu_pct'])} / {fmt(run['postgres_cpu_pct'])} / "
                f"{fmt(run['pool_cpu_pct'])} / {fmt(run['others_cpu_pct'])}",
                fmt(lag),
                f"{run['missing']} / {run['duplicates']}",
            ]
        )
    return rows


def environment(opts: Options, argv: list[str]) -> dict[str, Any]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("leadcast", "sqlalchemy", "psycopg", "fastapi", "uvicorn", "uvloop",
                 "websockets"):  # fmt: skip
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    memory = "unknown"
    with contextlib.suppress(OSError, IndexError, ValueError):
        kib = int(Path("/proc/meminfo").read_text().splitlines()[0].split()[1])
        memory = f"{kib / 2**20:.1f} GiB"
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"],
        capture_output=True,
        text=True,
    )
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "command": shlex.join(["python", "bench/leads_bench.py", *argv]),
        "src_changes": [line[3:] for line in dirty.stdout.splitlines()]
        if dirty.returncode == 0
        else None,
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory": memory,
        "kernel": platform.release(),
        "versions": versions,
        "git_commit": commit.stdout.strip() if commit.returncode == 0 else None,
        "quick": opts.quick,
        "pms": PMS,
        "recipients": RECIPIENTS,
    }


def write_reports(
    opts: Options, env: dict[str, Any], setup: dict[str, Any], results: dict[str, Any]
) -> tuple[Path, Path]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    json_path, md_path = RESULTS / f"{opts.output}.json", RESULTS / f"{opts.output}.md"
    rows = table_rows(results)
    payload = {
        "environment": env,
        "options": {
            k: getattr(opts, k)
            for k in (
                "service_threads",
                "service_processes",
                "http_clients",
                "step_seconds",
                "rate",
                "latency_seconds",
            )
        },
        "setup": setup,
        "results": results,
        "table": [dict(zip(HEADER, row, strict=True)) for row in rows],
    }
    json_path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    v = env["versions"]
    lines = [
        "# Leads benchmark",
        "",
        f"- Command: `{env['command']}`",
        f"- Date: {env['date']}; commit {env['git_commit']}"
        + (
            f", with uncommitted changes in src/: {', '.join(env['src_changes'])}"
            if env["src_changes"]
            else ""
        ),
        f"- Machine: {env['cpu']}, {env['cpus']} CPUs, {env['memory']} RAM, Linux {env['kernel']}",
        f"- Versions: Python {v['python']}, leadcast {v['leadcast']}, SQLAlchemy "
        f"{v['sqlalchemy']}, psycopg {v['psycopg']}, FastAPI {v['fastapi']}, uvicorn "
        f"{v['uvicorn']}, uvloop {v['uvloop']}, websockets {v['websockets']}",
    ]
    for db, info in setup.items():
        settings = ", ".join(f"{k}={val}" for k, val in info["settings"].items())
        lines.append(
            f"- {DB_NAMES[db]}: {info['source']} ({settings}); {info['pms']:,} PMs seeded in "
            f"{info['seed_s']} s; eligible PMs per lead min {info['eligible']['min']}, median "
            f"{info['eligible']['median']:.0f}"
        )
    lines += ["", md_table(HEADER, rows), "", "## Throughput steps", ""]
    lines += [md_table(DETAIL_HEADER, detail_rows(results)), "", "## Latency", ""]
    lines += [md_table(LATENCY_HEADER, latency_rows(results)), ""]
    for db, scenarios in results.items():
        http = scenarios.get("http", {})
        if "outbox_drain_s" in http:
            lines.append(
                f"- {DB_NAMES[db]} HTTP: {http['outbox_pending_after_run']:,} outbox rows were "
                f"still unsent when the clients stopped; the relay sent them in "
                f"{http['outbox_drain_s']} s."
            )
        latency = scenarios.get("latency", {})
        if "signature_check" in latency:
            lines.append(f"- {DB_NAMES[db]} latency: signatures {latency['signature_check']}.")
    lines.append("")
    notes = [
        f"{DB_NAMES[db]} {key}: {kind[:-1]}: {text}"
        for db, scenarios in results.items()
        for key, run in scenarios.items()
        for kind in ("problems", "warnings")
        for text in run.get(kind, [])
    ]
    if notes:
        lines += ["## Problems and warnings", "", *[f"- {n}" for n in notes], ""]
    lines += [
        'Method: `bench/README.md`, section "Leads benchmark". Figures from a shared machine '
        "move between runs; compare runs of the same machine.",
        "",
    ]
    md_path.write_text("\n".join(lines))
    return json_path, md_path


# ------------------------------------------------------------------ main


def parse_args(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short steps, one concurrency each")
    parser.add_argument("--only", default="", help=f"comma-separated: {', '.join(SCENARIOS)}")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"))
    parser.add_argument("--threads", default="", help="service-layer thread counts, e.g. 1,4,8")
    parser.add_argument("--clients", default="", help="HTTP client counts, e.g. 8,32")
    parser.add_argument("--step-seconds", type=float, default=0.0, help="seconds per step")
    parser.add_argument("--rate", type=float, default=50.0, help="leads/s in the latency run")
    parser.add_argument("--latency-seconds", type=float, default=0.0, help="latency run length")
    parser.add_argument("--connect-concurrency", type=int, default=100)
    parser.add_argument("--wait-quiet", type=float, default=20.0, help="seconds to wait for idle")
    parser.add_argument("--output", default="", help="results basename (default: see README)")
    parser.add_argument(
        "--processes",
        default="",
        help="service-layer processes run at once, each PxT (P processes of T threads; a "
        f"bare P has {MP_THREADS} threads), e.g. 2,4x2; 0 for none",
    )
    parser.add_argument("--worker", choices=("ws-pool", "service"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    if unknown := set(only) - set(SCENARIOS):
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")

    def counts(text: str, default: list[int]) -> list[int]:
        values = [int(v) for v in text.split(",") if v.strip()] if text else default
        if not values or min(values) < 1 or max(values) > 256:
            parser.error("concurrency must be 1-256")
        return values

    if not 1 <= args.rate <= 1000:
        parser.error("--rate must be 1-1000")
    processes: list[tuple[int, int]] = []
    if args.processes.strip() != "0":
        for item in args.processes.split(",") if args.processes.strip() else []:
            count, _, threads = item.strip().lower().partition("x")
            try:
                pair = (int(count), int(threads or MP_THREADS))
            except ValueError:
                parser.error(f"--processes: {item!r} is not P or PxT")
            if not (2 <= pair[0] <= 16 and 1 <= pair[1] <= 64):
                parser.error("--processes: 2-16 processes of 1-64 threads")
            processes.append(pair)
        if not args.processes.strip() and not args.quick:
            processes = [(2, MP_THREADS)]
    dbs = list(DBS) if args.db == "both" else [args.db]
    partial = bool(only) or args.db != "both"
    output = args.output or (
        "leads.quick" if args.quick else "leads.partial" if partial else "leads"
    )
    return Options(
        quick=args.quick,
        only=only or list(SCENARIOS),
        dbs=dbs,
        python=args.python if Path(args.python).exists() else sys.executable,
        service_threads=counts(args.threads, [8] if args.quick else [1, 4, 8, 16]),
        service_processes=processes,
        http_clients=counts(args.clients, [16] if args.quick else [4, 16, 64]),
        step_seconds=args.step_seconds or (3.0 if args.quick else 8.0),
        rate=args.rate,
        latency_seconds=min(args.latency_seconds or (5.0 if args.quick else 20.0), 120.0),
        connect_concurrency=max(1, min(args.connect_concurrency, 1000)),
        wait_quiet=max(0.0, args.wait_quiet),
        output=output,
    )


def run_scenario(key: str, url: str, seeded: Seed, opts: Options) -> dict[str, Any]:
    # Enough leads that no step runs out: about 3x the fastest rate seen, times the step.
    per_step = int(1_500 * opts.step_seconds) + 200
    if key == "service":
        batch = leads(per_step * len(opts.service_threads) + 100, "svc", 1)
        return run_service(url, batch, opts)
    if key == "http":
        batch = leads(per_step * len(opts.http_clients) + 100, "http", 2)
        return run_http(url, batch, seeded.api_key, opts)
    count = int(opts.rate * (WARMUP_SECONDS + opts.latency_seconds)) + 1
    return run_latency(url, seeded, leads(count, "lat", 3), opts)


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str]) -> int:
    if "--worker" in argv:
        return service_worker() if "service" in argv else ws_pool_worker()
    opts = parse_args(argv)
    atexit.register(_cleanup)
    signal.signal(signal.SIGTERM, _on_signal)
    raise_nofile()
    env = environment(opts, argv)
    specs = pm_specs(PMS)
    setup: dict[str, Any] = {}
    results: dict[str, dict[str, Any]] = {}
    BUILD.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="leads-", dir=BUILD))
    _cleanups.append(lambda: shutil.rmtree(workdir, ignore_errors=True))
    for db in opts.dbs:
        print(f"== {DB_NAMES[db]}: seeding {PMS:,} PMs", flush=True)
        with contextlib.ExitStack() as stack:
            try:
                if db == "postgres":
                    server_url, source = stack.enter_context(postgres_server(workdir))
                    databases = Databases(db, workdir, server_url)
                else:
                    source = f"file in {workdir.relative_to(ROOT)}"
                    databases = Databases(db, workdir)
                stack.callback(databases.drop_all)
                seeded = seed(databases.template_url, specs)
            except Exception as error:
                print(f"   cannot set up {DB_NAMES[db]}: {error}", file=sys.stderr)
                results[db] = {"setup": {"problems": [f"setup failed: {error}"], "warnings": []}}
                continue
            postmaster = databases.postmaster()
            POSTMASTER[:] = [postmaster] if postmaster else []
            sample = leads(2_000, "sample", 7)
            setup[db] = {
                "postmaster_pid": postmaster,
                "source": source,
                "settings": databases.settings(),
                "pms": len(seeded.pm_ids),
                "seed_s": seeded.seconds,
                "eligible": eligibility(specs, sample),
            }
            if setup[db]["eligible"]["min"] < RECIPIENTS:
                raise SystemExit("the PM preferences leave some lead with under 5 eligible PMs")
            print(f"   seeded in {seeded.seconds} s; {setup[db]['eligible']}", flush=True)
            results[db] = {}
            for key in opts.only:
                print(f"== {DB_NAMES[db]}: {key}", flush=True)
                started = time.monotonic()
                try:
                    run = run_scenario(key, databases.copy(key), seeded, opts)
                except Exception as error:
                    run = {"problems": [f"run failed: {type(error).__name__}: {error}"]}
                    run.setdefault("warnings", [])
                results[db][key] = run
                status = "ok" if not run["problems"] else "PROBLEMS: " + "; ".join(run["problems"])
                if run.get("warnings"):
                    status += " (warning: " + "; ".join(run["warnings"]) + ")"
                print(f"   done in {time.monotonic() - started:.0f} s: {status}", flush=True)
    print()
    print(text_table(HEADER, table_rows(results)))
    print()
    print(text_table(DETAIL_HEADER, detail_rows(results)))
    print()
    print(text_table(LATENCY_HEADER, latency_rows(results)))
    json_path, md_path = write_reports(opts, env, setup, results)
    print(f"\nwrote {shown(json_path)} and {shown(md_path)}")
    clean = all(not run["problems"] for scenarios in results.values() for run in scenarios.values())
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
