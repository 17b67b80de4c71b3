"""The checkpoint mirror: each signed checkpoint also goes to a second place as it is made.

Truncating the log's tail or rolling the whole store back leaves a consistent, shorter history
that only checkpoints kept somewhere else can expose. The ``checkpoint_mirror`` setting names
that place, so the defence does not depend on someone remembering to copy a file:

- a path (a file, or a folder that gets ``checkpoints.jsonl``), on another disk or mount: every
  committed checkpoint line missing from it is appended (``flock`` + fsync), the public key beside;
- an ``https://`` URL (``http://`` only for loopback): each new line is POSTed as JSON
  ``{"line": ..., "pubkey": ...}``; a GET of the same URL must answer the lines received (JSONL).

Mirroring never stops a governed step: a mirror that cannot be reached is reported (logged, and
counted in ``DIR/checkpoint-mirror.json``) and caught up by the next checkpoint.
``govlib verify --mirror`` verifies against what the mirror holds.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from govlib.errors import GovlibError
from govlib.evidence.keys import PUBKEY_FILE
from govlib.settings import load_settings
from govlib.store.database import Store

__all__ = [
    "MirrorError",
    "fetch_mirror",
    "is_url",
    "mirror_file",
    "mirror_target",
    "post_lines",
    "record_failure",
    "sent_id",
]

log = logging.getLogger("govlib.evidence.mirror")
STATE_FILE = "checkpoint-mirror.json"
TIMEOUT_S = 10.0
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class MirrorError(GovlibError):
    """The mirror is misconfigured or cannot be read; the message names it."""


def mirror_target(store: Store) -> str | None:
    """The ``checkpoint_mirror`` setting of the store's data dir (None: no mirror).

    Example:
        >>> mirror_target(Store(memory=True)) is None
        True
    """
    if store.data_dir is None:
        return None
    value = str(load_settings(store.data_dir).checkpoint_mirror or "").strip()
    return value or None


def is_url(target: str) -> bool:
    """Whether the mirror is an HTTP(S) endpoint rather than a path."""
    return target.startswith(("http://", "https://"))


def _checked_url(target: str) -> str:
    parts = urlsplit(target)
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        raise MirrorError(
            f"checkpoint_mirror: {target!r}; expected https:// (http:// only for loopback)"
        )
    return target


def mirror_file(target: str) -> Path:
    """The checkpoint file of a path mirror (a folder gets ``checkpoints.jsonl``).

    Example:
        >>> mirror_file("/mnt/offsite/").name
        'checkpoints.jsonl'
    """
    path = Path(target)
    return path / "checkpoints.jsonl" if path.is_dir() or target.endswith("/") else path


def _state(store: Store) -> dict[str, int]:
    try:
        return dict(json.loads((store.data_dir / STATE_FILE).read_text()))  # type: ignore[operator]
    except (OSError, ValueError, TypeError):
        return {}


def _save_state(store: Store, state: dict[str, int]) -> None:
    path = store.data_dir / STATE_FILE  # type: ignore[operator]
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(state, sort_keys=True))
    os.replace(tmp, path)


def _post(url: str, payload: dict[str, str]) -> None:
    body = json.dumps(payload).encode("utf-8")
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:  # noqa: S310 - checked
        if not 200 <= answer.status < 300:
            raise OSError(f"HTTP {answer.status}")


def post_lines(store: Store, url: str, lines: list[tuple[int, str]], pubkey_pem: str) -> int:
    """POST each checkpoint line not yet sent (``(id, line)`` pairs); returns how many.

    What was acknowledged is kept in ``DIR/checkpoint-mirror.json``, so a line is sent once.
    """
    url = _checked_url(url)
    state = _state(store)
    sent = 0
    for row_id, line in lines:
        if row_id <= int(state.get("sent_id", 0)):
            continue
        _post(url, {"line": line, "pubkey": pubkey_pem})
        state["sent_id"] = row_id
        _save_state(store, state)
        sent += 1
    return sent


def sent_id(store: Store) -> int:
    """The id of the last checkpoint row a URL mirror acknowledged (0: none)."""
    return int(_state(store).get("sent_id", 0))


def record_failure(store: Store, target: str, exc: BaseException) -> None:
    """Count and log a mirror that could not be reached (the next checkpoint retries)."""
    log.warning("checkpoint mirror %s: not reached (%s); the next checkpoint retries", target, exc)
    if store.data_dir is None:
        return
    state = _state(store)
    state["failures"] = int(state.get("failures", 0)) + 1
    try:
        _save_state(store, state)
    except OSError:
        pass


def fetch_mirror(target: str, workdir: Path) -> tuple[Path, Path | None]:
    """The mirror's checkpoint file (and public key, when it has one) as local files.

    A path mirror is read in place; a URL mirror is fetched (GET) into ``workdir``.
    """
    if not is_url(target):
        file = mirror_file(target)
        if not file.is_file():
            raise MirrorError(f"{file}: the checkpoint mirror holds no checkpoint file")
        pub = file.parent / PUBKEY_FILE
        return file, pub if pub.is_file() else None
    url = _checked_url(target)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as answer:  # noqa: S310 - checked
            text = answer.read()
    except (OSError, urllib.error.URLError) as exc:
        raise MirrorError(f"{target}: cannot read the checkpoint mirror ({exc})") from None
    file = Path(tempfile.mkstemp(prefix="mirror-", suffix=".jsonl", dir=workdir)[1])
    file.write_bytes(text)
    return file, None
