"""Hostile input to every CLI verb and public write/read function: refused cleanly, never half-done.

Inputs come from hypothesis plus a fixed list of nasty values: empty and blank text, NUL, huge
text, unicode (RTL override, BOM, emoji, CJK), ``NaN``/``inf``/negative numbers as text and as
numbers, wrong types, and SQL metacharacters (``'; DROP TABLE audit_log; --``). Each call either
succeeds (then the value is stored verbatim and every table still exists) or is refused with a
clear error that names the input: a ``GovlibError`` from a function, exit code 2 and one
``Error:``/``Usage:`` message (no traceback) from the CLI. A refused call writes nothing: table
counts, the WORM head and the kill-switch state are the same afterwards.

Lone surrogates (what a shell passes for invalid UTF-8 bytes), ids beyond 64 bits, over-long paths
and the like are fixed cases in :func:`test_cli_edge_inputs_get_a_clean_error`.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from harness import examples
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from govlib.capture.emitter import Emitter
from govlib.capture.verdicts import correct_verdict, stamp_verdict
from govlib.cli.main import cli
from govlib.costs.ledger import Ledger
from govlib.errors import GovlibError
from govlib.evidence import worm
from govlib.evidence.checkpoints import sign_checkpoint
from govlib.evidence.people import person_name
from govlib.governance.governor import KillSwitch, ToolRegistry, load_rules
from govlib.store.database import Store

SQL = [
    "'; DROP TABLE audit_log; --",
    '"; DELETE FROM worm_log; --',
    "1; DROP TABLE worm_log",
    "' OR '1'='1",
    "Robert'); DROP TABLE token_ledger;--",
]
NASTY = [
    "", " ", "\t\n ", "\x00", "nul\x00inside", "NaN", "nan", "inf", "-inf", "-1", "0", "1e309",
    "%s%n", "{0!r}", "../../etc/passwd", "\u202egnp.exe", "Zoë Ærøskøbing", "名前", "🙂🚀",
    "\ufeffbom", "x" * 5_000, *SQL,
]  # fmt: skip
TEXT = st.one_of(
    st.sampled_from(NASTY),
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=30),
)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
)
ANY = st.one_of(
    TEXT,
    NUMBERS,
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.binary(max_size=8),
)
FAST = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
STORE_TABLES = {
    "audit_log", "verdict_events", "worm_log", "worm_checkpoints", "token_ledger",
    "tool_registry", "governance_rules", "kill_switch_events", "workflows", "workflow_runs",
    "node_runs", "ingested_spans",
}  # fmt: skip


# --- a store to attack -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("hostile") / "data"
    with Store(data) as store:
        em = Emitter(store, synchronous=True, actor="agent", tenant="acme")
        f = em.wrap(lambda i: {"ok": True, "i": i}, name="lookup")
        with em.batch():
            for i in range(40):
                f(i, composition_id=f"run-{i % 4}")
        ToolRegistry(store).register("lookup", "Find a record")
        Ledger(store).record(run_id="run-0", node="n", model="gpt-4.1", input_tokens=3,
                             output_tokens=2)  # fmt: skip
        stamp_verdict(1, "accept", "Ana Reviewer", store=store)
        sign_checkpoint(store)
    return data


@pytest.fixture()
def data(template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(template, target)
    return target


def snapshot(data: Path) -> dict[str, Any]:
    with Store(data, readonly=True) as s:
        tables = {r[0] for r in s.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert STORE_TABLES <= tables, f"tables gone: {STORE_TABLES - tables}"
        return {"counts": s.counts(), "head": worm.head(s), "ks": KillSwitch(s).state()}


def named(message: str, fields: list[str], values: list[Any]) -> bool:
    """The error names the input: a field's name or (the start of) the value itself."""
    low = message.lower()
    if any(f.lower() in low for f in fields):
        return True
    return any(isinstance(v, str) and v.strip() and v.strip()[:20] in message for v in values)


# --- the CLI ------------------------------------------------------------------------------------------
def invoke(args: list[Any], sandbox: Path) -> Result:
    runner = CliRunner(env={"GOVLIB_DATA_DIR": str(sandbox), "GOVLIB_CHECKPOINT_FILE": None})
    return runner.invoke(cli, [str(a) for a in args])


