"""Bounded values: hostile sizes at every write boundary are refused (or truncated) cleanly.

Each refused case asserts a clear error that names the field and that nothing already stored
changed (``Store.counts()``, the WORM head and ``verify_store(store).ok`` before and after). The
reproductions of "Reliability, second round" are regression tests here: 2**62 tokens twice, a
span with 2**63-1 or 2**64 tokens, a tool span dated 9999-12-31, provider costs of 1e308, a 5 MB
kill-switch reason; plus stores written before the bounds, which must still render.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from govlib import bounds
from govlib.bounds import BoundsError
from govlib.capture.emitter import Emitter
from govlib.capture.otel.ingest import ingest_paths
from govlib.capture.rows import insert_audit_batch
from govlib.capture.runs import finish_run, record_node, start_run
from govlib.capture.verdicts import correct_verdict, stamp_verdict
from govlib.cli.main import cli
from govlib.clock import SimClock
from govlib.costs import ledger as ledger_mod
from govlib.costs.ledger import Ledger
from govlib.errors import GovernanceRefused, GovlibError
from govlib.evidence import worm
from govlib.evidence.checkpoints import sign_checkpoint
from govlib.evidence.verify import verify_store
from govlib.governance.governor import Governor, KillSwitch, ToolRegistry
from govlib.governance.rules import RuleDefinitionError, evaluate_rule, load_rules
from govlib.store.database import Store

DOCS = Path(__file__).resolve().parent.parent / "docs"
FUTURE = "9999-12-31T00:00:00Z"
PAST = "1999-12-31T23:59:59Z"
LONG = "x" * 300  # beyond every 256-character name bound
HUGE = "r" * 5_000_000  # the 5 MB kill-switch reason of the report
MARK = "…[truncated, {n} characters]"


# --- a store to attack -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("bounds") / "data"
    with Store(data) as store:
        em = Emitter(store, synchronous=True, actor="agent", tenant="acme")
        f = em.wrap(lambda i: {"ok": True, "i": i}, name="lookup")
        with em.batch():
            for i in range(10):
                f(i, composition_id=f"run-{i % 2}")
        ToolRegistry(store).register("lookup", "Find a record")
        Ledger(store).record(
            run_id="run-0", node="n", model="gpt-4.1", input_tokens=3, output_tokens=2
        )
        stamp_verdict(1, "accept", "Ana Reviewer", store=store)
        start_run(store, "run-0", workflow_id="claims", subject="CLM-1", at=_ago(60))
        sign_checkpoint(store)
    return data


@pytest.fixture()
def data(template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(template, target)
    return target


def _ago(minutes: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def state(data: Path) -> dict[str, Any]:
    with Store(data, readonly=True) as s:
        result = verify_store(s)
        return {"counts": s.counts(), "head": worm.head(s), "ok": result.ok}


def refused(data: Path, attempt: Callable[[Store], Any], field: str, kind: type = GovlibError):
    """``attempt`` raises ``kind`` naming ``field`` in a short message; the store is unchanged."""
    before = state(data)
    assert before["ok"]
    with Store(data) as store, pytest.raises(kind) as info:
        attempt(store)
    message = str(info.value)
    assert field in message, message
    assert len(message) < 600, f"the value is not shortened: {len(message)} characters"
    assert state(data) == before, "a refused write changed the store"
    return info.value


# --- the bounds themselves ---------------------------------------------------------------------------
def test_truncation_marker_exact_values() -> None:
    text = "x" * 600
    marker = MARK.format(n=600)
    assert bounds.truncated("error", text) == "x" * (500 - len(marker)) + marker
    assert len(bounds.truncated("error", text)) == 500
    assert bounds.truncated("error", "x" * 500) == "x" * 500  # at the bound: unchanged
    assert bounds.truncated("summary", "s" * 2001) == "s" * 1971 + "…[truncated, 2001 characters]"
    assert bounds.truncated("message", None) is None
    assert bounds.truncated("error", "bad \udc80 byte") == "bad \ufffd byte"


@pytest.mark.parametrize(
    ("check", "field", "value"),
    [
        (bounds.checked_tokens, "input_tokens", -1),
        (bounds.checked_tokens, "input_tokens", 10**12 + 1),
        (bounds.checked_tokens, "input_tokens", 2**62),
        (bounds.checked_tokens, "input_tokens", 1.0),
        (bounds.checked_tokens, "input_tokens", True),
        (bounds.checked_cost, "cost_usd", float("nan")),
        (bounds.checked_cost, "cost_usd", float("inf")),
        (bounds.checked_cost, "cost_usd", -0.01),
        (bounds.checked_cost, "cost_usd", 1e9 + 1),
        (bounds.checked_latency, "latency_ms", 2_592_000_001),
        (bounds.checked_time, "created_at", FUTURE),
        (bounds.checked_time, "created_at", PAST),
        (bounds.checked_time, "created_at", "yesterday"),
    ],
)
def test_checks_name_the_field_the_value_and_the_bound(check, field, value) -> None:  # noqa: ANN001
    with pytest.raises(BoundsError) as info:
        check(field, value)
    assert str(info.value).startswith(f"{field}: ")
    assert "expected" in str(info.value)
    assert isinstance(info.value, GovlibError)


def test_limits_at_the_edges_pass() -> None:
    assert bounds.checked_tokens("t", 10**12) == 10**12
    assert bounds.checked_cost("c", 1e9) == 1e9
    assert bounds.checked_latency("l", bounds.MAX_LATENCY_MS) == bounds.MAX_LATENCY_MS
    assert bounds.checked_time("at", "2000-01-01T00:00:00Z") == "2000-01-01T00:00:00Z"
    assert bounds.checked_text("tenant", "t" * 256) == "t" * 256
    soon = (datetime.now(UTC) + timedelta(seconds=200)).isoformat()
    assert bounds.checked_time("at", soon, skew_s=300) == soon
    with pytest.raises(BoundsError):
        bounds.checked_time("at", soon, skew_s=100)


def test_the_skew_is_a_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "govlib.json").write_text('{"max_clock_skew_s": 7200}')
    assert bounds.skew_seconds(tmp_path) == 7200.0
    monkeypatch.setenv("GOVLIB_MAX_CLOCK_SKEW_S", "60")
    assert bounds.skew_seconds(tmp_path) == 60.0
    assert bounds.skew_seconds() == 60.0


def test_the_docs_bounds_table_is_the_code_table() -> None:
    text = (DOCS / "data_model.md").read_text(encoding="utf-8")
    section = text.split("## Bounds", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    expected = [
        f"| `{b.field}` | {b.limit} | {b.covers} | {b.exceeded} |" for b in bounds.BOUNDS.values()
    ]
    assert rows == expected
    assert set(bounds.TEXT_LIMITS) <= set(bounds.BOUNDS)


# --- the Python API: refused, nothing written ----------------------------------------------------------
def _receipt(**over: Any) -> dict[str, Any]:
    return {"run_id": "run-0", "node": "n", "model": "gpt-4.1", "input_tokens": 1,
            "output_tokens": 1} | over  # fmt: skip


def _record(**over: Any) -> Callable[[Store], Any]:
    return lambda s: Ledger(s).record(**_receipt(**over))


def _external(**over: Any) -> Callable[[Store], Any]:
    return lambda s: Ledger(s).record_external(**_receipt(**over))


def _tool_call(make: Callable[[Store], Emitter], **kwargs: Any) -> Callable[[Store], Any]:
    def attempt(store: Store) -> Any:
        ran: list[int] = []
        f = make(store).wrap(lambda: ran.append(1) or {"ok": True}, name="probe")
        try:
            return f(**kwargs)
        finally:
            assert not ran, "the tool ran although its call was refused"

    return attempt


def _sync(store: Store, **kw: Any) -> Emitter:
    return Emitter(store, synchronous=True, **kw)


def _gov_rules(defs: list[dict[str, Any]]) -> Callable[[Store], Any]:
    return lambda s: Governor(s, rules=defs)


_RULE = {"id": "r1", "description": "d", "action": "deny", "condition": {"always": True}}
API_CASES: dict[str, tuple[Callable[[Store], Any], str, type]] = {
    "ledger 2**62 input tokens": (_record(input_tokens=2**62), "input_tokens", BoundsError),
    "ledger 10**12+1 output tokens": (
        _record(output_tokens=10**12 + 1),
        "output_tokens",
        BoundsError,
    ),
    "ledger 2**64 cache tokens": (
        _record(cache_read_tokens=2**64),
        "cache_read_tokens",
        BoundsError,
    ),
    "ledger 1e308 provider cost": (_external(cost_usd=1e308), "cost_usd", BoundsError),
    "ledger 1e9+1 provider cost": (_external(cost_usd=1e9 + 1), "cost_usd", BoundsError),
    "ledger future receipt": (_record(created_at=FUTURE), "created_at", BoundsError),
    "ledger receipt before 2000": (_record(created_at=PAST), "created_at", BoundsError),
    "ledger long model": (_external(model="m" * 257), "model", BoundsError),
    "ledger long provider": (_external(provider=LONG), "provider", BoundsError),
    "ledger long tenant": (_record(tenant_id=LONG), "tenant_id", BoundsError),
    "ledger one bad receipt in a batch": (
        lambda s: Ledger(s).record_many([_receipt(), _receipt(input_tokens=2**63 - 1)]),
        "input_tokens",
        BoundsError,
    ),
    "emitter long tenant": (lambda s: _sync(s, tenant=LONG), "tenant", BoundsError),
    "emitter long actor": (lambda s: _sync(s, actor=LONG), "actor", BoundsError),
    "emitter long tool name": (
        lambda s: _sync(s).wrap(lambda: 1, name="t" * 257),
        "name",
        BoundsError,
    ),
    "emitter call with a long tenant": (_tool_call(_sync, tenant=LONG), "tenant", BoundsError),
    "emitter call with a long run": (
        _tool_call(_sync, composition_id=LONG),
        "composition_id",
        BoundsError,
    ),
    "emitter clock in the future": (
        _tool_call(lambda s: _sync(s, clock=SimClock(FUTURE))),
        "created_at",
        BoundsError,
    ),
    "emitter clock before 2000": (
        _tool_call(lambda s: _sync(s, clock=SimClock("1990-01-01T00:00:00Z"))),
        "created_at",
        BoundsError,
    ),
    "audit row with a 10**13 ms latency": (
        lambda s: insert_audit_batch(
            s, [("t", "x", None, None, 1, 1, 10**13, None, None, time.time_ns())]
        ),
        "latency_ms",
        BoundsError,
    ),
    "audit row dated 9999": (
        lambda s: insert_audit_batch(s, [("t", "x", None, None, 1, 1, 3, None, None, FUTURE)]),
        "created_at",
        BoundsError,
    ),
    "verdict by a long name": (
        lambda s: stamp_verdict(2, "accept", LONG, store=s),
        "by",
        BoundsError,
    ),
    "verdict dated 9999": (
        lambda s: stamp_verdict(2, "accept", "Ana", store=s, at=FUTURE),
        "at",
        BoundsError,
    ),
    "correction with a 2001-character reason": (
        lambda s: correct_verdict(1, "reject", "Bo", "w" * 2001, store=s),
        "reason",
        BoundsError,
    ),
    "kill-switch by a long name": (lambda s: KillSwitch(s).trigger(LONG, "why"), "by", BoundsError),
    "kill-switch 5 MB reason": (
        lambda s: KillSwitch(s).trigger("Dana", HUGE),
        "reason",
        BoundsError,
    ),
    "kill-switch long rule": (
        lambda s: KillSwitch(s).trigger("Dana", "why", rule="q" * 201),
        "rule",
        BoundsError,
    ),
    "kill-switch long run": (
        lambda s: KillSwitch(s).trigger("Dana", "why", run_id=LONG),
        "run_id",
        BoundsError,
    ),
    "kill-switch clock in the future": (
        lambda s: KillSwitch(s, SimClock(FUTURE)).trigger("Dana", "why"),
        "at",
        BoundsError,
    ),
    "registry long tool name": (lambda s: ToolRegistry(s).register(LONG, "d"), "name", BoundsError),
    "registry long description": (
        lambda s: ToolRegistry(s).register("t", "d" * 2001),
        "description",
        BoundsError,
    ),
    "registry huge schema": (
        lambda s: ToolRegistry(s).register(
            "t", "d", {"type": "object", "description": "s" * 100_001}
        ),
        "schema",
        BoundsError,
    ),
    "registry change by a long name": (
        lambda s: ToolRegistry(s).register("t", "d", by=LONG),
        "by",
        BoundsError,
    ),
    "registry disable by a long name": (
        lambda s: ToolRegistry(s).disable("lookup", by=LONG),
        "by",
        BoundsError,
    ),
    "rule with a long id": (_gov_rules([_RULE | {"id": "i" * 201}]), "id", RuleDefinitionError),
    "rule with a long description": (
        _gov_rules([_RULE | {"description": "d" * 2001}]),
        "description",
        RuleDefinitionError,
    ),
    "rule with a long scope": (
        _gov_rules([_RULE | {"scope": {"node": LONG}}]),
        "scope.node",
        RuleDefinitionError,
    ),
    "rule with a huge definition": (
        _gov_rules([_RULE | {"condition": {"field": "f", "op": "in", "value": ["v" * 99] * 1100}}]),
        "definition",
        RuleDefinitionError,
    ),
    "run with a long subject": (
        lambda s: start_run(s, "run-9", workflow_id="w", subject=LONG, at=_ago(1)),
        "subject",
        BoundsError,
    ),
    "run started in 9999": (
        lambda s: start_run(s, "run-9", workflow_id="w", subject="S", at=FUTURE),
        "at",
        BoundsError,
    ),
    "node with a huge detail": (
        lambda s: record_node(
            s, "run-0", "n", 0, "completed", at=_ago(1), detail={"payload": "p" * 20_001}
        ),  # fmt: skip
        "detail",
        BoundsError,
    ),
    "run finished with a long status": (
        lambda s: finish_run(s, "run-0", "s" * 65, summary="done", at=_ago(1)),
        "status",
        BoundsError,
    ),
}


@pytest.mark.parametrize("case", list(API_CASES))
def test_python_api_refuses_out_of_bounds_and_writes_nothing(data: Path, case: str) -> None:
    attempt, field, kind = API_CASES[case]
    refused(data, attempt, field, kind)


def test_5mb_kill_switch_reason_is_refused_quickly_and_the_page_stays_readable(data: Path) -> None:
    t0 = time.perf_counter()
    refused(data, lambda s: KillSwitch(s).trigger("Dana Ortiz", HUGE), "reason", BoundsError)
    assert time.perf_counter() - t0 < 5
    with Store(data) as store:  # the longest reason allowed is stored whole and shown
        state_ = KillSwitch(store).trigger("Dana Ortiz", "y" * 2000)
    assert (state_.by, state_.reason) == ("Dana Ortiz", "y" * 2000)


# --- the CLI -------------------------------------------------------------------------------------------
def invoke(args: list[Any], sandbox: Path) -> Result:
    runner = CliRunner(env={"GOVLIB_DATA_DIR": str(sandbox), "GOVLIB_CHECKPOINT_FILE": None})
    return runner.invoke(cli, [str(a) for a in args])


CLI_CASES = {
    "killswitch trigger 5 MB reason": (
        ["killswitch", "trigger", "--by", "Dana", "--reason", HUGE],
        "reason",
    ),
    "killswitch trigger long by": (["killswitch", "trigger", "--by", LONG, "--reason", "r"], "by"),
    "stamp by a long name": (["stamp", "2", "accept", "--by", LONG], "by"),
    "stamp correction with a long reason": (
        ["stamp", "1", "reject", "--by", "Bo", "--correct", "--reason", "w" * 2001],
        "reason",
    ),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_cli_refuses_out_of_bounds_with_a_short_error(
    data: Path, tmp_path: Path, case: str
) -> None:
    args, field = CLI_CASES[case]
    verb = args[:2] if args[0] == "killswitch" else args[:1]
    before = state(data)
    r = invoke([*verb, "--data-dir", data, *args[len(verb) :]], tmp_path)
    assert r.exit_code == 2, r.output[-500:]
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert "Traceback" not in r.output and field in r.output
    assert len(r.output) < 1000, "the CLI echoed the whole value"
    assert state(data) == before


# --- OpenTelemetry files ------------------------------------------------------------------------------
def _attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": value}}


_N = [0]


def _span(name: str, attrs: dict[str, Any], *, start_ns: int | None = None,
          duration_ns: int = 250_000_000, **extra: Any) -> dict[str, Any]:  # fmt: skip
    _N[0] += 1
    start = start_ns if start_ns is not None else time.time_ns() - 3_600 * 10**9
    return {
        "traceId": f"{_N[0]:032x}",
        "spanId": f"{_N[0]:016x}",
        "name": name,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + duration_ns),
        "attributes": [_attr(k, v) for k, v in attrs.items()],
        "status": {},
    } | extra


def _tool(name: str = "lookup", **attrs: Any) -> dict[str, Any]:
    return {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name} | attrs


def _chat(**attrs: Any) -> dict[str, Any]:
    base = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4.1"}
    return base | {"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5} | attrs


def _ingest(data: Path, tmp_path: Path, spans: list[dict[str, Any]], resource: dict | None = None):
    line = {
        "resourceSpans": [
            {
                "resource": {"attributes": [_attr(k, v) for k, v in (resource or {}).items()]},
                "scopeSpans": [{"scope": {"name": "t"}, "spans": spans}],
            }
        ]
    }
    path = tmp_path / f"export-{_N[0]}.jsonl"
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    with Store(data) as store:
        return ingest_paths(store, [path])


FAR_FUTURE_NS = int(datetime(9999, 12, 31, tzinfo=UTC).timestamp()) * 10**9
OTEL_CASES: dict[str, tuple[Callable[[], list[dict[str, Any]]], dict | None, str]] = {
    "2**64 input tokens": (
        lambda: [_span("chat", _chat(**{"gen_ai.usage.input_tokens": 2**64}))],
        None,
        "gen_ai.usage.input_tokens",
    ),  # fmt: skip
    "2**63-1 output tokens": (
        lambda: [_span("chat", _chat(**{"gen_ai.usage.output_tokens": 2**63 - 1}))],
        None,
        "gen_ai.usage.output_tokens",
    ),
    "5000-digit token string": (
        lambda: [_span("chat", _chat(**{"gen_ai.usage.input_tokens": "9" * 5000}))],
        None,
        "gen_ai.usage.input_tokens",
    ),
    "provider cost 1e308": (
        lambda: [_span("chat", _chat(**{"gen_ai.usage.cost": 1e308}))] * 1,
        None,
        "gen_ai.usage.cost",
    ),
    "tool span dated 9999-12-31": (
        lambda: [_span("execute_tool lookup", _tool(), start_ns=FAR_FUTURE_NS)],
        None,
        "startTimeUnixNano",
    ),
    "tool span before 2000": (
        lambda: [_span("execute_tool lookup", _tool(), start_ns=9 * 10**17)],
        None,
        "startTimeUnixNano",
    ),
    "tool span lasting a year": (
        lambda: [
            _span(
                "execute_tool lookup",
                _tool(),
                start_ns=time.time_ns() - 400 * 86_400 * 10**9,
                duration_ns=366 * 86_400 * 10**9,
            )
        ],  # fmt: skip
        None,
        "latency_ms",
    ),
    "long tool name": (
        lambda: [_span("execute_tool x", _tool("t" * 300))],
        None,
        "gen_ai.tool.name",
    ),
    "long tenant": (lambda: [_span("execute_tool x", _tool())], {"tenant.id": LONG}, "tenant.id"),
    "long model": (
        lambda: [_span("chat", _chat(**{"gen_ai.request.model": "m" * 300}))],
        None,
        "gen_ai.response.model",
    ),
    "evaluation dated 9999": (
        lambda: [
            _span(
                "execute_tool lookup",
                _tool(),
                events=[
                    {
                        "name": "gen_ai.evaluation.result",
                        "timeUnixNano": str(FAR_FUTURE_NS),
                        "attributes": [_attr("gen_ai.evaluation.score.label", "pass")],
                    }
                ],
            )
        ],
        None,
        "events.timeUnixNano",
    ),  # fmt: skip
}


@pytest.mark.parametrize("case", list(OTEL_CASES))
def test_otel_span_out_of_bounds_is_skipped_with_its_reason(data: Path, tmp_path: Path,
                                                            case: str) -> None:  # fmt: skip
    make, resource, field = OTEL_CASES[case]
    before = state(data)
    summary = _ingest(data, tmp_path, make(), resource)
    assert summary.new_total == 0
    assert len(summary.problems) == 1, summary.problems
    assert field in summary.problems[0] and "skipped" in summary.problems[0]
    assert len(summary.problems[0]) < 600
    assert "Skipped (1), the rest was kept:" in summary.describe()
    assert state(data) == before


def test_otel_the_rest_of_the_file_is_kept(data: Path, tmp_path: Path) -> None:
    spans = [
        _span("execute_tool lookup", _tool()),
        _span("chat", _chat(**{"gen_ai.usage.input_tokens": 2**64})),
        _span("execute_tool lookup", _tool(), start_ns=FAR_FUTURE_NS),
        _span("chat", _chat(**{"gen_ai.usage.cost": 1e308})),
        _span("chat", _chat(**{"gen_ai.usage.cost": 1e308})),
        _span("chat", _chat()),
    ]
    before = state(data)["counts"]
    summary = _ingest(data, tmp_path, spans)
    assert (summary.new["tool_calls"], summary.new["receipts"], len(summary.problems)) == (1, 1, 4)
    after = state(data)
    assert after["ok"]
    assert after["counts"]["audit_log"] == before["audit_log"] + 1
    assert after["counts"]["token_ledger"] == before["token_ledger"] + 1
    with Store(data, readonly=True) as s:
        assert s.query_one("SELECT MAX(created_at) FROM audit_log") < "9999"
        totals = ledger_mod.period_totals(s)
    assert totals["30d"]["cost_usd"] < 1  # no 1e308 (nor inf, shown as "—") in the period


def test_otel_long_error_message_is_truncated_exactly(data: Path, tmp_path: Path) -> None:
    span = _span("execute_tool lookup", _tool(**{"error.type": "Boom"}),
                 status={"code": 2, "message": "m" * 1000})  # fmt: skip
    summary = _ingest(data, tmp_path, [span])
    assert summary.new["tool_calls"] == 1 and not summary.problems
    with Store(data, readonly=True) as s:
        error = s.query_one("SELECT error FROM audit_log ORDER BY id DESC LIMIT 1")
    marker = MARK.format(n=1006)
    assert error == ("Boom: " + "m" * 1000)[: 500 - len(marker)] + marker


# --- truncated, not refused: what happened is still recorded --------------------------------------------
def test_tool_error_is_truncated_with_the_marker(data: Path) -> None:
    with Store(data) as store:
        em = Emitter(store, synchronous=True)
        boom = em.wrap(lambda: (_ for _ in ()).throw(ValueError("x" * 2000)), name="v")
        with pytest.raises(ValueError):
            boom()
        error = store.query_one("SELECT error FROM audit_log ORDER BY id DESC LIMIT 1")
    marker = MARK.format(n=2012)
    assert error == "ValueError: " + "x" * (500 - len(marker) - 12) + marker
    assert state(data)["ok"]


def test_rule_message_is_truncated_and_a_trip_still_triggers(data: Path) -> None:
    leaves = [
        {"field": f"f{i}", "op": ">", "value": 1, "label": f"{i:02d}" + "l" * 60} for i in range(60)
    ]
    rule = {"id": "big", "description": "d", "action": "trip_kill_switch",
            "condition": {"any": leaves}}  # fmt: skip
    outcome = evaluate_rule(load_rules([rule])[0], {f"f{i}": 2 for i in range(60)})
    assert len(outcome.message) == 2000 and outcome.message.endswith(" characters]")
    with Store(data) as store:
        gov = Governor(store, rules=[rule])
        with pytest.raises(GovernanceRefused) as info:
            gov.evaluate("n", {f"f{i}": 2 for i in range(60)}, run_id="run-0")
        assert info.value.reason == "kill_switch"
        ks = KillSwitch(store).state()
    assert not ks.armed and ks.reason == outcome.message
    assert state(data)["ok"]


def test_run_summary_and_unpriced_reason_are_truncated(data: Path) -> None:
    with Store(data) as store:
        finish_run(store, "run-0", "completed", summary="s" * 3000, at=_ago(1))
        summary = store.query_one(
            "SELECT summary FROM workflow_runs WHERE composition_id = 'run-0'"
        )
        r = Ledger(store).record_external(run_id=None, node=None, model="own-llm", input_tokens=1,
                                          output_tokens=1, unpriced_reason="u" * 2500)  # fmt: skip
    assert summary == "s" * (2000 - 29) + "…[truncated, 3000 characters]"
    assert r.unpriced_reason == "u" * (2000 - 29) + "…[truncated, 2500 characters]"
    assert state(data)["ok"]


def test_refusal_of_an_over_long_tool_name_is_recorded_truncated(data: Path) -> None:
    with Store(data) as store:
        with pytest.raises(GovernanceRefused) as info:
            Governor(store).guard_tool("t" * 5000, run_id="run-0", actor="a" * 300)
        assert info.value.reason == "unregistered" and len(str(info.value)) < 600
        detail = json.loads(
            store.query_one("SELECT detail FROM worm_log WHERE action = 'call_refused'")
        )
    marker = MARK.format(n=5000)
    assert detail["tool"] == "t" * (256 - len(marker)) + marker
    assert detail["actor"] == "a" * (256 - 28) + "…[truncated, 300 characters]"
    assert state(data)["ok"]


# --- stores written before the bounds still render ------------------------------------------------------
def _raw_receipt(store: Store, tokens: int, at: str, cost: float | None = 0.5) -> None:
    store.execute(
        "INSERT INTO token_ledger(run_id, node, tenant_id, model, provider, input_tokens, "
        "output_tokens, cost_usd, usage_source, cost_source, created_at) "
        "VALUES ('run-0', 'n', 'acme', 'gpt-4.1', 'openai', ?, 1, ?, 'ingested', 'provider', ?)",
        (tokens, cost, at),
    )


def test_2_62_tokens_twice_are_refused_now(data: Path) -> None:
    refused(data, _record(input_tokens=2**62), "input_tokens", BoundsError)
    refused(data, _record(input_tokens=2**62), "input_tokens", BoundsError)


@pytest.mark.slow
def test_old_store_with_2_62_tokens_twice_still_renders(data: Path, tmp_path: Path) -> None:
    import ipywidgets as widgets

    from govlib.analysis.executive import load_spog
    from govlib.apps.executive.page import SpogApp
    from govlib.report.contents import report_data

    with Store(data) as store:
        _raw_receipt(store, 2**62, _ago(5))
        _raw_receipt(store, 2**62, _ago(4))
        by_model = ledger_mod.cost_by_model(store)
        big = int(float(2**63 + 3))  # summed in floating point: exact below 2**53 only
        assert int(by_model.loc[0, "input_tokens"]) == big
        assert ledger_mod.period_totals(store)["30d"]["input_tokens"] == big
        spog = load_spog(store, "run-0")
        assert spog["cost"]["steps"][0]["input_tokens"] == big
        report = report_data(store, period="30d")
        assert report["costs"]["period"]["input_tokens"] == big
    app = SpogApp(data)
    try:
        html = "\n".join(w.value for w in _walk(app.widget) if isinstance(w, widgets.HTML))
        assert "Cost" in html
        assert "Could not read the govlib store" not in html
        assert "integer overflow" not in html
    finally:
        app.close()
    r = invoke(["report", "--data-dir", data, "--out", tmp_path / "r.html"], tmp_path)
    assert r.exit_code == 0, r.output[-500:]


def test_old_store_with_a_far_future_row_keeps_the_report_period(data: Path) -> None:
    from govlib.report.contents import report_data

    with Store(data) as store:
        store.execute(
            "INSERT INTO audit_log(tenant_id, tool_name, success, schema_valid, latency_ms, "
            "created_at) VALUES ('acme', 'lookup', 1, 1, 5, '9999-12-31T00:00:00.000000Z')"
        )
        _raw_receipt(store, 5, "9999-12-31T00:00:00.000000Z", cost=1e308)
        report = report_data(store, period="30d")
        totals = ledger_mod.period_totals(store)
    assert report["report"]["end"] < "9999" and report["report"]["start"] < "9999"
    assert report["report"]["end"][:4] == str(datetime.now(UTC).year)
    assert totals["as_of"] < "9999" and totals["30d"]["cost_usd"] < 1


def _walk(w: Any):  # noqa: ANN202
    yield w
    for child in getattr(w, "children", ()) or ():
        yield from _walk(child)
