"""Benchmark ``leadcast realtime`` against a bare WebSocket broadcast server.

Each scenario runs against the leadcast server and against ``bench/bare_server.py`` (the same
stack without the Pusher protocol) in the same run, one fresh server process per scenario and
server, pinned to one core, with the C load generator (``bench/loadgen.c``) pinned to the other.
See ``bench/README.md`` for the method and what each figure means.

Usage::

    .venv/bin/python bench/realtime_bench.py [--quick] [--only fanout1,idle] [--server both]
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import http.client
import json
import os
import platform
import queue
import random
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from common import free_port, md_table, text_table

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BUILD = BENCH / "build"
RESULTS = BENCH / "results"
LOADGEN_SRC = BENCH / "loadgen.c"
LOADGEN = BUILD / "loadgen"

HOST = "127.0.0.1"
APP_ID = "4242"
APP_KEY = "bench-key"
APP_SECRET = "bench-secret"
WS_PATH = f"/app/{APP_KEY}?protocol=7&client=leadcast-bench&version=1.0"
EVENT_NAME = "e"
DATA_BYTES = 700
MAX_SLOTS = 20_000
NOFILE = 65_536
SERVERS = ("leadcast", "bare")
LISTENING = re.compile(r"listening on http://(?P<host>[\d.]+):(?P<port>\d+)")
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: Percent of a pinned core used by other processes above which a run counts as contended.
CONTENDED_PCT = 10.0


@dataclass(frozen=True, slots=True)
class Scenario:
    """One benchmark scenario; ``kind`` is throughput, rate or idle."""

    key: str
    letter: str
    title: str
    kind: str
    clients: int
    inflight: int = 1
    rate: float = 0.0
    duration: float = 10.0
    max_events: int = 1_000_000
    warmup: int = 0
    per_client: bool = False
    http_conns: int = 1
    hold: float = 2.0


def scenarios(quick: bool) -> list[Scenario]:
    """The five scenarios, full size or ``--quick`` size."""
    fan = 1_000 if quick else 5_000
    secs = 3.0 if quick else 10.0
    return [
        Scenario("fanout1", "a", "fan-out to one channel, 1 event in flight", "throughput", fan,
                 duration=secs, warmup=10),
        Scenario("fanout4", "b", "fan-out to one channel, 4 events in flight", "throughput", fan,
                 inflight=4, http_conns=4, duration=secs, warmup=10),
        Scenario("latency", "c", "HTTP publish → receive latency, one channel, 10 events/s", "rate",
                 200 if quick else 1_000, rate=10.0, inflight=1_000, http_conns=2,
                 duration=4.0 if quick else 15.0, warmup=5),
        Scenario("idle", "d", "idle connections, subscribed to one channel", "idle",
                 2_000 if quick else 10_000),
        Scenario("channels", "e", "a channel per client, events to random channels, 64 in flight",
                 "throughput", fan, inflight=64, http_conns=16, duration=secs, warmup=500,
                 per_client=True),
    ]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Metric:
    """One row of the results table."""

    scenario: str
    label: str
    path: str
    unit: str
    higher_is_better: bool
    target: float | None = None


METRICS = [
    Metric("fanout1", "deliveries/s", "deliveries_per_s", "/s", True, 90_000),
    Metric("fanout1", "one event to all, p50", "fanout_p50_ms", "ms", False),
    Metric("fanout4", "deliveries/s", "deliveries_per_s", "/s", True, 150_000),
    Metric("latency", "latency p50", "latency_p50_ms", "ms", False),
    Metric("latency", "latency p99", "latency_p99_ms", "ms", False, 20),
    Metric("idle", "memory per connection", "kb_per_conn", "KB", False, 20),
    Metric("idle", "connect + subscribe all", "connect_s", "s", False),
    Metric("channels", "events/s delivered", "events_per_s", "/s", True),
    Metric("channels", "latency p99", "latency_p99_ms", "ms", False),
]


@dataclass(slots=True)
class Options:
    quick: bool
    only: list[str]
    servers: list[str]
    python: str
    server_cpu: str | None
    loadgen_cpu: str | None
    output: str
    keep: bool
    rounds: int
    wait_quiet: float


# ---------------------------------------------------------------- processes and cleanup

_children: set[subprocess.Popen[str]] = set()


def _spawn(cmd: list[str], **kwargs: Any) -> subprocess.Popen[str]:
    proc: subprocess.Popen[str] = subprocess.Popen(
        cmd, text=True, errors="replace", start_new_session=True, **kwargs
    )
    _children.add(proc)
    return proc


def _stop(proc: subprocess.Popen[str], timeout: float = 10.0) -> None:
    """Stop one child we started: SIGTERM, then SIGKILL after ``timeout``."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=5)
    _children.discard(proc)


def _cleanup() -> None:
    for proc in list(_children):
        _stop(proc, timeout=3)


def _on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def pin(cpu: str | None) -> list[str]:
    return ["taskset", "-c", cpu] if cpu is not None else []


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/PID/stat."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _status_kb(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {name} for pid {pid}")


