"""Acceptance of the issue "Every governance fact under the chain": no governed row moves unseen.

Four parts:

1. **Tamper suite.** Each attack runs on a fresh copy of the demo store, through a plain
   ``sqlite3`` connection: with the append-only guard triggers in place (what they allow: inserts
   into ``kill_switch_events`` / ``node_runs`` / ``verdict_events``, any change to the mutable
   ``workflow_runs`` / ``tool_registry`` / ``governance_rules``), or with the table's guard
   triggers dropped first (UPDATE / DELETE / REPLACE of append-only rows; the test first shows
   the triggers refuse the same statements). For each attack:

   (a) ``govlib verify --data-dir D`` exits 1 and names the table and what happened to the row;
   (b) ``govlib verify --checkpoints X --pubkey Y`` against the off-site copy of the checkpoint
       file and public key, taken before the attack, fails the same way;
   (c) the decision that reads the tampered state fails closed: the kill-switch and the registry
       through ``Governor.guard_step`` / ``guard_tool`` (reason ``unproven_state``, recorded),
       the rules when the ``Governor`` loads them and in ``govlib run clean``; runs, nodes and
       verdicts (no decision reads them) through ``verify_store(...).ok is False`` and
       ``checked_rows`` raising.

   The issue's own story (a forged kill-switch reset) also runs through the real ``govlib``
   command line in subprocesses: verify, verify against the off-site file, and ``govlib run
   clean`` ending "refused at intake".
2. **Browser.** After the forged reset, the executive page turns red (chain badge and headline)
   instead of a green "Chain verified".
3. **No false alarm.** Seeded random mixes of runs, verdicts, kill-switch cycles, registry
   changes, rule reloads and OTel ingestion verify and pass ``checked_rows`` everywhere.
4. **Every table accounted for.** ``docs/security.md`` gives every table of the schema a status.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from govlib.capture.otel import ingest_paths
from govlib.capture.verdicts import (
    VERDICTS,
    correct_verdict,
    record_evaluator_verdict,
    stamp_verdict,
)
from govlib.cli.main import cli
from govlib.clock import now_iso
from govlib.demo.claimsflow import run_scenario
from govlib.demo.claimsflow.catalog import TOOLS
from govlib.demo.claimsflow.rules import RULE_DEFINITIONS
from govlib.errors import GovernanceRefused
from govlib.evidence.bindings import GOVERNED, BindingError, checked_rows
from govlib.evidence.checkpoints import CHECKPOINT_FILE, sign_checkpoint
from govlib.evidence.keys import PUBKEY_FILE
from govlib.evidence.verify import verify_store
from govlib.governance.governor import Governor, KillSwitch, ToolRegistry, save_rules
from govlib.governance.users import (
    ROLES,
    add_user,
    authenticate,
    list_users,
    revoke_user,
    set_roles,
)
from govlib.store import schema
from govlib.store.database import Store

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_TRACES = ROOT / "tests" / "data" / "otel" / "sample_traces.jsonl"
GOVLIB = [sys.executable, "-m", "govlib"]
DISABLED_TOOL = "issue_payout"  # disabled through the API in the templates, before any attack
BY = "Dana Ortiz"

# What verify says of a row (the stable part of each line of govlib.evidence.bindings).
UNBOUND = ": no WORM entry binds it (written outside govlib)"
EDITED = ": differs from what WORM entry "
DELETED = ": missing; WORM entry "
REPOINTED = "(re-pointed or rolled back)"

# The two attacks the issue names, verbatim.
FORGED_RESET = (
    "INSERT INTO kill_switch_events(state, by, reason, at) "
    "VALUES ('reset', 'Dana Ortiz', 'fraud ring contained', :now)"
)
RUN_REWRITE = (
    "UPDATE workflow_runs SET status = 'completed', stopped_at_node = NULL, "
    "summary = 'Claim CLM-1042 paid USD 9,800.00' WHERE composition_id = :fraud_run"
)


# --- the prepared stores ------------------------------------------------------------------------
#: The personal token of the person added to each template (keyed by "kill-switch armed").
USER_TOKENS: dict[bool, str] = {}


@pytest.fixture(scope="module")
def templates(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[bool, Path]:
    """Two copies of the demo store, keyed by "kill-switch armed": False keeps the demo's state
    (TRIGGERED by the fraud run), True has it reset by a named person, so that a tool call gets
    past the kill-switch to the registry. Both have ``issue_payout`` disabled through the API and
    a checkpoint signed after it; both verify."""
    out = {}
    for armed in (False, True):
        target = tmp_path_factory.mktemp("governed-tamper") / ("armed" if armed else "triggered")
        shutil.copytree(demo_template, target, ignore=shutil.ignore_patterns("lake", "*.duckdb"))
        with Store(target) as store:
            if armed:
                KillSwitch(store).reset(BY, "fraud ring referred to investigations")
            ToolRegistry(store).disable(DISABLED_TOOL, by=BY)
            _user, USER_TOKENS[armed] = add_user(store, "Una User", ["reviewer"])
            # an evaluator's verdict (evaluator_verdicts), recorded through the API
            call_id, at = store.query("SELECT id, created_at FROM audit_log ORDER BY id LIMIT 1")[0]
            record_evaluator_verdict(store, "audit_log", call_id, "accept", "judge", at=at)
            sign_checkpoint(store)
            result = verify_store(store)
        assert result.ok, result.describe()
        out[armed] = target
    return out


@dataclass(frozen=True)
class Case:
    """A store copy ready to attack, and the off-site copy of its checkpoints taken before."""

    dir: Path
    offsite_file: Path
    offsite_key: Path

    @property
    def db(self) -> Path:
        return self.dir / "govlib.sqlite"


def fresh_case(template: Path, tmp_path: Path) -> Case:
    data, offsite = tmp_path / "data", tmp_path / "offsite"
    shutil.copytree(template, data)
    offsite.mkdir()
    shutil.copy(data / CHECKPOINT_FILE, offsite / CHECKPOINT_FILE)
    shutil.copy(data / PUBKEY_FILE, offsite / PUBKEY_FILE)
    return Case(data, offsite / CHECKPOINT_FILE, offsite / PUBKEY_FILE)


# --- the attacks --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Attack:
    """One attack: SQL statements (each must touch exactly one row) and what must catch it.

    ``drop`` names the tables whose guard triggers are dropped first (empty: the triggers stay and
    allow it). ``names`` are the tables verify must name, ``says`` what it must say of the row.
    ``decision``: ``kill_switch`` / ``registry`` (a guard refuses, reason ``unproven_state``),
    ``rules`` (the Governor refuses to load them), ``verify`` (no decision reads the table).
    """

    id: str
    sql: tuple[str, ...]
    names: tuple[str, ...]
    says: str
    decision: str
    drop: tuple[str, ...] = ()
    armed: bool = True
    tool: str = DISABLED_TOOL


ATTACKS: tuple[Attack, ...] = (
    # kill_switch_events (append-only; decisions read it): kept triggers allow the insert only
    Attack(
        "issue-forged-kill-switch-reset",
        (FORGED_RESET,),
        ("kill_switch_events",),
        UNBOUND,
        "kill_switch",
        armed=False,
    ),
    Attack(
        "kill-switch-update-trigger-to-reset",
        (
            "UPDATE kill_switch_events SET state = 'reset', by = 'Dana Ortiz', "
            "reason = 'fraud ring contained', rule = NULL, run_id = NULL WHERE id = :ks_last",
        ),
        ("kill_switch_events",),
        EDITED,
        "kill_switch",
        drop=("kill_switch_events",),
        armed=False,
    ),
    Attack(
        "kill-switch-delete-the-trigger",
        ("DELETE FROM kill_switch_events WHERE id = :ks_last",),
        ("kill_switch_events",),
        DELETED,
        "kill_switch",
        drop=("kill_switch_events",),
        armed=False,
    ),
    Attack(
        "kill-switch-replace-in-place",
        (
            "INSERT OR REPLACE INTO kill_switch_events(id, state, by, reason, rule, run_id, at, "
            "worm_seq) SELECT id, 'reset', 'Dana Ortiz', 'fraud ring contained', NULL, NULL, at, "
            "worm_seq FROM kill_switch_events WHERE id = :ks_last",
        ),
        ("kill_switch_events",),
        EDITED,
        "kill_switch",
        drop=("kill_switch_events",),
        armed=False,
    ),
    Attack(
        "kill-switch-moved-to-another-run",
        ("UPDATE kill_switch_events SET run_id = :other_run WHERE id = :ks_last",),
        ("kill_switch_events",),
        EDITED,
        "kill_switch",
        drop=("kill_switch_events",),
        armed=False,
    ),
    Attack(
        "kill-switch-re-pointed",
        ("UPDATE kill_switch_events SET worm_seq = worm_seq - 1 WHERE id = :ks_last",),
        ("kill_switch_events",),
        REPOINTED,
        "kill_switch",
        drop=("kill_switch_events",),
        armed=False,
    ),
    # tool_registry (mutable, no triggers; decisions read it)
    Attack(
        "tool-insert",
        (
            "INSERT INTO tool_registry(name, description, risk_tier, enabled, updated_at, "
            "updated_by) VALUES ('wire_transfer', 'Send money anywhere', 'low', 1, :now, 'Eve')",
        ),
        ("tool_registry",),
        UNBOUND,
        "registry",
        tool="wire_transfer",
    ),
    Attack(
        "issue-re-enable-a-disabled-tool",
        (f"UPDATE tool_registry SET enabled = 1 WHERE name = '{DISABLED_TOOL}'",),
        ("tool_registry",),
        EDITED,
        "registry",
    ),
    Attack(
        "tool-rolled-back-to-its-registration",
        (
            "UPDATE tool_registry SET enabled = 1, updated_at = :tool_registered_at, "
            "updated_by = 'claimsflow setup', worm_seq = :tool_registered_seq "
            f"WHERE name = '{DISABLED_TOOL}'",
        ),
        ("tool_registry",),
        EDITED,
        "registry",
    ),
    Attack(
        "tool-risk-tier-lowered",
        ("UPDATE tool_registry SET risk_tier = 'low' WHERE name = 'fraud_scoring'",),
        ("tool_registry",),
        EDITED,
        "registry",
        tool="fraud_scoring",
    ),
    Attack(
        "tool-re-pointed",
        ("UPDATE tool_registry SET worm_seq = worm_seq - 1 WHERE name = 'claim_intake'",),
        ("tool_registry",),
        REPOINTED,
        "registry",
        tool="claim_intake",
    ),
    Attack(
        "tool-delete",
        ("DELETE FROM tool_registry WHERE name = 'policy_lookup'",),
        ("tool_registry",),
        DELETED,
        "registry",
        tool="policy_lookup",
    ),
    # governance_rules (mutable, no triggers; decisions read it)
    Attack(
        "rule-insert",
        (
            "INSERT INTO governance_rules(id, description, condition, action, enabled, "
            "definition, updated_at) VALUES ('allow_all', 'Everything is allowed', "
            """'{"always":true}', 'allow', 1, '{"action":"allow","condition":{"always":true},"""
            """"description":"Everything is allowed","enabled":true,"id":"allow_all"}', :now)""",
        ),
        ("governance_rules",),
        UNBOUND,
        "rules",
    ),
    Attack(
        "issue-rule-threshold-0.8-to-0.99",
        (
            "UPDATE governance_rules SET condition = json_set(condition, '$.value', 0.99), "
            "definition = json_set(definition, '$.condition.value', 0.99) "
            "WHERE id = 'fraud_score_limit'",
        ),
        ("governance_rules",),
        EDITED,
        "rules",
    ),
    Attack(
        "rule-disabled",
        (
            "UPDATE governance_rules SET enabled = 0, "
            "definition = json_set(definition, '$.enabled', json('false')) "
            "WHERE id = 'fraud_score_limit'",
        ),
        ("governance_rules",),
        EDITED,
        "rules",
    ),
    Attack(
        "rule-delete",
        ("DELETE FROM governance_rules WHERE id = 'fraud_score_limit'",),
        ("governance_rules",),
        DELETED,
        "rules",
    ),
    # workflow_runs (mutable, no triggers; pages read it)
    Attack(
        "run-insert",
        (
            "INSERT INTO workflow_runs(composition_id, workflow_id, tenant_id, subject, "
            "started_at, ended_at, status, summary) SELECT 'run-forged', workflow_id, tenant_id, "
            "'CLM-9999', :now, :now, 'completed', 'Claim CLM-9999 paid USD 9,800.00' "
            "FROM workflow_runs WHERE composition_id = :fraud_run",
        ),
        ("workflow_runs",),
        UNBOUND,
        "verify",
    ),
    Attack(
        "issue-run-rewrite",
        (RUN_REWRITE,),
        ("workflow_runs",),
        EDITED,
        "verify",
    ),
    Attack(
        "run-delete",
        ("DELETE FROM workflow_runs WHERE composition_id = :fraud_run",),
        ("workflow_runs",),
        DELETED,
        "verify",
    ),
    # node_runs (append-only)
    Attack(
        "node-insert",
        (
            "INSERT INTO node_runs(run_id, node, position, status, started_at, ended_at, detail) "
            "VALUES (:fraud_run, 'payout', 7, 'completed', :now, :now, '{}')",
        ),
        ("node_runs",),
        UNBOUND,
        "verify",
    ),
    Attack(
        "node-update-blocked-to-completed",
        ("UPDATE node_runs SET status = 'completed', detail = '{}' WHERE id = :fraud_node",),
        ("node_runs",),
        EDITED,
        "verify",
        drop=("node_runs",),
    ),
    Attack(
        "node-delete",
        ("DELETE FROM node_runs WHERE id = :fraud_node",),
        ("node_runs",),
        DELETED,
        "verify",
        drop=("node_runs",),
    ),
    Attack(
        "node-moved-to-another-run",
        ("UPDATE node_runs SET run_id = :other_run WHERE id = :fraud_node",),
        ("node_runs",),
        EDITED,
        "verify",
        drop=("node_runs",),
    ),
    # verdict_events (append-only) and the audit_log verdict triple
    Attack(
        "verdict-event-insert",
        (
            "INSERT INTO verdict_events(audit_id, verdict, kind, verdict_by, verdict_at) "
            "VALUES (:open_audit, 'accept', 'stamp', 'Eve', :now)",
        ),
        ("verdict_events",),
        UNBOUND,
        "verify",
    ),
    Attack(
        "verdict-forged-through-an-inserted-event",
        (
            "INSERT INTO verdict_events(audit_id, verdict, kind, verdict_by, verdict_at) "
            "VALUES (:open_audit, 'accept', 'stamp', 'Eve', :now)",
            "UPDATE audit_log SET human_verdict = 'accept', verdict_by = 'Eve', verdict_at = :now "
            "WHERE id = :open_audit",
        ),
        ("verdict_events", "audit_log"),
        UNBOUND,
        "verify",
    ),
    Attack(
        "verdict-event-flipped",
        ("UPDATE verdict_events SET verdict = 'reject' WHERE id = :verdict_id",),
        ("verdict_events",),
        EDITED,
        "verify",
        drop=("verdict_events",),
    ),
    Attack(
        "verdict-event-delete",
        ("DELETE FROM verdict_events WHERE id = :verdict_id",),
        ("verdict_events",),
        DELETED,
        "verify",
        drop=("verdict_events",),
    ),
    Attack(
        "verdict-event-moved-to-another-run",
        ("UPDATE verdict_events SET audit_id = :other_audit WHERE id = :verdict_id",),
        ("verdict_events",),
        EDITED,
        "verify",
        drop=("verdict_events",),
    ),
    # evaluator_verdicts (append-only): a machine's verdict, apart from human review
    Attack(
        "evaluator-verdict-insert",
        (
            "INSERT INTO evaluator_verdicts(source, target_table, target_id, verdict, "
            "evaluated_at) VALUES ('evaluator:forged', 'audit_log', :open_audit, 'accept', :now)",
        ),
        ("evaluator_verdicts",),
        UNBOUND,
        "verify",
    ),
    Attack(
        "evaluator-verdict-flipped",
        ("UPDATE evaluator_verdicts SET verdict = 'reject' WHERE id = :evaluation_id",),
        ("evaluator_verdicts",),
        EDITED,
        "verify",
        drop=("evaluator_verdicts",),
    ),
    Attack(
        "evaluator-verdict-delete",
        ("DELETE FROM evaluator_verdicts WHERE id = :evaluation_id",),
        ("evaluator_verdicts",),
        DELETED,
        "verify",
        drop=("evaluator_verdicts",),
    ),
    Attack(
        "audit-log-verdict-triple-flipped",
        ("UPDATE audit_log SET human_verdict = 'reject' WHERE id = :verdict_audit",),
        ("audit_log",),
        "differs from the latest WORM verdict entry",
        "verify",
        drop=("audit_log",),
    ),
    # users (sign-in reads proven rows only): a role granted, a person forged, a person removed
    Attack(
        "users-role-granted-behind-govlibs-back",
        ('UPDATE users SET roles = \'["admin", "reviewer"]\' WHERE person = :user_person',),
        ("users",),
        EDITED,
        "users",
    ),
    Attack(
        "users-forged-admin",
        (
            "INSERT INTO users(person, token_id, token_salt, token_hash, roles, tenants, status, "
            "updated_at, worm_seq) VALUES ('person:00000000000000forged', 'f0f0', '00', '00', "
            "'[\"admin\"]', NULL, 'active', :now, NULL)",
        ),
        ("users",),
        UNBOUND,
        "users",
    ),
    Attack(
        "users-person-deleted",
        ("DELETE FROM users WHERE person = :user_person",),
        ("users",),
        DELETED,
        "users",
    ),
    Attack(
        "audit-log-verdict-triple-cleared",
        (
            "UPDATE audit_log SET human_verdict = NULL, verdict_by = NULL, verdict_at = NULL "
            "WHERE id = :verdict_audit",
        ),
        ("audit_log",),
        "is missing from the row",
        "verify",
        drop=("audit_log",),
    ),
)


