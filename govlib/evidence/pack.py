"""The evidence pack: one zip an auditor can take away and check without the server.

Members (at the root of the zip):

- ``checkpoints.jsonl``: the signed checkpoint file (a copy, taken first);
- ``checkpoint_pubkey.pem``: the pinned Ed25519 public key that verifies it;
- ``verify.json``: :func:`govlib.evidence.verify.verify_store` run against *those two copies*, so
  the result states exactly what the pack's own files prove (file names in it are pack members);
- ``report.html``: the self-contained evidence report, written by the ``report`` callable
  (``govlib.report.contents.write_report``; the evidence layer sits below the report layer and
  never imports it, so the caller hands the writer in);
- ``manifest.json``: when and from where, the chain head, row counts, the public key fingerprint,
  where each copied file came from, what was missing, and the SHA-256 of every other member.

A store that does not verify still gives a pack (``ok`` is False and ``verify.json`` says why): the
evidence of a broken chain is evidence too. Nothing is written into the data dir; the zip appears
at ``out`` in one step (never half-written) and an existing file is never replaced.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
import zipfile
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from govlib import __version__
from govlib.clock import utc_now_iso
from govlib.errors import GovlibError
from govlib.evidence.archive import ARCHIVE_DIRNAME, segments
from govlib.evidence.archive import MANIFEST_FILE as SEGMENT_MANIFEST
from govlib.evidence.checkpoints import CHECKPOINT_FILE, default_export_path
from govlib.evidence.keys import PUBKEY_FILE, fingerprint, load_public_key
from govlib.evidence.verify import Problem, VerifyError, VerifyResult, verify_store
from govlib.store.database import Store

__all__ = [
    "MANIFEST_FILE",
    "REPORT_FILE",
    "VERIFY_FILE",
    "PackError",
    "PackResult",
    "ReportWriter",
    "evidence_pack",
]

MANIFEST_FILE = "manifest.json"
VERIFY_FILE = "verify.json"
REPORT_FILE = "report.html"
#: Identifies the layout of ``manifest.json`` (bumped when a field changes meaning).
PACK_FORMAT = "govlib-evidence-pack/1"


class PackError(GovlibError):
    """The pack cannot be written (``out`` exists, its folder is missing, a named file is missing)."""


class ReportWriter(Protocol):
    """Writes the HTML evidence report of ``store`` to ``out`` (``write_report`` has this shape)."""

    def __call__(self, store: Store, *, period: str, out: Path) -> Any: ...


@dataclass(frozen=True)
class PackResult:
    """What :func:`evidence_pack` wrote: the zip, the verification in it, each member's SHA-256."""

    path: Path
    verify: VerifyResult
    files: Mapping[str, str]
    manifest: Mapping[str, Any] = field(repr=False)

    @property
    def ok(self) -> bool:
        """True when the store verified against the pack's checkpoint file and key."""
        return self.verify.ok

    def describe(self) -> str:
        """The lines the CLI prints: where the pack is, what it holds, the verification result."""
        lines = [f"Evidence pack written: {self.path} ({len(self.files) + 1} files)"]
        lines.append(f"  {MANIFEST_FILE}  (the SHA-256 of every other file)")
        lines += [f"  {name}  sha256 {digest[:16]}…" for name, digest in self.files.items()]
        lines += [f"  missing: {name} ({why})" for name, why in self.manifest["missing"].items()]
        lines.append(self.verify.describe())
        if not self.ok:
            lines.append(
                "The store does NOT verify: the pack records why (verify.json); investigate "
                "before handing it over as clean evidence."
            )
        return "\n".join(lines)


def _check_out(out: Path) -> Path:
    if out.exists() or out.is_symlink():
        raise PackError(f"out: {out}: already exists; choose a new file name (never overwritten)")
    if not out.parent.is_dir():
        raise PackError(f"out: {out}: folder {out.parent} not found; create it first")
    return out


