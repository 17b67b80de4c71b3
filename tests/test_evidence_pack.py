"""The evidence pack: one zip with the manifest, verify.json, the key, the checkpoints and the report.

The demo store is packed once through the CLI (``govlib evidence-pack``) and every content check
reads that zip; the store is only read, so the session's template itself is packed.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from govlib.cli.main import cli
from govlib.evidence.chain import canonical_json
from govlib.evidence.pack import PackError, evidence_pack
from govlib.evidence.verify import verify_store
from govlib.report.contents import read_report_data
from govlib.store.database import Store

MEMBERS = {
    "manifest.json",
    "verify.json",
    "checkpoints.jsonl",
    "checkpoint_pubkey.pem",
    "report.html",
}


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and mtime (to prove nothing was written)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }


def _pack(data_dir: Path, out: Path, *extra: str) -> Any:
    return CliRunner().invoke(
        cli, ["evidence-pack", "--data-dir", str(data_dir), "--out", str(out), *extra]
    )


def _read(zip_path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(zip_path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


@pytest.fixture(scope="module")
def packed(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``govlib evidence-pack`` over the session's demo store (read only), and what it left."""
    out = tmp_path_factory.mktemp("pack") / "evidence.zip"
    before = _listing(demo_template)
    result = _pack(demo_template, out, "--period", "30d")
    return {
        "out": out,
        "result": result,
        "before": before,
        "after": _listing(demo_template),
        "members": _read(out) if out.exists() else {},
    }


def _tamper(data_dir: Path) -> int:
    """Edit the newest rule evaluation in place (triggers dropped); returns its seq."""
    db = sqlite3.connect(data_dir / "govlib.sqlite")
    try:
        seq = db.execute(
            "SELECT MAX(seq) FROM worm_log WHERE action = 'rule_evaluated'"
        ).fetchone()[0]
        body = json.loads(
            db.execute("SELECT body FROM worm_log WHERE seq = ?", (seq,)).fetchone()[0]
        )
        body["outcome"] = "edited"
        db.execute("DROP TRIGGER IF EXISTS worm_log_no_update")
        db.execute("UPDATE worm_log SET body = ? WHERE seq = ?", (canonical_json(body), seq))
        db.commit()
    finally:
        db.close()
    return int(seq)


# --- the pack of a good store ----------------------------------------------------------------------
def test_the_cli_writes_one_zip_and_exits_0(packed: dict[str, Any]) -> None:
    result = packed["result"]
    assert result.exit_code == 0, result.output
    assert f"Evidence pack written: {packed['out']} (5 files)" in result.output
    assert "Chain verified" in result.output
    assert set(packed["members"]) == MEMBERS
    assert [p.name for p in packed["out"].parent.iterdir()] == ["evidence.zip"]  # no scratch left


def test_the_manifest_hashes_every_other_member(packed: dict[str, Any]) -> None:
    members = packed["members"]
    manifest = json.loads(members["manifest.json"])
    assert set(manifest["files"]) == MEMBERS - {"manifest.json"}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256(members[name]).hexdigest() == digest, name
    assert manifest["verified"] is True and manifest["missing"] == {}
    assert manifest["report"] == {"file": "report.html", "period": "30d"}
    assert manifest["chain_head"]["seq"] == manifest["row_counts"]["worm_log"]
    assert manifest["public_key"].startswith("ed25519:")


def test_verify_json_says_ok_on_the_demo_store(packed: dict[str, Any]) -> None:
    verified = json.loads(packed["members"]["verify.json"])
    assert verified["ok"] is True and verified["problems"] == []
    assert verified["checkpoints_checked"] > 0
    assert "govlib-pack-" not in packed["members"]["verify.json"].decode()  # no scratch paths


def test_the_report_in_the_pack_is_intact(packed: dict[str, Any]) -> None:
    html = packed["members"]["report.html"].decode()
    _, stated, recomputed = read_report_data(html)
    assert stated == recomputed


