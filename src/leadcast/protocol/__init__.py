"""The Pusher Channels protocol (v7), sans I/O.

Nothing here does I/O or reads a clock: callers pass text, bytes and ``now`` in and carry
out the effects that come back.
"""

from leadcast.protocol.apps import App, AppRegistry, apps_from_env, apps_from_toml
from leadcast.protocol.channels import ChannelType, channel_type, validate_channel_name
from leadcast.protocol.errors import (
    ConfigError,
    ErrorCode,
    PusherError,
    RequestError,
    SignatureError,
)
from leadcast.protocol.session import (
    Close,
    Effect,
    Member,
    Publish,
    Send,
    Session,
    SignIn,
    Subscribe,
    Unsubscribe,
)

__all__ = [
    "App",
    "AppRegistry",
    "ChannelType",
    "Close",
    "ConfigError",
    "Effect",
    "ErrorCode",
    "Member",
    "Publish",
    "PusherError",
    "RequestError",
    "Send",
    "Session",
    "SignIn",
    "SignatureError",
    "Subscribe",
    "Unsubscribe",
    "apps_from_env",
    "apps_from_toml",
    "channel_type",
    "validate_channel_name",
]
