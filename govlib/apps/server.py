"""The Voila server of ``govlib serve``: bounded kernels, pools filled first-visitor first.

``python -m govlib.apps.server`` is ``voila`` with two changes, both configured by
``govlib serve`` (see :func:`govlib.cli.serve.write_voila_config`):

* :class:`BoundedKernelManager` (Voila's ``multi_kernel_manager_class``): at most
  ``max_kernels`` kernels at once. Preheated pool kernels are started one at a time,
  ``stagger_s`` apart, and round by round (one kernel per app, then a second per app...), so the
  first visitor's page is warm first instead of every pool starting at once on a small machine. A
  pool refill that would pass the bound waits until a kernel is shut down.
* :class:`BoundedVoilaHandler`: a visitor for whom there is neither a pooled kernel nor room for
  a new one gets a short "busy, retry" page (HTTP 503, ``Retry-After``) instead of a kernel.
* :class:`SameOriginShutdownHandler`: Voila's page asks for its kernel's shutdown when the tab
  closes (``navigator.sendBeacon``, which cannot carry the ``_xsrf`` token, so stock Voila
  answers 403 and the kernel lives until the culler). A same-origin request (its ``Origin`` is
  the server's own host) is accepted; any other still needs the ``_xsrf`` token.
* The Host check on every handler (:func:`guarded`): Jupyter Server checks the ``Host`` header
  of its own handlers only, so Voila's static files and request-info websocket, which come from
  tornado, answered a DNS-rebinding page; they now refuse it too (403, a plain-text answer).
* No secret in the log: every request line is written by :func:`log_request` (the query's
  ``token=`` and the like replaced by ``[secret]``), and :class:`RedactSecrets` rewrites any
  other line of the server's loggers that carries one (tornado's "404 GET /x?token=..." warnings,
  a ``Cookie`` or ``Authorization`` value, a personal ``gvl_`` token).

Closed tabs' kernels are culled by Jupyter Server's culler (no connection, idle), configured by
``govlib serve`` from the ``kernel_closed_tab_s`` setting.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

import tornado.web
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from traitlets import Float, Integer, Unicode
from voila.app import Voila
from voila.shutdown_kernel_handler import VoilaShutdownKernelHandler
from voila.static_file_handler import TemplateStaticFileHandler
from voila.tornado.handler import TornadoVoilaHandler
from voila.tornado.kernel_websocket_handler import VoilaKernelWebsocketHandler

from govlib.apps.api import API_HANDLERS
from govlib.apps.auth import IDENTITY_HEADER, server_store
from govlib.present.templating import render

__all__ = [
    "BoundedKernelManager",
    "BoundedVoilaHandler",
    "GovlibVoila",
    "RedactSecrets",
    "SameOriginShutdownHandler",
    "busy_page",
    "guarded",
    "host_allowed",
    "kernel_owner",
    "log_request",
    "main",
    "redacted",
]

#: Seconds a visitor's reserved slot is held while Voila starts its kernel.
_RESERVATION_S = 30.0


def busy_page(max_kernels: int, retry_s: int) -> str:
    """The "busy, retry" page: plain HTML, no script, nothing off the machine.

    Example:
        >>> "Retry in 10 s" in busy_page(8, 10)
        True
    """
    return str(render("apps/busy.html.j2", max_kernels=max_kernels, retry_s=retry_s))


class BoundedKernelManager(AsyncMappingKernelManager):
    """A kernel manager with a bound on kernels and a staggered, round-by-round pool fill."""

    max_kernels = Integer(8, config=True, help="Most kernels running at once (pools included).")
    pool_size = Integer(1, config=True, help="Preheated kernels per app, filled round by round.")
    first_app = Unicode("", config=True, help="The notebook whose kernel is preheated first.")
    stagger_s = Float(1.5, config=True, help="Seconds between one kernel warm and the next start.")
    warm_timeout_s = Float(
        60.0, config=True, help="Longest wait for a preheated kernel to warm before the next."
    )
    retry_s = Integer(10, config=True, help="Retry-After of the busy page, in seconds.")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._gate: asyncio.Lock | None = None
        self._reservations: list[float] = []
        self._turned_away_at = -1e9  # when a visitor last got the busy page
        self._stopping: set[str] = set()  # kernels being shut down: their slot is free
        if hasattr(self, "fill_if_needed") and self.pool_size > 0:  # Voila's preheating manager
            asyncio.get_event_loop().create_task(self._fill_pools())

    # --- the bound ---------------------------------------------------------------------------
    def _reserved(self) -> int:
        now = time.monotonic()
        self._reservations = [t for t in self._reservations if now - t < _RESERVATION_S]
        return len(self._reservations)

    def in_use(self) -> int:
        """Kernels running or starting (not those being shut down), plus visitors' reserved
        slots."""
        running = [k for k in self.list_kernel_ids() if k not in self._stopping]
        return len(running) + self._reserved()

    async def shutdown_kernel(self, kernel_id: str, *args: Any, **kwargs: Any) -> None:  # noqa: D102
        # A culled or closed tab's kernel frees its slot as its shutdown begins: a visitor who
        # comes a moment later is served, not shown the busy page while the manager tidies up.
        self._stopping.add(kernel_id)
        try:
            await super().shutdown_kernel(kernel_id, *args, **kwargs)
        finally:
            self._stopping.discard(kernel_id)

    def reserve(self) -> bool:
        """Reserve a slot for a visitor's new kernel; False when the bound is reached (the
        visitor is shown the busy page, and pool refills then leave free slots to visitors for
        twice its Retry-After)."""
        if self.in_use() >= self.max_kernels:
            self._turned_away_at = time.monotonic()
            return False
        self._reservations.append(time.monotonic())
        return True

    def ready_in_pool(self, notebook: str) -> bool:
        """Whether a pooled kernel for ``notebook`` is ready or already starting."""
        pool = getattr(self, "_pools", {}).get(notebook, [])
        return any(task.done() for task in pool) or (
            bool(pool) and self.in_use() < self.max_kernels
        )

    async def start_kernel(self, *args: Any, **kwargs: Any) -> str:  # noqa: D102
        preheat = (kwargs.get("env") or {}).get("VOILA_PREHEAT") == "True"
        if not preheat:
            if self._reservations:
                self._reservations.pop(0)  # the visitor's slot becomes this kernel
            elif len(self.list_kernel_ids()) >= self.max_kernels:
                raise tornado.web.HTTPError(503, "busy: every kernel is in use, retry shortly")
            return await super().start_kernel(*args, **kwargs)
        if self._gate is None:
            self._gate = asyncio.Lock()
        # One preheated kernel warms at a time: the gate is held from this start until the kernel
        # has run its notebook up to waiting for its visitor (Voila runs the notebook only after
        # this returns, so the gate is handed to a task). Four kernels warming at once on two
        # cores held the first SPC page after `govlib serve` started for 11-14 s.
        await self._gate.acquire()
        try:
            while self.in_use() >= self.max_kernels or self._visitors_first():
                await asyncio.sleep(1.0)
            kernel_id = await super().start_kernel(*args, **kwargs)
        except BaseException:
            self._gate.release()
            raise
        asyncio.get_event_loop().create_task(self._release_when_warm(kernel_id))
        return kernel_id

    def _visitors_first(self) -> bool:
        """Whether a visitor was turned away so recently that a free slot is theirs, not a
        pool's: they were told to retry after ``retry_s``."""
        return time.monotonic() - self._turned_away_at < 2 * self.retry_s

    async def _release_when_warm(self, kernel_id: str) -> None:
        """Release the start gate once ``kernel_id`` waits for its visitor (or was given one, or
        died, or ``warm_timeout_s`` passed), then ``stagger_s`` later."""
        from voila.request_info_handler import RequestInfoSocketHandler as Waiting

        try:
            deadline = time.monotonic() + self.warm_timeout_s
            while time.monotonic() < deadline:
                if kernel_id in Waiting._waiters or kernel_id in Waiting._cache:
                    break
                if kernel_id not in self.list_kernel_ids():
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(self.stagger_s)
        finally:
            if self._gate is not None and self._gate.locked():
                self._gate.release()

    # --- pools, round by round ---------------------------------------------------------------
    async def _fill_pools(self) -> None:
        """Fill every app's pool one kernel at a time: one per app (``first_app`` first), then a
        second per app, up to ``pool_size``. Voila itself starts with empty pools
        (``--pool_size=0``) and refills a pool after a visitor takes a kernel."""
        config = self.kernel_pools_config
        await asyncio.sleep(0)  # Voila's __init__ has created the (empty) pools by now
        order = sorted(self._pools, key=lambda nb: (nb != self.first_app, nb))
        for size in range(1, self.pool_size + 1):
            for notebook in order:
                config.setdefault(notebook, {})["pool_size"] = size
                self.fill_if_needed(delay=0, notebook_name=notebook)
                await asyncio.gather(*self._pools.get(notebook, []), return_exceptions=True)


