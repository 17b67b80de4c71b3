"""People, roles and personal tokens in the store (issue 19): every change a bound WORM entry."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from govlib.evidence.verify import verify_store
from govlib.governance.users import (
    AccessDenied,
    UserError,
    add_user,
    authenticate,
    list_users,
    people_configured,
    require,
    revoke_user,
    set_roles,
)
from govlib.store.database import Store


def _govlib(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "govlib", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "data")
    yield s
    s.close()


def test_token_is_stored_only_as_a_salted_hash(store):
    _, token = add_user(store, "Ana Reviewer", ["reviewer"])
    row = dict(store.query("SELECT * FROM users")[0])
    secret = token.split("_", 2)[2]
    dumped = json.dumps(row) + json.dumps([dict(r) for r in store.query("SELECT * FROM worm_log")])
    assert secret not in dumped and token not in dumped
    assert "Ana Reviewer" not in dumped  # the chain and the row hold the pseudonym only
    assert row["person"].startswith("person:") and len(row["token_salt"]) == 32
    # two people with the same secret would still get different hashes (per-user salt)
    _, other = add_user(store, "Bo", ["finance"])
    rows = store.query("SELECT token_salt FROM users")
    assert len({r["token_salt"] for r in rows}) == 2
    assert authenticate(store, other).name == "Bo"


def test_each_change_is_a_bound_entry_and_verify_checks_it(store):
    add_user(store, "Ana", ["reviewer"], tenants=["acme", "acme", "zeta"])
    set_roles(store, "Ana", ["reviewer", "compliance"])
    revoke_user(store, "Ana")
    actions = [r["action"] for r in store.query("SELECT action FROM worm_log ORDER BY seq")]
    assert actions == ["user_added", "user_roles_set", "user_revoked"]
    assert verify_store(store).ok
    (u,) = list_users(store)
    assert (u.roles, u.tenants, u.status) == (
        ("compliance", "reviewer"),
        ("acme", "zeta"),
        "revoked",
    )
    with sqlite3.connect(store.path) as raw:  # grant a role behind govlib's back
        raw.execute("UPDATE users SET roles = '[\"admin\"]', status = 'active'")
    result = verify_store(store)
    assert not result.ok and "users row" in result.problems[0].reason


def test_wrong_unknown_and_revoked_tokens_are_401(store):
    _, token = add_user(store, "Ana", ["reviewer"])
    for bad in ("", "nope", token[:-1] + ("x" if token[-1] != "x" else "y"), "gvl_abc_def"):
        with pytest.raises(AccessDenied) as err:
            authenticate(store, bad)
        assert err.value.status == 401
    assert authenticate(store, token).name == "Ana"
    revoke_user(store, "Ana")
    with pytest.raises(AccessDenied, match="unknown or revoked"):
        authenticate(store, token)
    assert not people_configured(store)


def test_roles_are_checked_and_refusals_recorded(store):
    with pytest.raises(UserError, match="role: 'boss'; expected one of executive, finance"):
        add_user(store, "Ana", ["boss"])
    with pytest.raises(UserError, match="no such user"):
        set_roles(store, "Nobody", ["finance"])
    user, _ = add_user(store, "Fin", ["finance"])
    with pytest.raises(UserError, match="already an active user"):
        add_user(store, "Fin", ["reviewer"])
    with pytest.raises(AccessDenied) as err:
        require(store, user, "stamp", "audit_log 3", via="api")
    assert err.value.status == 403 and "expected one of the roles reviewer" in str(err.value)
    entry = store.query("SELECT action, detail FROM worm_log ORDER BY seq DESC LIMIT 1")[0]
    detail = json.loads(entry["detail"])
    assert entry["action"] == "access_refused"
    assert (detail["action"], detail["target"], detail["via"]) == ("stamp", "audit_log 3", "api")
    assert detail["person"] == user.person


@pytest.mark.slow
def test_cli_users_token_alone_on_last_line_and_cli_verbs_take_the_person(tmp_path):
    data = tmp_path / "data"
    assert _govlib("init", "--data-dir", str(data)).returncode == 0
    out = _govlib("users", "add", "Ana Reviewer", "--role", "reviewer", "--data-dir", str(data))
    assert out.returncode == 0, out.stderr
    token = out.stdout.rstrip("\n").splitlines()[-1]
    assert token.startswith("gvl_") and " " not in token
    listed = _govlib("users", "list", "--data-dir", str(data))
    assert "Ana Reviewer" in listed.stdout and token not in listed.stdout
    # people configured: --by alone is refused, the token names the person
    refused = _govlib(
        "killswitch", "trigger", "--by", "X", "--reason", "r", "--data-dir", str(data)
    )
    assert refused.returncode == 2 and "GOVLIB_USER_TOKEN" in refused.stderr
    # a reviewer may not touch the kill-switch: refused, recorded
    denied = _govlib(
        "killswitch",
        "trigger",
        "--reason",
        "r",
        "--data-dir",
        str(data),
        env={"GOVLIB_USER_TOKEN": token},
    )
    assert denied.returncode == 2 and "may not killswitch reset" in denied.stderr
    admin = _govlib("users", "add", "Dana Admin", "--role", "admin", "--data-dir", str(data))
    admin_token = admin.stdout.splitlines()[-1]
    token_file = tmp_path / "dana.token"
    token_file.write_text(admin_token + "\n")
    ok = _govlib(
        "killswitch",
        "trigger",
        "--reason",
        "drill",
        "--token-file",
        str(token_file),
        "--data-dir",
        str(data),
    )
    assert ok.returncode == 0 and "TRIGGERED by Dana Admin" in ok.stdout
    revoked = _govlib("users", "revoke", "Ana Reviewer", "--data-dir", str(data))
    assert revoked.returncode == 0
    gone = _govlib(
        "killswitch",
        "reset",
        "--reason",
        "r",
        "--data-dir",
        str(data),
        env={"GOVLIB_USER_TOKEN": token},
    )
    assert gone.returncode == 2 and "unknown or revoked" in gone.stderr
    assert _govlib("verify", "--data-dir", str(data)).returncode == 0


def test_page_stamper_checks_role_and_tenant_before_any_write(store):
    """The kernel's check, whatever the page shows: a forged click from a person without the
    role, or on another tenant's call, writes nothing and the refusal is recorded."""
    import ipywidgets as widgets

    from govlib.apps.spc.stamp import Stamper
    from govlib.capture.rows import insert_audit_batch

    insert_audit_batch(
        store, [(t, "lookup", None, None, 1, 1, 3, "0000abcd", None, 0) for t in ("acme", "zeta")]
    )
    cora, _ = add_user(store, "Cora", ["compliance"])
    tess, _ = add_user(store, "Tess", ["reviewer"], tenants=["acme"])
    nobody = Stamper(store, widgets.Text(value="Typed Name"), signed_in=True)
    assert not nobody.can_stamp and "nobody is signed in" in nobody.stamp([1], "accept").refused[0]
    compliance = Stamper(store, widgets.Text(), user=cora)
    assert not compliance.can_stamp
    out = compliance.stamp([1], "accept")
    assert out.stamped == [] and "may not stamp" in out.refused[0]
    reviewer = Stamper(store, widgets.Text(value="Someone Else"), user=tess)
    assert reviewer.can_stamp and reviewer.name == "Tess"
    assert "no such tool call for you" in reviewer.stamp([2], "accept").refused[0]
    assert reviewer.stamp([1], "accept").stamped == [1]
    rows = store.query("SELECT id, human_verdict FROM audit_log ORDER BY id")
    assert [(r["id"], r["human_verdict"]) for r in rows] == [(1, "accept"), (2, None)]
    refused = [
        json.loads(r["detail"])
        for r in store.query("SELECT detail FROM worm_log WHERE action = 'access_refused'")
    ]
    assert [(r["person"], r["via"]) for r in refused] == [(cora.person, "page")]
    assert verify_store(store).ok


