"""The tool registry (MCP-style): name, description, argument JSON Schema, risk tier, enabled.

``tool_registry`` is mutable state; every change is also a WORM entry.

Bounds (:mod:`govlib.bounds`): the name at most 256 characters, the description 2,000, the
schema's canonical JSON 100,000, ``by`` 256; the change's time (the clock's now) from
2000-01-01 to now + ``max_clock_skew_s``. Beyond them the change is refused
(:class:`~govlib.bounds.BoundsError`) and nothing is written.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from govlib import bounds
from govlib.clock import now_iso
from govlib.evidence.binder import append_bound, binding_seq, proven_rows
from govlib.evidence.chain import canonical_json
from govlib.governance.killswitch import GovernanceError, checked_name
from govlib.store.database import Store

__all__ = ["RISK_TIERS", "ToolRegistry", "ToolSpec"]

RISK_TIERS = ("low", "medium", "high")


# --- tool registry ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ToolSpec:
    """A registered tool (MCP-style): name, description, argument JSON Schema, risk tier, enabled.

    Example:
        >>> ToolRegistry(Store(memory=True)).register("policy_lookup", "Find a policy").risk_tier
        'low'
    """

    name: str
    description: str
    schema: dict[str, Any] | None
    risk_tier: str
    enabled: bool
    updated_at: str
    updated_by: str | None
    owner: str | None = None


class ToolRegistry:
    """The ``tool_registry`` table (mutable state); every change is also a WORM entry.

    Example:
        >>> reg = ToolRegistry(Store(memory=True))
        >>> _ = reg.register("payout", "Pay a claim", {"type": "object"}, risk_tier="high")
        >>> reg.disable("payout", by="Dana Ortiz").enabled
        False
    """

    def __init__(self, store: Store, clock: Any | None = None) -> None:
        self.store = store
        self.clock = clock

    def _now(self) -> str:
        """The clock's now, refused when it lies outside the time bounds (a SimClock's may)."""
        at = now_iso(self.clock)
        if self.clock is not None:
            bounds.checked_time("at", at, skew_s=bounds.skew_seconds(self.store.data_dir))
        return at

    def get(self, name: str) -> ToolSpec | None:
        """The tool named ``name``, or None (every registry row must be proven by its binding)."""
        rows = [r for r in proven_rows(self.store, "tool_registry") if r["name"] == name]
        return _spec(rows[0]) if rows else None

    def all(self, *, proven: bool = True) -> list[ToolSpec]:
        """Every registered tool, by name (proven rows only: a broken one raises).

        ``proven=False`` reads the rows as they are, for a page that shows them beside the
        verification result.
        """
        if proven:
            rows = proven_rows(self.store, "tool_registry")
        else:
            rows = [dict(r) for r in self.store.query("SELECT * FROM tool_registry")]
        return [_spec(r) for r in sorted(rows, key=lambda r: r["name"])]

    def register(
        self,
        name: str,
        description: str,
        schema: Mapping[str, Any] | None = None,
        risk_tier: str = "low",
        enabled: bool = True,
        by: str | None = None,
        owner: str | None = None,
    ) -> ToolSpec:
        """Add or update a tool (``tool_registered``); the same spec again writes nothing.

        ``owner`` names the team whose destinations get the tool's drift, pill and sampling
        alerts (a destination's ``owners`` list; see docs/alerts.md).
        """
        name = checked_name("name", name, "tool_name")
        if risk_tier not in RISK_TIERS:
            shown = bounds.shown(risk_tier)
            raise GovernanceError(f"risk_tier: {shown}; expected one of {RISK_TIERS}")
        if not isinstance(description, str) or not isinstance(enabled, bool):
            raise GovernanceError(f"tool {name!r}: description must be text, enabled a boolean")
        bounds.checked_text("description", description)
        bounds.checked_text("by", by)
        if owner is not None:
            owner = checked_name("owner", owner, "by")
        schema_text = _schema_text(name, schema)
        bounds.checked_text("schema", schema_text)
        old = self.get(name)
        row = {"name": name, "description": description, "input_schema": schema_text}
        row |= {"risk_tier": risk_tier, "enabled": int(enabled), "owner": owner}
        if old is not None and _spec_row(old) == row:
            return old
        at = row["updated_at"] = self._now()
        row["updated_by"] = by
        digest = hashlib.sha256((schema_text or "").encode()).hexdigest()[:16]
        detail = {"tool": name, "risk_tier": risk_tier, "enabled": enabled, "by": by}
        if owner is not None:  # absent, not null: entries of tools without an owner unchanged
            detail["owner"] = owner
        detail |= {"schema_sha256": digest if schema_text else None, "changed": old is not None}
        with self.store.transaction():
            row["worm_seq"] = binding_seq(self.store)
            self.store.execute("DELETE FROM tool_registry WHERE name = ?", (name,))
            self.store.insert("tool_registry", row)
            append_bound(
                self.store,
                "tool_registered",
                [("tool_registry", name)],
                outcome="registered",
                detail=detail,
                ts=at,
            )
        return self.get(name)  # type: ignore[return-value]

    def _set_enabled(self, name: str, by: str, enabled: bool) -> ToolSpec:
        by = checked_name("by", by)
        with self.store.transaction():
            spec = self.get(name)
            if spec is None:
                known = ", ".join(t.name for t in self.all()) or "none"
                shown = bounds.shown(name)
                raise GovernanceError(f"tool: {shown} is not registered; expected one of {known}")
            if spec.enabled == enabled:
                return spec
            at = self._now()
            self.store.execute(
                "UPDATE tool_registry SET enabled = ?, updated_at = ?, updated_by = ?, "
                "worm_seq = ? WHERE name = ?",
                (int(enabled), at, by, binding_seq(self.store), name),
            )
            action = "tool_enabled" if enabled else "tool_disabled"
            detail = {"tool": name, "by": by}
            bound = [("tool_registry", name)]
            append_bound(self.store, action, bound, outcome=action[5:], detail=detail, ts=at)
        return self.get(name)  # type: ignore[return-value]

    def enable(self, name: str, by: str) -> ToolSpec:
        """Enable a registered tool (``tool_enabled``; already enabled: no-op)."""
        return self._set_enabled(name, by, True)

    def disable(self, name: str, by: str) -> ToolSpec:
        """Disable a registered tool (``tool_disabled``): calls to it are refused."""
        return self._set_enabled(name, by, False)


def _schema_text(name: str, schema: Mapping[str, Any] | None) -> str | None:
    if schema is None:
        return None
    from jsonschema import exceptions, validators

    try:
        validators.validator_for(schema).check_schema(schema)
        return canonical_json(schema)
    except (exceptions.SchemaError, TypeError, ValueError) as exc:
        msg = getattr(exc, "message", str(exc))
        raise GovernanceError(f"tool {name!r}: schema is not a valid JSON Schema ({msg})") from None


def _spec_row(spec: ToolSpec) -> dict[str, Any]:
    schema = canonical_json(spec.schema) if spec.schema is not None else None
    row = {"name": spec.name, "description": spec.description, "input_schema": schema}
    return row | {"risk_tier": spec.risk_tier, "enabled": int(spec.enabled), "owner": spec.owner}


def _spec(r: sqlite3.Row) -> ToolSpec:
    schema = json.loads(r["input_schema"]) if r["input_schema"] else None
    fields = (r["risk_tier"], bool(r["enabled"]), r["updated_at"], r["updated_by"])
    owner = r["owner"] if "owner" in r.keys() else None  # a read-only store of schema < 13
    return ToolSpec(r["name"], r["description"], schema, *fields, owner)
