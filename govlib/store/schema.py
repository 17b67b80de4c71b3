"""The SQLite schema of the govlib store (the system of record), as data.

Append-only tables refuse UPDATE, DELETE and ``INSERT OR REPLACE`` over an existing row with
triggers. ``audit_log`` admits one UPDATE: the verdict triple, and only when a ``verdict_events``
row records exactly that stamp (the verdict API writes both in one transaction).

``worm_log`` stores each entry's canonical bytes in ``body``; its readable columns are generated
from ``body`` so they cannot disagree with what the MAC covers.
"""

from __future__ import annotations

SCHEMA_VERSION = 13

#: Tables whose DELETE guard admits only govlib's sealing delete (see ``seal_journal``).
SEALED_DELETE_GUARDED: tuple[str, ...] = (
    "audit_log",
    "worm_log",
    "token_ledger",
    "kill_switch_events",
    "node_runs",
    "verdict_events",
    "worm_retained",
)

#: Columns added by each schema version, applied in order to an older store opened for writing.
#: Version 2: the governed tables name the WORM entry that binds each row (``worm_seq``).
MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: tuple(
        f"ALTER TABLE {table} ADD COLUMN worm_seq INTEGER"
        for table in ("tool_registry", "governance_rules", "workflow_runs", "node_runs")
    ),
    # Version 5: the DELETE guards admit govlib's sealing delete (a ``seal_journal`` row in state
    # 'deleting', present only inside the sealing transaction); the old guards are recreated.
    5: tuple(f"DROP TRIGGER IF EXISTS {table}_no_delete" for table in SEALED_DELETE_GUARDED),
    # Version 6: a receipt keeps the requested model beside the responded one, and the price
    # table name that priced it (a dated name priced by its base model).
    6: (
        "ALTER TABLE token_ledger ADD COLUMN requested_model TEXT",
        "ALTER TABLE token_ledger ADD COLUMN priced_as TEXT",
    ),
    # Version 7: ``people`` (the name behind each pseudonym; created by the schema DDL, no column
    # changes elsewhere: entries written before stay as they were, with names in clear).
    7: (),
    # Version 9: ``users`` (people who sign in: a pseudonym, a salted token hash, roles, tenants;
    # each row bound to the chain) is created by the schema DDL; no column changes elsewhere.
    9: (),
    # Version 10: ``alert_outbox`` and ``alert_cursor`` (alerts; created by the schema DDL).
    10: (),
    # Version 12: ``evaluator_verdicts`` (a machine evaluator's verdict on a tool call or a model
    # call, kept apart from the human ``verdict_events``; created by the schema DDL).
    12: (),
    # Version 13: ``ingest_errors`` (requests `govlib collect` refused and trace files
    # `govlib ingest otel` could not read; created by the schema DDL) and the tool owner (left
    # out of a row's binding digest while NULL, so rows bound before still verify).
    13: ("ALTER TABLE tool_registry ADD COLUMN owner TEXT",),
}

#: Tables whose rows never change once written.
APPEND_ONLY: tuple[str, ...] = (
    "worm_log",
    "worm_checkpoints",
    "token_ledger",
    "kill_switch_events",
    "node_runs",
    "verdict_events",
    "ingested_spans",
    "evaluator_verdicts",
    "ingest_errors",
)

#: Every table, in creation order (``govlib status`` counts these).
TABLES: tuple[str, ...] = (
    "audit_log",
    "verdict_events",
    "worm_log",
    "worm_checkpoints",
    "token_ledger",
    "tool_registry",
    "governance_rules",
    "kill_switch_events",
    "workflows",
    "workflow_runs",
    "node_runs",
    "ingested_spans",
    "sealed_segments",
    "worm_retained",
    "seal_journal",
    "people",
    "users",
    "alert_outbox",
    "alert_cursor",
    "evaluator_verdicts",
    "ingest_errors",
)

AUDIT_COLUMNS: tuple[str, ...] = (
    "id",
    "tenant_id",
    "tool_name",
    "actor",
    "composition_id",
    "success",
    "schema_valid",
    "latency_ms",
    "output_hash",
    "error",
    "human_verdict",
    "verdict_by",
    "verdict_at",
    "created_at",
)

