"""Safety of `govlib serve`: port clashes, orphans, Host/Origin checks, tokens, what is served.

Every server here is a real `govlib serve` on a free loopback port, started in its own process
group and stopped with SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from harness import free_port

from govlib.cli.serve import APPS, _sweep_stale_dirs, voila_command

ANALYST_NOTEBOOKS = ("spc_deep_dive.ipynb", "cost_analysis.ipynb", "audit_verification.ipynb")


def _store(path: Path) -> Path:
    from govlib.store.database import Store

    Store(path).close()
    return path


def _serve_argv(data_dir: Path, port: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "govlib",
        "serve",
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        *extra,
    ]


def _cmdlines() -> dict[int, bytes]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                out[int(entry.name)] = (entry / "cmdline").read_bytes()
            except OSError:
                continue
    return out


def _pids_with(needle: bytes, what: str = "cmdline") -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / what).read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def _port_pids(port: int) -> list[int]:
    return _pids_with(f"--port={port}".encode()) + _pids_with(f"--port\x00{port}\x00".encode())


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)


def _wait_ready(proc: subprocess.Popen[bytes], base: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"govlib serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/voila/static/voila.js", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"voila did not answer within {timeout_s} s")


@contextmanager
def serving(
    data_dir: Path, *extra: str, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    """A real `govlib serve` on a free port: yields (process, port, log file)."""
    port = free_port()
    log_path = data_dir.parent / f"serve-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            _serve_argv(data_dir, port, "--no-preheat", *extra),
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_ready(proc, f"http://127.0.0.1:{port}")
            yield proc, port, log_path
        finally:
            _kill_group(proc)
            for pid in _port_pids(port):  # belt and braces: never leave a Voila behind
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def _get(
    port: int, path: str, *, host: str | None = None, timeout: float = 120.0
) -> tuple[int, dict[str, str], bytes]:
    """GET without following redirects; ``host`` overrides the Host header."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Host": host} if host else {}
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def _websocket_status(port: int, path: str, origin: str) -> int:
    """Status of a websocket upgrade request (101 when accepted)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        request = (
            f"GET {path} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            f"Origin: {origin}\r\n\r\n"
        )
        s.sendall(request.encode())
        status_line = s.recv(4096).split(b"\r\n", 1)[0].decode()
    return int(status_line.split()[1])


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A loopback `govlib serve` without a token; yields its port."""
    data_dir = _store(tmp_path_factory.mktemp("serve-open") / "data")
    with serving(data_dir) as (_proc, port, _log):
        yield port


# --- 1. a taken port fails fast ------------------------------------------------------------------


def test_taken_port_fails_fast_with_one_line_error(tmp_path):
    data_dir = _store(tmp_path / "data")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        started = time.monotonic()
        out = subprocess.run(
            _serve_argv(data_dir, port), capture_output=True, text=True, timeout=60
        )
    assert out.returncode == 2
    assert time.monotonic() - started < 30
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and f"--port {port}: already in use" in lines[0], out.stderr
    assert "http://" not in out.stdout  # no URL printed for a server that is not running
    assert _port_pids(port) == []


def test_voila_never_falls_back_to_another_port():
    argv = voila_command(host="127.0.0.1", port=8866, token=None, preheat=False)
    assert "--Voila.port_retries=0" in argv


# --- 2. the Voila child dies with `govlib serve` -----------------------------------------------


