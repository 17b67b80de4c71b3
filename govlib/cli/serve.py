"""``govlib serve``: the Voila apps, locked down for closed networks.

Binds 127.0.0.1 by default; any other interface needs a token. Kernels get the data dir through
``GOVLIB_DATA_DIR``; idle kernels are culled (a closed tab does not always shut its kernel down);
Voila serves only images next to the notebooks, never the store, keys or anything in the data dir.

Hardening (see the serving issue):

* The two app notebooks ship inside the package (``govlib/apps/notebooks/``), so a plain
  ``pip install`` serves them from any directory. Voila serves a private temporary folder holding
  copies of them only: the analyst notebooks of a checkout's ``notebooks/`` are not reachable.
* Pages use govlib's Voila template (``govlib/apps/jupyter/voila/templates/govlib``, found
  through ``JUPYTER_PATH``): Voila's ``lab`` page without its CDN links, and a landing page at
  ``/`` naming the two apps, the data dir and the chain status.
* The port is checked before Voila starts and Voila never falls back to another port
  (``--Voila.port_retries=0``); the URLs are printed once Voila answers on them.
* The token is never put in any process's argv: it reaches Voila through a ``voila.json`` config
  file (mode 0600, in a 0700 folder) that is removed when ``govlib serve`` ends.
* Bound to loopback, Voila answers only requests whose ``Host`` is a loopback address or a name in
  the ``allowed_hosts`` setting (DNS-rebinding protection); foreign-Origin websockets are refused
  by Jupyter Server's own Origin check.
* On Linux the Voila child gets SIGTERM when ``govlib serve`` dies, even by ``kill -9``
  (``prctl(PR_SET_PDEATHSIG)``); Voila then shuts its kernels down.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from govlib.errors import GovlibError
from govlib.settings import load_settings

__all__ = [
    "APPS",
    "APP_TITLES",
    "TEMPLATE",
    "apps_dir",
    "template_root",
    "voila_command",
    "voila_env",
    "landing_html",
    "stage_template",
    "serve_apps",
    "check_port_free",
    "write_voila_config",
    "stage_apps",
    "AUTH_MODES",
    "checked_auth",
]

#: The Voila apps, by notebook file name.
APPS = ("executive_spog.ipynb", "spc_dashboard.ipynb")
#: What each app is called and what it is for (the landing page at ``/``).
APP_TITLES = {
    "executive_spog.ipynb": (
        "Executive page",
        "For the CRO, the CFO and compliance: kill-switch state, the audit trail of a workflow "
        "run and its cost ledger, on one screen.",
    ),
    "spc_dashboard.ipynb": (
        "SPC dashboard",
        "For risk officers: control charts and Western Electric rules per tool and workflow, "
        "sampling recommendations, and accept/reject verdicts on tool calls.",
    ),
}
#: The Voila template of the apps and the landing page (extends ``lab``; no external link).
TEMPLATE = "govlib"
#: Files Voila may serve from the notebooks folder (images only; never data or keys).
FILE_ALLOWLIST = r".*\.(png|jpg|gif|svg)"
#: JupyterLab extensions installed beside Voila that no govlib page uses: Voila would load their
#: JavaScript into every page (the preview button of JupyterLab, code-highlighting styles).
UNUSED_LAB_EXTENSIONS = ("@voila-dashboards/jupyterlab-preview", "jupyterlab_pygments")
#: Environment variables of govlib serve that never reach Voila or its kernels.
_PRIVATE_ENV = ("GOVLIB_TOKEN", "GOVLIB_USER_TOKEN", "GOVLIB_AUTH")
#: ``--auth`` modes (see :mod:`govlib.apps.auth`).
AUTH_MODES = ("none", "tokens", "header", "shared-token")


def apps_dir() -> Path:
    """The folder of the app notebooks, inside the installed package (package data).

    Example:
        >>> sorted(p.name for p in apps_dir().glob("*.ipynb")) == sorted(APPS)
        True
    """
    folder = Path(__file__).resolve().parents[1] / "apps" / "notebooks"
    missing = [app for app in APPS if not (folder / app).is_file()]
    if missing:
        raise GovlibError(
            f"{folder}: app notebooks missing ({', '.join(missing)}); reinstall govlib "
            "(they ship as package data)"
        )
    return folder


def template_root() -> Path:
    """The Jupyter data folder holding govlib's Voila template (``voila/templates/govlib``).

    Example:
        >>> (template_root() / "voila" / "templates" / TEMPLATE / "conf.json").is_file()
        True
    """
    return Path(__file__).resolve().parents[1] / "apps" / "jupyter"


def voila_env(
    data_dir: Path,
    *,
    jupyter_dir: Path | None = None,
    base: dict[str, str] | None = None,
    auth: str = "none",
) -> dict[str, str]:
    """The environment of the Voila child: ``base`` (default ``os.environ``) without the token,
    with ``GOVLIB_DATA_DIR`` and ``JUPYTER_PATH`` (govlib's template folder first).

    Example:
        >>> env = voila_env(Path("/tmp/d"), base={"GOVLIB_TOKEN": "t", "PATH": "/bin"})
        >>> sorted(env), env["GOVLIB_DATA_DIR"]
        (['GOVLIB_DATA_DIR', 'JUPYTER_PATH', 'PATH'], '/tmp/d')
    """
    base = dict(os.environ if base is None else base)
    env = {k: v for k, v in base.items() if k not in _PRIVATE_ENV}
    env["GOVLIB_DATA_DIR"] = str(data_dir)
    if auth != "none":  # the kernels then need a signed-in person before any write
        env["GOVLIB_AUTH"] = auth
    jupyter = str(jupyter_dir if jupyter_dir is not None else template_root())
    env["JUPYTER_PATH"] = os.pathsep.join(p for p in (jupyter, base.get("JUPYTER_PATH")) if p)
    return env


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _cull_times(closed_tab_s: int) -> tuple[int, int]:
    """Culler (idle timeout, interval) such that a kernel with no connection left is shut down
    within ``closed_tab_s`` seconds of its last activity.

    Example:
        >>> _cull_times(60)
        (40, 20)
    """
    if closed_tab_s < 2:
        raise GovlibError(f"kernel_closed_tab_s {closed_tab_s}: expected at least 2 seconds")
    timeout = max(1, closed_tab_s * 2 // 3)
    return timeout, max(1, closed_tab_s - timeout)


def checked_auth(
    auth: str | None, host: str, token: str | None, trusted_proxies: Sequence[str] = ()
) -> str:
    """The ``--auth`` mode, checked against the host, the shared token and the proxies.

    Without ``--auth``: ``shared-token`` when a shared token is given, else ``none``. ``none`` is
    allowed on loopback only; ``header`` needs ``--trusted-proxy``; ``shared-token`` a token.

    Example:
        >>> checked_auth(None, "127.0.0.1", None), checked_auth(None, "0.0.0.0", "t")
        ('none', 'shared-token')
    """
    mode = auth or ("shared-token" if token else "none")
    if mode not in AUTH_MODES:
        raise GovlibError(f"--auth {mode!r}: expected one of {', '.join(AUTH_MODES)}")
    if mode == "none" and not _is_loopback(host):
        raise GovlibError(
            f"--host {host}: serving beyond this machine needs --auth tokens or --auth header "
            "(or --auth shared-token with --token-file FILE or GOVLIB_TOKEN for a quick demo; "
            "anyone who can reach the port would see governance data)"
        )
    if mode == "shared-token" and not token:
        raise GovlibError(
            "--auth shared-token: needs the shared token (--token-file FILE or GOVLIB_TOKEN)"
        )
    if mode in ("tokens", "header") and token:
        raise GovlibError(
            f"--auth {mode}: people sign in with their personal tokens; expected no shared "
            "--token/--token-file/GOVLIB_TOKEN"
        )
    if mode == "header" and not trusted_proxies:
        raise GovlibError(
            "--auth header: needs --trusted-proxy ADDRESS (the reverse proxy allowed to send "
            "the user header; the header from anywhere else is ignored)"
        )
    for proxy in trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise GovlibError(
                f"--trusted-proxy {proxy!r}: expected an IP address or network"
            ) from None
    return mode


def voila_command(
    *,
    host: str,
    port: int,
    token: str | None,
    preheat: bool,
    pool_size: int = 2,
    max_kernels: int = 8,
    closed_tab_s: int = 60,
    stagger_s: float = 1.5,
    show_tracebacks: bool = False,
    root: Path | None = None,
    config_dir: Path | None = None,
    auth: str | None = None,
) -> list[str]:
    """The argv of govlib's Voila server for the apps (pure: no process is started).

    ``token`` is checked (a non-loopback ``host`` needs one unless ``auth``, checked by
    :func:`checked_auth`, is given) but never put in the argv: other
    local users can read any process's argv in ``ps``. Pass it to Voila with
    :func:`write_voila_config` and ``config_dir``. ``root`` is the folder served (default: the
    package's :func:`apps_dir`; ``govlib serve`` passes :func:`stage_apps`'s folder). Voila finds
    the ``govlib`` template through :func:`voila_env`'s ``JUPYTER_PATH``. The server is
    :mod:`govlib.apps.server` (Voila with a kernel bound and first-visitor-first pools).

    Example:
        >>> voila_command(host="127.0.0.1", port=8866, token=None, preheat=False)[1:3]
        ['-m', 'govlib.apps.server']
    """
    if auth is None and not _is_loopback(host) and not token:
        raise GovlibError(
            f"--host {host}: serving beyond this machine needs --auth tokens or --auth header "
            "(or a shared token: --token-file FILE or GOVLIB_TOKEN; anyone who can reach the "
            "port would see governance data)"
        )
    if max_kernels < 1 or pool_size < 0:
        raise GovlibError(
            f"max_kernels {max_kernels}, kernel_pool_size {pool_size}: expected at least 1 "
            "kernel and a pool size of 0 or more"
        )
    cull_timeout, cull_interval = _cull_times(closed_tab_s)
    manager = "BoundedKernelManager"
    argv = [
        sys.executable,
        "-m",
        "govlib.apps.server",
        str(root if root is not None else apps_dir()),
        "--no-browser",
        f"--VoilaConfiguration.template={TEMPLATE}",
        f"--port={port}",
        "--Voila.port_retries=0",
        f"--Voila.ip={host}",
        f"--VoilaConfiguration.file_allowlist={FILE_ALLOWLIST}",
        *(f"--VoilaConfiguration.extension_denylist={name}" for name in UNUSED_LAB_EXTENSIONS),
        f"--VoilaConfiguration.multi_kernel_manager_class=govlib.apps.server.{manager}",
        f"--{manager}.max_kernels={max_kernels}",
        f"--{manager}.pool_size={pool_size}",
        f"--{manager}.stagger_s={stagger_s}",
        f"--{manager}.first_app={APPS[0]}",
        f"--MappingKernelManager.cull_idle_timeout={cull_timeout}",
        f"--MappingKernelManager.cull_interval={cull_interval}",
        "--MappingKernelManager.cull_connected=False",
        f"--show_tracebacks={show_tracebacks}",
    ]
    if config_dir is not None:
        argv.append(f"--Voila.config_file_paths={config_dir}")
    if not token:
        argv.append("--Voila.token=")
    if preheat and pool_size > 0:
        argv += ["--preheat_kernel=True", "--pool_size=0"]  # the manager fills, round by round
    return argv


def write_voila_config(
    config_dir: Path,
    *,
    host: str,
    token: str | None,
    allowed_hosts: Sequence[str],
    auth: dict[str, object] | None = None,
) -> Path:
    """Write ``config_dir/voila.json`` (mode 0600): the token and the Host allow-list.

    Bound to loopback, Jupyter Server's Host check is switched on: only loopback addresses and
    ``allowed_hosts`` are answered (a DNS-rebinding page gets 403). Bound to another interface the
    token guards access and any Host is answered.
    """
    config_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(config_dir, 0o700)
    voila: dict[str, object] = {}
    if token:
        voila["token"] = token
    if _is_loopback(host):
        voila["tornado_settings"] = {
            "allow_remote_access": False,
            "local_hostnames": sorted({"localhost", *allowed_hosts}),
        }
    voila["identity_provider_class"] = "govlib.apps.auth.GovlibIdentityProvider"
    config: dict[str, object] = {
        "Voila": voila,
        "GovlibIdentityProvider": dict(auth or {"auth_mode": "shared-token" if token else "none"}),
        # the server, never the browser, tells a page's kernel who is looking
        "VoilaConfiguration": {"http_header_envs": ["X-Govlib-User"]},
        "BoundedKernelManager": {"allowed_message_types": list(_WIDGET_MESSAGES)},
    }
    path = config_dir / "voila.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(config, fh)
    os.chmod(path, 0o600)
    return path


#: What a page may send its kernel (see ``govlib.apps.server.ALLOWED_FROM_BROWSER``).
_WIDGET_MESSAGES = (
    "comm_msg",
    "comm_open",
    "comm_close",
    "comm_info_request",
    "kernel_info_request",
)


def stage_apps(target: Path, source: Path | None = None) -> Path:
    """Copy the app notebooks (only) into ``target``; returns it. Analyst notebooks stay out."""
    source = source if source is not None else apps_dir()
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    for app in APPS:
        shutil.copy2(source / app, target / app)
    return target


def landing_html(
    data_dir_name: str | None = None,
    chain: dict[str, object] | None = None,
    checked_at: str = "",
) -> str:
    """The landing page at ``/``: the two apps, what each is for, the data dir and chain status.

    Without ``data_dir_name`` it is the packaged default (no data dir known yet).

    Example:
        >>> page = landing_html("demo", {"ok": True, "text": "Chain verified: 3 entries"}, "09:00")
        >>> "executive_spog.ipynb" in page and "Chain verified: 3 entries" in page
        True
    """
    from govlib.present.templating import render

    chain = chain or {}
    apps = [
        {"file": app, "title": APP_TITLES[app][0], "purpose": APP_TITLES[app][1]} for app in APPS
    ]
    return str(
        render(
            "apps/landing.html.j2",
            apps=apps,
            data_dir_name=data_dir_name,
            chain_ok=bool(chain.get("ok")),
            chain_text=str(chain.get("text") or ""),
            checked_at=checked_at,
        )
    )


def _jinja_raw(html: str) -> str:
    """``html`` as a Voila (Jinja) template that renders to itself, whatever text it holds."""
    return "{% raw %}" + html.replace("{%", "{&#37;") + "{% endraw %}"


def stage_template(target: Path, landing: str) -> Path:
    """Copy govlib's Voila template under ``target`` (a Jupyter data folder for
    ``JUPYTER_PATH``) with ``landing`` as its landing page; returns ``target``."""
    source = template_root() / "voila" / "templates" / TEMPLATE
    staged = target / "voila" / "templates" / TEMPLATE
    shutil.copytree(source, staged, dirs_exist_ok=True)
    (staged / "landing.html").write_text(_jinja_raw(landing), encoding="utf-8")
    return target


def _chain_facts(data_dir: Path) -> dict[str, object]:
    """The store's chain status for the landing page: a full verification (read-only) each time
    `govlib serve` starts, whose verified point the app kernels then start from."""
    from govlib.analysis.trust import verified_state
    from govlib.apps.executive.view import chain_text
    from govlib.store.database import Store

    try:
        with Store(data_dir, create=False, readonly=True) as store:
            state = verified_state(store, full=True)
    except GovlibError as exc:
        state = {"ok": False, "error": str(exc)}
    return {"ok": bool(state.get("ok")), "text": chain_text(state)}


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`GovlibError` when ``host:port`` cannot be bound (taken or not allowed)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    bind_host = "127.0.0.1" if host == "localhost" else host
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as tornado does
        try:
            s.bind((bind_host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise GovlibError(
                    f"--port {port}: already in use on {host} (another `govlib serve`?); "
                    "pick another with --port"
                ) from None
            raise GovlibError(f"--port {port} on {host}: cannot listen ({exc.strerror})") from None


def _parent_death_signal() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when this process dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def _wait_ready(proc: subprocess.Popen[bytes], base: str, timeout_s: float = 180.0) -> bool:
    """Poll ``base``/voila/static/voila.js until Voila answers; False if Voila exited first."""
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/voila/static/voila.js", timeout=2) as r:
                if r.status == 200:
                    return True
        except urllib.error.HTTPError:
            return True  # Voila answered (e.g. a proxy rule); it is serving
        except OSError:
            pass
        time.sleep(0.25)
    return proc.poll() is None


_DIR_PREFIX = "govlib-serve-"


def _sweep_stale_dirs() -> None:
    """Remove this user's staging folders left by a `govlib serve` that was killed (kill -9)."""
    for path in Path(tempfile.gettempdir()).glob(f"{_DIR_PREFIX}*-*"):
        pid_text = path.name[len(_DIR_PREFIX) :].split("-", 1)[0]
        try:
            if not pid_text.isdigit() or path.stat().st_uid != os.getuid():
                continue
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except OSError:
            continue