def clean_exit(
    r: Result, fields: list[str], values: list[Any], ok: tuple[int, ...] = (0, 2)
) -> int:
    """Exit 0, or 2 with one clear message naming the input; never a traceback."""
    crashed = r.exception is not None and not isinstance(r.exception, SystemExit)
    assert not crashed, f"traceback: {r.exception!r} for {values!r}"
    assert "Traceback" not in r.output
    assert r.exit_code in ok, f"exit {r.exit_code}: {r.output[-500:]}"
    if r.exit_code:
        text = r.output
        low = text.lower()  # "Error: ...", or verify's "Verification failed" / "Chain broken"
        assert any(w in low for w in ("error", "failed", "broken")), text[-500:]
        assert named(text, fields, values), f"the error does not name the input: {text[-400:]}"
    return r.exit_code


@FAST
@given(
    audit_id=st.one_of(st.integers(-3, 60).map(str), TEXT),
    verdict=st.one_of(st.sampled_from(["accept", "reject"]), TEXT),
    by=TEXT,
    reason=st.one_of(st.none(), TEXT),
)
def test_cli_stamp(data: Path, tmp_path: Path, audit_id: str, verdict: str, by: str,
                   reason: str | None) -> None:  # fmt: skip
    args = ["stamp", "--data-dir", data, audit_id, verdict, "--by", by]
    if reason is not None:
        args += ["--correct", "--reason", reason]
    before = snapshot(data)
    r = invoke(args, tmp_path)
    fields = ["audit_id", "verdict", "by", "reason", "option", "argument", "kill-switch"]
    if clean_exit(r, fields, [audit_id, verdict, by, reason]) == 0:
        with Store(data, readonly=True) as s:
            row = s.query("SELECT verdict_by FROM audit_log WHERE id = ?", (int(audit_id),))
            shown = person_name(s, row[0][0]) if row else None  # stored as a pseudonym
        assert row and shown in (by.strip(), None) or "nothing changed" in r.output
        snapshot(data)
    else:
        assert snapshot(data) == before, "a refused stamp wrote something"


@FAST
@given(verb=st.sampled_from(["trigger", "reset"]), by=TEXT, reason=TEXT)
def test_cli_killswitch(data: Path, tmp_path: Path, verb: str, by: str, reason: str) -> None:
    before = snapshot(data)
    r = invoke(["killswitch", verb, "--data-dir", data, "--by", by, "--reason", reason], tmp_path)
    if clean_exit(r, ["by", "reason", "kill-switch", "option"], [by, reason]) == 0:
        state = snapshot(data)["ks"]
        if state != before["ks"]:
            assert (state.by, state.reason) == (by.strip(), reason.strip())
    else:
        assert snapshot(data) == before


@FAST
@given(scenario=TEXT)
def test_cli_run_unknown_scenario(data: Path, tmp_path: Path, scenario: str) -> None:
    assume(scenario not in ("clean", "fraud"))
    before = snapshot(data)
    r = invoke(["run", "--data-dir", data, scenario], tmp_path)
    assert clean_exit(r, ["scenario", "argument", "option"], [scenario]) == 2
    assert snapshot(data) == before


@FAST
@given(path=TEXT, verb=st.sampled_from(["status", "verify", "export"]))
def test_cli_read_verbs_with_a_hostile_data_dir(tmp_path: Path, path: str, verb: str) -> None:
    # NUL, over-long and ~user paths are fixed cases in test_cli_edge_inputs_get_a_clean_error
    assume(path.strip() and "\x00" not in path and len(path) < 200 and not path.startswith("~"))
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir(exist_ok=True)
    runner = CliRunner(env={"GOVLIB_DATA_DIR": str(sandbox)})
    with contextlib.chdir(tmp_path):  # relative paths land in the test's own folder
        r = runner.invoke(cli, [verb, "--data-dir", path])
        clean_exit(r, ["data dir", "store", "folder", "data-dir"], [path], ok=(1, 2))
        assert not Path(path).exists() or Path(path).is_dir(), "a read verb created a file"