def rss_kb(pid: int) -> int:
    """Resident memory (VmRSS) of a process in KB."""
    return _status_kb(pid, "VmRSS")


def hwm_kb(pid: int) -> int:
    """Peak resident memory (VmHWM) of a process in KB."""
    return _status_kb(pid, "VmHWM")


class CoreTicks(NamedTuple):
    """Clock ticks of one CPU from /proc/stat."""

    work: int  # user, nice, system, irq and steal: processes (and the hypervisor) on this core
    softirq: int  # kernel network processing, charged to no process
    total: int

    def busy_pct(self, since: CoreTicks) -> float:
        """Share of the time this core was not idle (softirq included)."""
        busy = self.work + self.softirq - since.work - since.softirq
        return 100 * busy / max(1, self.total - since.total)

    def work_pct(self, since: CoreTicks) -> float:
        return 100 * (self.work - since.work) / max(1, self.total - since.total)


def core_ticks(cpu: str | None) -> CoreTicks | None:
    if cpu is None or not cpu.isdigit():
        return None
    for line in Path("/proc/stat").read_text().splitlines():
        fields = line.split()
        if fields[0] == f"cpu{cpu}":
            user, nice, system, idle, iowait, irq, softirq, steal = map(int, fields[1:9])
            work = user + nice + system + irq + steal
            return CoreTicks(work, softirq, work + softirq + idle + iowait)
    return None


def cpu_use(start: Sample, end: Sample) -> dict[str, float]:
    """CPU use between two samples, per process and per pinned core.

    ``*_core_busy_pct`` counts all work on the core, softirq included. ``*_core_others_pct`` is
    the work on the core that the pinned process did not do: other processes competing for it.
    """
    wall = end.time - start.time
    if wall <= 0:
        return {}
    use = {}
    for name in ("server", "loadgen"):
        spent = getattr(end, f"{name}_cpu_s") - getattr(start, f"{name}_cpu_s")
        use[f"{name}_cpu_pct"] = round(max(0.0, 100 * spent / wall), 1)
        first, last = getattr(start, f"{name}_core"), getattr(end, f"{name}_core")
        if first and last and last.total > first.total:
            use[f"{name}_core_busy_pct"] = round(last.busy_pct(first), 1)
            others = last.work_pct(first) - use[f"{name}_cpu_pct"]
            use[f"{name}_core_others_pct"] = round(max(0.0, others), 1)
    return use


class Server:
    """A server process (leadcast or bare) pinned to the server core."""

    def __init__(self, kind: str, opts: Options, log_path: Path, apps_file: Path) -> None:
        self.kind = kind
        self.log_path = log_path
        self.lines: deque[str] = deque(maxlen=5_000)
        self.tracebacks = 0
        port = free_port()
        if kind == "leadcast":
            args = ["-m", "leadcast", "realtime", "--apps-file", str(apps_file)]
        else:
            args = [str(BENCH / "bare_server.py")]
        cmd = [*pin(opts.server_cpu), opts.python, *args, "--host", HOST, "--port", str(port)]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PUSHER_", "LEADCAST_"))}
        env["PYTHONUNBUFFERED"] = "1"
        self.command = cmd
        self.ready = threading.Event()
        self.port = 0
        self.proc = _spawn(
            cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        self._pump = threading.Thread(target=self._read_output, daemon=True)
        self._pump.start()
        if not self.ready.wait(30) or not self.port:
            self.stop()
            raise RuntimeError(f"no listening line within 30 s; output:\n{self.tail()}")

    def _read_output(self) -> None:
        assert self.proc.stdout is not None
        with self.log_path.open("w") as log:
            for line in self.proc.stdout:
                log.write(line)
                log.flush()
                self.lines.append(line)
                if line.startswith("Traceback"):
                    self.tracebacks += 1
                match = LISTENING.search(line)
                if match and not self.ready.is_set():
                    self.port = int(match["port"])
                    self.ready.set()
        self.ready.set()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, n: int = 40) -> str:
        return "".join(list(self.lines)[-n:])

    def first_traceback(self) -> str:
        lines = list(self.lines)
        for i, line in enumerate(lines):
            if line.startswith("Traceback"):
                return "".join(lines[max(0, i - 2) : i + 30])
        return ""

    def stop(self) -> None:
        _stop(self.proc)
        self._pump.join(timeout=5)


# ---------------------------------------------------------------- requests and records


def sign_query(method: str, path: str, params: dict[str, str]) -> str:
    """Return the query string of a Pusher HTTP API request, with its auth_signature."""
    query = "&".join(f"{k}={params[k]}" for k in sorted(params))
    to_sign = f"{method}\n{path}\n{query}".encode()
    signature = hmac.new(APP_SECRET.encode(), to_sign, hashlib.sha256).hexdigest()
    return f"{query}&auth_signature={signature}"


