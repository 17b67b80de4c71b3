"""Row bindings: every governed row is proven by the WORM entry written with it.

A governed row (a kill-switch event, a workflow run, a node run, a rule, a registry entry, a
workflow definition, a verdict event) is written in the same transaction as a WORM entry whose
``detail.bound`` lists ``{"table", "key", "sha256"}`` for each row it binds, and the row names
that entry in its ``worm_seq`` column. The SHA-256 covers a canonical serialization of every
column but ``worm_seq``. A later change of a mutable row (a run finishing, a tool disabled, a
rule reloaded) appends a new binding entry for the same key; the newest binding is the one in
force.

So the chain proves each row: an inserted row has no binding, an edited row no longer matches
its digest, a deleted row leaves a binding with no row, a row rolled back to an older version
names an entry that is no longer the newest for its key. :func:`binding_problems` names each.

The digest and the comparison are pure (values in, values out); :func:`bind_insert`,
:func:`bind_update` and :func:`table_bindings` are the thin shell over a store.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from govlib.errors import GovlibError
from govlib.evidence import worm
from govlib.evidence.chain import entry_mac
from govlib.evidence.keys import KeyMaterialError, KeyRing, keyring_for
from govlib.evidence.sealed import live_anchor, retained_entries
from govlib.store.database import Store, StoreError

__all__ = [
    "GOVERNED",
    "Binding",
    "BindingError",
    "GovernedTable",
    "checked_rows",
    "BINDING_ACTIONS",
    "governed",
    "has_bindings",
    "next_seq",
    "store_row_digests",
    "RowDigest",
    "canonical_row_sql",
    "row_digests",
    "binding",
    "binding_problems",
    "bindings_of",
    "latest_bindings",
    "row_digest",
]


class BindingError(GovlibError):
    """A governed row is not proven by the chain; the message names the table, row and entry."""


@dataclass(frozen=True)
class GovernedTable:
    """A table whose rows a decision or a page depends on, and how the chain binds them.

    Parameters
    ----------
    name : str
        The SQLite table.
    key : str
        The column that names a row (its primary key).
    actions : tuple of str
        The WORM actions whose entries bind rows of this table (verify and decisions select
        entries by action, which is indexed).
    """

    name: str
    key: str
    actions: tuple[str, ...]


#: Every governed table of the store, with its key and the WORM actions that bind its rows.
#: ``bindings_upgraded`` entries (an older store's rows, bound once) bind rows of every table.
GOVERNED: tuple[GovernedTable, ...] = (
    GovernedTable("kill_switch_events", "id", ("kill_switch_triggered", "kill_switch_reset")),
    GovernedTable("governance_rules", "id", ("rules_loaded",)),
    GovernedTable("tool_registry", "name", ("tool_registered", "tool_enabled", "tool_disabled")),
    GovernedTable(
        "workflow_runs", "composition_id", ("run_started", "run_finished", "run_ingested")
    ),
    GovernedTable("node_runs", "id", ("node_finished",)),
    GovernedTable("verdict_events", "id", ("verdict_stamped", "verdict_corrected")),
    GovernedTable("users", "person", ("user_added", "user_roles_set", "user_revoked")),
    GovernedTable("evaluator_verdicts", "id", ("evaluator_verdict",)),
)

#: Every action whose entries may carry bindings.
BINDING_ACTIONS: tuple[str, ...] = (
    *dict.fromkeys(a for t in GOVERNED for a in t.actions),
    "bindings_upgraded",
)


@dataclass(frozen=True)
class Binding:
    """One row as a WORM entry recorded it: table, key and the digest of its columns.

    ``seq`` is the entry that holds the binding; ``names`` the ``worm_seq`` the row must carry:
    the binding entry itself, except for rows bound when an older store was upgraded, which keep
    naming the entry that first described them (or nothing, for tables that had no such column).
    """

    table: str
    key: str
    sha256: str
    seq: int = 0
    names: int | None = 0

    def as_detail(self) -> dict[str, Any]:
        """The form stored in an entry's ``detail.bound`` list."""
        return {"table": self.table, "key": self.key, "sha256": self.sha256}


class RowDigest(NamedTuple):
    """A governed row as verify sees it: its key (as text), the entry it names, its digest."""

    key: str
    worm_seq: int | None
    sha256: str


