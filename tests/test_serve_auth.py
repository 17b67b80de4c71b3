"""Who is looking and who may act (issue 19): HTTP tests against a real `govlib serve`.

Every server is a real `govlib serve --auth ...` on a free loopback port (tests/test_serve_safety
starts and stops it). Requests from 127.0.0.2 and 127.0.0.3 (loopback too) stand for other
machines: a trusted proxy, a guesser whose failed tokens must not slow everybody else.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from harness import free_port
from test_serve_safety import serving

from govlib.capture.rows import insert_audit_batch
from govlib.evidence.verify import verify_store
from govlib.store.database import Store

#: Heavy stores, servers or fault injection: `make test` runs these, `make test-fast` does not.
pytestmark = pytest.mark.slow

ROWS = 400
PEOPLE = {
    "Rita Reviewer": ["reviewer"],
    "Finn Finance": ["finance"],
    "Cora Compliance": ["compliance"],
    "Rex Leaver": ["reviewer"],
}


def _govlib(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "govlib", *args], capture_output=True, text=True, check=False
    )


def _add(data: Path, name: str, *roles_and_tenants: str) -> str:
    roles = [a for r in roles_and_tenants if not r.startswith("@") for a in ("--role", r)]
    tenants = [a for t in roles_and_tenants if t.startswith("@") for a in ("--tenant", t[1:])]
    out = _govlib("users", "add", name, *roles, *tenants, "--data-dir", str(data))
    assert out.returncode == 0, out.stderr
    return out.stdout.rstrip("\n").splitlines()[-1]


def _people_store(data: Path) -> dict[str, str]:
    assert _govlib("init", "--data-dir", str(data)).returncode == 0
    with Store(data, create=False) as store:
        rows = [
            ("acme" if i % 2 else "zeta", "lookup", None, None, 1, 1, 3, "0000abcd", None, 0)
            for i in range(ROWS)
        ]
        insert_audit_batch(store, rows)
    tokens = {name: _add(data, name, *roles) for name, roles in PEOPLE.items()}
    tokens["Tess Tenant"] = _add(data, "Tess Tenant", "reviewer", "@acme")
    return tokens


def request(
    port: int,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: object = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    source: str = "127.0.0.1",
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request (no redirects followed) from ``source``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120, source_address=(source, 0))
    try:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if data is not None:
            sent["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=sent)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def answer(port: int, method: str, path: str, **kw: object) -> tuple[int, dict[str, object]]:
    status, _headers, data = request(port, method, path, **kw)  # type: ignore[arg-type]
    return status, json.loads(data)


@pytest.fixture(scope="module")
def tokens_server(tmp_path_factory: pytest.TempPathFactory):
    """`govlib serve --auth tokens` over a store with people; yields (port, tokens, data, log)."""
    data = tmp_path_factory.mktemp("auth") / "data"
    tokens = _people_store(data)
    with serving(data, "--auth", "tokens") as (_proc, port, log):
        yield port, tokens, data, log


def _refusals(data: Path) -> list[dict[str, object]]:
    with Store(data, create=False, readonly=True) as store:
        rows = store.query("SELECT detail FROM worm_log WHERE action = 'access_refused'")
    return [json.loads(r["detail"]) for r in rows]


def test_every_answer_code_of_the_verdict_api(tokens_server):
    port, tokens, data, _log = tokens_server
    rita, finn, cora = tokens["Rita Reviewer"], tokens["Finn Finance"], tokens["Cora Compliance"]
    # 200: the stamped row, with the reviewer's name
    status, row = answer(
        port, "POST", "/audit-log/1/verdict", token=rita, body={"verdict": "accept"}
    )
    assert status == 200, row
    assert (row["id"], row["human_verdict"], row["verdict_by"]) == (1, "accept", "Rita Reviewer")
    # 409: already stamped, says by whom and what
    status, err = answer(
        port, "POST", "/audit-log/1/verdict", token=rita, body={"verdict": "reject"}
    )
    assert status == 409 and err["field"] == "verdict"
    assert "'accept' by Rita Reviewer" in err["error"]
    # 400: names the field
    for raw, field in (
        (b"{not json", "body"),
        (b"[1]", "body"),
        (b'{"verdict": "maybe"}', "verdict"),
    ):
        status, err = answer(port, "POST", "/audit-log/2/verdict", token=rita, raw=raw)
        assert (status, err["field"]) == (400, field), err
    status, err = answer(
        port, "POST", "/audit-log/1/verdict-correction", token=rita, body={"verdict": "reject"}
    )
    assert (status, err["field"]) == (400, "reason")
    # 401: no token, unknown token, a token of the wrong shape
    for token in (None, "gvl_000000000000_nope", "not-a-token"):
        status, err = answer(
            port, "POST", "/audit-log/2/verdict", token=token, body={"verdict": "accept"}
        )
        assert (status, err["field"]) == (401, "token"), err
    # 403: known person, wrong role; recorded
    status, err = answer(
        port, "POST", "/audit-log/2/verdict", token=finn, body={"verdict": "accept"}
    )
    assert (status, err["field"]) == (403, "role") and "Finn Finance" in err["error"]
    assert any(r["action"] == "stamp" and r["target"] == "audit_log 2" for r in _refusals(data))
    status, err = answer(port, "GET", "/audit-log/2", token=finn)
    assert status == 403
    # 404: no such id
    status, err = answer(
        port, "POST", f"/audit-log/{ROWS + 50}/verdict", token=rita, body={"verdict": "accept"}
    )
    assert (status, err["field"]) == (404, "id")
    # GET for compliance; the correction by the reviewer
    status, row = answer(port, "GET", "/audit-log/1", token=cora)
    assert status == 200 and row["verdict_by"] == "Rita Reviewer"
    status, row = answer(
        port,
        "POST",
        "/audit-log/1/verdict-correction",
        token=rita,
        body={"verdict": "reject", "reason": "wrong claim"},
    )
    assert status == 200 and row["human_verdict"] == "reject"
    status, err = answer(
        port,
        "POST",
        "/audit-log/3/verdict-correction",
        token=rita,
        body={"verdict": "reject", "reason": "nothing to correct"},
    )
    assert status == 409
    # every answer is JSON with error and field
    status, spec = answer(port, "GET", "/api/openapi.json")
    assert status == 200 and set(spec["paths"]) == {
        "/audit-log/{id}",
        "/audit-log/{id}/verdict",
        "/audit-log/{id}/verdict-correction",
    }
    with Store(data, create=False, readonly=True) as store:
        actions = [
            r[0]
            for r in store.query(
                "SELECT action FROM worm_log WHERE action LIKE 'verdict_%' ORDER BY seq"
            )
        ]
        assert verify_store(store).ok
    assert actions[:2] == ["verdict_stamped", "verdict_corrected"]


def test_revoked_token_gets_401_and_tenants_limit_what_is_found(tokens_server):
    port, tokens, data, _log = tokens_server
    rex, tess = tokens["Rex Leaver"], tokens["Tess Tenant"]
    assert answer(port, "GET", "/audit-log/5", token=rex)[0] == 200
    assert _govlib("users", "revoke", "Rex Leaver", "--data-dir", str(data)).returncode == 0
    status, err = answer(port, "GET", "/audit-log/5", token=rex)
    assert (status, err["field"]) == (401, "token")
    # Tess sees acme only (even ids); zeta's rows do not exist for her
    assert answer(port, "GET", "/audit-log/6", token=tess)[0] == 200
    status, err = answer(
        port, "POST", "/audit-log/5/verdict", token=tess, body={"verdict": "accept"}
    )
    assert status == 404


def test_200_concurrent_stamps_over_4_clients_land_exactly_once(tokens_server):
    port, tokens, data, _log = tokens_server
    rita = tokens["Rita Reviewer"]
    ids = list(range(101, 301))
    results: dict[int, int] = {}

    def client(part: list[int]) -> None:
        for audit_id in part:
            status, _h, _b = request(
                port,
                "POST",
                f"/audit-log/{audit_id}/verdict",
                token=rita,
                body={"verdict": "accept"},
            )
            results[audit_id] = status

    threads = [threading.Thread(target=client, args=(ids[i::4],)) for i in range(4)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    assert sorted(results) == ids and set(results.values()) == {200}, results
    with Store(data, create=False, readonly=True) as store:
        per_row = store.query(
            "SELECT audit_id, COUNT(*) FROM verdict_events WHERE audit_id BETWEEN 101 AND 300 "
            "GROUP BY audit_id"
        )
        entries = store.query(
            "SELECT COUNT(*) FROM worm_log WHERE action = 'verdict_stamped' AND "
            "CAST(json_extract(detail, '$.audit_id') AS INTEGER) BETWEEN 101 AND 300"
        )[0][0]
        assert verify_store(store).ok
    assert len(per_row) == 200 and {n for _id, n in per_row} == {1}
    assert entries == 200
    print(f"200 API stamps over 4 clients: {elapsed:.2f} s")


def test_bad_tokens_slow_their_address_down_not_everybody(tokens_server):
    port, tokens, _data, _log = tokens_server
    times = []
    for _ in range(7):
        started = time.perf_counter()
        status, _h, _b = request(
            port, "GET", "/audit-log/1", token="gvl_0_guess", source="127.0.0.3"
        )
        times.append(time.perf_counter() - started)
        assert status == 401
    # the default: 5 failures answered at once, then 1 s, 2 s ...
    assert max(times[:5]) < 1.0 and times[5] >= 1.0 and times[6] >= 2.0, times
    print("bad-token answer times (s):", " ".join(f"{t:.2f}" for t in times))
    started = time.perf_counter()  # another address is not slowed
    assert request(port, "GET", "/audit-log/1", token=tokens["Cora Compliance"])[0] == 200
    assert time.perf_counter() - started < 1.0


def _sign_in(port: int, token: str) -> tuple[int, dict[str, str], str]:
    status, headers, page = request(port, "GET", "/login")
    assert status == 200
    xsrf = re.search(rb'name="_xsrf" value="([^"]+)"', page).group(1).decode()
    cookie = headers["set-cookie"].split(";", 1)[0]
    form = f"_xsrf={xsrf}&token={token}".encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(
            "POST",
            "/login",
            body=form,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
        )
        resp = conn.getresponse()
        resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, cookie
    finally:
        conn.close()


def test_sign_in_sets_a_strict_httponly_expiring_cookie_and_secrets_stay_out(tokens_server):
    port, tokens, _data, log = tokens_server
    status, headers, _xsrf_cookie = _sign_in(port, tokens["Cora Compliance"])
    assert status == 302 and headers["location"] == "/voila/render/executive_spog.ipynb"
    cookie = next(c for c in headers["set-cookie"].split(", ") if c.startswith("govlib_session="))
    attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "samesite", "max-age", "path"} <= attributes
    assert "samesite=strict" in cookie.lower()
    session = cookie.split(";", 1)[0].split("=", 1)[1]
    status, _h, _b = request(port, "GET", "/", headers={"Cookie": f"govlib_session={session}"})
    assert status == 200  # signed in
    assert request(port, "GET", "/")[0] == 302  # not signed in: to the sign-in page
    bad, _h, _c = _sign_in(port, "gvl_nobody_nothing")
    assert bad == 401
    # never in argv, never in the log, never in the sign-in page
    secrets = [*tokens.values(), session]
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            assert not any(s in argv for s in secrets), pid
    text = log.read_text(errors="replace")
    assert not any(s in text for s in secrets)
    page = request(port, "GET", "/login")[2].decode()
    assert not any(s in page for s in secrets)


def test_header_auth_trusts_only_the_proxy(tmp_path):
    data = tmp_path / "data"
    _people_store(data)
    with serving(data, "--auth", "header", "--trusted-proxy", "127.0.0.2") as (_p, port, _log):
        who = {"X-Forwarded-User": "Cora Compliance"}
        assert request(port, "GET", "/", headers=who, source="127.0.0.2")[0] == 200
        assert request(port, "GET", "/", headers=who, source="127.0.0.1")[0] in (302, 403)
        assert request(port, "GET", "/", source="127.0.0.2")[0] in (302, 403)
        assert request(port, "GET", "/login")[0] == 404  # no form: the proxy signs people in
        unknown = {"X-Forwarded-User": "Mallory"}
        assert request(port, "GET", "/", headers=unknown, source="127.0.0.2")[0] in (302, 403)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--host", "0.0.0.0"), "needs --auth tokens or --auth header"),
        (("--host", "0.0.0.0", "--auth", "none"), "needs --auth tokens or --auth header"),
        (("--auth", "header"), "needs --trusted-proxy"),
        (("--auth", "tokens"), "no people are configured"),
        (("--auth", "shared-token"), "needs the shared token"),
    ],
)
def test_serve_refuses_unsafe_auth(tmp_path, args, message):
    data = tmp_path / "data"
    assert _govlib("init", "--data-dir", str(data)).returncode == 0
    out = _govlib("serve", "--data-dir", str(data), "--port", str(free_port()), *args)
    assert out.returncode == 2 and message in out.stderr, out.stderr


def test_shared_token_never_reaches_the_server_log(tmp_path):
    """Under `--auth shared-token` the token travels in `?token=`; tornado's request lines and
    its "404 GET ..." warnings would print it: the server's log shows `[secret]` instead."""
    data = tmp_path / "data"
    assert _govlib("init", "--data-dir", str(data)).returncode == 0
    secret = "shared-" + "7f3c9a1e5b2d8f60" * 2
    with serving(data, "--auth", "shared-token", env={"GOVLIB_TOKEN": secret}) as (_p, port, log):
        assert request(port, "GET", f"/?token={secret}")[0] == 200
        assert request(port, "GET", f"/no-such-page?token={secret}&x=1")[0] == 404
        assert request(port, "GET", f"/voila/render/none.ipynb?token={secret}")[0] == 404
        assert request(port, "GET", "/?token=a-wrong-guess-of-it")[0] in (302, 403)
        cookie = {"Cookie": f"_xsrf=2|{secret}; govlib_session={secret}"}
        assert request(port, "GET", "/no-such-page", headers=cookie)[0] in (302, 403, 404)
        bearer = {"Authorization": f"token {secret}"}
        assert request(port, "GET", "/no-such-page-either", headers=bearer)[0] == 404
        time.sleep(0.5)  # the last lines reach the file
        text = log.read_text(errors="replace")
    assert secret not in text and "a-wrong-guess-of-it" not in text, text
    assert "/no-such-page?token=[secret]&x=1" in text  # the request was logged, redacted
    assert "/voila/render/none.ipynb?token=[secret]" in text