def serve_apps(
    data_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8866,
    token: str | None = None,
    preheat: bool = True,
    auth: str | None = None,
    user_header: str = "X-Forwarded-User",
    trusted_proxies: Sequence[str] = (),
) -> int:
    """Run Voila in the foreground until interrupted; returns its exit code."""
    nb = apps_dir()
    data_dir = Path(data_dir).resolve()
    if nb.resolve() == data_dir or nb.resolve() in data_dir.parents:
        raise GovlibError(f"--data-dir {data_dir}: must not be inside {nb} (Voila would serve it)")
    settings = load_settings(data_dir)
    mode = checked_auth(auth, host, token, trusted_proxies)
    voila_command(host=host, port=port, token=token, preheat=preheat, auth=mode)
    check_port_free(host, port)
    if shutil.which(sys.executable) is None and not Path(sys.executable).exists():
        raise GovlibError(f"{sys.executable}: Python interpreter not found")
    allowed = [h.strip() for h in str(settings.allowed_hosts).split(",") if h.strip()]
    landing = landing_html(data_dir.name, _chain_facts(data_dir), time.strftime("%H:%M"))
    _sweep_stale_dirs()
    with tempfile.TemporaryDirectory(prefix=f"{_DIR_PREFIX}{os.getpid()}-") as tmp:
        os.chmod(tmp, 0o700)
        apps = stage_apps(Path(tmp) / "apps", nb)
        jupyter = stage_template(Path(tmp) / "jupyter", landing)
        config_dir = Path(tmp) / "config"
        identity = {
            "auth_mode": mode,
            "user_header": user_header,
            "trusted_proxies": list(trusted_proxies),
            "session_hours": float(settings.session_hours),
            "failures_before_delay": int(settings.auth_failures_before_delay),
            "failure_window_s": float(settings.auth_failure_window_s),
        }
        write_voila_config(
            config_dir,
            host=host,
            token=token if mode == "shared-token" else None,
            allowed_hosts=allowed,
            auth=identity,
        )
        argv = voila_command(
            host=host,
            port=port,
            token=token,
            preheat=preheat,
            pool_size=settings.kernel_pool_size,
            max_kernels=settings.max_kernels,
            closed_tab_s=settings.kernel_closed_tab_s,
            stagger_s=settings.kernel_pool_stagger_s,
            root=apps,
            config_dir=config_dir,
        )
        env = voila_env(data_dir, jupyter_dir=jupyter, auth=mode)
        print(f"Starting Voila for the govlib apps (data: {data_dir}) ...", flush=True)
        return _run_voila(argv, env, cwd=apps, host=host, port=port, token=token, auth=mode)