@FAST
@given(checkpoints=st.one_of(st.none(), TEXT), pubkey=st.one_of(st.none(), TEXT))
def test_cli_verify_with_hostile_files(data: Path, tmp_path: Path, checkpoints, pubkey) -> None:  # noqa: ANN001
    """--checkpoints / --pubkey naming files that hold hostile text (or do not exist)."""
    args: list[Any] = ["verify", "--data-dir", data]
    for option, content, name in (("--checkpoints", checkpoints, "cp.jsonl"),
                                  ("--pubkey", pubkey, "key.pem")):  # fmt: skip
        if content is not None:
            path = tmp_path / "files" / name
            path.parent.mkdir(exist_ok=True)
            path.unlink(missing_ok=True)
            if content:
                path.write_text(content)
            args += [option, path]
    before = snapshot(data)
    r = invoke(args, tmp_path)
    fields = ["checkpoint", "public key", "pubkey", "key.pem", "cp.jsonl"]
    clean_exit(r, fields, [checkpoints, pubkey], ok=(0, 1, 2))
    if checkpoints is not None or pubkey is not None:
        assert r.exit_code != 0, "verify accepted a hostile checkpoint file or key"
    assert snapshot(data) == before


@FAST
@given(
    content=st.one_of(
        st.sampled_from(NASTY),
        st.recursive(
            st.one_of(st.none(), st.booleans(), NUMBERS, TEXT),
            lambda inner: st.one_of(
                st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)
            ),
            max_leaves=12,
        ).map(lambda v: json.dumps(v, allow_nan=True)),
        st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    ),
    tenant=st.one_of(st.none(), TEXT),
)
def test_cli_ingest_otel_with_hostile_files(data: Path, tmp_path: Path, content: str,
                                            tenant: str | None) -> None:  # fmt: skip
    trace = tmp_path / "trace.jsonl"
    trace.write_text(content, encoding="utf-8", errors="surrogatepass")
    args: list[Any] = ["ingest", "otel", "--data-dir", data, trace]
    if tenant is not None:
        args += ["--default-tenant", tenant]
    before = snapshot(data)
    r = invoke(args, tmp_path)
    fields = ["tenant", "line", "span", str(trace), "option"]
    if clean_exit(r, fields, [tenant], ok=(0, 1, 2)) == 2:  # 1: something could not be read
        assert snapshot(data) == before
    else:
        after = snapshot(data)
        assert after["counts"]["audit_log"] >= before["counts"]["audit_log"]


BAD_AS_OF = ["", "garbage", "NaN", "2026-13-45", "2026-02-30", "99999-01-01", "-1", "1e309",
             "2026-11-20T25:00:00Z", *SQL]  # fmt: skip


@pytest.mark.parametrize("as_of", BAD_AS_OF)
def test_cli_demo_refuses_a_bad_as_of_before_touching_a_demo_dir(data: Path, tmp_path: Path,
                                                                  as_of: str) -> None:  # fmt: skip
    (data / ".govlib-data-dir").write_text("made by govlib\n")  # wipe-able by a demo
    before = snapshot(data)
    files = sorted(p.name for p in data.iterdir())
    r = invoke(["demo", "--data-dir", data, "--history-days", "1", "--as-of", as_of], tmp_path)
    assert clean_exit(r, ["as_of", "as-of"], [as_of]) == 2
    assert sorted(p.name for p in data.iterdir()) == files, "a refused demo wiped the data dir"
    assert snapshot(data) == before


@FAST
@given(as_of=TEXT, days=st.one_of(st.integers(-5, 400).map(str), TEXT))
def test_cli_demo_hostile_options(tmp_path: Path, as_of: str, days: str) -> None:
    """A folder govlib did not make: any demo is refused, nothing in it changes."""
    target = tmp_path / "not-a-govlib-dir"
    target.mkdir(exist_ok=True)
    (target / "precious.txt").write_text("mine")
    r = invoke(["demo", "--data-dir", target, "--history-days", days, "--as-of", as_of], tmp_path)
    fields = ["as_of", "as-of", "history-days", "history_days", "not made by govlib", "option"]
    assert clean_exit(r, fields, [as_of, days]) == 2
    assert [p.name for p in target.iterdir()] == ["precious.txt"]


@FAST
@given(period=TEXT, out=st.one_of(st.none(), TEXT))
def test_cli_report_hostile_options(data: Path, tmp_path: Path, period: str, out) -> None:  # noqa: ANN001
    pytest.importorskip("govlib.report.contents")
    args: list[Any] = ["report", "--data-dir", data, "--period", period]
    if out is not None:
        assume(out.strip() and "\x00" not in out and len(out) < 200)
        args += ["--out", tmp_path / "reports" / out.replace("/", "_")]
    before = snapshot(data)
    r = invoke(args, tmp_path)
    clean_exit(r, ["period", "out", "option"], [period, out])
    assert snapshot(data) == before


