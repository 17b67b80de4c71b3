"""Key material: HMAC keys for the WORM chain, the Ed25519 key that signs checkpoints.

Keys are never in the repo and never derived from a seed. On first use they are created under the
data dir (``DIR/keys/``, files mode 0600) or taken from ``GOVLIB_HMAC_KEY`` (hex). A key file that
group or others can read is refused. Rotation adds a key id; old ids stay for verification.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from govlib.errors import GovlibError
from govlib.store.database import Store
from govlib.store.datadir import fsync_dir

__all__ = [
    "KeyRing",
    "KeyMaterialError",
    "HMAC_KEYS_FILE",
    "SIGNING_KEY_FILE",
    "PSEUDONYM_KEY_FILE",
    "PUBKEY_FILE",
    "fingerprint",
    "public_key_pem",
    "load_public_key",
    "keyring_for",
    "write_private_file",
    "exclusive_lock",
]

HMAC_KEYS_FILE = "keys/hmac_keys.json"
SIGNING_KEY_FILE = "keys/checkpoint_signing.pem"
#: The key of person pseudonyms (HMAC-SHA256 of a name), a key of its own: it is not a chain key,
#: so rotating chain keys never changes a person's pseudonym.
PSEUDONYM_KEY_FILE = "keys/pseudonym_key"
PUBKEY_FILE = "checkpoint_pubkey.pem"


class KeyMaterialError(GovlibError):
    """Key material is missing, unreadable or exposed."""


def _check_private(path: Path) -> None:
    """Refuse a key file that group or others can read or write."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyMaterialError(
            f"{path}: key file is open to group/others (mode {mode:o}); expected mode 600 "
            f"(run `chmod 600 {path}`)"
        )


