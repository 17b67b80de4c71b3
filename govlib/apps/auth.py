"""Who is looking: sign-in, sessions, a trusted proxy's user header, and slowing guessers.

``govlib serve --auth MODE`` configures :class:`GovlibIdentityProvider` (Jupyter Server's
identity provider of the Voila server) through the 0600 ``voila.json`` it writes:

* ``tokens``: people sign in with their personal token on ``/login`` (a page of govlib's offline
  template); the server answers with a random session id in an HttpOnly, SameSite=Strict cookie
  that expires after ``session_hours``. Sessions live in the server's memory only and are
  re-checked against the proven ``users`` rows on every request (a revoked person is signed out
  at once).
* ``header``: a reverse proxy's user header (``--user-header``, default ``X-Forwarded-User``) is
  trusted only on connections from ``--trusted-proxy`` addresses; the same header from anywhere
  else is ignored. The name must be an active person of the store.
* ``none`` and ``shared-token``: Voila's own behaviour (anonymous, or one shared token).

Every request with a bad personal token (sign-in form or API) counts against its address; from
``auth_failures_before_delay`` failures in ``auth_failure_window_s`` on, each further attempt
waits 1, 2, 4 ... up to 30 seconds before it is answered (:class:`Guesses`).

The signed-in person reaches the page's kernel as a server-set request header
(:data:`IDENTITY_HEADER`, replaced on every page request so a browser cannot supply it) that
Voila hands to the kernel as ``HTTP_X_GOVLIB_USER``; the kernel looks the person up in the store
and checks their role before any write (:func:`page_user`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import secrets
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.auth.identity import User as JupyterUser
from jupyter_server.base.handlers import JupyterHandler
from tornado import web
from traitlets import Float, Integer, List, Unicode
from voila.voila_identity_provider import VoilaIdentityProvider

from govlib.apps.identity import IDENTITY_HEADER, page_user
from govlib.errors import GovlibError
from govlib.governance.users import (
    AccessDenied,
    User,
    authenticate,
    user_by_name,
    user_by_person,
)
from govlib.present.templating import render
from govlib.store.database import Store

__all__ = [
    "AUTH_MODES",
    "IDENTITY_HEADER",
    "SESSION_COOKIE",
    "GovlibIdentityProvider",
    "Guesses",
    "LoginHandler",
    "LogoutHandler",
    "bearer_token",
    "landing_path",
    "page_user",
    "server_store",
    "trusted",
]

AUTH_MODES = ("none", "tokens", "header", "shared-token")
SESSION_COOKIE = "govlib_session"

_STORE: dict[str, Store] = {}


def server_store() -> Store:
    """The server process's read-write store (``GOVLIB_DATA_DIR``), opened once."""
    data_dir = os.environ.get("GOVLIB_DATA_DIR", "")
    if data_dir not in _STORE:
        if not data_dir:
            raise GovlibError("GOVLIB_DATA_DIR: not set; expected the data dir govlib serve set")
        _STORE[data_dir] = Store(Path(data_dir), create=False)
    return _STORE[data_dir]


def trusted(address: str, proxies: list[str]) -> bool:
    """Whether ``address`` is one of ``proxies`` (addresses or networks).

    Example:
        >>> trusted("10.0.0.7", ["10.0.0.0/24"]), trusted("10.0.1.7", ["10.0.0.0/24", "::1"])
        (True, False)
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for proxy in proxies:
        try:
            if ip in ipaddress.ip_network(proxy, strict=False):
                return True
        except ValueError:
            continue
    return False


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (None when absent).

    Example:
        >>> bearer_token("Bearer gvl_a_b"), bearer_token("Basic x"), bearer_token(None)
        ('gvl_a_b', None, None)
    """
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def landing_path(user: User) -> str:
    """Where a person lands after signing in: reviewers on Tool calls, finance on the Cost
    Ledger, everyone else on the executive page.

    Example:
        >>> landing_path(User("person:a", "Fi", ("finance",), None, "active", "x"))
        '/voila/render/executive_spog.ipynb?view=costs'
    """
    if "reviewer" in user.roles:
        return "/voila/render/spc_dashboard.ipynb?tab=calls"
    if user.roles == ("finance",):
        return "/voila/render/executive_spog.ipynb?view=costs"
    return "/voila/render/executive_spog.ipynb"