#: audit_log columns fixed at insert (covered by batch digests); the verdict triple is not.
AUDIT_IMMUTABLE: tuple[str, ...] = tuple(
    c for c in AUDIT_COLUMNS if c not in ("human_verdict", "verdict_by", "verdict_at")
)

LEDGER_COLUMNS: tuple[str, ...] = (
    "id",
    "run_id",
    "node",
    "tenant_id",
    "model",
    "provider",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "input_price_per_mtok",
    "output_price_per_mtok",
    "cache_read_price_per_mtok",
    "cache_write_price_per_mtok",
    "cost_usd",
    "currency",
    "price_table_version",
    "usage_source",
    "cost_source",
    "unpriced_reason",
    "created_at",
)

#: Receipt columns added later (schema 6); in a batch digest only when a row has a value, so
#: the digests of older receipts (which have none) stay what they were.
LEDGER_EXTRA_COLUMNS: tuple[str, ...] = ("requested_model", "priced_as")

DDL = """
CREATE TABLE IF NOT EXISTS schema_version(
  version INTEGER NOT NULL,
  applied_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS audit_log(
  id INTEGER PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  tool_name TEXT NOT NULL,
  actor TEXT,
  composition_id TEXT,
  success INTEGER CHECK (success IN (0, 1)),
  schema_valid INTEGER CHECK (schema_valid IN (0, 1)),
  latency_ms INTEGER,
  output_hash TEXT,
  error TEXT,
  human_verdict TEXT CHECK (human_verdict IN ('accept', 'reject')),
  verdict_by TEXT,
  verdict_at TEXT,
  created_at TEXT
);
CREATE INDEX IF NOT EXISTS audit_log_tool ON audit_log(tool_name, created_at);
CREATE INDEX IF NOT EXISTS audit_log_composition ON audit_log(composition_id);

CREATE TABLE IF NOT EXISTS verdict_events(
  id INTEGER PRIMARY KEY,
  audit_id INTEGER NOT NULL,
  verdict TEXT NOT NULL CHECK (verdict IN ('accept', 'reject')),
  previous_verdict TEXT,
  previous_by TEXT,
  previous_at TEXT,
  kind TEXT NOT NULL CHECK (kind IN ('stamp', 'correct')),
  verdict_by TEXT NOT NULL,
  verdict_at TEXT NOT NULL,
  reason TEXT,
  worm_seq INTEGER
);
CREATE INDEX IF NOT EXISTS verdict_events_audit ON verdict_events(audit_id);

-- A machine evaluator's verdict (an OTel ``gen_ai.evaluation.result``): on a tool call
-- (audit_log) or a model call (token_ledger). Never a human review: it does not touch the
-- audit_log verdict triple, the sampling gate or the accept rate.
CREATE TABLE IF NOT EXISTS evaluator_verdicts(
  id INTEGER PRIMARY KEY,
  source TEXT NOT NULL CHECK (source LIKE 'evaluator:_%'),
  target_table TEXT NOT NULL CHECK (target_table IN ('audit_log', 'token_ledger')),
  target_id INTEGER NOT NULL,
  verdict TEXT NOT NULL CHECK (verdict IN ('accept', 'reject')),
  label TEXT,
  score REAL,
  evaluated_at TEXT NOT NULL,
  trace_id TEXT,
  span_id TEXT,
  worm_seq INTEGER
);
CREATE INDEX IF NOT EXISTS evaluator_verdicts_target ON evaluator_verdicts(target_table, target_id);

CREATE TABLE IF NOT EXISTS worm_log(
  seq INTEGER PRIMARY KEY,
  body TEXT NOT NULL,
  prev_mac TEXT NOT NULL,
  mac TEXT NOT NULL,
  ts TEXT GENERATED ALWAYS AS (json_extract(body, '$.ts')) VIRTUAL,
  run_id TEXT GENERATED ALWAYS AS (json_extract(body, '$.run_id')) VIRTUAL,
  node TEXT GENERATED ALWAYS AS (json_extract(body, '$.node')) VIRTUAL,
  action TEXT GENERATED ALWAYS AS (json_extract(body, '$.action')) VIRTUAL,
  rule TEXT GENERATED ALWAYS AS (json_extract(body, '$.rule')) VIRTUAL,
  outcome TEXT GENERATED ALWAYS AS (json_extract(body, '$.outcome')) VIRTUAL,
  detail TEXT GENERATED ALWAYS AS (json_extract(body, '$.detail')) VIRTUAL,
  key_id TEXT GENERATED ALWAYS AS (json_extract(body, '$.key_id')) VIRTUAL
);
CREATE INDEX IF NOT EXISTS worm_log_run ON worm_log(run_id);
CREATE INDEX IF NOT EXISTS worm_log_action ON worm_log(action);

CREATE TABLE IF NOT EXISTS worm_checkpoints(
  id INTEGER PRIMARY KEY,
  seq INTEGER NOT NULL,
  log_size INTEGER NOT NULL,
  head_mac TEXT NOT NULL,
  created_at TEXT NOT NULL,
  key_id TEXT NOT NULL,
  body TEXT NOT NULL,
  signature TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS token_ledger(
  id INTEGER PRIMARY KEY,
  run_id TEXT,
  node TEXT,
  tenant_id TEXT,
  model TEXT NOT NULL,
  provider TEXT,
  input_tokens INTEGER NOT NULL CHECK (input_tokens >= 0),
  output_tokens INTEGER NOT NULL CHECK (output_tokens >= 0),
  cache_read_tokens INTEGER NOT NULL DEFAULT 0 CHECK (cache_read_tokens >= 0),
  cache_write_tokens INTEGER NOT NULL DEFAULT 0 CHECK (cache_write_tokens >= 0),
  input_price_per_mtok REAL,
  output_price_per_mtok REAL,
  cache_read_price_per_mtok REAL,
  cache_write_price_per_mtok REAL,
  cost_usd REAL,
  currency TEXT NOT NULL DEFAULT 'USD',
  price_table_version TEXT,
  usage_source TEXT NOT NULL CHECK (usage_source IN ('estimated', 'provider', 'ingested')),
  cost_source TEXT NOT NULL CHECK (cost_source IN ('price_table', 'provider', 'unpriced')),
  unpriced_reason TEXT,
  created_at TEXT NOT NULL,
  requested_model TEXT,
  priced_as TEXT
);
CREATE INDEX IF NOT EXISTS token_ledger_run ON token_ledger(run_id);

CREATE TABLE IF NOT EXISTS tool_registry(
  name TEXT PRIMARY KEY,
  description TEXT NOT NULL DEFAULT '',
  input_schema TEXT,
  risk_tier TEXT NOT NULL DEFAULT 'low' CHECK (risk_tier IN ('low', 'medium', 'high')),
  enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
  updated_at TEXT NOT NULL,
  updated_by TEXT,
  worm_seq INTEGER,
  owner TEXT
);

CREATE TABLE IF NOT EXISTS governance_rules(
  id TEXT PRIMARY KEY,
  description TEXT NOT NULL,
  scope_node TEXT,
  scope_tool TEXT,
  condition TEXT NOT NULL,
  action TEXT NOT NULL
    CHECK (action IN ('allow', 'deny', 'require_review', 'trip_kill_switch')),
  enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
  definition TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  worm_seq INTEGER
);

CREATE TABLE IF NOT EXISTS kill_switch_events(
  id INTEGER PRIMARY KEY,
  state TEXT NOT NULL CHECK (state IN ('triggered', 'reset')),
  by TEXT NOT NULL,
  reason TEXT NOT NULL,
  rule TEXT,
  run_id TEXT,
  at TEXT NOT NULL,
  worm_seq INTEGER
);

CREATE TABLE IF NOT EXISTS workflows(
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  graph TEXT NOT NULL DEFAULT '[]'
);

CREATE TABLE IF NOT EXISTS workflow_runs(
  composition_id TEXT PRIMARY KEY,
  workflow_id TEXT,
  tenant_id TEXT,
  subject TEXT,
  started_at TEXT NOT NULL,
  ended_at TEXT,
  status TEXT NOT NULL
    CHECK (status IN ('running', 'completed', 'blocked', 'failed', 'refused')),
  stopped_at_node TEXT,
  summary TEXT,
  worm_seq INTEGER
);
CREATE INDEX IF NOT EXISTS workflow_runs_started ON workflow_runs(started_at);

CREATE TABLE IF NOT EXISTS node_runs(
  id INTEGER PRIMARY KEY,
  run_id TEXT NOT NULL,
  node TEXT NOT NULL,
  position INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('completed', 'blocked', 'skipped', 'failed', 'refused')),
  started_at TEXT,
  ended_at TEXT,
  detail TEXT,
  worm_seq INTEGER
);
CREATE INDEX IF NOT EXISTS node_runs_run ON node_runs(run_id);

CREATE TABLE IF NOT EXISTS ingested_spans(
  trace_id TEXT NOT NULL,
  span_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  target_table TEXT,
  target_id INTEGER,
  source TEXT,
  ingested_at TEXT NOT NULL,
  PRIMARY KEY (trace_id, span_id, kind)
);

CREATE TABLE IF NOT EXISTS sealed_segments(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  first_seq INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  last_mac TEXT NOT NULL,
  manifest_sha256 TEXT NOT NULL,
  sealed_before TEXT NOT NULL,
  sealed_at TEXT NOT NULL,
  audit_max_id INTEGER NOT NULL,
  ledger_max_id INTEGER NOT NULL,
  entry_seq INTEGER NOT NULL,
  purged_at TEXT,
  purge_seq INTEGER
);

CREATE TABLE IF NOT EXISTS worm_retained(
  seq INTEGER PRIMARY KEY,
  body TEXT NOT NULL,
  prev_mac TEXT NOT NULL,
  mac TEXT NOT NULL,
  keys TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS seal_journal(
  id INTEGER PRIMARY KEY,
  segment TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('writing', 'deleting', 'sealed', 'abandoned')),
  started_at TEXT NOT NULL,
  finished_at TEXT
);

-- The name behind each person pseudonym written into chained bodies. Not chained and not
-- append-only: `govlib purge --person NAME` deletes a row, the chain is unaffected.
CREATE TABLE IF NOT EXISTS people(
  pseudonym TEXT PRIMARY KEY,
  name TEXT NOT NULL
);

-- People who sign in (govlib users add): the person's pseudonym (the name is in `people`), a
-- public token id, the salt and scrypt hash of the token's secret (never the token), roles and
-- tenants as JSON arrays. Each change rebinds the row to a `user_*` WORM entry (verify checks).
CREATE TABLE IF NOT EXISTS users(
  person TEXT PRIMARY KEY,
  token_id TEXT NOT NULL UNIQUE,
  token_salt TEXT NOT NULL,
  token_hash TEXT NOT NULL,
  roles TEXT NOT NULL,
  tenants TEXT,
  status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
  updated_at TEXT NOT NULL,
  worm_seq INTEGER
);

-- Alerts waiting for delivery, delivered or given up (one row per alert and destination).
-- Operational state, not append-only: the delivery state changes, and each final state is
-- recorded by an `alert_sent` / `alert_given_up` WORM entry named in `worm_seq`.
CREATE TABLE IF NOT EXISTS alert_outbox(
  id INTEGER PRIMARY KEY,
  alert_id TEXT NOT NULL,
  destination_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  summary TEXT NOT NULL,
  payload TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'given_up')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TEXT NOT NULL,
  last_error TEXT,
  created_at TEXT NOT NULL,
  finished_at TEXT,
  worm_seq INTEGER,
  UNIQUE (alert_id, destination_id)
);
CREATE INDEX IF NOT EXISTS alert_outbox_pending ON alert_outbox(state, next_attempt_at);

-- Where `govlib watch` is: the last event and entry it has seen, the condition states it has
-- alerted, its heartbeat (JSON values by name).
CREATE TABLE IF NOT EXISTS alert_cursor(
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

-- What ingestion refused or could not write (content-free: when, which source, how many
-- requests and spans, a bounded reason); `govlib watch` raises an `ingest` alert per batch.
CREATE TABLE IF NOT EXISTS ingest_errors(
  id INTEGER PRIMARY KEY,
  at TEXT NOT NULL,
  source TEXT NOT NULL,
  requests INTEGER NOT NULL,
  spans INTEGER NOT NULL,
  reason TEXT NOT NULL
);
"""


