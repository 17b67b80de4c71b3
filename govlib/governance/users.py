"""People who sign in, their roles and tenants: stored in the store, changed only through govlib.

Each person is a ``users`` row keyed by their pseudonym (:mod:`govlib.evidence.people`: the name
lives only in ``people``) holding a public token id, the per-user salt and scrypt hash of their
personal token's secret (the token itself is printed once and never stored), their roles and,
optionally, the tenants they are limited to. Every change (``user_added``, ``user_roles_set``,
``user_revoked``) rebinds the row to its WORM entry in one transaction, so ``govlib verify``
proves every row and :func:`authenticate` reads proven rows only: a role granted by editing the
SQLite file fails closed.

A personal token reads ``gvl_<token id>_<secret>``; the id finds the row, the secret is checked
against the salted hash with a constant-time comparison.

Refusals (a known person acting beyond their roles) are recorded as ``access_refused`` WORM
entries by :func:`record_refusal`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from govlib import bounds
from govlib.clock import utc_now_iso
from govlib.errors import GovlibError
from govlib.evidence import worm
from govlib.evidence.binder import append_bound, binding_seq, proven_rows
from govlib.evidence.keys import keyring_for
from govlib.evidence.people import person_name, pseudonym_of, pseudonymise
from govlib.store.database import Store

__all__ = [
    "ROLES",
    "PERMISSIONS",
    "TOKEN_PREFIX",
    "UserError",
    "AccessDenied",
    "User",
    "add_user",
    "list_users",
    "revoke_user",
    "set_roles",
    "authenticate",
    "user_by_name",
    "user_by_person",
    "people_configured",
    "record_refusal",
    "checked_roles",
    "allowed_tenants",
]

#: The roles, each with what it may do (see docs/security.md).
ROLES: tuple[str, ...] = ("executive", "finance", "reviewer", "compliance", "admin")
#: Actions each role allows.
PERMISSIONS: dict[str, frozenset[str]] = {
    "executive": frozenset({"view_executive"}),
    "finance": frozenset({"view_costs"}),
    "reviewer": frozenset({"view_spc", "read_audit", "stamp"}),
    "compliance": frozenset(
        {"view_executive", "view_costs", "view_spc", "read_audit", "verify", "report"}
    ),
    "admin": frozenset({"view_executive", "killswitch_reset", "manage_users"}),
}
TOKEN_PREFIX = "gvl_"
_USER_COLUMNS = (
    "person",
    "token_id",
    "token_salt",
    "token_hash",
    "roles",
    "tenants",
    "status",
    "updated_at",
    "worm_seq",
)
#: scrypt cost (16 MiB, tens of milliseconds): a stolen store does not yield tokens cheaply.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32, "maxmem": 64 * 1024 * 1024}


class UserError(GovlibError):
    """A users command was refused (bad role, unknown person, already a user)."""


class AccessDenied(GovlibError):
    """Not signed in (``status`` 401) or signed in without the role (``status`` 403)."""

    def __init__(self, message: str, *, status: int, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


@dataclass(frozen=True)
class User:
    """One person who signs in, as the proven ``users`` row says.

    Example:
        >>> u = User("person:ab", "Ana", ("reviewer",), None, "active", "abc")
        >>> u.may("stamp"), u.may("killswitch_reset"), u.sees_tenant("acme")
        (True, False, True)
    """

    person: str
    name: str
    roles: tuple[str, ...]
    tenants: tuple[str, ...] | None
    status: str
    token_id: str

    def may(self, action: str) -> bool:
        """Whether one of the person's roles allows ``action``."""
        return self.status == "active" and any(action in PERMISSIONS[r] for r in self.roles)

    def sees_tenant(self, tenant: str | None) -> bool:
        """Whether rows of ``tenant`` are visible to this person."""
        return self.tenants is None or tenant in self.tenants

    def as_json(self) -> dict[str, Any]:
        """What ``govlib users list --json`` and the pages show (never the hash)."""
        return {
            "name": self.name,
            "roles": list(self.roles),
            "tenants": None if self.tenants is None else list(self.tenants),
            "status": self.status,
        }


def allowed_tenants(user: User | None) -> tuple[str, ...] | None:
    """The tenants a read model filters to (None: every tenant; no user: every tenant).

    Example:
        >>> allowed_tenants(None) is None
        True
    """
    return None if user is None else user.tenants


def checked_roles(roles: Iterable[str]) -> tuple[str, ...]:
    """The roles, each one of :data:`ROLES`, sorted and unique.

    Example:
        >>> checked_roles(["reviewer", "admin", "reviewer"])
        ('admin', 'reviewer')
    """
    out = tuple(sorted(set(roles)))
    if not out:
        raise UserError(f"role: none given; expected one or more of {', '.join(ROLES)}")
    for role in out:
        if role not in ROLES:
            raise UserError(f"role: {bounds.shown(role)}; expected one of {', '.join(ROLES)}")
    return out


