"""Registers the shared database fixtures (``engine`` runs each test on SQLite and PostgreSQL).

They are registered as one plugin rather than imported here, so the session-scoped
PostgreSQL server is started once for every test directory that uses it.
"""

from __future__ import annotations

import pytest

import tests.support.fixtures as shared


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.is_registered(shared):
        config.pluginmanager.register(shared, "leadcast-db-fixtures")