@pytest.mark.slow
def test_kill_9_of_serve_leaves_no_voila_or_kernel(tmp_path):
    data_dir = _store(tmp_path / "data")
    port = free_port()
    proc = subprocess.Popen(
        _serve_argv(data_dir, port, "--preheat"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    marker = f"GOVLIB_DATA_DIR={data_dir.resolve()}".encode()
    try:
        _wait_ready(proc, f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 60  # the preheated kernel starts after the server
        while len(_pids_with(marker, "environ")) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _port_pids(port), "voila not found by its port"
        assert len(_pids_with(marker, "environ")) >= 2  # voila + its kernel
        os.kill(proc.pid, signal.SIGKILL)  # the serve process only, never its children
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while (_port_pids(port) or _pids_with(marker, "environ")) and time.monotonic() < deadline:
            time.sleep(0.25)
        assert _port_pids(port) == []
        assert _pids_with(marker, "environ") == []
        # Its staging folder may stay behind (the kill can come before serve removed its Voila
        # config: no token was given here); the next `govlib serve` sweeps it.
        for left in Path(tempfile.gettempdir()).glob(f"govlib-serve-{proc.pid}-*"):
            _sweep_stale_dirs()
            assert not left.exists()
    finally:
        _kill_group(proc)
        for pid in _port_pids(port) + _pids_with(marker, "environ"):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# --- 3. DNS rebinding and cross-origin websockets -----------------------------------------------


@pytest.mark.slow
def test_loopback_refuses_foreign_host_header(open_server):
    port = open_server
    status, _, _ = _get(port, f"/voila/render/{APPS[0]}", host="evil.example.com")
    assert status == 403
    status, _, _ = _get(port, f"/voila/render/{APPS[0]}", host=f"evil.example.com:{port}")
    assert status == 403
    for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
        status, _, _ = _get(port, "/voila/render/does_not_exist.ipynb", host=host)
        assert status == 404, host  # answered (not 403): a loopback Host is fine


#: One path per kind of handler the server has: Voila's static files, the template's static
#: files, JupyterLab extensions, themes, files, the landing page and the API.
_EVERY_KIND_OF_PATH = (
    "/voila/static/voila.js",
    "/voila/templates/govlib/static/index.css",
    "/voila/templates/lab/static/index.css",
    "/voila/labextensions/@jupyter-widgets/jupyterlab-manager/package.json",
    "/voila/api/themes/",
    "/voila/files/x",
    "/",
    "/api/openapi.json",
)


@pytest.mark.slow
def test_no_path_answers_a_foreign_host(open_server):
    """A DNS-rebinding page gets nothing from any handler: static files included."""
    port = open_server
    for path in _EVERY_KIND_OF_PATH:
        assert _get(port, path, host="evil.example.com")[0] == 403, path
    for path in ("/voila/static/voila.js", "/voila/templates/govlib/static/index.css"):
        assert _get(port, path, host=f"localhost:{port}")[0] == 200, path
    # a folder of the template's static files is not found, not a server error
    assert _get(port, "/voila/templates/govlib/static/", host=f"localhost:{port}")[0] == 404


@pytest.mark.slow
def test_allowed_hosts_setting_adds_a_proxy_name(tmp_path):
    data_dir = _store(tmp_path / "data")
    env = {"GOVLIB_ALLOWED_HOSTS": "localhost,apps.example.org"}
    with serving(data_dir, env=env) as (_proc, port, _log):
        path = "/voila/render/does_not_exist.ipynb"
        assert _get(port, path, host="apps.example.org")[0] == 404
        assert _get(port, path, host="evil.example.com")[0] == 403


@pytest.mark.slow
def test_cross_origin_websocket_is_refused(open_server):
    port = open_server
    status, _, body = _get(port, f"/voila/render/{APPS[0]}", host=f"127.0.0.1:{port}")
    assert status == 200
    match = re.search(rb'"kernelId":\s*"([0-9a-f-]{36})"', body)
    assert match, "no kernel id in the rendered page"
    channels = f"/api/kernels/{match.group(1).decode()}/channels"
    assert _websocket_status(port, channels, "http://evil.example.com") == 403
    assert _websocket_status(port, channels, f"http://127.0.0.1:{port}") == 101


# --- 4. the token never shows in argv -----------------------------------------------------------


def test_literal_token_warns_and_env_token_is_used(tmp_path):
    data_dir = _store(tmp_path / "data")
    with socket.socket() as holder:  # a taken port stops serve before Voila starts
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        port = holder.getsockname()[1]
        literal = subprocess.run(
            _serve_argv(data_dir, port, "--host", "0.0.0.0", "--token", "literal-token-123"),
            capture_output=True,
            text=True,
            timeout=60,
        )
        from_env = subprocess.run(
            _serve_argv(data_dir, port, "--host", "0.0.0.0"),
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "GOVLIB_TOKEN": "env-token-456"},
        )
    assert literal.returncode == 2
    assert "Warning: --token" in literal.stderr and "ps" in literal.stderr
    assert "already in use" in literal.stderr
    assert from_env.returncode == 2  # got past the token check: the port is what stops it
    assert "already in use" in from_env.stderr and "Warning" not in from_env.stderr


def test_empty_token_file_is_refused(tmp_path):
    data_dir = _store(tmp_path / "data")
    empty = tmp_path / "token"
    empty.write_text("\n")
    out = subprocess.run(
        _serve_argv(data_dir, free_port(), "--token-file", str(empty)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "the file is empty" in out.stderr


def test_token_is_never_in_voila_argv():
    argv = voila_command(host="0.0.0.0", port=8866, token="s3cret-token", preheat=False)
    assert not any("s3cret-token" in a for a in argv)


@pytest.mark.slow
@pytest.mark.parametrize("source", ["env", "file"])
def test_token_stays_out_of_argv_and_guards_the_apps(tmp_path, source):
    data_dir = _store(tmp_path / "data")
    token = secrets.token_urlsafe(24)
    extra: tuple[str, ...] = ()
    env: dict[str, str] = {}
    if source == "env":
        env["GOVLIB_TOKEN"] = token
    else:
        token_file = tmp_path / "token"
        token_file.write_text(token + "\n")
        token_file.chmod(0o600)
        extra = ("--token-file", str(token_file))
    with serving(data_dir, *extra, env=env) as (_proc, port, _log):
        leaks = [pid for pid, cmd in _cmdlines().items() if token.encode() in cmd]
        assert leaks == []
        assert len(_port_pids(port)) >= 1  # the Voila child was inspected too
        voila_pid = _port_pids(port)[0]
        assert token.encode() not in Path(f"/proc/{voila_pid}/environ").read_bytes()
        status, headers, _ = _get(port, "/voila/render/does_not_exist.ipynb")
        refused = status in (401, 403) or (status == 302 and "login" in headers.get("Location", ""))
        assert refused, (status, headers)
        status, _, _ = _get(port, f"/voila/render/does_not_exist.ipynb?token={token}")
        assert status == 404  # authenticated: the request reaches the notebook lookup
        status, _, _ = _get(port, f"/voila/render/{APPS[1]}?token={token}")
        assert status == 200


# --- 5. only the two apps are served ------------------------------------------------------------


@pytest.mark.slow
def test_only_the_app_notebooks_are_reachable(open_server):
    port = open_server
    host = f"127.0.0.1:{port}"
    for name in ANALYST_NOTEBOOKS:
        status, _, body = _get(port, f"/voila/render/{name}", host=host)
        assert status in (403, 404), (name, status)
        assert b"kernelId" not in body
    status, _, body = _get(port, "/voila/api/contents/?content=1", host=host)
    listing = body.decode(errors="replace")
    for name in ANALYST_NOTEBOOKS:
        assert name not in listing
    status, _, _ = _get(port, f"/voila/render/{APPS[1]}", host=host)
    assert status == 200