def _sources(
    store: Store, checkpoints: str | os.PathLike[str] | None, pubkey: str | os.PathLike[str] | None
) -> tuple[dict[str, Path], dict[str, str]]:
    """The checkpoint file and public key to copy (as ``verify`` finds them), and what is missing."""
    found: dict[str, Path] = {}
    missing: dict[str, str] = {}
    for name, given in ((CHECKPOINT_FILE, checkpoints), (PUBKEY_FILE, pubkey)):
        if given is not None and not Path(given).is_file():
            raise PackError(f"{given}: file not found; expected the {name} to put in the pack")
    cp = Path(checkpoints) if checkpoints is not None else default_export_path(store)
    if cp is not None and cp.is_file() and cp.stat().st_size > 0:
        found[CHECKPOINT_FILE] = cp
    else:
        missing[CHECKPOINT_FILE] = "no checkpoint file (no checkpoint signed yet?)"
    candidates = [Path(pubkey)] if pubkey is not None else []
    if cp is not None:
        candidates.append(cp.parent / PUBKEY_FILE)
    if store.data_dir is not None:
        candidates.append(store.data_dir / PUBKEY_FILE)
    key = next((c for c in candidates if c.is_file()), None)
    if key is not None:
        found[PUBKEY_FILE] = key
    else:
        missing[PUBKEY_FILE] = "no public key file beside the checkpoints or in the data dir"
    return found, missing


def _unlabelled(result: VerifyResult, folder: Path) -> VerifyResult:
    """The result with the scratch folder's path taken out: file names read as pack members."""
    prefix = f"{folder}{os.sep}"

    def clean(text: str) -> str:
        return text.replace(prefix, "")

    return dataclasses.replace(
        result,
        summary=clean(result.summary),
        reason=clean(result.reason) if result.reason else result.reason,
        problems=tuple(Problem(p.seq, clean(p.reason)) for p in result.problems),
        notes=tuple(clean(n) for n in result.notes),
    )


def _archive_members(store: Store, folder: Path, *, with_archives: bool) -> dict[str, bytes]:
    """The sealed segments' signed manifests (always) and, with ``with_archives``, their files
    and a consistent snapshot of the store (SQLite's backup API, one read transaction)."""
    members: dict[str, bytes] = {}
    if store.data_dir is None:
        return members
    base = store.data_dir / ARCHIVE_DIRNAME
    for seg in segments(store.conn):
        seg_dir = base / seg.name
        names = [SEGMENT_MANIFEST] + (
            sorted(p.name for p in seg_dir.glob("*.parquet")) if with_archives else []
        )
        for name in names:
            if (seg_dir / name).is_file():
                members[f"{ARCHIVE_DIRNAME}/{seg.name}/{name}"] = (seg_dir / name).read_bytes()
    if with_archives and store.path is not None:
        snapshot = folder / "snapshot.sqlite"
        with closing(sqlite3.connect(snapshot)) as target:
            store.conn.backup(target)
        members[f"store/{store.path.name}"] = snapshot.read_bytes()
    return members


def _verify(
    store: Store, folder: Path, found: Mapping[str, Path], *, archives: bool = False
) -> VerifyResult:
    copies = {name: folder / name for name in found}
    try:
        result = verify_store(
            store,
            checkpoints=copies.get(CHECKPOINT_FILE),
            pubkey=copies.get(PUBKEY_FILE),
            archives=archives,
        )
    except VerifyError as exc:  # name the file the user gave, not the scratch copy
        message = str(exc)
        for name, source in found.items():
            message = message.replace(str(copies[name]), str(source))
        raise PackError(message) from None
    return _unlabelled(result, folder)


def _manifest(
    store: Store,
    result: VerifyResult,
    *,
    period: str,
    found: Mapping[str, Path],
    missing: Mapping[str, str],
    files: Mapping[str, str],
    folder: Path,
) -> dict[str, Any]:
    head = store.query("SELECT seq, mac, ts FROM worm_log ORDER BY seq DESC LIMIT 1")
    key = folder / PUBKEY_FILE
    return {
        "format": PACK_FORMAT,
        "created_at": utc_now_iso(),
        "govlib_version": __version__,
        "store": str(store.path.resolve()) if store.path is not None else "(in-memory store)",
        "verified": result.ok,
        "verify_summary": result.summary,
        "chain_head": dict(head[0]) if head else None,
        "public_key": fingerprint(load_public_key(key)) if key.is_file() else None,
        "row_counts": store.counts(),
        "report": {"file": REPORT_FILE, "period": period} if REPORT_FILE in files else None,
        "sources": {name: str(path.resolve()) for name, path in found.items()},
        "missing": dict(missing),
        "files": dict(files),
    }