def write_private_file(path: Path, data: bytes, *, exclusive: bool = False) -> bool:
    """Write a 0600 file atomically; with ``exclusive`` only when none exists (False if one did).

    ``exclusive`` makes first-use creation safe when several processes start at once: exactly one
    key is created and every process then reads that one.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        if exclusive:
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
        else:
            os.replace(tmp, path)
            tmp = None  # type: ignore[assignment]
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return True


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (a lock file beside the key files)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    """The SubjectPublicKeyInfo PEM of an Ed25519 public key.

    Example:
        >>> public_key_pem(Ed25519PrivateKey.generate().public_key())[:26]
        b'-----BEGIN PUBLIC KEY-----'
    """
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """Short id of an Ed25519 public key (first 16 hex of SHA-256 of its raw bytes).

    Example:
        >>> fingerprint(Ed25519PrivateKey.generate().public_key())[:8]
        'ed25519:'
    """
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


@dataclass
class KeyRing:
    """HMAC keys by id (``current_id`` signs new entries) and the checkpoint signing key.

    Key material never appears in ``repr`` (tracebacks and logs show ids only).

    Example:
        >>> ring = KeyRing.ephemeral()
        >>> ring.current_id, "hmac_keys" in repr(ring)
        ('k1', False)
    """

    hmac_keys: dict[str, bytes] = field(repr=False)
    current_id: str
    signing_key: Ed25519PrivateKey | None = field(default=None, repr=False)
    path: Path | None = None
    _pub_path: Path | None = field(default=None, repr=False)
    _env_id: str | None = field(default=None, repr=False)
    _pseudonym_key: bytes | None = field(default=None, repr=False)

    @property
    def current_key(self) -> bytes:
        """The key that MACs new entries.

        Example:
            >>> len(KeyRing.ephemeral().current_key)
            32
        """
        return self.hmac_keys[self.current_id]

    def pseudonym_key(self, *, create: bool = True) -> bytes:
        """The key of person pseudonyms: ``DIR/keys/pseudonym_key`` (mode 0600), made on first use.

        Example:
            >>> ring = KeyRing.ephemeral()
            >>> len(ring.pseudonym_key()), ring.pseudonym_key() == ring.pseudonym_key()
            (32, True)
        """
        if self._pseudonym_key is None:
            if self.path is None:
                self._pseudonym_key = secrets.token_bytes(32)
            else:
                self._pseudonym_key = _load_pseudonym_key(self.path.parent.parent, create=create)
        return self._pseudonym_key

    @property
    def signing_key_id(self) -> str:
        """Fingerprint of the checkpoint signing key.

        Example:
            >>> KeyRing.ephemeral().signing_key_id.startswith("ed25519:")
            True
        """
        return fingerprint(self.require_signing_key().public_key())

    def require_signing_key(self) -> Ed25519PrivateKey:
        """The Ed25519 key, or an error when this ring has none.

        Example:
            >>> KeyRing.ephemeral().require_signing_key() is not None
            True
        """
        if self.signing_key is None:
            raise KeyMaterialError("no checkpoint signing key in this key ring")
        return self.signing_key

    @classmethod
    def ephemeral(cls) -> KeyRing:
        """Fresh random keys held in memory only (in-memory stores, tests).

        Example:
            >>> sorted(KeyRing.ephemeral().hmac_keys)
            ['k1']
        """
        return cls({"k1": secrets.token_bytes(32)}, "k1", Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, data_dir: str | os.PathLike[str], *, create: bool = True) -> KeyRing:
        """Keys of a data dir, created with mode 0600 on first use.

        ``GOVLIB_HMAC_KEY`` (hex, >= 32 bytes) replaces the key file's current key, under the id
        ``GOVLIB_HMAC_KEY_ID`` (default ``env``). With ``create=False`` nothing is written.

        Example:
            >>> import tempfile
            >>> KeyRing.load(tempfile.mkdtemp()).current_id
            'k1'
        """
        base = Path(data_dir)
        path = base / HMAC_KEYS_FILE
        env_key = os.environ.get("GOVLIB_HMAC_KEY")
        keys: dict[str, bytes] = {}
        current = ""
        if not path.exists() and create and not env_key:
            fresh = {"k1": secrets.token_bytes(32)}
            write_private_file(path, _dump(fresh, "k1"), exclusive=True)
        if path.exists():
            keys, current = _read_hmac_file(path)
        env_id = None
        if env_key:
            try:
                raw = bytes.fromhex(env_key.strip())
            except ValueError:
                raise KeyMaterialError(
                    "GOVLIB_HMAC_KEY: not hex; expected 64+ hex characters"
                ) from None
            if len(raw) < 32:
                raise KeyMaterialError(
                    f"GOVLIB_HMAC_KEY: {len(raw)} bytes; expected at least 32 bytes (64 hex)"
                )
            current = env_id = os.environ.get("GOVLIB_HMAC_KEY_ID", "env")
            if keys.get(current, raw) != raw:
                raise KeyMaterialError(
                    f"GOVLIB_HMAC_KEY_ID: {current!r} names a different key in {path}; "
                    "expected a key id that is not already used"
                )
            keys[current] = raw
        if not keys:
            raise KeyMaterialError(
                f"{path}: no HMAC key (run `govlib demo` or set GOVLIB_HMAC_KEY)"
            )
        signing = _load_signing_key(base, create=create)
        ring = cls(keys, current, signing, path, base / PUBKEY_FILE, env_id)
        if signing is not None and create and not (base / PUBKEY_FILE).exists():
            ring.export_public_key(base / PUBKEY_FILE)
        return ring

    def rotate(self) -> str:
        """Add a new HMAC key and make it current; returns its id. Old keys stay for verify.

        The key file is re-read under a lock first, so a rotation in another process is kept.

        Example:
            >>> ring = KeyRing.ephemeral()
            >>> ring.rotate(), sorted(ring.hmac_keys)
            ('k2', ['k1', 'k2'])
        """
        if self._env_id is not None:
            raise KeyMaterialError(
                f"GOVLIB_HMAC_KEY is set (key id {self._env_id!r}); rotate by setting a new "
                "GOVLIB_HMAC_KEY and GOVLIB_HMAC_KEY_ID, and keep the old key for verification"
            )
        if self.path is None:
            return self._add_key()
        with exclusive_lock(self.path.with_name(".lock")):
            if self.path.exists():
                on_disk, _ = _read_hmac_file(self.path)
                for key_id, key in on_disk.items():
                    if key_id in self.hmac_keys and self.hmac_keys[key_id] != key:
                        raise KeyMaterialError(
                            f"{self.path}: key id {key_id!r} differs from the one in memory; "
                            "expected key ids never to be reused"
                        )
                    self.hmac_keys[key_id] = key
            new_id = self._add_key()
            write_private_file(self.path, _dump(self.hmac_keys, new_id))
        return new_id

    def _add_key(self) -> str:
        n = 1 + max((int(k[1:]) for k in self.hmac_keys if k[1:].isdigit()), default=0)
        new_id = f"k{n}"
        self.hmac_keys[new_id] = secrets.token_bytes(32)
        self.current_id = new_id
        return new_id

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The checkpoint public key.

        Example:
            >>> KeyRing.ephemeral().public_key is not None
            True
        """
        return self.require_signing_key().public_key()

    def export_public_key(self, path: str | os.PathLike[str], *, replace: bool = False) -> Path:
        """Write the checkpoint public key (PEM) to ``path``.

        Kept when already identical; a *different* key already there is refused unless
        ``replace`` (the file is the pin ``govlib verify`` trusts, so it is never silently moved).

        Example:
            >>> import tempfile, pathlib
            >>> p = pathlib.Path(tempfile.mkdtemp()) / "pub.pem"
            >>> KeyRing.ephemeral().export_public_key(p).exists()
            True
        """
        pem = public_key_pem(self.public_key)
        p = Path(path)
        if p.exists():
            current = p.read_bytes()
            if current == pem:
                return p
            if not replace:
                raise KeyMaterialError(
                    f"{p}: holds a different checkpoint public key; expected "
                    f"{fingerprint(self.public_key)} (move the old file aside to re-pin)"
                )
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + f".tmp{os.getpid()}.{secrets.token_hex(4)}")
        tmp.write_bytes(pem)
        os.replace(tmp, p)
        return p


