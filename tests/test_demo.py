"""``govlib demo``: the built store, its summary, the wipe rules and the progress line."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import pytest

from govlib.demo.builder import Progress, build_demo
from govlib.evidence.verify import verify_store
from govlib.governance.governor import KillSwitch
from govlib.store.database import Store
from govlib.store.datadir import DataDirError

DEMO_AS_OF = "2026-11-20T10:00:00Z"  # as in tests/conftest.py


def test_demo_store_ends_with_the_fraud_run_and_a_triggered_kill_switch(demo_dir: Path) -> None:
    with Store(demo_dir, create=False) as store:
        runs = store.query(
            "SELECT subject, status, stopped_at_node, summary, started_at FROM workflow_runs "
            "ORDER BY started_at DESC LIMIT 2"
        )
        fraud, clean = runs
        assert (fraud["subject"], fraud["status"], fraud["stopped_at_node"]) == (
            "CLM-1042", "blocked", "fraud_scoring",
        )  # fmt: skip
        assert (clean["subject"], clean["summary"]) == (
            "CLM-1043",
            "Claim CLM-1043 paid USD 4,200.00",
        )
        assert clean["started_at"] > DEMO_AS_OF.replace("Z", "")
        history = store.query_one(
            "SELECT COUNT(*) FROM workflow_runs WHERE started_at < ?", ("2026-11-20T10:00:00Z",)
        )
        assert history > 200
        state = KillSwitch(store).state()
        assert not state.armed and state.rule == "fraud_score_limit"
        result = verify_store(store)
        assert result.ok, result.summary
        assert result.last_checkpoint_seq == result.entries
    assert (demo_dir / "checkpoints.jsonl").exists()
    assert (demo_dir / "checkpoint_pubkey.pem").exists()


@pytest.mark.slow
def test_cli_verify_and_a_reset_then_clean_run_on_the_demo_store(demo_dir: Path) -> None:
    def govlib(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "govlib", *args, "--data-dir", str(demo_dir)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip

    verified = govlib("verify")
    assert verified.returncode == 0 and verified.stdout.startswith("Chain verified")
    refused = govlib("run", "clean")
    assert refused.returncode == 0 and "was refused at intake" in refused.stdout
    reset = govlib("killswitch", "reset", "--by", "Dana Ortiz", "--reason", "CLM-1042 reviewed")
    assert reset.returncode == 0, reset.stderr
    paid = govlib("run", "clean")
    assert paid.stdout.strip() == "Claim CLM-1045 paid USD 4,200.00"  # 1043 live, 1044 refused
    assert govlib("verify").returncode == 0


@pytest.mark.slow
@pytest.mark.usefixtures("no_service_wait")  # the live claims' simulated waits prove nothing here
def test_build_demo_summary_wipes_its_own_dir_and_refuses_a_foreign_one(tmp_path: Path) -> None:
    target = tmp_path / "data"
    err = io.StringIO()
    out = build_demo(target, history_days=1, as_of="2026-11-20", seed=3, stream=err)
    lines = out["lines"]
    assert lines[0] == f"govlib demo: data dir {target}"
    assert lines[1].startswith("History: 1 day to 2026-11-20 00:00 UTC (seed 3): ")
    assert lines[2] == "Live clean: Claim CLM-1043 paid USD 4,200.00"
    assert lines[3].startswith("Live fraud: Claim CLM-1042 was blocked at fraud scoring")
    totals = next(line for line in lines if line.startswith("Totals"))  # says what it counts
    assert totals.startswith(f"Totals in the whole store: {out['runs']:,} runs, ")
    assert totals.endswith(
        "(the executive page's Cost Ledger counts the 30 days to the newest receipt)"
    )
    assert any(line.startswith("Kill-switch TRIGGERED") for line in lines)
    assert any(line.startswith("Chain verified") for line in lines)
    assert any(line.startswith("Lake: ") for line in lines)
    assert lines[-1].startswith("Done in ") and "history" in lines[-1]
    assert out["verified"].ok and out["runs"] == out["history"].runs + 2
    assert out["cost_usd"] > 0 and out["calls"] > 0
    again = build_demo(target, history_days=0, as_of="2026-11-20", live=False, stream=err)
    assert again["runs"] == 0 and again["calls"] == 0
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(DataDirError, match="not made by govlib"):
        build_demo(foreign, history_days=0, live=False, stream=err)
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_progress_line_appears_only_for_slow_phases() -> None:
    quick = io.StringIO()
    with Progress("Quick", stream=quick, delay_s=5.0) as bar:
        bar.update(1, 2)
    assert quick.getvalue() == ""
    slow = io.StringIO()
    with Progress("Slow", stream=slow, delay_s=0.0) as bar:
        bar.update(3, 4)
        time.sleep(0.05)
    text = slow.getvalue()
    assert "Slow [" in text and "3/4" in text and text.endswith(" s\n")
