"""Where govlib keeps its data, and whether a folder is safe to use or wipe.

Resolution order: an explicit ``--data-dir``; ``GOVLIB_DATA_DIR``; the ``data/`` folder at the root
of the checkout that holds the running code (found from the package's own location, then from the
working directory and its parents, so the CLI, the repo root and a kernel in ``notebooks/`` agree);
else a per-user data dir.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from govlib.errors import GovlibError

__all__ = [
    "DataDirError",
    "MARKER",
    "STORE_ID_FILE",
    "NO_FOLDER",
    "NO_STORE",
    "resolve_data_dir",
    "checked_data_dir",
    "existing_store_dir",
    "new_store_dir",
    "checkout_root",
    "prepare_fresh",
    "mark_new_store",
    "read_store_id",
    "ensure_store_id",
    "fsync_dir",
]

MARKER = ".govlib-data-dir"
#: The random id of the store in a data dir govlib made (one line, 32 hex digits).
STORE_ID_FILE = "store_id"
#: What every verb says about a data dir that does not exist, or holds no store.
NO_FOLDER = "no such folder (run `govlib demo` or `govlib init` first)"
NO_STORE = "no govlib store here (run `govlib demo` or `govlib init` first)"
#: The store file in a data dir (the same name as ``govlib.store.database.STORE_FILENAME``).
_STORE_FILE = "govlib.sqlite"
#: Files a checkout's data/ ships with; they do not make the folder "someone else's".
_SHIPPED = {"README.md", ".gitkeep", MARKER}
#: Kept across `govlib demo` wipes: key material is never regenerated behind a user's back.
_KEPT_ON_WIPE = {"README.md", ".gitkeep", MARKER, "keys"}


class DataDirError(GovlibError):
    """The data dir is unusable; the message names the path and the problem."""


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (a file created or renamed in it) durable; best effort.

    Example:
        >>> import tempfile
        >>> fsync_dir(Path(tempfile.mkdtemp()))
    """
    try:
        dfd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def checkout_root(start: Path | None = None) -> Path | None:
    """The govlib checkout holding the running code (or ``start``'s parents), if any."""
    here = Path(__file__).resolve().parents[2]
    candidates = [here]
    cwd = (start or Path.cwd()).resolve()
    candidates += [cwd, *cwd.parents]
    for root in candidates:
        pyproject = root / "pyproject.toml"
        if pyproject.is_file() and (root / "govlib").is_dir():
            try:
                if 'name = "govlib"' in pyproject.read_text():
                    return root
            except OSError:
                continue
    return None


def _user_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "govlib"


def _shown(path: object) -> str:
    text = str(path)
    return text if len(text) <= 120 else f"{text[:60]}…({len(text)} characters)"


def _expand(raw: str | os.PathLike[str]) -> Path:
    try:
        return Path(raw).expanduser()
    except RuntimeError as exc:  # "~nosuchuser/..."
        raise DataDirError(f"{_shown(raw)}: cannot expand the home folder ({exc})") from None