def test_packing_writes_nothing_into_the_data_dir(packed: dict[str, Any]) -> None:
    assert packed["after"] == packed["before"]


def test_an_auditor_verifies_the_store_with_the_packs_own_files(
    packed: dict[str, Any], demo_template: Path, tmp_path: Path
) -> None:
    with zipfile.ZipFile(packed["out"]) as zf:
        zf.extractall(tmp_path)
    with Store(demo_template, readonly=True) as store:
        again = verify_store(
            store,
            checkpoints=tmp_path / "checkpoints.jsonl",
            pubkey=tmp_path / "checkpoint_pubkey.pem",
        )
    assert again.ok, again.describe()


# --- a store that does not verify ------------------------------------------------------------------
def test_a_tampered_store_still_gets_its_pack_and_the_cli_exits_1(
    demo_dir: Path, tmp_path: Path
) -> None:
    seq = _tamper(demo_dir)
    out = tmp_path / "tampered.zip"
    result = _pack(demo_dir, out)
    assert result.exit_code == 1, result.output
    assert "does NOT verify" in result.output and f"seq {seq}" in result.output
    members = _read(out)
    verified = json.loads(members["verify.json"])
    assert verified["ok"] is False and verified["bad_seq"] == seq
    manifest = json.loads(members["manifest.json"])
    assert manifest["verified"] is False
    assert hashlib.sha256(members["verify.json"]).hexdigest() == manifest["files"]["verify.json"]


def test_the_library_call_reports_a_tampered_store(demo_dir: Path, tmp_path: Path) -> None:
    seq = _tamper(demo_dir)
    with Store(demo_dir, readonly=True) as store:
        result = evidence_pack(store, tmp_path / "p.zip")  # no report writer: report.html left out
    assert not result.ok and result.verify.bad_seq == seq
    assert set(_read(result.path)) == MEMBERS - {"report.html"}
    assert result.manifest["missing"] == {"report.html": "no report writer given"}


# --- refusals ---------------------------------------------------------------------------------------
def test_an_existing_out_is_refused_with_one_line_and_exit_2(
    demo_template: Path, tmp_path: Path
) -> None:
    out = tmp_path / "there.zip"
    out.write_bytes(b"keep me")
    result = _pack(demo_template, out)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"Error: out: {out}: already exists; choose a new file name (never overwritten)"
    ]
    assert out.read_bytes() == b"keep me"


def test_a_missing_folder_is_refused_with_one_line_and_exit_2(
    demo_template: Path, tmp_path: Path
) -> None:
    out = tmp_path / "nope" / "pack.zip"
    result = _pack(demo_template, out)
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1
    assert "folder" in result.output and "not found" in result.output
    assert not out.parent.exists()


def test_a_missing_checkpoint_file_or_store_exits_2(demo_template: Path, tmp_path: Path) -> None:
    missing = _pack(demo_template, tmp_path / "a.zip", "--checkpoints", str(tmp_path / "x.jsonl"))
    assert missing.exit_code == 2 and "checkpoint file not found" in missing.output
    empty = tmp_path / "empty"
    empty.mkdir()
    no_store = _pack(empty, tmp_path / "b.zip")
    assert no_store.exit_code == 2 and "no govlib store" in no_store.output
    assert not list(tmp_path.glob("*.zip"))


def test_the_library_refuses_an_existing_out(tmp_path: Path) -> None:
    out = tmp_path / "p.zip"
    out.touch()
    with pytest.raises(PackError, match="already exists"):
        evidence_pack(Store(memory=True), out)


def test_the_verb_is_listed_with_an_example() -> None:
    result = CliRunner().invoke(cli, ["evidence-pack", "--help"])
    assert result.exit_code == 0
    assert "--out" in result.output and "--data-dir" in result.output
    assert "govlib evidence-pack --out" in result.output
