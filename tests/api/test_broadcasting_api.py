"""Channel authorisation (Laravel-compatible), user authentication, realtime config."""

from __future__ import annotations

import json
from typing import Any

import pytest

from leadcast.config import Settings
from leadcast.protocol.signatures import channel_auth, user_auth, verify_auth
from tests.api.conftest import KEY, SECRET, Login
from tests.support.factories import ApiClient

SOCKET = "123456.7890"


def authorise(client: ApiClient, login: Login | None, channel: str, *, form: bool = True) -> Any:
    body = {"socket_id": SOCKET, "channel_name": channel}
    headers = login.headers if login else {}
    if form:
        return client.post("/api/broadcasting/auth", data=body, headers=headers)
    return client.post("/api/broadcasting/auth", json=body, headers=headers)


@pytest.mark.parametrize("form", [True, False], ids=["form", "json"])
def test_a_pm_may_subscribe_to_their_own_channel(client: ApiClient, pm: Login, form: bool) -> None:
    channel = f"private-property-manager.{pm.id}"
    response = authorise(client, pm, channel, form=form)
    assert response.status_code == 200, response.text
    auth = response.json()["auth"]
    assert auth == channel_auth(KEY, SECRET, SOCKET, channel, None)
    verify_auth(channel_auth(KEY, SECRET, SOCKET, channel, None), auth)
    assert auth.startswith(f"{KEY}:")


@pytest.mark.parametrize(
    "channel",
    [
        "private-property-manager.{other}",
        "private-property-manager.{me}0",
        "property-manager.{me}",
        "presence-property-manager.{me}",
        "private-encrypted-property-manager.{me}",
        "private-leads",
    ],
)
def test_any_other_channel_is_403(
    client: ApiClient, pm: Login, other_pm: Login, channel: str
) -> None:
    name = channel.format(me=pm.id, other=other_pm.id)
    response = authorise(client, pm, name)
    assert response.status_code == 403
    assert response.json() == {"error": f"you may not subscribe to {name}"}


def test_an_admin_has_no_pm_channel(client: ApiClient, admin: Login, pm: Login) -> None:
    assert authorise(client, admin, f"private-property-manager.{pm.id}").status_code == 403


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer lct_forged"}, {"Authorization": "Bearer "}],
)
def test_without_a_valid_token_it_is_401(
    client: ApiClient, pm: Login, headers: dict[str, str]
) -> None:
    response = client.post(
        "/api/broadcasting/auth",
        data={"socket_id": SOCKET, "channel_name": f"private-property-manager.{pm.id}"},
        headers=headers,
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"channel_name": "private-property-manager.1"}, "socket_id"),
        ({"socket_id": "abc", "channel_name": "private-property-manager.1"}, "socket_id"),
        ({"socket_id": "1.2" * 40, "channel_name": "private-property-manager.1"}, "socket_id"),
        ({"socket_id": SOCKET}, "channel_name"),
        ({"socket_id": SOCKET, "channel_name": "bad channel!"}, "channel_name"),
        ({"socket_id": SOCKET, "channel_name": "x" * 201}, "channel_name"),
    ],
)
def test_malformed_requests_are_422(
    client: ApiClient, pm: Login, body: dict[str, str], field: str
) -> None:
    response = client.post("/api/broadcasting/auth", data=body, headers=pm.headers)
    assert response.status_code == 422
    assert field in response.json()["fields"]


def test_too_many_form_fields_are_refused(client: ApiClient, pm: Login) -> None:
    body = "&".join(f"f{n}=1" for n in range(50))
    response = client.post(
        "/api/broadcasting/auth",
        content=body.encode(),
        headers={**pm.headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400


def test_user_authentication_for_signin(client: ApiClient, pm: Login) -> None:
    response = client.post(
        "/api/broadcasting/user-auth", data={"socket_id": SOCKET}, headers=pm.headers
    )
    assert response.status_code == 200
    body = response.json()
    user_data = json.loads(body["user_data"])
    assert user_data["id"] == str(pm.id)
    assert body["auth"] == user_auth(KEY, SECRET, SOCKET, body["user_data"])
    assert client.post("/api/broadcasting/user-auth", data={"socket_id": SOCKET}).status_code == 401


def test_broadcasting_auth_without_credentials_is_503(engine: Any, pm: Login) -> None:
    from leadcast.api import create_api

    with ApiClient(create_api(Settings(broadcast_driver="log"), engine=engine)) as client:
        response = authorise(client, pm, f"private-property-manager.{pm.id}")
        assert response.status_code == 503
        config = client.get("/api/realtime-config").json()
    assert config["enabled"] is False


def test_realtime_config_for_our_server(client: ApiClient) -> None:
    config = client.get("/api/realtime-config", headers={"Host": "127.0.0.1:8001"}).json()
    assert config == {
        "enabled": True,
        "key": KEY,
        "cluster": "mt1",
        "wsHost": "127.0.0.1",
        "wsPort": 6001,
        "wssPort": 6001,
        "forceTLS": False,
        "enabledTransports": ["ws", "wss"],
        "authEndpoint": "/api/broadcasting/auth",
        "userAuthEndpoint": "/api/broadcasting/user-auth",
        "channelPrefix": "private-property-manager.",
        "event": "lead.distributed",
    }
    assert SECRET not in json.dumps(config)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("leads.example.com:8001", "leads.example.com"),
        ("192.168.1.20:8001", "192.168.1.20"),
        ("localhost:8001", "127.0.0.1"),
    ],
)
def test_a_browser_on_another_machine_is_sent_to_the_host_it_used(
    client: ApiClient, host: str, expected: str
) -> None:
    # The relay reaches the real-time server on loopback; a remote browser cannot.
    config = client.get("/api/realtime-config", headers={"Host": host}).json()
    assert config["wsHost"] == expected
    assert config["wsPort"] == 6001


def test_realtime_config_for_hosted_pusher(engine: Any) -> None:
    from leadcast.api import create_api

    settings = Settings.from_env(
        {
            "PUSHER_APP_ID": "1",
            "PUSHER_APP_KEY": "abc",
            "PUSHER_APP_SECRET": "s",
            "PUSHER_APP_CLUSTER": "eu",
        }
    )
    with ApiClient(create_api(settings, engine=engine)) as client:
        config = client.get("/api/realtime-config").json()
    assert (config["key"], config["cluster"], config["wsHost"]) == ("abc", "eu", None)
    assert config["forceTLS"] is True and config["wsPort"] is None
