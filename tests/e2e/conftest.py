from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.server import DEFAULT_APP, RunningServer, realtime_server
from tests.e2e.wsclient import PusherSocket


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One running server (two apps) shared by the tests of a module."""
    path: Path = tmp_path_factory.mktemp("realtime")
    with realtime_server(path) as running:
        yield running


@pytest.fixture
def ws(server: RunningServer) -> Iterator[Callable[..., PusherSocket]]:
    """Open Pusher sockets on app 1001 (or another key); all closed after the test."""
    opened: list[PusherSocket] = []

    def open_socket(key: str = DEFAULT_APP["key"]) -> PusherSocket:
        sock = PusherSocket.open(server.ws_url, key)
        opened.append(sock)
        return sock

    yield open_socket
    for sock in opened:
        sock.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
