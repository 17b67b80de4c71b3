"""govlib: AI-governance evidence that non-engineers can read."""

from __future__ import annotations

from govlib.errors import GovernanceRefused, GovlibError
from govlib.settings import SETTINGS, Settings, load_settings
from govlib.store import Store

__version__ = "0.1.0"

__all__ = [
    "GovernanceRefused",
    "GovlibError",
    "SETTINGS",
    "Settings",
    "Store",
    "load_settings",
]
