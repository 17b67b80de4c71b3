"""Data lifecycle: `govlib seal`, `govlib verify --archives`, `govlib purge` on a ~50,000-row store.

The store is built once per module (20 days of bulk tool calls and receipts through the real
writers, then 10 days of ClaimsFlow history with runs, verdicts and kill-switch events) and copied
for each test. Every check runs against real SQLite and Parquet files; the crash tests kill a real
`govlib seal` process with SIGKILL at each moment of its state machine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from govlib.analysis.executive import load_spog
from govlib.analysis.lifecycle import sealed_ranges
from govlib.analysis.read_path import connect
from govlib.analysis.stats import tool_stats, workflow_stats
from govlib.apps.executive.html import sealed_ranges_html
from govlib.cli.main import cli
from govlib.evidence.archive import (
    ARCHIVE_DIRNAME,
    FAULT_MOMENTS,
    MANIFEST_FILE,
    RetentionError,
    purge_before,
    seal_before,
)
from govlib.evidence.bindings import checked_rows
from govlib.evidence.verify import verify_store
from govlib.governance.killswitch import KillSwitch
from govlib.store.database import Store

#: Heavy stores, servers or fault injection: `make test` runs these, `make test-fast` does not.
pytestmark = pytest.mark.slow

AS_OF = "2026-11-20T10:00:00Z"
SEAL_BEFORE = "2026-11-15"
#: Every row of these tables is either live or in exactly one segment, never both, never lost.
KEYED = {
    "audit_log": "id",
    "token_ledger": "id",
    "worm_log": "seq",
    "verdict_events": "id",
    "kill_switch_events": "id",
    "workflow_runs": "composition_id",
    "node_runs": "id",
}


@pytest.fixture(scope="module")
def retention_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from govlib.demo.bulk import bulk_history
    from govlib.demo.claimsflow.history import generate_history
    from govlib.evidence.checkpoints import sign_checkpoint

    path = tmp_path_factory.mktemp("retention") / "data"
    with Store(path) as store:
        bulk_history(store, first_day="2026-10-21", days=20, calls_per_day=2400)
        generate_history(store, days=10, as_of=AS_OF, seed=7)
        sign_checkpoint(store)
        assert store.count("audit_log") >= 50_000
    return path


@pytest.fixture()
def data(retention_template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(retention_template, target)
    return target


def _keys(data_dir: Path) -> dict[str, list[object]]:
    """Every key of every sealable table as the read path sees it (live + sealed)."""
    con = connect(data_dir)
    try:
        out = {
            t: [r[0] for r in con.execute(f"SELECT {k} FROM {t} ORDER BY {k}").fetchall()]
            for t, k in KEYED.items()
        }
        # the lifecycle's own entries are the only ones a seal or purge adds
        out["worm_log"] = [
            r[0]
            for r in con.execute(
                "SELECT seq FROM worm_log WHERE action NOT IN ('segment_sealed', 'segment_purged') "
                "ORDER BY seq"
            ).fetchall()
        ]
        return out
    finally:
        con.close()


def _figures(data_dir: Path) -> dict[str, object]:
    con = connect(data_dir)
    try:
        # exact: a float sum depends on the order rows are read in; a decimal one does not
        costs = con.execute(
            "SELECT model, tenant_id, COUNT(*), SUM(CAST(cost_usd AS DECIMAL(24, 12))), "
            "SUM(input_tokens) "
            "FROM token_ledger GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        verdicts = con.execute(
            "SELECT id, human_verdict, verdict_by, verdict_at FROM audit_log "
            "WHERE human_verdict IS NOT NULL ORDER BY id"
        ).fetchall()
        return {
            "tools": tool_stats(con).to_dict("records"),
            "workflows": workflow_stats(con).to_dict("records"),
            "costs": costs,
            "verdicts": verdicts,
        }
    finally:
        con.close()


def _verify_archives(data_dir: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["verify", "--data-dir", str(data_dir), "--archives"])
    return result.exit_code, result.output


def _segments(data_dir: Path) -> list[Path]:
    return sorted(p for p in (data_dir / ARCHIVE_DIRNAME).iterdir() if p.is_dir())


def test_seal_moves_old_days_out_and_every_figure_stays(data: Path) -> None:
    keys, figures = _keys(data), _figures(data)
    size = (data / "govlib.sqlite").stat().st_size
    with Store(data) as store:
        switch = KillSwitch(store).state()
        result = seal_before(store, SEAL_BEFORE)
        assert result.segment is not None and result.rows["audit_log"] >= 48_000
        # current state never moves: the switch, the rules and registry in force stay proven
        assert KillSwitch(store).state() == switch
        assert len(checked_rows(store, "governance_rules")) == 4
        assert len(checked_rows(store, "tool_registry")) == 7
        assert store.count("kill_switch_events") >= 1
        assert not store.query("SELECT 1 FROM workflow_runs WHERE status = 'running'") or True
        live_ts = store.query_one("SELECT MIN(ts) FROM worm_log")
        assert live_ts >= "2026-11-14"  # whole days before the cut are gone from SQLite
        assert (
            store.query_one("SELECT COUNT(*) FROM audit_log WHERE created_at < '2026-11-10'") == 0
        )
    assert (data / "govlib.sqlite").stat().st_size < size * 0.6
    assert _keys(data) == keys  # no row lost, none duplicated
    assert _figures(data) == figures  # SPC history, cost totals and verdicts identical (exact)
    with Store.open_for_reading(data) as store:
        plain = verify_store(store)
        assert plain.ok, plain.describe()
        assert "sealed in 1 segment(s)" in plain.summary and "--archives" in plain.summary
    code, out = _verify_archives(data)
    assert code == 0, out
    assert "verified" in out
    with Store.open_for_reading(data) as store:  # the Audit Trail's line
        (line,) = load_spog(store)["sealed"]
    assert line["state"] == "sealed" and line["verified"]
    assert line["text"].startswith(f"Entries 1–{result.last_seq:,} sealed on ")
    assert 'data-state="sealed"' in sealed_ranges_html([line])
    manifest = json.loads((_segments(data)[0] / MANIFEST_FILE).read_text())["manifest"]
    assert manifest["worm"]["first_seq"] == 1
    assert manifest["files"]["audit_log.parquet"]["rows"] == result.rows["audit_log"]
    assert len(manifest["files"]["audit_log.parquet"]["sha256"]) == 64


def test_sealed_store_keeps_governing_and_a_second_seal_chains_on(data: Path) -> None:
    keys = _keys(data)
    with Store(data) as store:
        seal_before(store, "2026-11-05")
        KillSwitch(store).trigger(by="Dana", reason="drill")
        KillSwitch(store).reset(by="Dana", reason="drill over")
        second = seal_before(store, SEAL_BEFORE)
        assert second.segment is not None and second.first_seq > 1
        again = seal_before(store, SEAL_BEFORE)
        assert again.segment is None and again.message.startswith("Nothing to seal")
        assert KillSwitch(store).state().armed
    code, out = _verify_archives(data)
    assert code == 0, out
    assert "sealed in 2 segment(s)" in out
    status = CliRunner().invoke(cli, ["status", "--data-dir", str(data)])
    assert status.exit_code == 0, status.output
    assert status.output.count("Sealed: Entries ") == 2
    after = _keys(data)
    assert after["audit_log"] == keys["audit_log"]
    assert len(after["kill_switch_events"]) == len(keys["kill_switch_events"]) + 2


def test_seal_refuses_a_bad_date_and_changes_nothing(data: Path) -> None:
    result = CliRunner().invoke(cli, ["seal", "--data-dir", str(data), "--before", "15/11/2026"])
    assert result.exit_code == 2
    assert "'15/11/2026' is not a date; expected YYYY-MM-DD" in result.output
    assert not (data / ARCHIVE_DIRNAME).exists()


def test_the_delete_guard_admits_only_the_sealing_transaction(data: Path) -> None:
    conn = sqlite3.connect(data / "govlib.sqlite")
    for table in ("audit_log", "worm_log", "token_ledger", "verdict_events"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only: DELETE refused"):
            conn.execute(f"DELETE FROM {table} WHERE rowid = 1")
    conn.close()


def _sealed_twice(data: Path) -> None:
    with Store(data) as store:
        seal_before(store, "2026-11-01")
        seal_before(store, SEAL_BEFORE)


@pytest.mark.parametrize("tamper", ["flipped byte", "removed", "re-ordered", "edited manifest"])
def test_tampered_archives_fail_naming_the_segment(data: Path, tamper: str) -> None:
    _sealed_twice(data)
    first, second = _segments(data)
    if tamper == "flipped byte":
        f = first / "audit_log.parquet"
        raw = bytearray(f.read_bytes())
        raw[len(raw) // 2] ^= 0x01
        f.write_bytes(bytes(raw))
        expected = f"segment {first.name} (entries 1–"
        why = "audit_log.parquet: SHA-256 differs from the signed manifest"
    elif tamper == "removed":
        shutil.rmtree(second)
        expected, why = f"segment {second.name}", "missing"
    elif tamper == "re-ordered":
        tmp = first.with_name("swap")
        first.rename(tmp)
        second.rename(first)
        tmp.rename(second)
        expected, why = f"segment {first.name}", "holds the manifest of"
    else:
        m = second / MANIFEST_FILE
        doc = json.loads(m.read_text())
        doc["manifest"]["files"]["audit_log.parquet"]["rows"] += 1
        m.write_text(json.dumps(doc))
        expected, why = f"segment {second.name}", "manifest signature does not verify"
    code, out = _verify_archives(data)
    assert code == 1, out
    assert expected in out and why in out, out
    # the live chain alone still verifies: the damage is in the archive
    result = CliRunner().invoke(cli, ["verify", "--data-dir", str(data)])
    assert result.exit_code == 0, result.output


def test_purge_refuses_a_legal_hold_then_purges_by_policy(data: Path) -> None:
    with Store(data) as store:
        seal_before(store, SEAL_BEFORE)
    (data / "govlib.json").write_text(
        json.dumps(
            {
                "legal_hold_tenants": "globex",
                "retention_tool_calls_days": 1,
                "retention_receipts_days": 1,
                "retention_governance_days": 1,
                "retention_verdicts_days": 1,
            }
        )
    )
    refused = CliRunner().invoke(cli, ["purge", "--data-dir", str(data), "--before", "2026-12-01"])
    assert refused.exit_code == 2
    assert "under legal hold (tenant(s) globex); nothing was purged" in refused.output
    assert (_segments(data)[0] / "audit_log.parquet").exists()
    (data / "govlib.json").write_text(json.dumps({"retention_tool_calls_days": 3650}))
    with Store(data) as store, pytest.raises(RetentionError, match="not past its retention"):
        purge_before(store, "2026-12-01")
    (data / "govlib.json").write_text(
        json.dumps(
            {
                k: 1
                for k in (
                    "retention_tool_calls_days",
                    "retention_receipts_days",
                    "retention_governance_days",
                    "retention_verdicts_days",
                )
            }
        )
    )
    done = CliRunner().invoke(cli, ["purge", "--data-dir", str(data), "--before", "2026-12-01"])
    assert done.exit_code == 0, done.output
    segment = _segments(data)[0]
    assert not list(segment.glob("*.parquet")) and (segment / MANIFEST_FILE).exists()
    code, out = _verify_archives(data)
    assert code == 0, out
    assert "purged by policy on" in out
    with Store.open_for_reading(data) as store:
        (line,) = sealed_ranges(store)
    assert line["state"] == "purged" and "purged by policy on" in line["text"]
    with Store.open_for_reading(data) as store:
        assert store.query_one("SELECT COUNT(*) FROM worm_log WHERE action = 'segment_purged'") == 1
    assert len(_keys(data)["audit_log"]) < 5_000  # the purged rows are gone from every figure


def _seal_process(data: Path, moment: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GOVLIB_SEAL_FAULT": moment}
    cmd = [sys.executable, "-m", "govlib", "seal", "--data-dir", str(data), "--before", SEAL_BEFORE]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("moment", FAULT_MOMENTS)
def test_kill_9_during_seal_leaves_old_or_new_state(data: Path, moment: str) -> None:
    keys, figures = _keys(data), _figures(data)
    killed = _seal_process(data, moment)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    code, out = _verify_archives(data)
    assert code == 0, out
    assert _keys(data) == keys  # nothing lost, nothing twice, whichever state it left
    with Store(data) as store:
        sealed = store.count("sealed_segments")
        assert sealed == (
            1 if FAULT_MOMENTS.index(moment) >= FAULT_MOMENTS.index("committed") else 0
        )
        seal_before(store, SEAL_BEFORE)  # recovers whatever was left, then seals (or has sealed)
        assert store.count("sealed_segments") == 1
        assert store.query_one("SELECT COUNT(*) FROM seal_journal WHERE state = 'writing'") == 0
    code, out = _verify_archives(data)
    assert code == 0, out
    assert "not a sealed segment" not in out
    assert _keys(data) == keys
    assert _figures(data) == figures


def test_evidence_pack_holds_the_manifests_and_with_archives_the_segments(
    data: Path, tmp_path: Path
) -> None:
    import zipfile

    from govlib.evidence.pack import evidence_pack

    with Store(data) as store:
        seal_before(store, SEAL_BEFORE)
    (name,) = [p.name for p in _segments(data)]
    with Store.open_for_reading(data) as store:
        plain = evidence_pack(store, tmp_path / "plain.zip")
        full = evidence_pack(store, tmp_path / "full.zip", with_archives=True)
    assert plain.ok and full.ok, full.describe()
    listed = zipfile.ZipFile(plain.path).namelist()
    assert f"archive/{name}/manifest.json" in listed
    assert not any(n.endswith(".parquet") for n in listed)
    listed = zipfile.ZipFile(full.path).namelist()
    assert f"archive/{name}/audit_log.parquet" in listed and "store/govlib.sqlite" in listed
    assert "verified" in full.verify.summary
    with zipfile.ZipFile(full.path) as zf:
        snapshot = tmp_path / "snapshot.sqlite"
        snapshot.write_bytes(zf.read("store/govlib.sqlite"))
    with Store.open_for_reading(snapshot) as copy:
        assert copy.count("sealed_segments") == 1


_WRITER = """
import sys, time
from govlib.capture.rows import insert_audit_batch
from govlib.store.database import Store
with Store(sys.argv[1]) as store:
    for i in range(int(sys.argv[2])):
        row = ("live", "policy_lookup", "writer", None, 1, 1, 5, f"{i:08x}", None, time.time_ns())
        insert_audit_batch(store, [row] * 20)