class BoundedVoilaHandler(TornadoVoilaHandler):
    """Voila's page handler, with the "busy, retry" page when no kernel can be had."""

    @tornado.web.authenticated
    async def get(self, path: str | None = None) -> None:  # noqa: D102
        km = self.kernel_manager
        if isinstance(km, BoundedKernelManager) and path and not km.ready_in_pool(path):
            if not km.reserve():
                self.set_status(503)
                self.set_header("Retry-After", str(km.retry_s))
                self.set_header("Cache-Control", "no-store")
                self.finish(busy_page(km.max_kernels, km.retry_s))
                return
        self._tell_kernel_who_is_looking()
        await super().get(path)

    def _tell_kernel_who_is_looking(self) -> None:
        """Replace any :data:`IDENTITY_HEADER` the browser sent with the signed-in person's
        pseudonym (Voila hands it to the kernel as ``HTTP_X_GOVLIB_USER``)."""
        headers = self.request.headers
        if IDENTITY_HEADER in headers:
            del headers[IDENTITY_HEADER]
        mode = getattr(self.identity_provider, "auth_mode", "none")
        user = self.current_user
        if mode in ("tokens", "header") and user is not None:
            headers[IDENTITY_HEADER] = user.username


#: What a page may send its kernel: widget messages only. Voila runs the notebook itself; an
#: ``execute_request`` (or any other request) from a browser would run code as the page's person.
ALLOWED_FROM_BROWSER = (
    "comm_msg",
    "comm_open",
    "comm_close",
    "comm_info_request",
    "kernel_info_request",
)


