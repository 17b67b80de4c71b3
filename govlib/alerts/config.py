"""Alert destinations as data in ``DIR/govlib.json`` (setting ``alert_destinations``).

`govlib alerts add` and `govlib alerts remove` edit that one list and keep every other setting
in the file as it was; the file is replaced atomically (write, fsync, rename).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from govlib.alerts.destinations import check_destination
from govlib.alerts.rules import AlertRuleError

__all__ = ["SETTINGS_FILE", "add_destination", "remove_destination", "destinations"]

SETTINGS_FILE = "govlib.json"


def _read(data_dir: Path) -> dict[str, Any]:
    path = data_dir / SETTINGS_FILE
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise AlertRuleError(f"{path}: not valid JSON ({exc}); expected an object") from None
    if not isinstance(doc, dict):
        raise AlertRuleError(f"{path}: expected a JSON object of setting: value")
    return doc


def _write(data_dir: Path, doc: dict[str, Any]) -> None:
    path = data_dir / SETTINGS_FILE
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def destinations(data_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The destinations written in ``DIR/govlib.json`` (none: ``[]``)."""
    found = _read(Path(data_dir)).get("alert_destinations", [])
    if not isinstance(found, list):
        raise AlertRuleError(f"alert_destinations: {found!r}; expected a list of destinations")
    return found


def add_destination(data_dir: str | os.PathLike[str], dest: dict[str, Any]) -> dict[str, Any]:
    """Check a destination, give it the next free id (``d1``, ``d2`` …) and save it.

    Example:
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> add_destination(d, {"type": "slack", "url": "https://hooks.example/x"})["id"]
        'd1'
        >>> add_destination(d, {"type": "teams", "url": "https://hooks.example/y"})["id"]
        'd2'
    """
    base = Path(data_dir)
    doc = _read(base)
    current = destinations(base)
    taken = {str(d.get("id")) for d in current if isinstance(d, dict)}
    n = 1
    while f"d{n}" in taken:
        n += 1
    checked = check_destination({**dest, "id": dest.get("id") or f"d{n}"})
    if checked["id"] in taken:
        raise AlertRuleError(f"id: {checked['id']!r} is already a destination; expected a new id")
    doc["alert_destinations"] = [*current, checked]
    _write(base, doc)
    return checked


def remove_destination(data_dir: str | os.PathLike[str], dest_id: str) -> dict[str, Any]:
    """Remove one destination by id (returned); an unknown id is refused naming the known ones."""
    base = Path(data_dir)
    doc = _read(base)
    current = destinations(base)
    keep = [d for d in current if not (isinstance(d, dict) and d.get("id") == dest_id)]
    if len(keep) == len(current):
        known = ", ".join(str(d.get("id")) for d in current if isinstance(d, dict)) or "none"
        raise AlertRuleError(f"ID: {dest_id!r} is not a destination; expected one of {known}")
    doc["alert_destinations"] = keep
    _write(base, doc)
    return next(d for d in current if isinstance(d, dict) and d.get("id") == dest_id)
