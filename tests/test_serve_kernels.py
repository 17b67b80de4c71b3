"""Kernels of `govlib serve`: pools filled first-visitor first, a bound on kernels with a
"busy, retry" page, closed tabs' kernels shut down (real `govlib serve`, real kernels)."""

from __future__ import annotations

import http.client
import os
import re
import time
from pathlib import Path

import pytest
from test_serve_safety import _get, _pids_with, _store, serving

from govlib.apps.server import busy_page
from govlib.cli.serve import APPS, _cull_times, voila_command
from govlib.errors import GovlibError
from govlib.settings import Settings


def _kernels(data_dir: Path) -> list[int]:
    """Kernel processes serving ``data_dir``."""
    marker = f"GOVLIB_DATA_DIR={data_dir.resolve()}".encode()
    env = set(_pids_with(marker, "environ"))
    return [
        pid for pid in env if b"ipykernel_launcher" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def _shutdown(port: int, kernel_id: str, origin: str) -> int:
    """Status of the tab-close shutdown request Voila's page sends (a beacon: no _xsrf)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Host": f"127.0.0.1:{port}", "Origin": origin, "Content-Length": "0"}
        conn.request("POST", f"/voila/api/shutdown/{kernel_id}", headers=headers)
        return conn.getresponse().status
    finally:
        conn.close()


def _wait(predicate, timeout_s: float, what: str) -> float:  # noqa: ANN001
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"{what}: not within {timeout_s} s")
        time.sleep(0.5)
    return time.monotonic() - started


def test_settings_defaults_for_kernels():
    s = Settings()
    assert (s.kernel_pool_size, s.max_kernels, s.kernel_closed_tab_s) == (2, 8, 60)


def test_cull_times_shut_a_closed_tab_down_within_the_setting():
    for closed in (2, 3, 10, 60, 61, 600):
        timeout, interval = _cull_times(closed)
        assert timeout >= 1 and interval >= 1 and timeout + interval <= closed
    with pytest.raises(GovlibError, match="kernel_closed_tab_s 1"):
        _cull_times(1)


def test_voila_command_bounds_kernels_and_fills_pools_by_rounds():
    argv = voila_command(
        host="127.0.0.1", port=1, token=None, preheat=True, pool_size=3, max_kernels=5
    )
    assert argv[1:3] == ["-m", "govlib.apps.server"]
    assert "--BoundedKernelManager.max_kernels=5" in argv
    assert "--BoundedKernelManager.pool_size=3" in argv
    assert f"--BoundedKernelManager.first_app={APPS[0]}" in argv
    assert "--pool_size=0" in argv  # Voila's own fill (all pools at once) is off
    assert "--MappingKernelManager.cull_connected=False" in argv  # open tabs are never culled
    none = voila_command(host="127.0.0.1", port=1, token=None, preheat=True, pool_size=0)
    assert "--preheat_kernel=True" not in none
    with pytest.raises(GovlibError, match="max_kernels 0"):
        voila_command(host="127.0.0.1", port=1, token=None, preheat=False, max_kernels=0)


def test_busy_page_is_plain_and_says_when_to_retry():
    page = busy_page(8, 10)
    assert "all 8 page sessions are in use" in page and 'content="10"' in page
    assert "<script" not in page and "http:" not in page and "https:" not in page


@pytest.mark.slow
def test_bound_busy_page_and_closed_tabs_free_their_kernels(tmp_path):
    data_dir = _store(tmp_path / "data")
    env = {"GOVLIB_MAX_KERNELS": "1", "GOVLIB_KERNEL_CLOSED_TAB_S": "4"}
    with serving(data_dir, env=env) as (_proc, port, _log):
        host = f"127.0.0.1:{port}"
        status, _, body_of_first = _get(port, f"/voila/render/{APPS[0]}", host=host)
        assert status == 200
        assert len(_kernels(data_dir)) == 1
        status, headers, body = _get(port, f"/voila/render/{APPS[1]}", host=host)
        assert status == 503 and headers.get("Retry-After") == "10"
        assert b"Busy: all 1 page sessions are in use" in body
        assert len(_kernels(data_dir)) == 1  # no kernel started for the refused visitor
        kernel_id = re.search(rb'"kernelId":\s*"([0-9a-f-]{36})"', body_of_first).group(1)
        # Another site cannot shut a kernel down (no _xsrf token, foreign Origin).
        assert _shutdown(port, kernel_id.decode(), "http://evil.example.com") in (403, 404)
        assert len(_kernels(data_dir)) == 1
        # The first page's "tab" (no websocket ever connected) is gone: its kernel is shut down
        # within kernel_closed_tab_s (4 s, plus the kernel's own exit).
        took = _wait(lambda: not _kernels(data_dir), 15, "closed tab's kernel shut down")
        assert took <= 10, took
        status, _, body = _get(port, f"/voila/render/{APPS[1]}", host=host)
        assert status == 200 and len(_kernels(data_dir)) == 1
        # Closing the tab: the page's own beacon (same Origin, no _xsrf) shuts it down at once.
        kernel_id = re.search(rb'"kernelId":\s*"([0-9a-f-]{36})"', body).group(1)
        assert _shutdown(port, kernel_id.decode(), f"http://{host}") == 204
        _wait(lambda: not _kernels(data_dir), 5, "kernel shut down by the tab's beacon")


@pytest.mark.slow
def test_pools_fill_one_kernel_per_app_first_and_stay_bounded(tmp_path):
    data_dir = _store(tmp_path / "data")
    env = {"GOVLIB_KERNEL_POOL_SIZE": "2", "GOVLIB_KERNEL_POOL_STAGGER_S": "0.5"}
    with serving(data_dir, "--preheat", env=env) as (_proc, port, log):
        _wait(lambda: len(_kernels(data_dir)) >= 4, 90, "four pooled kernels")
        _wait(lambda: log.read_text().count("is filled with 2") == 2, 60, "pools filled")
        fills = re.findall(r"Kernel pool of (\S+) is filled with (\d)", log.read_text())
        assert fills[:4] == [(APPS[0], "1"), (APPS[1], "1"), (APPS[0], "2"), (APPS[1], "2")]
        time.sleep(2)
        assert len(_kernels(data_dir)) == 4  # two per app, no more
        status, _, body = _get(port, f"/voila/render/{APPS[0]}", host=f"127.0.0.1:{port}")
        assert status == 200 and b"kernelId" in body
        assert os.environ.get("GOVLIB_MAX_KERNELS") is None