#: Columns a later schema added to a governed table: left out of a row's canonical text while
#: NULL, so the digests of rows bound before the column existed stay the same.
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {"tool_registry": ("owner",)}


def _json_row(table: str, cols: Sequence[str]) -> str:
    pairs = ", ".join(f"'{c}', {c}" for c in cols)
    return f"json_object('table', '{table}', 'row', json_object({pairs}))"


def canonical_row_sql(table: GovernedTable, columns: Sequence[str], where: str = "") -> str:
    """The SELECT of ``key, worm_seq, canonical text`` of a table's rows.

    The canonical text is SQLite's ``json_object`` of the table name and every column but
    ``worm_seq``, in column-name order: it is built in SQLite's C code (verify reads thousands of
    rows) and is the same text at write time, since the writer reads the row back the same way.
    An :data:`OPTIONAL_COLUMNS` column is in the text only when it is not NULL.

    Example:
        >>> t = GovernedTable("kill_switch_events", "id", ())
        >>> canonical_row_sql(t, ["state", "id", "worm_seq"])
        "SELECT id, worm_seq, json_object('table', 'kill_switch_events', 'row', json_object('id', id, 'state', state)) FROM kill_switch_events"
    """
    cols = sorted(c for c in columns if c != "worm_seq")
    body = _json_row(table.name, cols)
    for optional in OPTIONAL_COLUMNS.get(table.name, ()):
        if optional in cols:
            without = _json_row(table.name, [c for c in cols if c != optional])
            body = f"CASE WHEN {optional} IS NULL THEN {without} ELSE {body} END"
    sql = f"SELECT {table.key}, worm_seq, {body} FROM {table.name}"
    return f"{sql} {where}" if where else sql


def row_digest(canonical_text: str) -> str:
    """SHA-256 (hex) of a row's canonical text (see :func:`canonical_row_sql`).

    Example:
        >>> row_digest('{"row":{"id":1},"table":"t"}')[:12]
        '8060e1a3a5f2'
    """
    return hashlib.sha256(canonical_text.encode("utf-8")).hexdigest()


def row_digests(rows: Iterable[Sequence[Any]]) -> list[RowDigest]:
    """:class:`RowDigest` of each ``(key, worm_seq, canonical text)`` row of the SELECT.

    Example:
        >>> row_digests([(1, 4, "{}")])[0].key
        '1'
    """
    return [RowDigest(str(key), seq, row_digest(text)) for key, seq, text in rows]


def binding(table: str, digest: RowDigest) -> Binding:
    """The binding of one row (its key as text, its digest).

    Example:
        >>> b = binding("tool_registry", RowDigest("policy_lookup", 3, "ab" * 32))
        >>> (b.table, b.key, len(b.sha256))
        ('tool_registry', 'policy_lookup', 64)
    """
    return Binding(table, digest.key, digest.sha256)


def bindings_of(seq: int, detail: Any) -> list[Binding]:
    """The bindings an entry's ``detail`` carries (none when it carries no ``bound`` list).

    Example:
        >>> bindings_of(7, {"bound": [{"table": "t", "key": "1", "sha256": "ab"}]})
        [Binding(table='t', key='1', sha256='ab', seq=7, names=7)]
        >>> bindings_of(8, {"by": "Dana"})
        []
    """
    if not isinstance(detail, Mapping):
        return []
    bound = detail.get("bound")
    if not isinstance(bound, list):
        return []
    out = []
    for item in bound:
        if isinstance(item, Mapping) and {"table", "key", "sha256"} <= set(item):
            names = item["worm_seq"] if "worm_seq" in item else seq
            b = Binding(str(item["table"]), str(item["key"]), str(item["sha256"]), seq, names)
            out.append(b)
    return out


def latest_bindings(entries: Iterable[tuple[int, Any]]) -> dict[tuple[str, str], Binding]:
    """The binding in force per (table, key): the one of the newest entry naming that row.

    ``entries`` are ``(seq, detail)`` pairs, detail as a mapping or as JSON text.

    Example:
        >>> e = [(3, {"bound": [{"table": "t", "key": "a", "sha256": "x"}]}),
        ...      (5, {"bound": [{"table": "t", "key": "a", "sha256": "y"}]})]
        >>> latest_bindings(e)[("t", "a")].sha256
        'y'
    """
    latest: dict[tuple[str, str], Binding] = {}
    for seq, detail in sorted(entries, key=lambda pair: pair[0]):
        parsed = json.loads(detail) if isinstance(detail, str | bytes) else detail
        for b in bindings_of(seq, parsed):
            latest[(b.table, b.key)] = b
    return latest