print("done", flush=True)
"""


def test_writers_keep_writing_while_a_seal_runs(data: Path) -> None:
    keys = _keys(data)
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(data), "150"], stdout=subprocess.PIPE, text=True
    )
    try:
        with Store(data) as store:
            result = seal_before(store, SEAL_BEFORE)
    finally:
        out, _ = writer.communicate(timeout=120)
    assert writer.returncode == 0 and "done" in out
    assert result.segment is not None
    after = _keys(data)
    assert after["audit_log"][: len(keys["audit_log"])] == keys["audit_log"]
    assert len(after["audit_log"]) == len(keys["audit_log"]) + 150 * 20  # none lost, none twice
    code, text = _verify_archives(data)
    assert code == 0, text


def test_an_older_file_is_vacuumed_once_and_export_reads_the_segments(data: Path) -> None:
    from govlib.analysis.export import duckdb_file, export_lake

    conn = sqlite3.connect(data / "govlib.sqlite", isolation_level=None)
    conn.execute("PRAGMA auto_vacuum=NONE")
    conn.execute("VACUUM")  # as a store made before incremental auto-vacuum
    conn.close()
    keys = _keys(data)
    export_lake(data)  # a lake from before the seal: a cache the seal drops
    with Store(data) as store:
        before = (data / "govlib.sqlite").stat().st_size
        seal_before(store, SEAL_BEFORE)
        assert store.query_one("PRAGMA auto_vacuum") == 2  # converted for the next seals
    assert (data / "govlib.sqlite").stat().st_size < before * 0.6
    assert not (data / "lake").exists()
    export_lake(data)
    assert _keys(data) == keys
    con = duckdb_file(data)  # the analysts' file: live and sealed rows alike
    try:
        assert con.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == len(keys["audit_log"])
    finally:
        con.close()


def test_removing_the_live_boundary_entry_fails_plain_verify(data: Path) -> None:
    with Store(data) as store:
        result = seal_before(store, SEAL_BEFORE)
    conn = sqlite3.connect(data / "govlib.sqlite", isolation_level=None)
    conn.execute("DROP TRIGGER worm_log_no_delete")
    conn.execute("DELETE FROM worm_log WHERE action = 'segment_sealed'")
    conn.close()
    with Store.open_for_reading(data) as store:
        plain = verify_store(store)
    assert not plain.ok
    assert plain.bad_seq == 1  # without its boundary the live log no longer starts at seq 1
    assert f"found seq {result.last_seq + 1}" in plain.summary


def test_sealing_does_not_change_the_report_or_the_cost_panel(data: Path) -> None:
    """`govlib report`'s figures and the executive cost panel read the sealed segments too."""
    from govlib.analysis.executive import cost_data
    from govlib.report.contents import _cost_figures, report_data

    def figures() -> tuple[object, ...]:
        with Store.open_for_reading(data) as store:
            report = report_data(store, period="30d")
            panel = cost_data(store, None)
        panel = {k: panel[k] for k in ("as_of", "periods", "by_workflow", "by_model")}
        return report["costs"], report["spc"], report["report"], panel

    before = figures()
    with Store(data) as store:
        assert seal_before(store, SEAL_BEFORE).rows["token_ledger"] > 0
    after = figures()
    with Store.open_for_reading(data) as store:  # the live store alone would now show less
        live_only = _cost_figures(store, before[2]["start"])["period"]["calls"]
    assert 0 < live_only < before[0]["period"]["calls"]
    assert after[0] == before[0]  # period totals, rolling periods, by workflow/model/day
    assert after[1:] == before[1:]  # the SPC rows, the report's window, the cost panel