def _run_voila(
    argv: list[str],
    env: dict[str, str],
    *,
    cwd: Path,
    host: str,
    port: int,
    token: str | None,
    auth: str = "none",
) -> int:
    """Start Voila, print the URLs once it answers, wait; stop it (and its kernels) on exit."""
    proc = subprocess.Popen(
        argv,
        env=env,
        cwd=cwd,
        start_new_session=True,
        preexec_fn=_parent_death_signal(),  # noqa: PLW1509 - only prctl, no locks taken
    )

    def _terminate(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops Voila and its kernels too, never orphans them

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        probe = "127.0.0.1" if host in ("0.0.0.0", "localhost") else host
        probe = "::1" if host == "::" else probe
        ready = _wait_ready(proc, f"http://{_url_host(probe)}:{port}")
        config = next((a.split("=", 1)[1] for a in argv if "config_file_paths=" in a), None)
        if config:
            shutil.rmtree(config, ignore_errors=True)  # read at start; no token left on disk
        if ready:
            shown = "localhost" if _is_loopback(host) else _url_host(host)
            print("Serving:")
            print(f"  http://{shown}:{port}/  (the two apps, the data dir, the chain status)")
            for app in APPS:
                print(f"  http://{shown}:{port}/voila/render/{app}")
            if auth == "tokens":
                print(f"  sign in at http://{shown}:{port}/login with your personal token")
            elif auth == "header":
                print("  people are signed in by the trusted proxy's user header")
            elif token:
                print("  access token required: append ?token=<your token>")
            print("Stop with Ctrl+C.", flush=True)
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