def message_type(ws_message: str | bytes, subprotocol: str | None) -> str | None:
    """The ``msg_type`` of a browser-to-kernel websocket message (None when unreadable).

    Example:
        >>> message_type('{"header": {"msg_type": "execute_request"}, "channel": "shell"}', None)
        'execute_request'
    """
    from jupyter_server.services.kernels.connection.base import (
        deserialize_binary_message,
        deserialize_msg_from_ws_v1,
    )

    try:
        if subprotocol == "v1.kernel.websocket.jupyter.org":
            _channel, parts = deserialize_msg_from_ws_v1(ws_message)
            header = json.loads(parts[0])
        elif isinstance(ws_message, bytes):
            header = deserialize_binary_message(ws_message)["header"]
        else:
            header = json.loads(ws_message)["header"]
        return str(header["msg_type"])
    except Exception:  # noqa: BLE001 - anything unreadable is refused
        return None


#: Kernel id -> the signed-in person whose page first connected to it (``--auth tokens`` or
#: ``header``). A page's browser connects within a second of the page loading, and the id is a
#: secret of that page's HTML, so the first person is the page's own.
_KERNEL_OWNERS: dict[str, str] = {}


def kernel_owner(kernel_id: str, person: str, alive: Any = None) -> str:
    """The person a kernel belongs to: the first ``person`` that asked for it (ids no longer in
    ``alive``, when given, are forgotten first).

    Example:
        >>> kernel_owner("k1", "Ana"), kernel_owner("k1", "Bo"), kernel_owner("k1", "Bo", alive=[])
        ('Ana', 'Ana', 'Bo')
    """
    if alive is not None:
        live = set(alive)
        for gone in [k for k in _KERNEL_OWNERS if k not in live]:
            del _KERNEL_OWNERS[gone]
    return _KERNEL_OWNERS.setdefault(kernel_id, person)