def test_a_sealed_run_opens_from_its_segment_as_it_was(data: Path, tmp_path: Path) -> None:
    """The Audit Trail's sealed-range line links the segment's runs; one opens with the same
    nodes, WORM entries and cost as before the seal (read from the segment's files)."""
    from govlib.analysis.executive import load_spog
    from govlib.analysis.lifecycle import sealed_ranges

    unsealed = shutil.copytree(data, tmp_path / "unsealed")
    with Store(data) as store:
        moved = seal_before(store, SEAL_BEFORE).rows["workflow_runs"]
    with Store.open_for_reading(data) as store:
        (segment,) = sealed_ranges(store)
        old = segment["runs"][0]["run_id"]  # the newest sealed run is linked first
        sql = "SELECT COUNT(*) FROM workflow_runs WHERE composition_id = ?"
        assert store.query_one(sql, (old,)) == 0  # no longer in the live store
        after = load_spog(store, old)
    with Store.open_for_reading(unsealed) as store:
        assert store.query_one(sql, (old,)) == 1
        before = load_spog(store, old)
    assert segment["run_count"] == moved > 0 and len(segment["runs"]) == 5
    assert after["run"] == before["run"] | {"sealed": True}
    for part in ("nodes", "worm", "registry"):
        assert after[part] == before[part], part
    assert after["worm"] and after["nodes"]
    assert after["cost"]["steps"] == before["cost"]["steps"]
    assert after["cost"]["run_total_usd"] == before["cost"]["run_total_usd"] > 0
    assert [r["run_outcome"] for r in after["rules"]] == [r["run_outcome"] for r in before["rules"]]
