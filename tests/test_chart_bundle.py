"""The offline chart bundle is built once per machine and trusted only when nobody else can write it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from govlib.apps import chart_bundle

PROBE = """
import hashlib, json
from govlib.apps.chart_bundle import cached_bundle_path, enable_offline_charts
import altair as alt
used = enable_offline_charts()
print(json.dumps({"cached": used, "path": str(cached_bundle_path()),
                  "sha": hashlib.sha256(alt.JupyterChart._esm.encode()).hexdigest(),
                  "offline": alt.JupyterChart._is_offline}))
"""


def _probe(cache: Path) -> dict:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_second_kernel_takes_the_first_kernels_bundle_byte_for_byte(tmp_path):
    first = _probe(tmp_path)
    assert first["cached"] is False and first["offline"] is True
    path = Path(first["path"])
    assert path.parent == tmp_path / "govlib"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
    second = _probe(tmp_path)
    assert second["cached"] is True and second["offline"] is True
    assert second["sha"] == first["sha"]  # what enable_offline() built, unchanged


def _cache(tmp_path: Path, dir_mode: int, file_mode: int) -> Path:
    folder = tmp_path / "govlib"
    folder.mkdir(mode=0o700)
    path = folder / "bundle.js"
    path.write_text("export default {}", encoding="utf-8")
    path.chmod(file_mode)
    folder.chmod(dir_mode)
    return path


@pytest.mark.parametrize(
    ("dir_mode", "file_mode", "trusted"),
    [
        (0o700, 0o600, True),
        (0o755, 0o644, True),
        (0o700, 0o664, False),  # group may write the file
        (0o700, 0o606, False),  # anyone may write the file
        (0o777, 0o600, False),  # anyone may replace the file in its folder
        (0o770, 0o600, False),
    ],
)
def test_a_bundle_others_could_write_is_not_used(tmp_path, dir_mode, file_mode, trusted):
    path = _cache(tmp_path, dir_mode, file_mode)
    got = chart_bundle._read_cached(path)
    assert (got == "export default {}") is trusted


def test_a_symlinked_or_missing_bundle_is_not_used(tmp_path):
    path = _cache(tmp_path, 0o700, 0o600)
    link = path.parent / "link.js"
    link.symlink_to(path)
    assert chart_bundle._read_cached(link) is None
    assert chart_bundle._read_cached(path.parent / "missing.js") is None


def test_an_unwritable_cache_folder_loses_nothing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    chart_bundle._write_cached(blocker / "govlib" / "bundle.js", "x")  # no error raised
    assert blocker.read_text() == "not a folder"


def test_cache_folder_follows_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert chart_bundle.bundle_cache_dir() == tmp_path / "govlib"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert chart_bundle.bundle_cache_dir() == Path.home() / ".cache" / "govlib"