def test_an_expired_session_is_refused_by_the_server(tmp_path):
    """`session_hours` = 0.001 (3.6 s; the cookie's Max-Age 3 s): the same cookie, sent again
    after that, is refused by the server itself (the browser would have dropped it)."""
    data = tmp_path / "data"
    tokens = _people_store(data)
    env = {"GOVLIB_SESSION_HOURS": "0.001"}
    with serving(data, "--auth", "tokens", env=env) as (_p, port, _log):
        status, headers, _xsrf = _sign_in(port, tokens["Cora Compliance"])
        assert status == 302
        cookie = next(c for c in headers["set-cookie"].split(", ") if "govlib_session=" in c)
        assert "max-age=3" in cookie.lower()
        session = {"Cookie": cookie.split(";", 1)[0]}
        assert request(port, "GET", "/", headers=session)[0] == 200
        time.sleep(3.5)
        status, headers, _b = request(port, "GET", "/", headers=session)
        assert status == 302 and headers["location"].startswith("/login"), (status, headers)
        status, _h, _b = request(port, "GET", "/voila/render/executive_spog.ipynb", headers=session)
        assert status == 302


def _session(port: int, token: str) -> str:
    status, headers, _xsrf = _sign_in(port, token)
    assert status == 302
    cookie = next(c for c in headers["set-cookie"].split(", ") if c.startswith("govlib_session="))
    return cookie.split(";", 1)[0]


