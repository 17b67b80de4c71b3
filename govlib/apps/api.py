"""The verdict API, on the same server and port as the apps (``govlib serve``).

* ``POST /audit-log/{id}/verdict`` ``{"verdict": "accept"|"reject"}``
* ``POST /audit-log/{id}/verdict-correction`` ``{"verdict": ..., "reason": "..."}``
* ``GET /audit-log/{id}`` (reviewers and compliance)
* ``GET /api/openapi.json``

Every request carries ``Authorization: Bearer <personal token>`` (``govlib users add``). Answers:
200 with the row as JSON; 400 bad body (``field`` names it); 401 no, unknown or revoked token;
403 known person without the role (recorded as an ``access_refused`` WORM entry); 404 no such
call (or one of a tenant the person may not see); 409 already stamped (says by whom and what) or
nothing to correct. Error bodies are ``{"error": "...", "field": "..."|null}``.

A stamp goes through :func:`govlib.capture.verdicts.stamp_verdict`, the same write path as the
buttons: one ``verdict_stamped`` WORM entry per stamp. Bad tokens slow their address down
(:class:`govlib.apps.auth.Guesses`).
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import JupyterHandler

from govlib.analysis.review import audit_row
from govlib.apps.auth import bearer_token, checked_token, server_store
from govlib.capture.verdicts import VerdictConflict, VerdictError, correct_verdict, stamp_verdict
from govlib.errors import GovlibError
from govlib.governance.users import AccessDenied, User, require

__all__ = ["API_HANDLERS", "OPENAPI", "ApiError"]


class ApiError(Exception):
    """An answer other than 200: status, message, and the field at fault (if any)."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["error", "field"],
        "properties": {"error": {"type": "string"}, "field": {"type": ["string", "null"]}},
    }


def _answers(ok: str) -> dict[str, Any]:
    err = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    row = {"application/json": {"schema": {"$ref": "#/components/schemas/AuditRow"}}}
    return {
        "200": {"description": ok, "content": row},
        "400": {"description": "Bad body; `field` names the field.", "content": err},
        "401": {"description": "No, unknown or revoked personal token.", "content": err},
        "403": {"description": "Known person without the role (recorded).", "content": err},
        "404": {"description": "No such tool call (for this person).", "content": err},
        "409": {"description": "Already stamped (by whom and what).", "content": err},
    }


def _body(required: list[str]) -> dict[str, Any]:
    props: dict[str, Any] = {"verdict": {"type": "string", "enum": ["accept", "reject"]}}
    if "reason" in required:
        props["reason"] = {"type": "string", "minLength": 1, "maxLength": 2000}
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "object", "required": required, "properties": props}
            }
        },
    }


_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]

#: The OpenAPI description served at ``/api/openapi.json``.
OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "govlib verdict API", "version": "1"},
    "components": {
        "securitySchemes": {"personalToken": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": _error_schema(),
            "AuditRow": {
                "type": "object",
                "properties": {
                    k: {}
                    for k in (
                        "id tenant_id tool_name actor composition_id success schema_valid "
                        "latency_ms output_hash error human_verdict verdict_by verdict_at "
                        "created_at"
                    ).split()
                },
            },
        },
    },
    "security": [{"personalToken": []}],
    "paths": {
        "/audit-log/{id}": {
            "get": {
                "summary": "One tool call (reviewers and compliance).",
                "parameters": _ID,
                "responses": _answers("The tool call."),
            }
        },
        "/audit-log/{id}/verdict": {
            "post": {
                "summary": "Stamp a verdict (reviewers).",
                "parameters": _ID,
                "requestBody": _body(["verdict"]),
                "responses": _answers("The stamped row."),
            }
        },
        "/audit-log/{id}/verdict-correction": {
            "post": {
                "summary": "Correct a stamped verdict, with a reason (reviewers).",
                "parameters": _ID,
                "requestBody": _body(["verdict", "reason"]),
                "responses": _answers("The corrected row."),
            }
        },
    },
}