def _shown(key: str) -> str:
    return key if len(key) <= 60 else f"{key[:57]}..."


def binding_problems(
    table: GovernedTable,
    rows: Sequence[RowDigest],
    latest: Mapping[tuple[str, str], Binding],
) -> list[str]:
    """One line per row of ``table`` that its binding does not prove (pure).

    A row with no binding was inserted outside govlib; a row whose digest differs was edited,
    moved to another run or rolled back to an older version; a row naming another entry than
    its binding expects was re-pointed; a binding with no row is a deleted row.

    Example:
        >>> t = GovernedTable("kill_switch_events", "id", ("kill_switch_reset",))
        >>> row = RowDigest("1", 4, "ab" * 32)
        >>> binding_problems(t, [row], {("kill_switch_events", "1"): Binding(t.name, "1", "ab" * 32, 4, 4)})
        []
        >>> binding_problems(t, [row], {})[0]
        'kill_switch_events row 1: no WORM entry binds it (written outside govlib)'
    """
    problems: list[str] = []
    seen: set[str] = set()
    for row in rows:
        seen.add(row.key)
        bound = latest.get((table.name, row.key))
        where = f"{table.name} row {_shown(row.key)}"
        if bound is None:
            problems.append(f"{where}: no WORM entry binds it (written outside govlib)")
        elif row.sha256 != bound.sha256:
            problems.append(
                f"{where}: differs from what WORM entry {bound.seq} recorded "
                "(edited, moved or rolled back)"
            )
        elif row.worm_seq != bound.names:
            problems.append(
                f"{where}: names WORM entry {row.worm_seq}, but its binding in force "
                f"(entry {bound.seq}) expects {bound.names} (re-pointed or rolled back)"
            )
    for (name, key), bound in latest.items():
        if name == table.name and key not in seen:
            problems.append(
                f"{table.name} row {_shown(key)}: missing; WORM entry {bound.seq} recorded it "
                "(deleted)"
            )
    return problems


def governed(name: str) -> GovernedTable:
    """The :class:`GovernedTable` called ``name``.

    Example:
        >>> governed("tool_registry").key
        'name'
    """
    for table in GOVERNED:
        if table.name == name:
            return table
    known = ", ".join(t.name for t in GOVERNED)
    raise ValueError(f"table: {name!r} is not a governed table; expected one of {known}")


# --- the shell over a store ---------------------------------------------------------------------
def next_seq(store: Store) -> int:
    """The seq the next WORM entry will get. Call it inside the write transaction.

    Example:
        >>> next_seq(Store(memory=True))
        1
    """
    return worm.head(store)[0] + 1


def has_bindings(store: Store) -> bool:
    """Whether any entry of the store binds rows (a store written before bindings: False).

    Example:
        >>> has_bindings(Store(memory=True))
        False
    """
    marks = ", ".join("?" for _ in BINDING_ACTIONS)
    found = store.query(
        f"SELECT 1 FROM worm_log WHERE action IN ({marks}) AND instr(body, ?) > 0 LIMIT 1",
        (*BINDING_ACTIONS, '"bound":['),
    )
    if found:
        return True
    # a store whose binding entries were all sealed keeps copies of those that bind live rows
    return bool(store.query("SELECT 1 FROM sqlite_master WHERE name = 'worm_retained'")) and bool(
        store.query("SELECT 1 FROM worm_retained LIMIT 1")
    )


def _hmac_keys(store: Store, table: GovernedTable) -> Mapping[str, bytes]:
    """The store's HMAC keys, never creating any: reading state must not write key files."""
    if store.keyring is not None or store.data_dir is None:
        return keyring_for(store).hmac_keys
    try:
        return KeyRing.load(store.data_dir, create=False).hmac_keys
    except KeyMaterialError as exc:
        raise BindingError(f"{table.name} cannot be proven: {exc}") from None


#: Per store: the highest seq up to which the log was found gapless in this process.
_GAPLESS: weakref.WeakKeyDictionary[Store, int] = weakref.WeakKeyDictionary()


