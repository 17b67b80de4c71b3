"""Key material: file modes, exposed files refused, rotation, GOVLIB_HMAC_KEY, concurrent creation."""

from __future__ import annotations

import json
import multiprocessing
import stat
from pathlib import Path

import pytest

from govlib.evidence import worm
from govlib.evidence.checkpoints import sign_checkpoint
from govlib.evidence.keys import (
    HMAC_KEYS_FILE,
    PUBKEY_FILE,
    SIGNING_KEY_FILE,
    KeyMaterialError,
    KeyRing,
    load_public_key,
)
from govlib.evidence.verify import verify_store
from govlib.store.database import Store

ENV_KEY = "ab" * 32


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch) -> None:
    monkeypatch.delenv("GOVLIB_HMAC_KEY", raising=False)
    monkeypatch.delenv("GOVLIB_HMAC_KEY_ID", raising=False)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_key_files_are_created_0600_in_a_0700_dir(tmp_path: Path) -> None:
    ring = KeyRing.load(tmp_path)
    assert mode(tmp_path / HMAC_KEYS_FILE) == 0o600
    assert mode(tmp_path / SIGNING_KEY_FILE) == 0o600
    assert mode(tmp_path / "keys") == 0o700
    assert (ring.current_id, len(ring.current_key)) == ("k1", 32)
    doc = json.loads((tmp_path / HMAC_KEYS_FILE).read_text())
    assert doc == {"current": "k1", "keys": {"k1": ring.current_key.hex()}}
    # the public key is exported beside the data, readable by anyone (it is public)
    assert load_public_key(tmp_path / PUBKEY_FILE) is not None
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == [
        "checkpoint_signing.pem",
        "hmac_keys.json",
    ]


def test_keys_are_stable_across_loads(tmp_path: Path) -> None:
    a, b = KeyRing.load(tmp_path), KeyRing.load(tmp_path)
    assert a.hmac_keys == b.hmac_keys and a.signing_key_id == b.signing_key_id


@pytest.mark.parametrize("file", [HMAC_KEYS_FILE, SIGNING_KEY_FILE])
@pytest.mark.parametrize("bad_mode", [0o644, 0o640, 0o604, 0o660])
def test_world_or_group_readable_key_file_is_refused(
    tmp_path: Path, file: str, bad_mode: int
) -> None:
    KeyRing.load(tmp_path)
    (tmp_path / file).chmod(bad_mode)
    with pytest.raises(KeyMaterialError) as err:
        KeyRing.load(tmp_path)
    assert str(err.value) == (
        f"{tmp_path / file}: key file is open to group/others (mode {bad_mode:o}); "
        f"expected mode 600 (run `chmod 600 {tmp_path / file}`)"
    )


def test_exposed_key_file_stops_the_store_loudly(tmp_path: Path) -> None:
    worm.append(Store(tmp_path), "note")
    (tmp_path / HMAC_KEYS_FILE).chmod(0o644)
    with pytest.raises(KeyMaterialError, match="chmod 600"):
        worm.append(Store(tmp_path), "note")
    with pytest.raises(KeyMaterialError, match="chmod 600"):
        verify_store(Store(tmp_path))


def test_unreadable_key_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir(mode=0o700)
    (tmp_path / HMAC_KEYS_FILE).write_text("{not json")
    (tmp_path / HMAC_KEYS_FILE).chmod(0o600)
    with pytest.raises(KeyMaterialError, match="unreadable key file"):
        KeyRing.load(tmp_path)


def test_rotation_keeps_old_ids_verifiable(tmp_path: Path) -> None:
    store = Store(tmp_path)
    first = worm.append(store, "before")
    assert store.keyring.rotate() == "k2"
    second = worm.append(store, "after")
    assert (first.key_id, second.key_id) == ("k1", "k2")
    reloaded = KeyRing.load(tmp_path)
    assert reloaded.current_id == "k2" and sorted(reloaded.hmac_keys) == ["k1", "k2"]
    assert mode(tmp_path / HMAC_KEYS_FILE) == 0o600
    sign_checkpoint(store)
    assert verify_store(Store(tmp_path)).ok


def test_rotation_from_a_stale_ring_keeps_the_other_processes_key(tmp_path: Path) -> None:
    a, b = KeyRing.load(tmp_path), KeyRing.load(tmp_path)
    assert a.rotate() == "k2"
    assert b.rotate() == "k3"  # b re-read the file under the lock: k2 is kept, not overwritten
    on_disk = KeyRing.load(tmp_path)
    assert on_disk.hmac_keys["k2"] == a.hmac_keys["k2"]
    assert on_disk.hmac_keys["k3"] == b.hmac_keys["k3"]
    assert on_disk.current_id == "k3"