def keyring_for(store: Store) -> KeyRing:
    """The key ring of ``store``: loaded (or created) on first use, then kept on ``store.keyring``.

    A file store keeps its keys under its data dir (a read-only store creates none); an in-memory
    store gets ephemeral keys.

    Example:
        >>> store = Store(memory=True)
        >>> keyring_for(store) is keyring_for(store) is store.keyring
        True
    """
    if store.keyring is None:
        if store.data_dir is None:
            store.keyring = KeyRing.ephemeral()
        else:
            store.keyring = KeyRing.load(store.data_dir, create=not store.readonly)
    return store.keyring


def load_public_key(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file, with a clear error.

    Example:
        >>> import tempfile, pathlib
        >>> p = KeyRing.ephemeral().export_public_key(pathlib.Path(tempfile.mkdtemp()) / "k.pem")
        >>> isinstance(load_public_key(p), Ed25519PublicKey)
        True
    """
    p = Path(path)
    if not p.is_file():
        raise KeyMaterialError(f"{p}: no public key file here; expected an Ed25519 PEM file")
    try:
        key = serialization.load_pem_public_key(p.read_bytes())
    except (OSError, ValueError) as exc:
        raise KeyMaterialError(
            f"{p}: cannot read a public key ({exc.__class__.__name__})"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyMaterialError(f"{p}: not an Ed25519 public key")
    return key


def _load_pseudonym_key(base: Path, *, create: bool) -> bytes:
    path = base / PSEUDONYM_KEY_FILE
    if not path.exists():
        if not create:
            raise KeyMaterialError(f"{path}: no pseudonym key (a read-only store creates none)")
        write_private_file(path, secrets.token_bytes(32).hex().encode(), exclusive=True)
    _check_private(path)
    try:
        raw = bytes.fromhex(path.read_text().strip())
    except ValueError:
        raise KeyMaterialError(f"{path}: not hex; expected 64 hex characters") from None
    if len(raw) < 32:
        raise KeyMaterialError(f"{path}: {len(raw)} bytes; expected at least 32 bytes (64 hex)")
    return raw


def _read_hmac_file(path: Path) -> tuple[dict[str, bytes], str]:
    _check_private(path)
    try:
        doc = json.loads(path.read_text())
        keys = {str(k): bytes.fromhex(v) for k, v in doc["keys"].items()}
        current = str(doc["current"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise KeyMaterialError(f"{path}: unreadable key file ({exc.__class__.__name__})") from None
    if current not in keys:
        raise KeyMaterialError(f"{path}: current key id {current!r} is not among {sorted(keys)}")
    return keys, current


def _dump(keys: dict[str, bytes], current: str) -> bytes:
    return json.dumps({"current": current, "keys": {k: v.hex() for k, v in keys.items()}}).encode()


def _load_signing_key(base: Path, *, create: bool) -> Ed25519PrivateKey | None:
    path = base / SIGNING_KEY_FILE
    if not path.exists():
        if not create:
            return None
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_private_file(path, pem, exclusive=True)  # another process may have won: read theirs
    _check_private(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError as exc:
        raise KeyMaterialError(f"{path}: unreadable signing key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyMaterialError(f"{path}: not an Ed25519 private key")
    return key