class Guesses:
    """Failed sign-ins per address; the delay owed before answering the next attempt.

    Example:
        >>> g = Guesses(threshold=2, window_s=60)
        >>> [g.fail("a", now=t) for t in (0, 1, 2, 3)], g.delay("b", now=3)
        ([0.0, 1.0, 2.0, 4.0], 0.0)
    """

    def __init__(self, threshold: int = 5, window_s: float = 300.0, cap_s: float = 30.0) -> None:
        self.threshold, self.window_s, self.cap_s = threshold, window_s, cap_s
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, address: str, now: float) -> deque[float]:
        recent = self._failures.setdefault(address, deque())
        while recent and now - recent[0] > self.window_s:
            recent.popleft()
        return recent

    def delay(self, address: str, now: float | None = None) -> float:
        """Seconds the next attempt from ``address`` waits."""
        n = len(self._recent(address, time.monotonic() if now is None else now))
        return 0.0 if n < self.threshold else min(2.0 ** (n - self.threshold), self.cap_s)

    def fail(self, address: str, now: float | None = None) -> float:
        """Count a failure; the delay the next attempt will owe."""
        now = time.monotonic() if now is None else now
        self._recent(address, now).append(now)
        return self.delay(address, now)


#: One per server process (the sign-in page and the API share it).
GUESSES = Guesses()
#: SHA-256 of tokens already checked -> the hash they matched (see ``authenticate``).
_VERIFIED: dict[str, str] = {}


async def checked_token(address: str, token: str | None, store: Store) -> User:
    """The person of a personal token, after any delay owed by ``address``; 401 otherwise."""
    owed = GUESSES.delay(address)
    if owed:
        await asyncio.sleep(owed)
    try:
        return authenticate(store, token, verified=_VERIFIED)
    except AccessDenied:
        GUESSES.fail(address)
        raise


@dataclass
class _Session:
    person: str
    expires: float


def _jupyter_user(user: User) -> JupyterUser:
    return JupyterUser(username=user.person, name=user.name, display_name=user.name)


