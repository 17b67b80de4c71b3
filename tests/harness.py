"""Browser-test harness: a real Voila server (the `govlib serve` command line) and Debian chromium.

In CI (``CI=true``) a browser test that cannot run fails; elsewhere it skips with the reason.
Every request the page makes to a host other than loopback is aborted and recorded, with no
exception: govlib's Voila template links nothing off the machine (no Font Awesome, no CDN).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
IN_CI = os.environ.get("CI", "").lower() == "true"


def examples(n: int) -> int:
    """A property test's ``max_examples``: ``n`` in ``make test`` (and CI), a quarter of it (at
    least 25) in the ``make test-fast`` inner loop, which sets ``GOVLIB_TEST_FAST=1``."""
    return max(25, n // 4) if os.environ.get("GOVLIB_TEST_FAST") == "1" else n


def require_browser() -> None:
    """Fail in CI, skip elsewhere, when chromium or Playwright is missing."""
    problem = None
    if not Path(CHROMIUM).exists():
        problem = f"{CHROMIUM} not installed (apt-get install -y chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "python playwright not installed (pip install -e '.[test]')"
    if problem:
        if IN_CI:
            pytest.fail(f"browser test cannot run in CI: {problem}")
        pytest.skip(problem)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def voila_app(data_dir: Path, *, preheat: bool = False, timeout_s: float = 90.0) -> Iterator[str]:
    """Start Voila (as ``govlib serve`` would) on a free port; yield its base URL."""
    from govlib.cli.serve import apps_dir, voila_command, voila_env

    port = free_port()
    argv = voila_command(
        host="127.0.0.1", port=port, token=None, preheat=preheat, show_tracebacks=True
    )
    env = voila_env(data_dir)
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / f"voila-{port}.log", "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(
        argv,
        env=env,
        cwd=apps_dir(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"voila exited with {proc.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(f"{base}/voila/static/voila.js", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"voila did not answer within {timeout_s} s; see {log.name}")
            time.sleep(0.25)
        yield base
    finally:
        _stop(proc)
        log.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


@dataclass
class Network:
    """Requests the page tried to send off this machine."""

    external: list[str] = field(default_factory=list)
    loopback: list[str] = field(default_factory=list)


@contextmanager
def browser_page(width: int = 1280, height: int = 800) -> Iterator[tuple[object, Network]]:
    """A Playwright page on Debian chromium; off-machine requests aborted and recorded."""
    require_browser()
    from playwright.sync_api import sync_playwright

    net = Network()

    def route(r: object) -> None:
        url = r.request.url  # type: ignore[attr-defined]
        host = urlparse(url).hostname or ""
        if url.startswith(("data:", "blob:", "about:")) or host in ("127.0.0.1", "localhost"):
            net.loopback.append(url)
            r.continue_()  # type: ignore[attr-defined]
            return
        net.external.append(url)
        r.abort()  # type: ignore[attr-defined]

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            context.route("**/*", route)
            page = context.new_page()
            yield page, net
        finally:
            browser.close()


def screenshot(page: object, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path


def chromium_available() -> bool:
    """True when Debian chromium is installed."""
    return shutil.which("chromium") is not None or Path(CHROMIUM).exists()
