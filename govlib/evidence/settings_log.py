"""Settings in the chain: which thresholds were in force when a figure was shown.

The pill, SPC-window, sampling-ladder and drift thresholds change what a page says (a green pill,
a drift badge, "review 5%"). Whenever the values in force differ from the last recorded ones, a
``settings_loaded`` WORM entry records them all with their version (the first 12 hex digits of
the SHA-256 of their canonical JSON). Pages and the report name the version they used and the
entry that recorded it, so a reader can tell which thresholds stood behind a figure.

Example:
    >>> from govlib.settings import Settings
    >>> from govlib.store import Store
    >>> store = Store(memory=True)
    >>> first = record_settings(store, Settings())
    >>> (first.recorded, record_settings(store, Settings()).seq == first.seq)
    (True, True)
    >>> record_settings(store, Settings(pill_green_min=0.995)).version != first.version
    True
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from govlib.evidence import worm
from govlib.evidence.chain import canonical_json
from govlib.settings import SETTINGS, Settings
from govlib.store.database import Store

__all__ = ["RECORDED_GROUPS", "SettingsRecord", "recorded_settings", "record_settings"]

#: Groups of settings that change a decision or a figure (recorded in the chain).
RECORDED_GROUPS: tuple[str, ...] = ("pills", "spc", "sampling", "drift", "alerts")


@dataclass(frozen=True)
class SettingsRecord:
    """A settings version and the ``settings_loaded`` entry that recorded it (None: not yet)."""

    version: str
    seq: int | None
    recorded: bool = False

    def describe(self) -> str:
        """One line for a page footer or the report.

        Example:
            >>> SettingsRecord("0123456789ab", 42).describe()
            'Settings version 0123456789ab (recorded in WORM entry 42)'
        """
        where = f"recorded in WORM entry {self.seq}" if self.seq else "not yet recorded"
        return f"Settings version {self.version} ({where})"


def settings_in_force(settings: Settings) -> dict[str, Any]:
    """The values of every recorded setting, by name.

    Example:
        >>> settings_in_force(Settings())["pill_green_min"]
        0.99
    """
    values = settings.as_dict()
    return {s.name: values[s.name] for s in SETTINGS if s.group in RECORDED_GROUPS}


def settings_version(values: dict[str, Any]) -> str:
    """The version of a set of values: 12 hex digits of the SHA-256 of their canonical JSON.

    Example:
        >>> settings_version({"a": 1}) == settings_version({"a": 1})
        True
    """
    return hashlib.sha256(canonical_json(values).encode("utf-8")).hexdigest()[:12]


def _latest(store: Store, version: str) -> int | None:
    rows = store.query(
        "SELECT seq, detail FROM worm_log WHERE action = 'settings_loaded' ORDER BY seq DESC LIMIT 1"
    )
    if rows and json.loads(rows[0]["detail"] or "{}").get("version") == version:
        return int(rows[0]["seq"])
    return None


def recorded_settings(store: Store, settings: Settings) -> SettingsRecord:
    """The version of ``settings`` and the entry that recorded it, if it is the one in force.

    Read only: a page on a read-only copy still names the version it used.

    Example:
        >>> recorded_settings(Store(memory=True), Settings()).seq is None
        True
    """
    version = settings_version(settings_in_force(settings))
    return SettingsRecord(version, _latest(store, version))


def record_settings(store: Store, settings: Settings, *, ts: str | None = None) -> SettingsRecord:
    """Record the values in force with a ``settings_loaded`` entry when they changed.

    ``ts`` is the entry's time (default now; a simulated history passes its own clock's).
    Returns the record (``recorded`` True when this call wrote the entry).
    """
    values = settings_in_force(settings)
    version = settings_version(values)
    with store.transaction():
        seq = _latest(store, version)
        if seq is not None:
            return SettingsRecord(version, seq)
        detail = {"version": version, "values": values}
        entry = worm.append(store, "settings_loaded", outcome=version, detail=detail, ts=ts)
    return SettingsRecord(version, entry.seq, recorded=True)