def _checked_tenants(tenants: Sequence[str] | None) -> tuple[str, ...] | None:
    if not tenants:
        return None
    for t in tenants:
        if not isinstance(t, str) or not t.strip():
            raise UserError(f"tenant: {bounds.shown(t)}; expected a non-empty tenant id")
        bounds.checked_text("tenant", t.strip())
    return tuple(sorted({t.strip() for t in tenants}))


def _checked_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise UserError(f"name: {bounds.shown(name)}; expected the person's name")
    return bounds.checked_text("by", name.strip(), optional=False)  # type: ignore[return-value]


def _hash(secret: str, salt: bytes) -> str:
    return hashlib.scrypt(secret.encode("utf-8"), salt=salt, **_SCRYPT).hex()  # type: ignore[arg-type]


def _split_token(token: str) -> tuple[str, str] | None:
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX):
        return None
    parts = token[len(TOKEN_PREFIX) :].split("_", 1)
    if len(parts) != 2 or not parts[0] or not parts[1] or len(token) > 200:
        return None
    return parts[0], parts[1]


def _user(store: Store, row: dict[str, Any]) -> User:
    tenants = json.loads(row["tenants"]) if row["tenants"] else None
    return User(
        person=row["person"],
        name=person_name(store, row["person"]) or row["person"],
        roles=tuple(json.loads(row["roles"])),
        tenants=tuple(tenants) if tenants is not None else None,
        status=row["status"],
        token_id=row["token_id"],
    )


def _rows(store: Store) -> list[dict[str, Any]]:
    return proven_rows(store, "users")


def list_users(store: Store) -> list[User]:
    """Every person who may sign in or did (revoked ones too), by name; proven rows only.

    Example:
        >>> s = Store(memory=True)
        >>> _ = add_user(s, "Ana", ["reviewer"])
        >>> [(u.name, u.roles, u.status) for u in list_users(s)]
        [('Ana', ('reviewer',), 'active')]
    """
    return sorted((_user(store, r) for r in _rows(store)), key=lambda u: u.name.casefold())


def people_configured(store: Store) -> bool:
    """Whether any active person is configured (then CLI verbs need a personal token).

    Example:
        >>> people_configured(Store(memory=True))
        False
    """
    if not store.query_one("SELECT 1 AS x FROM users WHERE status = 'active' LIMIT 1"):
        return False
    return any(u.status == "active" for u in list_users(store))


def _write(store: Store, action: str, row: dict[str, Any], *, insert: bool) -> None:
    """Write ``row`` (insert or replace the person's row) and the entry that binds it."""
    seq = binding_seq(store)
    row = row | {"updated_at": utc_now_iso(), "worm_seq": seq}
    if insert:
        store.insert("users", row)
    else:
        store.execute(
            "UPDATE users SET token_id = ?, token_salt = ?, token_hash = ?, roles = ?, "
            "tenants = ?, status = ?, updated_at = ?, worm_seq = ? WHERE person = ?",
            tuple(row[k] for k in _USER_COLUMNS[1:]) + (row["person"],),
        )
    detail = {
        "person": row["person"],
        "roles": json.loads(row["roles"]),
        "tenants": json.loads(row["tenants"]) if row["tenants"] else None,
        "status": row["status"],
        "token_id": row["token_id"],
    }
    append_bound(store, action, [("users", row["person"])], outcome=row["status"], detail=detail)


def _find(store: Store, name: str) -> dict[str, Any] | None:
    person = pseudonym_of(keyring_for(store).pseudonym_key(), name)
    return next((r for r in _rows(store) if r["person"] == person), None)


def add_user(
    store: Store, name: str, roles: Iterable[str], tenants: Sequence[str] | None = None
) -> tuple[User, str]:
    """Add a person (or re-admit a revoked one with a new token); returns it and its token.

    The token is returned once: only its salted scrypt hash is stored.

    Example:
        >>> s = Store(memory=True)
        >>> user, token = add_user(s, "Ana", ["reviewer"], tenants=["acme"])
        >>> token.startswith("gvl_"), authenticate(s, token).name, user.tenants
        (True, 'Ana', ('acme',))
    """
    name = _checked_name(name)
    roles = checked_roles(roles)
    tenant_list = _checked_tenants(tenants)
    token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(24)
    salt = secrets.token_bytes(16)
    with store.transaction():
        existing = _find(store, name)
        if existing is not None and existing["status"] == "active":
            raise UserError(
                f"name: {name!r} is already an active user; expected a new person (change roles "
                "with `govlib users role`, or revoke first to issue a new token)"
            )
        person = pseudonymise(store, name)
        row = {
            "person": person,
            "token_id": token_id,
            "token_salt": salt.hex(),
            "token_hash": _hash(secret, salt),
            "roles": json.dumps(list(roles)),
            "tenants": json.dumps(list(tenant_list)) if tenant_list else None,
            "status": "active",
        }
        _write(store, "user_added", row, insert=existing is None)
    user = User(person, name, roles, tenant_list, "active", token_id)
    return user, f"{TOKEN_PREFIX}{token_id}_{secret}"


