"""Alert destinations: a generic signed webhook, Slack, Microsoft Teams and SMTP e-mail.

A destination is a dict in ``govlib.json`` (setting ``alert_destinations``)::

    {"id": "d1", "type": "webhook", "url": "https://…", "secret_file": "/etc/govlib/hook.secret",
     "on": ["kill_switch", "chain"]}

The webhook body is :meth:`govlib.alerts.rules.Alert.as_payload` as JSON, signed with
``X-Govlib-Timestamp: <unix seconds>`` and
``X-Govlib-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>``.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import os
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from govlib.alerts.rules import ALERT_KINDS, AlertRuleError
from govlib.settings import Settings

__all__ = [
    "DESTINATION_TYPES",
    "DeliveryError",
    "check_destination",
    "sign",
    "read_secret",
    "deliver",
    "wants",
]

DESTINATION_TYPES: tuple[str, ...] = ("webhook", "slack", "teams", "email")


class DeliveryError(Exception):
    """One delivery attempt failed (retried by the outbox)."""


def read_secret(path: str | os.PathLike[str]) -> bytes:
    """The shared secret: the file's UTF-8 text with surrounding whitespace removed."""
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise AlertRuleError(
            f"secret_file: {str(path)!r} cannot be read ({exc}); expected a UTF-8 text file"
        ) from None
    if not text:
        raise AlertRuleError(f"secret_file: {str(path)!r} is empty; expected the shared secret")
    return text.encode("utf-8")


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>``.

    Example:
        >>> sign(b"s", 1, b"{}")[:7]
        'sha256='
    """
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def check_destination(dest: Any) -> dict[str, Any]:
    """A destination dict, checked: a bad field raises :class:`AlertRuleError` naming it."""
    if not isinstance(dest, Mapping):
        raise AlertRuleError(f"alert_destinations: {dest!r} is not an object; expected a dict")
    kind = dest.get("type")
    if kind not in DESTINATION_TYPES:
        raise AlertRuleError(
            f"type: {kind!r} is not a destination type; expected one of "
            f"{', '.join(DESTINATION_TYPES)}"
        )
    if not isinstance(dest.get("id"), str) or not dest["id"]:
        raise AlertRuleError(f"id: {dest.get('id')!r}; expected a non-empty text id")
    on = dest.get("on", list(ALERT_KINDS))
    bad = [k for k in on if k not in ALERT_KINDS] if isinstance(on, list) else [on]
    if bad:
        raise AlertRuleError(
            f"on: {bad[0]!r} is not an alert kind; expected some of {','.join(ALERT_KINDS)}"
        )
    if kind == "email":
        _check_email(dest)
    else:
        url = dest.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise AlertRuleError(f"url: {url!r} is not a web address; expected http(s)://…")
    if kind == "webhook":
        if not dest.get("secret_file"):
            raise AlertRuleError("secret_file: missing; a webhook needs --secret-file FILE")
        read_secret(dest["secret_file"])
    return dict(dest) | {"on": list(on)}


def _check_email(dest: Mapping[str, Any]) -> None:
    address = dest.get("address")
    if not isinstance(address, str) or "@" not in address.strip("@"):
        raise AlertRuleError(f"address: {address!r} is not an e-mail address; expected a@b")
    smtp = dest.get("smtp")
    host, _, port = str(smtp).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise AlertRuleError(f"smtp: {smtp!r} is not HOST:PORT; expected e.g. mail.example:587")


def wants(dest: Mapping[str, Any], alert_kind: str) -> bool:
    """Whether a destination subscribes to this alert kind (``test`` always)."""
    return alert_kind == "test" or alert_kind in dest.get("on", ALERT_KINDS)


def deliver(dest: Mapping[str, Any], payload: Mapping[str, Any], settings: Settings) -> None:
    """Send one alert payload to one destination; raise :class:`DeliveryError` on failure."""
    timeout = float(settings.alert_timeout_s)
    try:
        if dest["type"] == "email":
            _send_email(dest, payload, settings, timeout)
            return
        body = _body(dest["type"], payload)
        headers = {"Content-Type": "application/json"}
        if dest["type"] == "webhook":
            stamp = int(time.time())
            headers["X-Govlib-Timestamp"] = str(stamp)
            headers["X-Govlib-Signature"] = sign(read_secret(dest["secret_file"]), stamp, body)
        request = urllib.request.Request(dest["url"], data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            response.read()
    except (OSError, smtplib.SMTPException, urllib.error.URLError, AlertRuleError) as exc:
        raise DeliveryError(f"{dest['type']} {dest['id']}: {exc}") from None


def _text(payload: Mapping[str, Any]) -> str:
    evidence = ", ".join(f"{k} {v}" for k, v in dict(payload.get("evidence") or {}).items())
    lines = [str(payload["summary"])]
    if payload.get("url"):
        lines.append(f"See: {payload['url']}")
    if evidence:
        lines.append(f"Evidence: {evidence}")
    lines.append(f"Alert id: {payload['alert_id']} ({payload['kind']})")
    return "\n".join(lines)


def _body(kind: str, payload: Mapping[str, Any]) -> bytes:
    if kind == "slack":
        doc: Any = {"text": _text(payload)}
    elif kind == "teams":
        doc = {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": str(payload["summary"])[:200],
            "title": f"govlib: {payload['kind']}",
            "text": _text(payload).replace("\n", "<br>"),
        }
    else:
        doc = dict(payload)
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def _smtp_password(settings: Settings) -> str | None:
    env = os.environ.get("GOVLIB_SMTP_PASSWORD")
    if env:
        return env
    if settings.smtp_password_file:
        return Path(settings.smtp_password_file).read_text(encoding="utf-8").strip()
    return None


def _send_email(
    dest: Mapping[str, Any], payload: Mapping[str, Any], settings: Settings, timeout: float
) -> None:
    message = EmailMessage()
    message["Subject"] = f"govlib alert: {payload['kind']}"
    message["From"] = settings.smtp_from
    message["To"] = dest["address"]
    message["X-Govlib-Alert-Id"] = str(payload["alert_id"])
    message.set_content(_text(payload))
    message.add_alternative(
        "<html><body><p>"
        + html.escape(_text(payload)).replace("\n", "<br>")
        + "</p></body></html>",
        subtype="html",
    )
    host, _, port = str(dest["smtp"]).rpartition(":")
    with smtplib.SMTP(host, int(port), timeout=timeout) as smtp:
        if dest.get("starttls"):
            context = ssl.create_default_context(cafile=settings.smtp_cafile or None)
            smtp.starttls(context=context)
        password = _smtp_password(settings)
        if settings.smtp_user and password:
            smtp.login(settings.smtp_user, password)
        smtp.send_message(message)