def test_ephemeral_rotation_and_repr_without_key_material() -> None:
    ring = KeyRing.ephemeral()
    assert ring.rotate() == "k2" and sorted(ring.hmac_keys) == ["k1", "k2"]
    text = repr(ring)
    assert all(k.hex() not in text for k in ring.hmac_keys.values())
    assert "hmac_keys" not in text and "signing_key=" not in text


def test_env_key_is_used_and_needed_to_verify(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GOVLIB_HMAC_KEY", ENV_KEY)
    store = Store(tmp_path)
    e = worm.append(store, "note")
    assert e.key_id == "env" and store.keyring.current_key == bytes.fromhex(ENV_KEY)
    assert not (tmp_path / HMAC_KEYS_FILE).exists()  # the env key is never written to disk
    assert verify_store(Store(tmp_path)).ok
    monkeypatch.delenv("GOVLIB_HMAC_KEY")
    (tmp_path / "keys").mkdir(exist_ok=True, mode=0o700)
    KeyRing.load(tmp_path)  # a file key now exists, but not the env one
    r = verify_store(Store(tmp_path))
    assert (r.ok, r.bad_seq, r.reason) == (False, 1, "unknown key id 'env'")


def test_env_key_id_and_file_keys_together(tmp_path: Path, monkeypatch) -> None:
    store = Store(tmp_path)
    worm.append(store, "file key")
    monkeypatch.setenv("GOVLIB_HMAC_KEY", ENV_KEY)
    monkeypatch.setenv("GOVLIB_HMAC_KEY_ID", "vault-2026")
    store2 = Store(tmp_path)
    assert worm.append(store2, "env key").key_id == "vault-2026"
    assert verify_store(Store(tmp_path)).ok  # k1 from the file, vault-2026 from the env
    with pytest.raises(KeyMaterialError, match="GOVLIB_HMAC_KEY is set"):
        store2.keyring.rotate()


@pytest.mark.parametrize(
    "value,message",
    [
        ("zz" * 32, "GOVLIB_HMAC_KEY: not hex; expected 64+ hex characters"),
        ("ab" * 16, "GOVLIB_HMAC_KEY: 16 bytes; expected at least 32 bytes (64 hex)"),
    ],
)
def test_bad_env_key_is_refused_with_a_message(
    tmp_path: Path, monkeypatch, value: str, message: str
) -> None:
    monkeypatch.setenv("GOVLIB_HMAC_KEY", value)
    with pytest.raises(KeyMaterialError) as err:
        KeyRing.load(tmp_path)
    assert str(err.value) == message


def test_env_key_id_reusing_a_file_id_is_refused(tmp_path: Path, monkeypatch) -> None:
    KeyRing.load(tmp_path)
    monkeypatch.setenv("GOVLIB_HMAC_KEY", ENV_KEY)
    monkeypatch.setenv("GOVLIB_HMAC_KEY_ID", "k1")
    with pytest.raises(KeyMaterialError, match="'k1' names a different key"):
        KeyRing.load(tmp_path)


def test_load_without_create_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(KeyMaterialError, match="no HMAC key"):
        KeyRing.load(tmp_path, create=False)
    assert list(tmp_path.iterdir()) == []


def test_public_key_pin_is_never_silently_replaced(tmp_path: Path) -> None:
    KeyRing.load(tmp_path)
    pinned = (tmp_path / PUBKEY_FILE).read_bytes()
    other = KeyRing.ephemeral()
    with pytest.raises(KeyMaterialError, match="holds a different checkpoint public key"):
        other.export_public_key(tmp_path / PUBKEY_FILE)
    assert (tmp_path / PUBKEY_FILE).read_bytes() == pinned
    # a swapped signing key does not re-pin on load either
    (tmp_path / SIGNING_KEY_FILE).unlink()
    KeyRing.load(tmp_path)
    assert (tmp_path / PUBKEY_FILE).read_bytes() == pinned
    other.export_public_key(tmp_path / PUBKEY_FILE, replace=True)
    assert (tmp_path / PUBKEY_FILE).read_bytes() != pinned


def test_load_public_key_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(KeyMaterialError, match="no public key file here"):
        load_public_key(tmp_path / "missing.pem")
    (tmp_path / "bad.pem").write_text("hello")
    with pytest.raises(KeyMaterialError, match="cannot read a public key"):
        load_public_key(tmp_path / "bad.pem")


def _load_key(path: str) -> tuple[str, str]:
    ring = KeyRing.load(path)
    return ring.current_key.hex(), ring.signing_key_id


def test_concurrent_first_use_creates_exactly_one_key(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        results = pool.map(_load_key, [str(tmp_path)] * 8)
    assert len(set(results)) == 1
    assert _load_key(str(tmp_path)) == results[0]
    assert [p.name for p in (tmp_path / "keys").iterdir() if ".tmp" in p.name] == []