EDGE_CASES = {
    "stamp-id-beyond-64-bits": ["stamp", "{data}", str(2**63), "accept", "--by", "Ana"],
    "stamp-by-invalid-utf8": ["stamp", "{data}", "2", "accept", "--by", "\udcff"],
    "stamp-reason-invalid-utf8": [
        "stamp",
        "{data}",
        "1",
        "reject",
        "--by",
        "Bo",
        "--correct",
        "--reason",
        "bad \udce9",
    ],  # fmt: skip
    "killswitch-trigger-invalid-utf8": [
        "killswitch",
        "trigger",
        "{data}",
        "--by",
        "\udcff",
        "--reason",
        "r",
    ],  # fmt: skip
    "status-path-too-long": ["status", "--data-dir", "x" * 5000],
    "verify-path-too-long": ["verify", "--data-dir", "x" * 300],
    "verify-checkpoints-too-long": ["verify", "{data}", "--checkpoints", "y" * 5000],
    "status-path-with-nul": ["status", "--data-dir", "da\x00ta"],
    "status-home-of-unknown-user": ["status", "--data-dir", "~no-such-user-here/data"],
    "stamp-empty-data-dir": ["stamp", "--data-dir", "", "2", "accept", "--by", "Ana"],
}


@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_cli_edge_inputs_get_a_clean_error(data: Path, tmp_path: Path, case: str) -> None:
    """What a shell can hand the CLI: invalid UTF-8 arrives as lone surrogates, ids can be
    arbitrarily large, paths too long for the OS; each gets exit 2, one line, no write."""
    args: list[str] = []
    for a in EDGE_CASES[case]:
        args += ["--data-dir", str(data)] if a == "{data}" else [a]
    sandbox = tmp_path / "sandbox"  # where an empty --data-dir would fall back to
    shutil.copytree(data, sandbox)
    before, before_sandbox = snapshot(data), snapshot(sandbox)
    r = invoke(args, sandbox)
    assert r.exception is None or isinstance(r.exception, SystemExit), (
        f"traceback: {type(r.exception).__name__}: {str(r.exception)[:200]}"
    )
    assert r.exit_code == 2, r.output[-300:]
    errors = [x for x in r.output.splitlines() if x.startswith("Error")]
    assert len(errors) == 1, r.output[-300:]  # one message (click may add its usage lines)
    assert snapshot(data) == before and snapshot(sandbox) == before_sandbox


# --- public functions ---------------------------------------------------------------------------------
def refused_cleanly(exc: BaseException, fields: list[str], values: list[Any],
                    allowed: tuple[type, ...] = (GovlibError,)) -> None:  # fmt: skip
    assert isinstance(exc, allowed), f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
    assert named(str(exc), fields, values), f"the error does not name the input: {exc}"


@FAST
@given(
    audit_id=st.one_of(st.integers(-3, 60), ANY),
    verdict=st.one_of(st.sampled_from(["accept", "reject"]), ANY),
    by=st.one_of(TEXT, ANY),
    at=st.one_of(st.none(), st.just("2026-11-20T10:00:00Z"), ANY),
    reason=st.one_of(st.none(), TEXT, ANY),
)
def test_stamp_and_correct_verdict(data: Path, audit_id, verdict, by, at, reason) -> None:  # noqa: ANN001
    before = snapshot(data)
    with Store(data) as store:
        try:
            if reason is None:
                result = stamp_verdict(audit_id, verdict, by, store=store, at=at)
            else:
                result = correct_verdict(audit_id, verdict, by, reason, store=store, at=at)
        except Exception as exc:  # noqa: BLE001
            refused_cleanly(exc, ["audit_id", "verdict", "by", "at", "reason"],
                            [audit_id, verdict, by, at, reason])  # fmt: skip
            assert snapshot(data) == before
            return
    if result.changed:
        with Store(data, readonly=True) as s:
            stored = s.query_one("SELECT verdict_by FROM audit_log WHERE id = ?", (audit_id,))
            assert person_name(s, stored) == by.strip()  # stored as a pseudonym
    snapshot(data)


