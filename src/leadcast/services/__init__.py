"""The service layer: accounts, lead intake and distribution, lead queries, the inbox, demo data.

Each service is a class built from an engine (and the pure domain's configuration); they keep
no other state and do no I/O until called.
"""

from leadcast.services.accounts import Accounts
from leadcast.services.demo import Credentials, DemoData, demo_lead, ensure_demo_data
from leadcast.services.distribution import EVENT, Distributor, SubmitResult, channel_for
from leadcast.services.errors import (
    Conflict,
    Forbidden,
    IdempotencyConflict,
    InvalidInput,
    InvalidTransition,
    NotAuthenticated,
    NotFound,
    ServiceError,
)
from leadcast.services.inbox import Inbox
from leadcast.services.intake import LeadInput
from leadcast.services.leads import LeadBook, LeadFilter, Status
from leadcast.services.profiles import (
    ApiKeyView,
    IssuedApiKey,
    LoginResult,
    PMView,
    Preferences,
    Role,
    UserView,
)
from leadcast.services.security import ScryptParams

__all__ = [
    "EVENT",
    "Accounts",
    "ApiKeyView",
    "Conflict",
    "Credentials",
    "DemoData",
    "Distributor",
    "Forbidden",
    "IdempotencyConflict",
    "Inbox",
    "InvalidInput",
    "InvalidTransition",
    "IssuedApiKey",
    "LeadBook",
    "LeadFilter",
    "LeadInput",
    "LoginResult",
    "NotAuthenticated",
    "NotFound",
    "PMView",
    "Preferences",
    "Role",
    "ScryptParams",
    "ServiceError",
    "Status",
    "SubmitResult",
    "UserView",
    "channel_for",
    "demo_lead",
    "ensure_demo_data",
]
