"""RealtimeServer in process, with a cluster state of the test's own: answers that wait for
the cluster state keep their order on a connection, an unreachable state is a 503, and socket
ids start with the node id."""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlencode

import pytest

from leadcast.protocol import App, AppRegistry
from leadcast.protocol.signatures import request_signature
from leadcast.realtime.memory_backend import MemoryClusterState
from leadcast.realtime.ports import ChannelSummary, ClusterUnavailable
from leadcast.realtime.server import RealtimeServer
from tests.realtime.test_server_lifecycle import TIMEOUT, open_websocket

APP = App("1", "key-1", "secret-1")


def signed_get(path: str) -> bytes:
    params = {"auth_key": APP.key, "auth_timestamp": str(int(time.time())), "auth_version": "1.0"}
    params["auth_signature"] = request_signature(APP.secret, "GET", path, params)
    return f"GET {path}?{urlencode(params)} HTTP/1.1\r\nHost: test\r\n\r\n".encode()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, object]]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    lines = head.decode("latin-1").split("\r\n")
    length = next(
        int(line.split(":")[1]) for line in lines if line.lower().startswith("content-length")
    )
    body = await asyncio.wait_for(reader.readexactly(length), TIMEOUT)
    return int(lines[0].split()[1]), json.loads(body)


class Gated(MemoryClusterState):
    """Answers channel queries only once ``gate`` is set; fails them while ``down``."""

    def __init__(self) -> None:
        super().__init__(node_id="123456789")
        self.gate = asyncio.Event()
        self.down = False

    async def channel(self, app: App, channel: str, now: float) -> ChannelSummary:
        if self.down:
            raise ClusterUnavailable("Redis cannot be reached")
        await self.gate.wait()
        return await super().channel(app, channel, now)


def test_pipelined_answers_keep_their_order_while_one_waits_for_the_cluster() -> None:
    async def scenario() -> None:
        state = Gated()
        server = RealtimeServer(AppRegistry([APP]), loop=asyncio.get_running_loop(), cluster=state)
        host, port = await server.start("127.0.0.1", 0)
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(signed_get("/apps/1/channels/leads") + b"GET /health HTTP/1.1\r\n\r\n")
        # /health is answered at once, but not before the query in front of it.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(1), 0.3)
        state.gate.set()
        assert await read_response(reader) == (200, {"occupied": False})
        status, body = await read_response(reader)
        assert (status, body["status"]) == (200, "ok")
        writer.close()
        await server.stop(grace=0)

    asyncio.run(scenario())


def test_an_unreachable_cluster_state_is_a_503_and_the_connection_goes_on() -> None:
    async def scenario() -> None:
        state = Gated()
        state.down = True
        server = RealtimeServer(AppRegistry([APP]), loop=asyncio.get_running_loop(), cluster=state)
        host, port = await server.start("127.0.0.1", 0)
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(signed_get("/apps/1/channels/leads"))
        assert await read_response(reader) == (
            503,
            {"error": "cluster state unavailable: Redis cannot be reached"},
        )
        writer.write(b"GET /health HTTP/1.1\r\n\r\n")
        assert (await read_response(reader))[0] == 200
        writer.close()
        await server.stop(grace=0)

    asyncio.run(scenario())


def test_socket_ids_start_with_the_node_id() -> None:
    async def scenario() -> None:
        server = RealtimeServer(
            AppRegistry([APP]), loop=asyncio.get_running_loop(), cluster=Gated()
        )
        host, port = await server.start("127.0.0.1", 0)
        _, ws_writer = await open_websocket(host, port)
        (socket_id,) = server.node.state(APP).sockets
        assert socket_id.startswith("123456789.")
        ws_writer.close()
        await server.stop(grace=0)

    asyncio.run(scenario())
