"""Conformance: the real Node clients against a running ``leadcast realtime``.

Each test runs one scenario script from ``tests/e2e/node`` with ``node``. The scripts
drive unmodified ``pusher-js`` 8, ``laravel-echo`` 2 and the official ``pusher`` Node
server SDK 5 (pinned in ``tests/e2e/node/package.json``), and print one JSON line with
what the libraries observed. The assertions below are the wire contract of
``docs/realtime.md`` as seen through those libraries.

Set up with ``bash scripts/bootstrap.sh --with-node``. A missing ``node`` or missing Node
packages fail these tests: they are the compatibility guarantee, not an optional extra.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.nodejs import NODE_DIR, NODE_TIMEOUT, node_executable
from tests.e2e.server import OTHER_APP, RunningServer, realtime_server

SOCKET_ID = re.compile(r"^\d+\.\d+$")

DISABLED_APP = {"id": "3001", "key": "disabled-key", "secret": "disabled-secret", "enabled": False}
SMALL_APP = {"id": "3002", "key": "small-key", "secret": "small-secret", "max_connections": 2}
BRISK_APP = {
    "id": "3003",
    "key": "brisk-key",
    "secret": "brisk-secret",
    "activity_timeout": 1,
    "pong_timeout": 1,
}
QUIET_APP = {"id": "3004", "key": "quiet-key", "secret": "quiet-secret"}  # no client events

# A Laravel broadcast payload: nested objects, arrays, numbers, null, booleans, non-ASCII.
LEAD_DISTRIBUTED = {
    "lead": {
        "id": 9001,
        "source": "immowelt",
        "contact": {"name": "Zoë Müller", "email": "zoe@example.test", "phone": None},
        "property": {"id": 7, "address": "Hauptstraße 1, 10115 Berlin", "rooms": 3.5},
        "tags": ["hot", "weekend", "Ümlaut ✓"],
    },
    "recipients": [{"manager_id": 7, "rank": 1}, {"manager_id": 8, "rank": 2}],
    "meta": {"distributed_at": "2025-11-26T10:00:00+00:00", "exclusive": True, "ttl": 0},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The default two apps (as the shared ``server`` fixture), for this module."""
    with realtime_server(tmp_path_factory.mktemp("realtime")) as running:
        yield running


