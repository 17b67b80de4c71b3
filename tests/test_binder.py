"""Binder start-up as repo2docker runs it: postBuild on a clean checkout (the repository is
$HOME, the folder Jupyter serves), then start. The demo store and its keys must land outside it,
and the apps must get the same data dir, template and settings as `govlib serve`.

Like tests/test_install.py, the venv reuses the test venv's packages (a ``.pth`` line) so
``pip install -e .`` resolves offline; postBuild itself runs unchanged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from govlib.cli.serve import FILE_ALLOWLIST, TEMPLATE, _cull_times, template_root
from govlib.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"


def _clean_checkout(target: Path) -> Path:
    """The files git would check out (tracked and new, not ignored), copied to ``target``."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (n.decode() for n in listed)):
        source = ROOT / name
        if source.is_file():
            dest = target / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(source.read_bytes())
            dest.chmod(source.stat().st_mode & 0o777)
    return target


def _venv(prefix: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(prefix)], check=True)
    python = prefix / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "reuse_test_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return prefix


def test_binder_config_matches_govlib_serve():
    voila = json.loads((BINDER / "jupyter-config/voila.json").read_text())["VoilaConfiguration"]
    assert voila["template"] == TEMPLATE
    assert voila["file_allowlist"] == [FILE_ALLOWLIST]
    server = json.loads((BINDER / "jupyter-config/jupyter_server_config.json").read_text())
    timeout, interval = _cull_times(Settings().kernel_closed_tab_s)
    assert server["MappingKernelManager"] == {
        "cull_idle_timeout": timeout,
        "cull_interval": interval,
        "cull_connected": False,
    }
    for script in ("postBuild", "start", "data-dir"):
        assert (BINDER / script).stat().st_mode & 0o111, f"binder/{script} must be executable"


@pytest.mark.slow
def test_postbuild_on_a_clean_checkout_puts_the_store_outside_the_served_folder(tmp_path):
    home = tmp_path / "home" / "jovyan"  # repo2docker copies the repository to $HOME
    repo = _clean_checkout(home)
    prefix = _venv(tmp_path / "srv" / "conda" / "envs" / "notebook")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "GOVLIB_"))}
    env.pop("JUPYTER_PATH", None)
    env |= {
        "HOME": str(home),
        "NB_PYTHON_PREFIX": str(prefix),
        "PATH": f"{prefix / 'bin'}:{env['PATH']}",
        "PIP_NO_BUILD_ISOLATION": "false",  # offline: setuptools comes from the reused packages
        "PIP_NO_INDEX": "1",
    }
    built = subprocess.run(
        ["bash", "binder/postBuild"], cwd=repo, env=env, capture_output=True, text=True
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]

    store = prefix / "var" / "govlib-demo"
    assert (store / "govlib.sqlite").is_file()
    assert (store / "keys").is_dir()
    inside = [p for p in home.rglob("*") if p.name in ("govlib.sqlite", "keys", "store_id")]
    assert inside == [], inside  # nothing Jupyter's /files/ could hand out

    started = subprocess.run(
        [str(repo / "binder/start"), "env"], cwd=repo, env=env, capture_output=True, text=True
    )
    assert started.returncode == 0, started.stderr
    seen = dict(line.split("=", 1) for line in started.stdout.splitlines() if "=" in line)
    assert seen["GOVLIB_DATA_DIR"] == str(store)
    assert seen["JUPYTER_PATH"].split(":")[0] == str(repo / template_root().relative_to(ROOT))
    assert seen["JUPYTER_CONFIG_PATH"].split(":")[0] == str(repo / "binder/jupyter-config")