def resolve_data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data dir to use (not created, not checked).

    Example:
        >>> resolve_data_dir("/tmp/x")
        PosixPath('/tmp/x')
    """
    if explicit:
        return _expand(explicit)
    env = os.environ.get("GOVLIB_DATA_DIR")
    if env:
        return _expand(env)
    root = checkout_root()
    if root is not None:
        return root / "data"
    return _user_data_dir()


def checked_data_dir(
    explicit: str | os.PathLike[str] | None = None, *, create: bool = True
) -> Path:
    """Resolve the data dir and make sure it is a writable folder (created when missing).

    Raises
    ------
    DataDirError
        The path is a file, cannot be created, or is not writable.
    """
    path = resolve_data_dir(explicit)
    try:
        return _checked(path, create=create)
    except (OSError, ValueError) as exc:  # name too long, NUL byte, permission...
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise DataDirError(f"{_shown(path)}: not a usable data dir ({reason})") from None


def _checked(path: Path, *, create: bool) -> Path:
    if path.exists() and not path.is_dir():
        raise DataDirError(f"{_shown(path)}: is a file, not a folder; expected a data dir")
    if not path.exists():
        if not create:
            raise DataDirError(f"{path}: {NO_FOLDER}")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataDirError(f"{path}: cannot create the data dir ({exc.strerror})") from None
    if not create:
        return path
    # A real write probe: os.access() says yes to root even on a read-only mount.
    probe = path / f".govlib-write-probe-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise DataDirError(f"{path}: the data dir is not writable ({exc.strerror})") from None
    return path


def existing_store_dir(
    explicit: str | os.PathLike[str] | None = None, *, writable: bool = False
) -> Path:
    """The data dir of an existing store; nothing is created (every verb but demo/init uses it).

    Raises
    ------
    DataDirError
        The folder does not exist (:data:`NO_FOLDER`), is a file, holds no store
        (:data:`NO_STORE`), or (with ``writable``) cannot be written.

    Example:
        >>> import tempfile
        >>> try:
        ...     existing_store_dir(Path(tempfile.mkdtemp()) / "typo")
        ... except DataDirError as exc:
        ...     print(str(exc).split(": ", 1)[1])
        no such folder (run `govlib demo` or `govlib init` first)
    """
    path = checked_data_dir(explicit, create=False)
    try:
        has_store = (path / _STORE_FILE).is_file()
    except OSError as exc:
        raise DataDirError(f"{_shown(path)}: not a usable data dir ({exc.strerror})") from None
    if not has_store:
        raise DataDirError(f"{path}: {NO_STORE}")
    return checked_data_dir(path) if writable else path


def new_store_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Check (then create) the folder for a new store: refuse one that holds a store already,
    or files govlib did not make. The caller marks it (:func:`mark_new_store`) and opens the store.

    Example:
        >>> import tempfile
        >>> new_store_dir(Path(tempfile.mkdtemp()) / "new").is_dir()
        True
    """
    path = resolve_data_dir(explicit)
    try:
        present = {p.name for p in path.iterdir()} if path.is_dir() else set()
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise DataDirError(f"{_shown(path)}: not a usable data dir ({reason})") from None
    if _STORE_FILE in present:
        raise DataDirError(f"{path}: already holds a govlib store; nothing was changed")
    if not (path / MARKER).exists() and (present - _SHIPPED):
        raise DataDirError(
            f"{path}: not empty and not made by govlib (no {MARKER}); choose another --data-dir"
        )
    return checked_data_dir(path)


def mark_new_store(path: Path) -> str:
    """Write the marker (so `govlib demo` may wipe the folder) and a new random store id.

    Returns the store id; both files are durable when this returns.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> store_id = mark_new_store(folder)
        >>> read_store_id(folder) == store_id, (folder / MARKER).is_file()
        (True, True)
    """
    store_id = uuid.uuid4().hex
    files = {
        MARKER: "This folder was created by govlib; `govlib demo` may wipe it.\n",
        STORE_ID_FILE: store_id + "\n",
    }
    for name, text in files.items():
        tmp = path / f".{name}.tmp-{os.getpid()}"
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path / name)
    fsync_dir(path)
    return store_id


def read_store_id(path: Path) -> str | None:
    """The store id recorded in a data dir, or None (a store made before ids, or by hand).

    Example:
        >>> import tempfile
        >>> read_store_id(Path(tempfile.mkdtemp())) is None
        True
    """
    try:
        text = (Path(path) / STORE_ID_FILE).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text if len(text) == 32 and all(c in "0123456789abcdef" for c in text) else None


def ensure_store_id(path: Path) -> str:
    """The data dir's store id, made (random, durable) for a store from before ids.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> ensure_store_id(folder) == ensure_store_id(folder) == read_store_id(folder)
        True
    """
    known = read_store_id(path)
    if known is not None:
        return known
    store_id = uuid.uuid4().hex
    tmp = Path(path) / f".{STORE_ID_FILE}.tmp-{os.getpid()}"
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(store_id + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(Path(path) / STORE_ID_FILE)
    fsync_dir(Path(path))
    return store_id


def prepare_fresh(path: Path, *, force: bool = False) -> None:
    """Empty a data dir for a new demo, keeping its keys; refuse a folder govlib did not make.

    A non-empty folder without the marker file is refused unless ``force``. The emptied folder
    gets the marker and a new store id (:func:`mark_new_store`).
    """
    path.mkdir(parents=True, exist_ok=True)
    present = {p.name for p in path.iterdir()}
    if not (path / MARKER).exists() and (present - _SHIPPED) and not force:
        raise DataDirError(
            f"{path}: not empty and not made by govlib (no {MARKER}); "
            "pass --force to use it anyway, or choose another --data-dir"
        )
    for child in path.iterdir():
        if child.name in _KEPT_ON_WIPE:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    mark_new_store(path)