def _check_gapless(store: Store) -> None:
    """Refuse a log with a missing entry or a checkpoint beyond its end.

    A deleted binding entry would let an older, still-authentic binding look like the one in
    force; seqs are gapless by construction, so a gap is proof of a deletion. Checked
    incrementally: each process counts the entries past what it already checked.
    """
    # A sealed prefix (DIR/archive/) is checked by `govlib verify --archives`; the live log
    # must be gapless from the seq after it.
    done = max(_GAPLESS.get(store, 0), live_anchor(store.conn).last_seq)
    count, top = store.query(
        "SELECT COUNT(*) AS n, MAX(seq) AS top FROM worm_log WHERE seq > ?", (done,)
    )[0]
    top = int(top or done)
    if count != top - done:
        raise BindingError(
            f"worm_log: {top - done - count} entr(y/ies) missing between seq {done + 1} and "
            f"{top}; governed state cannot be trusted (run `govlib verify`)"
        )
    signed = store.query_one("SELECT MAX(seq) FROM worm_checkpoints")
    if signed is not None and int(signed) > top:
        raise BindingError(
            f"worm_log ends at seq {top} but a checkpoint signed seq {signed}: the log was "
            "truncated; governed state cannot be trusted (run `govlib verify`)"
        )
    _GAPLESS[store] = top


def _authentic_entries(store: Store, table: GovernedTable) -> list[tuple[int, Any]]:
    """``(seq, detail)`` of the entries that bind ``table``, each MAC checked with the key ring."""
    actions = (*table.actions, "bindings_upgraded")
    marks = ", ".join("?" for _ in actions)
    rows = store.query(
        f"SELECT seq, body, mac FROM worm_log WHERE action IN ({marks}) ORDER BY seq", actions
    )
    retained = has_retained(store)
    if not rows and not retained:
        return []
    keys = _hmac_keys(store, table)
    out = []
    for r in rows:
        body = json.loads(r["body"])
        key = keys.get(body.get("key_id"))
        if key is None or entry_mac(key, r["body"]) != r["mac"]:
            raise BindingError(
                f"worm_log entry {r['seq']}: its MAC does not verify; {table.name} cannot be "
                "trusted (run `govlib verify`)"
            )
        out.append((r["seq"], body.get("detail")))
    if retained:
        copies, bad = retained_entries(store.conn, _hmac_keys(store, table), actions=actions)
        if bad:
            raise BindingError(f"{bad[0][1]}; {table.name} cannot be trusted (run `govlib verify`)")
        out.extend((e.seq, e.detail()) for e in copies)
    return out


def has_retained(store: Store) -> bool:
    """Whether the store keeps copies of sealed entries (``worm_retained`` has rows)."""
    try:
        return bool(store.query("SELECT 1 FROM worm_retained LIMIT 1"))
    except StoreError:
        return False


def store_row_digests(
    store: Store, table: GovernedTable, where: str = "", params: Sequence[Any] = ()
) -> list[RowDigest]:
    """:class:`RowDigest` of the rows of ``table`` in ``store`` (optionally ``WHERE ...``).

    Example:
        >>> store_row_digests(Store(memory=True), governed("tool_registry"))
        []
    """
    columns = [r["name"] for r in store.query(f"PRAGMA table_info({table.name})")]
    sql = canonical_row_sql(table, columns, where)
    return row_digests(tuple(r) for r in store.query(sql, params))


def checked_rows(store: Store, name: str) -> list[dict[str, Any]]:
    """Every row of a governed table, each proven by its binding, or :class:`BindingError`.

    What decisions read (the kill-switch state, the rules in force, the registry): a row that
    its binding does not prove, or a bound row that is missing, stops the decision with an
    error naming the row and the entry (fail closed). These tables are small; the whole table
    is read so that a deleted row is seen too.

    Example:
        >>> checked_rows(Store(memory=True), "kill_switch_events")
        []
    """
    table = governed(name)
    _check_gapless(store)
    latest = latest_bindings(_authentic_entries(store, table))
    rows = [dict(r) for r in store.query(f"SELECT * FROM {table.name}")]
    problems = binding_problems(table, store_row_digests(store, table), latest)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise BindingError(f"{problems[0]}{more}; refusing to decide on unproven state")
    return rows
