"""A normal (non-editable) install serves both apps from any directory.

Builds govlib's wheel from a copy of the source tree, installs it into a fresh venv and runs that
venv's ``govlib serve`` from an unrelated folder. To stay fast and offline the venv reuses the
test venv's third-party packages (a ``.pth`` line to its site-packages; ``share/jupyter``'s Voila
and nbconvert templates linked as ``pip install`` would have copied them); govlib itself comes
only from the wheel (checked: the kernel's interpreter, the imported file).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest
from harness import free_port

ROOT = Path(__file__).resolve().parent.parent
APPS = ("executive_spog.ipynb", "spc_dashboard.ipynb")
ANALYST = ("spc_deep_dive.ipynb", "cost_analysis.ipynb", "audit_verification.ipynb")
_SKIP = shutil.ignore_patterns(
    ".git", ".venv", "data", "test-artifacts", "build", "dist", "*.egg-info", "__pycache__"
)

pytestmark = pytest.mark.slow


def _wheel(tmp: Path) -> Path:
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=_SKIP)
    out = tmp / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(out), str(src)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return next(out.glob("govlib-*.whl"))


def _venv(tmp: Path, wheel: Path) -> Path:
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "reuse_test_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    share = venv / "share" / "jupyter"
    share.mkdir(parents=True)
    for sub in ("voila", "nbconvert", "labextensions"):
        source = Path(sys.prefix) / "share" / "jupyter" / sub
        if source.exists():
            (share / sub).symlink_to(source)
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps"]
        + ["--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
        # a PYTHONPATH naming a checkout (a worktree's tests) would make pip find govlib there
        # and install nothing
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
    )
    return venv


def _clean_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "GOVLIB_"))}
    env.pop("JUPYTER_PATH", None)
    env["HOME"] = str(tmp / "home")  # no user-level kernelspec or config from this machine
    return env


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=180) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def _wait_ready(proc: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(f"{base}/voila/static/voila.js", timeout=2):
                return
        except OSError:
            time.sleep(0.25)
    raise AssertionError(f"not serving after 120 s:\n{log.read_text()}")


def _kernel_interpreters(marker: bytes) -> list[str]:
    """argv[0] of the processes whose environment holds ``marker`` (Voila and its kernels)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "environ").read_bytes():
                    cmd = (entry / "cmdline").read_bytes().split(b"\0")
                    if b"ipykernel_launcher" in cmd:
                        found.append(cmd[0].decode())
            except OSError:
                continue
    return found


def test_wheel_installed_in_a_fresh_venv_serves_both_apps_from_anywhere(tmp_path):
    wheel = _wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    for app in APPS:
        assert f"govlib/apps/notebooks/{app}" in names
    assert "govlib/apps/jupyter/voila/templates/govlib/index.html.j2" in names
    assert not [n for n in names if any(n.endswith(a) for a in ANALYST)]

    venv = _venv(tmp_path, wheel)
    env = _clean_env(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run(
        [str(venv / "bin/python"), "-c", "import govlib; print(govlib.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert where.startswith(str(venv)), where

    data_dir = tmp_path / "data"
    init = subprocess.run(
        [str(venv / "bin/govlib"), "init", "--data-dir", str(data_dir)],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert init.returncode == 0, init.stderr
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(venv / "bin/govlib"), "serve", "--data-dir", str(data_dir)]
            + ["--port", str(port), "--no-preheat"],
            cwd=elsewhere,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, base, log)
        status, landing = _get(base + "/")
        assert status == 200 and all(f'href="voila/render/{a}"' in landing for a in APPS)
        assert f">{data_dir.name}<" in landing
        for app in APPS:
            status, body = _get(f"{base}/voila/render/{app}")
            assert status == 200, (app, log.read_text())
            assert "application/vnd.jupyter.widget-view+json" in body, app
            assert not re.search(r'"output_type":\s*"error"', body), app
        for name in ANALYST:
            assert _get(f"{base}/voila/render/{name}")[0] in (403, 404), name
        kernels = _kernel_interpreters(f"GOVLIB_DATA_DIR={data_dir}".encode())
        assert kernels and all(k.startswith(str(venv)) for k in kernels), kernels
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