def test_admin_resets_the_kill_switch_from_the_executive_page(tmp_path):
    """Recorded exactly as `govlib killswitch reset`: the admin's name (as a pseudonym), the
    reason, a signed checkpoint; a reason is required; a non-admin is refused and recorded."""
    from govlib.apps.executive.page import SpogApp, reset_as
    from govlib.governance.killswitch import KillSwitch

    data = tmp_path / "data"
    with Store(data) as s:
        admin, _ = add_user(s, "Dana Admin", ["admin"])
        finn, _ = add_user(s, "Finn", ["finance", "executive"])
        KillSwitch(s).trigger("rule", "incident 42")
    page = SpogApp(data, viewer=admin)
    assert page.reset_box.children  # the admin's control is on the page
    assert "reason is required" in page.reset_kill_switch()
    assert not SpogApp(data, viewer=finn).reset_box.children  # nobody else's
    assert reset_as(data, finn, "because").startswith("Refused:")
    page.reset_reason.value = "fraud ring blocked"
    assert "armed: reset by Dana Admin" in page.reset_kill_switch()
    with Store(data, create=False) as s:
        state = KillSwitch(s).state()
        assert (state.by, state.reason, state.armed) == ("Dana Admin", "fraud ring blocked", True)
        entry = s.query("SELECT detail FROM worm_log WHERE action = 'kill_switch_reset'")[0]
        assert "Dana Admin" not in entry["detail"]
        assert verify_store(s).ok
    page.close()


def test_tool_call_tables_show_only_the_persons_tenants(store):
    """Enforced in the read model (query_calls), the function every tool-call table reads."""
    from govlib.analysis.review import CallFilter, query_calls
    from govlib.capture.rows import insert_audit_batch

    rows = [(t, "lookup", None, None, 1, 1, 3, "0000abcd", None, 0) for t in ("acme", "zeta") * 3]
    insert_audit_batch(store, rows)
    page = query_calls(store, CallFilter(tenants=("acme",)), limit=50)
    assert page.total == 3 and {r["tenant_id"] for r in page.rows} == {"acme"}
    assert query_calls(store, CallFilter(), limit=50).total == 6
    assert query_calls(store, CallFilter(tenants=()), limit=50).total == 0
