"""Alert settings: how the dashboard alerts one user (stored on the server, per user).

- ``sound``: play a tone for excellent-tier leads (the browser still needs one click);
- ``toast_min_tier``: the lowest tier that pops a toast (``fair`` shows every lead);
- ``desktop_notifications``: show an OS notification while the tab is hidden.

A user who never saved any gets the defaults: no sound, every tier toasts, no desktop alerts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import sessionmaker

from leadcast.db.engine import SQLITE_BEGIN
from leadcast.db.models import AlertSettings as AlertSettingsRow
from leadcast.leads.model import Tier
from leadcast.services.clock import Clock, utc_now
from leadcast.services.errors import InvalidInput

__all__ = ["AlertSettings", "AlertSettingsStore"]


@dataclass(frozen=True, slots=True)
class AlertSettings:
    sound: bool = False
    toast_min_tier: Tier = Tier.FAIR
    desktop_notifications: bool = False

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["toast_min_tier"] = self.toast_min_tier.value
        return values

    def changed(self, changes: Mapping[str, Any]) -> AlertSettings:
        """A copy with ``changes`` applied (any subset of the fields).

        Raises:
            InvalidInput: naming every unknown field or invalid value.
        """
        problems: dict[str, str] = {}
        values: dict[str, Any] = {}
        for name, value in changes.items():
            if name in ("sound", "desktop_notifications"):
                if isinstance(value, bool):
                    values[name] = value
                else:
                    problems[name] = "must be true or false"
            elif name == "toast_min_tier":
                if isinstance(value, str) and value in {tier.value for tier in Tier}:
                    values[name] = Tier(value)
                else:
                    problems[name] = "must be one of excellent, good, fair"
            else:
                problems[str(name)[:50]] = "unknown setting"
        if problems:
            raise InvalidInput(problems)
        return replace(self, **values)


class AlertSettingsStore:
    """Reads and saves :class:`AlertSettings` per user."""

    def __init__(self, engine: Engine, *, clock: Clock = utc_now) -> None:
        self._sessions = sessionmaker(engine)
        self._writes = sessionmaker(engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"}))
        self._clock = clock

    def get(self, user_id: int) -> AlertSettings:
        with self._sessions() as session:
            row = session.get(AlertSettingsRow, user_id)
            return _settings(row) if row is not None else AlertSettings()

    def update(self, user_id: int, changes: Mapping[str, Any]) -> AlertSettings:
        """Apply ``changes`` and save; nothing is written when any of them is invalid.

        Raises:
            InvalidInput: an unknown field or an invalid value.
        """
        with self._writes.begin() as session:
            row = session.scalar(
                select(AlertSettingsRow).where(AlertSettingsRow.user_id == user_id)
            )
            current = _settings(row) if row is not None else AlertSettings()
            updated = current.changed(changes)
            if row is None:
                row = AlertSettingsRow(user_id=user_id)
                session.add(row)
            row.sound = updated.sound
            row.toast_min_tier = updated.toast_min_tier.value
            row.desktop_notifications = updated.desktop_notifications
            row.updated_at = self._clock()
            return updated


def _settings(row: AlertSettingsRow) -> AlertSettings:
    return AlertSettings(row.sound, Tier(row.toast_min_tier), row.desktop_notifications)