def _upgrade_status(port: int, path: str, cookie: str) -> int:
    """Status of a websocket upgrade to ``path`` with ``cookie`` (101 when accepted)."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                f"Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:{port}\r\n"
                f"Cookie: {cookie}\r\n\r\n"
            ).encode()
        )
        return int(s.recv(4096).split(b"\r\n", 1)[0].split()[1])


def test_a_page_kernel_refuses_another_signed_in_person(tokens_server):
    port, tokens, data, _log = tokens_server
    rita, cora = _session(port, tokens["Rita Reviewer"]), _session(port, tokens["Cora Compliance"])
    status, _h, page = request(
        port, "GET", "/voila/render/spc_dashboard.ipynb", headers={"Cookie": rita}
    )
    assert status == 200
    kernel = re.search(rb'"kernelId":\s*"([0-9a-f-]{36})"', page).group(1).decode()
    channels = f"/api/kernels/{kernel}/channels"
    before = len(_refusals(data))
    assert _upgrade_status(port, channels, rita) == 101  # the page's own person
    assert _upgrade_status(port, channels, cora) == 403  # signed in, but not this page's
    assert _upgrade_status(port, channels, rita) == 101  # a reconnect of its own person
    refused = _refusals(data)[before:]
    assert len(refused) == 1 and refused[0]["roles"] == ["compliance"], refused  # a pseudonym
    assert "another person's page" in json.dumps(refused[0])
