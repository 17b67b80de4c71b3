"""Key material: HMAC keys for the WORM chain, the Ed25519 key that signs checkpoints.

Keys are never in the repo and never derived from a seed. On first use they are created under the
data dir (``DIR/keys/``, files mode 0600) or taken from ``GOVLIB_HMAC_KEY`` (hex). A key file that
group or others can read is refused. Rotation adds a key id; old ids stay for verification.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from govlib.errors import GovlibError

__all__ = ["KeyRing", "KeyMaterialError", "HMAC_KEYS_FILE", "SIGNING_KEY_FILE", "PUBKEY_FILE"]

HMAC_KEYS_FILE = "keys/hmac_keys.json"
SIGNING_KEY_FILE = "keys/checkpoint_signing.pem"
PUBKEY_FILE = "checkpoint_pubkey.pem"


class KeyMaterialError(GovlibError):
    """Key material is missing, unreadable or exposed."""


def _check_private(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyMaterialError(
            f"{path}: key file is readable by others (mode {mode:o}); run `chmod 600 {path}`"
        )


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """Short id of an Ed25519 public key (first 16 hex of SHA-256 of its raw bytes)."""
    import hashlib

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


@dataclass
class KeyRing:
    """HMAC keys by id (``current_id`` signs new entries) and the checkpoint signing key."""

    hmac_keys: dict[str, bytes]
    current_id: str
    signing_key: Ed25519PrivateKey | None = None
    path: Path | None = None
    _pub_path: Path | None = field(default=None, repr=False)

    @property
    def current_key(self) -> bytes:
        """The key that MACs new entries."""
        return self.hmac_keys[self.current_id]

    @property
    def signing_key_id(self) -> str:
        """Fingerprint of the checkpoint signing key."""
        return fingerprint(self.require_signing_key().public_key())

    def require_signing_key(self) -> Ed25519PrivateKey:
        """The Ed25519 key, or an error when this ring has none."""
        if self.signing_key is None:
            raise KeyMaterialError("no checkpoint signing key in this key ring")
        return self.signing_key

    @classmethod
    def ephemeral(cls) -> KeyRing:
        """Fresh random keys held in memory only (in-memory stores, tests)."""
        return cls({"k1": secrets.token_bytes(32)}, "k1", Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, data_dir: str | os.PathLike[str], *, create: bool = True) -> KeyRing:
        """Keys of a data dir, created with mode 0600 on first use.

        ``GOVLIB_HMAC_KEY`` (hex, >= 32 bytes) replaces the key file's current key, under the id
        ``GOVLIB_HMAC_KEY_ID`` (default ``env``).
        """
        base = Path(data_dir)
        path = base / HMAC_KEYS_FILE
        env_key = os.environ.get("GOVLIB_HMAC_KEY")
        keys: dict[str, bytes] = {}
        current = ""
        if path.exists():
            _check_private(path)
            try:
                doc = json.loads(path.read_text())
                keys = {k: bytes.fromhex(v) for k, v in doc["keys"].items()}
                current = doc["current"]
            except (ValueError, KeyError, TypeError) as exc:
                raise KeyMaterialError(
                    f"{path}: unreadable key file ({exc.__class__.__name__})"
                ) from None
        elif create and not env_key:
            keys, current = {"k1": secrets.token_bytes(32)}, "k1"
            _write_private(path, _dump(keys, current))
        if env_key:
            try:
                raw = bytes.fromhex(env_key.strip())
            except ValueError:
                raise KeyMaterialError(
                    "GOVLIB_HMAC_KEY: not hex; expected 64+ hex characters"
                ) from None
            if len(raw) < 32:
                raise KeyMaterialError(
                    "GOVLIB_HMAC_KEY: too short; expected at least 32 bytes (64 hex)"
                )
            current = os.environ.get("GOVLIB_HMAC_KEY_ID", "env")
            keys[current] = raw
        if not keys:
            raise KeyMaterialError(
                f"{path}: no HMAC key (run `govlib demo` or set GOVLIB_HMAC_KEY)"
            )
        signing = _load_signing_key(base, create=create)
        ring = cls(keys, current, signing, path)
        ring._pub_path = base / PUBKEY_FILE
        if signing is not None:
            ring.export_public_key(base / PUBKEY_FILE)
        return ring

    def rotate(self) -> str:
        """Add a new HMAC key and make it current; returns its id. Old keys stay for verify."""
        n = 1 + max((int(k[1:]) for k in self.hmac_keys if k[1:].isdigit()), default=0)
        new_id = f"k{n}"
        self.hmac_keys[new_id] = secrets.token_bytes(32)
        self.current_id = new_id
        if self.path is not None:
            _write_private(self.path, _dump(self.hmac_keys, new_id))
        return new_id

    def export_public_key(self, path: str | os.PathLike[str]) -> Path:
        """Write the checkpoint public key (PEM) to ``path`` (kept when already identical)."""
        pem = (
            self.require_signing_key()
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        p = Path(path)
        if not p.exists() or p.read_bytes() != pem:
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp = p.with_name(p.name + f".tmp{os.getpid()}")
            tmp.write_bytes(pem)
            os.replace(tmp, p)
        return p


def load_public_key(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file, with a clear error."""
    p = Path(path)
    try:
        key = serialization.load_pem_public_key(p.read_bytes())
    except (OSError, ValueError) as exc:
        raise KeyMaterialError(
            f"{p}: cannot read a public key ({exc.__class__.__name__})"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyMaterialError(f"{p}: not an Ed25519 public key")
    return key


def _dump(keys: dict[str, bytes], current: str) -> bytes:
    return json.dumps({"current": current, "keys": {k: v.hex() for k, v in keys.items()}}).encode()


def _load_signing_key(base: Path, *, create: bool) -> Ed25519PrivateKey | None:
    path = base / SIGNING_KEY_FILE
    if path.exists():
        _check_private(path)
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except ValueError as exc:
            raise KeyMaterialError(f"{path}: unreadable signing key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyMaterialError(f"{path}: not an Ed25519 private key")
        return key
    if not create:
        return None
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_private(path, pem)
    return key