def facts(conn: sqlite3.Connection) -> dict[str, Any]:
    """The rows the attacks aim at, read from the store about to be attacked."""

    def one(sql: str, *args: Any) -> Any:
        row = conn.execute(sql, args).fetchone()
        assert row is not None, sql
        return row[0]

    fraud_run = one(
        "SELECT composition_id FROM workflow_runs WHERE subject = 'CLM-1042' "
        "AND status = 'blocked' ORDER BY started_at DESC LIMIT 1"
    )
    verdict_id, verdict_audit = conn.execute(
        "SELECT id, audit_id FROM verdict_events ORDER BY id DESC LIMIT 1"
    ).fetchone()
    verdict_run = one("SELECT composition_id FROM audit_log WHERE id = ?", verdict_audit)
    registered = conn.execute(
        "SELECT seq, ts FROM worm_log WHERE action = 'tool_registered' "
        "AND json_extract(detail, '$.tool') = ? ORDER BY seq DESC LIMIT 1",
        (DISABLED_TOOL,),
    ).fetchone()
    return {
        "now": now_iso(),
        "fraud_run": fraud_run,
        "other_run": one(
            "SELECT composition_id FROM workflow_runs WHERE composition_id != ? "
            "ORDER BY started_at DESC LIMIT 1",
            fraud_run,
        ),
        "fraud_node": one(
            "SELECT id FROM node_runs WHERE run_id = ? AND status = 'blocked'", fraud_run
        ),
        "ks_last": one("SELECT MAX(id) FROM kill_switch_events"),
        "verdict_id": verdict_id,
        "evaluation_id": one("SELECT MAX(id) FROM evaluator_verdicts"),
        "verdict_audit": verdict_audit,
        "other_audit": one(
            "SELECT MAX(id) FROM audit_log WHERE composition_id != ? AND human_verdict IS NULL",
            verdict_run,
        ),
        "open_audit": one("SELECT MAX(id) FROM audit_log WHERE human_verdict IS NULL"),
        "tool_registered_seq": registered[0],
        "tool_registered_at": registered[1],
        "user_person": one("SELECT person FROM users ORDER BY person LIMIT 1"),
    }


