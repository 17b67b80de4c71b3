"""``govlib serve``: the Voila apps over the notebooks folder, locked down for closed networks.

Binds 127.0.0.1 by default; any other interface needs a token. Kernels get the data dir through
``GOVLIB_DATA_DIR``; idle kernels are culled (a closed tab does not always shut its kernel down);
Voila serves only images next to the notebooks, never the store, keys or anything in the data dir.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from govlib.errors import GovlibError
from govlib.settings import load_settings
from govlib.store.datadir import checkout_root

__all__ = ["APPS", "notebooks_dir", "voila_command", "serve_apps"]

#: The Voila apps, by notebook file name.
APPS = ("executive_spog.ipynb", "spc_dashboard.ipynb")
#: Files Voila may serve from the notebooks folder (images only; never data or keys).
FILE_ALLOWLIST = r".*\.(png|jpg|gif|svg)"


def notebooks_dir() -> Path:
    """The ``notebooks/`` folder of this checkout."""
    root = checkout_root()
    if root is None or not (root / "notebooks").is_dir():
        raise GovlibError(
            "notebooks/ not found: run `govlib serve` from a govlib checkout (pip install -e .)"
        )
    return root / "notebooks"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def voila_command(
    *,
    host: str,
    port: int,
    token: str | None,
    preheat: bool,
    cull_idle_s: int = 600,
    show_tracebacks: bool = False,
) -> list[str]:
    """The ``voila`` argv for the apps (pure: no process is started).

    Example:
        >>> voila_command(host="127.0.0.1", port=8866, token=None, preheat=False)[1:3]
        ['-m', 'voila']
    """
    if not _is_loopback(host) and not token:
        raise GovlibError(
            f"--host {host}: serving beyond this machine needs --token TOKEN "
            "(anyone who can reach the port would see governance data)"
        )
    argv = [
        sys.executable,
        "-m",
        "voila",
        str(notebooks_dir()),
        "--no-browser",
        f"--port={port}",
        f"--Voila.ip={host}",
        f"--VoilaConfiguration.file_allowlist={FILE_ALLOWLIST}",
        f"--MappingKernelManager.cull_idle_timeout={cull_idle_s}",
        "--MappingKernelManager.cull_interval=60",
        "--MappingKernelManager.cull_connected=False",
        f"--show_tracebacks={show_tracebacks}",
    ]
    argv.append(f"--Voila.token={token}" if token else "--Voila.token=")
    if preheat:
        argv += ["--preheat_kernel=True", "--pool_size=1"]
    return argv


def serve_apps(
    data_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8866,
    token: str | None = None,
    preheat: bool = True,
) -> int:
    """Run Voila in the foreground until interrupted; returns its exit code."""
    nb = notebooks_dir()
    data_dir = Path(data_dir).resolve()
    if nb.resolve() == data_dir or nb.resolve() in data_dir.parents:
        raise GovlibError(f"--data-dir {data_dir}: must not be inside {nb} (Voila would serve it)")
    settings = load_settings(data_dir)
    argv = voila_command(
        host=host, port=port, token=token, preheat=preheat, cull_idle_s=settings.kernel_cull_idle_s
    )
    env = {**os.environ, "GOVLIB_DATA_DIR": str(data_dir)}
    shown = "localhost" if _is_loopback(host) else host
    print(f"Serving govlib apps from {nb} (data: {data_dir})")
    for app in APPS:
        print(f"  http://{shown}:{port}/voila/render/{app}")
    if token:
        print(f"  access token required: append ?token={token[:2]}… (the one you passed)")
    print("Stop with Ctrl+C.", flush=True)
    if shutil.which(argv[0]) is None and not Path(argv[0]).exists():
        raise GovlibError(f"{argv[0]}: Python interpreter not found")
    proc = subprocess.Popen(argv, env=env, cwd=nb, start_new_session=True)

    def _terminate(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops Voila and its kernels too, never orphans them

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            return proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            return proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
