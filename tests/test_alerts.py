"""Alerts end to end: `govlib watch` as a real process, real loopback receivers (an HTTP server that
checks the webhook signature, aiosmtpd for e-mail), faults injected into the receivers and the
watch itself, and the no-storm simulation."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from alert_receivers import HookReceiver, SmtpReceiver, free_port, wait_for
from click.testing import CliRunner

from govlib.alerts import outbox
from govlib.alerts.config import add_destination, remove_destination
from govlib.alerts.destinations import check_destination
from govlib.alerts.rules import AlertRuleError, Condition, evaluate
from govlib.alerts.watch import Watcher, check_heartbeat, routed
from govlib.analysis.spc import drift_badge
from govlib.capture.rows import insert_audit_batch
from govlib.cli.main import cli
from govlib.evidence.verify import verify_store
from govlib.governance.killswitch import KillSwitch
from govlib.settings import Settings
from govlib.store.database import Store

ROOT = Path(__file__).resolve().parent.parent
SECRET = b"s3cret-shared"

#: Fast delivery for tests: retries every 0.5-2 s, a look every second.
FAST = {
    "alert_retry_base_s": 0.5,
    "alert_retry_max_s": 2.0,
    "alert_timeout_s": 5.0,
    "alert_verify_every_s": 1.0,
}


# --- fixtures and helpers ------------------------------------------------------------------------
@pytest.fixture()
def data(claimsflow_template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(claimsflow_template, target)
    (tmp_path / "hook.secret").write_bytes(b"  " + SECRET + b"\n")
    return target


def _settings(data: Path, **values: Any) -> None:
    path = data / "govlib.json"
    doc = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps(doc | FAST | values))


def _webhook(rx: HookReceiver, data: Path, **extra: Any) -> dict[str, Any]:
    secret = str(data.parent / "hook.secret")
    return {"type": "webhook", "url": rx.url("hook"), "secret_file": secret} | extra


def _start_watch(
    data: Path, *, env: dict[str, str] | None = None, wait: bool = True
) -> subprocess.Popen[bytes]:
    environ = dict(os.environ, PYTHONPATH=str(ROOT), GOVLIB_ALERT_DEBUG="1") | (env or {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "govlib", "watch", "--every", "1s", "--data-dir", str(data)],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    if wait:
        assert wait_for(lambda: _cursor(data, "heartbeat") is not None, 60), "watch never looked"
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _cursor(data: Path, name: str) -> Any:
    try:
        with sqlite3.connect(data / "govlib.sqlite", timeout=30) as con:
            row = con.execute("SELECT value FROM alert_cursor WHERE name = ?", (name,)).fetchone()
    except sqlite3.OperationalError:
        return None
    return json.loads(row[0]) if row else None


def _count(kinds: list[str], name: str) -> int:
    return sum(1 for k in kinds if k == name)


def _rows(n: int, tool: str, latency: Any, rng: np.random.Generator) -> list[tuple[Any, ...]]:
    now = datetime.now(UTC) - timedelta(seconds=5)
    lat = latency(rng, n)
    return [
        ("default", tool, None, None, 1, 1, int(max(1, lat[i])), "0000abcd", None, now)
        for i in range(n)
    ]


def _in_control(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.exp(rng.normal(np.log(120), 0.2, n))


@pytest.fixture()
def receivers() -> Iterator[tuple[HookReceiver, SmtpReceiver]]:
    hook, smtp = HookReceiver(SECRET).start(), SmtpReceiver().start()
    yield hook, smtp
    hook.stop()
    smtp.stop()


# --- unit: settings as data, routing, backoff ----------------------------------------------------
def test_destinations_are_checked_and_saved_in_govlib_json(tmp_path: Path) -> None:
    secret = tmp_path / "s"
    secret.write_text("x\n")
    d1 = add_destination(
        tmp_path, {"type": "webhook", "url": "http://h/x", "secret_file": str(secret)}
    )
    d2 = add_destination(
        tmp_path, {"type": "email", "address": "a@b.c", "smtp": "m:25", "on": ["chain"]}
    )
    doc = json.loads((tmp_path / "govlib.json").read_text())
    assert [d["id"] for d in doc["alert_destinations"]] == ["d1", "d2"] == [d1["id"], d2["id"]]
    with pytest.raises(AlertRuleError, match="on: 'drfit' is not an alert kind"):
        check_destination({"id": "x", "type": "slack", "url": "http://h", "on": ["drfit"]})
    with pytest.raises(AlertRuleError, match="smtp: 'mail' is not HOST:PORT"):
        add_destination(tmp_path, {"type": "email", "address": "a@b.c", "smtp": "mail"})
    with pytest.raises(AlertRuleError, match="secret_file: missing"):
        add_destination(tmp_path, {"type": "webhook", "url": "http://h/x"})
    remove_destination(tmp_path, "d1")
    with pytest.raises(AlertRuleError, match="'d1' is not a destination; expected one of d2"):
        remove_destination(tmp_path, "d1")


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    import random

    rng = random.Random(1)
    delays = [outbox.backoff_s(n, 1.0, 16.0, rng) for n in range(1, 9)]
    for n, delay in enumerate(delays, start=1):
        cap = min(16.0, 2.0 ** (n - 1))
        assert cap / 2 <= delay < cap
    assert len(set(delays)) == len(delays)  # jittered


def test_drift_alerts_are_routed_by_tool_owner() -> None:
    from govlib.alerts.rules import Alert

    alert = Alert("a", "drift", "drift_drift", "drift:ocr", "s", "", {}, "t", owner="claims-team")
    dests = [
        {"id": "risk", "on": ["kill_switch", "chain"]},
        {"id": "claims", "on": ["drift"], "owners": ["claims-team"]},
        {"id": "fraud", "on": ["drift"], "owners": ["fraud-team"]},
        {"id": "all", "on": ["drift"]},
    ]
    assert routed(dests, alert) == ["claims", "all"]


# --- the no-storm simulation ---------------------------------------------------------------------
def test_ten_thousand_in_control_rows_raise_no_drift_alert_and_flapping_is_held_down() -> None:
    rng = np.random.default_rng(20)
    latency = _in_control(rng, 10_000)
    start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    states: dict[str, Any] = {}
    raised = []
    for tick, end in enumerate(range(100, 10_001, 100)):  # a look every 100 new rows, 10 s apart
        badge, _ = drift_badge(np.ones(end), latency[:end], settings=Settings())
        cond = Condition(
            "drift:t", "drift", badge, badge == "stable", "s", on_name=f"drift_{badge}"
        )
        alerts, states = evaluate(
            [cond], states, start + timedelta(seconds=10 * tick), hold_down_s=300
        )
        raised += alerts
    assert raised == []
    # Flapping around a threshold every 20 s for 10 minutes, then drifting for good.
    states, raised = {}, []
    for tick in range(60):
        badge = "drift" if (tick // 2) % 2 else "stable"
        if tick >= 40:
            badge = "drift"
        cond = Condition("drift:t", "drift", badge, badge == "stable", "s", on_name="drift_drift")
        alerts, states = evaluate(
            [cond], states, start + timedelta(seconds=10 * tick), hold_down_s=120
        )
        raised += alerts
    assert [a.name for a in raised] == ["drift_drift"]  # one change that held, one alert


@pytest.mark.slow
def test_ten_thousand_in_control_rows_in_a_store_raise_no_drift_alert(data: Path) -> None:
    _settings(
        data, alert_destinations=[{"id": "d", "type": "slack", "url": "http://127.0.0.1:9/x"}]
    )
    rng = np.random.default_rng(7)
    with Store(data) as store:
        watcher = Watcher(store)
        t0 = datetime.now(UTC)
        for i in range(10):  # 10,000 rows, a look after every 1,000
            insert_audit_batch(store, _rows(1000, "steady_tool", _in_control, rng))
            watcher.look(now=t0 + timedelta(seconds=10 * i))
        names = store.query("SELECT name, summary FROM alert_outbox WHERE kind = 'drift'")
        watcher.close()
    assert [r for r in names if "steady_tool" in r["summary"]] == []


# --- end to end: the acceptance scenario ---------------------------------------------------------
@pytest.mark.slow
def test_fraud_reset_drift_and_tamper_each_raise_one_alert_per_destination(
    data: Path, receivers: tuple[HookReceiver, SmtpReceiver], no_service_wait: None
) -> None:
    hook, smtp = receivers
    dests = [
        _webhook(hook, data, id="hook"),
        {"id": "slack", "type": "slack", "url": hook.url("slack")},
        {"id": "teams", "type": "teams", "url": hook.url("teams")},
        {
            "id": "mail",
            "type": "email",
            "address": "cro@example.com",
            "smtp": f"127.0.0.1:{smtp.port}",
        },
    ]
    _settings(data, alert_destinations=dests, alert_hold_down_s=0.0)
    rng = np.random.default_rng(3)
    with Store(data) as store:  # a tool with a steady history before the watch starts
        insert_audit_batch(store, _rows(400, "drift_probe", _in_control, rng))
    proc = _start_watch(data)
    try:
        every = [lambda n: _count(hook.kinds("hook"), n), lambda n: _count(hook.kinds("slack"), n)]
        every += [lambda n: _count(hook.kinds("teams"), n), lambda n: _count(smtp.kinds(), n)]

        def once_each(name: str, timeout: float) -> bool:
            return wait_for(lambda: all(c(name) >= 1 for c in every), timeout)

        runner = CliRunner()
        result = runner.invoke(cli, ["run", "fraud", "--data-dir", str(data)])
        assert result.exit_code == 0, result.output
        with Store(data) as store:
            at = KillSwitch(store).state(proven=False).at
        triggered = datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
        assert once_each("kill_switch_triggered", 15), (hook.kinds("hook"), smtp.kinds())
        hook_at = min(
            r["at"] for r in hook.accepted if r["json"].get("kind") == "kill_switch_triggered"
        )
        assert hook_at - triggered < 15
        print(f"kill-switch alert received {hook_at - triggered:.2f} s after the trigger")

        reset = ["killswitch", "reset", "--by", "Dana", "--reason", "ok", "--data-dir", str(data)]
        assert runner.invoke(cli, reset).exit_code == 0
        assert once_each("kill_switch_reset", 15)

        with Store(data) as store:  # injected drift: the newest 60 calls 6x slower
            insert_audit_batch(
                store, _rows(60, "drift_probe", lambda r, n: 6 * _in_control(r, n), rng)
            )
        assert once_each("drift_drift", 20), hook.kinds("hook")

        with sqlite3.connect(data / "govlib.sqlite", timeout=30) as con:  # tamper with entry 3
            con.execute("DROP TRIGGER worm_log_no_update")
            con.execute(
                "UPDATE worm_log SET body = replace(body, '\"seq\":3', '\"seq\":3 ') WHERE seq = 3"
            )
        assert once_each("chain_broken", 20), hook.kinds("hook")
        time.sleep(4)  # several more looks: nothing is raised twice
    finally:
        _stop(proc)
        print(proc.stderr.read().decode() if proc.stderr else "")
    assert hook.bad_signatures == 0
    for count in every:
        for name in ("kill_switch_triggered", "kill_switch_reset", "drift_drift", "chain_broken"):
            assert count(name) == 1, name
    assert _count(hook.kinds("hook"), "drift_watch") == 0
    doc = next(r["json"] for r in hook.accepted if r["json"].get("kind") == "kill_switch_triggered")
    assert set(doc) >= {"alert_id", "kind", "summary", "url", "evidence"}
    assert doc["evidence"]["worm_seq"] and len(doc["evidence"]["mac"]) == 64
    assert doc["url"].startswith("http://localhost:8866/voila/render/executive_spog.ipynb")
    mail = next(m for m in smtp.box.messages if m["Subject"].endswith("kill_switch_triggered"))
    assert {p.get_content_type() for p in mail.walk()} >= {"text/plain", "text/html"}
    with Store(data) as store:  # every delivery recorded in the WORM log
        sent = store.query("SELECT detail FROM worm_log WHERE action = 'alert_sent'")
        ids = {(json.loads(r[0])["alert_id"], json.loads(r[0])["destination"]) for r in sent}
        assert (doc["alert_id"], "hook") in ids and (doc["alert_id"], "mail") in ids


# --- fault tests ---------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("outage_s", [10, pytest.param(60, marks=pytest.mark.soak)])
def test_a_receiver_down_for_a_while_gets_the_alert_once_when_it_is_back(
    data: Path, outage_s: int
) -> None:
    port = free_port()
    hook = HookReceiver(SECRET, port=port)
    _settings(data, alert_destinations=[_webhook(hook, data, id="hook", on=["kill_switch"])])
    proc = _start_watch(data)
    try:
        with Store(data) as store:
            KillSwitch(store).trigger("Dana", "incident 7")
        time.sleep(outage_s)  # the receiver is down: every attempt is refused
        hook.start()
        assert wait_for(lambda: "kill_switch_triggered" in hook.kinds("hook"), 15)
        time.sleep(3)
    finally:
        _stop(proc)
        hook.stop()
    assert _count(hook.kinds("hook"), "kill_switch_triggered") == 1
    with Store(data) as store:
        row = store.query(
            "SELECT state, attempts FROM alert_outbox WHERE name = 'kill_switch_triggered'"
        )
        assert row[0]["state"] == "sent" and row[0]["attempts"] >= 3


@pytest.mark.slow
def test_a_receiver_answering_500_then_200_gets_the_alert_once(data: Path) -> None:
    hook = HookReceiver(SECRET, fail_first=2).start()
    _settings(data, alert_destinations=[_webhook(hook, data, id="hook", on=["kill_switch"])])
    proc = _start_watch(data)
    try:
        time.sleep(1.5)  # the first look's alive summary takes the first two 500s
        with Store(data) as store:
            KillSwitch(store).trigger("Dana", "incident 8")
        assert wait_for(lambda: "kill_switch_triggered" in hook.kinds("hook"), 15)
        time.sleep(3)
    finally:
        _stop(proc)
        hook.stop()
    assert _count(hook.kinds("hook"), "kill_switch_triggered") == 1
    assert len([r for r in hook.requests if b"watch_alive" in r["body"]]) >= 2  # 500, 500, 200


@pytest.mark.slow
def test_kill_9_between_send_and_record_gives_at_most_one_duplicate_with_the_same_id(
    data: Path,
) -> None:
    hook = HookReceiver(SECRET).start()
    _settings(data, alert_destinations=[_webhook(hook, data, id="hook", on=["kill_switch"])])
    with Store(data) as store:
        KillSwitch(store).trigger("Dana", "incident 9")
    proc = _start_watch(data, env={"GOVLIB_ALERT_FAULT": "kill_after_send"}, wait=False)
    try:
        assert proc.wait(timeout=30) == -signal.SIGKILL
        first = hook.ids("hook", "kill_switch_triggered")
        assert len(first) == 1
        proc = _start_watch(data)
        assert wait_for(lambda: len(hook.ids("hook", "kill_switch_triggered")) >= 2, 15)
        time.sleep(3)
    finally:
        _stop(proc)
        hook.stop()
    ids = hook.ids("hook", "kill_switch_triggered")
    assert len(ids) == 2 and len(set(ids)) == 1  # one duplicate, identifiable by its alert id
    with Store(data) as store:
        sent = [
            json.loads(r[0])
            for r in store.query("SELECT detail FROM worm_log WHERE action = 'alert_sent'")
        ]
        assert [d["alert_id"] for d in sent].count(ids[0]) == 1
        assert verify_store(store).ok


@pytest.mark.slow
def test_an_unreachable_smtp_server_does_not_block_the_other_destinations(data: Path) -> None:
    hook = HookReceiver(SECRET).start()
    silent = socket.socket()  # accepts connections, never greets: an SMTP server that hangs
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    dests = [
        {
            "id": "mail",
            "type": "email",
            "address": "a@b.c",
            "smtp": f"127.0.0.1:{silent.getsockname()[1]}",
        },
        {"id": "mail2", "type": "email", "address": "a@b.c", "smtp": f"127.0.0.1:{free_port()}"},
        _webhook(hook, data, id="hook"),
    ]
    _settings(data, alert_destinations=dests, alert_timeout_s=8.0)
    proc = _start_watch(data)
    try:
        with Store(data) as store:
            KillSwitch(store).trigger("Dana", "incident 10")
            t0 = time.time()
        assert wait_for(lambda: "kill_switch_triggered" in hook.kinds("hook"), 6)
        assert time.time() - t0 < 6  # inside the hanging server's 8 s timeout
    finally:
        _stop(proc)
        hook.stop()
        silent.close()
    with Store(data) as store:
        states = {
            r["destination_id"]: r["state"]
            for r in store.query(
                "SELECT destination_id, state FROM alert_outbox WHERE name = 'kill_switch_triggered'"
            )
        }
    assert states["hook"] == "sent" and states["mail2"] == "pending"


# --- heartbeat, test alerts, list -----------------------------------------------------------------
def test_check_heartbeat_alerts_when_the_watch_is_silent_and_once_only(
    data: Path, receivers: tuple[HookReceiver, SmtpReceiver]
) -> None:
    hook, _smtp = receivers
    _settings(data, alert_destinations=[_webhook(hook, data, id="hook", on=["chain"])])
    runner = CliRunner()
    args = ["alerts", "check-heartbeat", "--data-dir", str(data)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 1 and "never ran" in result.output
    assert hook.kinds("hook") == ["watch_silent"]
    assert runner.invoke(cli, args).exit_code == 1
    assert hook.kinds("hook") == ["watch_silent"]  # the same silence is told once
    with Store(data) as store:
        Watcher(store).look()
        assert check_heartbeat(store) is None
        later = datetime.now(UTC) + timedelta(seconds=3600)
        assert check_heartbeat(store, now=later).name == "watch_silent"
    assert len(hook.kinds("hook")) == 3  # alive summary, second silence


def test_alerts_test_and_list_show_delivery_state_with_its_worm_entry(
    data: Path, receivers: tuple[HookReceiver, SmtpReceiver]
) -> None:
    hook, smtp = receivers
    runner = CliRunner()
    base = ["--data-dir", str(data)]
    secret = str(data.parent / "hook.secret")
    out = runner.invoke(
        cli,
        [
            "alerts",
            "add",
            "webhook",
            hook.url("hook"),
            "--secret-file",
            secret,
            "--on",
            "kill_switch,chain",
            *base,
        ],
    )
    assert out.exit_code == 0 and "d1" in out.output, out.output
    out = runner.invoke(
        cli,
        ["alerts", "add", "email", "cro@example.com", "--smtp", f"127.0.0.1:{smtp.port}", *base],
    )
    assert out.exit_code == 0, out.output
    assert runner.invoke(cli, ["alerts", "test", "d1", *base]).exit_code == 0
    assert runner.invoke(cli, ["alerts", "test", "d2", *base]).exit_code == 0
    assert hook.kinds("hook") == ["test"] and smtp.kinds() == ["test"]
    listing = runner.invoke(cli, ["alerts", "list", *base]).output
    assert "d1  webhook" in listing and "on kill_switch,chain" in listing
    assert "-> d2: sent (1 attempts) WORM #" in listing
    out = runner.invoke(
        cli,
        [
            "alerts",
            "add",
            "webhook",
            hook.url("hook"),
            "--secret-file",
            secret,
            "--on",
            "kill",
            *base,
        ],
    )
    assert out.exit_code == 2 and "on: 'kill' is not an alert kind" in out.output
    assert runner.invoke(cli, ["alerts", "remove", "d2", *base]).exit_code == 0
    assert runner.invoke(cli, ["alerts", "test", "d2", *base]).exit_code == 2
    with Store(data) as store:
        assert verify_store(store).ok


@pytest.mark.slow
def test_serve_watch_child_follows_the_store_and_stops_cleanly(data: Path) -> None:
    from govlib.cli.alerts import start_watch, stop_watch

    _settings(data, alert_watch_every_s=1.0)
    proc = start_watch(data)
    try:
        assert wait_for(lambda: _cursor(data, "heartbeat") is not None, 60)
    finally:
        stop_watch(proc)
    assert proc.returncode == 0


def test_the_executive_page_shows_the_last_alerts_and_their_delivery_state(
    data: Path, receivers: tuple[HookReceiver, SmtpReceiver]
) -> None:
    from govlib.analysis.executive import load_spog
    from govlib.apps.executive.html import governance_html

    hook, _smtp = receivers
    dead = {"id": "down", "type": "slack", "url": f"http://127.0.0.1:{free_port()}/x"}
    _settings(data, alert_destinations=[_webhook(hook, data, id="hook"), dead])
    with Store(data) as store:
        KillSwitch(store).trigger("Dana", "incident 11")
        watcher = Watcher(store)
        watcher.look()
        watcher.deliver_round()
        watcher.close()
        page = load_spog(store)
    states = {(a["name"], a["destination_id"]): a["state"] for a in page["alerts"]}
    assert states[("kill_switch_triggered", "hook")] == "sent"
    assert states[("kill_switch_triggered", "down")] == "pending"
    html = str(governance_html(page))
    assert "Alerts (last sent and their delivery)" in html
    sent = next(a for a in page["alerts"] if a["destination_id"] == "hook" and a["state"] == "sent")
    assert f'data-alert="{sent["alert_id"]}" data-state="sent"' in html
    assert "▲ pending" in html and "✔ sent" in html
    assert 'data-alive="yes"' in html and "govlib watch last looked" in html
    later = datetime.now(UTC) + timedelta(seconds=601)
    with Store(data) as store:
        from govlib.analysis.alerting import recent_alerts, watch_state

        assert watch_state(store, now=later)["alive"] is False
        # A row edited to "sent" behind govlib's back, or pointed at another alert's entry,
        # is shown as unproven: the page reads final states from the WORM entries.
        store.execute("UPDATE alert_outbox SET state = 'sent' WHERE destination_id = 'down'")
        store.execute(
            "UPDATE alert_outbox SET worm_seq = ? WHERE destination_id = 'hook' AND id != ?",
            (sent["worm_seq"], sent["id"]),
        )
        shown = {(a["destination_id"], a["id"]): a["state"] for a in recent_alerts(store, limit=50)}
    assert shown[("hook", sent["id"])] == "sent"
    assert {v for (d, i), v in shown.items() if d == "down"} == {"unproven"}
    assert {v for (d, i), v in shown.items() if d == "hook" and i != sent["id"]} == {"unproven"}


def test_email_goes_over_starttls_verified_against_the_configured_ca(tmp_path: Path) -> None:
    from alert_receivers import StartTlsSmtpReceiver, self_signed

    from govlib.alerts.destinations import DeliveryError, deliver

    cert, key = self_signed(tmp_path)
    smtp = StartTlsSmtpReceiver(cert, key).start()
    dest = {
        "id": "m",
        "type": "email",
        "address": "cro@example.com",
        "smtp": f"127.0.0.1:{smtp.port}",
    }
    payload = {
        "alert_id": "a1",
        "kind": "chain_broken",
        "summary": "broken",
        "url": "u",
        "evidence": {},
    }
    try:
        with pytest.raises(DeliveryError):  # the server refuses mail before STARTTLS
            deliver(dest, payload, Settings(alert_timeout_s=5.0))
        with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):  # unknown CA
            deliver(dest | {"starttls": True}, payload, Settings(alert_timeout_s=5.0))
        deliver(
            dest | {"starttls": True}, payload, Settings(alert_timeout_s=5.0, smtp_cafile=str(cert))
        )
    finally:
        smtp.stop()
    assert smtp.kinds() == ["chain_broken"]
    assert smtp.box.messages[0]["X-Govlib-Alert-Id"] == "a1"


def test_a_second_watch_on_the_same_store_is_refused(data: Path) -> None:
    from govlib.alerts.watch import single_watch

    with single_watch(data):
        out = CliRunner().invoke(cli, ["watch", "--data-dir", str(data)])
    assert out.exit_code == 2 and "govlib watch is already running on this store" in out.output


def test_budgets_and_the_review_backlog_raise_once_when_crossed() -> None:
    from govlib.alerts.signals import backlog_condition, budget_conditions
    from govlib.costs.ledger import Ledger

    store = Store(memory=True)
    now = datetime.now(UTC)
    ledger = Ledger(store)
    for _ in range(3):  # 3 x $0.0105 today
        ledger.record(
            run_id="r1", node="n", model="claude-sonnet-4-6", input_tokens=1000, output_tokens=500
        )
    st = Settings(
        alert_budget_day_usd=0.03,
        alert_budget_model_usd={"claude-sonnet-4-6": 0.05, "gpt-x": 1.0},
        alert_backlog_max=1,
        alert_backlog_age_h=1.0,
        alert_hold_down_s=0.0,
    )
    conds = {c.key.rsplit(":", 1)[0]: c for c in budget_conditions(store, st, now)}
    assert (
        conds["budget:day"].state == "over"
        and "is $0.0315, above the budget of $0.0300" in conds["budget:day"].summary
    )
    assert conds["budget:model:claude-sonnet-4-6"].state == "within"
    assert conds["budget:model:gpt-x"].state == "within"
    old = now - timedelta(hours=2)
    insert_audit_batch(store, [("t", "ocr", None, None, 1, 1, 5, "0000abcd", None, old)] * 2)
    backlog = backlog_condition(store, st, now)
    assert (backlog.state, backlog.evidence["unreviewed"]) == ("over", 2)
    alerts, states = evaluate([*conds.values(), backlog], {}, now, hold_down_s=0.0)
    assert sorted(a.name for a in alerts) == ["backlog_over", "budget_exceeded"]
    assert evaluate([*conds.values(), backlog], states, now, hold_down_s=0.0)[0] == []


def test_a_break_found_by_the_full_verify_stays_broken_between_full_verifies(data: Path) -> None:
    _settings(data, alert_verify_every_s=300.0, alert_hold_down_s=0.0)
    with Store(data) as store:
        watcher = Watcher(store)
        t0 = datetime.now(UTC)
        watcher.look(now=t0)
        store.execute("DROP TRIGGER worm_log_no_update")
        store.execute(
            "UPDATE worm_log SET body = replace(body, '\"seq\":2', '\"seq\":2 ') WHERE seq = 2"
        )
        names = []
        for dt in (10, 301, 311, 321, 700):  # a full verify at 301 s and at 700 s only
            names += [
                a.name for a in watcher.look(now=t0 + timedelta(seconds=dt)) if a.kind == "chain"
            ]
        watcher.close()
    assert names == ["chain_broken"]


def test_the_periodic_full_verify_is_full_even_after_an_incremental_one(data: Path) -> None:
    """An old entry edited in place with the guards and the schema cookie restored is what only
    a full verification sees: the watch's periodic one must not start from a remembered point
    (its own, or the one the data dir's processes share)."""
    from test_verify_incremental import restore_guards, schema_cookie

    _settings(data, alert_verify_every_s=300.0, alert_hold_down_s=0.0)
    with Store(data) as store:
        watcher = Watcher(store)
        t0 = datetime.now(UTC)
        assert [a.name for a in watcher.look(now=t0) if a.kind == "chain"] == []
        db = data / "govlib.sqlite"
        cookie = schema_cookie(db)
        with sqlite3.connect(db) as con:
            con.execute("DROP TRIGGER worm_log_no_update")
            con.execute(
                "UPDATE worm_log SET body = replace(body, '\"seq\":2', '\"seq\":2 ') WHERE seq = 2"
            )
            restore_guards(con, cookie)
        assert schema_cookie(db) == cookie
        names = []
        for dt in (10, 301):  # incremental at 10 s (blind to it), the full verify at 301 s
            names.append(
                [a.name for a in watcher.look(now=t0 + timedelta(seconds=dt)) if a.kind == "chain"]
            )
        watcher.close()
    assert names == [[], ["chain_broken"]]


def test_quiet_hours_hold_back_everything_but_kill_switch_and_chain() -> None:
    from govlib.alerts.rules import in_quiet_hours, parse_quiet_hours

    quiet = parse_quiet_hours("22:00-07:00")
    night, morning = (
        datetime(2026, 12, 4, 23, 30, tzinfo=UTC),
        datetime(2026, 12, 5, 7, 0, tzinfo=UTC),
    )
    assert in_quiet_hours(night, quiet) and not in_quiet_hours(morning, quiet)
    ks = Condition(
        "kill_switch", "kill_switch", "triggered", False, "s", on_name="kill_switch_triggered"
    )
    chain = Condition("chain", "chain", "broken", False, "s", on_name="chain_broken")
    drift = Condition("drift:ocr", "drift", "drift", False, "s", on_name="drift_drift")
    alerts, states = evaluate([ks, chain, drift], {}, night, quiet=quiet, hold_down_s=300)
    assert sorted(a.name for a in alerts) == ["chain_broken", "kill_switch_triggered"]
    alerts, states = evaluate([ks, chain, drift], states, morning, quiet=quiet, hold_down_s=300)
    assert [a.name for a in alerts] == ["drift_drift"]  # held back, raised when quiet hours end
    with pytest.raises(
        AlertRuleError, match="alert_quiet_hours: '25:00-07:00' is not a time range"
    ):
        parse_quiet_hours("25:00-07:00")


def test_the_outbox_is_bounded_and_old_alerts_are_given_up_on_the_record() -> None:
    from govlib.alerts.rules import Alert

    store = Store(memory=True)
    for i in range(5):
        outbox.enqueue(store, Alert(f"a{i}", "drift", "drift_drift", "k", "s", "", {}, "t"), ["d"])
    assert outbox.give_up_overflow(store, 2) == 3
    assert outbox.pending_count(store) == 2
    row = outbox.due(store)[0]
    far = datetime.now(UTC) + timedelta(days=2)
    assert outbox.record_failure(store, row, "HTTP 500", Settings(), now=far) == "given_up"
    given_up = store.query(
        "SELECT detail FROM worm_log WHERE action = 'alert_given_up' ORDER BY seq"
    )
    reasons = [json.loads(r[0])["reason"] for r in given_up]
    assert reasons[:3] == ["outbox full (2)"] * 3 and reasons[3].endswith("HTTP 500")
    assert (
        store.query_one("SELECT state FROM alert_outbox WHERE alert_id = ?", (row["alert_id"],))
        == "given_up"
    )
    assert verify_store(store).ok


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_login_takes_the_password_from_the_environment_before_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alert_receivers import AuthSmtpReceiver

    from govlib.alerts.destinations import deliver

    smtp = AuthSmtpReceiver("govlib", "right horse").start()
    secret = tmp_path / "smtp.password"
    secret.write_text("  wrong battery \n")
    dest = {
        "id": "m",
        "type": "email",
        "address": "cro@example.com",
        "smtp": f"127.0.0.1:{smtp.port}",
    }
    payload = {
        "alert_id": "a2",
        "kind": "budget_exceeded",
        "summary": "s",
        "url": "u",
        "evidence": {},
    }
    st = Settings(alert_timeout_s=5.0, smtp_user="govlib", smtp_password_file=str(secret))
    monkeypatch.delenv("GOVLIB_SMTP_PASSWORD", raising=False)
    try:
        monkeypatch.setenv("GOVLIB_SMTP_PASSWORD", "right horse")
        deliver(dest, payload, st)  # the environment wins over the (wrong) file
        monkeypatch.delenv("GOVLIB_SMTP_PASSWORD")
        secret.write_text("right horse\n")
        deliver(dest | {"address": "cfo@example.com"}, payload, st)  # the file, stripped
    finally:
        smtp.stop()
    assert smtp.kinds() == ["budget_exceeded"] * 2
    assert [m["To"] for m in smtp.box.messages] == ["cro@example.com", "cfo@example.com"]


@pytest.mark.slow
def test_refused_collect_requests_and_an_unreadable_file_each_raise_one_signed_ingest_alert(
    data: Path, receivers: tuple[HookReceiver, SmtpReceiver], tmp_path: Path
) -> None:
    import http.client

    hook, _ = receivers
    _settings(data, alert_destinations=[_webhook(hook, data, id="hook", on=["ingest"])])
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    collect = subprocess.Popen(
        [sys.executable, "-m", "govlib", "collect", "--listen", f"127.0.0.1:{port}"]
        + ["--data-dir", str(data)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert collect.stderr is not None
        for _ in range(100):
            if "receiving OTLP/HTTP" in collect.stderr.readline():
                break
        statuses = []
        for ctype in ["application/x-protobuf"] * 30 + ["text/plain"] * 5:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("POST", "/v1/traces", b"\xff\xfe not OTLP", {"Content-Type": ctype})
            statuses.append(conn.getresponse().status)
            conn.close()
        assert statuses == [400] * 30 + [415] * 5
    finally:
        collect.send_signal(signal.SIGTERM)
        collect.communicate(timeout=60)
    assert collect.returncode == 0
    with Store(data, create=False, readonly=True) as store:
        rows = [
            dict(r)
            for r in store.query("SELECT source, requests, spans, reason FROM ingest_errors")
        ]
    assert sorted((r["reason"], r["requests"]) for r in rows) == [
        ("HTTP 400 malformed body", 30),
        ("HTTP 415 unsupported content type or encoding", 5),
    ]
    assert all("OTLP" not in r["reason"] for r in rows)  # content-free: the body is never kept

    proc = _start_watch(data)
    try:
        assert wait_for(lambda: _count(hook.kinds("hook"), "ingest_refused") >= 1, 20)
        time.sleep(3)  # several more looks: the same errors are not raised again
        assert _count(hook.kinds("hook"), "ingest_refused") == 1
        bad = tmp_path / "broken.jsonl"
        bad.write_bytes(b"\xff\xfe not UTF-8")
        result = CliRunner().invoke(cli, ["ingest", "otel", str(bad), "--data-dir", str(data)])
        assert "cannot read the file" in result.output, result.output
        assert wait_for(lambda: _count(hook.kinds("hook"), "ingest_refused") >= 2, 20)
        time.sleep(3)
    finally:
        _stop(proc)
    assert hook.bad_signatures == 0
    docs = [r["json"] for r in hook.accepted if r["json"].get("kind") == "ingest_refused"]
    assert len(docs) == 2
    assert docs[0]["category"] == "ingest" and docs[0]["evidence"]["requests"] == 35
    assert "35 request(s)" in docs[0]["summary"]
    assert docs[1]["evidence"]["requests"] == 1 and "broken.jsonl" in docs[1]["summary"]
    with Store(data) as store:
        assert verify_store(store).ok
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            store.execute("DELETE FROM ingest_errors")


def test_a_store_bound_before_tool_owners_still_verifies_and_registry_owners_route_drift(
    data: Path,
) -> None:
    from govlib.alerts import signals
    from govlib.evidence.bindings import (
        canonical_row_sql,
        governed,
        row_digests,
        store_row_digests,
    )
    from govlib.governance.registry import ToolRegistry

    with sqlite3.connect(data / "govlib.sqlite") as con:  # the store as schema 12 left it
        con.execute("ALTER TABLE tool_registry DROP COLUMN owner")
        con.execute("UPDATE schema_version SET version = 12 WHERE version >= 13")
        cols = [r[1] for r in con.execute("PRAGMA table_info(tool_registry)")]
        old = row_digests(con.execute(canonical_row_sql(governed("tool_registry"), cols)))
        bound: dict[str, str] = {}
        for (detail,) in con.execute(
            "SELECT detail FROM worm_log WHERE action LIKE 'tool_%' ORDER BY seq"
        ):
            bound |= {b["key"]: b["sha256"] for b in json.loads(detail).get("bound", [])}
    # the rows were bound as a schema-12 store binds them (no owner in the canonical text)
    assert old and {d.key: d.sha256 for d in old} == bound
    with Store(data) as store:  # migrated to 13 on opening for writing
        assert store.query_one("SELECT MAX(version) FROM schema_version") == 13
        assert verify_store(store).ok
        before = store_row_digests(store, governed("tool_registry"))
        reg = ToolRegistry(store)
        spec = reg.register("ocr_scan", "Read a scanned claim form", owner="claims-team")
        assert spec.owner == "claims-team" and reg.get("ocr_scan") == spec
        assert verify_store(store).ok
        after = {d.key: d.sha256 for d in store_row_digests(store, governed("tool_registry"))}
        assert all(after[d.key] == d.sha256 for d in before)  # owner-less rows: digests unchanged
        _settings(data, alert_tool_owners={"ocr_scan": "old-team", "fraud_check": "fraud-team"})
        watcher = Watcher(store)
        assert watcher._owners(store) == {"ocr_scan": "claims-team", "fraud_check": "fraud-team"}
        watcher.close()
        assert signals.registry_owners(store) == {"ocr_scan": "claims-team"}
        with sqlite3.connect(data / "govlib.sqlite") as con:  # an owner changed behind govlib
            con.execute("UPDATE tool_registry SET owner = 'x' WHERE name = 'ocr_scan'")
        problems = verify_store(store)
        assert not problems.ok