@FAST
@given(
    verb=st.sampled_from(["trigger", "reset"]),
    by=st.one_of(TEXT, ANY),
    reason=st.one_of(TEXT, ANY),
    rule=st.one_of(st.none(), TEXT, ANY),
    run_id=st.one_of(st.none(), TEXT, ANY),
)
def test_kill_switch_trigger_and_reset(data: Path, verb, by, reason, rule, run_id) -> None:  # noqa: ANN001
    before = snapshot(data)
    with Store(data) as store:
        ks = KillSwitch(store)
        try:
            if verb == "trigger":
                ks.trigger(by, reason, rule=rule, run_id=run_id)
            else:
                ks.reset(by, reason)
        except Exception as exc:  # noqa: BLE001
            refused_cleanly(exc, ["by", "reason", "rule", "run_id", "kill-switch"],
                            [by, reason, rule, run_id])  # fmt: skip
            assert snapshot(data) == before
            return
    snapshot(data)


@FAST
@given(
    name=st.one_of(st.just("lookup"), TEXT, ANY),
    description=st.one_of(TEXT, ANY),
    schema=st.one_of(st.none(), st.just({"type": "object"}), ANY),
    risk_tier=st.one_of(st.sampled_from(["low", "medium", "high"]), ANY),
    enabled=st.one_of(st.booleans(), ANY),
    by=st.one_of(st.none(), TEXT, ANY),
)
def test_tool_registry_register(data: Path, name, description, schema, risk_tier, enabled,
                                by) -> None:  # noqa: ANN001  # fmt: skip
    before = snapshot(data)
    with Store(data) as store:
        try:
            spec = ToolRegistry(store).register(name, description, schema, risk_tier, enabled, by)
        except Exception as exc:  # noqa: BLE001
            refused_cleanly(exc, ["name", "description", "schema", "risk_tier", "enabled", "by",
                                  "tool"], [name, description, risk_tier, by])  # fmt: skip
            assert snapshot(data) == before
            return
    assert spec.name == name.strip()
    snapshot(data)


@FAST
@given(
    run_id=st.one_of(st.none(), TEXT, ANY),
    node=st.one_of(st.none(), TEXT, ANY),
    model=st.one_of(st.just("gpt-4.1"), TEXT, ANY),
    input_tokens=st.one_of(st.integers(0, 10**6), NUMBERS, ANY),
    output_tokens=st.one_of(st.integers(0, 10**6), NUMBERS, ANY),
    tenant_id=st.one_of(st.none(), TEXT, ANY),
    created_at=st.one_of(st.none(), st.just("2026-11-20T10:00:00Z"), ANY),
)
def test_ledger_record(data: Path, run_id, node, model, input_tokens, output_tokens, tenant_id,
                       created_at) -> None:  # noqa: ANN001  # fmt: skip
    before = snapshot(data)
    with Store(data) as store:
        try:
            r = Ledger(store).record(
                run_id=run_id, node=node, model=model, input_tokens=input_tokens,
                output_tokens=output_tokens, tenant_id=tenant_id, created_at=created_at,
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001
            fields = ["run_id", "node", "model", "input_tokens", "output_tokens", "tenant_id",
                      "created_at", "tokens"]  # fmt: skip
            refused_cleanly(exc, fields, [run_id, node, model, tenant_id, created_at])
            assert snapshot(data) == before
            return
    assert r.cost_usd is not None and math.isfinite(r.cost_usd) and r.cost_usd >= 0
    snapshot(data)


JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), NUMBERS, TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=5)),
    max_leaves=20,
)
RULE_KEYS = st.sampled_from(["id", "description", "scope", "condition", "action", "enabled"])


@settings(FAST, max_examples=examples(150))
@given(
    defs=st.one_of(
        JSON,
        st.lists(st.dictionaries(RULE_KEYS, JSON, max_size=6), max_size=3),
        st.lists(
            st.fixed_dictionaries(
                {
                    "id": st.one_of(st.just("r1"), TEXT, ANY),
                    "description": st.one_of(st.just("d"), ANY),
                    "action": st.one_of(
                        st.sampled_from(["deny", "allow", "require_review", "trip_kill_switch"]),
                        ANY,
                    ),  # fmt: skip
                    "condition": st.one_of(
                        st.fixed_dictionaries(
                            {
                                "field": TEXT,
                                "op": st.one_of(st.sampled_from([">", "==", "in", "exists"]), TEXT),
                                "value": JSON,
                            }
                        ),  # fmt: skip
                        JSON,
                    ),
                }
            ),
            max_size=3,
        ),
    )
)
def test_load_rules(defs: Any) -> None:
    from govlib.governance.rules import RuleDefinitionError

    try:
        rules = load_rules(defs)
    except RuleDefinitionError as exc:
        assert str(exc).startswith("rule "), str(exc)
        return
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"load_rules raised {type(exc).__name__}: {exc} (expected RuleDefinitionError)")
    assert all(r.id for r in rules)


