"""Real loopback receivers for the alert tests: an HTTP server that checks webhook signatures and
a local SMTP server (aiosmtpd)."""

from __future__ import annotations

import email
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    """A loopback port nothing listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HookReceiver:
    """Webhook receiver: ``/hook`` (signed, generic), ``/slack``, ``/teams``.

    Every request is kept (``requests``); ``accepted`` holds the ones answered 2xx with their
    parsed body. A generic webhook whose signature or timestamp is wrong is answered 401 and
    counted in ``bad_signatures``. ``fail_first`` answers that many requests 500 first.
    """

    def __init__(self, secret: bytes, port: int | None = None, fail_first: int = 0) -> None:
        self.secret, self.port = secret, port or free_port()
        self.fail_first = fail_first
        self.requests: list[dict[str, Any]] = []
        self.accepted: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def _handle(self, handler: BaseHTTPRequestHandler) -> int:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        record = {"path": handler.path, "headers": dict(handler.headers), "body": body}
        record["at"] = time.time()
        with self.lock:
            self.requests.append(record)
            if self.fail_first > 0:
                self.fail_first -= 1
                return 500
            if handler.path == "/hook" and not self.signed(handler.headers, body):
                self.bad_signatures += 1
                return 401
            self.accepted.append(record | {"json": json.loads(body)})
        return 200

    def signed(self, headers: Any, body: bytes) -> bool:
        stamp = headers.get("X-Govlib-Timestamp", "")
        given = headers.get("X-Govlib-Signature", "")
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > 300:  # replay window
            return False
        mac = hmac.new(self.secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(given, "sha256=" + mac)

    def start(self) -> HookReceiver:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                status = owner._handle(self)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def kinds(self, path: str) -> list[str]:
        """Alert names (the ``kind`` field, or the text's alert line) received on one path."""
        out = []
        with self.lock:
            for r in self.accepted:
                if r["path"] != f"/{path}":
                    continue
                doc = r["json"]
                if "kind" in doc:
                    out.append(doc["kind"])
                else:
                    text = doc.get("text", "")
                    out.append(text.rsplit("(", 1)[-1].split(")")[0])
        return out

    def ids(self, path: str, kind: str) -> list[str]:
        with self.lock:
            return [
                r["json"]["alert_id"]
                for r in self.accepted
                if r["path"] == f"/{path}" and r["json"].get("kind") == kind
            ]


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


class SmtpReceiver:
    """A local SMTP server (aiosmtpd) keeping every message."""

    def __init__(self) -> None:
        self.box = _Mailbox()
        self.port = free_port()
        self.controller = Controller(self.box, hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpReceiver:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def kinds(self) -> list[str]:
        return [str(m["Subject"]).removeprefix("govlib alert: ") for m in self.box.messages]


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    """Poll until ``predicate()`` or the timeout; the last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def self_signed(directory: Any) -> tuple[Any, Any]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files (cert, key)."""
    import datetime
    import ipaddress
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = Path(directory) / "smtp.crt", Path(directory) / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class StartTlsSmtpReceiver(SmtpReceiver):
    """A local SMTP server that requires STARTTLS before any mail (aiosmtpd ``require_starttls``)."""

    def __init__(self, cert: Any, key: Any) -> None:
        import ssl

        self.box = _Mailbox()
        self.port = free_port()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert), str(key))
        self.controller = Controller(
            self.box,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
        )


class AuthSmtpReceiver(SmtpReceiver):
    """A local SMTP server that requires a login (``user`` / ``password``, over plain TCP)."""

    def __init__(self, user: str, password: str) -> None:
        from aiosmtpd.smtp import AuthResult

        def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
            ok = data.login == user.encode() and data.password == password.encode()
            return AuthResult(success=ok)

        self.box = _Mailbox()
        self.port = free_port()
        self.controller = Controller(
            self.box,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=check,
            auth_required=True,
            auth_require_tls=False,
        )
