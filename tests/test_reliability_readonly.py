"""Read-only evidence: a store an auditor received on read-only media, or on a full disk, is read.

SQLite needs ``-wal``/``-shm`` files beside a WAL store even to read it; where it cannot create
them, :meth:`Store.open_for_reading` falls back to ``immutable=1`` and says so
(``store.access``, ``store.access_note``), never "unreadable or corrupt".

How read-only media is simulated (as root, permission bits stop nothing):

- a read-only bind mount in a private mount namespace: ``unshare -m`` then
  ``mount --bind D D && mount -o remount,bind,ro D``; the checks run in a child process inside it;
- where that is not possible, the copy's folder is made immutable (``chattr +i``), which stops
  root from creating files in it too;
- a full disk: a 1 MiB ``tmpfs`` (in the same kind of namespace) filled to the last block.

Also: a 0444 copy in a 0555 folder (what a non-root auditor gets) opens and verifies.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from govlib.evidence import worm
from govlib.evidence.verify import verify_store
from govlib.store.database import (
    ACCESS_IMMUTABLE,
    ACCESS_READ_ONLY,
    STORE_FILENAME,
    Store,
    StoreError,
)


def _can(cmd: str) -> bool:
    try:
        p = subprocess.run(["sh", "-c", cmd], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return p.returncode == 0


_PROBE = Path(__file__).parent  # any folder: bound onto itself, read-only, in a private namespace
UNSHARE = shutil.which("unshare") is not None and _can(
    f"unshare -m sh -c 'mount --bind {_PROBE} {_PROBE} && mount -o remount,bind,ro {_PROBE} "
    f"&& ! touch {_PROBE}/.ro-probe'"
)
TMPFS = UNSHARE and _can("unshare -m sh -c 'mount -t tmpfs -o size=1m tmpfs /mnt'")


def _chattr_works(tmp: Path) -> bool:
    folder = tmp / "chattr-probe"
    folder.mkdir()
    if shutil.which("chattr") is None or not _can(f"chattr +i '{folder}'"):
        return False
    try:
        (folder / "x").write_text("x")
    except OSError:
        return True
    finally:
        _can(f"chattr -i '{folder}'")
    return False


def _digest(folder: Path) -> dict[str, str]:
    return {
        f.name: hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(folder.iterdir())
        if f.is_file()
    }


@pytest.fixture()
def copy(claimsflow_template: Path, tmp_path: Path) -> Path:
    """A closed store's folder, as an auditor gets it (no -wal, no -shm)."""
    target = tmp_path / "evidence"
    shutil.copytree(claimsflow_template, target)
    assert not (target / f"{STORE_FILENAME}-wal").exists()
    return target