class GovlibIdentityProvider(VoilaIdentityProvider):
    """Jupyter Server's identity provider for ``govlib serve --auth``."""

    auth_mode = Unicode("none", config=True, help="none, tokens, header or shared-token.")
    user_header = Unicode("X-Forwarded-User", config=True, help="The proxy's user header.")
    trusted_proxies = List(Unicode(), config=True, help="Addresses allowed to send user_header.")
    session_hours = Float(8.0, config=True, help="Hours a sign-in lasts.")
    failures_before_delay = Integer(5, config=True, help="Bad tokens before answers slow down.")
    failure_window_s = Float(300.0, config=True, help="Seconds a bad token is remembered.")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sessions: dict[str, _Session] = {}
        GUESSES.threshold, GUESSES.window_s = self.failures_before_delay, self.failure_window_s

    @property
    def auth_enabled(self) -> bool:  # noqa: D102
        return self.auth_mode in ("tokens", "header") or bool(self.token)

    @property
    def login_available(self) -> bool:  # noqa: D102
        return self.auth_mode == "tokens" or (self.auth_mode != "header" and bool(self.token))

    def get_handlers(self) -> list[tuple[str, object]]:  # noqa: D102
        if self.auth_mode == "header":
            return []  # the proxy signs people in; no form that takes anything here
        if self.auth_mode != "tokens":
            return list(super().get_handlers())
        return [("/login", LoginHandler), ("/logout", LogoutHandler)]

    def get_user(self, handler: web.RequestHandler) -> Any:  # noqa: D102
        if self.auth_mode == "tokens":
            return self._session_user(handler)
        if self.auth_mode == "header":
            return self._header_user(handler)
        return super().get_user(handler)

    # --- tokens ---------------------------------------------------------------------------
    def new_session(self, handler: web.RequestHandler, user: User) -> None:
        """Start a session for ``user``: a random id in an HttpOnly, SameSite=Strict cookie."""
        sid = secrets.token_urlsafe(32)
        max_age = int(self.session_hours * 3600)
        self.sessions[sid] = _Session(user.person, time.time() + max_age)
        handler.set_cookie(
            SESSION_COOKIE,
            sid,
            path="/",
            httponly=True,
            samesite="Strict",
            max_age=max_age,
            secure=handler.request.protocol == "https",
        )

    def end_session(self, handler: web.RequestHandler) -> None:
        """Forget the request's session and clear its cookie."""
        sid = handler.get_cookie(SESSION_COOKIE)
        if sid:
            self.sessions.pop(sid, None)
        handler.clear_cookie(SESSION_COOKIE, path="/")

    def _session_user(self, handler: web.RequestHandler) -> JupyterUser | None:
        sid = handler.get_cookie(SESSION_COOKIE)
        session = self.sessions.get(sid or "")
        if session is None:
            return None
        if session.expires < time.time():
            self.sessions.pop(sid or "", None)
            return None
        user = user_by_person(server_store(), session.person)  # revoked: signed out at once
        if user is None:
            self.sessions.pop(sid or "", None)
            return None
        return _jupyter_user(user)

    # --- header ---------------------------------------------------------------------------
    def _header_user(self, handler: web.RequestHandler) -> JupyterUser | None:
        if not trusted(handler.request.remote_ip or "", list(self.trusted_proxies)):
            return None  # the header from anywhere but the proxy is ignored
        name = handler.request.headers.get(self.user_header)
        user = user_by_name(server_store(), name) if name else None
        return _jupyter_user(user) if user else None


def _local_next(target: str | None, fallback: str) -> str:
    """``target`` when it is a path on this server, else ``fallback`` (no open redirect).

    Example:
        >>> _local_next("//evil.example/x", "/"), _local_next("/voila/render/a", "/")
        ('/', '/voila/render/a')
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return fallback
    parsed = urlparse(target)
    return fallback if parsed.scheme or parsed.netloc or "\\" in target else target


class LoginHandler(JupyterHandler):
    """The sign-in page (GET) and the sign-in itself (POST, the personal token)."""

    def _page(self, message: str = "", status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Cache-Control", "no-store")
        self.finish(
            str(
                render(
                    "apps/signin.html.j2",
                    message=message,
                    xsrf=self.xsrf_token.decode("ascii"),
                    next=_local_next(self.get_argument("next", None), ""),
                )
            )
        )

    @allow_unauthenticated
    async def get(self) -> None:  # noqa: D102
        self._page()

    @allow_unauthenticated
    async def post(self) -> None:  # noqa: D102
        provider = self.identity_provider
        token = self.get_body_argument("token", default="")
        try:
            user = await checked_token(self.request.remote_ip or "", token, server_store())
        except AccessDenied:
            self.log.warning("govlib sign-in refused from %s", self.request.remote_ip)
            self._page("That token was not recognised (or has been revoked).", 401)
            return
        provider.new_session(self, user)  # type: ignore[attr-defined]
        self.redirect(_local_next(self.get_body_argument("next", None), landing_path(user)))


class LogoutHandler(JupyterHandler):
    """Sign out: the session is forgotten and its cookie cleared."""

    @allow_unauthenticated
    async def get(self) -> None:  # noqa: D102
        self.identity_provider.end_session(self)  # type: ignore[attr-defined]
        self.redirect("/login")
