"""Inside a page's kernel: who is looking (kept free of the server's imports).

``govlib serve`` sets ``GOVLIB_AUTH`` for the server and its kernels; on every page request the
server replaces the :data:`IDENTITY_HEADER` the browser may have sent with the signed-in person's
pseudonym, and Voila hands it to the kernel as ``HTTP_X_GOVLIB_USER``.
"""

from __future__ import annotations

import os

from govlib.governance.users import User, user_by_person
from govlib.store.database import Store

__all__ = ["IDENTITY_HEADER", "page_user"]

#: The header the server sets (never the browser) to tell a page's kernel who is looking.
IDENTITY_HEADER = "X-Govlib-User"


def page_user(store: Store) -> tuple[str, User | None]:
    """Inside a page's kernel: the auth mode and the signed-in person (None when nobody is).

    ``GOVLIB_AUTH`` is set by ``govlib serve``; the person's pseudonym arrives as
    ``HTTP_X_GOVLIB_USER`` (set by the server on the page request, never by the browser) and is
    looked up in the store: a revoked person is nobody.
    """
    mode = os.environ.get("GOVLIB_AUTH", "none")
    person = os.environ.get("HTTP_" + IDENTITY_HEADER.upper().replace("-", "_"), "")
    if mode not in ("tokens", "header") or not person:
        return mode, None
    return mode, user_by_person(store, person)