# --- what runs inside the read-only namespace -----------------------------------------------------
CHILD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from govlib.cli.status import format_status, store_status
    from govlib.evidence.verify import verify_store
    from govlib.report.contents import report_data
    from govlib.store.database import Store, StoreError

    data, out = Path(sys.argv[1]), {}
    with Store.open_for_reading(data) as store:
        out["access"], out["reason"], out["note"] = (
            store.access, store.access_reason, store.access_note)
        result = verify_store(store)
        out["verified"], out["summary"] = result.ok, result.describe().splitlines()[0]
        out["report_runs"] = len(json.dumps(report_data(store, period="30d"), default=str))
    info = store_status(data)
    out["status_error"], out["status_text"] = info.get("error"), format_status(info)
    try:
        Store(data, create=False)
        out["writer"] = "opened"
    except StoreError as exc:
        out["writer"] = str(exc)
    print(json.dumps(out))
    """
)


def _run_child(shell: str, data: Path) -> dict:
    """``shell`` prepares the media, then the child script runs on ``data`` inside it."""
    p = subprocess.run(
        ["unshare", "-m", "sh", "-c", f'{shell} && exec "$0" "$@"', sys.executable, "-c", CHILD]
        + [str(data)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def _assert_read_without_writing(out: dict, before: dict, data: Path, reason: str) -> None:
    assert out["access"] == ACCESS_IMMUTABLE, out
    assert out["reason"] == reason, out
    assert out["verified"] is True and out["summary"].startswith("Chain verified: "), out
    assert out["report_runs"] > 0
    assert out["status_error"] is None, out
    assert "Note: " in out["status_text"] and "corrupt" not in out["status_text"]
    assert "corrupt" not in out["writer"] and reason in out["writer"], out["writer"]
    assert _digest(data) == before, "reading the copy changed its folder"


@pytest.mark.slow
@pytest.mark.skipif(not UNSHARE, reason="needs root, unshare -m and bind mounts")
def test_a_copy_on_a_read_only_mount_is_verified_without_writing(copy: Path) -> None:
    before = _digest(copy)
    out = _run_child(f"mount --bind '{copy}' '{copy}' && mount -o remount,bind,ro '{copy}'", copy)
    _assert_read_without_writing(out, before, copy, "read-only file system")
    assert out["note"].startswith("read-only copy (read-only file system)")
    assert "must not be a live store" in out["note"]
    print(f"\n[read-only mount] {out['summary']}; note: {out['note']}")
    print(f"[read-only mount] a writer gets: {out['writer'][:160]}")


def test_a_copy_in_an_immutable_folder_is_verified_without_writing(
    copy: Path, tmp_path: Path
) -> None:
    if not _chattr_works(tmp_path):
        pytest.skip("chattr +i is not supported here")
    before = _digest(copy)
    subprocess.run(["chattr", "+i", str(copy)], check=True)
    try:
        with Store.open_for_reading(copy) as store:
            assert store.access == ACCESS_IMMUTABLE
            assert store.access_reason == "no write permission on its folder"
            assert verify_store(store).ok
        with pytest.raises(StoreError, match="no write permission") as err:
            Store(copy, create=False)
        assert "corrupt" not in str(err.value)
    finally:
        subprocess.run(["chattr", "-i", str(copy)], check=True)
    assert _digest(copy) == before


def test_a_0444_copy_in_a_0555_folder_opens_and_verifies(copy: Path) -> None:
    before = _digest(copy)
    for f in copy.iterdir():
        if f.is_file():
            f.chmod(0o444)
    copy.chmod(0o555)
    try:
        with Store.open_for_reading(copy) as store:
            # root may still create -shm (read-only); anyone else gets the immutable fallback
            assert store.access in (ACCESS_READ_ONLY, ACCESS_IMMUTABLE)
            assert verify_store(store).ok
    finally:
        copy.chmod(0o755)
    assert _digest(copy) == before
    assert stat.S_IMODE((copy / STORE_FILENAME).stat().st_mode) == 0o444


@pytest.mark.skipif(not UNSHARE, reason="needs root, unshare -m and bind mounts")
def test_a_copy_with_an_unread_wal_is_refused_not_misread(copy: Path) -> None:
    """Immutable reads skip the -wal: a copy whose -wal holds commits is refused, clearly."""
    with Store(copy) as store:  # a -wal with committed frames, as a live copy would have
        store.execute("PRAGMA wal_autocheckpoint=0")
        worm.append(store, "note", outcome="ok")
        shutil.copy(copy / f"{STORE_FILENAME}-wal", copy.parent / "saved-wal")
    shutil.copy(copy.parent / "saved-wal", copy / f"{STORE_FILENAME}-wal")
    assert not (copy / f"{STORE_FILENAME}-shm").exists()
    script = (
        "import sys\nfrom govlib.store.database import Store, StoreError\n"
        "try:\n    Store.open_for_reading(sys.argv[1])\nexcept StoreError as e:\n    print(e)\n"
    )
    shell = f"mount --bind '{copy}' '{copy}' && mount -o remount,bind,ro '{copy}'"
    p = subprocess.run(
        ["unshare", "-m", "sh", "-c", f'{shell} && exec "$0" "$@"', sys.executable, "-c", script]
        + [str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "-wal" in p.stdout and "copy the folder to writable storage" in p.stdout, p
    assert "corrupt" not in p.stdout


@pytest.mark.slow
@pytest.mark.skipif(not TMPFS, reason="needs root, unshare -m and tmpfs")
def test_a_closed_store_on_a_full_disk_is_read_not_called_corrupt(
    claimsflow_template: Path, tmp_path: Path
) -> None:
    mnt = tmp_path / "full"
    mnt.mkdir()
    data = mnt / "data"
    shell = (
        f"mount -t tmpfs -o size=1m tmpfs '{mnt}' && mkdir '{data}' && "
        f"cp -a '{claimsflow_template}/.' '{data}/' && "
        f"(dd if=/dev/zero of='{mnt}/fill' bs=4k 2>/dev/null; true) && "
        f"test \"$(stat -f -c %a '{mnt}')\" = 0"
    )
    size = sum(f.stat().st_size for f in claimsflow_template.rglob("*") if f.is_file())
    if size > 900_000:
        pytest.skip(f"the template ({size:,} bytes) does not fit a 1 MiB tmpfs")
    p = subprocess.run(
        ["unshare", "-m", "sh", "-c", f'{shell} && exec "$0" "$@"', sys.executable, "-c", CHILD]
        + [str(data)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["access"] == ACCESS_IMMUTABLE and out["reason"] == "the disk is full", out
    assert out["verified"] is True, out
    assert out["status_error"] is None and "the disk is full" in out["status_text"], out
    assert "corrupt" not in out["writer"] and "the disk is full" in out["writer"], out["writer"]
    print(f"\n[full disk] note: {out['note']}")
