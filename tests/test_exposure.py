"""Exposure: what `govlib serve` binds and serves, and SQL built only from constants."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from govlib.cli.serve import voila_command
from govlib.errors import GovlibError

ROOT = Path(__file__).resolve().parent.parent


def test_loopback_needs_no_token_other_hosts_do():
    argv = voila_command(host="127.0.0.1", port=8866, token=None, preheat=False)
    assert "--Voila.ip=127.0.0.1" in argv
    with pytest.raises(GovlibError, match="needs --auth tokens or --auth header"):
        voila_command(host="0.0.0.0", port=8866, token=None, preheat=False)
    argv = voila_command(host="0.0.0.0", port=8866, token="s3cret-token", preheat=False)
    assert not any("s3cret-token" in a for a in argv)  # passed in a 0600 config file, not argv


def test_serve_defaults_to_loopback_and_refuses_open_host_without_token(tmp_path):
    from click.testing import CliRunner

    from govlib.cli.main import cli

    help_text = CliRunner().invoke(cli, ["serve", "--help"]).output
    assert "127.0.0.1" in help_text
    out = subprocess.run(
        [sys.executable, "-m", "govlib", "serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "--token" in out.stderr and "Traceback" not in out.stderr


def test_data_dir_inside_notebooks_is_refused():
    from govlib.cli.serve import apps_dir, serve_apps

    with pytest.raises(GovlibError, match="must not be inside"):
        serve_apps(apps_dir() / "data", port=1)


def test_file_allowlist_serves_images_only():
    argv = voila_command(host="127.0.0.1", port=8866, token=None, preheat=False)
    allow = [a for a in argv if a.startswith("--VoilaConfiguration.file_allowlist=")]
    assert allow == [r"--VoilaConfiguration.file_allowlist=.*\.(png|jpg|gif|svg)"]


@pytest.mark.slow
def test_voila_never_serves_the_store_or_keys(tmp_path):
    """A real Voila: every path to data, keys and notebooks' neighbours is refused."""
    from harness import voila_app

    from govlib.evidence.keys import KeyRing
    from govlib.store.database import Store

    Store(tmp_path).close()
    KeyRing.load(tmp_path)
    probes = [
        "/voila/files/../data/govlib.sqlite",
        "/voila/files/%2e%2e/data/govlib.sqlite",
        "/voila/files/..%2fdata%2fkeys%2fhmac_keys.json",
        f"/voila/files/{tmp_path}/govlib.sqlite",
        f"/voila/files/{tmp_path}/keys/hmac_keys.json",
        "/voila/files/executive_spog.ipynb",
        "/files/../data/govlib.sqlite",
        "/api/contents/",
        "/api/contents/../data",
        "/voila/api/contents/../data",
        "/voila/api/contents/%2e%2e/data/govlib.sqlite",
    ]
    with voila_app(tmp_path) as base:
        for path in probes:
            try:
                with urllib.request.urlopen(base + path, timeout=10) as r:
                    body = r.read()
                    status = r.status
            except urllib.error.HTTPError as exc:
                status, body = exc.code, b""
            assert status in (403, 404), (path, status)
            assert b"hmac" not in body and b"SQLite format" not in body
        # The contents API lists the notebooks folder only: nothing of the data dir.
        with urllib.request.urlopen(base + "/voila/api/contents/?content=1", timeout=10) as r:
            listing = r.read().decode()
        assert "govlib.sqlite" not in listing and "hmac_keys" not in listing


def test_no_sql_built_from_values():
    """ruff's S608 (SQL built by string formatting) passes on the package.

    The few modules that format SQL identifiers from schema constants carry a per-file ignore with
    the reason in pyproject.toml; everything else binds values with ``?`` parameters.
    """
    ruff = Path(sys.executable).parent / "ruff"
    out = subprocess.run(
        [
            str(ruff),
            "check",
            "--select",
            "S608",
            "--output-format",
            "concise",
            str(ROOT / "govlib"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout


def _processes_with_env(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


@pytest.mark.slow
def test_serve_stops_voila_and_its_kernels_on_sigterm(tmp_path):
    """`govlib serve` killed with SIGTERM leaves no Voila server or kernel behind."""
    import signal
    import time

    from harness import free_port

    from govlib.store.database import Store

    Store(tmp_path).close()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "govlib", "serve", "--data-dir", str(tmp_path), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/voila/static/voila.js", timeout=2):
                    break
            except OSError:
                time.sleep(0.3)
        else:
            raise AssertionError("voila did not start")
        marker = f"GOVLIB_DATA_DIR={tmp_path}"
        assert len(_processes_with_env(marker)) >= 2  # voila + the preheated kernel
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    deadline = time.monotonic() + 20
    while _processes_with_env(marker) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _processes_with_env(marker) == []