@FAST
@given(
    values=st.one_of(
        st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=30),
        st.lists(ANY, max_size=5),
        ANY,
    ),
    method=st.one_of(st.sampled_from(["mr", "sd"]), TEXT),
    baseline_n=st.one_of(st.none(), st.integers(-3, 40), ANY),
)
def test_spc_control_limits(values, method, baseline_n) -> None:  # noqa: ANN001
    from govlib.analysis import spc

    try:
        lim = spc.control_limits(values, method=method, baseline_n=baseline_n)
    except Exception as exc:  # noqa: BLE001 - spc documents ValueError for bad series
        refused_cleanly(exc, ["values", "method", "baseline_n", "nan", "series"],
                        [method], allowed=(GovlibError, ValueError))  # fmt: skip
        return
    assert math.isnan(lim.sigma) or lim.sigma >= 0


@pytest.fixture(scope="module")
def duck(template: Path):  # noqa: ANN201
    from govlib.analysis.read_path import connect

    con = connect(template)
    yield con
    con.close()


@FAST
@given(
    tenant=st.one_of(st.none(), st.just("acme"), TEXT, ANY),
    since=st.one_of(
        st.none(), st.just("2020-01-01"), TEXT, ANY, st.datetimes(timezones=st.just(UTC))
    ),  # fmt: skip
)
def test_tool_stats_filters(template: Path, duck, tenant, since) -> None:  # noqa: ANN001
    from govlib.analysis.stats import tool_stats

    try:
        df = tool_stats(duck, tenant=tenant, since=since)
    except Exception as exc:  # noqa: BLE001
        refused_cleanly(exc, ["tenant", "since"], [tenant, since])
    else:
        assert set(df["tool_name"]) <= {"lookup"}
    assert duck.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == 40
    snapshot(template)


@FAST
@given(tenant=st.one_of(st.none(), TEXT, ANY), actor=st.one_of(st.none(), TEXT, ANY),
       call_tenant=st.one_of(st.none(), TEXT, ANY))  # fmt: skip
def test_emitter_tenant_and_actor(data: Path, tenant, actor, call_tenant) -> None:  # noqa: ANN001
    before = snapshot(data)
    ran = []
    with Store(data) as store:
        try:
            em = Emitter(store, synchronous=True, tenant=tenant, actor=actor)
        except Exception as exc:  # noqa: BLE001
            refused_cleanly(exc, ["tenant", "actor"], [tenant, actor])
            assert snapshot(data) == before
            return
        f = em.wrap(lambda: ran.append(1) or {"ok": True}, name="probe")
        kwargs = {} if call_tenant is None else {"tenant": call_tenant}
        try:
            result = f(**kwargs)
        except Exception as exc:  # noqa: BLE001
            refused_cleanly(exc, ["tenant", "actor"], [tenant, actor, call_tenant])
            assert not ran, "the tool ran but its call was refused afterwards (no audit row)"
            assert snapshot(data) == before
            return
        assert result == {"ok": True}
        row = store.query("SELECT tenant_id, actor FROM audit_log ORDER BY id DESC LIMIT 1")[0]
    want_tenant = call_tenant or tenant or "default"
    assert (row[0], row[1]) == (want_tenant, actor), "stored something else than was given"
    snapshot(data)


def test_sql_metacharacters_are_stored_verbatim_and_drop_nothing(data: Path) -> None:
    with Store(data) as store:
        for text in SQL:
            KillSwitch(store).trigger(text, text, rule=text, run_id=text)
            KillSwitch(store).reset(text, text)
            ToolRegistry(store).register(text, text)
            stamp_verdict(store.count("verdict_events") + 2, "reject", text, store=store)
        # who triggered/reset is stored as a pseudonym; the name is in the people table
        stored = {
            person_name(store, r[0]) for r in store.query("SELECT by FROM kill_switch_events")
        }
        tools = {r[0] for r in store.query("SELECT name FROM tool_registry")}
    assert set(SQL) <= stored and set(SQL) <= tools
    snapshot(data)
    with Store(data, readonly=True) as store:
        from govlib.evidence.verify import verify_store

        assert verify_store(store).ok


def test_the_store_under_attack_is_what_the_tests_assume(data: Path) -> None:
    s = snapshot(data)
    assert s["counts"]["audit_log"] == 40 and s["counts"]["verdict_events"] == 1
    assert s["ks"].armed