#: The one DELETE these tables admit: govlib's sealing transaction, which holds a
#: ``seal_journal`` row in state 'deleting' until it commits (a guard, not a proof: the chain
#: and the sealed segments prove what was moved).
_NOT_SEALING = "NOT EXISTS (SELECT 1 FROM seal_journal WHERE state = 'deleting')"


def _no_delete_trigger(table: str) -> str:
    return f"""
CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table} WHEN {_NOT_SEALING}
BEGIN SELECT RAISE(ABORT, '{table} is append-only: DELETE refused'); END;"""


def _append_only_triggers(table: str, same_key: str, on_existing: str = "ABORT") -> str:
    msg = f", '{table} is append-only: an existing row cannot be replaced'"
    msg = msg if on_existing == "ABORT" else ""
    delete = (
        _no_delete_trigger(table)
        if table in SEALED_DELETE_GUARDED
        else f"""
CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table}
BEGIN SELECT RAISE(ABORT, '{table} is append-only: DELETE refused'); END;"""
    )
    return f"""
CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table}
BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END;{delete}
CREATE TRIGGER IF NOT EXISTS {table}_no_replace BEFORE INSERT ON {table}
WHEN EXISTS (SELECT 1 FROM {table} WHERE {same_key})
BEGIN SELECT RAISE({on_existing}{msg}); END;
"""