def _write_zip(out: Path, members: Mapping[str, bytes], created_at: str) -> None:
    """All members into ``out`` in one step: a scratch file beside it, then a no-clobber link."""
    stamp = (*(int(x) for x in created_at[:19].replace("T", "-").replace(":", "-").split("-")),)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, data in members.items():
                info = zipfile.ZipInfo(name, date_time=stamp)  # type: ignore[arg-type]
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, data)
        try:
            os.link(tmp, out)  # fails when out appeared meanwhile: never replaced
        except FileExistsError:
            raise PackError(f"out: {out}: already exists; choose a new file name") from None
        except OSError:  # a filesystem without hard links
            if out.exists():
                raise PackError(f"out: {out}: already exists; choose a new file name") from None
            os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def evidence_pack(
    store: Store,
    out: str | os.PathLike[str],
    *,
    report: ReportWriter | None = None,
    period: str = "30d",
    checkpoints: str | os.PathLike[str] | None = None,
    pubkey: str | os.PathLike[str] | None = None,
    with_archives: bool = False,
) -> PackResult:
    """Write the evidence pack of ``store`` as one zip file at ``out``; returns what it holds.

    Parameters
    ----------
    store
        The store (only read; a read-only store is enough).
    out
        The zip to write: must not exist, its folder must.
    report
        Writes the HTML report (``govlib.report.contents.write_report``); None leaves
        ``report.html`` out (the manifest says so).
    period
        Period the report covers (``7d``, ``30d``...).
    checkpoints, pubkey
        As for ``govlib verify``: default ``DIR/checkpoints.jsonl`` (or
        ``$GOVLIB_CHECKPOINT_FILE``) and ``checkpoint_pubkey.pem`` beside it, else in DIR.
    with_archives
        Also pack every sealed segment's files (``archive/NAME/*.parquet``) and a consistent
        snapshot of the store (``store/govlib.sqlite``), and verify the segments
        (``verify --archives``). The signed manifests of the segments are always packed.

    Raises
    ------
    PackError
        ``out`` exists or its folder is missing, or a named file is missing or holds no checkpoint.

    Example:
        >>> import tempfile, zipfile
        >>> out = Path(tempfile.mkdtemp()) / "pack.zip"
        >>> result = evidence_pack(Store(memory=True), out)
        >>> result.ok, sorted(zipfile.ZipFile(out).namelist())
        (True, ['manifest.json', 'verify.json'])
    """
    target = _check_out(Path(out))
    found, missing = _sources(store, checkpoints, pubkey)
    with tempfile.TemporaryDirectory(prefix="govlib-pack-") as scratch:
        folder = Path(scratch)
        for name, source in found.items():  # copies first: verify reads exactly these bytes
            shutil.copyfile(source, folder / name)
        if report is not None:
            report(store, period=period, out=folder / REPORT_FILE)
        else:
            missing[REPORT_FILE] = "no report writer given"
        result = _verify(store, folder, found, archives=with_archives)
        members = {
            VERIFY_FILE: (json.dumps(dataclasses.asdict(result), indent=2) + "\n").encode(),
        }
        for name in (*found, REPORT_FILE):
            if (folder / name).is_file():
                members[name] = (folder / name).read_bytes()
        members.update(_archive_members(store, folder, with_archives=with_archives))
        members = dict(sorted(members.items()))
        files = {name: hashlib.sha256(data).hexdigest() for name, data in members.items()}
        manifest = _manifest(
            store, result, period=period, found=found, missing=missing, files=files, folder=folder
        )
    text = json.dumps(manifest, indent=2, default=str) + "\n"
    _write_zip(target, {MANIFEST_FILE: text.encode(), **members}, manifest["created_at"])
    return PackResult(path=target, verify=result, files=files, manifest=manifest)