def _change(store: Store, name: str, action: str, **changes: Any) -> User:
    name = _checked_name(name)
    with store.transaction():
        row = _find(store, name)
        if row is None:
            raise UserError(f"name: {name!r}; no such user (expected a name from `users list`)")
        row = {k: row[k] for k in ("person", "token_id", "token_salt", "token_hash")} | {
            "roles": row["roles"],
            "tenants": row["tenants"],
            "status": row["status"],
        }
        _write(store, action, row | changes, insert=False)
    return next(u for u in list_users(store) if u.person == row["person"])


def revoke_user(store: Store, name: str) -> User:
    """Revoke a person: their token stops working at once; the row stays (history).

    Example:
        >>> s = Store(memory=True)
        >>> _, token = add_user(s, "Ana", ["reviewer"])
        >>> revoke_user(s, "Ana").status
        'revoked'
    """
    return _change(store, name, "user_revoked", status="revoked")


def set_roles(store: Store, name: str, roles: Iterable[str]) -> User:
    """Replace a person's roles.

    Example:
        >>> s = Store(memory=True)
        >>> _ = add_user(s, "Ana", ["reviewer"])
        >>> set_roles(s, "Ana", ["finance", "executive"]).roles
        ('executive', 'finance')
    """
    roles = checked_roles(roles)
    return _change(store, name, "user_roles_set", roles=json.dumps(list(roles)))


def authenticate(
    store: Store, token: str | None, *, verified: dict[str, str] | None = None
) -> User:
    """The active person whose personal token this is; :class:`AccessDenied` (401) otherwise.

    ``verified`` (a server's memory) maps the SHA-256 of tokens already checked to the hash they
    matched: while the person's row still holds that hash, the scrypt work is not repeated (a
    revoked or re-issued token no longer matches).

    Example:
        >>> s = Store(memory=True)
        >>> authenticate(s, "gvl_x_y")
        Traceback (most recent call last):
        ...
        govlib.governance.users.AccessDenied: token: unknown or revoked personal token
    """
    parts = _split_token(token or "")
    if parts is None:
        raise AccessDenied("token: missing or not a personal token (gvl_...)", status=401)
    token_id, secret = parts
    row = next((r for r in _rows(store) if r["token_id"] == token_id), None)
    if row is None or row["status"] != "active":
        _hash(secret, b"0" * 16)  # the same work for an unknown id: no timing oracle
        raise AccessDenied("token: unknown or revoked personal token", status=401)
    seen = hashlib.sha256(str(token).encode("utf-8")).hexdigest()
    known = verified.get(seen) if verified is not None else None
    if known is None or not hmac.compare_digest(known, row["token_hash"]):
        digest = _hash(secret, bytes.fromhex(row["token_salt"]))
        if not hmac.compare_digest(digest, row["token_hash"]):
            raise AccessDenied("token: unknown or revoked personal token", status=401)
        if verified is not None:
            if len(verified) > 10_000:
                verified.clear()
            verified[seen] = row["token_hash"]
    return _user(store, row)


def user_by_person(store: Store, person: str) -> User | None:
    """The active person with this pseudonym (the signed-in identity a kernel receives)."""
    row = next((r for r in _rows(store) if r["person"] == person), None)
    return None if row is None or row["status"] != "active" else _user(store, row)


def user_by_name(store: Store, name: str) -> User | None:
    """The active person with this name (a trusted proxy's user header).

    Example:
        >>> s = Store(memory=True)
        >>> _ = add_user(s, "Ana", ["finance"])
        >>> user_by_name(s, "Ana").roles, user_by_name(s, "Bo")
        (('finance',), None)
    """
    if not isinstance(name, str) or not name.strip():
        return None
    row = _find(store, name.strip())
    return None if row is None or row["status"] != "active" else _user(store, row)


def record_refusal(
    store: Store, user: User | None, action: str, target: str, reason: str, *, via: str
) -> int:
    """Record a refused action as an ``access_refused`` WORM entry; returns its seq.

    Example:
        >>> s = Store(memory=True)
        >>> u = User("person:ab", "Ana", ("finance",), None, "active", "x")
        >>> record_refusal(s, u, "stamp", "audit_log 7", "role finance", via="api")
        1
    """
    detail = {
        "person": user.person if user else None,
        "roles": list(user.roles) if user else [],
        "action": action,
        "target": target,
        "reason": reason,
        "via": via,
    }
    return worm.append(store, "access_refused", outcome="refused", detail=detail).seq


def require(store: Store, user: User, action: str, target: str, *, via: str) -> None:
    """Raise :class:`AccessDenied` (403), recording the refusal, unless ``user`` may ``action``.

    Example:
        >>> s = Store(memory=True)
        >>> require(s, User("person:ab", "Ana", ("reviewer",), None, "active", "x"), "stamp",
        ...         "audit_log 1", via="api")
    """
    if user.may(action):
        return
    roles = ", ".join(user.roles) or "none"
    reason = f"{user.name} (roles: {roles}) may not {action.replace('_', ' ')}"
    record_refusal(store, user, action, target, reason, via=via)
    needed = sorted(r for r in ROLES if action in PERMISSIONS[r])
    raise AccessDenied(
        f"{reason}; expected one of the roles {', '.join(needed)}", status=403, field="role"
    )


__all__ += ["require"]
