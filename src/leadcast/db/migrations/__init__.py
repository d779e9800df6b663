"""Alembic migrations of the leadcast schema (run them with ``leadcast.db.migrate``)."""
