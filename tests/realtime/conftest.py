"""Registers the shared Redis fixture (``redis_url``) for the cluster backends' tests."""

from __future__ import annotations

import pytest

import tests.support.redis as shared


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.is_registered(shared):
        config.pluginmanager.register(shared, "leadcast-redis-fixtures")