@pytest.fixture(scope="module")
def limits_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A second server whose apps have the limits these tests exercise."""
    apps = [DISABLED_APP, SMALL_APP, BRISK_APP, QUIET_APP]
    with realtime_server(tmp_path_factory.mktemp("limits"), apps) as running:
        yield running


_results: dict[tuple[int, str, tuple[str, ...], str], dict[str, Any]] = {}


def run_node(
    server: RunningServer,
    script: str,
    *args: str,
    app: dict[str, Any] | None = None,
    reuse: bool = False,
) -> dict[str, Any]:
    """Run ``node <script> <args>`` against ``server`` and return its JSON result.

    ``app`` defaults to the server's first app. With ``reuse``, a scenario already run
    with the same arguments against the same server is not run again (several tests
    assert on different parts of one run).
    """
    app = app or server.app(0)
    cache_key = (server.port, script, args, str(app["key"]))
    if reuse and cache_key in _results:
        return _results[cache_key]
    env = {
        **os.environ,
        "LEADCAST_HOST": server.host,
        "LEADCAST_PORT": str(server.port),
        "LEADCAST_APP_ID": str(app["id"]),
        "LEADCAST_APP_KEY": str(app["key"]),
        "LEADCAST_APP_SECRET": str(app["secret"]),
        "LEADCAST_OTHER_KEY": str(OTHER_APP["key"]),
        "LEADCAST_OTHER_SECRET": str(OTHER_APP["secret"]),
    }
    try:
        proc = subprocess.run(
            [node_executable(), script, *args],
            cwd=NODE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=NODE_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{script} did not finish within {NODE_TIMEOUT} s:\n{exc.stdout!r}")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    try:
        result: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        result = {}
    if proc.returncode != 0 or result.get("ok") is not True:
        pytest.fail(
            f"{script} {' '.join(args)} failed (exit {proc.returncode}):\n"
            f"{json.dumps(result, indent=2, ensure_ascii=False) if result else proc.stdout}\n"
            f"--- stderr ---\n{proc.stderr[-3000:]}"
        )
    if reuse:
        _results[cache_key] = result
    return result


def codes(errors: list[dict[str, Any]]) -> list[Any]:
    return [error.get("code") for error in errors]


# --- connecting -------------------------------------------------------------------------


def test_pusher_js_connects_and_gets_a_socket_id(server: RunningServer) -> None:
    result = run_node(server, "connect.mjs")

    first, second = result["socket_ids"]
    assert SOCKET_ID.match(first), first
    assert SOCKET_ID.match(second), second
    assert first != second
    # "<random 9-digit process prefix>.<counter>"
    assert re.match(r"^\d{9}\.", first)
    assert first.split(".")[0] == second.split(".")[0]
    assert result["activity_timeout_ms"] == 120_000  # the app's activity_timeout (120 s)
    assert result["pong"]["event"] == "pusher:pong"
    assert result["states"] == ["connecting", "connected"]
    assert result["errors"] == []


def test_unknown_app_key_fails_without_reconnect_loop(server: RunningServer) -> None:
    result = run_node(server, "refused.mjs", "--key", "no-such-key")

    assert 4001 in codes(result["errors"])
    assert result["state"] in ("failed", "disconnected")
    assert result["connecting_attempts"] == 1, result["states"]
    assert result["socket_id"] is None


def test_disabled_app_is_refused_with_4003(limits_server: RunningServer) -> None:
    result = run_node(limits_server, "refused.mjs", "--key", DISABLED_APP["key"])

    assert 4003 in codes(result["errors"])
    assert result["state"] in ("failed", "disconnected")
    assert result["connecting_attempts"] == 1, result["states"]


def test_app_over_max_connections_is_refused_with_4004(limits_server: RunningServer) -> None:
    result = run_node(
        limits_server, "refused.mjs", "--key", SMALL_APP["key"], "--hold", "2", app=SMALL_APP
    )

    assert result["held_states"] == ["connected", "connected"]
    assert 4004 in codes(result["errors"])
    assert result["state"] in ("failed", "disconnected")
    assert result["connecting_attempts"] == 1, result["states"]


def test_short_activity_timeout_keeps_pusher_js_connected(limits_server: RunningServer) -> None:
    """activity_timeout=1, pong_timeout=1: pings flow both ways and nobody is dropped."""
    result = run_node(limits_server, "keepalive.mjs", "--seconds", "3.5", app=BRISK_APP)

    assert result["activity_timeout_ms"] == 1000
    assert result["states"] == ["connecting", "connected"]
    assert result["socket_id_unchanged"] is True
    assert result["pongs_received"] + result["pings_received"] >= 1
    assert result["errors"] == []


# --- public and private channels --------------------------------------------------------


def test_public_channel_receives_sdk_event_exactly(server: RunningServer) -> None:
    result = run_node(server, "public.mjs", "--data", json.dumps(LEAD_DISTRIBUTED))

    assert result["trigger_response"] == {}
    assert result["received"] == [
        {"event": "lead.created", "data": LEAD_DISTRIBUTED},
        {"event": "note", "data": "plain text, not JSON"},
    ]
    assert result["wire"] == ["pusher_internal:subscription_succeeded", "lead.created", "note"]
    assert result["errors"] == []


def test_sdk_trigger_with_socket_id_excludes_that_connection(server: RunningServer) -> None:
    result = run_node(server, "exclude.mjs")

    assert result["a_received"] == [2]
    assert result["b_received"] == [1, 2]


def test_private_channel_with_valid_auth_receives(server: RunningServer) -> None:
    result = run_node(server, "private.mjs", reuse=True)

    assert result["good_received"] == [{"id": 7, "secret": True}]
    assert result["good_errors"] == []


def test_private_channel_with_wrong_signature_is_refused(server: RunningServer) -> None:
    result = run_node(server, "private.mjs", reuse=True)

    [error] = result["forged_subscription_error"]
    assert error["type"] == "AuthError"
    assert error["status"] == 401
    assert isinstance(error["error"], str) and error["error"]
    assert 4009 in codes(result["forged_errors"])
    assert result["forged_subscribed"] is False
    assert result["forged_received"] == []
    assert "pusher:subscription_error" in result["forged_wire"]
    assert "deal" not in result["forged_wire"]
    assert "pusher_internal:subscription_succeeded" not in result["forged_wire"]
    assert result["forged_state"] == "connected"


def test_private_channel_signed_with_another_apps_key_is_refused(server: RunningServer) -> None:
    result = run_node(server, "private.mjs", reuse=True)

    [error] = result["foreign_subscription_error"]
    assert error["type"] == "AuthError"
    assert error["status"] == 401
    assert result["foreign_received"] == []
    assert "deal" not in result["foreign_wire"]
    assert result["foreign_state"] == "connected"


def test_encrypted_channel_round_trip(server: RunningServer) -> None:
    result = run_node(server, "encrypted.mjs")

    assert result["trigger_response"] == {}
    assert result["received"] == [
        {"amount": 99.5, "memo": "PLAINTEXT-MARKER", "nested": {"ok": [1, 2, 3]}}
    ]
    assert result["wire_data_keys"] == ["ciphertext", "nonce"]
    assert result["wire_has_plaintext"] is False
    assert result["errors"] == []


def test_cache_channels_replay_last_event_or_report_a_miss(server: RunningServer) -> None:
    result = run_node(server, "cache.mjs")

    last = {"price": {"v": 2, "note": "last one wins"}}
    assert result["events"] == {"warm": [last], "private": [last], "cold": [{"cache_miss": None}]}
    assert result["wire"] == {
        "warm": ["pusher_internal:subscription_succeeded", "price"],
        "private": ["pusher_internal:subscription_succeeded", "price"],
        "cold": ["pusher_internal:subscription_succeeded", "pusher:cache_miss"],
    }
    assert result["errors"] == []


# --- presence ---------------------------------------------------------------------------


def test_presence_members_and_one_member_per_user(server: RunningServer) -> None:
    result = run_node(server, "presence.mjs")

    ada = {"name": "Ada"}
    bob = {"name": "Bob"}
    assert result["ada_presence"] == {"ids": ["10"], "hash": {"10": ada}, "count": 1}
    assert result["ada_me"]["info"] == ada
    for name in ("bob1_presence", "bob2_presence"):
        presence = result[name]
        assert sorted(presence["ids"]) == ["10", "bob"], name
        assert presence["hash"] == {"10": ada, "bob": bob}, name
        assert presence["count"] == 2, name
    assert result["bob2_count"] == 2
    # member_added once (bob's first connection), member_removed once (his last one).
    assert result["ada_events"] == [
        {"added": "bob", "info": bob},
        {"control": 1},
        {"control": 2},
        {"control": 3},
        {"removed": "bob", "info": bob},
        {"control": 4},
    ]
    assert result["bob1_events"] == [{"control": 1}, {"control": 2}]
    assert result["ada_wire"] == [
        "pusher_internal:subscription_succeeded",
        "pusher_internal:member_added",
        "control",
        "control",
        "control",
        "pusher_internal:member_removed",
        "control",
    ]
    assert result["bob1_wire"] == ["pusher_internal:subscription_succeeded", "control", "control"]
    assert result["ada_count_after_bob1"] == 2
    assert result["ada_count_after_bob2"] == 2
    assert result["ada_count_after_bob1_left"] == 2
    assert result["ada_count_after_bob2_left"] == 1
    assert result["users_after"] == {"users": [{"id": "10"}]}


def test_signed_in_connection_joins_presence_without_channel_data(server: RunningServer) -> None:
    result = run_node(server, "presence_signed_in.mjs")

    presence = result["presence"]
    [user_id] = [uid for uid in presence["ids"] if uid != "observer"]
    assert user_id.startswith("signed-")
    assert sorted(presence["ids"]) == sorted(["observer", user_id])
    assert presence["count"] == 2
    assert presence["hash"]["observer"] == {"role": "obs"}
    assert result["me"]["id"] == user_id
    assert [member["id"] for member in result["observer_added"]] == [user_id]
    assert result["errors"] == []


# --- client events ----------------------------------------------------------------------


def test_client_events_on_private_and_presence_channels(server: RunningServer) -> None:
    result = run_node(server, "client_events.mjs")

    typing = {"from": "a", "text": "hi"}
    reply = {"from": "b"}
    # Delivered to the other subscriber only: nobody receives their own event back.
    assert result["private_b_received"] == [
        {"event": "client-typing", "data": typing, "user_id": None}
    ]
    assert result["private_a_received"] == [
        {"event": "client-reply", "data": reply, "user_id": None}
    ]
    assert "user_id" not in result["private_b_wire"][0]
    # Presence channels carry the sender's user_id.
    assert result["presence_b_received"] == [
        {"event": "client-typing", "data": typing, "user_id": "agent-a"}
    ]
    assert result["presence_a_received"] == [
        {"event": "client-reply", "data": reply, "user_id": "agent-b"}
    ]
    assert result["private_errors"] == []
    assert result["presence_errors"] == []


def _assert_client_event_rejected(result: dict[str, Any]) -> None:
    [error] = result["a_error_messages"]
    assert error.get("code") is None, error  # "pusher:error without a code"
    assert isinstance(error.get("message"), str) and error["message"], error
    assert result["a_state"] == "connected"
    assert [event["event"] for event in result["b_received"]] == ["control"]


def test_client_events_are_rejected_on_public_channels(server: RunningServer) -> None:
    result = run_node(server, "client_event_rejected.mjs", "--channel", "feed-")
    _assert_client_event_rejected(result)


def test_client_events_are_rejected_when_the_app_disallows_them(
    limits_server: RunningServer,
) -> None:
    result = run_node(
        limits_server, "client_event_rejected.mjs", "--channel", "private-quiet-", app=QUIET_APP
    )
    _assert_client_event_rejected(result)


def test_client_event_rate_limit_gives_4301(server: RunningServer) -> None:
    result = run_node(server, "rate_limit.mjs", "--count", "25")

    assert 4301 in result["error_codes_seen_by_bind"]
    received = result["b_received"]
    # 10 per second: the first ten of a burst always pass, the excess is dropped. A burst
    # straddling a one-second boundary may let through at most one more window's worth.
    assert received[:10] == list(range(10))
    assert 10 <= len(received) <= 20, received
    assert received == sorted(received)
    assert result["a_state"] == "connected"
    assert result["b_errors"] == []


# --- user authentication ----------------------------------------------------------------


def test_signin_and_send_to_user_reach_every_connection_of_that_user(
    server: RunningServer,
) -> None:
    result = run_node(server, "signin.mjs")

    alice, alice_again, bob = result["user_data"]
    assert alice["id"] == alice_again["id"] and alice["id"].startswith("alice-")
    assert alice["user_info"] == {"name": "Alice"}
    assert bob["id"].startswith("bob-")
    assert result["send_response"] == {}
    assigned = {"lead": 42, "note": "call back"}
    assert result["received"] == {
        "a1": [assigned],
        "a2": [assigned],
        "b": ["control"],
        "forged": [],
    }


def test_signin_with_a_bad_signature_gets_4009_and_stays_open(server: RunningServer) -> None:
    result = run_node(server, "signin.mjs", reuse=True)

    assert 4009 in codes(result["forged_errors"])
    assert result["forged_signin_success"] is False
    assert result["forged_state"] == "connected"
    assert result["forged_states"] == ["connecting", "connected"]


def test_watchlist_online_and_offline(server: RunningServer) -> None:
    result = run_node(server, "watchlist.mjs")

    online = [event for event in result["initial"] if "online" in event]
    [early] = online[0]["online"]
    assert early.startswith("early-")
    assert result["initial"] == [{"online": [early]}, {"control": 1}]
    late = next(e["online"][0] for e in result["events"] if "online" in e and e != online[0])
    assert late.startswith("late-")
    assert result["events"] == [
        {"online": [early]},
        {"control": 1},
        {"online": [late]},  # first connection of the user
        {"control": 2},
        {"control": 3},  # second connection: nothing
        {"control": 4},  # one of two connections left: nothing
        {"offline": [late]},  # the last one left
        {"control": 5},
    ]
    assert result["watcher_errors"] == []


def test_terminate_user_connections_closes_that_users_connections(
    server: RunningServer,
) -> None:
    result = run_node(server, "terminate.mjs")

    assert result["response"] == {}
    for name in ("t1", "t2"):
        states = result[f"{name}_states"]
        assert states[-1] == "disconnected", (name, states)
        assert states.count("connecting") == 1, (name, states)  # 4009: no reconnect
        assert 4009 in codes(result[f"{name}_errors"]), name
    assert result["other_state"] == "connected"
    assert result["other_states"] == ["connecting", "connected"]


# --- laravel-echo -----------------------------------------------------------------------


def test_echo_private_listen_receives_nested_payload_and_error_fires(
    server: RunningServer,
) -> None:
    result = run_node(server, "echo.mjs", "--data", json.dumps(LEAD_DISTRIBUTED))

    assert SOCKET_ID.match(result["socket_id"])
    assert result["dotted"] == [LEAD_DISTRIBUTED]  # .listen('.lead.distributed')
    assert result["namespaced"] == [LEAD_DISTRIBUTED]  # .listen('LeadDistributed')
    [status] = result["error_callbacks"]
    assert status["type"] == "AuthError"
    assert status["status"] == 401
    assert result["forbidden_subscribed"] is False
    assert result["forbidden_events"] == []
    assert result["connection_status"] == "connected"


def test_echo_presence_here_joining_leaving(server: RunningServer) -> None:
    result = run_node(server, "echo_presence.mjs")

    ada = {"id": 1, "name": "Ada"}
    bob = {"id": 2, "name": "Bob"}
    seen = result["seen"]
    assert seen["e1_here"] == [[ada]]
    assert seen["e1_joining"] == [bob]
    [here] = seen["e2_here"]
    assert sorted(here, key=lambda user: user["id"]) == [ada, bob]
    assert seen["e1_leaving"] == [bob]
    assert result["errors"] == []


# --- HTTP API through the Node SDK ------------------------------------------------------


def test_node_sdk_channel_queries_and_triggers(server: RunningServer) -> None:
    result = run_node(server, "api.mjs")
    pub = result["channels"]["pub"]
    priv = result["channels"]["priv"]
    pres = result["channels"]["pres"]

    listed = result["all"]
    assert listed["status"] == 200
    assert {pub, priv, pres} <= set(listed["body"]["channels"])
    assert result["presence_with_user_count"]["body"] == {"channels": {pres: {"user_count": 2}}}
    assert result["private_by_prefix"]["body"] == {"channels": {priv: {}}}
    presence_info = result["presence_info"]["body"]
    assert presence_info["occupied"] is True
    assert presence_info["user_count"] == 2
    assert presence_info["subscription_count"] == 2
    public_info = result["public_info"]["body"]
    assert public_info["occupied"] is True
    assert public_info["subscription_count"] == 1
    assert result["vacant_info"]["body"] == {"occupied": False}
    users = result["users"]["body"]["users"]
    assert sorted(users, key=lambda user: user["id"]) == [{"id": "u1"}, {"id": "u2"}]
    assert result["users_of_public"]["status"] == 400

    assert result["trigger_with_info"]["body"] == {"channels": {pub: {"subscription_count": 1}}}
    assert result["batch"]["body"] == {}
    assert result["received"] == [
        {"event": "one", "data": {"n": 1}},
        {"event": "two", "data": {"n": 2}},
        {"event": "three", "data": "three"},
    ]

    assert result["wrong_secret"]["status"] == 401
    assert "error" in result["wrong_secret"]["body"]
    assert result["unknown_app"]["status"] == 404
