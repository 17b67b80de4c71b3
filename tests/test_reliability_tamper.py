"""Tampering that only an exported checkpoint file can catch, checked with the real ``govlib verify``.

``tests/test_verify_tamper.py`` covers the full in-store matrix through ``verify_store``. This file
adds the two attacks whose whole point is that the data dir is *consistent* afterwards, so only the
checkpoint file copied off the machine (``--checkpoints OFFSITE`` with its pinned public key beside
it, or ``$GOVLIB_CHECKPOINT_FILE``) tells them from the truth:

* **swapped keys**: someone with the data dir puts in keys of their own (HMAC key file, signing
  key, ``checkpoint_pubkey.pem``), rewrites an entry, re-MACs the chain and re-signs every
  checkpoint; or keeps the signing key and swaps only the HMAC key file. Local verify passes.
* **a store copied back from an older backup**, whole data dir included (its own checkpoint file),
  optionally written on afterwards (a forked history). Local verify passes.

Each is reported by ``govlib verify --checkpoints OFFSITE`` with exit 1 and the first seq.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from govlib.capture.emitter import Emitter
from govlib.costs.ledger import Ledger
from govlib.errors import GovernanceRefused
from govlib.evidence import worm
from govlib.evidence.chain import GENESIS_MAC, entry_body, entry_mac
from govlib.evidence.checkpoints import CHECKPOINT_FILE, Checkpoint, sign_checkpoint
from govlib.evidence.keys import (
    HMAC_KEYS_FILE,
    PUBKEY_FILE,
    SIGNING_KEY_FILE,
    KeyRing,
    public_key_pem,
)
from govlib.governance.governor import Governor, KillSwitch
from govlib.store.database import Store
from govlib.store.schema import triggers_sql

#: Fault-injection matrix: part of `make test`, left out of the `make test-fast` inner loop.
pytestmark = pytest.mark.slow

GOVLIB = [sys.executable, "-m", "govlib"]
DENY = {
    "id": "no_wire_transfers",
    "description": "Wire transfers are never made by the agent.",
    "scope": {"node": "payout"},
    "condition": {"field": "method", "op": "==", "value": "wire"},
    "action": "deny",
}


def _activity(store: Store, tag: str) -> None:
    gov = Governor(store, rules=[DENY])
    em = Emitter(store, synchronous=True, actor="claims-agent", tenant="acme")
    f = em.wrap(lambda i: {"ok": True, "i": i}, name="lookup")
    for i in range(6):
        f(i, composition_id=f"{tag}-run")
    Ledger(store).record(run_id=f"{tag}-run", node="payout", model="gpt-4.1", input_tokens=900,
                         output_tokens=120)  # fmt: skip
    with pytest.raises(GovernanceRefused):
        gov.evaluate("payout", {"method": "wire"}, run_id=f"{tag}-run")  # a denial on record
    KillSwitch(store).trigger("Dana Ortiz", f"drill {tag}")
    KillSwitch(store).reset("Dana Ortiz", f"drill {tag} over")
    sign_checkpoint(store)


@pytest.fixture()
def site(tmp_path: Path) -> dict[str, Path]:
    """DIR with two stretches of history, an older BACKUP of DIR taken between them, and the
    OFFSITE copy of the checkpoint file and public key taken at the end."""
    data, backup, offsite = tmp_path / "data", tmp_path / "backup", tmp_path / "offsite"
    with Store(data) as store:
        _activity(store, "monday")
    shutil.copytree(data, backup)  # closed cleanly: the sqlite file is complete
    with Store(data) as store:
        _activity(store, "tuesday")
    offsite.mkdir()
    shutil.copy(data / CHECKPOINT_FILE, offsite / CHECKPOINT_FILE)
    shutil.copy(data / PUBKEY_FILE, offsite / PUBKEY_FILE)
    return {"data": data, "backup": backup, "offsite": offsite}


def verify(data: Path, *extra: str | Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    p = subprocess.run(
        [*GOVLIB, "verify", "--data-dir", str(data), *map(str, extra)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
    assert "Traceback" not in p.stderr, p.stderr
    return p.returncode, (p.stdout + p.stderr).strip()


def offsite_file(site: dict[str, Path]) -> Path:
    return site["offsite"] / CHECKPOINT_FILE


def test_the_offsite_copy_verifies_an_untouched_store(site: dict[str, Path]) -> None:
    code, out = verify(site["data"], "--checkpoints", offsite_file(site))
    assert code == 0, out
    assert out.startswith("Chain verified: ") and ", last signed checkpoint at seq " in out


# --- a store copied back from an older backup ---------------------------------------------------------
def _restore(site: dict[str, Path]) -> None:
    shutil.rmtree(site["data"])
    shutil.copytree(site["backup"], site["data"])


def test_restored_backup_passes_locally_and_fails_against_the_offsite_file(site) -> None:  # noqa: ANN001
    _restore(site)
    code, out = verify(site["data"])
    assert code == 0, "the restored copy is self-consistent; only the offsite file can tell"
    code, out = verify(site["data"], "--checkpoints", offsite_file(site))
    print(f"\n[tamper] restored backup vs offsite file: exit {code}: {out}")
    assert code == 1
    assert out.startswith("Chain broken at seq ") and "log truncated: " in out
    assert str(offsite_file(site)) in out


def test_restored_backup_written_on_afterwards_is_caught(site) -> None:  # noqa: ANN001
    _restore(site)
    with Store(site["data"]) as store:  # history forks: new entries where the old ones were
        for i in range(40):
            worm.append(store, "rule_evaluated", rule="late", outcome="pass", detail={"i": i})
        sign_checkpoint(store)
    assert verify(site["data"])[0] == 0
    code, out = verify(site["data"], "--checkpoints", offsite_file(site))
    print(f"\n[tamper] restored and written on vs offsite file: exit {code}: {out}")
    assert code == 1
    assert "the log was rewritten after it was signed" in out or "no row in worm_checkpoints" in out


def test_restored_backup_is_caught_through_the_environment_variable(site) -> None:  # noqa: ANN001
    _restore(site)
    code, out = verify(site["data"], env={"GOVLIB_CHECKPOINT_FILE": str(offsite_file(site))})
    assert code == 1 and "log truncated: " in out, out


# --- swapped keys ------------------------------------------------------------------------------------
def _write_private(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


def _rewrite(data: Path, *, new_signing_key: Ed25519PrivateKey | None) -> int:
    """What someone holding the data dir can do: swap in an HMAC key of their own, turn a denial
    into a pass, re-MAC the chain after it, re-sign every checkpoint (with their own signing key
    when given, else with the one in keys/), and rewrite the local checkpoint file to match.
    Returns the seq that was altered."""
    ring = KeyRing.load(data, create=False)
    key_id, key = "k1", os.urandom(32)
    _write_private(data / HMAC_KEYS_FILE, json.dumps({"current": key_id,
                                                      "keys": {key_id: key.hex()}}).encode())  # fmt: skip
    signer = new_signing_key or ring.signing_key
    assert signer is not None
    conn = sqlite3.connect(data / "govlib.sqlite", isolation_level=None)
    try:
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
            conn.execute(f"DROP TRIGGER {name}")
        altered, prev = 0, GENESIS_MAC
        rows = conn.execute("SELECT seq, body FROM worm_log ORDER BY seq").fetchall()
        for seq, body in rows:
            doc = json.loads(body)
            if not altered and doc["action"] == "rule_evaluated" and doc["outcome"] == "deny":
                doc["outcome"], altered = "pass", seq
            fields = {k: doc[k] for k in ("ts", "run_id", "node", "action", "rule", "outcome")}
            new = entry_body(seq=seq, key_id=key_id, prev_mac=prev, detail=doc["detail"], **fields)
            mac = entry_mac(key, new)
            conn.execute(
                "UPDATE worm_log SET body = ?, prev_mac = ?, mac = ? WHERE seq = ?",
                (new, prev, mac, seq),
            )
            prev = mac
        lines = []
        cps = conn.execute("SELECT id, seq, log_size, created_at FROM worm_checkpoints").fetchall()
        for cid, seq, size, at in cps:
            (mac,) = conn.execute("SELECT mac FROM worm_log WHERE seq = ?", (seq,)).fetchone()
            cp = Checkpoint.signed(signer, log_size=size, head_seq=seq, head_mac=mac, time=at)
            conn.execute(
                "UPDATE worm_checkpoints SET head_mac = ?, key_id = ?, body = ?, signature = ? "
                "WHERE id = ?",
                (mac, cp.key_id, cp.body, cp.signature, cid),
            )
            lines.append(cp.line() + "\n")
        conn.executescript(triggers_sql())
    finally:
        conn.close()
    (data / CHECKPOINT_FILE).write_text("".join(lines))
    if new_signing_key is not None:
        pem = new_signing_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write_private(data / SIGNING_KEY_FILE, pem)
        (data / PUBKEY_FILE).write_bytes(public_key_pem(new_signing_key.public_key()))
    assert altered, "the history has no denial to hide"
    return altered


def test_all_keys_swapped_and_history_rewritten(site) -> None:  # noqa: ANN001
    altered = _rewrite(site["data"], new_signing_key=Ed25519PrivateKey.generate())
    code, out = verify(site["data"])
    assert code == 0, f"a consistent forgery with the keys on the machine verifies locally: {out}"
    code, out = verify(site["data"], "--checkpoints", offsite_file(site))
    print(
        f"\n[tamper] all keys swapped (seq {altered} altered) vs offsite file: exit {code}: {out}"
    )
    assert code == 1
    assert "forged or altered checkpoint" in out and "pinned is ed25519:" in out
    pinned = site["offsite"] / PUBKEY_FILE
    code, out = verify(site["data"], "--pubkey", pinned)  # the pinned key alone catches it too
    assert code == 1 and "forged or altered checkpoint" in out, out


def test_hmac_key_file_swapped_and_chain_re_macced(site) -> None:  # noqa: ANN001
    """An insider who keeps the real signing key: every signature is valid, the local checkpoint
    file matches, yet the offsite lines name head MACs the rewritten log no longer has."""
    altered = _rewrite(site["data"], new_signing_key=None)
    code, out = verify(site["data"])
    assert code == 0, out
    code, out = verify(site["data"], "--checkpoints", offsite_file(site))
    print(
        f"\n[tamper] HMAC key swapped (seq {altered} altered) vs offsite file: exit {code}: {out}"
    )
    assert code == 1
    assert "the log was rewritten after it was signed" in out or "no row in worm_checkpoints" in out
    with Store(site["data"], readonly=True) as store:
        first_cp = store.query_one(
            "SELECT MIN(seq) FROM worm_checkpoints WHERE seq >= ?", (altered,)
        )
    assert out.startswith(f"Chain broken at seq {first_cp}"), out