_IMMUTABLE_CHANGED = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in AUDIT_IMMUTABLE)

AUDIT_TRIGGERS = f"""{_no_delete_trigger("audit_log")}
CREATE TRIGGER IF NOT EXISTS audit_log_no_replace BEFORE INSERT ON audit_log
WHEN NEW.id IS NOT NULL AND EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: an existing row cannot be replaced'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_verdict_needs_event BEFORE UPDATE ON audit_log
WHEN NOT EXISTS (
  SELECT 1 FROM verdict_events v
  WHERE v.audit_id = NEW.id AND v.verdict IS NEW.human_verdict
    AND v.verdict_by IS NEW.verdict_by AND v.verdict_at IS NEW.verdict_at
)
BEGIN SELECT RAISE(ABORT, 'audit_log: a verdict change needs its verdict_events row (use the verdict API)'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_immutable BEFORE UPDATE ON audit_log
WHEN {_IMMUTABLE_CHANGED}
BEGIN SELECT RAISE(ABORT, 'audit_log: only the verdict triple may change'); END;
"""

_KEYS = {
    "worm_log": "seq = NEW.seq",
    "worm_checkpoints": "id = NEW.id",
    "token_ledger": "id = NEW.id",
    "kill_switch_events": "id = NEW.id",
    "node_runs": "id = NEW.id",
    "verdict_events": "id = NEW.id",
    "worm_retained": "seq = NEW.seq",
    "evaluator_verdicts": "id = NEW.id",
    "ingest_errors": "id = NEW.id",
}


def triggers_sql() -> str:
    """All guard triggers as one script."""
    parts = [AUDIT_TRIGGERS]
    parts += [_append_only_triggers(table, key) for table, key in _KEYS.items()]
    # A span already ingested is skipped silently: ingestion is idempotent by design.
    same_span = "trace_id = NEW.trace_id AND span_id = NEW.span_id AND kind = NEW.kind"
    parts.append(_append_only_triggers("ingested_spans", same_span, on_existing="IGNORE"))
    return "\n".join(parts)