def events_request(body: bytes, port: int) -> tuple[str, str]:
    """Return (path with signed query, request head) for POST /apps/{id}/events."""
    path = f"/apps/{APP_ID}/events"
    params = {
        "auth_key": APP_KEY,
        "auth_timestamp": str(int(time.time())),
        "auth_version": "1.0",
        "body_md5": hashlib.md5(body).hexdigest(),
    }
    target = f"{path}?{sign_query('POST', path, params)}"
    head = (
        f"POST {target} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return target, head


def event_data(slot: int, target: int) -> str:
    """~700 bytes of event data that starts with the slot (sequence) number the loadgen reads."""
    prefix = f"seq={slot};to={target};"
    filler = "abcdefghijklmnopqrstuvwxyz0123456789" * (DATA_BYTES // 36 + 1)
    return prefix + filler[: DATA_BYTES - len(prefix)]


def write_records(path: Path, kind: str, sc: Scenario, port: int) -> int:
    """Write the loadgen's publish records (signed HTTP requests or bare messages)."""
    count = min(sc.warmup + sc.max_events, MAX_SLOTS)
    if sc.kind == "rate":
        count = min(count, sc.warmup + int(sc.rate * sc.duration) + 10)
    rng = random.Random(42)
    with path.open("wb") as out:
        for slot in range(count):
            target = rng.randrange(sc.clients) if sc.per_client else -1
            channel = f"bench-{target}" if sc.per_client else "bench"
            data = event_data(slot, target)
            if kind == "leadcast":
                body = json.dumps(
                    {"name": EVENT_NAME, "channel": channel, "data": data}, separators=(",", ":")
                ).encode()
                _, head = events_request(body, port)
                record = head.encode() + body
            else:
                message = json.dumps(
                    {"event": EVENT_NAME, "channel": channel, "data": data}, separators=(",", ":")
                )
                if sc.per_client:
                    message = f"@{channel} {message}"
                record = message.encode()
            out.write(b"%d\n" % len(record))
            out.write(record)
    return count


# ---------------------------------------------------------------- correctness check


class MiniClient:
    """A tiny blocking WebSocket client for the correctness check before each scenario."""

    def __init__(self, port: int, path: str, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        key = "bGVhZGNhc3QtYmVuY2gtMQ=="
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        accept = base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest())
        if not head.startswith(b"HTTP/1.1 101") or accept not in head:
            raise RuntimeError(f"handshake refused: {head[:300]!r}")
        if b"permessage-deflate" in head.lower():
            raise RuntimeError("server negotiated permessage-deflate without being asked")

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed by the server")
        self.buf += chunk

    def send_text(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def recv_text(self) -> str:
        while True:
            while len(self.buf) < 2:
                self._fill()
            b0, b1 = self.buf[0], self.buf[1]
            if b0 & 0x70:
                raise RuntimeError(f"frame with RSV bits set: {b0:#x}")
            if b1 & 0x80:
                raise RuntimeError("server sent a masked frame")
            n, offset = b1 & 0x7F, 2
            if n == 126:
                while len(self.buf) < 4:
                    self._fill()
                (n,), offset = struct.unpack_from("!H", self.buf, 2), 4
            elif n == 127:
                while len(self.buf) < 10:
                    self._fill()
                (n,), offset = struct.unpack_from("!Q", self.buf, 2), 10
            while len(self.buf) < offset + n:
                self._fill()
            payload, self.buf = self.buf[offset : offset + n], self.buf[offset + n :]
            opcode = b0 & 0x0F
            if opcode == 0x1 and b0 & 0x80:
                return payload.decode()
            if opcode == 0x8:
                raise RuntimeError(f"server closed the connection: {payload!r}")
            if opcode != 0x9 and opcode != 0xA:
                raise RuntimeError(f"unexpected frame opcode {opcode:#x} fin={b0 >> 7}")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def check_leadcast(port: int) -> None:
    """Connect, subscribe, publish one event over the HTTP API and compare what arrives."""
    client = MiniClient(port, WS_PATH)
    try:
        established = json.loads(client.recv_text())
        if established.get("event") != "pusher:connection_established":
            raise RuntimeError(f"expected connection_established, got {established}")
        info = json.loads(established["data"])
        if not re.fullmatch(r"\d+\.\d+", str(info.get("socket_id"))):
            raise RuntimeError(f"bad socket_id in {established}")
        client.send_text(
            json.dumps({"event": "pusher:subscribe", "data": {"channel": "bench-check"}})
        )
        reply = json.loads(client.recv_text())
        want = {"event": "pusher_internal:subscription_succeeded", "channel": "bench-check"}
        if {k: reply.get(k) for k in want} != want:
            raise RuntimeError(f"expected subscription_succeeded, got {reply}")
        data = 'préflight "quoted" \\ ' + event_data(0, -1)[:100]
        body = json.dumps({"name": EVENT_NAME, "channel": "bench-check", "data": data}).encode()
        target, _ = events_request(body, port)
        conn = http.client.HTTPConnection(HOST, port, timeout=5)
        try:
            conn.request("POST", target, body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            answer = response.read()
        finally:
            conn.close()
        if response.status != 200 or json.loads(answer) != {}:
            raise RuntimeError(f"publish answered {response.status} {answer[:300]!r}")
        got = json.loads(client.recv_text())
        expected = {"event": EVENT_NAME, "channel": "bench-check", "data": data}
        if got != expected:
            raise RuntimeError(f"received {got!r}, expected {expected!r}")
    finally:
        client.close()


def check_bare(port: int) -> None:
    receiver = MiniClient(port, "/")
    publisher = MiniClient(port, "/")
    try:
        receiver.send_text("sub bench-check")
        publisher.send_text("publisher")
        if receiver.recv_text() != "ok" or publisher.recv_text() != "ok":
            raise RuntimeError("no ok from the bare server")
        message = json.dumps({"event": EVENT_NAME, "channel": "bench-check", "data": "x"})
        publisher.send_text(message)
        if (got := receiver.recv_text()) != message:
            raise RuntimeError(f"received {got!r}, expected {message!r}")
    finally:
        receiver.close()
        publisher.close()


# ---------------------------------------------------------------- running the loadgen


@dataclass(frozen=True, slots=True)
class Sample:
    """CPU counters taken when the loadgen starts and stops publishing."""

    time: float
    server_cpu_s: float
    loadgen_cpu_s: float
    server_core: CoreTicks | None
    loadgen_core: CoreTicks | None


@dataclass(slots=True)
class LoadgenRun:
    result: dict[str, Any]
    stderr: list[str]
    samples: dict[str, Sample] = field(default_factory=dict)


def loadgen_args(kind: str, sc: Scenario, port: int, records: Path | None) -> list[str]:
    args = ["--port", str(port), "--clients", str(sc.clients), "--connect-concurrency", "128"]
    args += ["--mode", "pusher" if kind == "leadcast" else "bare"]
    args += ["--path", WS_PATH if kind == "leadcast" else "/"]
    args += ["--channel", "bench", "--connect-timeout", "90"]
    if sc.per_client:
        args.append("--channel-per-client")
    if sc.kind == "idle":
        return [*args, "--idle", "--hold", "60", "--max-time", "200"]
    assert records is not None
    pub_conns = sc.http_conns if kind == "leadcast" else 1
    args += ["--requests", str(records), "--pub-conns", str(pub_conns)]
    args += ["--inflight", str(sc.inflight), "--warmup", str(sc.warmup)]
    args += ["--events", str(sc.max_events), "--duration", str(sc.duration)]
    args += ["--drain", "10", "--event-timeout", "5", "--max-time", str(sc.duration + 150)]
    if sc.rate:
        args += ["--rate", str(sc.rate)]
    return args


OnReady = Callable[[subprocess.Popen[str], dict[str, Any]], None]


def run_loadgen(
    args: list[str],
    opts: Options,
    server: Server,
    *,
    on_ready: OnReady | None = None,
    timeout: float,
) -> LoadgenRun:
    """Run the loadgen; call ``on_ready(proc, info)`` when it prints READY (idle mode)."""
    proc = _spawn(
        [*pin(opts.loadgen_cpu), str(LOADGEN), *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    run = LoadgenRun(result={}, stderr=[])
    lines: queue.Queue[str | None] = queue.Queue()

    def read_stdout() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            run.stderr.append(line)
            for marker in ("publishing", "finished"):
                if line.strip() == f"loadgen: {marker}":
                    run.samples[marker] = Sample(
                        time.monotonic(),
                        proc_cpu_seconds(server.pid),
                        proc_cpu_seconds(proc.pid),
                        core_ticks(opts.server_cpu),
                        core_ticks(opts.loadgen_cpu),
                    )

    threads = [threading.Thread(target=f, daemon=True) for f in (read_stdout, read_stderr)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    output: list[str] = []
    try:
        while True:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"loadgen did not finish within {timeout:.0f} s") from None
            if line is None:
                break
            if line.startswith("READY ") and on_ready is not None:
                on_ready(proc, json.loads(line[6:]))
                assert proc.stdin is not None
                proc.stdin.close()
            elif line.strip():
                output.append(line)
        proc.wait(timeout=10)
    finally:
        _stop(proc, timeout=5)
        for thread in threads:
            thread.join(timeout=5)
    if not output:
        raise RuntimeError("loadgen printed no result:\n" + "".join(run.stderr[-20:]))
    run.result = json.loads(output[-1])
    return run


# ---------------------------------------------------------------- one scenario


def problems_of(result: dict[str, Any], kind: str) -> list[str]:
    """What went wrong in a loadgen run, in words."""
    found = []
    if result.get("aborted"):
        found.append(f"loadgen aborted: {result['aborted']}")
    for name in (
        "connect_failures", "handshake_failures", "lost", "missing", "duplicates", "misrouted",
        "stale", "other_frames", "binary_frames", "server_closes", "http_errors", "http_lost",
        "pusher_errors", "timed_out",
    ):  # fmt: skip
        if result.get(name):
            found.append(f"{name}={result[name]}")
    if result.get("first_close_code"):
        found.append(f"first close code {result['first_close_code']}")
    if result.get("first_error"):
        found.append(f"first error: {result['first_error']}")
    if result.get("first_other_frame"):
        found.append(f"first unexpected frame: {result['first_other_frame']}")
    answered = result.get("http_ok", 0) + result.get("http_errors", 0)
    if kind == "leadcast" and result.get("published") and answered < result["published"]:
        found.append(f"{result['published'] - answered} HTTP publish requests got no response")
    return found


def run_scenario(
    sc: Scenario, kind: str, opts: Options, workdir: Path, round_no: int
) -> dict[str, Any]:
    """Start a fresh server, check it, run one scenario against it and stop it."""
    suffix = f"-round{round_no}" if opts.rounds > 1 else ""
    log_path = BUILD / "logs" / f"{sc.key}-{kind}{suffix}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"server": kind, "problems": [], "warnings": []}
    try:
        server = Server(kind, opts, log_path, workdir / "apps.toml")
    except (RuntimeError, OSError) as exc:
        out["problems"].append(f"server did not start: {exc}")
        out["ok"] = False
        return out
    out["server_command"] = shlex.join(server.command)
    try:
        try:
            (check_leadcast if kind == "leadcast" else check_bare)(server.port)
            out["check"] = "ok"
        except Exception as exc:
            out["check"] = f"failed: {exc}"
            out["problems"].append(f"correctness check failed: {exc}")
        check_quiet(opts, out)
        if sc.kind == "idle":
            run_idle(sc, kind, opts, server, out)
        else:
            run_traffic(sc, kind, opts, server, out, workdir)
    except Exception as exc:
        out["problems"].append(f"run failed: {exc}")
    finally:
        alive = server.alive()
        if not alive:
            out["problems"].append(f"server exited with {server.proc.returncode}")
        server.stop()
        if server.tracebacks:
            out["problems"].append(f"server logged {server.tracebacks} traceback(s)")
            out["first_traceback"] = server.first_traceback()
        if not alive or server.tracebacks:
            out["server_log_tail"] = server.tail()
        out["server_log"] = str(log_path.relative_to(ROOT))
    out["ok"] = not out["problems"]
    return out


def check_quiet(opts: Options, out: dict[str, Any]) -> None:
    """Wait (up to ``--wait-quiet`` seconds) until both pinned cores are idle but for the server.

    Other processes busy on these cores (a test run, a compiler) make figures slower and noisier;
    if they do not stop, the run is still made, with a warning.
    """
    cores = {"server": opts.server_cpu, "loadgen": opts.loadgen_cpu}
    deadline = time.monotonic() + opts.wait_quiet
    while True:
        first = {name: core_ticks(cpu) for name, cpu in cores.items()}
        time.sleep(1.0)
        busy = {}
        for name, cpu in cores.items():
            start, end = first[name], core_ticks(cpu)
            if start and end:
                busy[name] = round(end.busy_pct(start), 1)
        noisy = {name: pct for name, pct in busy.items() if pct > CONTENDED_PCT}
        if not noisy or time.monotonic() >= deadline:
            break
    out["idle_core_busy_pct"] = busy
    if noisy:
        where = ", ".join(f"{name} core {pct:.0f} %" for name, pct in noisy.items())
        out["warnings"].append(f"other processes were using the CPU before the run ({where})")
        out["contended"] = True


def run_traffic(
    sc: Scenario, kind: str, opts: Options, server: Server, out: dict[str, Any], workdir: Path
) -> None:
    records = workdir / f"{sc.key}-{kind}.records"
    out["records"] = write_records(records, kind, sc, server.port)
    args = loadgen_args(kind, sc, server.port, records)
    out["loadgen_command"] = shlex.join([str(LOADGEN.relative_to(ROOT)), *args])
    run = run_loadgen(args, opts, server, timeout=sc.duration + 200)
    res = run.result
    out["loadgen"] = res
    out["problems"] += problems_of(res, kind)
    out["deliveries_per_s"] = res["deliveries_per_s"]
    out["events_per_s"] = res["events_per_s"]
    out["deliveries"] = res["deliveries"]
    out["events"] = res["completed"]
    out["connect_s"] = res["connect_s"]
    for name in ("p50", "p99", "max"):
        out[f"latency_{name}_ms"] = res["latency_ms"][name]
        out[f"fanout_{name}_ms"] = res["fanout_ms"][name]
    if "publishing" in run.samples and "finished" in run.samples:
        out.update(cpu_use(run.samples["publishing"], run.samples["finished"]))
        # Measured during the run, this replaces the verdict of the check before it.
        others = {n: out.get(f"{n}_core_others_pct", 0.0) for n in ("server", "loadgen")}
        out["contended"] = max(others.values()) > CONTENDED_PCT
        if out["contended"]:
            where = ", ".join(f"{n} core {pct:.0f} %" for n, pct in others.items())
            out["warnings"].append(f"other processes used the CPU during the run ({where})")
        if out.get("loadgen_cpu_pct", 0) > 90:
            out["warnings"].append("the loadgen used over 90 % of a core: it may be the bottleneck")
    if server.alive():
        out["server_rss_end_kb"], out["server_hwm_kb"] = rss_kb(server.pid), hwm_kb(server.pid)
    records.unlink(missing_ok=True)


def run_idle(sc: Scenario, kind: str, opts: Options, server: Server, out: dict[str, Any]) -> None:
    before = rss_kb(server.pid)
    out["rss_before_kb"] = before

    def on_ready(_proc: subprocess.Popen[str], info: dict[str, Any]) -> None:
        time.sleep(sc.hold)
        out["rss_after_kb"] = rss_kb(server.pid)
        out["subscribed"] = info["subscribed"]

    args = loadgen_args(kind, sc, server.port, None)
    out["loadgen_command"] = shlex.join([str(LOADGEN.relative_to(ROOT)), *args])
    run = run_loadgen(args, opts, server, on_ready=on_ready, timeout=250)
    out["loadgen"] = run.result
    out["problems"] += problems_of(run.result, kind)
    out["connect_s"] = run.result["connect_s"]
    if "rss_after_kb" in out and out.get("subscribed"):
        out["kb_per_conn"] = round((out["rss_after_kb"] - before) / out["subscribed"], 2)


# ---------------------------------------------------------------- report


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit in ("/s", "%"):
        return f"{value:,.0f}"
    return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"


def combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge the rounds of one scenario and server: the median of every figure, and its range.

    Rounds in which other processes competed for the CPU are left out, unless all were.
    """
    if len(runs) == 1:
        return runs[0]
    out: dict[str, Any] = {"server": runs[0]["server"], "ok": all(r["ok"] for r in runs)}
    for name in ("problems", "warnings"):
        out[name] = [f"round {i}: {p}" for i, r in enumerate(runs, 1) for p in r[name]]
    used = [i for i, r in enumerate(runs, 1) if not r.get("contended")] or list(
        range(1, len(runs) + 1)
    )
    out["rounds_used"] = used
    out["contended"] = len(used) == len(runs) and any(r.get("contended") for r in runs)
    out["loadgen"] = {"clients": runs[0].get("loadgen", {}).get("clients")}
    out["range"] = {}
    keys = dict.fromkeys(k for r in runs for k in r)
    for key in keys:
        values = [runs[i - 1][key] for i in used if is_number(runs[i - 1].get(key))]
        if values:
            out[key] = statistics.median(values)
            out["range"][key] = [min(values), max(values)]
    out["rounds"] = runs
    return out


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def cell(run: dict[str, Any], path: str, unit: str) -> str:
    """A figure, with its range over the rounds when there were several."""
    text = fmt(run.get(path), unit)
    low_high = run.get("range", {}).get(path)
    if low_high and run.get(path) is not None:
        text += f" ({fmt(low_high[0], unit)}–{fmt(low_high[1], unit)})"
    if not run.get("ok", True):
        text += " (!)"
    if run.get("contended"):
        text += " (~)"
    return text


def pair(run: dict[str, Any], first: str, second: str, unit: str) -> str:
    return f"{fmt(run.get(first), unit)} / {fmt(run.get(second), unit)}"


def table_rows(results: dict[str, dict[str, dict[str, Any]]]) -> list[list[str]]:
    rows = []
    by_key = {sc.key: sc for sc in scenarios(False)}
    for metric in METRICS:
        if metric.scenario not in results:
            continue
        sc = by_key[metric.scenario]
        runs = results[metric.scenario]
        values = {s: runs.get(s, {}).get(metric.path) for s in SERVERS}
        lead, bare = values["leadcast"], values["bare"]
        ratio = f"{lead / bare:.2f}×" if lead is not None and bare else "—"
        target = "—"
        if metric.target is not None:
            sign = "≥" if metric.higher_is_better else "≤"
            verdict = ""
            if lead is not None:
                met = lead >= metric.target if metric.higher_is_better else lead <= metric.target
                verdict = " ✓" if met else " ✗"
            target = f"{sign} {fmt(metric.target, metric.unit)}{verdict}"
        rows.append(
            [
                f"{sc.letter}. {sc.key}",
                f"{metric.label} ({metric.unit})",
                cell(runs.get("leadcast", {}), metric.path, metric.unit),
                cell(runs.get("bare", {}), metric.path, metric.unit),
                ratio,
                target,
            ]
        )
    return rows


HEADER = ["scenario", "figure", "leadcast", "bare", "leadcast/bare", "target (leadcast)"]


def detail_rows(results: dict[str, dict[str, dict[str, Any]]]) -> list[list[str]]:
    rows = []
    for key, runs in results.items():
        for kind, run in runs.items():
            lg = run.get("loadgen", {})

            rows.append(
                [
                    key,
                    kind,
                    str(lg.get("clients", "—")),
                    fmt(run.get("events"), "/s"),
                    fmt(run.get("deliveries"), "/s"),
                    pair(run, "fanout_p50_ms", "fanout_p99_ms", "ms"),
                    pair(run, "latency_p50_ms", "latency_p99_ms", "ms"),
                    pair(run, "server_core_busy_pct", "loadgen_core_busy_pct", "%"),
                    pair(run, "server_cpu_pct", "loadgen_cpu_pct", "%"),
                    pair(run, "server_core_others_pct", "loadgen_core_others_pct", "%"),
                    fmt(run.get("connect_s"), "s"),
                    "ok" if run.get("ok") else "PROBLEMS",
                ]
            )
    return rows


DETAIL_HEADER = [
    "scenario", "server", "clients", "events", "deliveries", "one event to all p50/p99 ms",
    "latency p50/p99 ms", "core busy % server/loadgen", "process CPU % server/loadgen",
    "others' CPU % server/loadgen core", "connect s", "status",
]  # fmt: skip


def environment(opts: Options) -> dict[str, Any]:
    probe = (
        "import json, sys, importlib.metadata as m\n"
        "v = {}\n"
        "for name in ('uvloop', 'httptools', 'leadcast'):\n"
        "    try: v[name] = m.version(name)\n"
        "    except m.PackageNotFoundError: v[name] = None\n"
        "v['python'] = sys.version.split()[0]\n"
        "print(json.dumps(v))\n"
    )
    versions = dict.fromkeys(("python", "uvloop", "httptools", "leadcast"))
    found = subprocess.run([opts.python, "-c", probe], capture_output=True, text=True)
    if found.returncode == 0:
        versions.update(json.loads(found.stdout))
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "command": shlex.join(["python", "bench/realtime_bench.py", *sys.argv[1:]]),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "versions": versions,
        "git_commit": commit.stdout.strip() if commit.returncode == 0 else None,
        "server_cpu": opts.server_cpu,
        "loadgen_cpu": opts.loadgen_cpu,
        "quick": opts.quick,
        "event_data_bytes": DATA_BYTES,
    }


def write_reports(
    opts: Options, env: dict[str, Any], results: dict[str, dict[str, dict[str, Any]]]
) -> tuple[Path, Path]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    json_path = RESULTS / f"{opts.output}.json"
    md_path = RESULTS / f"{opts.output}.md"
    used = [sc for sc in scenarios(opts.quick) if sc.key in results]
    payload = {
        "environment": env,
        "scenarios": {sc.key: asdict(sc) for sc in used},
        "results": results,
        "table": [dict(zip(HEADER, row, strict=True)) for row in table_rows(results)],
    }
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    tmp.replace(json_path)
    v = env["versions"]
    any_problems = any(run.get("problems") for runs in results.values() for run in runs.values())
    contended = any(run.get("contended") for runs in results.values() for run in runs.values())
    lines = [
        "# leadcast realtime benchmark",
        "",
        f"- date: {env['date']}",
        f"- command: `{env['command']}`",
        f"- machine: {env['cpu']}, {env['cpus']} CPUs, Linux {env['kernel']}; server pinned to "
        f"CPU {env['server_cpu']}, loadgen to CPU {env['loadgen_cpu']}",
        f"- Python {v['python']}, uvloop {v['uvloop']}, httptools {v['httptools']}, "
        f"leadcast {v['leadcast']} (commit {env['git_commit'] or 'none'})",
        f"- event data: {DATA_BYTES} bytes; {'quick sizes' if opts.quick else 'full sizes'}",
        f"- rounds: {opts.rounds}"
        + (
            " (figures are medians over the rounds without CPU contention from other processes,"
            " with their range in brackets)"
            if opts.rounds > 1
            else ""
        ),
        "",
        md_table(HEADER, table_rows(results)),
        "",
        ("(!) marks a run with problems, listed below. " if any_problems else "")
        + ("(~) marks a figure measured while other processes used the CPU. " if contended else "")
        + "Method and meaning of each figure: [bench/README.md](../README.md).",
        "",
        "## Scenarios",
        "",
    ]
    lines += [f"- {sc.letter}. `{sc.key}`: {sc.title}; {sc.clients:,} clients" for sc in used]
    lines += ["", "## Details", "", md_table(DETAIL_HEADER, detail_rows(results)), ""]
    for section, name in (("Problems", "problems"), ("Warnings", "warnings")):
        found = [
            f"- {key} / {kind}: " + "; ".join(run[name])
            for key, runs in results.items()
            for kind, run in runs.items()
            if run.get(name)
        ]
        if found:
            lines += [f"## {section}", "", *found, ""]
    md_path.write_text("\n".join(lines))
    return json_path, md_path


# ---------------------------------------------------------------- main


def build_loadgen() -> None:
    BUILD.mkdir(parents=True, exist_ok=True)
    if LOADGEN.exists() and LOADGEN.stat().st_mtime >= LOADGEN_SRC.stat().st_mtime:
        return
    cmd = ["gcc", "-O2", "-Wall", "-Wextra", "-o", str(LOADGEN), str(LOADGEN_SRC)]
    print("building:", shlex.join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= NOFILE:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, max(hard, NOFILE)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def leadcast_available(python: str) -> bool:
    probe = subprocess.run(
        [python, "-m", "leadcast", "realtime", "--help"], capture_output=True, cwd=ROOT, timeout=60
    )
    return probe.returncode == 0


@contextlib.contextmanager
def workspace(keep: bool) -> Iterator[Path]:
    BUILD.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="run-", dir=BUILD))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


def parse_args(argv: list[str]) -> Options:
    keys = [sc.key for sc in scenarios(False)]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--only", default="", help=f"comma-separated scenarios: {', '.join(keys)} (or a-e)"
    )
    parser.add_argument("--server", choices=["leadcast", "bare", "both"], default="both")
    venv_python = ROOT / ".venv" / "bin" / "python"
    parser.add_argument(
        "--python",
        default=str(venv_python) if venv_python.exists() else sys.executable,
        help="interpreter that runs the servers (default: the project virtualenv)",
    )
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--loadgen-cpu", default="1")
    parser.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    parser.add_argument(
        "--output",
        help="results basename in bench/results (default: realtime for a full run, "
        "realtime-quick or realtime-partial otherwise)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every scenario this many times (alternating servers) and report medians",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help="before each run, wait up to this long for other processes to leave the two "
        "cores alone (default 20)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the run's work directory")
    args = parser.parse_args(argv)
    letters = {sc.letter: sc.key for sc in scenarios(False)}
    only = [letters.get(s.strip(), s.strip()) for s in args.only.split(",") if s.strip()]
    for name in only:
        if name not in keys:
            parser.error(f"unknown scenario {name!r}; choose from {', '.join(keys)}")
    if shutil.which(args.python) is None:
        parser.error(f"--python {args.python}: no such interpreter (run scripts/bootstrap.sh?)")
    servers = list(SERVERS) if args.server == "both" else [args.server]
    pinning = not args.no_pin and shutil.which("taskset") is not None and (os.cpu_count() or 1) > 1
    output = args.output
    if output is None:
        output = "realtime-quick" if args.quick else "realtime"
        if only or args.server != "both":
            output += "-partial" if not args.quick else ""
    return Options(
        quick=args.quick,
        only=only,
        servers=servers,
        python=args.python,
        server_cpu=args.server_cpu if pinning else None,
        loadgen_cpu=args.loadgen_cpu if pinning else None,
        output=output,
        keep=args.keep,
        rounds=args.rounds,
        wait_quiet=args.wait_quiet,
    )


def main(argv: list[str]) -> int:
    opts = parse_args(argv)
    atexit.register(_cleanup)
    signal.signal(signal.SIGTERM, _on_signal)
    raise_nofile()
    build_loadgen()
    if "leadcast" in opts.servers and not leadcast_available(opts.python):
        print(
            f"`{opts.python} -m leadcast realtime --help` fails: the leadcast server is not "
            "available. Use --server bare to benchmark the bare server alone.",
            file=sys.stderr,
        )
        return 2
    env = environment(opts)
    chosen = [sc for sc in scenarios(opts.quick) if not opts.only or sc.key in opts.only]
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        sc.key: {kind: [] for kind in opts.servers} for sc in chosen
    }
    with workspace(opts.keep) as workdir:
        (workdir / "apps.toml").write_text(
            f'[[apps]]\nid = "{APP_ID}"\nkey = "{APP_KEY}"\nsecret = "{APP_SECRET}"\n'
            "max_connections = 0\nactivity_timeout = 120\n"
        )
        for round_no in range(1, opts.rounds + 1):
            for sc in chosen:
                for kind in opts.servers:
                    where = f"round {round_no}/{opts.rounds}: " if opts.rounds > 1 else ""
                    print(f"== {where}{sc.letter}. {sc.key} ({sc.clients:,} clients) on {kind}")
                    started = time.monotonic()
                    run = run_scenario(sc, kind, opts, workdir, round_no)
                    runs[sc.key][kind].append(run)
                    status = "ok" if run["ok"] else "PROBLEMS: " + "; ".join(run["problems"])
                    if run["warnings"]:
                        status += " (warning: " + "; ".join(run["warnings"]) + ")"
                    print(f"   done in {time.monotonic() - started:.1f} s: {status}", flush=True)
    results = {
        key: {kind: combine(kind_runs) for kind, kind_runs in by_kind.items()}
        for key, by_kind in runs.items()
    }
    print()
    print(text_table(HEADER, table_rows(results)))
    print()
    print(text_table(DETAIL_HEADER, detail_rows(results)))
    json_path, md_path = write_reports(opts, env, results)
    print(f"\nwrote {json_path.relative_to(ROOT)} and {md_path.relative_to(ROOT)}")
    return 0 if all(r["ok"] for runs in results.values() for r in runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