class _ApiHandler(JupyterHandler):
    """JSON in, JSON out; the person comes from the Bearer token, never from a cookie."""

    def check_xsrf_cookie(self) -> None:  # noqa: D102
        return None  # no cookie is honoured here: a page cannot make a browser send a Bearer

    def check_origin(self, origin_to_satisfy_tornado: str = "") -> bool:  # noqa: D102
        return True

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(payload))

    def write_error(self, status_code: int, **kwargs: Any) -> None:  # noqa: D102
        self._reply(status_code, {"error": self._reason or "error", "field": None})

    async def _person(self) -> User:
        token = bearer_token(self.request.headers.get("Authorization"))
        if token is None:
            raise ApiError(401, "no personal token: send Authorization: Bearer <token>", "token")
        try:
            return await checked_token(self.request.remote_ip or "", token, server_store())
        except AccessDenied as exc:
            self.log.warning("govlib API: bad token from %s", self.request.remote_ip)
            raise ApiError(401, str(exc), "token") from None

    def _row(self, user: User, audit_id: int) -> dict[str, Any]:
        row = audit_row(server_store(), audit_id, tenants=user.tenants)
        if row is None:
            raise ApiError(404, f"audit_id {audit_id}: no such tool call", "id")
        return row

    async def _answer(self, work: Any, *args: Any) -> None:
        try:
            self._reply(200, await work(*args))
        except ApiError as exc:
            self._reply(exc.status, {"error": exc.message, "field": exc.field})
        except AccessDenied as exc:
            self._reply(exc.status, {"error": str(exc), "field": exc.field})


class AuditRowHandler(_ApiHandler):
    """``GET /audit-log/{id}``."""

    @allow_unauthenticated
    async def get(self, audit_id: str) -> None:  # noqa: D102
        await self._answer(self._get, int(audit_id))

    async def _get(self, audit_id: int) -> dict[str, Any]:
        user = await self._person()
        require(server_store(), user, "read_audit", f"audit_log {audit_id}", via="api")
        return self._row(user, audit_id)


def _json_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(
            400, 'body: not JSON; expected an object like {"verdict": "accept"}', "body"
        ) from None
    if not isinstance(body, dict):
        raise ApiError(400, "body: expected a JSON object", "body")
    return body


def _verdict(body: dict[str, Any]) -> str:
    verdict = body.get("verdict")
    if verdict not in ("accept", "reject"):
        shown = json.dumps(verdict)[:80]
        raise ApiError(400, f'verdict: {shown}; expected "accept" or "reject"', "verdict")
    return str(verdict)


class VerdictHandler(_ApiHandler):
    """``POST /audit-log/{id}/verdict`` and ``/verdict-correction``."""

    @allow_unauthenticated
    async def post(self, audit_id: str, correction: str | None = None) -> None:  # noqa: D102
        await self._answer(self._post, int(audit_id), bool(correction))

    async def _post(self, audit_id: int, correction: bool) -> dict[str, Any]:
        user = await self._person()
        store = server_store()
        require(store, user, "stamp", f"audit_log {audit_id}", via="api")
        body = _json_body(self.request.body)
        verdict = _verdict(body)
        reason = body.get("reason")
        if correction and (not isinstance(reason, str) or not reason.strip()):
            raise ApiError(400, "reason: missing or empty; a correction needs a reason", "reason")
        row = self._row(user, audit_id)
        if not correction and row["human_verdict"] is not None:
            raise _conflict(audit_id, row)
        try:
            if correction:
                result = correct_verdict(audit_id, verdict, user.name, str(reason), store=store)
            else:
                result = stamp_verdict(audit_id, verdict, user.name, store=store)
        except VerdictConflict as exc:
            raise ApiError(409, str(exc), "verdict") from None
        except VerdictError as exc:
            status, field = (409, "verdict") if "no verdict to correct" in str(exc) else (400, None)
            raise ApiError(status, str(exc), field) from None
        except GovlibError as exc:  # bounds: a reason too long
            raise ApiError(400, str(exc), "reason" if "reason" in str(exc) else None) from None
        if not result.changed:
            raise _conflict(audit_id, row)
        return self._row(user, audit_id)


def _conflict(audit_id: int, row: dict[str, Any]) -> ApiError:
    return ApiError(
        409,
        f"audit_id {audit_id}: already stamped {row['human_verdict']!r} by "
        f"{row['verdict_by']} at {row['verdict_at']}; to change it, POST "
        f"/audit-log/{audit_id}/verdict-correction with a reason",
        "verdict",
    )


class OpenApiHandler(_ApiHandler):
    """``GET /api/openapi.json``."""

    @allow_unauthenticated
    async def get(self) -> None:  # noqa: D102
        self._reply(200, OPENAPI)


#: (route, handler) pairs registered in the Voila server.
API_HANDLERS: list[tuple[str, type]] = [
    (r"/audit-log/(\d{1,18})", AuditRowHandler),
    (r"/audit-log/(\d{1,18})/verdict(-correction)?", VerdictHandler),
    (r"/api/openapi\.json", OpenApiHandler),
]
