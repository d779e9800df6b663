"""The PostgreSQL fixture skips locally but fails loudly on CI when there is no database."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from tests.support import postgres


def test_on_ci_a_missing_database_is_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="PostgreSQL is required on CI: nope"):
        postgres.unavailable("nope")


@pytest.mark.parametrize("ci", ["", "false", "1"])
def test_elsewhere_it_is_a_skip(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL not available: nope"):
        postgres.unavailable("nope")


def test_an_unreachable_configured_server_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(postgres.ENV_URL, "postgresql://nobody@127.0.0.1:1/none")
    with (
        pytest.raises(postgres.PostgresUnavailable, match="cannot create a database"),
        postgres.postgres_url(),
    ):
        pass  # pragma: no cover


def test_each_backend_gets_its_own_fresh_database(engine: Engine, backend: str) -> None:
    with engine.connect() as connection:
        if backend == "postgresql":
            name = connection.execute(text("SELECT current_database()")).scalar()
            assert str(name).startswith("leadcast_test_")
        assert connection.execute(text("SELECT count(*) FROM users")).scalar() == 0