class WidgetOnlyKernelWebsocket(VoilaKernelWebsocketHandler):
    """A page's kernel connection that forwards widget messages only (anything else is dropped
    and recorded as an ``access_refused`` WORM entry), and, when people sign in, only for the
    person whose page the kernel serves: another signed-in person who learns the kernel's id is
    refused (403, recorded) before the connection opens."""

    async def get(self, kernel_id: str, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        mode = getattr(self.identity_provider, "auth_mode", "none")
        user = self.current_user
        person = getattr(user, "username", None)
        if mode in ("tokens", "header") and person:
            alive = self.kernel_manager.list_kernel_ids()
            if kernel_owner(kernel_id, person, alive) != person:
                _record_dropped(user, None, what="kernel connection of another person's page")
                raise tornado.web.HTTPError(403, "this page session belongs to another person")
        return await super().get(kernel_id, *args, **kwargs)

    def on_message(self, ws_message: Any) -> Any:  # noqa: D102
        subprotocol = getattr(getattr(self, "connection", None), "subprotocol", None)
        kind = message_type(ws_message, subprotocol)
        if kind in ALLOWED_FROM_BROWSER:
            return super().on_message(ws_message)
        self.log.warning("govlib: dropped a %r message from a page to its kernel", kind)
        _record_dropped(self.current_user, kind)
        return None


def _record_dropped(user: Any, kind: str | None, *, what: str | None = None) -> None:
    from govlib.governance.users import record_refusal, user_by_person

    try:
        store = server_store()
        person = user_by_person(store, user.username) if user is not None else None
        record_refusal(
            store,
            person,
            "kernel_message",
            what or f"kernel message {kind or 'unreadable'}",
            "a page's kernel takes widget messages from its own person only",
            via="kernel-websocket",
        )
    except Exception:  # noqa: BLE001 - the message is dropped whether or not it is recorded
        return


class SameOriginShutdownHandler(VoilaShutdownKernelHandler):
    """Voila's tab-close kernel shutdown, accepted from the page's own origin."""

    def check_xsrf_cookie(self) -> None:  # noqa: D102
        origin = self.request.headers.get("Origin", "")
        if origin and urlparse(origin).netloc.lower() == self.request.host.lower():
            return  # a browser sets Origin itself: another site cannot forge it
        super().check_xsrf_cookie()


_REPLACED = {
    TornadoVoilaHandler: BoundedVoilaHandler,
    VoilaShutdownKernelHandler: SameOriginShutdownHandler,
    VoilaKernelWebsocketHandler: WidgetOnlyKernelWebsocket,
}


# --- the Host check on every handler --------------------------------------------------------------
def host_allowed(host: str, settings: Mapping[str, Any]) -> bool:
    """Whether a request with this ``Host`` header is answered: Jupyter Server's own rule.

    Any host when ``allow_remote_access`` is set (a non-loopback bind, guarded by a token);
    otherwise a loopback address or one of ``local_hostnames`` (the ``allowed_hosts`` setting).

    Example:
        >>> local = {"allow_remote_access": False, "local_hostnames": ["localhost"]}
        >>> [host_allowed(h, local) for h in ("127.0.0.1:8866", "[::1]:80", "localhost", "evil.example.com:8866")]
        [True, True, True, False]
        >>> host_allowed("evil.example.com", {"allow_remote_access": True})
        True
    """
    if settings.get("allow_remote_access", False):
        return True
    name = re.sub(r":\d+$", "", host)
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return name in settings.get("local_hostnames", ["localhost"])


class _HostChecked:
    """Jupyter Server's Host check for the handlers that Voila takes from tornado itself (its
    static files and its request-info websocket), which would otherwise answer a DNS-rebinding
    page."""

    settings: dict[str, Any]
    request: Any

    def prepare(self) -> Any:
        if not host_allowed(self.request.host, self.settings):
            logging.getLogger("tornado.access").warning(
                "govlib: refused a request with a non-local Host %r", self.request.host
            )
            raise tornado.web.HTTPError(403)
        return super().prepare()  # type: ignore[misc]


class _PlainErrors:
    """A static file handler's error answer: a short plain-text line. Jupyter Server's own
    renders ``error.html``, which needs a ``static_path`` Voila does not set (a traceback in the
    log and an empty answer)."""

    _reason: str

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")  # type: ignore[attr-defined]
        self.finish(f"{status_code} {self._reason}\n")  # type: ignore[attr-defined]


class _NoFolderIndex:
    """The template's static files: a folder is not found (Voila's handler fails with a 500)."""

    def parse_url_path(self, url_path: str) -> str:
        if url_path.endswith("/") or url_path.count("/") < 2:
            raise tornado.web.HTTPError(404)
        return super().parse_url_path(url_path)  # type: ignore[misc]


def guarded(handler: type) -> type:
    """``handler`` with the Host check (when Jupyter Server does not already make it) and plain
    error answers (for static files)."""
    mixins: list[type] = []
    if handler is TemplateStaticFileHandler:
        mixins.append(_NoFolderIndex)
    if not issubclass(handler, JupyterHandler):
        mixins.append(_HostChecked)
    if issubclass(handler, tornado.web.StaticFileHandler):
        mixins.append(_PlainErrors)
    if not mixins:
        return handler
    return type(f"Guarded{handler.__name__}", (*mixins, handler), {"__module__": __name__})


# --- no secret in the log -------------------------------------------------------------------------
#: A query or cookie value whose name holds one of these words (``token=``, ``_xsrf=``,
#: ``govlib_session=``...), an ``Authorization`` value, or a personal token anywhere.
_SECRET_VALUE = re.compile(
    r"(?P<name>[\w.-]*(?:token|xsrf|session|auth|key|password|secret)[\w.-]*=)[^&\s;,'\"]+",
    re.IGNORECASE,
)
_AUTHORIZATION = re.compile(
    r"(?P<name>\b(?:Bearer|Basic)\s+|\bAuthorization['\"]?:\s*['\"]?(?:token\s+)?)[^\s,'\"]+",
    re.IGNORECASE,
)
_PERSONAL_TOKEN = re.compile(r"\bgvl_[A-Za-z0-9_-]+")


def redacted(text: str) -> str:
    """``text`` with every secret it may carry replaced by ``[secret]``.

    Example:
        >>> redacted("404 GET /x?a=1&token=abc123 (127.0.0.1)")
        '404 GET /x?a=1&token=[secret] (127.0.0.1)'
        >>> redacted("Cookie: govlib_session=Zm9v; _xsrf=2|a|b"), redacted("Bearer gvl_a_b")
        ('Cookie: govlib_session=[secret]; _xsrf=[secret]', 'Bearer [secret]')
        >>> redacted("Authorization: token abc"), redacted("the token was not recognised")
        ('Authorization: token [secret]', 'the token was not recognised')
    """
    text = _SECRET_VALUE.sub(r"\g<name>[secret]", text)
    text = _AUTHORIZATION.sub(r"\g<name>[secret]", text)
    return _PERSONAL_TOKEN.sub("[secret]", text)


class RedactSecrets(logging.Filter):
    """A log filter that rewrites a record carrying a secret (see :func:`redacted`)."""

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: D102
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logged as tornado would
            return True
        clean = redacted(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def log_request(handler: tornado.web.RequestHandler) -> None:
    """Tornado's access-log line, with the URI's secrets redacted (Voila's ``log_function``):
    successes at debug level, redirects at info, client errors as warnings, server errors as
    errors."""
    status = handler.get_status()
    level = (
        logging.DEBUG
        if status < 300 or status == 304
        else logging.INFO
        if status < 400
        else logging.WARNING
        if status < 500
        else logging.ERROR
    )
    request = handler.request
    ms = 1000.0 * request.request_time()
    line = (
        f"{status} {request.method} {redacted(request.uri or '')} ({request.remote_ip}) {ms:.2f}ms"
    )
    logging.getLogger("tornado.access").log(level, line)


#: The loggers of the server process: tornado's and Voila's own.
_LOGGERS = ("tornado.access", "tornado.application", "tornado.general", "tornado", "")


def _redact_every_log(app_log: logging.Logger) -> None:
    """Put :class:`RedactSecrets` on the server's loggers and on every handler they write to."""
    guard = RedactSecrets()
    loggers = [logging.getLogger(name) for name in _LOGGERS] + [app_log]
    for logger in loggers:
        logger.addFilter(guard)
        for handler in logger.handlers:
            handler.addFilter(guard)


class GovlibVoila(Voila):
    """Voila with :class:`BoundedVoilaHandler` and :class:`SameOriginShutdownHandler`, whose log
    never carries a token or a cookie."""

    def init_settings(self) -> dict[str, Any]:  # noqa: D102
        settings = super().init_settings()
        settings["log_function"] = log_request
        return settings

    def init_handlers(self) -> list[Any]:  # noqa: D102
        handlers = super().init_handlers()
        own = [(h[0], guarded(_REPLACED.get(h[1], h[1])), *h[2:]) for h in handlers]
        return [*API_HANDLERS, *own]

    def start(self) -> None:  # noqa: D102
        _redact_every_log(self.log)
        super().start()


def main() -> None:
    """Run the server (``python -m govlib.apps.server``, the same arguments as ``voila``)."""
    GovlibVoila.launch_instance()


if __name__ == "__main__":
    # Run the package's module, not this ``__main__`` copy: Voila imports the kernel manager by
    # its dotted name, and the handler's isinstance check must see that same class.
    from govlib.apps.server import main as package_main

    package_main()
