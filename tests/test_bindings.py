"""Row bindings beyond the tamper suite: upgrading a store written before bindings existed,
the checkpoint mirror (path and HTTP), and settings recorded in the chain.

The upgrade tests build a store with the govlib of commit ``bd028cd`` (the last release that
wrote no bindings), taken from this repository's own history with ``git archive``.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path

import pytest
from click.testing import CliRunner

from govlib.capture.runs import finish_run, record_node, start_run
from govlib.cli.main import cli
from govlib.evidence import worm
from govlib.evidence.binder import proven_rows, upgrade_bindings
from govlib.evidence.bindings import GOVERNED, BindingError
from govlib.evidence.checkpoints import sign_checkpoint
from govlib.evidence.settings_log import record_settings, recorded_settings
from govlib.evidence.verify import verify_store
from govlib.governance import KillSwitch
from govlib.settings import Settings
from govlib.store import Store

ROOT = Path(__file__).resolve().parent.parent
OLD_RELEASE = "bd028cd"  # the last commit whose govlib wrote no row bindings
FORGED_RESET = (
    "INSERT INTO kill_switch_events(state, by, reason, at) "
    "VALUES ('reset', 'Dana Ortiz', 'fraud ring contained', '2026-11-20T11:00:00.000000Z')"
)

_OLD_BUILD = """
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
sys.path.insert(0, sys.argv[1])
import govlib
assert govlib.__file__.startswith(sys.argv[1]), govlib.__file__
from govlib.demo import build_demo
build_demo(sys.argv[2], history_days=2, as_of="2026-11-20T10:00:00Z", seed=7)
"""


def _old_govlib(target: Path) -> Path:
    """The govlib package of :data:`OLD_RELEASE`, unpacked from this repository's history."""
    try:
        blob = subprocess.run(
            ["git", "-C", str(ROOT), "archive", OLD_RELEASE, "govlib"],
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        if os.environ.get("CI", "").lower() == "true":
            raise AssertionError(f"cannot read {OLD_RELEASE} from git history: {exc}") from exc
        pytest.skip(f"no git history with {OLD_RELEASE} here ({exc})")
    with tarfile.open(fileobj=BytesIO(blob)) as tar:
        tar.extractall(target, filter="data")
    return target


@pytest.fixture(scope="module")
def old_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-day demo store written by the govlib of :data:`OLD_RELEASE` (no bindings)."""
    base = tmp_path_factory.mktemp("old-release")
    code = _old_govlib(base / "code")
    data = base / "data"
    done = subprocess.run(
        [sys.executable, "-c", _OLD_BUILD, str(code), str(data)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return data


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _sql(data: Path, sql: str) -> None:
    conn = sqlite3.connect(data / "govlib.sqlite")
    conn.execute(sql)
    conn.commit()
    conn.close()


@pytest.mark.slow
def test_an_older_store_verifies_with_a_note_until_it_is_written_to(old_store, tmp_path):
    data = _copy(old_store, tmp_path / "data")
    with Store(data, create=False, readonly=True) as store:
        result = verify_store(store)
    assert result.ok, result.describe()
    assert any("not yet bound" in n for n in result.notes)
    with Store(data, create=False) as store:  # opened for writing: schema v2, nothing bound yet
        report = upgrade_bindings(store)
        assert not report.unbound, report.unbound
        # an older store has no users (schema 9) nor evaluator verdicts (schema 12)
        governed = {t.name for t in GOVERNED} - {"users", "evaluator_verdicts"}
        assert set(report.bound) in (governed - {"verdict_events"}, governed)
        assert not upgrade_bindings(store).upgraded  # once
        for table in GOVERNED:
            proven_rows(store, table.name)
        result = verify_store(store)
    assert result.ok and not result.notes, result.describe()
    assert CliRunner().invoke(cli, ["run", "clean", "--data-dir", str(data)]).exit_code == 0
    assert CliRunner().invoke(cli, ["verify", "--data-dir", str(data)]).exit_code == 0


@pytest.mark.slow
def test_a_reset_forged_before_the_upgrade_is_never_blessed(old_store, tmp_path):
    data = _copy(old_store, tmp_path / "data")
    _sql(data, FORGED_RESET)
    with Store(data, create=False) as store:
        report = upgrade_bindings(store)
        assert report.unbound == {"kill_switch_events": [str(store.count("kill_switch_events"))]}
        with pytest.raises(BindingError, match=r"kill_switch_events row \d+: no WORM entry"):
            KillSwitch(store).state()
        result = verify_store(store)
    assert not result.ok and "kill_switch_events row" in result.summary
    run = CliRunner().invoke(cli, ["run", "clean", "--data-dir", str(data)])
    assert "refusing to decide on unproven state" in run.output, run.output


def test_runs_written_through_capture_are_bound_and_rolled_back_rows_are_named(tmp_path):
    with Store(tmp_path) as store:
        start_run(store, "r1", workflow_id="w", subject="CLM-1", at="2026-01-01T00:00:00Z")
        record_node(store, "r1", "intake", 0, "completed", at="2026-01-01T00:00:01Z")
        first = store.query_one("SELECT worm_seq FROM workflow_runs")
        old = dict(store.query("SELECT * FROM workflow_runs")[0])
        finish_run(store, "r1", "completed", summary="paid", at="2026-01-01T00:00:02Z")
        assert verify_store(store).ok
    cols = ", ".join(f"{k} = ?" for k in old)
    conn = sqlite3.connect(tmp_path / "govlib.sqlite")  # back to the older, once-proven version
    conn.execute(f"UPDATE workflow_runs SET {cols}", list(old.values()))
    conn.commit()
    conn.close()
    with Store(tmp_path, create=False, readonly=True) as store:
        result = verify_store(store)
    assert not result.ok
    assert "workflow_runs row r1: differs from what WORM entry" in result.summary
    assert "rolled back" in result.summary and first is not None


# --- the checkpoint mirror ------------------------------------------------------------------------
def _truncate_tail(data: Path, keep: int) -> None:
    conn = sqlite3.connect(data / "govlib.sqlite")
    conn.executescript("DROP TRIGGER worm_log_no_delete; DROP TRIGGER worm_checkpoints_no_delete;")
    conn.execute("DELETE FROM worm_log WHERE seq > ?", (keep,))
    conn.execute("DELETE FROM worm_checkpoints WHERE seq > ?", (keep,))
    conn.commit()
    conn.close()
    local = data / "checkpoints.jsonl"  # the attacker rewrites the local file too
    lines = [ln for ln in local.read_text().splitlines() if json.loads(ln)["head_seq"] <= keep]
    local.write_text("".join(ln + "\n" for ln in lines))


def _store_with_checkpoints(data: Path, n: int = 30) -> None:
    with Store(data) as store:
        for i in range(n):
            worm.append(store, "note", detail={"i": i})
            if i % 10 == 9:
                sign_checkpoint(store)


def test_a_path_mirror_catches_a_truncated_tail_that_local_files_hide(tmp_path, monkeypatch):
    mirror = tmp_path / "offsite"
    mirror.mkdir()
    monkeypatch.setenv("GOVLIB_CHECKPOINT_MIRROR", str(mirror) + "/")
    data = tmp_path / "data"
    _store_with_checkpoints(data)
    assert len((mirror / "checkpoints.jsonl").read_text().splitlines()) == 3
    assert (mirror / "checkpoint_pubkey.pem").is_file()
    _truncate_tail(data, keep=15)
    runner = CliRunner()
    local = runner.invoke(cli, ["verify", "--data-dir", str(data)])
    assert local.exit_code == 0, local.output  # consistent and shorter: locally invisible
    mirrored = runner.invoke(cli, ["verify", "--data-dir", str(data), "--mirror"])
    assert mirrored.exit_code == 1 and "log truncated" in mirrored.output, mirrored.output


class _Mirror(BaseHTTPRequestHandler):
    lines: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).lines.append(body["line"])
        self.send_response(204)
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        blob = "".join(ln + "\n" for ln in type(self).lines).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(blob)))
        self.end_headers()
        self.wfile.write(blob)

    def log_message(self, *args: object) -> None:
        pass


def test_an_http_mirror_receives_each_checkpoint_once_and_verifies(tmp_path, monkeypatch):
    _Mirror.lines = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Mirror)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/checkpoints"
        monkeypatch.setenv("GOVLIB_CHECKPOINT_MIRROR", url)
        data = tmp_path / "data"
        _store_with_checkpoints(data)
        assert len(_Mirror.lines) == 3
        with Store(data, create=False) as store:
            sign_checkpoint(store)  # head already signed: nothing new to send
        assert len(_Mirror.lines) == 3
        ok = CliRunner().invoke(cli, ["verify", "--data-dir", str(data), "--mirror"])
        assert ok.exit_code == 0, ok.output
        _truncate_tail(data, keep=15)
        bad = CliRunner().invoke(cli, ["verify", "--data-dir", str(data), "--mirror"])
        assert bad.exit_code == 1 and "log truncated" in bad.output, bad.output
    finally:
        server.shutdown()


def test_an_unreachable_mirror_never_stops_a_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("GOVLIB_CHECKPOINT_MIRROR", "http://127.0.0.1:9/nothing-listens")
    data = tmp_path / "data"
    _store_with_checkpoints(data, n=10)
    state = json.loads((data / "checkpoint-mirror.json").read_text())
    assert state["failures"] >= 1
    monkeypatch.setenv("GOVLIB_CHECKPOINT_MIRROR", "http://example.com/x")
    with Store(data, create=False) as store:
        worm.append(store, "note")
        assert sign_checkpoint(store) is not None  # refused mirror (plain http off loopback)
    assert json.loads((data / "checkpoint-mirror.json").read_text())["failures"] > state["failures"]


# --- settings in the chain ------------------------------------------------------------------------
def test_settings_are_recorded_when_they_change_and_pages_name_the_version():
    store = Store(memory=True)
    assert recorded_settings(store, Settings()).seq is None
    first = record_settings(store, Settings())
    assert first.recorded and recorded_settings(store, Settings()) == first.__class__(
        first.version, first.seq
    )
    again = record_settings(store, Settings())
    assert not again.recorded and again.seq == first.seq
    changed = record_settings(store, Settings(drift_p95_ratio_high=2.0))
    assert changed.recorded and changed.version != first.version
    [entry] = [e for e in worm.entries(store) if e["seq"] == changed.seq]
    assert entry["action"] == "settings_loaded"
    assert entry["detail"]["values"]["drift_p95_ratio_high"] == 2.0
    assert recorded_settings(store, Settings()).seq is None  # no longer the one in force
    assert verify_store(store).ok


def test_the_demo_records_its_settings_and_the_report_names_them(demo_template):
    from govlib.report import report_data

    with Store(demo_template, create=False, readonly=True) as store:
        version = recorded_settings(store, Settings()).describe()
        assert "recorded in WORM entry" in version
        assert report_data(store, period="7d")["settings_version"] == version


@pytest.mark.slow
def test_both_apps_turn_red_on_a_forged_reset(demo_dir):
    from govlib.analysis.executive import load_spog
    from govlib.apps.spc.dashboard import SpcApp

    _sql(demo_dir, FORGED_RESET)
    with Store(demo_dir, create=False, readonly=True) as store:
        chain = load_spog(store)["chain"]
    assert not chain["ok"] and "kill_switch_events row" in chain["summary"]
    banner = SpcApp(demo_dir).widget.children[3]
    assert "spc-untrusted" in banner._dom_classes and "cannot be trusted" in banner.value