def _statements(conn: sqlite3.Connection, attack: Attack, f: dict[str, Any]) -> None:
    """The attack's statements in one transaction; each must change exactly one row."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for sql in attack.sql:
            changed = conn.execute(sql, f).rowcount
            assert changed == 1, f"{attack.id}: {sql!r} changed {changed} rows"
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def run_attack(db: Path, attack: Attack) -> None:
    """Tamper with the store file behind govlib's back, as the attack says."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        f = facts(conn)
        for table in attack.drop:
            # while the guard triggers are there, they refuse the very same statements
            with pytest.raises(sqlite3.IntegrityError, match=re.escape(table)):
                _statements(conn, attack, f)
            triggers = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,)
            ).fetchall()
            assert triggers, table
            for (name,) in triggers:
                conn.execute(f"DROP TRIGGER {name}")
        _statements(conn, attack, f)
    finally:
        conn.close()


def cli_verify(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["verify", *map(str, args)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def assert_caught(code: int, out: str, attack: Attack, how: str) -> None:
    assert code == 1, f"{attack.id} ({how}): exit {code}: {out}"
    for table in attack.names:
        assert f"{table} row " in out, f"{attack.id} ({how}) does not name {table}: {out}"
    assert attack.says in out, f"{attack.id} ({how}): expected {attack.says!r} in: {out}"


def last_refusal(store: Store) -> dict[str, Any]:
    row = store.query("SELECT action, detail FROM worm_log ORDER BY seq DESC LIMIT 1")[0]
    return {"action": row["action"]} | json.loads(row["detail"] or "{}")


def assert_decision_fails_closed(case: Case, attack: Attack) -> None:
    table = attack.names[0]
    if attack.decision in ("kill_switch", "registry"):
        with Store(case.dir) as store:
            gov = Governor(store)
            with pytest.raises(GovernanceRefused) as refused:
                if attack.decision == "kill_switch":
                    gov.guard_step("intake", run_id="run-after-the-attack")
                else:
                    gov.guard_tool(attack.tool, run_id="run-after-the-attack", node="payout")
            assert refused.value.reason == "unproven_state", str(refused.value)
            assert f"{table} row " in str(refused.value)
            assert "refusing to decide on unproven state" in str(refused.value)
            recorded = last_refusal(store)
            assert (recorded["action"], recorded["reason"]) == ("call_refused", "unproven_state")
    elif attack.decision == "users":
        # Sign-in reads proven rows only: nobody signs in on a tampered users table.
        with Store(case.dir) as store, pytest.raises(BindingError, match=f"^{table} row "):
            authenticate(store, USER_TOKENS[attack.armed])
    elif attack.decision == "rules":
        # Rules are read when a Governor is built, before any guard runs: the error names the
        # row and nothing runs, but no `call_refused` entry (reason unproven_state) is written.
        with Store(case.dir) as store:
            runs = store.query_one("SELECT COUNT(*) FROM workflow_runs")
            with pytest.raises(BindingError, match=f"^{table} row "):
                Governor(store)  # loads the stored rules: proven rows only
        result = CliRunner().invoke(cli, ["run", "clean", "--data-dir", str(case.dir)])
        assert result.exit_code != 0, result.output
        assert f"{table} row " in result.output
        assert "refusing to decide on unproven state" in result.output
        with Store(case.dir, create=False, readonly=True) as store:
            assert store.query_one("SELECT COUNT(*) FROM workflow_runs") == runs
    else:
        with Store(case.dir, create=False, readonly=True) as store:
            result = verify_store(store)
            assert result.ok is False
            assert any(f"{table} row " in p.reason for p in result.problems), result.describe()
            if table != "audit_log":
                with pytest.raises(BindingError, match=f"{table} row "):
                    checked_rows(store, table)


@pytest.mark.slow
@pytest.mark.parametrize(
    "attack",
    [pytest.param(a, id=f"{'dropped' if a.drop else 'kept'}-triggers-{a.id}") for a in ATTACKS],
)
def test_attack_is_caught(attack: Attack, templates: dict[bool, Path], tmp_path: Path) -> None:
    case = fresh_case(templates[attack.armed], tmp_path)
    run_attack(case.db, attack)

    code, out = cli_verify("--data-dir", case.dir)
    print(f"\n[governed-tamper] {attack.id}: verify exit {code}: {out.strip()}")
    assert_caught(code, out, attack, "data dir")

    offsite = ("--checkpoints", case.offsite_file, "--pubkey", case.offsite_key)
    code, out = cli_verify("--data-dir", case.dir, *offsite)
    assert_caught(code, out, attack, "off-site checkpoint file")

    assert_decision_fails_closed(case, attack)


def test_every_governed_table_is_inserted_updated_and_deleted() -> None:
    """The matrix above covers an insert, an update and a delete of every governed table."""
    verbs = {"INSERT": "insert", "UPDATE": "update", "DELETE": "delete"}
    seen: dict[str, set[str]] = {}
    for a in ATTACKS:
        for sql in a.sql:
            verb, table = re.match(r"(\w+)(?: OR REPLACE)? (?:INTO|FROM)?\s*(\w+)", sql).groups()
            seen.setdefault(table, set()).add(verbs[verb])
    for t in GOVERNED:
        assert seen.get(t.name) == {"insert", "update", "delete"}, (t.name, seen.get(t.name))


# --- a binding entry deleted from the log with its row ---------------------------------------------
# The attacker also deletes (worm_log triggers dropped) the WORM entry that binds the newest
# version of a row, and rolls the row back to the version an older entry still proves. Verify
# catches it (a seq gap, or a log shorter than its signed checkpoint). Decisions check each
# binding entry's MAC and also that the log has no gap and reaches its newest signed checkpoint,
# so they refuse too.
@dataclass(frozen=True)
class Unlinked:
    id: str
    armed: bool
    verify_says: str
    decision: str  # "step": guard_step must refuse; "tool": guard_tool(DISABLED_TOOL) must refuse


UNLINKED = (
    Unlinked("kill-switch-trigger-and-its-entry-deleted", False, "entry missing", "step"),
    Unlinked("tool-disable-entry-deleted-row-rolled-back", True, "log truncated", "tool"),
)


def unlink(db: Path, case: Unlinked) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        for name in ("worm_log_no_delete", "kill_switch_events_no_delete"):
            conn.execute(f"DROP TRIGGER {name}")
        if case.decision == "step":  # the fraud run's trigger: row and entry gone
            row_id, seq = conn.execute(
                "SELECT id, worm_seq FROM kill_switch_events ORDER BY id DESC LIMIT 1"
            ).fetchone()
            conn.execute("DELETE FROM kill_switch_events WHERE id = ?", (row_id,))
        else:  # the disable entry gone, the row back to what its registration bound
            f = facts(conn)
            (seq,) = conn.execute(
                "SELECT worm_seq FROM tool_registry WHERE name = ?", (DISABLED_TOOL,)
            ).fetchone()
            conn.execute(
                "UPDATE tool_registry SET enabled = 1, updated_at = ?, updated_by = "
                "'claimsflow setup', worm_seq = ? WHERE name = ?",
                (f["tool_registered_at"], f["tool_registered_seq"], DISABLED_TOOL),
            )
        assert conn.execute("DELETE FROM worm_log WHERE seq = ?", (seq,)).rowcount == 1
    finally:
        conn.close()


@pytest.mark.parametrize("case", UNLINKED, ids=[c.id for c in UNLINKED])
def test_deleted_binding_entry_is_caught_by_verify(
    case: Unlinked, templates: dict[bool, Path], tmp_path: Path
) -> None:
    store_case = fresh_case(templates[case.armed], tmp_path)
    unlink(store_case.db, case)
    code, out = cli_verify("--data-dir", store_case.dir)
    print(f"\n[governed-tamper] {case.id}: verify exit {code}: {out.strip()}")
    assert code == 1 and case.verify_says in out, out
    offsite = ("--checkpoints", store_case.offsite_file, "--pubkey", store_case.offsite_key)
    code, out = cli_verify("--data-dir", store_case.dir, *offsite)
    assert code == 1 and case.verify_says in out, out


@pytest.mark.parametrize("case", UNLINKED, ids=[c.id for c in UNLINKED])
def test_deleted_binding_entry_stops_decisions(
    case: Unlinked, templates: dict[bool, Path], tmp_path: Path
) -> None:
    store_case = fresh_case(templates[case.armed], tmp_path)
    unlink(store_case.db, case)
    with Store(store_case.dir) as store, pytest.raises((GovernanceRefused, BindingError)) as err:
        gov = Governor(store)
        if case.decision == "step":
            gov.guard_step("intake", run_id="run-after-the-attack")
        else:
            gov.guard_tool(DISABLED_TOOL, run_id="run-after-the-attack", node="payout")
    assert "worm_log" in str(err.value), err.value  # the missing entry or the truncation, named


def govlib_cli(*args: str | Path) -> tuple[int, str]:
    done = subprocess.run([*GOVLIB, *map(str, args)], capture_output=True, text=True, timeout=300)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, (done.stdout + done.stderr).strip()


@pytest.mark.slow
def test_issue_story_forged_reset_through_the_real_cli(
    templates: dict[bool, Path], tmp_path: Path
) -> None:
    """The issue, end to end, in subprocesses: a reset forged in SQLite is named by verify (also
    against the off-site file) and `govlib run clean` is refused at intake, naming the row."""
    case = fresh_case(templates[False], tmp_path)
    conn = sqlite3.connect(case.db)
    with conn:
        row_id = conn.execute(FORGED_RESET, {"now": now_iso()}).lastrowid
    conn.close()
    line = f"kill_switch_events row {row_id}: no WORM entry binds it (written outside govlib)"

    code, out = govlib_cli("verify", "--data-dir", case.dir)
    print(f"\n[governed-tamper] issue story, govlib verify: exit {code}: {out}")
    assert code == 1 and line in out.splitlines()[1].strip(), out
    code, out = govlib_cli(
        "verify",
        "--data-dir",
        case.dir,
        "--checkpoints",
        case.offsite_file,
        "--pubkey",
        case.offsite_key,
    )
    assert code == 1 and line in out, out

    code, out = govlib_cli("run", "clean", "--data-dir", case.dir)
    print(f"[governed-tamper] issue story, govlib run clean: exit {code}: {out}")
    assert code == 0, out
    assert f"refused at intake: step 'intake' refused: {line}" in out, out


# --- the browser ----------------------------------------------------------------------------------
PAGE = "/voila/render/executive_spog.ipynb"
TIMEOUT_MS = 90_000


def _is_red(page: Any, css: str) -> bool:
    colour = page.eval_on_selector(css, "e => getComputedStyle(e).backgroundColor")
    r, g, b = (int(x) for x in colour[colour.index("(") + 1 : colour.index(")")].split(",")[:3])
    return r > 200 and g < 225 and b < 225 and r - g > 25


@pytest.mark.browser
@pytest.mark.slow
def test_executive_page_turns_red_after_a_forged_reset(demo_dir: Path) -> None:
    from harness import browser_page, require_browser, screenshot, voila_app

    require_browser()
    conn = sqlite3.connect(demo_dir / "govlib.sqlite")
    with conn:
        row_id = conn.execute(FORGED_RESET, {"now": now_iso()}).lastrowid
    conn.close()
    named = f"kill_switch_events row {row_id}: no WORM entry binds it"
    with voila_app(demo_dir) as base, browser_page(1280, 800) as (page, net):
        page.goto(base + PAGE, wait_until="commit", timeout=TIMEOUT_MS)
        page.wait_for_selector(".gl-panel-cost .gl-run-total", state="visible", timeout=TIMEOUT_MS)
        screenshot(page, "governed-tamper-forged-reset")

        badge = page.locator(".gl-chain-badge")
        assert badge.get_attribute("data-ok") == "false"
        assert named in badge.inner_text()
        assert "gl-bad" in badge.locator(".gl-badge").get_attribute("class")
        assert _is_red(page, ".gl-chain-badge .gl-badge")

        headline = page.locator(".gl-headline")
        assert headline.get_attribute("data-level") == "bad"
        assert "Audit trail cannot be trusted" in headline.inner_text()
        assert named in headline.inner_text()
        assert _is_red(page, ".gl-headline")

        assert "Chain verified" not in page.locator("body").inner_text()
        assert net.external == [], net.external


# --- no false alarm -------------------------------------------------------------------------------
REVIEWERS = ("Priya Nair", "Tom Becker", "Grace Liu")
OPERATIONS = (
    "clean",
    "fraud",
    "stamp",
    "correct",
    "kill_switch",
    "tool",
    "rules",
    "otel",
    "users",
)


def _rules_variant(rng: random.Random) -> list[dict[str, Any]]:
    rules = json.loads(json.dumps(RULE_DEFINITIONS))
    fraud = next(r for r in rules if r["id"] == "fraud_score_limit")
    fraud["condition"]["value"] = rng.choice([0.8, 0.85, 0.9])
    if rng.random() < 0.3:
        rules[0]["enabled"] = False
    return rules


def _verdict(store: Store, rng: random.Random, *, correct: bool) -> None:
    unstamped = [
        r["id"] for r in store.query("SELECT id FROM audit_log WHERE human_verdict IS NULL")
    ]
    if not correct or not store.query_one(
        "SELECT COUNT(*) FROM audit_log WHERE human_verdict IS NOT NULL"
    ):
        stamp_verdict(
            rng.choice(unstamped), rng.choice(VERDICTS), rng.choice(REVIEWERS), store=store
        )
        if not correct:
            return
    row = rng.choice(
        store.query("SELECT id, human_verdict FROM audit_log WHERE human_verdict IS NOT NULL")
    )
    other = next(v for v in VERDICTS if v != row["human_verdict"])
    correct_verdict(row["id"], other, rng.choice(REVIEWERS), "second look", store=store)


def _operate(store: Store, rng: random.Random, op: str) -> None:
    if op in ("clean", "fraud"):
        run_scenario(store, op)
    elif op in ("stamp", "correct"):
        _verdict(store, rng, correct=op == "correct")
    elif op == "kill_switch":
        ks = KillSwitch(store)
        if ks.state().armed:
            ks.trigger(rng.choice(REVIEWERS), "drill")
        else:
            ks.reset(rng.choice(REVIEWERS), "drill over")
    elif op == "tool":
        registry = ToolRegistry(store)
        name = rng.choice(sorted(TOOLS))
        spec = registry.get(name)
        assert spec is not None
        (registry.disable if spec.enabled else registry.enable)(name, by=rng.choice(REVIEWERS))
    elif op == "rules":
        save_rules(store, _rules_variant(rng))
    elif op == "otel":
        ingest_paths(store, [SAMPLE_TRACES])
    elif op == "users":
        _change_people(store, rng)


def _change_people(store: Store, rng: random.Random) -> None:
    """Add a person, change their roles or revoke them (every change a bound entry)."""
    name = rng.choice(REVIEWERS)
    people = {u.name: u for u in list_users(store)}
    if name not in people or people[name].status == "revoked":
        add_user(store, name, [rng.choice(ROLES)])
    elif rng.random() < 0.5:
        set_roles(store, name, rng.sample(ROLES, 2))
    else:
        revoke_user(store, name)


@pytest.mark.slow
@pytest.mark.parametrize(
    "seed", [*range(10), *(pytest.param(s, marks=pytest.mark.soak) for s in range(10, 40))]
)
def test_no_false_alarm_after_a_random_history(
    seed: int, tmp_path: Path, no_service_wait: None
) -> None:
    rng = random.Random(seed)
    ops = [*OPERATIONS, *(rng.choice(OPERATIONS) for _ in range(8))]
    rng.shuffle(ops)
    with Store(tmp_path / "data") as store:
        run_scenario(store, "clean")  # ClaimsFlow set up, audit rows to stamp
        for op in ops:
            _operate(store, rng, op)
        result = verify_store(store)
        assert result.ok, f"seed {seed}, ops {ops}: {result.describe()}"
        for table in GOVERNED:
            rows = checked_rows(store, table.name)
            assert rows, f"seed {seed}: no {table.name} row was written by {ops}"
        gov = Governor(store)  # decisions read the same rows and do not refuse them
        if KillSwitch(store).state().armed:
            gov.guard_step("intake", run_id="run-after-the-history")
        else:
            with pytest.raises(GovernanceRefused) as refused:
                gov.guard_step("intake", run_id="run-after-the-history")
            assert refused.value.reason == "kill_switch", str(refused.value)


# --- every table accounted for --------------------------------------------------------------------
STATUSES = ("bound to the chain by ", "not governance evidence because ")


def documented_tables() -> dict[str, str]:
    """``| table | status |`` rows of the "Every table of the store" section of docs/security.md."""
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    match = re.search(r"^## Every table of the store\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, "docs/security.md has no '## Every table of the store' section"
    rows: dict[str, str] = {}
    for line in match.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 2 or set(cells[0]) <= {"-", " "}:
            continue
        name = cells[0].strip("`")
        if name == "table":
            continue
        assert name not in rows, f"docs/security.md lists {name} twice"
        rows[name] = " | ".join(cells[1:])
    return rows


def test_security_doc_gives_every_table_a_status() -> None:
    documented = documented_tables()
    expected = [*schema.TABLES, "schema_version"]
    missing = [t for t in expected if t not in documented]
    assert not missing, f"docs/security.md '## Every table of the store' misses: {missing}"
    unknown = sorted(set(documented) - set(expected))
    assert not unknown, f"docs/security.md lists tables the schema does not have: {unknown}"
    for table in expected:
        status = documented[table]
        if table == "worm_log":  # the chain itself: nothing binds it but its own MACs
            assert status.startswith("the chain itself"), status
            continue
        assert status.startswith(STATUSES), f"{table}: {status!r}; expected one of {STATUSES}"
    for t in GOVERNED:
        status = documented[t.name]
        assert status.startswith("bound to the chain by row bindings"), (t.name, status)
        for action in t.actions:
            assert f"`{action}`" in status, f"{t.name}: its binding action {action} is not named"
